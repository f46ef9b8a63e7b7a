import { createHash, randomBytes } from 'node:crypto';
import type { Role } from '../domain/index.ts';
import { badRequest, conflict, GridhubError, notFound, unauthorized } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { createHasher, type Hasher, passwordProblem } from './passwords.ts';
import { createMemorySessionStore, type Session, type SessionStore } from './sessions.ts';
import { createMemoryThrottle, type Throttle, type ThrottleOptions } from './throttle.ts';

export interface User {
  id: string;
  name: string;
  role: Role;
  unitId: string | null;
  gridCodes: string[];
}
export interface Unit {
  id: string;
  name: string;
  categories: string[];
  gridCodes: string[];
}

export interface SessionOptions {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, used or not. */
  absoluteMs: number;
}
export const DEFAULT_SESSIONS: SessionOptions = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000 };

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
// A session's last use is written back at most this often (the in-memory value is exact).
const TOUCH_EVERY_MS = 60_000;

export class PasswordPolicyError extends GridhubError {
  constructor(problem: string) {
    super('GRIDHUB_ERR_PASSWORD_POLICY', `password: ${problem}`, 400);
  }
}

function tooMany(waitMs: number, what: string): GridhubError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new GridhubError(
    'GRIDHUB_ERR_TOO_MANY_ATTEMPTS',
    `too many failed sign-ins for this ${what}; try again in ${seconds} s`,
    429,
    { retryAfterSeconds: seconds },
  );
}

/**
 * Users (with their role, unit and assigned grids), responsible units and sessions. Session tokens
 * are random, kept only as SHA-256 (in the store and in memory for the request path), end after
 * an idle period and an absolute lifetime, and all of a user's sessions end when their password,
 * role, unit or grids change.
 */
