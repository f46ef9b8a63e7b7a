/**
 * An optional raster basemap under the grid polygons (GRIDHUB_MAP_TILES, an XYZ tile URL): the
 * geo component is switched to the Web Mercator projection the tiles are drawn in, and the tiles
 * covering the area are drawn by an ECharts custom series beneath the polygons (no second map
 * library: the polygons, colours and markers stay ECharts'). The tile zoom fits the area to the
 * chart's width; zooming in on the map enlarges those tiles. Without a URL nothing here runs and
 * no request leaves the hub.
 */
import type { GridFeatures } from '../data.ts';

const R = Math.PI / 180;
/** Web Mercator, y growing southwards as on screen (ECharts fits the result to the view). */
export const mercator = {
  project: ([lng, lat]: number[]) => [
    lng! / 360,
    -Math.log(Math.tan(Math.PI / 4 + (lat! * R) / 2)) / (2 * Math.PI),
  ],
  unproject: ([x, y]: number[]) => [x! * 360, (2 * Math.atan(Math.exp(-y! * 2 * Math.PI)) - Math.PI / 2) / R],
};

const tileX = (lng: number, z: number) => Math.floor(((lng + 180) / 360) * 2 ** z);
const tileY = (lat: number, z: number) =>
  Math.floor(((1 - Math.log(Math.tan(lat * R) + 1 / Math.cos(lat * R)) / Math.PI) / 2) * 2 ** z);
const tileLng = (x: number, z: number) => (x / 2 ** z) * 360 - 180;
const tileLat = (y: number, z: number) => Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / 2 ** z)))! / R;

const MAX_TILES = 64;

/** The tiles [z, x, y] covering the area's polygons (one tile of margin), at most MAX_TILES. */
export function tilesFor(fc: GridFeatures, area: string, widthPx: number): [number, number, number][] {
  let w = 180;
  let e = -180;
  let s = 90;
  let n = -90;
  for (const f of fc.features) {
    if (!f.properties.code.startsWith(area)) continue;
    const walk = (c: unknown): void => {
      if (!Array.isArray(c)) return;
      if (typeof c[0] === 'number' && typeof c[1] === 'number') {
        w = Math.min(w, c[0]);
        e = Math.max(e, c[0]);
        s = Math.min(s, c[1]);
        n = Math.max(n, c[1]);
      } else for (const x of c) walk(x);
    };
    walk(f.geometry.coordinates);
  }
  if (w > e || s > n) return [];
  // The map is wider than tall (about 2:1): widen a tall area (or heighten a flat one) so the
  // tiles fill the view around it, not only the area's own box.
  const ky = 1 / Math.cos(((s + n) / 2) * R);
  const wide = (e - w) / ky;
  const tall = n - s;
  if (wide < 2 * tall) {
    const pad = ((2 * tall - wide) * ky) / 2;
    w -= pad;
    e += pad;
  } else if (tall < wide / 2) {
    const pad = (wide / 2 - tall) / 2;
    s -= pad;
    n += pad;
  }
  const frac = Math.max((e - w) / 360, 1e-6);
  let z = Math.max(1, Math.min(18, Math.round(Math.log2(Math.max(widthPx, 256) / (256 * frac)))));
  for (; z >= 1; z--) {
    const x0 = tileX(w, z) - 1;
    const x1 = tileX(e, z) + 1;
    const y0 = tileY(n, z) - 1;
    const y1 = tileY(s, z) + 1;
    if ((x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES) continue;
    const out: [number, number, number][] = [];
    const max = 2 ** z - 1;
    for (let x = Math.max(0, x0); x <= Math.min(max, x1); x++)
      for (let y = Math.max(0, y0); y <= Math.min(max, y1); y++) out.push([z, x, y]);
    return out;
  }
  return [];
}

export const tileUrl = (template: string, [z, x, y]: [number, number, number]) =>
  template
    .replaceAll('{z}', String(z))
    .replaceAll('{x}', String(x))
    .replaceAll('{y}', String(y))
    .replaceAll('{s}', 'abc'[(x + y) % 3]!);

/** The custom series drawing the tiles beneath the polygons (coordinate system: the geo). */
export function tileSeries(template: string, tiles: [number, number, number][]) {
  return {
    type: 'custom',
    coordinateSystem: 'geo',
    geoIndex: 0,
    silent: true,
    z: -10,
    tooltip: { show: false },
    data: tiles,
    renderItem: (
      _p: unknown,
      api: { value(i: number): number; coord(v: [number, number]): [number, number] },
    ) => {
      const t: [number, number, number] = [api.value(0), api.value(1), api.value(2)];
      const nw = api.coord([tileLng(t[1], t[0]), tileLat(t[2], t[0])]);
      const se = api.coord([tileLng(t[1] + 1, t[0]), tileLat(t[2] + 1, t[0])]);
      return {
        type: 'image',
        // Half a pixel of overlap hides the seams between neighbouring tiles.
        style: {
          image: tileUrl(template, t),
          x: nw[0] - 0.5,
          y: nw[1] - 0.5,
          width: se[0] - nw[0] + 1,
          height: se[1] - nw[1] + 1,
        },
      };
    },
  };
}
