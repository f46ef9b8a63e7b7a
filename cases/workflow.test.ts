import { describe, expect, it } from 'vitest';
import type { CaseAction } from '../domain/index.ts';
import {
  type Actor,
  allowedActions,
  type CaseState,
  openCase,
  overdueEscalation,
  SENSOR_ACTOR,
  type TimelineEntry,
  type TransitionContext,
  transition,
} from './workflow.ts';

const H = 3_600_000;
const T0 = Date.parse('2025-12-01T09:00:00+08:00');
const GRID = '330102001002007';
const LIMIT = 4 * H; // a wall-clock stand-in for the category's time limit
const deadlineFor = (t: number) => t + LIMIT;

const admin: Actor = { role: 'admin', id: 'root' };
const operator: Actor = { role: 'operator', id: 'op1' };
const dispatcher: Actor = { role: 'dispatcher', id: 'disp1' };
const unitA: Actor = { role: 'unit', id: 'ua-user', unitId: 'unit-a' };
const unitB: Actor = { role: 'unit', id: 'ub-user', unitId: 'unit-b' };
const inspector: Actor = { role: 'inspector', id: 'insp1', gridCodes: ['330102001002'] }; // the whole community
const outsider: Actor = { role: 'inspector', id: 'insp2', gridCodes: ['330102001001'] };
const viewer: Actor = { role: 'viewer', id: 'v1' };
const system: Actor = { role: 'system', id: 'system' };

/** Applies an action that must succeed; returns the new state and the entry. */
function step(
  c: CaseState,
  action: CaseAction,
  ctx: TransitionContext,
): { next: CaseState; entry: TimelineEntry } {
  const r = transition(c, action, ctx);
  if (!r.ok) throw new Error(`${action} failed: ${r.code} ${r.message}`);
  return r;
}

/** Runs a chain of actions from a fresh reported case, collecting the timeline. */
function run(
  steps: [CaseAction, Actor, Partial<TransitionContext>?][],
  start = openCase({ gridCode: GRID, now: T0, autoRegister: false, actor: inspector }),
) {
  let state = start.state;
  const timeline = [...start.entries];
  let now = T0;
  for (const [action, actor, extra] of steps) {
    now += H;
    const r = step(state, action, { actor, now, deadlineFor, ...extra });
    state = r.next;
    timeline.push(r.entry);
  }
  return { state, timeline, now };
}

const toDispatched = (): [CaseAction, Actor, Partial<TransitionContext>?][] => [
  ['register', operator],
  ['dispatch', dispatcher, { assignee: 'unit-a' }],
];
const toHandled = (): [CaseAction, Actor, Partial<TransitionContext>?][] => [
  ...toDispatched(),
  ['start', unitA],
  ['handle', unitA, { note: 'cleared' }],
];

