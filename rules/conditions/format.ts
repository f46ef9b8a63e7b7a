/** Numbers, durations and units as the explanations write them. */
import type { ProfileSpec } from '../../domain/index.ts';
import { formatDuration } from '../../kernel/index.ts';

export function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** Up to 4 significant digits, whole numbers from 1000 on. */
export function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(4)));
}

/** 600000 → '10m', 5400000 → '1h 30m', 45000 → '45s' (the kernel's one formatter, brief). */
export const fmtDuration = (ms: number): string => formatDuration(ms, 'brief');

const UNIT_WORD: Record<string, string> = {
  ms: 'millisecond',
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
};

/** '15m' → '15-minute'. */
export function durationAdjective(d: string): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(d.trim());
  return m ? `${m[1]}-${UNIT_WORD[m[2]!]}` : d;
}

/** ' µg/m³', '°' or '': the key's unit in the rule's profile, as written after a number. */
export function unitOf(profile: ProfileSpec | undefined, key: string): string {
  const unit = (profile?.keys as Record<string, { unit?: string }> | undefined)?.[key]?.unit;
  if (!unit) return '';
  return unit === '°' ? '°' : ` ${unit}`;
}
