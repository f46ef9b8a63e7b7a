import { z } from 'zod';
import { gridCodeSchema, lngLatSchema, PROFILE_NAMES } from '../domain/index.ts';
import { badRequest, parseDuration, parseTime } from '../kernel/index.ts';

/** ISO 8601 or epoch milliseconds in; epoch milliseconds out. */
export const timeParam = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const t = parseTime(v);
  if (t === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected ISO 8601 or epoch milliseconds, got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return t;
});

export const BUCKETS = ['30s', '1m', '5m', '15m', '30m', '1h', '6h', '12h', '1d', '1w'] as const;
export const bucketParam = z.enum(BUCKETS).transform((b) => parseDuration(b)!);
export const aggParam = z.enum(['avg', 'min', 'max', 'sum', 'count', 'last']);

export const limitParam = (max: number, dflt: number) =>
  z.coerce.number().int().min(1).max(max).default(dflt);

export const location = lngLatSchema;

export const deviceId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, 'letters, digits and . _ : @ - (starting with a letter or digit)');

export const newDeviceBody = z
  .object({
    id: deviceId,
    name: z.string().min(1).max(200).optional(),
    profile: z.enum(PROFILE_NAMES),
    location: location.optional(),
    gridCode: gridCodeSchema.optional(),
    gateway: z.boolean().optional(),
    parentId: z.string().optional(),
  })
  .strict();

export const patchDeviceBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    location: location.nullable().optional(),
    gridCode: gridCodeSchema.nullable().optional(),
  })
  .strict();

export const MAX_SERIES_POINTS = 10_000;

export const seriesQuery = z.object({
  key: z.string().min(1).max(128),
  from: timeParam.optional(),
  to: timeParam.optional(),
  bucket: bucketParam.optional(),
  agg: aggParam.default('avg'),
  // Points per answer (issue 7, finding 5).
  limit: limitParam(MAX_SERIES_POINTS, MAX_SERIES_POINTS),
});

const DAY = 86_400_000;
/** Series ranges (issue 7, finding 5): raw points over at most 31 days, buckets over 400. */
export const MAX_RAW_RANGE_MS = 31 * DAY;
export const MAX_BUCKETED_RANGE_MS = 400 * DAY;

/** The [from, to) of a series request, defaults filled in and its length checked. */
export function seriesWindow(
  from: number | undefined,
  to: number | undefined,
  now: number,
  bucketMs?: number,
) {
  // Without `to`, everything accepted so far: readings may be up to a day ahead of hub time.
  const end = to ?? now + DAY;
  const start = from ?? (to ?? now) - DAY;
  if (start >= end)
    throw badRequest(
      `from (${new Date(start).toISOString()}) must be before to (${new Date(end).toISOString()})`,
    );
  const max = bucketMs === undefined ? MAX_RAW_RANGE_MS : MAX_BUCKETED_RANGE_MS;
  if (end - start > max)
    throw badRequest(
      `querystring.from: the range is at most ${max / DAY} days${bucketMs === undefined ? ' for raw points (ask for a bucket for longer ranges)' : ''}`,
    );
  return { from: start, to: end };
}
