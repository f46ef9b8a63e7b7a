/**
 * Rules are data: a zod-validated, JSON-serialisable description of "when is this device's state a
 * problem". Durations stay strings ('15m') in the parsed rule so a rule round-trips through JSON and
 * the API unchanged; the evaluator turns them into milliseconds. The grammar lives in domain/ (issue
 * 10): the rules engine validates with it, the API takes it as the rule body (OpenAPI documents it)
 * and the dashboard types its rule editor with it; only zod and the portable kernel are imported.
 *
 * Why one file: this is the rule language's grammar — every condition kind's schema in one
 * discriminated union, readable top to bottom as the reference of what a rule may say.
 */

import { z } from 'zod';
import { parseDuration } from '../kernel/portable.ts';
import { URGENCIES } from './categories.ts';
import {
  CAMERA_EVENT_TYPES,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  type ProfileSpec,
} from './profiles.ts';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A type-level error message; a missing field says so first. */
const expected = (message: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? `required: ${message}` : message;

const DURATION_HINT =
  "expected a duration such as '30s', '15m', '2h' or '1d' (a positive number followed by ms, s, m, h, d or w)";

/** A positive duration string: '30s', '15m', '2h', '1d' (parsed with kernel `parseDuration`). */
export const durationSchema = /* @__PURE__ */ z
  .string({ error: expected(DURATION_HINT) })
  .refine((s) => (parseDuration(s) ?? 0) > 0, { error: (iss) => `${DURATION_HINT}, got '${iss.input}'` });

/** Milliseconds of a duration that has passed `durationSchema`; throws on anything else. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || !(ms > 0)) throw new Error(`invalid duration '${text}': ${DURATION_HINT}`);
  return ms;
}

const finite = (what: string) => z.number({ error: expected(`${what} must be a number`) }).finite();

/** A threshold: a number, or a device attribute (server/shared) with an optional default and offset. */
export const valueRef = /* @__PURE__ */ z.union(
  [
    finite('a threshold'),
    z
      .object({
        attribute: z.string().min(1, { error: 'the attribute name must not be empty' }),
        default: finite('default').optional(),
        offset: finite('offset').optional(),
      })
      .strict(),
  ],
  { error: expected('expected a number or { attribute, default?, offset? }') },
);
export type ValueRef = z.infer<typeof valueRef>;

export const COMPARISONS = ['>=', '>', '<=', '<'] as const;
export type Comparison = (typeof COMPARISONS)[number];
const comparison = /* @__PURE__ */ z.enum(COMPARISONS, {
  error: expected("expected one of '>=', '>', '<=', '<'"),
});

const keySchema = /* @__PURE__ */ z
  .string({ error: expected('expected a telemetry key (string)') })
  .min(1, { error: 'the key must not be empty' })
  .max(128);

const HHMM = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const clock = (which: string) =>
  z.string().refine((s) => HHMM.test(s) || (which === 'to' && s === '24:00'), {
    error: `expected a local time 'HH:MM' (00:00–23:59${which === 'to' ? ' or 24:00' : ''})`,
  });

export type CameraEventType = (typeof CAMERA_EVENT_TYPES)[number];

// ---------------------------------------------------------------------------------------------
// Condition types (written out: zod cannot infer a recursive type on its own)

export interface ThresholdCondition {
  kind: 'threshold';
  key: string;
  op: Comparison;
  value: ValueRef;
  clear?: ValueRef;
}
export interface WindowCondition {
  kind: 'window';
  key: string;
  agg: 'avg' | 'max' | 'min';
  window: string;
  op: Comparison;
  value: ValueRef;
  clear?: ValueRef;
}
export interface RateCondition {
  kind: 'rate';
  key: string;
  perMinute: number;
  direction: 'rise' | 'fall' | 'either';
  minSpan?: string;
}
export interface ReferenceCondition {
  kind: 'reference';
  key: string;
  referenceDevice: string;
  referenceKey?: string;
  op: Comparison;
  value: ValueRef;
  clear?: ValueRef;
}
export interface AbsenceCondition {
  kind: 'absence';
  expectedEvery: string;
  intervals: number;
}
export interface EventCondition {
  kind: 'event';
  type: CameraEventType;
  minConfidence: number;
  clearAfter: string;
}
export interface EventConditionInput extends Omit<EventCondition, 'clearAfter'> {
  clearAfter?: string;
}
export interface ScheduleCondition {
  kind: 'schedule';
  from: string;
  to: string;
  days?: number[];
}
export interface SustainedOf<C> {
  kind: 'sustained';
  condition: C;
  for: string;
}
export interface DailyCountOf<C> {
  kind: 'dailyCount';
  condition: C;
  moreThan: number;
}
export interface AllOf<C> {
  kind: 'all';
  conditions: C[];
}
export interface AnyOf<C> {
  kind: 'any';
  conditions: C[];
}
export interface NotOf<C> {
  kind: 'not';
  condition: C;
}

type Leaf =
  | ThresholdCondition
  | WindowCondition
  | RateCondition
  | ReferenceCondition
  | AbsenceCondition
  | ScheduleCondition;

export type Condition =
  | Leaf
  | EventCondition
  | SustainedOf<Condition>
  | DailyCountOf<Condition>
  | AllOf<Condition>
  | AnyOf<Condition>
  | NotOf<Condition>;
/** What a rule author writes (defaults not yet filled in). */
export type ConditionInput =
  | Leaf
  | EventConditionInput
  | SustainedOf<ConditionInput>
  | DailyCountOf<ConditionInput>
  | AllOf<ConditionInput>
  | AnyOf<ConditionInput>
  | NotOf<ConditionInput>;

export type ConditionKind = Condition['kind'];
export const CONDITION_KINDS = [
  'threshold',
  'sustained',
  'window',
  'dailyCount',
  'rate',
  'reference',
  'absence',
  'event',
  'schedule',
  'all',
  'any',
  'not',
] as const satisfies readonly ConditionKind[];

// ---------------------------------------------------------------------------------------------
// Condition schemas

/** With two plain numbers the clear level must lie on the "all clear" side of the open level. */
function checkHysteresis(
  c: { op: Comparison; value: ValueRef; clear?: ValueRef | undefined },
  ctx: z.RefinementCtx,
) {
  if (typeof c.value !== 'number' || typeof c.clear !== 'number') return;
  const above = c.op === '>=' || c.op === '>';
  if (above ? c.clear > c.value : c.clear < c.value) {
    ctx.addIssue({
      code: 'custom',
      path: ['clear'],
      message: `with op '${c.op}' the clear level must be ${above ? '≤' : '≥'} the value ${c.value}, got ${c.clear}`,
    });
  }
}

const thresholdSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('threshold'),
    key: keySchema,
    op: comparison,
    value: valueRef,
    clear: valueRef.optional(),
  })
  .strict()
  .superRefine(checkHysteresis);

const windowSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('window'),
    key: keySchema,
    agg: z.enum(['avg', 'max', 'min'], { error: "expected one of 'avg', 'max', 'min'" }),
    window: durationSchema,
    op: comparison,
    value: valueRef,
    clear: valueRef.optional(),
  })
  .strict()
  .superRefine(checkHysteresis);

const rateSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('rate'),
    key: keySchema,
    perMinute: finite('perMinute').positive({ error: 'perMinute must be a positive change per minute' }),
    direction: z.enum(['rise', 'fall', 'either'], { error: "expected one of 'rise', 'fall', 'either'" }),
    /** The change is measured against a reading at least this much older (default 1s): over a
     * minute, sensor noise between readings seconds apart is not mistaken for a rise. */
    minSpan: durationSchema.optional(),
  })
  .strict();

const referenceSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('reference'),
    key: keySchema,
    referenceDevice: z.string().min(1, { error: 'the reference device id must not be empty' }),
    referenceKey: keySchema.optional(),
    op: comparison,
    value: valueRef,
    clear: valueRef.optional(),
  })
  .strict()
  .superRefine(checkHysteresis);

const absenceSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('absence'),
    expectedEvery: durationSchema,
    intervals: z.number().int({ error: 'intervals must be a whole number ≥ 1' }).min(1),
  })
  .strict();

const eventSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('event'),
    type: z.enum(CAMERA_EVENT_TYPES, { error: `expected one of ${CAMERA_EVENT_TYPES.join(', ')}` }),
    minConfidence: finite('minConfidence')
      .min(0, { error: 'minConfidence must be between 0 and 1' })
      .max(1, { error: 'minConfidence must be between 0 and 1' }),
    clearAfter: durationSchema.default('30m'),
  })
  .strict();

const DAY_HINT = 'expected a day of the week: 1 (Monday) … 7 (Sunday)';
const scheduleSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('schedule'),
    from: clock('from'),
    to: clock('to'),
    days: z
      .array(
        z
          .number({ error: DAY_HINT })
          .int({ error: DAY_HINT })
          .min(1, { error: DAY_HINT })
          .max(7, { error: DAY_HINT }),
      )
      .min(1, { error: 'days must list at least one day (1 = Monday … 7 = Sunday), or be left out' })
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.from === s.to)
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: "from and to must differ (for a whole day use '00:00'–'24:00')",
      });
  });

const sustainedSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('sustained'),
    get condition() {
      return conditionSchema;
    },
    for: durationSchema,
  })
  .strict();

const dailyCountSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('dailyCount'),
    get condition() {
      return conditionSchema;
    },
    moreThan: z.number().int({ error: 'moreThan must be a whole number ≥ 0' }).min(0),
  })
  .strict();

const allSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('all'),
    get conditions() {
      return z.array(conditionSchema).min(1, { error: 'needs at least one condition' });
    },
  })
  .strict();

const anySchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('any'),
    get conditions() {
      return z.array(conditionSchema).min(1, { error: 'needs at least one condition' });
    },
  })
  .strict();

const notSchema = /* @__PURE__ */ z
  .object({
    kind: z.literal('not'),
    get condition() {
      return conditionSchema;
    },
  })
  .strict();

export const conditionSchema: z.ZodType<Condition, ConditionInput> = /* @__PURE__ */ z
  .lazy(
    () =>
      z.discriminatedUnion(
        'kind',
        [
          thresholdSchema,
          sustainedSchema,
          windowSchema,
          dailyCountSchema,
          rateSchema,
          referenceSchema,
          absenceSchema,
          eventSchema,
          scheduleSchema,
          allSchema,
          anySchema,
          notSchema,
        ],
        { error: expected(`expected a condition with kind one of ${CONDITION_KINDS.join(', ')}`) },
      ),
    // A recursive schema needs a name to be referenced by: the OpenAPI document lists it once under
    // components (web/server.ts `jsonSchemaTransformObject`) and every rule refers to it.
  )
  .meta({ id: 'RuleCondition' });

// ---------------------------------------------------------------------------------------------
// Rules

export const RULE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const appliesToSchema = /* @__PURE__ */ z
  .object(
    {
      profile: z.enum(PROFILE_NAMES, {
        error: expected(`expected one of the profiles ${PROFILE_NAMES.join(', ')}`),
      }),
      deviceIds: z
        .array(z.string().min(1))
        .min(1, { error: 'list at least one device, or leave it out' })
        .optional(),
      gridCodePrefix: z
        .string()
        .regex(/^\d{1,15}$/, { error: 'expected the leading digits of a grid code, e.g. 330102001' })
        .optional(),
    },
    { error: expected('expected { profile, deviceIds?, gridCodePrefix? }') },
  )
  .strict();

