import { describe, expect, it } from 'vitest';
import { demoDistrict, type Position } from './district.ts';
import { Random } from './random.ts';

type Ring = Position[];

// Independent geometry helpers (deliberately not the ones in district.ts).
function inRing(x: number, y: number, ring: Ring): boolean {
  let inside = false;
  for (let i = 0; i < ring.length - 1; i++) {
    const [x1, y1] = ring[i] as Position;
    const [x2, y2] = ring[i + 1] as Position;
    if (y1 > y !== y2 > y) {
      const xAt = x1 + ((y - y1) * (x2 - x1)) / (y2 - y1);
      if (x < xAt) inside = !inside;
    }
  }
  return inside;
}

function distToSegment(x: number, y: number, a: Position, b: Position): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((x - a[0]) * dx + (y - a[1]) * dy) / len2));
  return Math.hypot(x - (a[0] + t * dx), y - (a[1] + t * dy));
}

const distToRing = (x: number, y: number, ring: Ring) => {
  let d = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ring.length - 1; i++) d = Math.min(d, distToSegment(x, y, ring[i]!, ring[i + 1]!));
  return d;
};

const cross = (o: Position, a: Position, b: Position) =>
  (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);

/** Proper or touching intersection of segments p1p2 and p3p4. */
function segmentsIntersect(p1: Position, p2: Position, p3: Position, p4: Position): boolean {
  const d1 = cross(p3, p4, p1);
  const d2 = cross(p3, p4, p2);
  const d3 = cross(p1, p2, p3);
  const d4 = cross(p1, p2, p4);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  const onSeg = (p: Position, q: Position, r: Position) =>
    Math.min(p[0], q[0]) <= r[0] &&
    r[0] <= Math.max(p[0], q[0]) &&
    Math.min(p[1], q[1]) <= r[1] &&
    r[1] <= Math.max(p[1], q[1]);
  return (
    (d1 === 0 && onSeg(p3, p4, p1)) ||
    (d2 === 0 && onSeg(p3, p4, p2)) ||
    (d3 === 0 && onSeg(p1, p2, p3)) ||
    (d4 === 0 && onSeg(p1, p2, p4))
  );
}

function selfIntersects(ring: Ring): boolean {
  const n = ring.length - 1; // edges
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const adjacent = j === i + 1 || (i === 0 && j === n - 1);
      if (adjacent) continue;
      if (segmentsIntersect(ring[i]!, ring[i + 1]!, ring[j]!, ring[j + 1]!)) return true;
    }
  }
  return false;
}

/** Signed area (shoelace), positive for counter-clockwise. */
const signedArea = (ring: Ring) => {
  let a = 0;
  for (let i = 0; i < ring.length - 1; i++)
    a += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  return a / 2;
};

const M_PER_DEG_LAT = 110_574;
const M_PER_DEG_LNG = 111_320 * Math.cos((30.255 * Math.PI) / 180);

const district = demoDistrict(1);
const features = district.grids.features;
const rings = features.map((f) => f.geometry.coordinates[0] as Ring);

function bbox() {
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const ring of rings) {
    for (const [x, y] of ring) {
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  }
  return { minX, minY, maxX, maxY };
}

