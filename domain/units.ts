/**
 * Responsible units (contract.md: `/api/units`, with the categories they handle, for dispatch
 * suggestions): the body of `PUT /api/units/:id`, shared by the route and the dashboard's unit
 * form, and the id form users and units share.
 */
import { z } from 'zod';
import { categoryCodeSchema } from './categories.ts';

/** An id of a user or a responsible unit: letters, digits and . _ @ -, at most 64. */
export const PERSON_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export const unitBody = /* @__PURE__ */ z
  .object({
    name: z.string().trim().min(1).max(200),
    categories: z.array(categoryCodeSchema).max(500).default([]),
    gridCodes: z
      .array(z.string().regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code'))
      .max(1000)
      .default([]),
  })
  .strict();
export type UnitBody = z.infer<typeof unitBody>;
