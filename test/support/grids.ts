/** A square unit grid of 0.001° (~100 m) with its south-west corner at (x0, y0), as a GeoJSON Feature. */
export const cell = (code: string, x0: number, y0: number, extra: Record<string, unknown> = {}) => ({
  type: 'Feature',
  properties: { code, ...extra },
  geometry: {
    type: 'Polygon',
    coordinates: [
      [
        [x0, y0],
        [x0 + 0.001, y0],
        [x0 + 0.001, y0 + 0.001],
        [x0, y0 + 0.001],
        [x0, y0],
      ],
    ],
  },
});