const centroid = (ring: Ring): Position => {
  const pts = ring.slice(0, -1);
  return [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
};

describe('demo district', () => {
  it('is a FeatureCollection of at least 40 polygons with valid, unique 15-digit codes', () => {
    expect(district.grids.type).toBe('FeatureCollection');
    expect(features.length).toBeGreaterThanOrEqual(40);
    const codes = new Set<string>();
    for (const f of features) {
      expect(f.type).toBe('Feature');
      expect(f.geometry.type).toBe('Polygon');
      expect(f.properties.code).toMatch(/^330102\d{9}$/);
      expect(f.properties.name.length).toBeGreaterThan(0);
      codes.add(f.properties.code);
    }
    expect(codes.size).toBe(features.length);
  });

  it('has 3 streets × 2 communities whose codes are the prefixes of their grids', () => {
    const streetOf = new Map<string, string>();
    const communityOf = new Map<string, string>();
    for (const f of features) {
      const { code, streetName, communityName } = f.properties;
      const street = code.slice(0, 9);
      const community = code.slice(0, 12);
      expect(streetName).toMatch(/街道$/);
      expect(communityName).toMatch(/社区$/);
      // One name per code and one code per name.
      expect(streetOf.get(street) ?? streetName).toBe(streetName);
      expect(communityOf.get(community) ?? communityName).toBe(communityName);
      streetOf.set(street, streetName);
      communityOf.set(community, communityName);
    }
    expect([...streetOf.keys()].sort()).toEqual(['330102001', '330102002', '330102003']);
    expect(new Set(streetOf.values()).size).toBe(3);
    expect(communityOf.size).toBe(6);
    expect(new Set(communityOf.values()).size).toBe(6);
    for (const c of communityOf.keys()) expect(c).toMatch(/^330102\d{3}00[12]$/);
    // The tree agrees with the features.
    expect(district.streets.map((s) => s.code)).toEqual(['330102001', '330102002', '330102003']);
    for (const s of district.streets) {
      expect(s.name).toBe(streetOf.get(s.code));
      for (const c of s.communities) {
        expect(c.code.startsWith(s.code)).toBe(true);
        expect(c.name).toBe(communityOf.get(c.code));
      }
    }
  });

  it('numbers grids 001… west→east, then north→south, within each community', () => {
    const halfRow = 0.00045;
    const byCommunity = new Map<string, { seq: number; c: Position }[]>();
    for (const [i, f] of features.entries()) {
      const key = f.properties.code.slice(0, 12);
      byCommunity.set(key, [
        ...(byCommunity.get(key) ?? []),
        { seq: Number(f.properties.code.slice(12)), c: centroid(rings[i]!) },
      ]);
    }
    for (const cells of byCommunity.values()) {
      const seqs = cells.map((x) => x.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      for (const a of cells) {
        for (const b of cells) {
          if (a.seq >= b.seq) continue;
          const sameRow = Math.abs(a.c[1] - b.c[1]) < halfRow;
          if (sameRow) expect(a.c[0]).toBeLessThan(b.c[0]);
          else expect(a.c[1]).toBeGreaterThan(b.c[1]);
        }
      }
    }
  });

  it('has closed, counter-clockwise, simple rings of plausible size', () => {
    for (const ring of rings) {
      expect(ring.length).toBeGreaterThanOrEqual(4);
      expect(ring[0]).toEqual(ring[ring.length - 1]);
      for (const [x, y] of ring) {
        expect(x).toBeGreaterThan(120.1);
        expect(x).toBeLessThan(120.2);
        expect(y).toBeGreaterThan(30.2);
        expect(y).toBeLessThan(30.3);
      }
      expect(selfIntersects(ring)).toBe(false);
      const area = signedArea(ring);
      expect(area).toBeGreaterThan(0);
      const m2 = area * M_PER_DEG_LAT * M_PER_DEG_LNG;
      expect(m2).toBeGreaterThan(4_000);
      expect(m2).toBeLessThan(20_000);
    }
  });

  it('the self-intersection check catches a bow tie', () => {
    const bowTie: Ring = [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
      [0, 0],
    ];
    expect(selfIntersects(bowTie)).toBe(true);
  });

  it('tiles its bounding box: no gaps, no overlaps', () => {
    const b = bbox();
    // Areas add up to the bounding box (the outline is a rectangle).
    const total = rings.reduce((s, r) => s + signedArea(r), 0);
    const boxArea = (b.maxX - b.minX) * (b.maxY - b.minY);
    expect(Math.abs(total - boxArea) / boxArea).toBeLessThan(1e-9);
    // Every sampled point is in exactly one polygon, unless it is on an edge.
    const rnd = new Random(42);
    let checked = 0;
    for (let k = 0; k < 20_000; k++) {
      const x = rnd.range(b.minX, b.maxX);
      const y = rnd.range(b.minY, b.maxY);
      const containing = rings.filter((r) => inRing(x, y, r)).length;
      const onEdge = rings.some((r) => distToRing(x, y, r) < 1e-9);
      if (onEdge) continue;
      expect(containing).toBe(1);
      checked++;
    }
    expect(checked).toBeGreaterThan(19_000);
  });

  it('neighbours share their vertices exactly', () => {
    const count = new Map<string, number>();
    for (const ring of rings)
      for (const p of ring.slice(0, -1)) count.set(p.join(','), (count.get(p.join(',')) ?? 0) + 1);
    // 7 × 8 lattice vertices: 4 corners used once, border ones twice, inner ones 4 times.
    const uses = [...count.values()].sort((a, b) => a - b);
    expect(uses.filter((u) => u === 1)).toHaveLength(4);
    expect(uses.filter((u) => u === 4)).toHaveLength(5 * 6);
    expect(uses.every((u) => u === 1 || u === 2 || u === 4)).toBe(true);
  });

  it('is irregular: the inner vertices are jittered', () => {
    const xs = new Set(rings.flatMap((r) => r.map((p) => p[0])));
    expect(xs.size).toBeGreaterThan(20);
  });

  it('places sites in different grids and bins strictly inside grids', () => {
    expect(district.sites).toHaveLength(4);
    expect(district.sites.map((s) => s.id)).toEqual(['site-1', 'site-2', 'site-3', 'site-4']);
    const gridOf = (p: { lng: number; lat: number }) => {
      const hits = rings.flatMap((r, i) => (inRing(p.lng, p.lat, r) ? [i] : []));
      expect(hits).toHaveLength(1);
      const ring = rings[hits[0]!]!;
      // Not on an edge: at least ~5 m away from it.
      expect(distToRing(p.lng, p.lat, ring)).toBeGreaterThan(0.00005);
      return hits[0];
    };
    const siteGrids = district.sites.map((s) => gridOf(s.location));
    expect(new Set(siteGrids).size).toBe(4);
    for (const s of district.sites) expect(s.name.length).toBeGreaterThan(0);
    expect(district.bins.length).toBeGreaterThanOrEqual(25);
    expect(district.bins.length).toBeLessThanOrEqual(35);
    const binGrids = district.bins.map(gridOf);
    // Spread: every community has bins.
    const communities = new Set(binGrids.map((i) => features[i!]!.properties.code.slice(0, 12)));
    expect(communities.size).toBe(6);
  });

  it('is deterministic for a seed and varies with it', () => {
    expect(demoDistrict(1)).toEqual(district);
    expect(demoDistrict()).toEqual(district);
    const other = demoDistrict(2);
    expect(other.grids.features.map((f) => f.properties.code)).toEqual(
      features.map((f) => f.properties.code),
    );
    expect(other.grids).not.toEqual(district.grids);
    expect(other.bins).not.toEqual(district.bins);
  });

  it('keeps its invariants for other seeds', () => {
    for (const seed of [2, 3, 99, 12345]) {
      const d = demoDistrict(seed);
      for (const f of d.grids.features) expect(selfIntersects(f.geometry.coordinates[0] as Ring)).toBe(false);
      const rs = d.grids.features.map((f) => f.geometry.coordinates[0] as Ring);
      for (const p of [...d.bins, ...d.sites.map((s) => s.location)]) {
        expect(rs.filter((r) => inRing(p.lng, p.lat, r))).toHaveLength(1);
      }
    }
  });
});
