import { z } from 'zod';
import { CAMERA_EVENT_TYPES, PROFILES, type ProfileName, type ProfileSpec } from '../domain/index.ts';
import { formatTs, jsonProblem, textProblem } from '../store/index.ts';
import { kind, type Problem, type RawRecord } from './parse.ts';

/**
 * Step 2 of ingest: a record → readings, per device profile. The rule for a partly invalid
 * message: every key is judged on its own. Valid keys are kept; each invalid key is rejected with
 * its reason. A bad timestamp rejects every key of its record (they share it).
 */
export type Reading =
  | { kind: 'number'; key: string; ts: number; value: number }
  | { kind: 'json'; key: string; ts: number; value: unknown }
  | {
      kind: 'event';
      key: 'event';
      ts: number;
      type: string;
      confidence: number;
      snapshot: string | null;
      data: Record<string, unknown>;
    };

const DAY = 86_400_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
/** Contract: no more than GRIDHUB_MAX_CLOCK_SKEW (default 10 minutes) ahead of the hub's clock … */
export const MAX_FUTURE_MS = 10 * MINUTE;
export const MAX_PAST_MS = 365 * DAY; // … and no more than 1 year behind
const MAX_KEY_LENGTH = 128;

export const cameraEventSchema = z
  .object({
    type: z.enum(CAMERA_EVENT_TYPES),
    confidence: z.number().finite().min(0).max(1),
    snapshot: z.string().max(2048).optional(),
    box: z.array(z.number().finite()).max(4).optional(),
    trackId: z.union([z.string().max(128), z.number()]).optional(),
  })
  .strict();

function numberSchema(key: string, spec: { min: number; max: number; unit?: string }) {
  const unit = spec.unit ? ` ${spec.unit}` : '';
  return z
    .number({ error: (iss) => `${key}: expected a number, got ${kind(iss.input)}` })
    .refine(Number.isFinite, { message: `${key}: not a finite number` })
    .refine((v) => v >= spec.min && v <= spec.max, {
      error: (iss) => `${key}: ${iss.input} is outside ${spec.min}..${spec.max}${unit}`,
    });
}

type KeyValidator = (value: unknown) => { ok: true; value: number } | { ok: false; problem: Problem };

/** A profile key's range, and the validator that names what is wrong with a value outside it. */
interface KeyRange {
  min: number;
  max: number;
  check: KeyValidator;
}

function compileProfile(spec: ProfileSpec): Map<string, KeyRange> {
  const out = new Map<string, KeyRange>();
  for (const [key, range] of Object.entries(spec.keys)) {
    const schema = numberSchema(key, range);
    const { min, max } = range;
    out.set(key, {
      min,
      max,
      // Called for what the inline range test (validateRecordInto) did not accept: zod says why.
      check: (value) => {
        const r = schema.safeParse(value);
        if (r.success) return { ok: true, value: r.data };
        const code =
          typeof value !== 'number' ? 'wrong_type' : Number.isFinite(value) ? 'out_of_range' : 'not_finite';
        return { ok: false, problem: { code, reason: r.error.issues[0]?.message ?? `${key}: invalid` } };
      },
    });
  }
  return out;
}

const compiled = new Map<string, Map<string, KeyRange>>(
  Object.entries(PROFILES).map(([name, spec]) => [name, compileProfile(spec)]),
);

