/**
 * The case workflow (closed loop, GB/T 30428 / CJ/T 315): a pure transition table. No I/O; the time
 * is always passed in. The shell loads a case's {@link CaseState}, calls {@link transition}, and on
 * success persists `next` and appends `entry` to the timeline (then acts on `effects`).
 *
 *   reported ─register→ registered ─dispatch→ dispatched ─start→ processing ─handle→ handled
 *      │                    ↑  ↑                  │ return ↑                           │ verify
 *      └reject→ rejected    │  └───────return─────┘        └──────rework / relapse────┤
 *                           │                                                        verified ─close→ closed
 *   defer: registered | dispatched | processing → deferred; resume → back where it was.
 *   escalate: grid → community → street → district, status unchanged.
 *   relapse (the sensor): handled | verified | closed (within the relapse window) → dispatched.
 *
 * Checks, in order: the status (409, with the actions valid from it for anyone), the role and its
 * scope (403: a unit only on cases assigned to it, an inspector only in its grids), required fields
 * (400: dispatch without an assignee).
 *
 * Time fields of the state: `registeredAt` is the first registration (the time limit runs from it);
 * `dispatchedAt`, `handledAt`, `verifiedAt`, `closedAt` are the latest entry into that status and are
 * cleared when the case goes back before it (return, rework, relapse). The timeline keeps history.
 */
import {
  type ActorRole,
  ancestorCode,
  CASE_ACTIONS,
  CASE_STATUSES,
  type CaseAction,
  type CaseStatus,
  ESCALATION_LEVELS,
  type EscalationLevel,
  isGridCode,
  TERMINAL_STATUSES,
} from '../domain/index.ts';

export interface Actor {
  role: ActorRole;
  /** A user id, or `sensor` / `system` for the hub itself. */
  id: string;
  /** For role `unit`: the responsible unit the user belongs to. */
  unitId?: string;
  /** For role `inspector`: codes (any level: district, street, community or grid) of the grids they cover. */
  gridCodes?: string[];
}

export const SYSTEM_ACTOR: Actor = { role: 'system', id: 'system' };
export const SENSOR_ACTOR: Actor = { role: 'system', id: 'sensor' };

export interface CaseState {
  status: CaseStatus;
  gridCode: string;
  escalationLevel: EscalationLevel;
  /** The responsible unit's id once dispatched; null before and after a return. */
  assignee: string | null;
  deferredFrom: CaseStatus | null;
  deferredAt: number | null;
  deadline: number | null;
  registeredAt: number | null;
  dispatchedAt: number | null;
  handledAt: number | null;
  verifiedAt: number | null;
  closedAt: number | null;
  /** Rework and relapse actions so far. */
  reworkCount: number;
}

export type TimelineEntry = {
  action: CaseAction | 'open' | 'occurrence';
  from: CaseStatus | null;
  to: CaseStatus;
  actor: string;
  role: ActorRole;
  at: number;
  note?: string;
  /** dispatch: the unit dispatched to; return / rework / relapse: the unit concerned. */
  assignee?: string;
  /** escalate: the new level. */
  level?: string;
};

/** Side effects for the shell; the state and the entry are persisted regardless. */
export type Effect =
  | {
      type: 'notify';
      /** Who should hear of it: the assigned unit, the command centre, the supervision centre, the grid's inspectors. */
      audience: 'unit' | 'dispatcher' | 'operator' | 'inspector';
      action: CaseAction;
      gridCode: string;
      unitId?: string;
    }
  | { type: 'escalated'; level: EscalationLevel; areaCode: string };

export type TransitionResult =
  | { ok: true; next: CaseState; entry: TimelineEntry; effects: Effect[] }
  | { ok: false; code: 409 | 403 | 400; message: string; allowedActions: CaseAction[] };

export interface TransitionContext {
  actor: Actor;
  now: number;
  note?: string;
  /** dispatch: the unit id (required). */
  assignee?: string;
  /** register: the deadline of a case registered at `registeredAt` (the category's time limit on the calendar). */
  deadlineFor?: (registeredAt: number) => number;
  /** relapse from `closed`: refused (409) when more than this has passed since closing. Without it the caller decides. */
  relapseWindowMs?: number;
}

