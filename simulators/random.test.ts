import { describe, expect, it } from 'vitest';
import { deriveSeed, Random } from './random.ts';

const draw = (r: Random, n: number) => Array.from({ length: n }, () => r.next());

describe('Random', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(draw(new Random(7), 50)).toEqual(draw(new Random(7), 50));
    expect(draw(new Random(7), 50)).not.toEqual(draw(new Random(8), 50));
    expect(draw(new Random(), 5)).toEqual(draw(new Random(1), 5));
  });

  it('resumes from its state', () => {
    const a = new Random(3);
    draw(a, 10);
    const b = Random.fromState(a.state);
    expect(draw(b, 20)).toEqual(draw(a, 20));
  });

  it('draws uniformly in [0, 1) and in ranges', () => {
    const r = new Random(11);
    const xs = draw(r, 20_000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(m - 0.5)).toBeLessThan(0.01);
    const buckets = new Array(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]++;
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(200);
    for (let i = 0; i < 1000; i++) {
      const y = r.range(-3, 5);
      expect(y).toBeGreaterThanOrEqual(-3);
      expect(y).toBeLessThan(5);
      const k = r.int(1, 6);
      expect(Number.isInteger(k) && k >= 1 && k <= 6).toBe(true);
    }
  });

  it('draws normals with the given mean and sd', () => {
    const r = new Random(5);
    const xs = Array.from({ length: 20_000 }, () => r.normal(10, 2));
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
    expect(Math.abs(m - 10)).toBeLessThan(0.06);
    expect(Math.abs(sd - 2)).toBeLessThan(0.06);
  });

  it('picks, shuffles and flips coins', () => {
    const r = new Random(9);
    const seen = new Set(Array.from({ length: 200 }, () => r.pick(['a', 'b', 'c'])));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    expect(() => r.pick([])).toThrow();
    const hits = Array.from({ length: 10_000 }, () => r.chance(0.2)).filter(Boolean).length;
    expect(Math.abs(hits - 2000)).toBeLessThan(150);
    expect(r.chance(0)).toBe(false);
    expect(r.chance(1)).toBe(true);
    const arr = [1, 2, 3, 4, 5, 6, 7, 8];
    const sh = r.shuffle(arr);
    expect([...sh].sort()).toEqual(arr);
    expect(arr).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('derives independent sub-seeds', () => {
    expect(deriveSeed(1, 'bin-01')).toBe(deriveSeed(1, 'bin-01'));
    expect(deriveSeed(1, 'bin-01')).not.toBe(deriveSeed(1, 'bin-02'));
    expect(deriveSeed(1, 'bin-01')).not.toBe(deriveSeed(2, 'bin-01'));
  });
});
