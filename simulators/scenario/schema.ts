/**
 * The shapes of a scenario file in zod, with messages that say what was expected and what was found
 * (`expected a duration like 40m, got "40 min"`).
 */
import { z } from 'zod';
import {
  CAMERA_EVENT_TYPES,
  CASE_ACTIONS,
  CASE_STATUSES,
  ESCALATION_LEVELS,
  KPI_FIELDS,
  KPI_LEVELS,
  PROFILE_NAMES,
  ROLES,
  URGENCIES,
} from '../../domain/index.ts';
import { parseDuration as parseAnyDuration } from '../../kernel/index.ts';
import { describeValue } from '../messages.ts';

// ---- small schemas with readable messages ------------------------------------------------------------

export const describe = (v: unknown) => describeValue(v, 'a map');

/** A value parsed by `parse`; otherwise the issue says "expected WHAT, got …". */
function scalar<T>(what: string, parse: (v: unknown) => T | undefined, hint?: (v: unknown) => string) {
  return z.unknown().transform((v, ctx): T => {
    const r = v === undefined ? undefined : parse(v);
    if (r === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          v === undefined
            ? `required: ${what}`
            : `expected ${what}, got ${describe(v)}${hint ? hint(v) : ''}`,
      });
      return z.NEVER;
    }
    return r;
  });
}

/** Scenario times are whole milliseconds (the kernel's grammar; `1.5s` is 1500). */
export function parseDuration(v: unknown): number | undefined {
  const ms = parseAnyDuration(v);
  return ms === undefined ? undefined : Math.round(ms);
}

/** Greatest common divisor of positive integers. */
export function gcd(a: number, b: number): number {
  let x = Math.abs(Math.round(a));
  let y = Math.abs(Math.round(b));
  while (y) [x, y] = [y, x % y];
  return x;
}

const DURATION = 'a duration like 40m';
export const duration = scalar(DURATION, (v) => {
  const ms = parseDuration(v);
  return ms !== undefined && ms > 0 ? ms : undefined;
});
const atLeast10s = (what: string) =>
  scalar(what, (v) => {
    const ms = parseDuration(v);
    return ms !== undefined && ms >= 10_000 ? ms : undefined;
  });
export const offset = scalar('a time after the start like 2h10m (or 0)', parseDuration);
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const isoTime = scalar('an ISO time with its offset, like 2026-03-03T08:00:00+08:00', (v) =>
  typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)) ? v : undefined,
);
/** An ISO time, or an offset from the start (resolved once the start is known). */
export type TimeSpec = { abs: number } | { rel: number };
const timeSpec = scalar<TimeSpec>('an ISO time with offset or a time after the start like 26h', (v) => {
  if (typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)))
    return { abs: Date.parse(v) };
  const ms = parseDuration(v);
  return ms === undefined ? undefined : { rel: ms };
});
const nullableTimeSpec = scalar<TimeSpec | null>(
  'an ISO time with offset, a time after the start like 26h, or null',
  (v) => {
    if (v === null) return null;
    if (typeof v === 'string' && ISO_WITH_OFFSET.test(v) && !Number.isNaN(Date.parse(v)))
      return { abs: Date.parse(v) };
    const ms = parseDuration(v);
    return ms === undefined ? undefined : { rel: ms };
  },
);

const quoteHint = (v: unknown) =>
  typeof v === 'number' ? ` (write codes in quotes: an unquoted 0101 is read as the number ${v})` : '';
export const category = scalar(
  "a 4-digit category code in quotes, like '0101'",
  (v) => (typeof v === 'string' && /^\d{4}$/.test(v) ? v : undefined),
  quoteHint,
);
const codeOf = (v: unknown, lengths: number[]) => {
  const s = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v;
  return typeof s === 'string' && /^\d+$/.test(s) && lengths.includes(s.length) ? s : undefined;
};
const gridCode = scalar("a 15-digit grid code like '330102001001001'", (v) => codeOf(v, [15]));
const areaCode = scalar('a district, street, community or grid code (6, 9, 12 or 15 digits)', (v) =>
  codeOf(v, [6, 9, 12, 15]),
);
export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,23}$/;
const idString = (what: string) =>
  scalar(`${what} (letters, digits and . _ @ -, at most 24)`, (v) =>
    typeof v === 'string' && ID_RE.test(v) ? v : undefined,
  );
const text = (max = 2000) => z.string().min(1).max(max);
export const location = z
  .object({ lng: z.number().min(-180).max(180), lat: z.number().min(-90).max(90) })
  .strict();
const numbers = z.record(z.string(), z.number());
const count = z.number().int().min(0);

// ---- shapes --------------------------------------------------------------------------------------

export const topSchema = z
  .object({
    name: scalar('a short name in lowercase letters, digits and - (at most 32), like bin-overflow', (v) =>
      typeof v === 'string' && /^[a-z0-9][a-z0-9-]{0,31}$/.test(v) ? v : undefined,
    ),
    description: text(4000),
    start: isoTime,
    seed: z.number().int().default(1),
    grids: z.literal('demo').optional(),
    tick: atLeast10s('a clock step of at least 10s, like 5m').optional(),
    duration,
    units: z.record(z.string(), z.unknown()).default({}),
    users: z.record(z.string(), z.unknown()).default({}),
    devices: z.record(z.string(), z.unknown()).default({}),
    steps: z.array(z.unknown()).default([]),
    expect: z.array(z.unknown()).default([]),
  })
  .strict();

