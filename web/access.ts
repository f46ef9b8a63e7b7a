import type { FastifyRequest, RouteOptions } from 'fastify';
import { ROLES, type Role } from '../domain/index.ts';
import { GridhubError, notFound, unauthorized } from '../kernel/index.ts';
import type { Principal } from './auth.ts';

/**
 * Who may call a route, declared in its options (`config: { access, audit }`) and enforced on the
 * matched route, never on the URL string: the router decodes `%61pi` and accepts absolute-form
 * targets, so any check on `req.url` can be walked around (issue 7, finding 1). Deny by default: a
 * route that declares nothing is refused when it is registered (contract.md, "Who may call what").
 *
 * - `public`: anyone (health, sign-in, metrics with its own token check, the MQTT WebSocket whose
 *   devices authenticate in CONNECT).
 * - `optional`: anyone; credentials, when sent, are checked and the principal is set (health shows
 *   counts only to signed-in users).
 * - `roles`: a signed-in principal with one of the roles; `admin` always may. An empty list is
 *   admin-only.
 */
export type Access =
  | { readonly kind: 'public' }
  | { readonly kind: 'optional' }
  | { readonly kind: 'roles'; readonly roles: readonly Role[] };

export const access = {
  public: { kind: 'public' } as Access,
  optional: { kind: 'optional' } as Access,
  /** Every signed-in role (reads; scoped for `unit` and `inspector` by the handler). */
  signedIn: { kind: 'roles', roles: ROLES } as Access,
  admin: { kind: 'roles', roles: ['admin'] } as Access,
  roles: (...roles: Role[]): Access => ({ kind: 'roles', roles: ['admin', ...roles] }),
};

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** What a change is called in the audit log (required on every write route). */
    audit?: string;
  }
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const methodsOf = (r: RouteOptions) => (Array.isArray(r.method) ? r.method : [r.method]);

/**
 * The onRoute check: a route without an access declaration, or a write without an audit name,
 * cannot be registered. The documentation UI's routes are registered by its plugin; they are
 * admin-only like every route the contract does not list.
 */
export function checkRouteDeclaration(route: RouteOptions): void {
  const config = (route.config ?? {}) as { access?: Access; audit?: string };
  if (!config.access && (route.url === '/docs' || route.url.startsWith('/docs/'))) {
    route.config = { ...config, access: access.admin } as never;
    return;
  }
  // CORS preflight (@fastify/cors answers OPTIONS for every path): it carries no credentials and
  // reveals nothing but the configured origins.
  if (!config.access && route.method === 'OPTIONS' && (route.url === '*' || route.url === '/*')) {
    route.config = { ...config, access: access.public } as never;
    return;
  }
  const a = config.access;
  if (!a || !['public', 'optional', 'roles'].includes(a.kind)) {
    throw new GridhubError(
      'GRIDHUB_ERR_ROUTE_ACCESS',
      `route ${methodsOf(route).join(',')} ${route.url} declares no access (config.access); every route says who may call it`,
      500,
    );
  }
  if (a.kind === 'roles' && a.roles.length === 0) {
    throw new GridhubError('GRIDHUB_ERR_ROUTE_ACCESS', `route ${route.url}: an empty role list`, 500);
  }
  if (methodsOf(route).some((m) => WRITE_METHODS.has(m)) && !config.audit) {
    throw new GridhubError(
      'GRIDHUB_ERR_ROUTE_ACCESS',
      `route ${methodsOf(route).join(',')} ${route.url} changes something but names no audit action (config.audit)`,
      500,
    );
  }
}

export function forbiddenFor(principal: Principal, roles: readonly Role[]): GridhubError {
  const allowed = roles.includes('admin') ? roles : ['admin', ...roles];
  return new GridhubError(
    'GRIDHUB_ERR_FORBIDDEN',
    `this needs the role ${allowed.join(' or ')}; you are ${principal.role}`,
    403,
  );
}

/**
 * Decides a request on its matched route: authenticates when the route needs (or accepts) it and
 * checks the role. Returns the principal (undefined on public routes without credentials).
 */
export function authorise(
  req: FastifyRequest,
  authenticate: (req: FastifyRequest, required: boolean) => Principal | undefined,
): Principal | undefined {
  const a = req.routeOptions.config?.access;
  // Requests that matched no route get the 404 handler; it leaks nothing.
  if (!a) {
    if (req.is404) return undefined;
    throw new GridhubError('GRIDHUB_ERR_ROUTE_ACCESS', 'route declares no access', 500);
  }
  if (a.kind === 'public') return undefined;
  if (a.kind === 'optional') return authenticate(req, false);
  const p = authenticate(req, true);
  if (!p) throw unauthorized();
  // Known before the refusal, so the audit log names who was refused.
  (req as { principal?: Principal }).principal = p;
  if (!a.roles.includes(p.role)) throw forbiddenFor(p, a.roles);
  return p;
}

/**
 * What a scoped user may see (contract.md): a `unit` the cases dispatched to it, their devices and
 * grids; an `inspector` the grids assigned to them (codes are prefixes: a street code covers its
 * grids). Everyone else sees everything.
 */
export interface Scope {
  all: boolean;
  /** Grid code prefixes in scope. */
  gridPrefixes: string[];
  /** unit: the devices of its cases. */
  deviceIds?: Set<string>;
  /** unit: its id; a case is in scope when it is assigned to the unit. */
  unitId?: string;
}

export const FULL_SCOPE: Scope = { all: true, gridPrefixes: [] };

export async function scopeOf(
  p: Principal | undefined,
  unitCases: (unitId: string) => Promise<{ gridCodes: string[]; deviceIds: string[] }>,
): Promise<Scope> {
  if (!p) return { all: false, gridPrefixes: [] };
  if (p.role === 'inspector') return { all: false, gridPrefixes: p.gridCodes ?? [] };
  if (p.role === 'unit') {
    if (!p.unitId) return { all: false, gridPrefixes: [], deviceIds: new Set(), unitId: '#no-unit' };
    const s = await unitCases(p.unitId);
    return { all: false, gridPrefixes: s.gridCodes, deviceIds: new Set(s.deviceIds), unitId: p.unitId };
  }
  return FULL_SCOPE;
}

export const seesGrid = (s: Scope, code: string | null | undefined): boolean =>
  s.all || (!!code && s.gridPrefixes.some((p) => code.startsWith(p)));

export const seesDevice = (s: Scope, d: { id: string; gridCode: string | null }): boolean =>
  s.all || (s.deviceIds ? s.deviceIds.has(d.id) : seesGrid(s, d.gridCode));

export const seesCase = (
  s: Scope,
  c: { gridCode: string | null; assignee?: string | null; deviceId?: string | null },
): boolean => s.all || (s.unitId !== undefined ? c.assignee === s.unitId : seesGrid(s, c.gridCode));

/** Out of scope answers as if it did not exist (contract.md). */
export function inScopeOr404(visible: boolean, what: string, id: string): void {
  if (!visible) throw notFound(what, id);
}
