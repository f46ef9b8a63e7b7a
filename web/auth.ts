import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { forbidden, unauthorized } from '../hub/errors.ts';

export type Role = 'admin' | 'operator' | 'dispatcher' | 'unit' | 'inspector' | 'viewer';
export interface Principal {
  kind: 'admin' | 'user';
  role: Role;
  userId?: string;
  unitId?: string | null;
  gridCodes?: string[];
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer authentication. The admin token is compared in constant time (on digests, so the lengths
 * match); user tokens and the dashboard's session cookie plug in through `resolveUser`.
 */
export function createAuth(opts: {
  adminToken: string;
  resolveUser?: (token: string) => Principal | undefined;
}) {
  const admin = digest(opts.adminToken);
  return function authenticate(req: FastifyRequest): Principal {
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw unauthorized('an Authorization: Bearer <token> header is required');
    const token = m[1]!;
    if (timingSafeEqual(digest(token), admin)) return { kind: 'admin', role: 'admin' };
    const user = opts.resolveUser?.(token);
    if (user) return user;
    throw unauthorized('the bearer token is not valid');
  };
}

/** Throws 403 unless the request's principal has one of the roles (admin always may). */
export function requireRole(principal: Principal | undefined, ...roles: Role[]): Principal {
  if (!principal) throw unauthorized();
  if (principal.role === 'admin' || roles.includes(principal.role)) return principal;
  throw forbidden(
    `this action needs the role ${['admin', ...roles].join(' or ')}; you are ${principal.role}`,
  );
}
