import { describe, expect, it } from 'vitest';
import { gcd, parseDuration } from './schema.ts';

describe('scenario times', () => {
  it('are the kernel grammar in whole milliseconds', () => {
    expect(parseDuration('2h10m')).toBe(7_800_000);
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration('1.5ms')).toBe(2);
    expect(parseDuration('40 min')).toBeUndefined();
  });

  it('find the clock step as the greatest common divisor of the devices’ periods', () => {
    expect(gcd(300_000, 60_000)).toBe(60_000);
    expect(gcd(90_000, 60_000)).toBe(30_000);
  });
});
