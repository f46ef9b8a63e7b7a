/**
 * Zod field types the configuration is made of. Each part declares its own section of the
 * configuration (gateway/config.ts, ingest/config.ts, video/config.ts) from these; hub/config.ts
 * composes the sections and maps environment variables onto them.
 */
import { z } from 'zod';
import { parseDuration } from './duration.ts';

export const port = z.coerce.number().int().min(0).max(65535);
export const positiveInt = z.coerce.number().int().positive();

/** A duration: `10m`, `90s`, `2h`, `7d`, or milliseconds as a number; becomes milliseconds. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : parseDuration(v);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 10m, 2h, 30d' });
    return z.NEVER;
  }
  return ms;
});

/** A boolean that environment variables can set as `true`/`false`/`1`/`0`. */
export const flag = z.preprocess(
  (v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v),
  z.boolean(),
);
