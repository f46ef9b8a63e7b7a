/**
 * Reading and validating scenario files. YAML (eemeli's `yaml`, with a LineCounter so every problem
 * names its line), then zod for the shapes, then the cross-references (devices, users, units, rules,
 * report labels). Every problem reads `FILE:LINE: path.to.field: message`, e.g.
 * `scenarios/x.yaml:14: steps[2].over: expected a duration like 40m, got "40 min"`.
 */

import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import {
  CAMERA_EVENT_TYPES,
  CASE_ACTIONS,
  CASE_STATUSES,
  ESCALATION_LEVELS,
  KPI_FIELDS,
  KPI_LEVELS,
  type KpiField,
  PROFILE_NAMES,
  PROFILES,
  ROLES,
  URGENCIES,
} from '../../domain/index.ts';
import { builtInRules } from '../../rules/index.ts';
import { demoDistrict } from '../district.ts';
import { describeValue, formatPath } from '../messages.ts';
import { MODELS } from '../models.ts';
import { formatDuration, gcd, parseDuration } from './duration.ts';
import type {
  CaseChecks,
  CaseRef,
  DeviceSpec,
  Expectation,
  PersonAction,
  Placement,
  Scenario,
  Step,
  UnitSpec,
  UserSpec,
} from './types.ts';

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

type Path = (string | number)[];

export { formatPath };

// ---- small schemas with readable messages ------------------------------------------------------------

const describe = (v: unknown) => describeValue(v, 'a map');

/** A value parsed by `parse`; otherwise the issue says "expected WHAT, got …". */
function scalar<T>(what: string, parse: (v: unknown) => T | undefined, hint?: (v: unknown) => string) {
  return z.unknown().transform((v, ctx): T => {
    const r = v === undefined ? undefined : parse(v);
    if (r === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          v === undefined
            ? `required: ${what}`
            : `expected ${what}, got ${describe(v)}${hint ? hint(v) : ''}`,
      });
      return z.NEVER;
    }
    return r;
  });
}

const DURATION = 'a duration like 40m';
const duration = scalar(DURATION, (v) => {
  const ms = parseDuration(v);
  return ms !== undefined && ms > 0 ? ms : undefined;
});
const atLeast10s = (what: string) =>
  scalar(what, (v) => {
    const ms = parseDuration(v);
    return ms !== undefined && ms >= 10_000 ? ms : undefined;
  });
const offset = scalar('a time after the start like 2h10m (or 0)', parseDuration);
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const isoTime = scalar('an ISO time with its offset, like 2026-03-03T08:00:00+08:00', (v) =>
  typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)) ? v : undefined,
);
/** An ISO time, or an offset from the start (resolved once the start is known). */
type TimeSpec = { abs: number } | { rel: number };
const timeSpec = scalar<TimeSpec>('an ISO time with offset or a time after the start like 26h', (v) => {
  if (typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)))
    return { abs: Date.parse(v) };
  const ms = parseDuration(v);
  return ms === undefined ? undefined : { rel: ms };
});
const nullableTimeSpec = scalar<TimeSpec | null>(
  'an ISO time with offset, a time after the start like 26h, or null',
  (v) => {
    if (v === null) return null;
    if (typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)))
      return { abs: Date.parse(v) };
    const ms = parseDuration(v);
    return ms === undefined ? undefined : { rel: ms };
  },
);

const quoteHint = (v: unknown) =>
  typeof v === 'number' ? ` (write codes in quotes: an unquoted 0101 is read as the number ${v})` : '';
const category = scalar(
  "a 4-digit category code in quotes, like '0101'",
  (v) => (typeof v === 'string' && /^\d{4}$/.test(v) ? v : undefined),
  quoteHint,
);
const codeOf = (v: unknown, lengths: number[]) => {
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  return typeof s === 'string' && /^\d+$/.test(s) && lengths.includes(s.length) ? s : undefined;
};
const gridCode = scalar("a 15-digit grid code like '330102001001001'", (v) => codeOf(v, [15]));
const areaCode = scalar('a district, street, community or grid code (6, 9, 12 or 15 digits)', (v) =>
  codeOf(v, [6, 9, 12, 15]),
);
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,23}$/;
const idString = (what: string) =>
  scalar(`${what} (letters, digits and . _ @ -, at most 24)`, (v) =>
    typeof v === 'string' && ID_RE.test(v) ? v : undefined,
  );
const text = (max = 2000) => z.string().min(1).max(max);
const location = z.object({ lng: z.number().min(-180).max(180), lat: z.number().min(-90).max(90) }).strict();
const numbers = z.record(z.string(), z.number());
const count = z.number().int().min(0);

