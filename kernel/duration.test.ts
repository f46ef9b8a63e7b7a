import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('parses compound durations (the scenario language)', () => {
    expect(parseDuration('40m')).toBe(2_400_000);
    expect(parseDuration('2h10m')).toBe(7_800_000);
    expect(parseDuration('1d6h')).toBe(108_000_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration('0')).toBe(0);
  });

  it('parses single parts with every unit (rules, clock, configuration)', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration(' 10m ')).toBe(600_000);
    expect(parseDuration('0s')).toBe(0);
    // not rounded: the rules' schema keeps a positive sub-millisecond duration positive
    expect(parseDuration('1.5ms')).toBe(1.5);
    expect(parseDuration('1w2d')).toBe(604_800_000 + 2 * 86_400_000);
  });

  it('refuses what is not one', () => {
    for (const bad of ['', '40', '40 min', '2h 10m', 'm', '1x', '-5m', 40, null, undefined, '1h-'])
      expect(parseDuration(bad), String(bad)).toBeUndefined();
    for (const bad of ['15', '1y', '15 minutes', 'soon', '6 hours', 'h', '.5m', '5.m', '1e3s', {}, ['1m']])
      expect(parseDuration(bad), String(bad)).toBeUndefined();
  });

  it('refuses a duration too large to be a number', () => {
    expect(parseDuration(`${'9'.repeat(400)}d`)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it('formats back to the shortest text', () => {
    expect(formatDuration(7_800_000)).toBe('2h10m');
    expect(formatDuration(108_000_000)).toBe('1d6h');
    expect(formatDuration(0)).toBe('0');
    expect(formatDuration(-90_000)).toBe('-1m30s');
    expect(parseDuration(formatDuration(93_784_005))).toBe(93_784_005);
  });

  it('writes brief text for sentences: two largest parts of the whole seconds', () => {
    expect(formatDuration(90 * 60_000, 'brief')).toBe('1h 30m');
    expect(formatDuration(45_000, 'brief')).toBe('45s');
    expect(formatDuration(600_000, 'brief')).toBe('10m');
    expect(formatDuration(93_784_005, 'brief')).toBe('1d 2h');
    expect(formatDuration(1500, 'brief')).toBe('1s');
    expect(formatDuration(250.4, 'brief')).toBe('250ms');
    expect(formatDuration(0, 'brief')).toBe('0s');
    expect(formatDuration(-5, 'brief')).toBe('0s');
  });
});