describe('the closed loop', () => {
  it('runs the happy path with one timeline entry per step', () => {
    const { state, timeline } = run([
      ['register', operator],
      ['dispatch', dispatcher, { assignee: 'unit-a', note: 'sanitation' }],
      ['start', unitA],
      ['handle', unitA, { note: 'garbage removed, photo attached' }],
      ['verify', inspector],
      ['close', operator],
    ]);
    expect(timeline.map((e) => [e.action, e.from, e.to, e.actor, e.role])).toEqual([
      ['open', null, 'reported', 'insp1', 'inspector'],
      ['register', 'reported', 'registered', 'op1', 'operator'],
      ['dispatch', 'registered', 'dispatched', 'disp1', 'dispatcher'],
      ['start', 'dispatched', 'processing', 'ua-user', 'unit'],
      ['handle', 'processing', 'handled', 'ua-user', 'unit'],
      ['verify', 'handled', 'verified', 'insp1', 'inspector'],
      ['close', 'verified', 'closed', 'op1', 'operator'],
    ]);
    expect(timeline.map((e) => e.at)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => T0 + i * H));
    expect(timeline[2]).toMatchObject({ assignee: 'unit-a', note: 'sanitation' });
    expect(timeline[4]?.note).toBe('garbage removed, photo attached');
    expect(state).toEqual({
      status: 'closed',
      gridCode: GRID,
      escalationLevel: 'grid',
      assignee: 'unit-a',
      deferredFrom: null,
      deferredAt: null,
      deadline: T0 + H + LIMIT, // registered at T0+1h
      registeredAt: T0 + H,
      dispatchedAt: T0 + 2 * H,
      handledAt: T0 + 4 * H,
      verifiedAt: T0 + 5 * H,
      closedAt: T0 + 6 * H,
      reworkCount: 0,
    });
  });

  it('emits notifications for the next actor', () => {
    const { state } = run(toDispatched().slice(0, 1));
    const r = transition(state, 'dispatch', { actor: dispatcher, now: T0 + 2 * H, assignee: 'unit-a' });
    expect(r.ok && r.effects).toEqual([
      { type: 'notify', audience: 'unit', action: 'dispatch', gridCode: GRID, unitId: 'unit-a' },
    ]);
  });

  it('opens a sensor case registered right away, with both entries', () => {
    const { state, entries } = openCase({
      gridCode: GRID,
      now: T0,
      autoRegister: true,
      deadlineFor,
      actor: SENSOR_ACTOR,
    });
    expect(state.status).toBe('registered');
    expect(state.registeredAt).toBe(T0);
    expect(state.deadline).toBe(T0 + LIMIT);
    expect(entries.map((e) => [e.action, e.from, e.to, e.actor, e.role])).toEqual([
      ['open', null, 'reported', 'sensor', 'system'],
      ['register', 'reported', 'registered', 'sensor', 'system'],
    ]);
  });

  it('records auto-registration of a person’s report under the system actor', () => {
    const { entries } = openCase({ gridCode: GRID, now: T0, autoRegister: true, actor: inspector });
    expect(entries.map((e) => [e.action, e.actor, e.role])).toEqual([
      ['open', 'insp1', 'inspector'],
      ['register', 'system', 'system'],
    ]);
  });

  it('refuses a case without a valid grid code', () => {
    expect(() => openCase({ gridCode: '3301', now: T0, autoRegister: false, actor: inspector })).toThrow(
      /grid code/,
    );
  });
});

