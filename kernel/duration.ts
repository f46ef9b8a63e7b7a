/**
 * The one duration grammar of the hub: rule windows (`15m`), the manual clock (`advance: 2h`),
 * configuration (`90s`), scenario offsets (`2h10m`, `0`) and simulator flags all read it.
 *
 * A duration is one or more number+unit parts without spaces, in any order — `30s`, `1.5h`,
 * `2h10m`, `1d6h`, `500ms` — or the bare `0` (the start). Units: `w`, `d`, `h`, `m`, `s`, `ms`.
 * This is the union of the grammars that used to live apart (single part with `w`; compound parts;
 * `0`), so every text that was valid somewhere stays valid. Bare numbers other than 0 are not
 * durations (their unit differs by caller: configuration reads milliseconds, the simulator's flags
 * seconds); callers that take them say so themselves.
 */

const UNIT_MS: Record<string, number> = {
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

// `ms` before `m`, so `500ms` is not read as 500 minutes followed by an `s`.
const PART = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/y;

/**
 * Milliseconds (not rounded: `1.5ms` is 1.5), or undefined when the input is not a duration or is
 * too large to be a finite number. The number 0 is accepted as `0` (YAML reads `at: 0` as a number).
 */
export function parseDuration(input: unknown): number | undefined {
  if (input === 0) return 0;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (text === '0') return 0;
  if (!text) return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
  }
  return Number.isFinite(total) ? total : undefined;
}

const FORMAT_UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
] as const;

/**
 * Milliseconds as text.
 * - `compact` (default): every part, no spaces, the shortest text that parses back to the same
 *   whole number of milliseconds — `2h10m`, `45s`, `1d6h`, `0`; negative values get a `-`.
 * - `brief`: for sentences a person reads — the two largest parts of the whole seconds separated by
 *   a space (`1h 30m`, `45s`, `2d 3h`), `250ms` under a second, `0s` for nothing.
 */
export function formatDuration(ms: number, style: 'compact' | 'brief' = 'compact'): string {
  if (style === 'brief') {
    if (ms < 1000) return ms <= 0 ? '0s' : `${Math.round(ms)}ms`;
    let rest = Math.floor(ms / 1000) * 1000;
    const parts: string[] = [];
    for (const [unit, size] of FORMAT_UNITS) {
      if (unit === 'ms' || rest < size) continue;
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    return parts.slice(0, 2).join(' ');
  }
  if (ms === 0) return '0';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return sign + out;
}
