/**
 * Request shapes shared by the API (web/routes) and the dashboard (web/ui): zod only, no Node
 * imports, so the browser bundle validates a form with the very schema the route applies.
 */
import { z } from 'zod';
import { CASE_ACTIONS } from './workflow.ts';

export const URGENCIES = ['low', 'normal', 'urgent'] as const;
export const urgencySchema = z.enum(URGENCIES);

export const lngLatSchema = z.object({
  lng: z.number().min(-180).max(180),
  lat: z.number().min(-90).max(90),
});

/** `POST /api/cases`: a case reported by a person. `photos` are media ids from `POST /api/media` (or URLs). */
export const newCaseBody = z
  .object({
    category: z.string().regex(/^[0-9]{4}$/, 'a 4-digit category code'),
    description: z.string().trim().min(1, 'a description is required').max(2000),
    location: lngLatSchema.optional(),
    gridCode: z
      .string()
      .regex(/^[0-9]{15}$/, 'a 15-digit grid code')
      .optional(),
    photos: z.array(z.string().max(2048)).max(10, 'at most 10 photos').optional(),
    urgency: urgencySchema.optional(),
  })
  .strict();
export type NewCaseBody = z.infer<typeof newCaseBody>;

export const MEDIA_ID_RE = /^m[0-9a-f]{24}$/;

/** `POST /api/cases/:id/actions`. `photos`: media ids (an inspector's on-site verification photo). */
export const caseActionBody = z
  .object({
    action: z.enum(CASE_ACTIONS),
    note: z.string().max(2000).optional(),
    assignee: z.string().max(64).optional(),
    photos: z.array(z.string().regex(MEDIA_ID_RE, 'a photo id from POST /api/media')).max(10).optional(),
  })
  .strict();
export type CaseActionBody = z.infer<typeof caseActionBody>;

/** Evidence photos (`POST /api/media`): the type is judged by the file's first bytes, not its name. */
export const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];
export const MEDIA_MAX_BYTES_DEFAULT = 5 * 1024 * 1024;

/** The image type of a file from its magic bytes (JPEG FF D8 FF, PNG \x89PNG\r\n\x1a\n, WebP RIFF….WEBP), or null. */
export function sniffImageType(b: Uint8Array): MediaType | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= 8 && png.every((v, i) => b[i] === v)) return 'image/png';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** An id of a user or a responsible unit: letters, digits and . _ @ -, at most 64. */
export const PERSON_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** `PUT /api/units/:id`: a responsible unit, the categories it handles (dispatch suggestions). */
export const unitBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    categories: z
      .array(z.string().regex(/^[0-9]{4}$/, 'a 4-digit category code'))
      .max(500)
      .default([]),
    gridCodes: z
      .array(z.string().regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code'))
      .max(1000)
      .default([]),
  })
  .strict();
export type UnitBody = z.infer<typeof unitBody>;
