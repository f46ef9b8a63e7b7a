/**
 * Reading cases: one case with its timeline and what the reader may do next, pages of cases, the
 * overview's figures, the KPIs of a period and what a unit may read. No writes.
 */
import type { KpiLevel } from '../domain/index.ts';
import { notFound } from '../kernel/index.ts';
import type { People } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import { computeKpis, type KpiCase } from './kpi.ts';
import {
  type CaseFilter,
  type CaseRecord,
  casesInPeriod,
  listCases,
  loadCase,
  loadTimeline,
  loadTimelines,
  summaryCounts,
  unitCaseScope,
} from './repo.ts';
import { actorOf, type Principal } from './shell.ts';
import { allowedActions } from './workflow.ts';

export function createCaseQueries(deps: { db: Db; people: People; clock: { now(): number } }) {
  const { db, people, clock } = deps;

  function view(c: CaseRecord) {
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    // The windows are the sensor's bookkeeping, like the state: not part of the API's case.
    const { state: _state, windows: _windows, ...rest } = c;
    return {
      ...rest,
      openedAt: new Date(c.openedAt).toISOString(),
      deadline: iso(c.deadline),
      closedAt: iso(c.closedAt),
      lastSeenAt: new Date(c.lastSeenAt).toISOString(),
      clearedAt: iso(c.clearedAt),
      overdue:
        c.deadline !== null && c.status !== 'closed' && c.status !== 'rejected' && c.deadline <= clock.now(),
      peak: c.peak && { ...c.peak, ts: iso(c.peak.ts) },
    };
  }

  async function get(id: string, principal?: Principal) {
    const c = await loadCase(db, id);
    if (!c) throw notFound('case', id);
    const timeline = (await loadTimeline(db, id)).map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    return {
      ...view(c),
      timeline,
      allowedActions: principal ? allowedActions(c.state, actorOf(principal), { now: clock.now() }) : [],
      suggestedUnits: people.units.suggest(c.category, c.gridCode).map((u) => u.id),
    };
  }

  async function list(f: CaseFilter) {
    const { cases: rows, keys } = await listCases(db, f, clock.now());
    const items = rows.slice(0, f.limit);
    const last = items[items.length - 1];
    return {
      items: items.map(view),
      next:
        rows.length > f.limit && last
          ? Buffer.from(`${keys[items.length - 1]}|${last.id}`).toString('base64url')
          : null,
    };
  }

  /**
   * The overview's figures in one pass: open cases per grid (by urgency, overdue), counts by status,
   * and the devices with an open sensor case (drawn "in alarm" on the map). `scope` narrows it to an
   * inspector's grids or a unit's cases.
   */
  async function summary(scope: { gridPrefixes?: string[]; assignee?: string } = {}) {
    const { rows, alarmDevices } = await summaryCounts(db, scope, clock.now());
    const byStatus: Record<string, number> = {};
    const byGrid: Record<string, { open: number; urgent: number; overdue: number }> = {};
    let open = 0;
    let overdue = 0;
    for (const r of rows) {
      const n = Number(r.n);
      byStatus[r.status] = (byStatus[r.status] ?? 0) + n;
      if (r.status === 'closed' || r.status === 'rejected') continue;
      open += n;
      overdue += Number(r.overdue);
      if (!r.grid_code) continue;
      const g = byGrid[r.grid_code] ?? { open: 0, urgent: 0, overdue: 0 };
      byGrid[r.grid_code] = g;
      g.open += n;
      if (r.urgency === 'urgent') g.urgent += n;
      g.overdue += Number(r.overdue);
    }
    return {
      at: new Date(clock.now()).toISOString(),
      open,
      overdue,
      byStatus,
      byGrid,
      alarmDevices,
    };
  }

  async function kpis(from: number, to: number, level: KpiLevel, scope?: CaseFilter['scope']) {
    const records = (await casesInPeriod(db, from, to))
      .filter((c) => c.gridCode !== null)
      .filter((c) =>
        scope?.unitId !== undefined
          ? c.assignee === scope.unitId
          : scope?.gridPrefixes
            ? scope.gridPrefixes.some((p) => c.gridCode!.startsWith(p))
            : true,
      );
    const timelines = await loadTimelines(
      db,
      records.map((c) => c.id),
    );
    const input: KpiCase[] = records.map((c) => ({
      id: c.id,
      gridCode: c.gridCode!,
      urgency: c.urgency,
      openedAt: c.openedAt,
      deadline: c.deadline,
      closedAt: c.closedAt,
      status: c.state.status,
      assignee: c.assignee,
      timeline: timelines.get(c.id) ?? [],
    }));
    const report = computeKpis(input, { from, to, level });
    return { ...report, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  }

  /** The grids and devices of the cases dispatched to a unit (what a unit user may read). */
  const unitScope = (unitId: string) => unitCaseScope(db, unitId);

  return { get, list, summary, kpis, unitScope };
}
