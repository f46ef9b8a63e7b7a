/**
 * What the API answers, for the shapes the dashboard reads: the OpenAPI document (`/docs`) is
 * generated from these, the routes' answers are checked against them (the zod serializer), and the
 * dashboard (web/ui/src/data.ts) types its fetches with their `z.infer`. The serializer encodes
 * each answer through its schema: `z.object` strips a field it does not name and a mismatch is a 500,
 * so each view is an exact copy of what its service returns (cases/queries.ts `view` and `get`,
 * registry/people.ts `User` and `Unit`), checked by test/responses.e2e.test.ts, which fails on a
 * field the serializer strips. The rule's evidence and the timeline entries stay open: they are
 * stored JSON that a newer rule or workflow may extend.
 */
import { z } from 'zod';
import { calendarViewSchema } from './calendar.ts';
import { lngLatSchema } from './case-bodies.ts';
import { CASE_SOURCES, caseActionSchema, caseStatusSchema } from './case-words.ts';
import { categorySchema, urgencySchema } from './categories.ts';
import { ACTOR_ROLES, roleSchema } from './roles.ts';

const isoTime = /* @__PURE__ */ z.string().describe('ISO 8601 time');

/** One page of a list: `next` is the cursor of the following page, null at the end. */
export const pageSchema = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next: z.string().nullable() });
export type Page<T> = { items: T[]; next: string | null };

/** What a rule saw when it raised a sensor case (absent on reported cases). */
export const caseEvidenceSchema = /* @__PURE__ */ z.looseObject({
  explanation: z.string().optional(),
  // Stored as JSON: a non-finite observation would come back as null.
  observed: z.record(z.string(), z.number().nullable()).optional(),
  readingTs: z.string().optional(),
  trendWindow: z.looseObject({ from: z.string(), to: z.string() }).optional(),
  snapshot: z.string().optional(),
  /** Camera stills the hub stored for a detection (issue 12). */
  stills: z
    .array(z.looseObject({ mediaId: z.string(), url: z.string(), source: z.string(), takenAt: z.string() }))
    .optional(),
  limits: z
    .array(
      z.looseObject({
        key: z.string(),
        op: z.string(),
        value: z.number(),
        agg: z.string().optional(),
        window: z.string().optional(),
      }),
    )
    .optional(),
});

/** A case in a list (`GET /api/cases`). */
export const caseViewSchema = /* @__PURE__ */ z.object({
  id: z.string(),
  source: z.enum(CASE_SOURCES),
  status: caseStatusSchema,
  category: z.string(),
  gridCode: z.string().nullable(),
  urgency: urgencySchema,
  deviceId: z.string().nullable(),
  ruleId: z.string().nullable(),
  description: z.string().nullable(),
  location: lngLatSchema.nullable(),
  photos: z.array(z.string()),
  openedAt: isoTime,
  deadline: isoTime.nullable(),
  closedAt: isoTime.nullable(),
  assignee: z.string().nullable(),
  escalationLevel: z.string(),
  occurrences: z.number(),
  /** The last reading that matched the rule (sensor cases), or when it was reported. */
  lastSeenAt: isoTime,
  /** When the condition cleared (sensor cases; verification counts from here). */
  clearedAt: isoTime.nullable(),
  overdue: z.boolean(),
  peak: z.looseObject({ key: z.string(), value: z.number(), ts: isoTime.nullable() }).nullable(),
  evidence: caseEvidenceSchema,
});
export type CaseView = z.infer<typeof caseViewSchema>;

/** One step of a case's timeline. */
export const timelineEntryViewSchema = /* @__PURE__ */ z.looseObject({
  action: z.union([caseActionSchema, z.enum(['open', 'occurrence'])]),
  from: caseStatusSchema.nullable(),
  to: caseStatusSchema,
  actor: z.string(),
  role: z.enum(ACTOR_ROLES),
  at: isoTime,
  note: z.string().optional(),
  assignee: z.string().optional(),
  level: z.string().optional(),
});
export type TimelineEntryView = z.infer<typeof timelineEntryViewSchema>;

/** One case with its timeline and what the caller may do with it (`GET /api/cases/:id`). */
export const caseDetailSchema = /* @__PURE__ */ caseViewSchema.extend({
  timeline: z.array(timelineEntryViewSchema),
  allowedActions: z.array(caseActionSchema),
  suggestedUnits: z.array(z.string()),
});
export type CaseDetail = z.infer<typeof caseDetailSchema>;

/** Open cases by status and grid (`GET /api/cases/summary`). */
export const caseSummarySchema = /* @__PURE__ */ z.object({
  at: isoTime,
  open: z.number(),
  overdue: z.number(),
  byStatus: z.record(z.string(), z.number()),
  byGrid: z.record(z.string(), z.object({ open: z.number(), urgent: z.number(), overdue: z.number() })),
  alarmDevices: z.array(z.string()),
});
export type CaseSummary = z.infer<typeof caseSummarySchema>;

/** A user as the API shows it (never a password hash): exactly registry/people.ts `User`. */
export const userViewSchema = /* @__PURE__ */ z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  unitId: z.string().nullable(),
  gridCodes: z.array(z.string()),
});
export type UserView = z.infer<typeof userViewSchema>;

/** The caller (`GET /api/me`): a signed-in user or the static admin token. */
export const meSchema = /* @__PURE__ */ z.object({
  kind: z.enum(['admin', 'user']),
  id: z.string().nullable(),
  name: z.string().nullable(),
  role: roleSchema,
  unitId: z.string().nullable(),
  gridCodes: z.array(z.string()),
  via: z.enum(['admin-token', 'bearer', 'cookie']).optional(),
});

export type MeView = z.infer<typeof meSchema>;

/** `POST /api/auth/login`: the session (also set as the HttpOnly cookie) and its user. */
export const loginAnswerSchema = /* @__PURE__ */ z.object({
  token: z.string(),
  expiresAt: isoTime,
  user: userViewSchema,
});
export type LoginAnswer = z.infer<typeof loginAnswerSchema>;

/** A responsible unit (`GET /api/units`): exactly registry/people.ts `Unit`. */
export const unitViewSchema = /* @__PURE__ */ z.object({
  id: z.string(),
  name: z.string(),
  categories: z.array(z.string()),
  gridCodes: z.array(z.string()),
});
export type UnitView = z.infer<typeof unitViewSchema>;

/**
 * `GET /api/reference`: what every case page names, for every signed-in role: the categories, the
 * units (without their grids), the working calendar, and the optional basemap (GRIDHUB_MAP_TILES;
 * null: the map is the grid polygons alone).
 */
export const referenceViewSchema = /* @__PURE__ */ z.object({
  categories: z.array(categorySchema),
  units: z.array(z.object({ id: z.string(), name: z.string(), categories: z.array(z.string()) })),
  calendar: calendarViewSchema,
  map: z.object({ tiles: z.string().nullable(), attribution: z.string().nullable() }),
});
export type ReferenceView = z.infer<typeof referenceViewSchema>;