export const unitSchema = z
  .object({
    name: text(200),
    categories: z.array(category).default([]),
    grids: z.array(areaCode).default([]),
  })
  .strict();

export const userSchema = z
  .object({
    name: text(200).optional(),
    role: z.enum(ROLES),
    unit: z.string().optional(),
    grids: z.array(areaCode).default([]),
  })
  .strict();

const placementFields = {
  grid: gridCode.optional(),
  site: z.string().optional(),
  location: location.optional(),
};

export const deviceSchema = z
  .object({
    name: text(200).optional(),
    profile: z.enum(PROFILE_NAMES).optional(),
    ...placementFields,
    gateway: z.boolean().default(false),
    via: z.string().optional(),
    every: atLeast10s('a reporting interval of at least 10s, like 5m').optional(),
    baseline: numbers.default({}),
    model: z.boolean().default(false),
    jitter: numbers.default({}),
    attributes: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
  })
  .strict();

/** A case reference; its shape is checked by the validator (to name the exact problem). */
export const caseRef = z.unknown();
export const CASE_REF_HELP =
  'a case: "device/rule" (e.g. bin-1/bin-full), a report label, {device, rule}, {category, grid} or {report}';
export const caseRefSchemas = {
  sensor: z.object({ device: z.string(), rule: z.string() }).strict(),
  area: z.object({ category, grid: areaCode }).strict(),
  report: z.object({ report: z.string() }).strict(),
};

const valuesFields = { key: z.string().optional(), value: z.number().optional(), values: numbers.optional() };

export const STEP_KINDS = [
  'ramp',
  'episode',
  'set',
  'silence',
  'resume',
  'event',
  'action',
  'report',
  'check',
] as const;
export type StepKindName = (typeof STEP_KINDS)[number];

const PERSON_ACTIONS = CASE_ACTIONS.filter((a) => a !== 'relapse') as [string, ...string[]];

export const stepSchemas: Record<StepKindName, z.ZodType> = {
  ramp: z.object({ at: offset, ramp: z.string(), key: z.string(), to: z.number(), over: duration }).strict(),
  episode: z.object({ at: offset, episode: z.string(), ...valuesFields, for: duration }).strict(),
  set: z.object({ at: offset, set: z.string(), ...valuesFields }).strict(),
  silence: z.object({ at: offset, silence: z.string(), for: duration.optional() }).strict(),
  resume: z.object({ at: offset, resume: z.string() }).strict(),
  event: z
    .object({
      at: offset,
      event: z.string(),
      type: z.enum(CAMERA_EVENT_TYPES),
      confidence: z.number().min(0).max(1).default(0.9),
      snapshot: z.string().max(2048).optional(),
    })
    .strict(),
  action: z
    .object({
      at: offset,
      action: z.enum(PERSON_ACTIONS),
      case: caseRef,
      by: z.string(),
      assignee: z.string().optional(),
      note: z.string().max(2000).optional(),
      refused: z.union([z.literal(400), z.literal(403), z.literal(404), z.literal(409)]).optional(),
    })
    .strict(),
  report: z
    .object({
      at: offset,
      report: idString('a label for the reported case'),
      by: z.string(),
      category,
      ...placementFields,
      description: text(),
      urgency: z.enum(URGENCIES).optional(),
      photos: z.array(z.string().max(2048)).max(10).default([]),
    })
    .strict(),
  check: z.object({ at: offset, check: z.array(z.unknown()).min(1) }).strict(),
};

const caseChecksFields = {
  count: count.optional(),
  status: z.enum(CASE_STATUSES).optional(),
  category: category.optional(),
  grid: gridCode.optional(),
  urgency: z.enum(URGENCIES).optional(),
  occurrences: count.optional(),
  escalationLevel: z.enum(ESCALATION_LEVELS).optional(),
  assignee: z.string().nullable().optional(),
  overdue: z.boolean().optional(),
  verifiedBy: z.string().optional(),
  relapsed: z.boolean().optional(),
  reworks: count.optional(),
  escalatedTo: z.array(z.enum(ESCALATION_LEVELS)).optional(),
  timeline: z.array(z.enum([...CASE_ACTIONS, 'open'] as [string, ...string[]])).optional(),
  openedAt: timeSpec.optional(),
  deadline: nullableTimeSpec.optional(),
  closedAt: nullableTimeSpec.optional(),
  explanation: z.string().optional(),
};

const kpiNumber = z.number().nullable().optional();
export const expectSchemas = {
  case: z.object({ case: caseRef, ...caseChecksFields }).strict(),
  noCase: z.object({ noCase: caseRef }).strict(),
  kpi: z
    .object({
      kpi: z
        .object({
          level: z.enum(KPI_LEVELS),
          key: z.union([z.string(), z.number()]).optional(),
          from: timeSpec,
          to: timeSpec,
        })
        .strict(),
      ...Object.fromEntries(KPI_FIELDS.map((f) => [f, kpiNumber])),
    })
    .strict(),
};
export const EXPECT_KINDS = Object.keys(expectSchemas) as (keyof typeof expectSchemas)[];

export type Top = z.infer<typeof topSchema>;