// ---- shapes --------------------------------------------------------------------------------------

const topSchema = z
  .object({
    name: scalar('a short name in lowercase letters, digits and - (at most 32), like bin-overflow', (v) =>
      typeof v === 'string' && /^[a-z0-9][a-z0-9-]{0,31}$/.test(v) ? v : undefined,
    ),
    description: text(4000),
    start: isoTime,
    seed: z.number().int().default(1),
    grids: z.literal('demo').optional(),
    tick: atLeast10s('a clock step of at least 10s, like 5m').optional(),
    duration,
    units: z.record(z.string(), z.unknown()).default({}),
    users: z.record(z.string(), z.unknown()).default({}),
    devices: z.record(z.string(), z.unknown()).default({}),
    steps: z.array(z.unknown()).default([]),
    expect: z.array(z.unknown()).default([]),
  })
  .strict();

const unitSchema = z
  .object({
    name: text(200),
    categories: z.array(category).default([]),
    grids: z.array(areaCode).default([]),
  })
  .strict();

const userSchema = z
  .object({
    name: text(200).optional(),
    role: z.enum(ROLES),
    unit: z.string().optional(),
    grids: z.array(areaCode).default([]),
  })
  .strict();

const placementFields = {
  grid: gridCode.optional(),
  site: z.string().optional(),
  location: location.optional(),
};

const deviceSchema = z
  .object({
    name: text(200).optional(),
    profile: z.enum(PROFILE_NAMES).optional(),
    ...placementFields,
    gateway: z.boolean().default(false),
    via: z.string().optional(),
    every: atLeast10s('a reporting interval of at least 10s, like 5m').optional(),
    baseline: numbers.default({}),
    model: z.boolean().default(false),
    jitter: numbers.default({}),
    attributes: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
  })
  .strict();

/** A case reference; its shape is checked by the validator (to name the exact problem). */
const caseRef = z.unknown();
const CASE_REF_HELP =
  'a case: "device/rule" (e.g. bin-1/bin-full), a report label, {device, rule}, {category, grid} or {report}';
const caseRefSchemas = {
  sensor: z.object({ device: z.string(), rule: z.string() }).strict(),
  area: z.object({ category, grid: areaCode }).strict(),
  report: z.object({ report: z.string() }).strict(),
};

const valuesFields = { key: z.string().optional(), value: z.number().optional(), values: numbers.optional() };

const STEP_KINDS = [
  'ramp',
  'episode',
  'set',
  'silence',
  'resume',
  'event',
  'action',
  'report',
  'check',
] as const;
type StepKindName = (typeof STEP_KINDS)[number];

const PERSON_ACTIONS = CASE_ACTIONS.filter((a) => a !== 'relapse') as [string, ...string[]];

const stepSchemas: Record<StepKindName, z.ZodType> = {
  ramp: z.object({ at: offset, ramp: z.string(), key: z.string(), to: z.number(), over: duration }).strict(),
  episode: z.object({ at: offset, episode: z.string(), ...valuesFields, for: duration }).strict(),
  set: z.object({ at: offset, set: z.string(), ...valuesFields }).strict(),
  silence: z.object({ at: offset, silence: z.string(), for: duration.optional() }).strict(),
  resume: z.object({ at: offset, resume: z.string() }).strict(),
  event: z
    .object({
      at: offset,
      event: z.string(),
      type: z.enum(CAMERA_EVENT_TYPES),
      confidence: z.number().min(0).max(1).default(0.9),
      snapshot: z.string().max(2048).optional(),
    })
    .strict(),
  action: z
    .object({
      at: offset,
      action: z.enum(PERSON_ACTIONS),
      case: caseRef,
      by: z.string(),
      assignee: z.string().optional(),
      note: z.string().max(2000).optional(),
      refused: z.union([z.literal(400), z.literal(403), z.literal(404), z.literal(409)]).optional(),
    })
    .strict(),
  report: z
    .object({
      at: offset,
      report: idString('a label for the reported case'),
      by: z.string(),
      category,
      ...placementFields,
      description: text(),
      urgency: z.enum(URGENCIES).optional(),
      photos: z.array(z.string().max(2048)).max(10).default([]),
    })
    .strict(),
  check: z.object({ at: offset, check: z.array(z.unknown()).min(1) }).strict(),
};

