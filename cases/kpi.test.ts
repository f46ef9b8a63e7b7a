import { describe, expect, it } from 'vitest';
import type { CaseAction, CaseStatus, Urgency } from '../domain/index.ts';
import { computeKpis, type KpiCase } from './kpi.ts';
import type { TimelineEntry } from './workflow.ts';

const H = 3_600_000;
/** Period: the week of Mon 2025-12-01 00:00 (Shanghai) → Mon 2025-12-08 00:00, i.e. hours [0, 168). */
const P = Date.parse('2025-12-01T00:00:00+08:00');
const h = (n: number) => P + n * H;
const FROM = h(0);
const TO = h(168);

const C1 = '330102001001'; // community 1
const C2 = '330102001002'; // community 2

/** Hand-written timeline: [action, hour]. from/to/actor do not matter to the KPIs. */
const tl = (...steps: [CaseAction | 'open', number][]): TimelineEntry[] =>
  steps.map(([action, at]) => ({
    action,
    from: null,
    to: 'registered',
    actor: 'x',
    role: 'admin',
    at: h(at),
  }));

const kase = (
  id: string,
  gridCode: string,
  urgency: Urgency,
  status: CaseStatus,
  assignee: string | null,
  deadline: number | null,
  closedAt: number | null,
  timeline: TimelineEntry[],
): KpiCase => ({
  id,
  gridCode,
  urgency,
  status,
  assignee,
  deadline: deadline === null ? null : h(deadline),
  closedAt: closedAt === null ? null : h(closedAt),
  openedAt: timeline[0]!.at,
  timeline,
});

// Hours are relative to the period start; the period is [0, 168).
const CASES: KpiCase[] = [
  // 1: C1, unit-a, closed at 6 ≤ deadline 8 → on time; time to close 6 − 1 = 5 h.
  kase(
    '1',
    `${C1}001`,
    'normal',
    'closed',
    'unit-a',
    8,
    6,
    tl(['open', 1], ['register', 1], ['dispatch', 2], ['handle', 5], ['close', 6]),
  ),
  // 2: C1, unit-a, urgent, reworked once, closed at 14 > deadline 12 → late; time to close 14 − 10 = 4 h.
  kase(
    '2',
    `${C1}002`,
    'urgent',
    'closed',
    'unit-a',
    12,
    14,
    tl(
      ['open', 10],
      ['register', 10],
      ['dispatch', 10.5],
      ['handle', 11],
      ['rework', 12],
      ['handle', 13],
      ['close', 14],
    ),
  ),
  // 3: C2, unit-b, opened and dispatched before the period, deadline 24 in it, closed at 30 → late;
  //    time to close 30 − (−48) = 78 h. Not registered nor dispatched in the period.
  kase(
    '3',
    `${C2}001`,
    'normal',
    'closed',
    'unit-b',
    24,
    30,
    tl(['open', -48], ['register', -48], ['dispatch', -47], ['handle', 20], ['close', 30]),
  ),
  // 4: C2, unit-b, urgent, dispatched at 51, handled only at 200 (after the period), deadline 52 →
  //    due, not closed, dispatched in the period but not handled by its end.
  kase(
    '4',
    `${C2}001`,
    'urgent',
    'handled',
    'unit-b',
    52,
    null,
    tl(['open', 50], ['register', 50], ['dispatch', 51], ['handle', 200]),
  ),
  // 5: C2, never dispatched, deferred → registered in the period, but not due (deferred).
  kase(
    '5',
    `${C2}001`,
    'normal',
    'deferred',
    null,
    100,
    null,
    tl(['open', 60], ['register', 60], ['defer', 61]),
  ),
  // 6: C1, unit-a, closed at 104 then relapsed at 150 and handled again at 160: deadline 120 → due,
  //    not closed (closedAt cleared by the relapse); one rework (the relapse).
  kase(
    '6',
    `${C1}001`,
    'normal',
    'handled',
    'unit-a',
    120,
    null,
    tl(
      ['open', 100],
      ['register', 100],
      ['dispatch', 101],
      ['handle', 102],
      ['verify', 103],
      ['close', 104],
      ['relapse', 150],
      ['handle', 160],
    ),
  ),
  // 7: C2, rejected (with a deadline the shell had set): excluded from due; not registered.
  kase('7', `${C2}001`, 'normal', 'rejected', null, 90, null, tl(['open', 70], ['reject', 71])),
  // 8: C1, unit-a, everything after the period (dispatched at 170, deadline 200) → counts nowhere.
  kase(
    '8',
    `${C1}001`,
    'normal',
    'dispatched',
    'unit-a',
    200,
    null,
    tl(['open', 169], ['register', 169], ['dispatch', 170]),
  ),
];