// --- the table ------------------------------------------------------------------------------------

const OPEN_STATUSES: readonly CaseStatus[] = CASE_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));

/** Statuses each action may start from. */
export const ACTION_FROM: Readonly<Record<CaseAction, readonly CaseStatus[]>> = {
  register: ['reported'],
  reject: ['reported'],
  dispatch: ['registered'],
  return: ['dispatched'],
  start: ['dispatched'],
  handle: ['processing'],
  verify: ['handled'],
  rework: ['handled', 'verified'],
  close: ['verified'],
  defer: ['registered', 'dispatched', 'processing'],
  resume: ['deferred'],
  escalate: OPEN_STATUSES,
  relapse: ['handled', 'verified', 'closed'],
};

/** Roles allowed each action besides `admin` (who may do everything). */
export const ACTION_ROLES: Readonly<Record<CaseAction, readonly ActorRole[]>> = {
  register: ['operator', 'system'],
  reject: ['operator'],
  dispatch: ['dispatcher'],
  return: ['dispatcher', 'unit'],
  start: ['unit'],
  handle: ['unit'],
  verify: ['operator', 'inspector', 'system'],
  rework: ['operator', 'inspector'],
  close: ['operator'],
  defer: ['dispatcher'],
  resume: ['dispatcher'],
  escalate: ['dispatcher', 'system'],
  relapse: ['system'],
};

const nextLevel = (l: EscalationLevel): EscalationLevel | null =>
  ESCALATION_LEVELS[ESCALATION_LEVELS.indexOf(l) + 1] ?? null;

/** Why the state refuses the action although its status lists it (null when it does not). */
function stateRefusal(c: CaseState, action: CaseAction, ctx?: { now?: number; relapseWindowMs?: number }) {
  if (action === 'escalate' && nextLevel(c.escalationLevel) === null)
    return `case is already at ${c.escalationLevel} level, the top of the hierarchy`;
  if (
    action === 'relapse' &&
    c.status === 'closed' &&
    ctx?.relapseWindowMs !== undefined &&
    ctx.now !== undefined &&
    c.closedAt !== null &&
    ctx.now - c.closedAt > ctx.relapseWindowMs
  )
    return 'case was closed before the relapse window: a relapse opens a new case';
  return null;
}

/** Actions valid from the case's state for anyone (the `allowedActions` of a 409). */
export function actionsFrom(c: CaseState, ctx?: { now?: number; relapseWindowMs?: number }): CaseAction[] {
  return CASE_ACTIONS.filter((a) => ACTION_FROM[a].includes(c.status) && stateRefusal(c, a, ctx) === null);
}

/** Whether `gridCode` lies in one of the areas (codes of any level) in `areas`. */
export function inGrids(gridCode: string, areas: readonly string[] | undefined): boolean {
  return (areas ?? []).some((p) => p.length > 0 && gridCode.startsWith(p));
}

/** Why the actor may not do the action on this case (null when they may). */
function roleRefusal(c: CaseState, action: CaseAction, actor: Actor): string | null {
  if (actor.role === 'admin') return null;
  const roles = ACTION_ROLES[action];
  if (!roles.includes(actor.role))
    return `role '${actor.role}' may not '${action}'; allowed: ${['admin', ...roles].join(', ')}`;
  if (actor.role === 'unit' && (!actor.unitId || actor.unitId !== c.assignee))
    return `case is ${c.assignee ? `assigned to unit '${c.assignee}'` : 'not assigned to a unit'}, not to ${actor.unitId ? `unit '${actor.unitId}'` : 'this user (no unit)'}`;
  if (actor.role === 'inspector' && !inGrids(c.gridCode, actor.gridCodes))
    return `grid ${c.gridCode} is outside the grids of inspector '${actor.id}'`;
  return null;
}

