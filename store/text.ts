/**
 * What text the store can hold. PostgreSQL text and jsonb cannot hold U+0000 (22021 / 22P05), and
 * a lone UTF-16 surrogate has no UTF-8 form (the driver would silently turn it into U+FFFD). Device
 * input is judged with `textProblem` at validation; text the hub itself keeps about bad input (the
 * rejected store's copy of a payload, reasons quoting keys) goes through `storableText`.
 */

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** Why a string cannot be stored, or undefined when it can. */
export function textProblem(s: string): string | undefined {
  const m = UNSTORABLE.exec(s);
  if (!m) return undefined;
  return m[0] === '\u0000'
    ? 'contains U+0000 (NUL), which the store cannot hold'
    : `contains a lone UTF-16 surrogate (U+${m[0].charCodeAt(0).toString(16).toUpperCase()})`;
}

/** The string with NUL shown as the text `\u0000` and lone surrogates as U+FFFD. */
export function storableText(s: string): string {
  if (!UNSTORABLE.test(s)) return s;
  return s.replace(UNSTORABLE_ALL, (c) => (c === '\u0000' ? '\\u0000' : '\uFFFD'));
}

/**
 * Why a JSON value (from JSON.parse) cannot be stored as jsonb, or undefined: an unstorable string
 * or key anywhere, or nesting deeper than `maxDepth` (PostgreSQL's stack limit refuses very deep
 * documents, and a deep one costs the hub stack too).
 */
export function jsonProblem(value: unknown, maxDepth = 32): string | undefined {
  const walk = (v: unknown, depth: number, path: string): string | undefined => {
    if (typeof v === 'string') {
      const p = textProblem(v);
      return p && `${path} ${p}`;
    }
    if (typeof v !== 'object' || v === null) return undefined;
    if (depth >= maxDepth) return `${path} is nested deeper than ${maxDepth} levels`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = walk(v[i], depth + 1, `${path}[${i}]`);
        if (p) return p;
      }
      return undefined;
    }
    for (const [k, x] of Object.entries(v)) {
      const kp = textProblem(k);
      if (kp) return `${path}: a key ${kp}`;
      const p = walk(x, depth + 1, `${path}.${storableText(k).slice(0, 40)}`);
      if (p) return p;
    }
    return undefined;
  };
  return walk(value, 0, 'value');
}

/** Epoch milliseconds as ISO 8601 when representable, else the number itself: never throws. */
export function formatTs(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`;
}
