/**
 * The demo district: a Hangzhou 上城区-like district (code 330102) with 3 streets × 2 communities and
 * 42 unit grids of about 100 m × 100 m, as a GeoJSON FeatureCollection (WGS-84), plus the locations
 * of 4 construction sites and ~30 smart bins. Deterministic for a seed.
 *
 * The grids are the cells of a 6 × 7 lattice around (120.165, 30.255) whose inner vertices are
 * jittered, so the cells are irregular quadrilaterals that still tile exactly: neighbours share
 * vertices (the very same numbers), there are no gaps and no overlaps.
 */
import { Random } from './random.ts';

export interface LngLat {
  lng: number;
  lat: number;
}
export type Point = LngLat;
/** A GeoJSON position: [lng, lat]. */
export type Position = [number, number];

export interface GridProperties {
  /** 15 digits: 6 district + 3 street + 3 community + 3 sequence. */
  code: string;
  name: string;
  streetName: string;
  communityName: string;
}
export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: Position[][];
}
export interface GridFeature {
  type: 'Feature';
  properties: GridProperties;
  geometry: PolygonGeometry;
}
export interface FeatureCollection {
  type: 'FeatureCollection';
  features: GridFeature[];
}

export interface Site {
  id: string;
  name: string;
  location: LngLat;
}

export interface CommunityInfo {
  code: string;
  name: string;
}
export interface StreetInfo {
  code: string;
  name: string;
  communities: CommunityInfo[];
}

export interface DemoDistrict {
  code: string;
  name: string;
  streets: StreetInfo[];
  grids: FeatureCollection;
  sites: Site[];
  bins: Point[];
}

export const DISTRICT_CODE = '330102';
export const DISTRICT_NAME = '上城区';

const STREETS: { name: string; communities: [string, string] }[] = [
  { name: '清波街道', communities: ['劳动路社区', '柳翠井巷社区'] },
  { name: '湖滨街道', communities: ['东坡路社区', '青年路社区'] },
  { name: '小营街道', communities: ['小营巷社区', '大学路社区'] },
];

const SITE_NAMES = [
  '望江路地块商业综合体项目',
  '清泰街人才公寓项目',
  '小营巷老旧小区改造工程',
  '湖滨地下综合管廊工程',
];

/** Lattice geometry. */
const COLS = 6;
const ROWS = 7;
const CENTER: LngLat = { lng: 120.165, lat: 30.255 };
const D_LNG = 0.001; // ≈ 96 m at lat 30.25
const D_LAT = 0.0009; // ≈ 100 m
const JITTER = 0.22; // of a cell, per axis: keeps every cell a simple quadrilateral
const WEST = CENTER.lng - (COLS / 2) * D_LNG;
const NORTH = CENTER.lat + (ROWS / 2) * D_LAT;
/** Rows 0..3 are the first community of a street, rows 4..6 the second. */
const COMMUNITY_SPLIT_ROW = 4;

const BIN_COUNT = 30;
const SITE_COUNT = 4;
/** Bins and sites keep at least this distance (m) from the edges of their grid. */
const EDGE_MARGIN_M = 8;

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
const pad3 = (n: number) => String(n).padStart(3, '0');

/** Metres per degree at the district's latitude (equirectangular, plenty for 1 km). */
const M_PER_DEG_LAT = 110_574;
const M_PER_DEG_LNG = 111_320 * Math.cos((CENTER.lat * Math.PI) / 180);

