import { z } from 'zod';
import { parseDuration, parseTime } from '../kernel/index.ts';
import { PROFILE_NAMES } from '../registry/index.ts';

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

export const location = z.object({
  lng: z.number().min(-180).max(180),
  lat: z.number().min(-90).max(90),
});

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
    gridCode: z
      .string()
      .regex(/^[0-9]{15}$/, 'a 15-digit grid code')
      .optional(),
    gateway: z.boolean().optional(),
    parentId: z.string().optional(),
  })
  .strict();

export const patchDeviceBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    location: location.nullable().optional(),
    gridCode: z
      .string()
      .regex(/^[0-9]{15}$/, 'a 15-digit grid code')
      .nullable()
      .optional(),
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

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next: z.string().nullable() });