describe('side paths', () => {
  it('reject: not registered, and final', () => {
    const { state, timeline } = run([['reject', operator, { note: 'duplicate' }]]);
    expect(state.status).toBe('rejected');
    expect(timeline.at(-1)).toMatchObject({
      action: 'reject',
      from: 'reported',
      to: 'rejected',
      note: 'duplicate',
    });
    const r = transition(state, 'register', { actor: admin, now: T0 + 9 * H });
    expect(r).toMatchObject({ ok: false, code: 409, allowedActions: [] });
  });

  it('return: back to registered, assignee cleared, the unit named in the entry', () => {
    const { state, timeline } = run([...toDispatched(), ['return', unitA, { note: 'not our street' }]]);
    expect(state).toMatchObject({
      status: 'registered',
      assignee: null,
      dispatchedAt: null,
      registeredAt: T0 + H,
    });
    expect(timeline.at(-1)).toMatchObject({
      action: 'return',
      from: 'dispatched',
      to: 'registered',
      assignee: 'unit-a',
    });
    // the dispatcher may then send it to the right unit
    const again = step(state, 'dispatch', { actor: dispatcher, now: T0 + 9 * H, assignee: 'unit-b' });
    expect(again.next.assignee).toBe('unit-b');
    // a dispatcher may return it too
    const { state: s2 } = run([...toDispatched(), ['return', dispatcher]]);
    expect(s2.status).toBe('registered');
  });

  it('rework: handled or verified back to dispatched, same unit, counted', () => {
    const a = run([...toHandled(), ['rework', inspector, { note: 'still dirty' }]]);
    expect(a.state).toMatchObject({
      status: 'dispatched',
      assignee: 'unit-a',
      reworkCount: 1,
      handledAt: null,
    });
    expect(a.timeline.at(-1)).toMatchObject({
      action: 'rework',
      from: 'handled',
      to: 'dispatched',
      assignee: 'unit-a',
    });
    const b = run([...toHandled(), ['verify', operator], ['rework', operator]]);
    expect(b.state).toMatchObject({ status: 'dispatched', reworkCount: 1, verifiedAt: null });
    // and around the loop again
    const c = run([
      ...toHandled(),
      ['rework', operator],
      ['start', unitA],
      ['handle', unitA],
      ['rework', operator],
    ]);
    expect(c.state.reworkCount).toBe(2);
  });

  it('defer / resume: back where it was, the deadline pushed by the time deferred', () => {
    const { state } = run(toDispatched()); // registered at T0+1h → deadline T0+5h; now T0+2h
    expect(state.deadline).toBe(T0 + 5 * H);
    const d = step(state, 'defer', { actor: dispatcher, now: T0 + 3 * H, note: 'waiting for permit' });
    expect(d.next).toMatchObject({ status: 'deferred', deferredFrom: 'dispatched', deferredAt: T0 + 3 * H });
    expect(d.entry).toMatchObject({ action: 'defer', from: 'dispatched', to: 'deferred' });
    const r = step(d.next, 'resume', { actor: dispatcher, now: T0 + 27 * H }); // deferred 24 h
    expect(r.next).toMatchObject({
      status: 'dispatched',
      deferredFrom: null,
      deferredAt: null,
      deadline: T0 + 5 * H + 24 * H,
      assignee: 'unit-a',
    });
    expect(r.entry).toMatchObject({ action: 'resume', from: 'deferred', to: 'dispatched' });
    // from registered and processing too; not from handled
    expect(
      step(run([['register', operator]]).state, 'defer', { actor: dispatcher, now: T0 }).next.deferredFrom,
    ).toBe('registered');
    const p = run([...toDispatched(), ['start', unitA], ['defer', dispatcher], ['resume', dispatcher]]);
    expect(p.state.status).toBe('processing');
    expect(transition(run(toHandled()).state, 'defer', { actor: dispatcher, now: T0 })).toMatchObject({
      ok: false,
      code: 409,
    });
  });

  it('escalate: one level at a time up to the district, status unchanged, then refused', () => {
    let { state } = run(toDispatched());
    const levels: string[] = [];
    for (const expected of ['community', 'street', 'district'] as const) {
      const r = transition(state, 'escalate', { actor: dispatcher, now: T0 + 5 * H });
      if (!r.ok) throw new Error(r.message);
      expect(r.entry).toMatchObject({
        action: 'escalate',
        from: 'dispatched',
        to: 'dispatched',
        level: expected,
      });
      expect(r.effects).toContainEqual({
        type: 'escalated',
        level: expected,
        areaCode: { community: '330102001002', street: '330102001', district: '330102' }[expected],
      });
      expect(r.next.status).toBe('dispatched');
      levels.push(r.next.escalationLevel);
      state = r.next;
    }
    expect(levels).toEqual(['community', 'street', 'district']);
    const top = transition(state, 'escalate', { actor: admin, now: T0 + 6 * H });
    expect(top).toMatchObject({ ok: false, code: 409 });
    if (!top.ok) {
      expect(top.message).toMatch(/district/);
      expect(top.allowedActions).not.toContain('escalate');
      expect(top.allowedActions).toEqual(['return', 'start', 'defer']);
    }
    // not from a closed case
    const closed = run([...toHandled(), ['verify', operator], ['close', operator]]).state;
    expect(transition(closed, 'escalate', { actor: system, now: T0 })).toMatchObject({
      ok: false,
      code: 409,
    });
  });

  it('relapse: the sensor sends a handled, verified or recently closed case back as rework', () => {
    const h = run(toHandled()).state;
    const r1 = step(h, 'relapse', { actor: SENSOR_ACTOR, now: T0 + 10 * H });
    expect(r1.next).toMatchObject({ status: 'dispatched', reworkCount: 1, assignee: 'unit-a' });
    expect(r1.entry).toMatchObject({
      action: 'relapse',
      from: 'handled',
      to: 'dispatched',
      actor: 'sensor',
      role: 'system',
    });

    const v = run([...toHandled(), ['verify', SENSOR_ACTOR]]).state;
    expect(step(v, 'relapse', { actor: SENSOR_ACTOR, now: T0 + 10 * H }).next.status).toBe('dispatched');

    const c = run([...toHandled(), ['verify', SENSOR_ACTOR], ['close', operator]]);
    const closedAt = c.state.closedAt!;
    const inWindow = step(c.state, 'relapse', {
      actor: SENSOR_ACTOR,
      now: closedAt + H,
      relapseWindowMs: 2 * H,
    });
    expect(inWindow.next).toMatchObject({ status: 'dispatched', closedAt: null, reworkCount: 1 });
    const late = transition(c.state, 'relapse', {
      actor: SENSOR_ACTOR,
      now: closedAt + 3 * H,
      relapseWindowMs: 2 * H,
    });
    expect(late).toMatchObject({ ok: false, code: 409 });
    if (!late.ok) expect(late.message).toMatch(/new case/);

    // not while the unit is still at it; not by a person
    const d = run(toDispatched()).state;
    expect(transition(d, 'relapse', { actor: SENSOR_ACTOR, now: T0 })).toMatchObject({
      ok: false,
      code: 409,
    });
    expect(transition(h, 'relapse', { actor: operator, now: T0 })).toMatchObject({ ok: false, code: 403 });
  });
});

