/**
 * Planar geometry on WGS-84 lng/lat, enough for unit grids of ~100 m: at that size the error of
 * treating degrees as planar is far below GPS error.
 */
export type Position = [number, number];
export type Ring = Position[];
export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: Ring[];
}
export interface MultiPolygonGeometry {
  type: 'MultiPolygon';
  coordinates: Ring[][];
}
export type AreaGeometry = PolygonGeometry | MultiPolygonGeometry;
export interface BBox {
  minLng: number;
  minLat: number;
  maxLng: number;
  maxLat: number;
}

const EPS = 1e-12;

function onSegment(p: Position, a: Position, b: Position): boolean {
  const cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
  if (Math.abs(cross) > EPS) return false;
  return (
    p[0] >= Math.min(a[0], b[0]) - EPS &&
    p[0] <= Math.max(a[0], b[0]) + EPS &&
    p[1] >= Math.min(a[1], b[1]) - EPS &&
    p[1] <= Math.max(a[1], b[1]) + EPS
  );
}

/** 'in', 'on' (the boundary) or 'out' for one ring (even-odd ray casting). */
export function ringPosition(p: Position, ring: Ring): 'in' | 'on' | 'out' {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i]!;
    const b = ring[j]!;
    if (onSegment(p, a, b)) return 'on';
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0])
      inside = !inside;
  }
  return inside ? 'in' : 'out';
}

function polygonPosition(p: Position, rings: Ring[]): 'in' | 'on' | 'out' {
  const outer = ringPosition(p, rings[0] ?? []);
  if (outer !== 'in') return outer;
  for (const hole of rings.slice(1)) {
    const h = ringPosition(p, hole);
    if (h === 'on') return 'on';
    if (h === 'in') return 'out';
  }
  return 'in';
}

/** Whether the point lies inside the area or on its boundary. */
export function covers(geometry: AreaGeometry, p: Position): boolean {
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  return polys.some((rings) => polygonPosition(p, rings) !== 'out');
}

export function bbox(geometry: AreaGeometry): BBox {
  const b = { minLng: Infinity, minLat: Infinity, maxLng: -Infinity, maxLat: -Infinity };
  const polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
  for (const rings of polys)
    for (const [lng, lat] of rings[0] ?? []) {
      if (lng < b.minLng) b.minLng = lng;
      if (lng > b.maxLng) b.maxLng = lng;
      if (lat < b.minLat) b.minLat = lat;
      if (lat > b.maxLat) b.maxLat = lat;
    }
  return b;
}

export const inBBox = (b: BBox, [lng, lat]: Position) =>
  lng >= b.minLng && lng <= b.maxLng && lat >= b.minLat && lat <= b.maxLat;

/** Problems with a ring, for a 400 that names them: too short, not closed, bad coordinates. */
export function ringProblem(ring: unknown): string | undefined {
  if (!Array.isArray(ring) || ring.length < 4) return 'a ring needs at least 4 positions';
  for (const p of ring) {
    // RFC 7946 §3.1.1: a position is an array of two or more numbers (an altitude may follow).
    if (!Array.isArray(p) || p.length < 2 || !p.every((x) => Number.isFinite(x)))
      return 'positions must be [lng, lat] (or [lng, lat, altitude]) numbers';
    if (p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90)
      return `position [${p[0]}, ${p[1]}] is outside WGS-84`;
  }
  const first = ring[0] as number[];
  const last = ring[ring.length - 1] as number[];
  if (first[0] !== last[0] || first[1] !== last[1])
    return 'the ring is not closed (first and last positions differ)';
  return undefined;
}
