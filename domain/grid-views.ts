/**
 * What the API answers about grids: the tree of areas, the grids' polygons as one GeoJSON
 * FeatureCollection (RFC 7946), and one area. Exact copies of what web/routes/grids.ts builds from
 * the registry, so the serializer strips nothing; the dashboard types its map and area pages with
 * their `z.infer`.
 */
import { z } from 'zod';
import type { GridLevel } from './grid-code.ts';

const LEVELS = ['district', 'street', 'community', 'grid'] as const satisfies readonly GridLevel[];
const levelSchema = /* @__PURE__ */ z.enum(LEVELS);

/** A node of the grid tree (district → street → community → grid; registry `gridTree`). */
export interface GridNode {
  code: string;
  level: GridLevel;
  name: string | null;
  children: GridNode[];
}
export const gridNodeSchema: z.ZodType<GridNode> = /* @__PURE__ */ z
  .object({
    code: z.string(),
    level: levelSchema,
    name: z.string().nullable(),
    get children() {
      return z.array(gridNodeSchema);
    },
    // Named, so the OpenAPI document can refer to the recursive node (see domain/rule-grammar.ts).
  })
  .meta({ id: 'GridNode' });

/**
 * A grid's polygon as stored (checked on import: registry/geo.ts `ringProblem`). RFC 7946 §3.1.1: a
 * position is an array of two or more numbers (longitude, latitude, then an optional altitude).
 */
const positionSchema = /* @__PURE__ */ z.array(z.number()).min(2);
const ringSchema = /* @__PURE__ */ z.array(positionSchema);
/**
 * A Polygon or MultiPolygon geometry: its type and coordinates, which is what the registry keeps of
 * an imported geometry (foreign members, RFC 7946 §6.1, mean nothing to a grid).
 */
export const areaGeometrySchema = /* @__PURE__ */ z.union([
  z.object({ type: z.literal('Polygon'), coordinates: z.array(ringSchema) }),
  z.object({ type: z.literal('MultiPolygon'), coordinates: z.array(z.array(ringSchema)) }),
]);
export type AreaGeometry = z.infer<typeof areaGeometrySchema>;

/** `GET /api/grids/features`: every grid the caller may see, as one FeatureCollection. */
export const gridFeaturesSchema = /* @__PURE__ */ z.object({
  type: z.literal('FeatureCollection'),
  features: z.array(
    z.object({
      type: z.literal('Feature'),
      /** `name` is the grid's code when it has no name. */
      properties: z.object({ code: z.string(), name: z.string() }),
      geometry: areaGeometrySchema,
    }),
  ),
});
export type GridFeatures = z.infer<typeof gridFeaturesSchema>;

/**
 * `GET /api/grids/:code`: a unit grid (its polygon and the devices in it the caller may see), or an
 * area above grids (the grids in it the caller may see).
 */
export const gridDetailSchema = /* @__PURE__ */ z.union([
  z.object({
    code: z.string(),
    level: z.literal('grid'),
    name: z.string().nullable(),
    geometry: areaGeometrySchema,
    devices: z.array(z.string()).describe('ids of the devices in the grid'),
  }),
  z.object({
    code: z.string(),
    level: z.enum(['district', 'street', 'community']),
    name: z.string().nullable(),
    grids: z.array(z.string()).describe('codes of the unit grids in the area'),
  }),
]);
export type GridDetail = z.infer<typeof gridDetailSchema>;