describe('refusals', () => {
  it('409 names the status and lists the actions valid from it', () => {
    const { state } = run(toDispatched());
    const r = transition(state, 'close', { actor: admin, now: T0 });
    expect(r).toEqual({
      ok: false,
      code: 409,
      message: "action 'close' is not allowed from status 'dispatched'",
      allowedActions: ['return', 'start', 'defer', 'escalate'],
    });
    const rep = openCase({ gridCode: GRID, now: T0, autoRegister: false, actor: inspector }).state;
    const r2 = transition(rep, 'handle', { actor: unitA, now: T0 });
    expect(r2).toMatchObject({ ok: false, code: 409, allowedActions: ['register', 'reject', 'escalate'] });
  });

  it('403 for a role that may not, naming who may', () => {
    const reg = run([['register', operator]]).state;
    const r = transition(reg, 'dispatch', { actor: operator, now: T0, assignee: 'unit-a' });
    expect(r).toMatchObject({ ok: false, code: 403 });
    if (!r.ok) {
      expect(r.message).toMatch(/'operator'/);
      expect(r.message).toMatch(/admin, dispatcher/);
      expect(r.allowedActions).toEqual([]);
    }
    expect(transition(reg, 'escalate', { actor: viewer, now: T0 })).toMatchObject({ ok: false, code: 403 });
    const ver = run([...toHandled(), ['verify', operator]]).state;
    expect(transition(ver, 'close', { actor: dispatcher, now: T0 })).toMatchObject({ ok: false, code: 403 });
    expect(transition(ver, 'close', { actor: system, now: T0 })).toMatchObject({ ok: false, code: 403 });
  });

  it('403 for a unit the case is not assigned to', () => {
    const { state } = run(toDispatched());
    const r = transition(state, 'start', { actor: unitB, now: T0 });
    expect(r).toMatchObject({ ok: false, code: 403 });
    if (!r.ok) expect(r.message).toMatch(/unit-a.*unit-b/);
    expect(transition(state, 'return', { actor: unitB, now: T0 })).toMatchObject({ ok: false, code: 403 });
    const noUnit: Actor = { role: 'unit', id: 'x' };
    expect(transition(state, 'start', { actor: noUnit, now: T0 })).toMatchObject({ ok: false, code: 403 });
    expect(transition(state, 'start', { actor: unitA, now: T0 })).toMatchObject({ ok: true });
  });

  it('403 for an inspector outside their grids', () => {
    const { state } = run(toHandled());
    const r = transition(state, 'verify', { actor: outsider, now: T0 });
    expect(r).toMatchObject({ ok: false, code: 403 });
    if (!r.ok) expect(r.message).toMatch(/outside the grids/);
    const noGrids: Actor = { role: 'inspector', id: 'i3' };
    expect(transition(state, 'verify', { actor: noGrids, now: T0 })).toMatchObject({ ok: false, code: 403 });
    const exact: Actor = { role: 'inspector', id: 'i4', gridCodes: [GRID] };
    expect(transition(state, 'rework', { actor: exact, now: T0 })).toMatchObject({ ok: true });
  });

  it('400 for dispatch without an assignee', () => {
    const reg = run([['register', operator]]).state;
    for (const assignee of [undefined, '', '   ']) {
      const r = transition(reg, 'dispatch', {
        actor: dispatcher,
        now: T0,
        ...(assignee === undefined ? {} : { assignee }),
      });
      expect(r).toMatchObject({ ok: false, code: 400 });
      if (!r.ok) expect(r.message).toMatch(/assignee/);
    }
  });
});

