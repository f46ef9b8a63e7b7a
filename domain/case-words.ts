/**
 * The words of the case workflow (closed loop, GB/T 30428 / CJ/T 315): the statuses a case passes
 * through, the actions that move it, and the levels it escalates to. The transition table that
 * says which action leads where is the cases part's (cases/workflow.ts).
 */
import { z } from 'zod';

export const CASE_STATUSES = [
  'reported',
  'registered',
  'dispatched',
  'processing',
  'handled',
  'verified',
  'closed',
  'rejected',
  'deferred',
] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];
export const caseStatusSchema = /* @__PURE__ */ z.enum(CASE_STATUSES);

export const CASE_ACTIONS = [
  'register',
  'reject',
  'dispatch',
  'return',
  'start',
  'handle',
  'verify',
  'rework',
  'close',
  'defer',
  'resume',
  'escalate',
  'relapse',
] as const;
export type CaseAction = (typeof CASE_ACTIONS)[number];
export const caseActionSchema = /* @__PURE__ */ z.enum(CASE_ACTIONS);

/** Grid → community → street → district: where an overdue or escalated case is watched. */
export const ESCALATION_LEVELS = ['grid', 'community', 'street', 'district'] as const;
export type EscalationLevel = (typeof ESCALATION_LEVELS)[number];
export const escalationLevelSchema = /* @__PURE__ */ z.enum(ESCALATION_LEVELS);

/** Statuses a case can no longer leave by a person's action (a closed case may still relapse). */
export const TERMINAL_STATUSES: readonly CaseStatus[] = ['closed', 'rejected'];

/** Where a case came from: raised by a rule on a device's readings, or reported by a person. */
export const CASE_SOURCES = ['sensor', 'report'] as const;
export type CaseSource = (typeof CASE_SOURCES)[number];
