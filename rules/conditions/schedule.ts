/**
 * `schedule`: local time (city zone) in [from, to). A window past midnight (22:00–06:00) belongs
 * to the day it starts on, so `days: [5]` with 22:00–06:00 is Friday night including Saturday
 * 00:00–06:00.
 */
import type { ScheduleCondition } from '../../domain/index.ts';
import { offsetAt } from './local-time.ts';
import { decided, isLate, keep, leafSpec, loadLeaf } from './node.ts';
import type { LeafState } from './types.ts';

const DAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

export interface ScheduleState extends LeafState<'schedule'> {
  o?: 'schedule';
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** True when `ts` lies in the schedule (local time of `timezone`). */
export function inSchedule(c: ScheduleCondition, ts: number, timezone: string): boolean {
  const local = ts + offsetAt(timezone, ts);
  const minute = Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
  // 1970-01-01 was a Thursday (ISO day 4): 1 = Monday … 7 = Sunday.
  const isoDay = ((((Math.floor(local / 86_400_000) + 3) % 7) + 7) % 7) + 1;
  const from = minutesOf(c.from);
  const to = minutesOf(c.to);
  let day: number;
  if (from < to) {
    if (minute < from || minute >= to) return false;
    day = isoDay;
  } else if (minute >= from) day = isoDay;
  else if (minute < to) day = isoDay === 1 ? 7 : isoDay - 1;
  else return false;
  return !c.days || c.days.includes(day);
}

export const schedule = leafSpec<'schedule', ScheduleState>({
  kind: 'schedule',
  compile(p) {
    const c = p.c;
    p.label = `${c.from}–${c.to}${c.days ? ` on ${c.days.map((d) => DAY_NAMES[d] ?? String(d)).join(', ')}` : ''}`;
  },
  evaluate(p, w) {
    const s = loadLeaf<ScheduleState>(w, p);
    if (w.env.mode !== 'input' || isLate(s, w.env.time)) return keep(p, s, w);
    const v = inSchedule(p.c, w.env.time, w.ctx.timezone);
    const n: ScheduleState = { k: 'schedule', v, ts: w.env.time, o: 'schedule' };
    return decided(p, n, w);
  },
  render: (p, s) => `${s.v ? 'during' : 'outside'} ${p.label}`,
  facts: () => undefined,
  initialText: (p) => `${p.label}: no reading yet`,
  // Local time adds no key of this device.
  keys: () => {},
});