describe('allowedActions per role', () => {
  const reported = openCase({ gridCode: GRID, now: T0, autoRegister: false, actor: inspector }).state;
  const registered = run([['register', operator]]).state;
  const dispatched = run(toDispatched()).state;
  const handled = run(toHandled()).state;
  const verified = run([...toHandled(), ['verify', operator]]).state;
  const closed = run([...toHandled(), ['verify', operator], ['close', operator]]).state;
  const deferred = run([...toDispatched(), ['defer', dispatcher]]).state;

  it.each([
    ['reported', reported, admin, ['register', 'reject', 'escalate']],
    ['reported', reported, operator, ['register', 'reject']],
    ['reported', reported, system, ['register', 'escalate']],
    ['reported', reported, inspector, []],
    ['registered', registered, dispatcher, ['dispatch', 'defer', 'escalate']],
    ['registered', registered, operator, []],
    ['dispatched', dispatched, unitA, ['return', 'start']],
    ['dispatched', dispatched, unitB, []],
    ['dispatched', dispatched, dispatcher, ['return', 'defer', 'escalate']],
    ['handled', handled, operator, ['verify', 'rework']],
    ['handled', handled, inspector, ['verify', 'rework']],
    ['handled', handled, outsider, []],
    ['handled', handled, system, ['verify', 'escalate', 'relapse']],
    ['handled', handled, unitA, []],
    ['verified', verified, operator, ['rework', 'close']],
    ['verified', verified, system, ['escalate', 'relapse']],
    ['closed', closed, system, ['relapse']],
    ['closed', closed, operator, []],
    ['deferred', deferred, dispatcher, ['resume', 'escalate']],
    ['deferred', deferred, unitA, []],
    ['dispatched', dispatched, viewer, []],
  ] as const)('%s, %o', (_s, state, actor, expected) => {
    expect(allowedActions(state, actor)).toEqual(expected);
  });

  it('drops relapse of a closed case once the window has passed', () => {
    expect(allowedActions(closed, system, { now: closed.closedAt! + 10 * H, relapseWindowMs: H })).toEqual(
      [],
    );
  });
});

describe('overdueEscalation', () => {
  // registered T0+1h with a 4 h limit → deadline T0+5h, span 4 h.
  const base = run(toDispatched()).state;
  const deadline = base.deadline!;
  const esc = (c: CaseState, now: number) => step(c, 'escalate', { actor: system, now }).next;

  it('escalates once overdue, then once per further full span, up to the district', () => {
    expect(overdueEscalation(base, deadline - 1)).toBeNull();
    expect(overdueEscalation(base, deadline)).toBe('community');
    const c1 = esc(base, deadline);
    expect(overdueEscalation(c1, deadline + 3 * H)).toBeNull();
    expect(overdueEscalation(c1, deadline + 4 * H)).toBe('street');
    const c2 = esc(c1, deadline + 4 * H);
    expect(overdueEscalation(c2, deadline + 8 * H - 1)).toBeNull();
    expect(overdueEscalation(c2, deadline + 8 * H)).toBe('district');
    const c3 = esc(c2, deadline + 8 * H);
    expect(overdueEscalation(c3, deadline + 100 * H)).toBeNull();
  });

  it('catches up one level per call after a long outage', () => {
    let c = base;
    const now = deadline + 50 * H;
    const seen: string[] = [];
    for (let level = overdueEscalation(c, now); level; level = overdueEscalation(c, now)) {
      seen.push(level);
      c = esc(c, now);
    }
    expect(seen).toEqual(['community', 'street', 'district']);
  });

  it('counts a manual escalation and takes a span override', () => {
    const manual = esc(base, T0 + 2 * H); // to community before the deadline
    expect(overdueEscalation(manual, deadline)).toBeNull();
    expect(overdueEscalation(manual, deadline + 4 * H)).toBe('street');
    expect(overdueEscalation(manual, deadline + H, H)).toBe('street');
  });

  it('leaves deferred, closed and rejected cases and cases without a deadline alone', () => {
    const deferred = step(base, 'defer', { actor: dispatcher, now: T0 }).next;
    expect(overdueEscalation(deferred, deadline + 100 * H)).toBeNull();
    const closed = run([...toHandled(), ['verify', operator], ['close', operator]]).state;
    expect(overdueEscalation(closed, deadline + 100 * H)).toBeNull();
    const reported = openCase({ gridCode: GRID, now: T0, autoRegister: false, actor: inspector }).state;
    expect(overdueEscalation(reported, deadline + 100 * H)).toBeNull();
    // a handled case not yet closed is still overdue
    expect(overdueEscalation(run(toHandled()).state, deadline)).toBe('community');
  });
});