describe('computeKpis', () => {
  it('per community, equal to the hand computation', () => {
    const r = computeKpis(CASES, { from: FROM, to: TO, level: 'community' });
    expect(r.from).toBe(FROM);
    expect(r.to).toBe(TO);
    expect(r.level).toBe('community');
    expect(r.items).toEqual([
      {
        key: C1, // cases 1, 2, 6 (8 is outside the period)
        registered: 3, // 1 @1, 2 @10, 6 @100
        due: 3, // deadlines 8, 12, 120
        closed: 2, // 1 @6, 2 @14 (6 was reopened)
        onTime: 1, // 1: 6 ≤ 8; 2: 14 > 12
        closedRate: 0.6667, // 2 / 3
        onTimeRate: 0.3333, // 1 / 3
        rework: 2, // 2's rework @12 + 6's relapse @150
        dispatched: 3, // 1 @2, 2 @10.5, 6 @101
        handled: 3, // all three have a handle entry before 168
        disposalRate: 1, // 3 / 3
        meanTimeToCloseHours: 4.5, // (5 + 4) / 2
        urgentDue: 1, // 2
        urgentOnTime: 0,
      },
      {
        key: C2, // cases 3, 4, 5, 7
        registered: 2, // 4 @50, 5 @60 (3 before the period, 7 rejected)
        due: 2, // 3 (24), 4 (52); 5 deferred, 7 rejected
        closed: 1, // 3 @30
        onTime: 0, // 3: 30 > 24
        closedRate: 0.5, // 1 / 2
        onTimeRate: 0, // 0 / 2
        rework: 0,
        dispatched: 1, // 4 @51 (3 was dispatched before the period)
        handled: 0,
        disposalRate: 0, // 0 / 1
        meanTimeToCloseHours: 78, // 30 − (−48)
        urgentDue: 1, // 4
        urgentOnTime: 0,
      },
    ]);
    expect(r.total).toEqual({
      registered: 5, // 3 + 2
      due: 5, // 3 + 2
      closed: 3, // 2 + 1
      onTime: 1,
      closedRate: 0.6, // 3 / 5
      onTimeRate: 0.2, // 1 / 5
      rework: 2,
      dispatched: 4, // 3 + 1
      handled: 3,
      disposalRate: 0.75, // 3 / 4
      meanTimeToCloseHours: 29, // (5 + 4 + 78) / 3 = 87 / 3
      urgentDue: 2,
      urgentOnTime: 0,
    });
  });

  it('per unit, unassigned cases under null, last', () => {
    const r = computeKpis(CASES, { from: FROM, to: TO, level: 'unit' });
    expect(r.items.map((i) => i.key)).toEqual(['unit-a', 'unit-b', null]);
    const [a, b, none] = r.items;
    // unit-a holds cases 1, 2, 6 (and 8, outside the period): the same numbers as community 1.
    expect(a).toMatchObject({
      registered: 3,
      due: 3,
      closed: 2,
      onTime: 1,
      rework: 2,
      dispatched: 3,
      handled: 3,
    });
    // unit-b: cases 3, 4 → registered 1 (4), due 2, closed 1 (3), dispatched 1 (4), handled 0.
    expect(b).toEqual({
      key: 'unit-b',
      registered: 1,
      due: 2,
      closed: 1,
      onTime: 0,
      closedRate: 0.5,
      onTimeRate: 0,
      rework: 0,
      dispatched: 1,
      handled: 0,
      disposalRate: 0,
      meanTimeToCloseHours: 78,
      urgentDue: 1,
      urgentOnTime: 0,
    });
    // unassigned: 5 (registered, deferred) and 7 (rejected) → only registered 1; rates null.
    expect(none).toEqual({
      key: null,
      registered: 1,
      due: 0,
      closed: 0,
      onTime: 0,
      closedRate: null,
      onTimeRate: null,
      rework: 0,
      dispatched: 0,
      handled: 0,
      disposalRate: null,
      meanTimeToCloseHours: null,
      urgentDue: 0,
      urgentOnTime: 0,
    });
  });

  it('per grid and per street', () => {
    const g = computeKpis(CASES, { from: FROM, to: TO, level: 'grid' });
    // grid …001001: cases 1, 6 (8 outside); …001002: case 2; …002001: cases 3, 4, 5, 7.
    expect(g.items.map((i) => [i.key, i.registered, i.due, i.closed])).toEqual([
      [`${C1}001`, 2, 2, 1],
      [`${C1}002`, 1, 1, 1],
      [`${C2}001`, 2, 2, 1],
    ]);
    const s = computeKpis(CASES, { from: FROM, to: TO, level: 'street' });
    expect(s.items).toEqual([{ key: '330102001', ...s.total }]);
  });

  it('uses the half-open period and the period end for closing', () => {
    const c = (deadline: number, closedAt: number | null) =>
      kase(
        'x',
        `${C1}001`,
        'urgent',
        closedAt === null ? 'dispatched' : 'closed',
        'u',
        deadline,
        closedAt,
        tl(['open', -10], ['dispatch', -9]),
      );
    const r = computeKpis([c(0, 1), c(168, 100), c(100, 170)], { from: FROM, to: TO, level: 'district' });
    // deadline 0 is in, 168 is out; due: the cases due at 0 and 100. Closed by the period end: the one
    // due at 0 (closed at 1, late); the one due at 100 closed at 170, after the period → not closed.
    expect(r.total).toMatchObject({
      due: 2,
      closed: 1,
      onTime: 0,
      urgentDue: 2,
      urgentOnTime: 0,
      closedRate: 0.5,
    });
    // closed exactly at its deadline → on time.
    expect(computeKpis([c(50, 50)], { from: FROM, to: TO, level: 'district' }).total).toMatchObject({
      closed: 1,
      onTime: 1,
      urgentOnTime: 1,
      onTimeRate: 1,
    });
    // closed 1 h after its deadline of 0 → closed, not on time.
    const r2 = computeKpis([c(0, 1)], { from: FROM, to: TO, level: 'district' });
    expect(r2.total).toMatchObject({ due: 1, closed: 1, onTime: 0, meanTimeToCloseHours: 11 });
  });

  it('lists nothing for an empty period and refuses a reversed one', () => {
    const r = computeKpis(CASES, { from: h(1000), to: h(1100), level: 'community' });
    expect(r.items).toEqual([]);
    expect(r.total).toMatchObject({
      registered: 0,
      due: 0,
      closedRate: null,
      onTimeRate: null,
      disposalRate: null,
    });
    expect(() => computeKpis(CASES, { from: TO, to: FROM, level: 'grid' })).toThrow(/from < to/);
  });
});