/** What this actor may do with the case now (for the API's `allowedActions`). */
export function allowedActions(
  c: CaseState,
  actor: Actor,
  opts?: { now?: number; relapseWindowMs?: number },
): CaseAction[] {
  return actionsFrom(c, opts).filter((a) => roleRefusal(c, a, actor) === null);
}

// --- transitions ----------------------------------------------------------------------------------

function fail(code: 409 | 403 | 400, message: string, allowed: CaseAction[]): TransitionResult {
  return { ok: false, code, message, allowedActions: allowed };
}

/** Applies an action. Never throws for a refused action: it returns `ok: false` with the HTTP code. */
export function transition(c: CaseState, action: CaseAction, ctx: TransitionContext): TransitionResult {
  const valid = actionsFrom(c, ctx);
  if (!ACTION_FROM[action]?.includes(c.status))
    return fail(409, `action '${action}' is not allowed from status '${c.status}'`, valid);
  const refused = stateRefusal(c, action, ctx);
  if (refused) return fail(409, `action '${action}' refused: ${refused}`, valid);
  const denied = roleRefusal(c, action, ctx.actor);
  if (denied) return fail(403, denied, allowedActions(c, ctx.actor, ctx));
  const assignee = ctx.assignee?.trim();
  if (action === 'dispatch' && !assignee) return fail(400, "dispatch needs 'assignee' (a unit id)", valid);

  const { now } = ctx;
  const next: CaseState = { ...c };
  const effects: Effect[] = [];
  const notify = (audience: 'unit' | 'dispatcher' | 'operator' | 'inspector', unitId?: string | null) =>
    effects.push({
      type: 'notify',
      audience,
      action,
      gridCode: c.gridCode,
      ...(unitId ? { unitId } : {}),
    });
  let entryAssignee: string | undefined;
  let level: EscalationLevel | undefined;

  switch (action) {
    case 'register':
      next.status = 'registered';
      next.registeredAt = now;
      if (ctx.deadlineFor) next.deadline = ctx.deadlineFor(now);
      notify('dispatcher');
      break;
    case 'reject':
      next.status = 'rejected';
      break;
    case 'dispatch':
      next.status = 'dispatched';
      next.assignee = assignee!;
      next.dispatchedAt = now;
      entryAssignee = assignee;
      notify('unit', assignee);
      break;
    case 'return':
      next.status = 'registered';
      entryAssignee = c.assignee ?? undefined;
      next.assignee = null;
      next.dispatchedAt = null;
      notify('dispatcher');
      break;
    case 'start':
      next.status = 'processing';
      break;
    case 'handle':
      next.status = 'handled';
      next.handledAt = now;
      notify('operator');
      notify('inspector');
      break;
    case 'verify':
      next.status = 'verified';
      next.verifiedAt = now;
      notify('operator');
      break;
    case 'rework':
    case 'relapse':
      next.status = 'dispatched';
      next.dispatchedAt = now;
      next.handledAt = null;
      next.verifiedAt = null;
      next.closedAt = null;
      next.reworkCount = c.reworkCount + 1;
      entryAssignee = c.assignee ?? undefined;
      notify('unit', c.assignee);
      if (action === 'relapse') notify('operator');
      break;
    case 'close':
      next.status = 'closed';
      next.closedAt = now;
      break;
    case 'defer':
      next.status = 'deferred';
      next.deferredFrom = c.status;
      next.deferredAt = now;
      break;
    case 'resume': {
      next.status = c.deferredFrom ?? 'registered';
      if (next.deadline !== null && c.deferredAt !== null)
        next.deadline = next.deadline + Math.max(0, now - c.deferredAt);
      next.deferredFrom = null;
      next.deferredAt = null;
      break;
    }
    case 'escalate': {
      level = nextLevel(c.escalationLevel)!;
      next.escalationLevel = level;
      effects.push({ type: 'escalated', level, areaCode: ancestorCode(c.gridCode, level) });
      break;
    }
  }

  const entry: TimelineEntry = {
    action,
    from: c.status,
    to: next.status,
    actor: ctx.actor.id,
    role: ctx.actor.role,
    at: now,
    ...(ctx.note !== undefined && ctx.note !== '' ? { note: ctx.note } : {}),
    ...(entryAssignee ? { assignee: entryAssignee } : {}),
    ...(level ? { level } : {}),
  };
  return { ok: true, next, entry, effects };
}

