/**
 * Request shapes shared by the API (web/routes) and the dashboard (web/ui): zod only, no Node
 * imports, so the browser bundle validates a form with the very schema the route applies.
 */
import { z } from 'zod';
import { CASE_ACTIONS } from './case-words.ts';
import { categoryCodeSchema, urgencySchema } from './categories.ts';
import { gridCodeSchema } from './grid-code.ts';
import { mediaIdSchema } from './media.ts';

export const lngLatSchema = /* @__PURE__ */ z.object({
  lng: z.number().min(-180).max(180),
  lat: z.number().min(-90).max(90),
});
export type LngLat = z.infer<typeof lngLatSchema>;

/** `POST /api/cases`: a case reported by a person. `photos` are media ids from `POST /api/media` (or URLs). */
export const newCaseBody = /* @__PURE__ */ z
  .object({
    category: categoryCodeSchema,
    description: z.string().trim().min(1, 'a description is required').max(2000),
    location: lngLatSchema.optional(),
    gridCode: gridCodeSchema.optional(),
    photos: z.array(z.string().max(2048)).max(10, 'at most 10 photos').optional(),
    urgency: urgencySchema.optional(),
  })
  .strict();
export type NewCaseBody = z.infer<typeof newCaseBody>;

/** `POST /api/cases/:id/actions`. `photos`: media ids (an inspector's on-site verification photo). */
export const caseActionBody = /* @__PURE__ */ z
  .object({
    action: z.enum(CASE_ACTIONS),
    note: z.string().max(2000).optional(),
    assignee: z.string().max(64).optional(),
    photos: z.array(mediaIdSchema).max(10).optional(),
  })
  .strict();
export type CaseActionBody = z.infer<typeof caseActionBody>;
