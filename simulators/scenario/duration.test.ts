import { describe, expect, it } from 'vitest';
import { formatDuration, gcd, parseDuration } from './duration.ts';

describe('scenario durations', () => {
  it('parses compound durations', () => {
    expect(parseDuration('40m')).toBe(2_400_000);
    expect(parseDuration('2h10m')).toBe(7_800_000);
    expect(parseDuration('1d6h')).toBe(108_000_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration('0')).toBe(0);
  });

  it('refuses what is not one', () => {
    for (const bad of ['', '40', '40 min', '2h 10m', 'm', '1x', '-5m', 40, null, undefined, '1h-'])
      expect(parseDuration(bad), String(bad)).toBeUndefined();
  });

  it('formats back to the shortest text', () => {
    expect(formatDuration(7_800_000)).toBe('2h10m');
    expect(formatDuration(108_000_000)).toBe('1d6h');
    expect(formatDuration(0)).toBe('0');
    expect(parseDuration(formatDuration(93_784_005))).toBe(93_784_005);
    expect(gcd(300_000, 60_000)).toBe(60_000);
  });
});