/** Ray casting on a closed ring (first = last). Points exactly on an edge may go either way. */
export function pointInRing(p: LngLat, ring: readonly Position[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 2; i < ring.length - 1; j = i++) {
    const [xi, yi] = ring[i] as Position;
    const [xj, yj] = ring[j] as Position;
    if (yi > p.lat !== yj > p.lat && p.lng < ((xj - xi) * (p.lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Distance (m) from a point to the nearest edge of a ring. */
export function distanceToRingM(p: LngLat, ring: readonly Position[]): number {
  let best = Number.POSITIVE_INFINITY;
  const px = p.lng * M_PER_DEG_LNG;
  const py = p.lat * M_PER_DEG_LAT;
  for (let i = 0; i < ring.length - 1; i++) {
    const [ax0, ay0] = ring[i] as Position;
    const [bx0, by0] = ring[i + 1] as Position;
    const ax = ax0 * M_PER_DEG_LNG;
    const ay = ay0 * M_PER_DEG_LAT;
    const dx = bx0 * M_PER_DEG_LNG - ax;
    const dy = by0 * M_PER_DEG_LAT - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
    best = Math.min(best, Math.hypot(px - (ax + t * dx), py - (ay + t * dy)));
  }
  return best;
}

/** The grid whose polygon contains the point (lowest code on a tie), or undefined. */
export function gridAt(grids: FeatureCollection, p: LngLat): GridFeature | undefined {
  let found: GridFeature | undefined;
  for (const f of grids.features) {
    const ring = f.geometry.coordinates[0];
    if (ring && pointInRing(p, ring) && (!found || f.properties.code < found.properties.code)) found = f;
  }
  return found;
}

/** The lattice vertices [col][row], jittered inside, slid along the border, corners fixed. */
function lattice(rnd: Random): Position[][] {
  const v: Position[][] = [];
  for (let i = 0; i <= COLS; i++) {
    const column: Position[] = [];
    for (let j = 0; j <= ROWS; j++) {
      const onWE = i === 0 || i === COLS;
      const onNS = j === 0 || j === ROWS;
      const jx = onWE ? 0 : rnd.range(-JITTER, JITTER);
      const jy = onNS ? 0 : rnd.range(-JITTER, JITTER);
      column.push([round6(WEST + (i + jx) * D_LNG), round6(NORTH - (j + jy) * D_LAT)]);
    }
    v.push(column);
  }
  return v;
}

interface Cell {
  col: number;
  row: number;
  /** Corners: north-west, north-east, south-east, south-west. */
  nw: Position;
  ne: Position;
  se: Position;
  sw: Position;
  feature: GridFeature;
}

/** A point well inside a cell: bilinear in the middle of the quad, checked against the edges. */
function pointInCell(rnd: Random, cell: Cell): Point {
  const ring = cell.feature.geometry.coordinates[0] as Position[];
  for (let attempt = 0; attempt < 100; attempt++) {
    const u = rnd.range(0.2, 0.8);
    const w = rnd.range(0.2, 0.8);
    const lerp = (a: Position, b: Position, t: number): Position => [
      a[0] + (b[0] - a[0]) * t,
      a[1] + (b[1] - a[1]) * t,
    ];
    const top = lerp(cell.nw, cell.ne, u);
    const bottom = lerp(cell.sw, cell.se, u);
    const [lng, lat] = lerp(top, bottom, w);
    const p = { lng: round6(lng), lat: round6(lat) };
    if (pointInRing(p, ring) && distanceToRingM(p, ring) >= EDGE_MARGIN_M) return p;
  }
  throw new Error(`no interior point found in grid ${cell.feature.properties.code}`);
}

/** The demo district for a seed (same seed ⇒ same district). */
export function demoDistrict(seed = 1): DemoDistrict {
  const rnd = new Random(seed);
  const v = lattice(rnd);
  const corner = (i: number, j: number) => (v[i] as Position[])[j] as Position;

  const streets: StreetInfo[] = STREETS.map((s, si) => {
    const code = `${DISTRICT_CODE}${pad3(si + 1)}`;
    return {
      code,
      name: s.name,
      communities: s.communities.map((name, ci) => ({ code: `${code}${pad3(ci + 1)}`, name })),
    };
  });

  const cells: Cell[] = [];
  for (let row = 0; row < ROWS; row++) {
    for (let col = 0; col < COLS; col++) {
      const si = Math.floor(col / 2);
      const ci = row < COMMUNITY_SPLIT_ROW ? 0 : 1;
      const street = streets[si] as StreetInfo;
      const community = street.communities[ci] as CommunityInfo;
      const rowStart = ci === 0 ? 0 : COMMUNITY_SPLIT_ROW;
      // west→east, then north→south, inside the community (2 columns wide)
      const seq = (row - rowStart) * 2 + (col - si * 2) + 1;
      const nw = corner(col, row);
      const ne = corner(col + 1, row);
      const se = corner(col + 1, row + 1);
      const sw = corner(col, row + 1);
      // Counter-clockwise exterior ring (RFC 7946), closed.
      const ring: Position[] = [nw, sw, se, ne, nw].map((p) => [p[0], p[1]]);
      cells.push({
        col,
        row,
        nw,
        ne,
        se,
        sw,
        feature: {
          type: 'Feature',
          properties: {
            code: `${community.code}${pad3(seq)}`,
            name: `${community.name}第${seq}网格`,
            streetName: street.name,
            communityName: community.name,
          },
          geometry: { type: 'Polygon', coordinates: [ring] },
        },
      });
    }
  }
  cells.sort((a, b) => (a.feature.properties.code < b.feature.properties.code ? -1 : 1));

  // Sites: in four different streets/communities where possible, one per grid.
  const siteCells: Cell[] = [];
  for (const c of rnd.shuffle(cells)) {
    if (siteCells.length === SITE_COUNT) break;
    const community = c.feature.properties.code.slice(0, 12);
    if (siteCells.some((s) => s.feature.properties.code.slice(0, 12) === community)) continue;
    siteCells.push(c);
  }
  const sites: Site[] = siteCells.map((c, k) => ({
    id: `site-${k + 1}`,
    name: SITE_NAMES[k] ?? `工地${k + 1}`,
    location: pointInCell(rnd, c),
  }));

  // Bins: one in each of 30 distinct grids, spread over every community.
  const byCommunity = new Map<string, Cell[]>();
  for (const c of cells) {
    const key = c.feature.properties.code.slice(0, 12);
    byCommunity.set(key, [...(byCommunity.get(key) ?? []), c]);
  }
  const queues = [...byCommunity.values()].map((list) => rnd.shuffle(list));
  const binCells: Cell[] = [];
  for (let k = 0; binCells.length < Math.min(BIN_COUNT, cells.length); k++) {
    const next = queues[k % queues.length]?.shift();
    if (next) binCells.push(next);
  }
  binCells.sort((a, b) => a.row - b.row || a.col - b.col);
  const bins = binCells.map((c) => pointInCell(rnd, c));

  return {
    code: DISTRICT_CODE,
    name: DISTRICT_NAME,
    streets,
    grids: { type: 'FeatureCollection', features: cells.map((c) => c.feature) },
    sites,
    bins,
  };
}
