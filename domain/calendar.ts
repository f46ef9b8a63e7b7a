/**
 * The working calendar and time limits (处置时限). Pure: no I/O, time is always passed in.
 *
 * Units of a time limit (see categories.ts):
 * - `h`  wall-clock hours (urgent cases): the deadline is `start + value` hours, nights, weekends and
 *        holidays included.
 * - `wh` working hours: only time inside the working hours of working days is consumed. With the
 *        default hours (08:30–12:00, 13:30–17:30) a case registered Friday 17:00 with 4 wh consumes
 *        30 min on Friday and 3.5 h on Monday morning: it is due Monday 12:00.
 * - `wd` working days: N working days are N × (length of one working day) of working time, the
 *        length being the sum of the calendar's `hours` (7.5 h with the defaults). So 1 wd from
 *        Tuesday 10:00 is Wednesday 10:00, and a case registered at 20:00 with 1 wd is due at the
 *        end of the next working day. Fractions (0.5 wd = 3.75 h) follow from the same rule.
 *
 * Working days are the ISO weekdays in `workdays` (1 = Monday … 7 = Sunday), minus `holidays`, plus
 * `extraWorkdays` (调休: weekend dates worked in exchange for a holiday). Dates are local dates
 * (`YYYY-MM-DD`) in the calendar's `timezone`; working hours are local wall-clock times. Hours may not
 * cross midnight (`24:00` is allowed as an end). Intervals are half-open: 12:00 is not working time
 * with a morning ending at 12:00. A deadline that is reached exactly at the end of an interval is that
 * end (Friday 17:00 + 0.5 wh = Friday 17:30, not Monday 08:30).
 *
 * Scanning is bounded: 400 consecutive calendar days without any working time raise
 * {@link NoWorkingTimeError} (a calendar with no working time at all is refused up front), and no
 * computation scans more than {@link MAX_SCAN_DAYS} days.
 */
import { z } from 'zod';
import { zoneFormatter } from '../kernel/portable.ts';
import type { TimeLimit } from './categories.ts';
import { isIanaZone, timeZoneSchema } from './time-zone.ts';

export interface WorkingHours {
  /** Local wall-clock time, `HH:MM`. */
  start: string;
  /** Local wall-clock time, `HH:MM` (`24:00` allowed), after `start`. */
  end: string;
}

export interface WorkingCalendar {
  /** IANA zone the hours and dates are read in. */
  timezone: string;
  /** Working hours of a working day, e.g. 08:30–12:00 and 13:30–17:30. */
  hours: WorkingHours[];
  /** ISO weekdays that are working days, 1 = Monday … 7 = Sunday. */
  workdays: number[];
  /** Local dates (`YYYY-MM-DD`) that are days off although their weekday is a workday. */
  holidays: string[];
  /** 调休: local dates (`YYYY-MM-DD`) that are working days although their weekday is not. */
  extraWorkdays: string[];
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Consecutive days without working time after which a scan gives up. */
export const MAX_EMPTY_DAYS = 400;
/** Hard bound of any scan (about ten years). */
export const MAX_SCAN_DAYS = 3660;

export class NoWorkingTimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWorkingTimeError';
  }
}

const HHMM_RE = /^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;
const DATE_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