/**
 * A new case: `reported`, or `registered` right away when `autoRegister` (both entries are returned).
 * The registration is recorded under the given actor when they may register, else under the
 * {@link SYSTEM_ACTOR} (auto-registration is the hub's doing).
 */
export function openCase(input: {
  gridCode: string;
  now: number;
  autoRegister: boolean;
  deadlineFor?: (t: number) => number;
  actor: Actor;
  note?: string;
}): { state: CaseState; entries: TimelineEntry[] } {
  if (!isGridCode(input.gridCode))
    throw new RangeError(`openCase: '${input.gridCode}' is not a 15-digit grid code`);
  const state: CaseState = {
    status: 'reported',
    gridCode: input.gridCode,
    escalationLevel: 'grid',
    assignee: null,
    deferredFrom: null,
    deferredAt: null,
    deadline: null,
    registeredAt: null,
    dispatchedAt: null,
    handledAt: null,
    verifiedAt: null,
    closedAt: null,
    reworkCount: 0,
  };
  const entries: TimelineEntry[] = [
    {
      action: 'open',
      from: null,
      to: 'reported',
      actor: input.actor.id,
      role: input.actor.role,
      at: input.now,
      ...(input.note ? { note: input.note } : {}),
    },
  ];
  if (!input.autoRegister) return { state, entries };
  const registrar = roleRefusal(state, 'register', input.actor) === null ? input.actor : SYSTEM_ACTOR;
  const r = transition(state, 'register', {
    actor: registrar,
    now: input.now,
    ...(input.deadlineFor ? { deadlineFor: input.deadlineFor } : {}),
  });
  if (!r.ok) throw new Error(`openCase: auto-registration failed: ${r.message}`); // unreachable
  entries.push(r.entry);
  return { state: r.next, entries };
}

/** A timeline entry for a repeated occurrence of the condition (status unchanged). */
export function occurrenceEntry(
  c: CaseState,
  at: number,
  actor: Actor = SENSOR_ACTOR,
  note?: string,
): TimelineEntry {
  return {
    action: 'occurrence',
    from: c.status,
    to: c.status,
    actor: actor.id,
    role: actor.role,
    at,
    ...(note ? { note } : {}),
  };
}

/** Open, not deferred, and past its deadline. */
export function isOverdue(c: CaseState, now: number): boolean {
  return (
    c.deadline !== null &&
    now >= c.deadline &&
    !TERMINAL_STATUSES.includes(c.status) &&
    c.status !== 'deferred'
  );
}

/**
 * The next level an overdue case should be escalated to, or null.
 *
 * Rule: a case that is open (not closed, rejected or deferred) and has a deadline escalates one level
 * at a time — to `community` once the deadline has passed, to `street` once one further span has
 * passed (deadline + span), to `district` after deadline + 2 × span; never beyond `district`. `span`
 * is the case's original time-limit span on the wall clock, `deadline − registeredAt` by default
 * (pass `spanMs` to override, e.g. when the deadline moved for another reason). The level already
 * reached counts, whether a timer or a dispatcher escalated: with the case at level i (grid = 0), the
 * next level is due at `deadline + i × span`. Idempotent: a timer calls it on each tick, applies
 * `escalate` with the system actor while it returns a level, and catches up one level per call.
 */
export function overdueEscalation(
  c: CaseState,
  now: number,
  spanMs?: number,
): 'community' | 'street' | 'district' | null {
  if (!isOverdue(c, now) || c.deadline === null) return null;
  const next = nextLevel(c.escalationLevel);
  if (next === null || next === 'grid') return null;
  const i = ESCALATION_LEVELS.indexOf(c.escalationLevel);
  if (i === 0) return next;
  const span = spanMs ?? (c.registeredAt !== null ? c.deadline - c.registeredAt : 0);
  if (!(span > 0)) return null; // no span to count further levels by
  return now >= c.deadline + i * span ? next : null;
}