const caseChecksFields = {
  count: count.optional(),
  status: z.enum(CASE_STATUSES).optional(),
  category: category.optional(),
  grid: gridCode.optional(),
  urgency: z.enum(URGENCIES).optional(),
  occurrences: count.optional(),
  escalationLevel: z.enum(ESCALATION_LEVELS).optional(),
  assignee: z.string().nullable().optional(),
  overdue: z.boolean().optional(),
  verifiedBy: z.string().optional(),
  relapsed: z.boolean().optional(),
  reworks: count.optional(),
  escalatedTo: z.array(z.enum(ESCALATION_LEVELS)).optional(),
  timeline: z.array(z.enum([...CASE_ACTIONS, 'open'] as [string, ...string[]])).optional(),
  openedAt: timeSpec.optional(),
  deadline: nullableTimeSpec.optional(),
  closedAt: nullableTimeSpec.optional(),
  explanation: z.string().optional(),
};

const kpiNumber = z.number().nullable().optional();
const expectSchemas = {
  case: z.object({ case: caseRef, ...caseChecksFields }).strict(),
  noCase: z.object({ noCase: caseRef }).strict(),
  kpi: z
    .object({
      kpi: z
        .object({
          level: z.enum(KPI_LEVELS),
          key: z.union([z.string(), z.number()]).optional(),
          from: timeSpec,
          to: timeSpec,
        })
        .strict(),
      ...Object.fromEntries(KPI_FIELDS.map((f) => [f, kpiNumber])),
    })
    .strict(),
};
const EXPECT_KINDS = Object.keys(expectSchemas) as (keyof typeof expectSchemas)[];

// ---- YAML nodes → lines ----------------------------------------------------------------------------

interface Located {
  file: string;
  lineOf(path: Path, opts?: { key?: string }): number;
}