/** A rule's fields, before the check of its keys against the profile (`ruleSchema` adds it). */
const ruleFields = /* @__PURE__ */ z
  .object({
    id: z.string({ error: expected('expected a rule id (string)') }).regex(RULE_ID, {
      error: 'expected 1–64 characters: lower-case letters, digits, . _ - (starting with a letter or digit)',
    }),
    name: z
      .string({ error: expected('expected a name (string)') })
      .min(1, { error: 'the name must not be empty' })
      .max(200),
    description: z.string().max(2000).optional(),
    enabled: z.boolean().default(true),
    appliesTo: appliesToSchema,
    category: z
      .string({ error: expected('expected a 4-digit category code such as 0303') })
      .regex(/^\d{4}$/, { error: 'expected a 4-digit category code such as 0303' }),
    urgency: z.enum(URGENCIES, {
      error: expected("expected one of 'low', 'normal', 'urgent'"),
    }),
    condition: conditionSchema,
    verifyAfter: durationSchema.default('15m'),
    relapseWindow: durationSchema.default('24h'),
  })
  .strict();

/** A rule: its fields, and every key it reads known to its profile. */
export const ruleSchema = /* @__PURE__ */ ruleFields.superRefine((rule, ctx) =>
  checkKeysAgainstProfile(rule.appliesTo.profile, rule.condition, ctx),
);

/**
 * The body of `POST /api/rules` and `PUT /api/rules/:id`: a rule, whose id may be left out of a
 * PUT (the path names it). The engine validates the saved rule again with `ruleSchema`.
 */
export const ruleBodySchema = /* @__PURE__ */ ruleFields
  .extend({ id: ruleFields.shape.id.optional() })
  .superRefine((rule, ctx) => checkKeysAgainstProfile(rule.appliesTo.profile, rule.condition, ctx));

export type Rule = z.infer<typeof ruleSchema>;
/** A rule as written (defaults such as `enabled`, `verifyAfter` may be left out). */
export type RuleDraft = z.input<typeof ruleSchema>;

/**
 * A strict profile (every profile but `generic`) knows its keys: a rule reading a key the device
 * can never send would silently never fire, so it is refused, naming the key and what is known.
 */
function checkKeysAgainstProfile(profile: ProfileName, root: Condition, ctx: z.RefinementCtx) {
  const spec: ProfileSpec | undefined = PROFILES[profile];
  if (!spec?.strict) return;
  const known = Object.keys(spec.keys);
  const walk = (c: Condition, path: (string | number)[]) => {
    if (typeof c !== 'object' || c === null) return;
    switch (c.kind) {
      case 'threshold':
      case 'window':
      case 'rate':
      case 'reference':
        if (!known.includes(c.key))
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'key'],
            message: `'${c.key}' is not a key of profile ${profile} (known: ${known.join(', ')})`,
          });
        return;
      case 'event':
        if (!spec.events)
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'kind'],
            message: `devices of profile ${profile} send no detection events (use profile camera or generic)`,
          });
        return;
      case 'sustained':
      case 'dailyCount':
      case 'not':
        walk(c.condition, [...path, 'condition']);
        return;
      case 'all':
      case 'any':
        if (Array.isArray(c.conditions))
          c.conditions.forEach((child, i) => {
            walk(child, [...path, 'conditions', i]);
          });
        return;
      default:
        return;
    }
  };
  walk(root, ['condition']);
}

export type ValidationResult = { ok: true; rule: Rule } | { ok: false; errors: string[] };

/** Validates a rule; each error reads `path.to.field: message` (unknown fields: `path.name: unknown field`). */
export function validateRule(input: unknown): ValidationResult {
  const parsed = ruleSchema.safeParse(input);
  if (parsed.success) return { ok: true, rule: parsed.data };
  return { ok: false, errors: formatIssues(parsed.error.issues) };
}

/** `path.to.field: message` for each zod issue (also usable for a list of rules). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  const join = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(rule)');
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(`${join([...issue.path, key])}: unknown field`);
    } else {
      out.push(`${join(issue.path)}: ${issue.message}`);
    }
  }
  return out;
}
