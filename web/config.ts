import { z } from 'zod';

/**
 * The dashboard (issue 11). `mapTiles`: an optional raster basemap under the grid polygons, an XYZ
 * tile URL with {z}, {x} and {y} (http(s)://… or a same-origin /path); unset, the map is the
 * polygons alone and the dashboard asks no other host for anything. Its origin is added to the
 * CSP's img-src only when set (web/server.ts).
 */
export const dashboardConfigSchema = z
  .object({
    mapTiles: z
      .string()
      .max(2048)
      .refine(
        (u) => ['{z}', '{x}', '{y}'].every((p) => u.includes(p)),
        'must contain {z}, {x} and {y} (an XYZ tile URL)',
      )
      .refine((u) => {
        if (u.startsWith('/') && !u.startsWith('//')) return true;
        try {
          const url = new URL(u.replace(/[{}]/g, ''));
          return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
        } catch {
          return false;
        }
      }, 'must be an http(s) URL without credentials, or a path on the hub')
      .optional(),
    /** The tile provider's attribution, shown under the map. */
    mapAttribution: z.string().max(300).optional(),
  })
  .prefault({});
export type DashboardConfig = z.infer<typeof dashboardConfigSchema>;