function locator(file: string, doc: ReturnType<typeof parseDocument>, lc: LineCounter): Located {
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

class Issues {
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

// ---- the loader ----------------------------------------------------------------------------------

const RULES = new Map(builtInRules().map((r) => [r.id, r]));
const DEMO = demoDistrict(1);
const DEMO_GRIDS = new Set(DEMO.grids.features.map((f) => f.properties.code));
const DEMO_SITES = new Map(DEMO.sites.map((s) => [s.id, s]));
const DEFAULT_EVERY = 5 * 60_000;
/** Bounds the walk through time (each step is a few requests). */
const MAX_CLOCK_STEPS = 20_000;

/** Reads and validates a scenario file; throws {@link ScenarioError}. */
export function loadScenarioFile(file: string): Scenario {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ScenarioError([
      {
        file,
        line: 0,
        path: '',
        message: code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`,
      },
    ]);
  }
  return loadScenario(source, file);
}

/** Parses and validates scenario text; `file` is used in messages. Throws {@link ScenarioError}. */
export function loadScenario(source: string, file = '<inline>'): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ScenarioError(
      doc.errors.slice(0, 5).map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line,
        path: '',
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const loc = locator(file, doc, lc);
  const issues = new Issues(loc);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    issues.add(
      [],
      'a scenario is a YAML map with name, description, start, duration, devices, steps and expect',
    );
    throw new ScenarioError(issues.list);
  }
  const top = issues.parse(topSchema, data, []);
  if (!top) {
    // Go on without the broken header fields, to report the problems of the rest of the file too.
    const first = topSchema.safeParse(data);
    const patched: Record<string, unknown> = { ...(data as Record<string, unknown>) };
    for (const i of first.error?.issues ?? []) {
      if (i.code === 'unrecognized_keys') for (const k of i.keys) delete patched[k];
      else if (typeof i.path[0] === 'string') delete patched[i.path[0]];
    }
    const placeholders = { name: 'x', description: 'x', start: '2000-01-01T00:00:00Z', duration: '10d' };
    const again = topSchema.safeParse({ ...placeholders, ...patched });
    if (again.success) new Validator(again.data, issues).run(file);
    throw new ScenarioError(issues.list);
  }
  const scenario = new Validator(top, issues).run(file);
  if (issues.list.length) throw new ScenarioError(issues.list);
  return scenario;
}

type Top = z.infer<typeof topSchema>;

class Validator {
  private units: Record<string, UnitSpec> = {};
  private users: Record<string, UserSpec> = {};
  private devices: Record<string, DeviceSpec> = {};
  private start = 0;

  constructor(
    private readonly top: Top,
    private readonly issues: Issues,
  ) {}

  run(file: string): Scenario {
    const { top, issues } = this;
    this.start = Date.parse(top.start);
    this.readUnits();
    this.readUsers();
    this.readDevices();
    const labels = new Map<string, number>();
    const steps = this.readSteps(labels);
    const expect = top.expect.flatMap(
      (e, i) => this.readExpectation(e, ['expect', i], labels, Infinity) ?? [],
    );
    for (const s of steps) {
      if (s.at > top.duration)
        issues.add(
          ['steps', s.index, 'at'],
          `after the end of the scenario (duration ${top.duration / 60_000} min)`,
        );
    }
    const everies = Object.values(this.devices)
      .map((d) => d.every)
      .filter((e) => e > 0);
    const tick =
      top.tick ??
      Math.max(
        10_000,
        everies.reduce((a, b) => gcd(a, b), everies[0] ?? 60_000),
      );
    if (top.duration / tick > MAX_CLOCK_STEPS)
      issues.add(
        [top.tick === undefined ? 'duration' : 'tick'],
        `${Math.ceil(top.duration / tick)} clock steps of ${formatDuration(tick)}: at most ${MAX_CLOCK_STEPS}; set a larger tick (or a shorter duration)`,
      );
    return {
      file,
      name: top.name,
      description: top.description.trim(),
      start: this.start,
      startText: top.start,
      seed: top.seed,
      grids: top.grids ?? null,
      tick,
      duration: top.duration,
      units: this.units,
      users: this.users,
      devices: this.devices,
      steps: steps.sort((a, b) => a.at - b.at || a.index - b.index),
      expect,
    };
  }

  private readUnits() {
    for (const [id, raw] of Object.entries(this.top.units)) {
      const path = ['units', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a unit id is letters, digits and . _ @ - (at most 24)');
      const u = this.issues.parse(unitSchema, raw, path);
      if (u) {
        for (const [i, g] of u.grids.entries()) this.checkArea(g, [...path, 'grids', i]);
        this.units[id] = u;
      }
    }
  }

  private readUsers() {
    for (const [id, raw] of Object.entries(this.top.users)) {
      const path = ['users', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a user id is letters, digits and . _ @ - (at most 24)');
      if (id === 'admin') this.issues.add(path, "'admin' is the admin token; choose another name");
      const u = this.issues.parse(userSchema, raw, path);
      if (!u) continue;
      if (u.role === 'unit' && !u.unit)
        this.issues.add([...path, 'unit'], 'a user with role unit needs its unit');
      if (u.unit !== undefined && !(u.unit in this.top.units))
        this.issues.add([...path, 'unit'], `no unit '${u.unit}' in units (${this.known(this.top.units)})`);
      if (u.role === 'inspector' && u.grids.length === 0)
        this.issues.add([...path, 'grids'], 'an inspector covers some grids: list their codes (any level)');
      for (const [i, g] of u.grids.entries()) this.checkArea(g, [...path, 'grids', i]);
      this.users[id] = { name: u.name ?? id, role: u.role, unit: u.unit ?? null, grids: u.grids };
    }
  }

  private known(map: Record<string, unknown>): string {
    const keys = Object.keys(map);
    return keys.length ? `known: ${keys.join(', ')}` : 'none defined';
  }

  private checkArea(code: string, path: Path) {
    if (this.top.grids === 'demo' && !Array.from(DEMO_GRIDS).some((g) => g.startsWith(code)))
      this.issues.add(path, `${code} is not an area of the demo district (330102…)`);
  }

  private placement(
    raw: { grid?: string; site?: string; location?: { lng: number; lat: number } },
    path: Path,
  ) {
    const given = (['grid', 'site', 'location'] as const).filter((k) => raw[k] !== undefined);
    if (given.length > 1) {
      this.issues.add(path, `give one of grid, site or location, not ${given.join(' and ')}`, {
        key: given[1],
      });
      return null;
    }
    if (raw.grid !== undefined) {
      if (this.top.grids === 'demo' && !DEMO_GRIDS.has(raw.grid))
        this.issues.add(path, `${raw.grid} is not a grid of the demo district`, { key: 'grid' });
      return { grid: raw.grid } satisfies Placement;
    }
    if (raw.site !== undefined) {
      if (this.top.grids !== 'demo')
        this.issues.add(path, 'site needs `grids: demo` in the header', { key: 'site' });
      else if (!DEMO_SITES.has(raw.site))
        this.issues.add(
          path,
          `no site '${raw.site}' in the demo district (${[...DEMO_SITES.keys()].join(', ')})`,
          {
            key: 'site',
          },
        );
      return { site: raw.site } satisfies Placement;
    }
    if (raw.location) return { location: raw.location } satisfies Placement;
    return null;
  }

  private checkKeys(deviceId: string, keys: string[], path: Path, field?: string) {
    const d = this.devices[deviceId];
    if (!d) return;
    const spec = PROFILES[d.profile as keyof typeof PROFILES];
    if (!spec?.strict) return;
    for (const k of keys) {
      const range = (spec.keys as Record<string, { min: number; max: number }>)[k];
      if (!range)
        this.issues.add(
          path,
          `'${k}' is not a key of profile ${d.profile} (${Object.keys(spec.keys).join(', ')})`,
          field ? { key: field } : {},
        );
    }
  }

  private checkRange(deviceId: string, values: Record<string, number>, path: Path) {
    const d = this.devices[deviceId];
    const spec = d && PROFILES[d.profile as keyof typeof PROFILES];
    if (!spec) return;
    for (const [k, v] of Object.entries(values)) {
      const range = (spec.keys as Record<string, { min: number; max: number }>)[k];
      if (range && (v < range.min || v > range.max))
        this.issues.add(path, `${v} is outside the physical range of ${k} (${range.min}–${range.max})`, {
          key: k,
        });
    }
  }

  private readDevices() {
    const raw = this.top.devices;
    const parsed: [string, z.infer<typeof deviceSchema>][] = [];
    for (const [id, body] of Object.entries(raw)) {
      const path = ['devices', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a device id is letters, digits and . _ @ - (at most 24)');
      const b = body as { profile?: unknown; gateway?: unknown } | null;
      if (b && typeof b === 'object' && b.profile === undefined && b.gateway !== true)
        this.issues.add(
          [...path, 'profile'],
          `required field is missing (one of ${PROFILE_NAMES.join(', ')})`,
        );
      const d = this.issues.parse(deviceSchema, body, path);
      if (d) parsed.push([id, d]);
    }
    for (const [id, d] of parsed) {
      const path = ['devices', id];
      const gateway = d.gateway;
      const profile = d.profile ?? (gateway ? 'generic' : undefined);
      if (!profile) continue; // reported above
      let placement: Placement | null = this.placement(d, path);
      if (d.via !== undefined) {
        const gw = raw[d.via] as { gateway?: unknown } | undefined;
        if (gw?.gateway !== true)
          this.issues.add(
            [...path, 'via'],
            `'${d.via}' is not a gateway device of this scenario (gateway: true)`,
          );
        if (placement) {
          this.issues.add(
            path,
            'a device behind a gateway is placed where its gateway is: drop grid/site/location',
            {
              key: 'via',
            },
          );
          placement = null;
        }
        if (gateway) this.issues.add([...path, 'via'], 'a gateway cannot report through another gateway');
      } else if (!placement) {
        this.issues.add(path, 'a device needs a placement: grid, site or location');
      }
      if (gateway && (d.every !== undefined || Object.keys(d.baseline).length || d.model))
        this.issues.add(path, 'a gateway reports only for its children: give every/baseline/model to them', {
          key: d.every !== undefined ? 'every' : Object.keys(d.baseline).length ? 'baseline' : 'model',
        });
      if (d.model && !(profile in MODELS))
        this.issues.add(
          [...path, 'model'],
          `no physics model for profile ${profile} (${Object.keys(MODELS).join(', ')})`,
        );
      this.devices[id] = {
        id,
        name: d.name ?? null,
        profile,
        placement,
        gateway,
        via: d.via ?? null,
        every: gateway ? 0 : (d.every ?? DEFAULT_EVERY),
        baseline: d.baseline,
        model: d.model,
        jitter: d.jitter,
        attributes: d.attributes,
        line: 0,
      };
      this.checkKeys(id, Object.keys(d.baseline), [...path, 'baseline']);
      this.checkRange(id, d.baseline, [...path, 'baseline']);
      this.checkKeys(id, Object.keys(d.jitter), [...path, 'jitter']);
    }
  }

  private deviceRef(id: string, path: Path, opts: { camera?: boolean } = {}): boolean {
    const d = this.devices[id];
    if (!d) {
      // A device declared with problems of its own was reported already.
      if (!(id in this.top.devices))
        this.issues.add(path, `no device '${id}' in devices (${this.known(this.top.devices)})`);
      return false;
    }
    if (d.gateway) {
      this.issues.add(path, `'${id}' is a gateway: steps act on the devices behind it`);
      return false;
    }
    if (opts.camera && d.profile !== 'camera') {
      this.issues.add(path, `'${id}' is a ${d.profile}: detections come from cameras`);
      return false;
    }
    return true;
  }

  private userRef(by: string, path: Path) {
    if (by !== 'admin' && !(by in this.top.users))
      this.issues.add(path, `no user '${by}' in users (${this.known(this.top.users)}; or admin)`);
  }

  private values(
    s: { key?: string; value?: number; values?: Record<string, number> },
    path: Path,
  ): Record<string, number> | undefined {
    if (s.values && (s.key !== undefined || s.value !== undefined)) {
      this.issues.add(path, 'give either key + value or values, not both', { key: 'values' });
      return undefined;
    }
    if (s.values) {
      if (Object.keys(s.values).length === 0) this.issues.add([...path, 'values'], 'give at least one key');
      return s.values;
    }
    if (s.key === undefined || s.value === undefined) {
      this.issues.add(path, 'required: key + value (or values: {key: value, …})', {
        key: s.key === undefined ? 'key' : 'value',
      });
      return undefined;
    }
    return { [s.key]: s.value };
  }

  private caseRef(raw: unknown, path: Path, labels: Map<string, number>, at: number): CaseRef | undefined {
    let ref: CaseRef;
    if (typeof raw === 'string' && raw.length > 0) {
      const slash = raw.indexOf('/');
      ref =
        slash >= 0
          ? { kind: 'sensor', device: raw.slice(0, slash), rule: raw.slice(slash + 1) }
          : { kind: 'report', label: raw };
    } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      const kind = 'device' in raw || 'rule' in raw ? 'sensor' : 'report' in raw ? 'report' : 'area';
      const r = this.issues.parse(caseRefSchemas[kind] as z.ZodType<Record<string, string>>, raw, path);
      if (!r) return undefined;
      ref =
        kind === 'sensor'
          ? { kind, device: r.device!, rule: r.rule! }
          : kind === 'report'
            ? { kind, label: r.report! }
            : { kind, category: r.category!, grid: r.grid! };
    } else {
      this.issues.add(path, `expected ${CASE_REF_HELP}, got ${describe(raw)}`);
      return undefined;
    }
    if (ref.kind === 'sensor') {
      const d = this.devices[ref.device];
      if (!d) {
        if (!(ref.device in this.top.devices))
          this.issues.add(path, `no device '${ref.device}' in devices (${this.known(this.top.devices)})`);
        return undefined;
      }
      const rule = RULES.get(ref.rule);
      if (!rule) {
        this.issues.add(
          path,
          `no built-in rule '${ref.rule}' (rules for ${d.profile}: ${[...RULES.values()]
            .filter((r) => r.appliesTo.profile === d.profile)
            .map((r) => r.id)
            .join(', ')})`,
        );
        return undefined;
      }
      if (rule.appliesTo.profile !== d.profile)
        this.issues.add(
          path,
          `rule ${rule.id} applies to ${rule.appliesTo.profile} devices, '${ref.device}' is a ${d.profile}`,
        );
    } else if (ref.kind === 'report') {
      const labelAt = labels.get(ref.label);
      if (labelAt === undefined)
        this.issues.add(
          path,
          `no report labelled '${ref.label}' (a case is "device/rule", or the label of a report step${labels.size ? `: ${[...labels.keys()].join(', ')}` : ''})`,
        );
      else if (labelAt > at)
        this.issues.add(path, `the report '${ref.label}' is made later (at ${labelAt / 60_000} min)`);
    }
    return ref;
  }

  private readSteps(labels: Map<string, number>): Step[] {
    const out: Step[] = [];
    // Keys that have a current value (for ramps): baseline, model, or an earlier set/episode/ramp.
    const hasValue = new Set<string>();
    for (const d of Object.values(this.devices)) {
      for (const k of Object.keys(d.baseline)) hasValue.add(`${d.id}\u0000${k}`);
      if (d.model)
        for (const k of MODELS[d.profile as keyof typeof MODELS]?.keys ?? [])
          hasValue.add(`${d.id}\u0000${k}`);
    }
    const order = this.top.steps
      .map((raw, index) => ({ raw, index, at: parseDuration((raw as { at?: unknown })?.at) ?? 0 }))
      .sort((a, b) => a.at - b.at || a.index - b.index);
    for (const { raw, index } of order) {
      const path: Path = ['steps', index];
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        this.issues.add(path, `a step is a map with at and one of ${STEP_KINDS.join(', ')}`);
        continue;
      }
      const kinds = STEP_KINDS.filter((k) => k in raw);
      if (kinds.length !== 1) {
        this.issues.add(
          path,
          kinds.length === 0
            ? `a step needs one of ${STEP_KINDS.join(', ')} (found ${Object.keys(raw).join(', ') || 'nothing'})`
            : `a step does one thing: found ${kinds.join(' and ')}`,
          kinds.length > 1 ? { key: kinds[1] } : {},
        );
        continue;
      }
      const kind = kinds[0]!;
      const s = this.issues.parse(stepSchemas[kind], raw, path) as Record<string, unknown> | undefined;
      if (!s) continue;
      const base = { at: s.at as number, index, line: this.issues.loc.lineOf(path) };
      const step = this.step(kind, s, base, path, labels, hasValue);
      if (step) out.push(step);
    }
    return out;
  }

  private step(
    kind: StepKindName,
    s: Record<string, unknown>,
    base: { at: number; index: number; line: number },
    path: Path,
    labels: Map<string, number>,
    hasValue: Set<string>,
  ): Step | undefined {
    const { issues } = this;
    switch (kind) {
      case 'ramp': {
        const r = s as unknown as { ramp: string; key: string; to: number; over: number };
        if (!this.deviceRef(r.ramp, [...path, 'ramp'])) return;
        this.checkKeys(r.ramp, [r.key], path, 'key');
        this.checkRange(r.ramp, { to: r.to }, path);
        if (!hasValue.has(`${r.ramp}\u0000${r.key}`))
          issues.add(
            [...path, 'key'],
            `device ${r.ramp} has no current ${r.key} to ramp from: give it a baseline`,
          );
        hasValue.add(`${r.ramp}\u0000${r.key}`);
        return { ...base, kind, device: r.ramp, key: r.key, to: r.to, over: r.over };
      }
      case 'episode':
      case 'set': {
        const r = s as unknown as {
          episode?: string;
          set?: string;
          for?: number;
          key?: string;
          value?: number;
          values?: Record<string, number>;
        };
        const device = (kind === 'episode' ? r.episode : r.set)!;
        if (!this.deviceRef(device, [...path, kind])) return;
        const values = this.values(r, path);
        if (!values) return;
        this.checkKeys(
          device,
          Object.keys(values),
          r.values ? [...path, 'values'] : path,
          r.values ? undefined : 'key',
        );
        this.checkRange(device, values, r.values ? [...path, 'values'] : path);
        for (const k of Object.keys(values)) hasValue.add(`${device}\u0000${k}`);
        return kind === 'episode'
          ? { ...base, kind, device, values, for: r.for! }
          : { ...base, kind, device, values };
      }
      case 'silence': {
        const r = s as unknown as { silence: string; for?: number };
        if (!this.deviceRef(r.silence, [...path, 'silence'])) return;
        return { ...base, kind, device: r.silence, for: r.for ?? null };
      }
      case 'resume': {
        const r = s as unknown as { resume: string };
        if (!this.deviceRef(r.resume, [...path, 'resume'])) return;
        return { ...base, kind, device: r.resume };
      }
      case 'event': {
        const r = s as unknown as { event: string; type: string; confidence: number; snapshot?: string };
        if (!this.deviceRef(r.event, [...path, 'event'], { camera: true })) return;
        return {
          ...base,
          kind,
          device: r.event,
          type: r.type,
          confidence: r.confidence,
          snapshot: r.snapshot ?? null,
        };
      }
      case 'action': {
        const r = s as unknown as {
          action: PersonAction;
          case: z.infer<typeof caseRef>;
          by: string;
          assignee?: string;
          note?: string;
          refused?: number;
        };
        this.userRef(r.by, [...path, 'by']);
        if (r.assignee !== undefined && !(r.assignee in this.top.units))
          issues.add(
            [...path, 'assignee'],
            `no unit '${r.assignee}' in units (${this.known(this.top.units)})`,
          );
        if (r.action === 'dispatch' && r.assignee === undefined && r.refused === undefined)
          issues.add(path, 'dispatch needs an assignee (a unit of this scenario)', { key: 'assignee' });
        const ref = this.caseRef(r.case, [...path, 'case'], labels, base.at);
        if (!ref) return;
        return {
          ...base,
          kind,
          action: r.action,
          case: ref,
          by: r.by,
          assignee: r.assignee ?? null,
          note: r.note ?? null,
          refused: r.refused ?? null,
        };
      }
      case 'report': {
        const r = s as unknown as {
          report: string;
          by: string;
          category: string;
          grid?: string;
          site?: string;
          location?: { lng: number; lat: number };
          description: string;
          urgency?: 'low' | 'normal' | 'urgent';
          photos: string[];
        };
        this.userRef(r.by, [...path, 'by']);
        if (labels.has(r.report))
          issues.add([...path, 'report'], `the label '${r.report}' is used by another report`);
        labels.set(r.report, base.at);
        const placement = this.placement(r, path);
        if (!placement) {
          issues.add(path, 'a report needs a place: grid, site or location');
          return;
        }
        return {
          ...base,
          kind,
          label: r.report,
          by: r.by,
          category: r.category,
          placement,
          description: r.description,
          urgency: r.urgency ?? null,
          photos: r.photos,
        };
      }
      case 'check': {
        const r = s as unknown as { check: unknown[] };
        const expect = r.check.flatMap(
          (e, i) => this.readExpectation(e, [...path, 'check', i], labels, base.at) ?? [],
        );
        return { ...base, kind, expect };
      }
    }
  }

  private time(t: TimeSpec): number {
    return 'abs' in t ? t.abs : this.start + t.rel;
  }

  private readExpectation(
    raw: unknown,
    path: Path,
    labels: Map<string, number>,
    at: number,
  ): Expectation | undefined {
    const { issues } = this;
    const line = issues.loc.lineOf(path);
    const where = formatPath(path);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      issues.add(path, `an expectation is a map with one of ${EXPECT_KINDS.join(', ')}`);
      return;
    }
    const kinds = EXPECT_KINDS.filter((k) => k in raw);
    if (kinds.length !== 1) {
      issues.add(
        path,
        kinds.length === 0
          ? `an expectation needs one of ${EXPECT_KINDS.join(', ')} (found ${Object.keys(raw).join(', ') || 'nothing'})`
          : `an expectation checks one thing: found ${kinds.join(' and ')}`,
        kinds.length > 1 ? { key: kinds[1] } : {},
      );
      return;
    }
    const kind = kinds[0]!;
    if (kind === 'noCase') {
      const e = issues.parse(expectSchemas.noCase, raw, path);
      if (!e) return;
      const ref = this.caseRef(e.noCase, [...path, 'noCase'], labels, at);
      return ref && { kind, ref, line, path: where };
    }
    if (kind === 'case') {
      const e = issues.parse(expectSchemas.case, raw, path);
      if (!e) return;
      const ref = this.caseRef(e.case, [...path, 'case'], labels, at);
      if (!ref) return;
      const { case: _c, openedAt, deadline, closedAt, assignee, verifiedBy, ...rest } = e;
      if (assignee !== undefined && assignee !== null && !(assignee in this.top.units))
        issues.add([...path, 'assignee'], `no unit '${assignee}' in units (${this.known(this.top.units)})`);
      if (
        verifiedBy !== undefined &&
        verifiedBy !== 'sensor' &&
        verifiedBy !== 'admin' &&
        !(verifiedBy in this.top.users)
      )
        issues.add(
          [...path, 'verifiedBy'],
          `expected sensor, admin or a user of this scenario, got '${verifiedBy}'`,
        );
      const checks: CaseChecks = { ...rest };
      if (assignee !== undefined) checks.assignee = assignee;
      if (verifiedBy !== undefined) checks.verifiedBy = verifiedBy;
      if (openedAt !== undefined) checks.openedAt = this.time(openedAt);
      if (deadline !== undefined) checks.deadline = deadline === null ? null : this.time(deadline);
      if (closedAt !== undefined) checks.closedAt = closedAt === null ? null : this.time(closedAt);
      return { kind, ref, line, path: where, ...checks };
    }
    const e = issues.parse(expectSchemas.kpi, raw, path) as
      | ({
          kpi: {
            level: 'grid' | 'community' | 'street' | 'district' | 'unit';
            key?: string | number;
            from: TimeSpec;
            to: TimeSpec;
          };
        } & Record<string, unknown>)
      | undefined;
    if (!e) return;
    const { level } = e.kpi;
    let key: string | null = e.kpi.key === undefined ? null : String(e.kpi.key);
    if (key !== null) {
      if (level === 'unit') {
        if (!(key in this.top.units))
          issues.add([...path, 'kpi', 'key'], `no unit '${key}' in units (${this.known(this.top.units)})`);
      } else {
        const len = { grid: 15, community: 12, street: 9, district: 6 }[level];
        if (!new RegExp(`^\\d{${len}}$`).test(key)) {
          issues.add(
            [...path, 'kpi', 'key'],
            `a ${level} code has ${len} digits, got ${describe(e.kpi.key)}`,
          );
          key = null;
        }
      }
    }
    const from = this.time(e.kpi.from);
    const to = this.time(e.kpi.to);
    if (from >= to) issues.add([...path, 'kpi', 'to'], 'must be after from');
    const values: Partial<Record<KpiField, number | null>> = {};
    for (const f of KPI_FIELDS) if (e[f] !== undefined) values[f] = e[f] as number | null;
    if (Object.keys(values).length === 0)
      issues.add(path, `give at least one KPI value (${KPI_FIELDS.join(', ')})`);
    return { kind, level, key, from, to, values, line, path: where };
  }
}