/** "8 h 0 min", "12 min 5 s": an offset a person reads at a glance. */
export function formatOffset(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

function checkTimestamp(
  ts: unknown,
  arrival: number,
  maxFutureMs: number,
): { ok: true; ts: number } | { ok: false; problem: Problem } {
  if (ts === undefined) return { ok: true, ts: arrival };
  if (typeof ts !== 'number' || !Number.isFinite(ts) || !Number.isInteger(ts)) {
    return {
      ok: false,
      problem: { code: 'bad_timestamp', reason: `ts: expected epoch milliseconds, got ${kind(ts)}` },
    };
  }
  // formatTs never throws: `new Date(1e20).toISOString()` would (a RangeError that once ended the
  // process from inside a rejection reason).
  if (ts > arrival + maxFutureMs) {
    const ahead = ts - arrival;
    // A device sending local time as if it were UTC is ahead by a whole number of hours (Beijing:
    // 8 h), give or take its clock drift and the transit time.
    const nearHour =
      ahead >= HOUR - 5 * MINUTE && Math.abs(ahead - Math.round(ahead / HOUR) * HOUR) <= 5 * MINUTE;
    return {
      ok: false,
      problem: {
        code: 'ts_future',
        reason: `ts: ${formatTs(ts)} is ${formatOffset(ahead)} ahead of the hub's clock (limit ${formatOffset(maxFutureMs)})${nearHour && ahead < 15 * HOUR ? ' — device clock set to local time?' : ''}`,
      },
    };
  }
  if (ts < arrival - MAX_PAST_MS) {
    return {
      ok: false,
      problem: {
        code: 'ts_past',
        reason: `ts: ${formatTs(ts)} is more than 1 year in the past`,
      },
    };
  }
  return { ok: true, ts };
}

/** A device string the store could not hold (U+0000, lone surrogates) is refused, never altered. */
function badText(key: string, value: unknown): Problem | undefined {
  const p = typeof value === 'string' ? textProblem(value) : jsonProblem(value);
  return p ? { code: 'bad_text', reason: `${key}: ${p}` } : undefined;
}

export function validateRecord(
  profile: ProfileName,
  record: RawRecord,
  arrival: number,
  maxFutureMs: number = MAX_FUTURE_MS,
): { readings: Reading[]; problems: Problem[] } {
  const readings: Reading[] = [];
  const problems: Problem[] = [];
  validateRecordInto(profile, record, arrival, maxFutureMs, readings, problems);
  return { readings, problems };
}

/**
 * `validateRecord` into the caller's arrays (ingest's hot path: no arrays or result object per
 * record, and an in-range number of a profile key is judged without a call).
 */
export function validateRecordInto(
  profile: ProfileName,
  record: RawRecord,
  arrival: number,
  maxFutureMs: number,
  readings: Reading[],
  problems: Problem[],
): void {
  const values = record.values;
  const keys = Object.keys(values);
  let ts: number;
  if (record.ts === undefined) ts = arrival;
  else {
    const t = checkTimestamp(record.ts, arrival, maxFutureMs);
    if (!t.ok) {
      problems.push({ ...t.problem, reason: `${t.problem.reason} (${keys.length} readings)` });
      return;
    }
    ts = t.ts;
  }
  if (keys.length === 0) {
    problems.push({ code: 'empty', reason: 'a record with no values' });
    return;
  }
  const spec: ProfileSpec = PROFILES[profile];
  const validators = compiled.get(profile)!;
  for (const key of keys) {
    const value = values[key];
    const range = validators.get(key);
    if (range !== undefined && typeof value === 'number' && value >= range.min && value <= range.max) {
      readings.push({ kind: 'number', key, ts, value });
      continue;
    }
    if (key.length > MAX_KEY_LENGTH || key.length === 0) {
      problems.push({
        code: 'bad_shape',
        reason: `key '${key.slice(0, 40)}…': names are 1..${MAX_KEY_LENGTH} characters`,
      });
      continue;
    }
    const keyProblem = textProblem(key);
    if (keyProblem) {
      problems.push({ code: 'bad_text', reason: `a key ${keyProblem}` });
      continue;
    }
    if (key === 'event' && spec.events) {
      const e = cameraEventSchema.safeParse(value);
      if (!e.success) {
        const issue = e.error.issues[0];
        problems.push({
          code: 'wrong_type',
          reason: `event${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message}`,
        });
        continue;
      }
      const textIssue = badText('event', e.data);
      if (textIssue) {
        problems.push(textIssue);
        continue;
      }
      const { type, confidence, snapshot, ...data } = e.data;
      readings.push({
        kind: 'event',
        key: 'event',
        ts,
        type,
        confidence,
        snapshot: snapshot ?? null,
        data,
      });
      continue;
    }
    if (range !== undefined) {
      const r = range.check(value);
      if (r.ok) readings.push({ kind: 'number', key, ts, value: r.value });
      else problems.push(r.problem);
      continue;
    }
    if (spec.strict) {
      problems.push({ code: 'unknown_key', reason: `${key}: not a key of profile ${profile}` });
      continue;
    }
    // generic: numbers feed the time series, other values are kept with their type (ThingsBoard).
    if (typeof value === 'number') {
      if (Number.isFinite(value)) readings.push({ kind: 'number', key, ts, value });
      else problems.push({ code: 'not_finite', reason: `${key}: not a finite number` });
    } else if (value === null || value === undefined) {
      problems.push({ code: 'wrong_type', reason: `${key}: null carries no value` });
    } else {
      const textIssue = badText(key, value);
      if (textIssue) problems.push(textIssue);
      else readings.push({ kind: 'json', key, ts, value });
    }
  }
}
