import { describe, expect, it } from 'vitest';
import { hierarchy, levelOf } from '../domain/index.ts';
import { bbox, covers, ringPosition, ringProblem } from './geo.ts';

const square = (x0: number, y0: number, s: number): [number, number][] => [
  [x0, y0],
  [x0 + s, y0],
  [x0 + s, y0 + s],
  [x0, y0 + s],
  [x0, y0],
];

describe('geometry', () => {
  it('tells inside, boundary and outside', () => {
    const r = square(0, 0, 1);
    expect(ringPosition([0.5, 0.5], r)).toBe('in');
    expect(ringPosition([1, 0.5], r)).toBe('on');
    expect(ringPosition([0, 0], r)).toBe('on');
    expect(ringPosition([1.5, 0.5], r)).toBe('out');
  });
  it('respects holes and multipolygons', () => {
    const donut = { type: 'Polygon' as const, coordinates: [square(0, 0, 10), square(4, 4, 2)] };
    expect(covers(donut, [1, 1])).toBe(true);
    expect(covers(donut, [5, 5])).toBe(false);
    expect(covers(donut, [4, 5])).toBe(true);
    const multi = { type: 'MultiPolygon' as const, coordinates: [[square(0, 0, 1)], [square(5, 5, 1)]] };
    expect(covers(multi, [5.5, 5.5])).toBe(true);
    expect(covers(multi, [3, 3])).toBe(false);
    expect(bbox(multi)).toEqual({ minLng: 0, minLat: 0, maxLng: 6, maxLat: 6 });
  });
  it('names ring problems', () => {
    expect(ringProblem([[0, 0]])).toMatch(/at least 4/);
    expect(
      ringProblem([
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ]),
    ).toMatch(/not closed/);
    expect(
      ringProblem([
        [0, 0],
        [200, 0],
        [1, 1],
        [0, 0],
      ]),
    ).toMatch(/outside WGS-84/);
    expect(ringProblem(square(0, 0, 1))).toBeUndefined();
    // An altitude is a number too (RFC 7946 §3.1.1); anything else in a position is refused.
    expect(ringProblem(square(0, 0, 1).map(([x, y]) => [x, y, 12.5]))).toBeUndefined();
    expect(ringProblem(square(0, 0, 1).map(([x, y], i) => (i === 1 ? [x, y, 'high'] : [x, y])))).toMatch(
      /positions must be/,
    );
  });
});

describe('grid codes', () => {
  it('derive the hierarchy from the prefixes', () => {
    expect(hierarchy('330102001002007')).toEqual({
      district: '330102',
      street: '330102001',
      community: '330102001002',
      grid: '330102001002007',
    });
    expect(levelOf('330102')).toBe('district');
    expect(levelOf('330102001002')).toBe('community');
    expect(levelOf('3301020010')).toBeUndefined();
  });
});
