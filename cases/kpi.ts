/**
 * KPIs (绩效评价) for a period [from, to), pure. Definitions (contract.md, KPIs):
 * - `registered`: cases with a `register` entry in the period (counted once per case).
 * - `due`: cases whose deadline falls in the period, excluding rejected and (currently) deferred ones.
 * - `closed`: due cases closed by the period's end (`closedAt < to`).
 * - `onTime`: due cases closed by their deadline (`closedAt <= deadline`).
 * - `closedRate` 结案率 = closed / due; `onTimeRate` 按期结案率 = onTime / due.
 * - `rework`: `rework` and `relapse` entries in the period.
 * - `dispatched`: cases with a `dispatch` entry in the period (once per case); `handled`: those of
 *   them with a `handle` entry before the period's end; `disposalRate` 处置率 = handled / dispatched.
 * - `meanTimeToCloseHours`: mean of `closedAt − openedAt` over the closed due cases, in hours,
 *   rounded to 2 decimals.
 * - `urgentDue`, `urgentOnTime`: the same restricted to urgency `urgent`.
 * Rates are null when the denominator is 0, else rounded to 4 decimals.
 *
 * Grouping: `grid | community | street | district` by the prefix of the case's grid code;
 * `unit` by the case's current assignee (`null` for cases not assigned to a unit — never dispatched,
 * or returned and not dispatched again). A group is listed when one of registered, due, rework or
 * dispatched is non-zero; items are sorted by key, `null` last.
 */

import {
  ancestorCode,
  type CaseStatus,
  KPI_LEVELS,
  type KpiCounts,
  type KpiItem,
  type KpiLevel,
  type KpiReport,
  type Urgency,
} from '../domain/index.ts';
import type { TimelineEntry } from './workflow.ts';

export interface KpiCase {
  id: string;
  gridCode: string;
  urgency: Urgency;
  openedAt: number;
  deadline: number | null;
  closedAt: number | null;
  status: CaseStatus;
  assignee: string | null;
  timeline: TimelineEntry[];
}

interface Acc {
  registered: number;
  due: number;
  closed: number;
  onTime: number;
  rework: number;
  dispatched: number;
  handled: number;
  closeMs: number;
  urgentDue: number;
  urgentOnTime: number;
}

const emptyAcc = (): Acc => ({
  registered: 0,
  due: 0,
  closed: 0,
  onTime: 0,
  rework: 0,
  dispatched: 0,
  handled: 0,
  closeMs: 0,
  urgentDue: 0,
  urgentOnTime: 0,
});

const rate = (n: number, d: number): number | null =>
  d === 0 ? null : Math.round((n / d) * 10_000) / 10_000;

function finish(a: Acc): KpiCounts {
  return {
    registered: a.registered,
    due: a.due,
    closed: a.closed,
    onTime: a.onTime,
    closedRate: rate(a.closed, a.due),
    onTimeRate: rate(a.onTime, a.due),
    rework: a.rework,
    dispatched: a.dispatched,
    handled: a.handled,
    disposalRate: rate(a.handled, a.dispatched),
    meanTimeToCloseHours: a.closed === 0 ? null : Math.round((a.closeMs / a.closed / 3_600_000) * 100) / 100,
    urgentDue: a.urgentDue,
    urgentOnTime: a.urgentOnTime,
  };
}

/** Adds one case's contribution to the period into `acc`. */
function add(acc: Acc, c: KpiCase, from: number, to: number): void {
  const inPeriod = (t: number) => t >= from && t < to;
  if (c.timeline.some((e) => e.action === 'register' && inPeriod(e.at))) acc.registered++;
  if (c.deadline !== null && inPeriod(c.deadline) && c.status !== 'rejected' && c.status !== 'deferred') {
    acc.due++;
    const urgent = c.urgency === 'urgent';
    if (urgent) acc.urgentDue++;
    if (c.closedAt !== null && c.closedAt < to) {
      acc.closed++;
      acc.closeMs += c.closedAt - c.openedAt;
    }
    if (c.closedAt !== null && c.closedAt <= c.deadline) {
      acc.onTime++;
      if (urgent) acc.urgentOnTime++;
    }
  }
  acc.rework += c.timeline.filter(
    (e) => (e.action === 'rework' || e.action === 'relapse') && inPeriod(e.at),
  ).length;
  if (c.timeline.some((e) => e.action === 'dispatch' && inPeriod(e.at))) {
    acc.dispatched++;
    if (c.timeline.some((e) => e.action === 'handle' && e.at < to)) acc.handled++;
  }
}

/** KPIs of the cases for the period [from, to), grouped by `level`. */
export function computeKpis(
  cases: readonly KpiCase[],
  period: { from: number; to: number; level: KpiLevel },
): KpiReport {
  const { from, to, level } = period;
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from)
    throw new RangeError(`KPI period must have from < to, got [${from}, ${to})`);
  if (!KPI_LEVELS.includes(level)) throw new RangeError(`unknown KPI level '${level}'`);
  const groups = new Map<string | null, Acc>();
  const total = emptyAcc();
  for (const c of cases) {
    const key = level === 'unit' ? c.assignee : ancestorCode(c.gridCode, level);
    let acc = groups.get(key);
    if (!acc) {
      acc = emptyAcc();
      groups.set(key, acc);
    }
    add(acc, c, from, to);
    add(total, c, from, to);
  }
  const items: KpiItem[] = [...groups.entries()]
    .filter(([, a]) => a.registered + a.due + a.rework + a.dispatched > 0)
    .sort(([a], [b]) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1))
    .map(([key, a]) => ({ key, ...finish(a) }));
  return { from, to, level, items, total: finish(total) };
}
