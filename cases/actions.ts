/**
 * The operator loop: people's actions on a case (register, dispatch, handle, verify, close, …),
 * cases reported by a person, and pictures added to a case's evidence. A person's action fails
 * fast when the store is down (only the sensor's own writes wait an outage out).
 */
import type { CaseAction, Urgency } from '../domain/index.ts';
import type { EventBus } from '../kernel/index.ts';
import { badRequest, GridhubError, notFound } from '../kernel/index.ts';
import type { People, Registry } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import type { Catalogue } from './catalogue.ts';
import { type CaseRecord, loadCase } from './repo.ts';
import { actorOf, type CaseShell, type Principal, stepsOf } from './shell.ts';
import { openCase, transition } from './workflow.ts';

export function createCaseActions(deps: {
  db: Db;
  registry: Registry;
  people: People;
  catalogue: Catalogue;
  clock: { now(): number };
  events: EventBus;
  shell: CaseShell;
}) {
  const { db, registry, people, catalogue, clock, events, shell } = deps;

  function act(
    id: string,
    action: CaseAction,
    opts: { principal: Principal; note?: string; assignee?: string },
  ): Promise<CaseRecord> {
    return (async () => {
      const found = await loadCase(db, id);
      if (!found) throw notFound('case', id);
      return shell.withKey(shell.keyOf(found), async () => {
        const c = (await loadCase(db, id)) ?? found;
        if (action === 'dispatch' && opts.assignee && !people.units.get(opts.assignee)) {
          throw badRequest(`assignee: no unit '${opts.assignee}'`);
        }
        const r = transition(c.state, action, {
          actor: actorOf(opts.principal),
          now: clock.now(),
          note: opts.note,
          assignee: opts.assignee,
          deadlineFor: shell.deadlineOf(c.category, c.urgency),
          relapseWindowMs: c.windows?.relapseWindowMs,
        });
        if (!r.ok) throw shell.refusal(r);
        const next = shell.applyState(c, r.next);
        await shell.persist(next, [{ entry: r.entry, effects: r.effects }]);
        return next;
      });
    })();
  }

  /** A case reported by a person (POST /api/cases): placed by its location or given grid. */
  function report(
    input: {
      category: string;
      description: string;
      location?: { lng: number; lat: number };
      gridCode?: string;
      photos?: string[];
      urgency?: Urgency;
    },
    principal: Principal,
  ): Promise<CaseRecord> {
    return (async () => {
      const category = catalogue.categories.get(input.category);
      if (!category) throw badRequest(`category: unknown category '${input.category}'`);
      let gridCode = input.gridCode ?? null;
      if (gridCode && !registry.grids.get(gridCode)) throw badRequest(`gridCode: no grid '${gridCode}'`);
      if (!gridCode && input.location)
        gridCode = registry.grids.locate(input.location.lng, input.location.lat);
      if (!gridCode)
        throw badRequest(
          'location: outside every grid (give a location inside the city grids, or a gridCode)',
        );
      // A grid worker reports in the grids assigned to them (责任田).
      const placed = gridCode;
      if (principal.role === 'inspector' && !(principal.gridCodes ?? []).some((g) => placed.startsWith(g))) {
        throw new GridhubError(
          'GRIDHUB_ERR_FORBIDDEN',
          `grid ${placed} is not among the grids assigned to you`,
          403,
        );
      }
      const now = clock.now();
      const urgency = input.urgency ?? category.defaultUrgency;
      const opened = openCase({
        gridCode,
        now,
        autoRegister: false,
        deadlineFor: shell.deadlineOf(category.code, urgency),
        actor: actorOf(principal),
        note: input.description,
      });
      const c = shell.applyState(
        {
          id: shell.newId(now),
          source: 'report',
          status: opened.state.status,
          category: category.code,
          gridCode,
          urgency,
          deviceId: null,
          ruleId: null,
          description: input.description,
          location: input.location ?? null,
          photos: input.photos ?? [],
          openedAt: now,
          deadline: null,
          closedAt: null,
          assignee: null,
          escalationLevel: 'grid',
          occurrences: 1,
          lastSeenAt: now,
          peak: null,
          evidence: {},
          clearedAt: null,
          windows: null,
          state: opened.state,
        },
        opened.state,
      );
      await shell.persist(c, stepsOf(opened.entries));
      shell.m.opened.inc({ source: 'report' });
      return c;
    })();
  }

  /**
   * Adds a picture (a camera still stored as media) to a case's evidence (`evidence.stills`), under the
   * case's queue so it never overwrites a concurrent change. At most 20 per case.
   */
  async function attachMedia(id: string, item: { mediaId: string; url: string; [k: string]: unknown }) {
    const found = await loadCase(db, id);
    if (!found) throw notFound('case', id);
    await shell.withKey(shell.keyOf(found), async () => {
      const c = (await loadCase(db, id)) ?? found;
      const stills = Array.isArray(c.evidence.stills) ? (c.evidence.stills as unknown[]) : [];
      if (stills.length >= 20) return;
      await shell.persist({ ...c, evidence: { ...c.evidence, stills: [...stills, item] } }, []);
      events.publish({
        type: 'case',
        action: 'evidence',
        caseId: c.id,
        status: c.status,
        gridCode: c.gridCode,
        at: new Date(clock.now()).toISOString(),
      });
    });
  }

  return { act, report, attachMedia };
}
