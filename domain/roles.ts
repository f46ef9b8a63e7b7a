/**
 * Who people are (contract.md, "Who may call what"): the six roles a user account or a session
 * holds, and the case workflow's actors, which add `system` for the hub itself (sensor-raised
 * cases, overdue escalation). The PostgreSQL CHECK on `users.role` (store/migrations.ts) lists the
 * same six.
 */
import { z } from 'zod';

export const ROLES = ['admin', 'operator', 'dispatcher', 'unit', 'inspector', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
export const roleSchema = /* @__PURE__ */ z.enum(ROLES);

/** Roles that may read the rules (the rule list and a case's rule explanation). */
export const RULE_READER_ROLES: readonly Role[] = ['admin', 'operator', 'dispatcher', 'viewer'];

export const ACTOR_ROLES = [...ROLES, 'system'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];
