/**
 * The city's unit grids (单元网格, GB/T 30428.1) and the names of the areas above them, from
 * GeoJSON. The database is the record; the grids are also held in memory because ingest places
 * devices and the API locates reports on every call. Writes go to the database first.
 */
import { ancestorCode, type GridLevel, hierarchy, isGridCode, LEVEL_LENGTH } from '../domain/index.ts';
import type { Logger } from '../kernel/index.ts';
import { badRequest } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { type AreaGeometry, type BBox, bbox, covers, inBBox, ringProblem } from './geo.ts';

export interface Grid {
  code: string;
  name: string | null;
  geometry: AreaGeometry;
  bbox: BBox;
}

export interface GeoFeatureInput {
  type?: string;
  properties?: Record<string, unknown> | null;
  geometry?: { type?: string; coordinates?: unknown } | null;
}

export function createGrids(deps: { db: Db; logger: Logger }) {
  const { db } = deps;
  const grids = new Map<string, Grid>();
  const areaNames = new Map<string, string>();

  /** The unit grid covering a point; on a shared border the lower code wins (contract). */
  function locate(lng: number, lat: number): string | null {
    let best: string | null = null;
    for (const g of grids.values()) {
      if (!inBBox(g.bbox, [lng, lat])) continue;
      if ((best === null || g.code < best) && covers(g.geometry, [lng, lat])) best = g.code;
    }
    return best;
  }

  async function load() {
    grids.clear();
    areaNames.clear();
    for (const r of await db.query<{ code: string; name: string | null; geometry: AreaGeometry }>(
      'SELECT code, name, geometry FROM grids',
    )) {
      grids.set(r.code, { code: r.code, name: r.name, geometry: r.geometry, bbox: bbox(r.geometry) });
    }
    for (const r of await db.query<{ code: string; name: string }>('SELECT code, name FROM grid_areas')) {
      areaNames.set(r.code, r.name);
    }
  }

  function validateFeatures(features: GeoFeatureInput[]) {
    const out: { code: string; name: string | null; geometry: AreaGeometry; names: [string, string][] }[] =
      [];
    features.forEach((f, i) => {
      const where = `features[${i}]`;
      const p = f?.properties ?? {};
      const code = p.code;
      if (!isGridCode(code)) {
        throw badRequest(
          `${where}.properties.code: a 15-digit grid code is required, got ${JSON.stringify(code ?? null)}`,
        );
      }
      const g = f.geometry;
      if (!g || (g.type !== 'Polygon' && g.type !== 'MultiPolygon') || !Array.isArray(g.coordinates)) {
        throw badRequest(`${where} (${code}).geometry: must be a GeoJSON Polygon or MultiPolygon`);
      }
      const polys = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as unknown[];
      for (const rings of polys) {
        if (!Array.isArray(rings) || rings.length === 0)
          throw badRequest(`${where} (${code}).geometry: a polygon needs an outer ring`);
        for (const ring of rings) {
          const problem = ringProblem(ring);
          if (problem) throw badRequest(`${where} (${code}).geometry: ${problem}`);
        }
      }
      const names: [string, string][] = [];
      const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
      const district = str(p.districtName);
      const street = str(p.streetName);
      const community = str(p.communityName);
      if (district) names.push([ancestorCode(code, 'district'), district]);
      if (street) names.push([ancestorCode(code, 'street'), street]);
      if (community) names.push([ancestorCode(code, 'community'), community]);
      // Only the type and coordinates are kept: the API answers exactly these (domain/grid-views.ts).
      const geometry = { type: g.type, coordinates: g.coordinates } as AreaGeometry;
      out.push({ code, name: str(p.name) ?? null, geometry, names });
    });
    return out;
  }

  /** Upserts grids by code (all or none). Placing the devices again is the registry's next step. */
  async function upsert(collection: { type?: string; features?: GeoFeatureInput[] }) {
    if (collection?.type !== 'FeatureCollection' || !Array.isArray(collection.features)) {
      throw badRequest('body: a GeoJSON FeatureCollection with a features array is required');
    }
    const valid = validateFeatures(collection.features);
    await db.transaction(async (tx) => {
      for (const v of valid) {
        await tx.query(
          `INSERT INTO grids (code, name, geometry, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, geometry = excluded.geometry, updated_at = now()`,
          [v.code, v.name, JSON.stringify(v.geometry)],
        );
        for (const [code, name] of v.names) {
          await tx.query(
            'INSERT INTO grid_areas (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = excluded.name',
            [code, name],
          );
        }
      }
    });
    for (const v of valid) {
      grids.set(v.code, { code: v.code, name: v.name, geometry: v.geometry, bbox: bbox(v.geometry) });
      for (const [code, name] of v.names) areaNames.set(code, name);
    }
    return { upserted: valid.length };
  }

  function areaName(code: string): string | null {
    return code.length === LEVEL_LENGTH.grid
      ? (grids.get(code)?.name ?? null)
      : (areaNames.get(code) ?? null);
  }

  /** District → street → community → grid, derived from the codes. */
  function tree() {
    type Node = { code: string; level: GridLevel; name: string | null; children: Node[] };
    const roots = new Map<string, Node>();
    const index = new Map<string, Node>();
    const node = (code: string, level: GridLevel) => {
      let n = index.get(code);
      if (!n) {
        n = { code, level, name: areaName(code), children: [] };
        index.set(code, n);
      }
      return n;
    };
    for (const code of [...grids.keys()].sort()) {
      const h = hierarchy(code);
      const d = node(h.district, 'district');
      roots.set(h.district, d);
      const s = node(h.street, 'street');
      if (!d.children.includes(s)) d.children.push(s);
      const c = node(h.community, 'community');
      if (!s.children.includes(c)) s.children.push(c);
      c.children.push(node(code, 'grid'));
    }
    return [...roots.values()];
  }

  return {
    load,
    upsert,
    get: (code: string) => grids.get(code),
    has: (code: string) => grids.has(code),
    list: () => [...grids.values()].sort((a, b) => (a.code < b.code ? -1 : 1)),
    tree,
    locate,
    areaName,
    count: () => grids.size,
  };
}
export type Grids = ReturnType<typeof createGrids>;
