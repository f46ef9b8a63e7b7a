/**
 * Response schemas of the routes whose answers only the API documents (the dashboard's shared
 * shapes are in domain/views.ts). Loose objects: they name the fields a client can rely on and pass
 * any other through, so declaring them changed no answer. Binary and text answers (a photo, the
 * Prometheus text) are documented by content type; the serializer only sees JSON objects.
 */
import { z } from 'zod';
import { kpiReportSchema, pageSchema, urgencySchema } from '../domain/index.ts';

/** An object answer whose fields are described in the route's description. */
export const objectAnswer = (description: string) => z.looseObject({}).describe(description);
/** A list page of objects. */
export const pageAnswer = (description: string) => pageSchema(objectAnswer(description));
/** DELETE and sign-out: 204 without a body. */
export const noContent = z.null().describe('No content');
/** A raw body (a photo; the Prometheus text). */
export const rawAnswer = (description: string) => z.string().describe(description);

export const deviceAnswer = z.looseObject({
  id: z.string(),
  name: z.string().nullable(),
  profile: z.string(),
  location: z.object({ lng: z.number(), lat: z.number() }).nullable(),
  gridCode: z.string().nullable(),
  status: z.enum(['online', 'offline']),
});
export const seriesAnswer = z.looseObject({
  points: z.array(z.looseObject({})),
});
/** `GET /api/kpis`: the report, its period as ISO 8601 times. */
export const kpiAnswer = kpiReportSchema.extend({ from: z.string(), to: z.string() });

/** A rule as stored (rules/schema.ts: durations stay strings, so it round-trips unchanged). */
export const ruleAnswer = z.looseObject({
  id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  category: z.string(),
  urgency: urgencySchema,
});
