/**
 * Form checks run before anything is sent, in the user's language. The API's own schemas
 * (domain/units.ts, domain/calendar.ts) stay the last word: these name the problem in plain words
 * for the field it is in, and the shared schema is applied after them (web/ui/src/pages/admin.tsx).
 * Pure: no DOM, no storage (unit-tested in node).
 */
import { PERSON_ID_RE, unitBody } from '../../../domain/index.ts';
import type { AppState } from './app.tsx';
import type { Messages } from './i18n.ts';

type WorkingCalendar = NonNullable<AppState['calendar']>;

export interface Problem {
  field: string;
  message: string;
}

const HHMM = /^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const minutes = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
const realDate = (s: string) => DATE.test(s) && new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) === s;

export function unitProblems(
  m: Messages,
  form: { id: string; name: string; categories: string[]; gridCodes: string },
): { problems: Problem[]; body?: ReturnType<typeof unitBody.parse> } {
  const problems: Problem[] = [];
  if (!PERSON_ID_RE.test(form.id)) problems.push({ field: 'id', message: m.formErr.id });
  const parsed = unitBody.safeParse({
    name: form.name,
    categories: form.categories,
    gridCodes: form.gridCodes.split(/[\s,，、]+/).filter(Boolean),
  });
  if (!parsed.success)
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? 'name');
      const message =
        field === 'name' ? m.formErr.name : field === 'gridCodes' ? m.formErr.gridCodes : issue.message;
      if (!problems.some((p) => p.field === field)) problems.push({ field, message });
    }
  return problems.length || !parsed.success ? { problems } : { problems, body: parsed.data };
}

export function calendarProblems(m: Messages, cal: WorkingCalendar, zoneOk: (z: string) => boolean) {
  const problems: Problem[] = [];
  if (!zoneOk(cal.timezone)) problems.push({ field: 'timezone', message: m.formErr.zone });
  if (cal.hours.length === 0) problems.push({ field: 'hours', message: m.formErr.noHours });
  const spans: [number, number][] = [];
  for (const [i, h] of cal.hours.entries()) {
    if (!HHMM.test(h.start) || !HHMM.test(h.end)) {
      problems.push({ field: `hours.${i}`, message: m.formErr.hhmm });
      continue;
    }
    if (minutes(h.start) >= minutes(h.end))
      problems.push({ field: `hours.${i}`, message: m.formErr.startEnd(h.start, h.end) });
    else spans.push([minutes(h.start), minutes(h.end)]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  if (spans.some((s, i) => i > 0 && s[0] < spans[i - 1]![1]))
    problems.push({ field: 'hours', message: m.formErr.overlap });
  for (const list of ['holidays', 'extraWorkdays'] as const) {
    const seen = new Set<string>();
    for (const d of cal[list]) {
      if (!realDate(d)) problems.push({ field: list, message: m.formErr.date });
      else if (seen.has(d)) problems.push({ field: list, message: m.formErr.duplicate(d) });
      seen.add(d);
    }
  }
  const holidays = new Set(cal.holidays);
  for (const d of cal.extraWorkdays)
    if (holidays.has(d)) problems.push({ field: 'extraWorkdays', message: m.formErr.both(d) });
  if (cal.workdays.length === 0 && cal.extraWorkdays.length === 0)
    problems.push({ field: 'workdays', message: m.formErr.noDays });
  return problems;
}

/** The backtest's range as the server bounds it (rules/engine.ts: at most 31 days). */
export const BACKTEST_MAX_DAYS = 31;
export function backtestRangeProblem(m: Messages, from: number, to: number, now: number): string | null {
  if (!Number.isFinite(from) || !Number.isFinite(to)) return m.formErr.missing;
  if (from >= to) return m.formErr.fromTo;
  // A minute of grace: the field shows minutes, the hub's clock moves on.
  if (to > now + 60_000) return m.formErr.future;
  if (to - from > BACKTEST_MAX_DAYS * 86_400_000) return m.formErr.range(BACKTEST_MAX_DAYS);
  return null;
}