function minutesOf(hhmm: string): number {
  if (!HHMM_RE.test(hhmm)) throw new RangeError(`working hours: '${hhmm}' is not HH:MM`);
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function isValidDate(s: string): boolean {
  if (!DATE_RE.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

/** Problems of the hours list (empty when fine): format, start before end, no overlap. */
function hoursProblems(hours: WorkingHours[]): string[] {
  const problems: string[] = [];
  const spans: [number, number][] = [];
  for (const [i, h] of hours.entries()) {
    if (!HHMM_RE.test(h.start) || !HHMM_RE.test(h.end)) {
      problems.push(`hours[${i}]: start and end must be HH:MM`);
      continue;
    }
    const s = minutesOf(h.start);
    const e = minutesOf(h.end);
    if (s >= e) problems.push(`hours[${i}]: start ${h.start} must be before end ${h.end}`);
    else spans.push([s, e]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur[0] < prev[1]) problems.push('hours: intervals overlap');
  }
  return problems;
}

const dateSchema = /* @__PURE__ */ z.string().refine(isValidDate, 'must be a date YYYY-MM-DD');

export const DEFAULT_TIMEZONE = 'Asia/Shanghai';
export const DEFAULT_HOURS: WorkingHours[] = [
  { start: '08:30', end: '12:00' },
  { start: '13:30', end: '17:30' },
];

/** Validates a calendar; every field has a default (Asia/Shanghai, 08:30–12:00 + 13:30–17:30, Mon–Fri). */
export const calendarSchema = /* @__PURE__ */ z
  .object({
    timezone: timeZoneSchema.default(DEFAULT_TIMEZONE),
    hours: z
      .array(
        z.object({
          start: z.string().regex(HHMM_RE, 'must be HH:MM'),
          end: z.string().regex(HHMM_RE, 'must be HH:MM'),
        }),
      )
      .min(1, 'at least one interval of working hours')
      .default(() => DEFAULT_HOURS.map((h) => ({ ...h }))),
    workdays: z
      .array(z.number().int().min(1).max(7))
      .default(() => [1, 2, 3, 4, 5])
      .transform((days) => [...new Set(days)].sort((a, b) => a - b)),
    holidays: z.array(dateSchema).default(() => []),
    extraWorkdays: z.array(dateSchema).default(() => []),
  })
  .superRefine((cal, ctx) => {
    for (const p of hoursProblems(cal.hours)) ctx.addIssue({ code: 'custom', message: p, path: ['hours'] });
    const holidays = new Set(cal.holidays);
    for (const d of cal.extraWorkdays)
      if (holidays.has(d))
        ctx.addIssue({
          code: 'custom',
          message: `${d} is both a holiday and an extra workday`,
          path: ['extraWorkdays'],
        });
    if (cal.workdays.length === 0 && cal.extraWorkdays.length === 0)
      ctx.addIssue({ code: 'custom', message: 'no working days at all', path: ['workdays'] });
  });

export const DEFAULT_CALENDAR: WorkingCalendar = /* @__PURE__ */ calendarSchema.parse({});

/**
 * The working calendar as the API answers it (a `WorkingCalendar`). Not `calendarSchema` itself: it
 * sorts workdays with a transform, and the serializer *encodes* answers, which a one-way transform
 * refuses (a 500 on every read).
 */
export const calendarViewSchema = /* @__PURE__ */ z.object({
  timezone: z.string().describe('IANA time zone'),
  hours: z.array(z.object({ start: z.string(), end: z.string() })).describe('working hours, HH:MM'),
  workdays: z.array(z.number()).describe('ISO weekdays, 1 = Monday'),
  holidays: z.array(z.string()).describe('YYYY-MM-DD'),
  extraWorkdays: z.array(z.string()).describe('YYYY-MM-DD'),
});

// --- compiled form --------------------------------------------------------------------------------

interface Compiled {
  zone: string;
  /** Working intervals of a day, minutes after local midnight, sorted. */
  spans: [number, number][];
  dayLengthMs: number;
  workdays: Set<number>;
  holidays: Set<string>;
  extra: Set<string>;
  fmt: Intl.DateTimeFormat;
}

const compiledCache = new WeakMap<WorkingCalendar, Compiled>();

function compile(cal: WorkingCalendar): Compiled {
  const cached = compiledCache.get(cal);
  if (cached) return cached;
  if (!isIanaZone(cal.timezone)) throw new RangeError(`calendar: unknown time zone '${cal.timezone}'`);
  const problems = hoursProblems(cal.hours);
  if (problems.length > 0) throw new RangeError(`calendar: ${problems.join('; ')}`);
  const spans = cal.hours
    .map((h): [number, number] => [minutesOf(h.start), minutesOf(h.end)])
    .sort((a, b) => a[0] - b[0]);
  const dayLengthMs = spans.reduce((sum, [s, e]) => sum + (e - s) * 60_000, 0);
  const workdays = new Set(cal.workdays.filter((d) => Number.isInteger(d) && d >= 1 && d <= 7));
  const holidays = new Set(cal.holidays);
  const extra = new Set([...cal.extraWorkdays].filter((d) => !holidays.has(d)));
  if (dayLengthMs === 0 || (workdays.size === 0 && extra.size === 0))
    throw new NoWorkingTimeError(
      `calendar has no working time at all (${dayLengthMs === 0 ? 'no working hours' : 'no working days'})`,
    );
  const fmt = zoneFormatter(cal.timezone);
  const c: Compiled = { zone: cal.timezone, spans, dayLengthMs, workdays, holidays, extra, fmt };
  compiledCache.set(cal, c);
  return c;
}

/** Offset of the zone from UTC at `t` (ms), with a cached formatter. */
function offsetAt(c: Compiled, t: number): number {
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  for (const p of c.fmt.formatToParts(new Date(t))) {
    if (p.type === 'year') y = Number(p.value);
    else if (p.type === 'month') mo = Number(p.value);
    else if (p.type === 'day') d = Number(p.value);
    else if (p.type === 'hour') h = Number(p.value);
    else if (p.type === 'minute') mi = Number(p.value);
    else if (p.type === 'second') s = Number(p.value);
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) - Math.floor(t / 1000) * 1000;
}

/** Local day number (days since 1970-01-01 in local dates) of instant `t`. */
function localDay(c: Compiled, t: number): number {
  return Math.floor((t + offsetAt(c, t)) / DAY_MS);
}

/** Instant of a local wall-clock time given as ms since the local epoch. */
function localToInstant(c: Compiled, localMs: number): number {
  const guess = localMs - offsetAt(c, localMs);
  return localMs - offsetAt(c, guess);
}

function isWorkingDay(c: Compiled, day: number): boolean {
  const date = new Date(day * DAY_MS);
  const iso = date.toISOString().slice(0, 10);
  if (c.holidays.has(iso)) return false;
  if (c.extra.has(iso)) return true;
  return c.workdays.has(((date.getUTCDay() + 6) % 7) + 1);
}

/** Working intervals of a local day as instants [start, end), sorted; empty on a day off. */
function intervals(c: Compiled, day: number): [number, number][] {
  if (!isWorkingDay(c, day)) return [];
  const base = day * DAY_MS;
  return c.spans.map(([s, e]): [number, number] => [
    localToInstant(c, base + s * 60_000),
    localToInstant(c, base + e * 60_000),
  ]);
}

function checkTime(name: string, t: number): void {
  if (!Number.isFinite(t)) throw new RangeError(`${name} must be a finite epoch-ms time, got ${t}`);
}

// --- public API -----------------------------------------------------------------------------------

/** Length of one working day in ms (the sum of the calendar's hours); the unit of `wd`. */
export function workingDayMs(cal: WorkingCalendar): number {
  return compile(cal).dayLengthMs;
}

/** Whether instant `t` lies inside the working hours of a working day. */
export function isWorkingTime(cal: WorkingCalendar, t: number): boolean {
  checkTime('t', t);
  const c = compile(cal);
  return intervals(c, localDay(c, t)).some(([s, e]) => s <= t && t < e);
}

/** The deadline (epoch ms) of a time limit started at `start`; see the module comment for the units. */
export function addWorkingTime(cal: WorkingCalendar, start: number, limit: TimeLimit): number {
  checkTime('start', start);
  if (!Number.isFinite(limit.value) || limit.value < 0)
    throw new RangeError(`time limit must be a non-negative number, got ${limit.value}`);
  if (limit.unit === 'h') return start + Math.round(limit.value * HOUR_MS);
  if (limit.unit !== 'wh' && limit.unit !== 'wd')
    throw new RangeError(`unknown time-limit unit '${limit.unit}'`);
  const c = compile(cal);
  let remaining = Math.round(limit.unit === 'wh' ? limit.value * HOUR_MS : limit.value * c.dayLengthMs);
  if (remaining === 0) return start;
  let day = localDay(c, start);
  let empty = 0;
  for (let scanned = 0; scanned < MAX_SCAN_DAYS; scanned++, day++) {
    const ivs = intervals(c, day);
    if (ivs.length === 0) {
      if (++empty >= MAX_EMPTY_DAYS)
        throw new NoWorkingTimeError(
          `calendar has no working time in ${MAX_EMPTY_DAYS} consecutive days from ${new Date(day * DAY_MS).toISOString().slice(0, 10)} (all holidays?)`,
        );
      continue;
    }
    empty = 0;
    for (const [s, e] of ivs) {
      const a = Math.max(s, start);
      if (a >= e) continue;
      if (e - a >= remaining) return a + remaining;
      remaining -= e - a;
    }
  }
  throw new RangeError(
    `time limit ${limit.value} ${limit.unit} does not fit in ${MAX_SCAN_DAYS} days of this calendar`,
  );
}

/**
 * Working time between two instants, in ms. Negative when `b` is before `a`
 * (`workingMsBetween(cal, b, a) === -workingMsBetween(cal, a, b)`).
 */
export function workingMsBetween(cal: WorkingCalendar, a: number, b: number): number {
  checkTime('a', a);
  checkTime('b', b);
  if (b < a) return -workingMsBetween(cal, b, a);
  const c = compile(cal);
  const first = localDay(c, a);
  const last = localDay(c, b);
  if (last - first > MAX_SCAN_DAYS)
    throw new RangeError(`workingMsBetween: span of ${last - first} days exceeds ${MAX_SCAN_DAYS}`);
  let total = 0;
  for (let day = first; day <= last; day++)
    for (const [s, e] of intervals(c, day)) {
      const lo = Math.max(s, a);
      const hi = Math.min(e, b);
      if (hi > lo) total += hi - lo;
    }
  return total;
}

/** `(t) => addWorkingTime(cal, t, limit)`, the shape `transition`'s `deadlineFor` takes. */
export function deadlineFor(cal: WorkingCalendar, limit: TimeLimit): (start: number) => number {
  return (start) => addWorkingTime(cal, start, limit);
}
