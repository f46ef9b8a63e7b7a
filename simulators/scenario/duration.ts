/**
 * Durations of the scenario language: a sequence of number+unit parts, largest first or not —
 * `40m`, `2h10m`, `1d6h`, `90s`, `1.5h`; `0` is the start. Units: `w`, `d`, `h`, `m`, `s`, `ms`.
 */

const UNIT_MS: Record<string, number> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

const PART = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/y;

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(input: unknown): number | undefined {
  if (input === 0 || input === '0') return 0;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (!text) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** `2h10m`, `45s`, `0`: the shortest text that parses back to the same value (whole seconds or ms). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return sign + out;
}

/** Greatest common divisor of positive integers. */
export function gcd(a: number, b: number): number {
  let x = Math.abs(Math.round(a));
  let y = Math.abs(Math.round(b));
  while (y) [x, y] = [y, x % y];
  return x;
}
