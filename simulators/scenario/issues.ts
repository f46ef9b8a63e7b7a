/**
 * Problems in a scenario file, each naming the file, the line and the field
 * (`FILE:LINE: path.to.field: message`): the error, the YAML node locator and the zod issue translator.
 */
import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath } from '../messages.ts';
import { describe } from './schema.ts';

// ---- errors ----------------------------------------------------------------------------------------

export interface ScenarioIssue {
  file: string;
  line: number;
  /** `steps[2].over`, or '' for the whole file. */
  path: string;
  message: string;
}

/** An invalid scenario file: one line per problem, each naming the file, the line and the field. */
export class ScenarioError extends Error {
  readonly issues: ScenarioIssue[];
  constructor(list: ScenarioIssue[]) {
    const issues = [...list].sort((a, b) => a.line - b.line);
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ScenarioError';
    this.issues = issues;
    this.stack = `${this.name}: ${this.message}`;
  }
}

export const formatIssue = (i: ScenarioIssue) =>
  `${i.file}:${i.line}: ${i.path ? `${i.path}: ` : ''}${i.message}`;

export type Path = (string | number)[];

export { formatPath };

// ---- YAML nodes → lines ----------------------------------------------------------------------------

interface Located {
  file: string;
  lineOf(path: Path, opts?: { key?: string }): number;
}

export function locator(file: string, doc: ReturnType<typeof parseDocument>, lc: LineCounter): Located {
  const lineAt = (offset: number) => lc.linePos(offset).line;
  return {
    file,
    lineOf(path, opts = {}) {
      let node: unknown = doc.contents;
      let line = node && (node as Node).range ? lineAt((node as Node).range![0]) : 1;
      /** The line of the key that led to `node` (a missing field is reported there). */
      let keyLine: number | null = null;
      const segs = opts.key === undefined ? path : [...path, opts.key];
      for (let i = 0; i < segs.length; i++) {
        const seg = segs[i];
        if (isMap(node)) {
          const pair = node.items.find(
            (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
          );
          if (!pair) return keyLine ?? line;
          const keyNode = pair.key as Node;
          keyLine = keyNode.range ? lineAt(keyNode.range[0]) : keyLine;
          const isLastKey = opts.key !== undefined && i === segs.length - 1;
          if (isLastKey || !pair.value) return keyLine ?? line;
          node = pair.value;
        } else if (isSeq(node) && typeof seg === 'number') {
          const item = node.items[seg];
          if (!item) break;
          node = item;
          keyLine = null;
        } else break;
        const r = (node as Node).range;
        if (r) line = lineAt(r[0]);
      }
      return line;
    },
  };
}

// ---- validation ----------------------------------------------------------------------------------

export class Issues {
  readonly list: ScenarioIssue[] = [];
  constructor(readonly loc: Located) {}

  add(path: Path, message: string, opts: { key?: string } = {}) {
    this.list.push({
      file: this.loc.file,
      line: this.loc.lineOf(path, opts),
      path: formatPath(opts.key === undefined ? path : [...path, opts.key]),
      message,
    });
  }

  /** Parses `value` (found at `path`) with a zod schema; records its issues; undefined when invalid. */
  parse<T>(schema: z.ZodType<T>, value: unknown, path: Path): T | undefined {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const issue of r.error.issues) this.zodIssue(issue, value, path, schema);
    return undefined;
  }

  private zodIssue(issue: z.core.$ZodIssue, root: unknown, base: Path, schema: z.ZodType) {
    const rel = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const path = [...base, ...rel];
    const actual = valueAt(root, rel);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(schema, rel);
        for (const key of issue.keys)
          this.add(path, `unknown field${known.length ? ` (expected one of: ${known.join(', ')})` : ''}`, {
            key,
          });
        return;
      }
      case 'invalid_type':
        this.add(
          path,
          actual === undefined
            ? `required field is missing (${article(issue.expected)})`
            : `expected ${article(issue.expected)}, got ${describe(actual)}`,
        );
        return;
      case 'invalid_value':
        this.add(
          path,
          `expected ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => String(v)).join(', ')}`}, got ${describe(actual)}`,
        );
        return;
      case 'too_small':
      case 'too_big': {
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const word = issue.code === 'too_small' ? 'at least' : 'at most';
        this.add(
          path,
          issue.origin === 'number'
            ? `expected ${word} ${String(bound)}, got ${describe(actual)}`
            : issue.origin === 'string'
              ? `expected ${word} ${String(bound)} characters`
              : `expected ${word} ${String(bound)} items`,
        );
        return;
      }
      default:
        this.add(path, issue.message);
    }
  }
}

const article = (t: string) =>
  t === 'array'
    ? 'a list'
    : t === 'object' || t === 'record'
      ? 'a map'
      : /^[aeiou]/.test(t)
        ? `an ${t}`
        : `a ${t}`;

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** The field names an object schema accepts at a path (for "unknown field" messages). */
function knownKeys(schema: z.ZodType, rel: readonly (string | number)[]): string[] {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    const def = (x as { def?: { type?: string; innerType?: unknown; in?: unknown; element?: unknown } })?.def;
    if (!def) return x;
    if (
      def.type === 'optional' ||
      def.type === 'default' ||
      def.type === 'nullable' ||
      def.type === 'prefault'
    )
      return unwrap(def.innerType);
    if (def.type === 'pipe') return unwrap(def.in);
    return x;
  };
  for (const seg of rel) {
    s = unwrap(s);
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def;
    if (def?.type === 'object' && typeof seg === 'string') s = def.shape?.[seg];
    else if (def?.type === 'array') s = def.element;
    else return [];
  }
  s = unwrap(s);
  const def = (s as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
