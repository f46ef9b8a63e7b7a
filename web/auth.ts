import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../domain/index.ts';
import { forbidden, unauthorized } from '../kernel/index.ts';

export interface Principal {
  kind: 'admin' | 'user';
  role: Role;
  userId?: string;
  name?: string;
  unitId?: string | null;
  gridCodes?: string[];
  /** How the request was authenticated: the static admin token, a bearer session, the cookie. */
  via?: 'admin-token' | 'bearer' | 'cookie';
}

export const SESSION_COOKIE = 'gridhub_session';
export const CSRF_HEADER = 'x-gridhub-csrf';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The value of one cookie from a Cookie header (RFC 6265 §5.4: `name=value; name2=value2`). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Bearer token (the admin token or a session token) or the dashboard's session cookie. The admin
 * token is compared in constant time on digests (so lengths match) and can be turned off
 * (`GRIDHUB_ADMIN_TOKEN=off`). Writes authenticated by the cookie carry `x-gridhub-csrf: 1`, which
 * a cross-site form cannot send, and an Origin, when present, naming this host or a configured
 * origin (the agreed interface; SameSite=Strict is the first line, this the second).
 */
export function createAuth(opts: {
  adminToken: string | null;
  resolveSession?: (token: string) => Principal | undefined;
  allowedOrigins?: readonly string[];
}) {
  const admin = opts.adminToken ? digest(opts.adminToken) : null;
  return function authenticate(req: FastifyRequest, required = true): Principal | undefined {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"');
      const token = m[1]!;
      if (admin && timingSafeEqual(digest(token), admin))
        return { kind: 'admin', role: 'admin', via: 'admin-token' };
      const user = opts.resolveSession?.(token);
      if (user) return { ...user, via: 'bearer' };
      throw unauthorized('the bearer token is not valid (expired, signed out or unknown)');
    }
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie) {
      const user = opts.resolveSession?.(cookie);
      if (!user) {
        if (!required) return undefined;
        throw unauthorized('the session has ended; sign in again');
      }
      // A WebSocket upgrade is a GET, but a cross-site page could open one with the cookie
      // (cross-site WebSocket hijacking): its Origin must be ours too.
      const upgrade = String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (
        upgrade &&
        req.headers.origin !== undefined &&
        !sameOrigin(req.headers.origin, req, opts.allowedOrigins ?? [])
      )
        throw forbidden(
          `the Origin ${JSON.stringify(req.headers.origin)} may not open a WebSocket with the session cookie`,
        );
      if (!SAFE_METHODS.has(req.method)) {
        if (req.headers[CSRF_HEADER] !== '1')
          throw forbidden(`a write made with the session cookie needs the header ${CSRF_HEADER}: 1`);
        const origin = req.headers.origin;
        if (origin !== undefined && !sameOrigin(origin, req, opts.allowedOrigins ?? []))
          throw forbidden(
            `the Origin ${JSON.stringify(origin)} may not make changes with the session cookie`,
          );
      }
      return { ...user, via: 'cookie' };
    }
    if (required)
      throw unauthorized(
        'sign in: an Authorization: Bearer <token> header or the session cookie is required',
      );
    return undefined;
  };
}

function sameOrigin(origin: string, req: FastifyRequest, allowed: readonly string[]): boolean {
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** Throws 403 unless the request's principal has one of the roles (admin always may). */
export function requireRole(principal: Principal | undefined, ...roles: Role[]): Principal {
  if (!principal) throw unauthorized();
  if (principal.role === 'admin' || roles.includes(principal.role)) return principal;
  throw forbidden(
    `this action needs the role ${['admin', ...roles].join(' or ')}; you are ${principal.role}`,
  );
}