export async function createPeople(deps: {
  db: Db;
  now: () => number;
  sessions?: Partial<SessionOptions>;
  hasher?: Hasher;
  throttle?: { user?: Partial<ThrottleOptions>; address?: Partial<ThrottleOptions> };
  /** Sign-in throttles per user and per address (default: this process's memory, `throttle` options). */
  throttles?: { user?: Throttle; address?: Throttle };
  /** Sessions by token hash (default: this process's memory). */
  sessionStore?: SessionStore;
}) {
  const { db } = deps;
  const sessionOpts = { ...DEFAULT_SESSIONS, ...deps.sessions };
  const hasher = deps.hasher ?? createHasher();
  const users = new Map<string, User>();
  const units = new Map<string, Unit>();
  const sessions = deps.sessionStore ?? createMemorySessionStore();
  // Per user: a few tries, then a growing wait; per address: more tries (a shared NAT), same idea.
  const byUser =
    deps.throttles?.user ??
    createMemoryThrottle(deps.now, {
      freeFailures: 5,
      windowMs: 15 * 60_000,
      baseDelayMs: 30_000,
      maxDelayMs: 15 * 60_000,
      maxKeys: 10_000,
      ...deps.throttle?.user,
    });
  const byAddress =
    deps.throttles?.address ??
    createMemoryThrottle(deps.now, {
      freeFailures: 20,
      windowMs: 15 * 60_000,
      baseDelayMs: 30_000,
      maxDelayMs: 15 * 60_000,
      maxKeys: 10_000,
      ...deps.throttle?.address,
    });

  type UserRow = { id: string; name: string; role: Role; unit_id: string | null; grid_codes: string[] };
  type UnitRow = { id: string; name: string; categories: string[]; grid_codes: string[] };
  const toUser = (r: UserRow): User => ({
    id: r.id,
    name: r.name,
    role: r.role,
    unitId: r.unit_id,
    gridCodes: r.grid_codes ?? [],
  });
  const toUnit = (r: UnitRow): Unit => ({
    id: r.id,
    name: r.name,
    categories: r.categories ?? [],
    gridCodes: r.grid_codes ?? [],
  });

  const alive = (s: Session, t: number) => s.expiresAt > t && s.lastUsed + sessionOpts.idleMs > t;

  async function load() {
    users.clear();
    units.clear();
    sessions.clear();
    for (const r of await db.query<UnitRow>('SELECT * FROM units')) units.set(r.id, toUnit(r));
    for (const r of await db.query<UserRow>('SELECT id, name, role, unit_id, grid_codes FROM users'))
      users.set(r.id, toUser(r));
    const t = deps.now();
    for (const r of await db.query<{
      token_hash: string;
      user_id: string;
      expires_at: Date;
      created_at: Date | null;
      last_used_at: Date | null;
    }>('SELECT * FROM user_tokens WHERE expires_at > $1', [new Date(t)])) {
      const lastUsed = r.last_used_at ? new Date(r.last_used_at).getTime() : t;
      const s: Session = {
        userId: r.user_id,
        createdAt: r.created_at ? new Date(r.created_at).getTime() : t,
        expiresAt: new Date(r.expires_at).getTime(),
        lastUsed,
        written: lastUsed,
      };
      if (alive(s, t)) sessions.set(r.token_hash, s);
    }
  }

  async function upsertUnit(u: Unit) {
    const [row] = await db.query<UnitRow>(
      `INSERT INTO units (id, name, categories, grid_codes) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, categories = excluded.categories, grid_codes = excluded.grid_codes
       RETURNING *`,
      [u.id, u.name, u.categories, u.gridCodes],
    );
    const unit = toUnit(row!);
    units.set(unit.id, unit);
    return unit;
  }

  function checkPolicy(password: string, user: { id: string; name?: string }) {
    const problem = passwordProblem(password, user);
    if (problem) throw new PasswordPolicyError(problem);
  }

  function checkRoleFields(u: { role: Role; unitId: string | null }) {
    if (u.unitId && !units.has(u.unitId)) throw badRequest(`unitId: no unit '${u.unitId}'`);
    if (u.role === 'unit' && !u.unitId)
      throw badRequest('unitId: a user with the role unit belongs to a unit');
  }

  async function createUser(input: User & { password: string }) {
    if (users.has(input.id)) throw conflict(`user '${input.id}' already exists`);
    checkRoleFields(input);
    checkPolicy(input.password, input);
    const [row] = await db.query<UserRow>(
      `INSERT INTO users (id, name, role, unit_id, grid_codes, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING id, name, role, unit_id, grid_codes`,
      [input.id, input.name, input.role, input.unitId, input.gridCodes, await hasher.hash(input.password)],
    );
    const user = toUser(row!);
    users.set(user.id, user);
    return user;
  }

  /** Ends every session of a user (but `keep`, the caller's own, when given). */
  async function endSessions(userId: string, keep?: string): Promise<number> {
    const keepHash = keep === undefined ? undefined : sha(keep);
    let n = 0;
    for (const [h, s] of sessions.entries())
      if (s.userId === userId && h !== keepHash) {
        sessions.delete(h);
        n++;
      }
    await db.query('DELETE FROM user_tokens WHERE user_id = $1 AND token_hash <> $2', [
      userId,
      keepHash ?? '',
    ]);
    return n;
  }

  async function updateUser(
    id: string,
    patch: Partial<Pick<User, 'name' | 'role' | 'unitId' | 'gridCodes'>> & { password?: string },
  ) {
    const current = users.get(id);
    if (!current) throw notFound('user', id);
    const next: User = {
      ...current,
      ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)),
    };
    delete (next as { password?: string }).password;
    checkRoleFields(next);
    if (patch.password !== undefined) checkPolicy(patch.password, next);
    const hash = patch.password === undefined ? null : await hasher.hash(patch.password);
    const [row] = await db.query<UserRow>(
      `UPDATE users SET name = $2, role = $3, unit_id = $4, grid_codes = $5, password_hash = COALESCE($6, password_hash)
       WHERE id = $1 RETURNING id, name, role, unit_id, grid_codes`,
      [id, next.name, next.role, next.unitId, next.gridCodes, hash],
    );
    const user = toUser(row!);
    users.set(id, user);
    const scopeChanged =
      user.role !== current.role ||
      user.unitId !== current.unitId ||
      user.gridCodes.join() !== current.gridCodes.join();
    if (hash || scopeChanged) await endSessions(id);
    return user;
  }

  async function deleteUser(id: string) {
    if (!users.has(id)) throw notFound('user', id);
    await db.query('DELETE FROM users WHERE id = $1', [id]);
    users.delete(id);
    for (const [h, s] of sessions.entries()) if (s.userId === id) sessions.delete(h);
  }

  async function newSession(id: string) {
    const token = randomBytes(32).toString('base64url');
    const t = deps.now();
    const expiresAt = t + sessionOpts.absoluteMs;
    await db.query(
      'INSERT INTO user_tokens (token_hash, user_id, expires_at, created_at, last_used_at) VALUES ($1, $2, $3, $4, $4)',
      [sha(token), id, new Date(expiresAt), new Date(t)],
    );
    sessions.set(sha(token), { userId: id, createdAt: t, expiresAt, lastUsed: t, written: t });
    return { token, expiresAt: new Date(expiresAt).toISOString(), user: users.get(id)! };
  }

  /**
   * Sign-in: throttled per user name and per address before any hashing, the same KDF work for an
   * unknown user, one answer for both failures.
   */
  async function login(id: string, password: string, address = 'unknown') {
    const wait = Math.max(byUser.wait(id), byAddress.wait(address));
    if (wait > 0) throw tooMany(wait, byUser.wait(id) >= wait ? 'user' : 'address');
    const rows = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      id,
    ]);
    const stored = rows[0]?.password_hash;
    const ok = await hasher.verify(password, stored);
    if (!ok || !users.has(id)) {
      byUser.fail(id);
      byAddress.fail(address);
      throw unauthorized('unknown user or wrong password');
    }
    byUser.succeed(id);
    if (stored && hasher.outdated(stored)) {
      await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, await hasher.hash(password)]);
    }
    return newSession(id);
  }

  /** Changes one's own password (the current one is checked); ends the user's other sessions. */
  async function changePassword(
    id: string,
    current: string,
    next: string,
    keepToken?: string,
    address?: string,
  ) {
    const user = users.get(id);
    if (!user) throw notFound('user', id);
    const wait = byUser.wait(id);
    if (wait > 0) throw tooMany(wait, 'user');
    const rows = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      id,
    ]);
    if (!(await hasher.verify(current, rows[0]?.password_hash))) {
      byUser.fail(id);
      if (address) byAddress.fail(address);
      throw new GridhubError('GRIDHUB_ERR_FORBIDDEN', 'currentPassword: wrong password', 403);
    }
    checkPolicy(next, user);
    if (next === current) throw new PasswordPolicyError('the new password is the current one');
    await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, await hasher.hash(next)]);
    return endSessions(id, keepToken);
  }

  async function logout(token: string) {
    sessions.delete(sha(token));
    await db.query('DELETE FROM user_tokens WHERE token_hash = $1', [sha(token)]);
  }

  function userForToken(token: string): User | undefined {
    const h = sha(token);
    const s = sessions.get(h);
    if (!s) return undefined;
    const t = deps.now();
    if (!alive(s, t)) {
      sessions.delete(h);
      return undefined;
    }
    s.lastUsed = t;
    if (t - s.written >= TOUCH_EVERY_MS) {
      s.written = t;
      db.query('UPDATE user_tokens SET last_used_at = $2 WHERE token_hash = $1', [h, new Date(t)]).catch(
        () => {},
      );
    }
    return users.get(s.userId);
  }

  /** Ends expired sessions (memory and store) and forgets old throttle entries. */
  async function purge(): Promise<number> {
    const t = deps.now();
    let n = 0;
    for (const [h, s] of sessions.entries())
      if (!alive(s, t)) {
        sessions.delete(h);
        n++;
      }
    byUser.purge();
    byAddress.purge();
    await db.query(
      'DELETE FROM user_tokens WHERE expires_at <= $1 OR COALESCE(last_used_at, created_at, expires_at) <= $2',
      [new Date(t), new Date(t - sessionOpts.idleMs)],
    );
    return n;
  }

  return {
    start: load,
    stop: async () => {},
    load,
    users: {
      list: () => [...users.values()].sort((a, b) => a.id.localeCompare(b.id)),
      get: (id: string) => users.get(id),
      create: createUser,
      update: updateUser,
      delete: deleteUser,
    },
    units: {
      list: () => [...units.values()].sort((a, b) => a.id.localeCompare(b.id)),
      get: (id: string) => units.get(id),
      upsert: upsertUnit,
      /** Units that handle a category (in a grid, when they are limited to some), for dispatch suggestions. */
      suggest: (category: string, gridCode: string | null) =>
        [...units.values()].filter(
          (u) =>
            u.categories.includes(category) &&
            (u.gridCodes.length === 0 ||
              (gridCode !== null && u.gridCodes.some((g) => gridCode.startsWith(g)))),
        ),
    },
    login,
    logout,
    changePassword,
    endSessions,
    userForToken,
    purge,
    sessionCount: () => sessions.size(),
    hasherStats: () => hasher.stats(),
  };
}
export type People = Awaited<ReturnType<typeof createPeople>>;
