import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { badRequest, conflict, notFound, unauthorized } from '../hub/errors.ts';
import type { Db } from '../store/db.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export type UserRole = 'admin' | 'operator' | 'dispatcher' | 'unit' | 'inspector' | 'viewer';
export const USER_ROLES: UserRole[] = ['admin', 'operator', 'dispatcher', 'unit', 'inspector', 'viewer'];

export interface User {
  id: string;
  name: string;
  role: UserRole;
  unitId: string | null;
  gridCodes: string[];
}
export interface Unit {
  id: string;
  name: string;
  categories: string[];
  gridCodes: string[];
}

const TOKEN_TTL_MS = 12 * 3_600_000;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// Passwords: scrypt with a per-user salt (people's passwords are low-entropy, unlike device tokens).
async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}
async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [kind, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const got = await scrypt(password, Buffer.from(salt, 'base64'), 32);
  const want = Buffer.from(hash, 'base64');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Users (with their role, unit and assigned grids), responsible units, and bearer tokens from
 * `POST /api/auth/login`. Tokens are kept as SHA-256 and indexed in memory for the request path.
 */
export async function createPeople(deps: { db: Db; now: () => number }) {
  const { db } = deps;
  const users = new Map<string, User>();
  const units = new Map<string, Unit>();
  const tokens = new Map<string, { userId: string; expiresAt: number }>();

  type UserRow = { id: string; name: string; role: UserRole; unit_id: string | null; grid_codes: string[] };
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

  async function load() {
    users.clear();
    units.clear();
    tokens.clear();
    for (const r of await db.query<UnitRow>('SELECT * FROM units')) units.set(r.id, toUnit(r));
    for (const r of await db.query<UserRow>('SELECT id, name, role, unit_id, grid_codes FROM users'))
      users.set(r.id, toUser(r));
    for (const r of await db.query<{ token_hash: string; user_id: string; expires_at: Date }>(
      'SELECT * FROM user_tokens WHERE expires_at > $1',
      [new Date(deps.now())],
    )) {
      tokens.set(r.token_hash, { userId: r.user_id, expiresAt: new Date(r.expires_at).getTime() });
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

  async function createUser(input: User & { password: string }) {
    if (users.has(input.id)) throw conflict(`user '${input.id}' already exists`);
    if (input.unitId && !units.has(input.unitId)) throw badRequest(`unitId: no unit '${input.unitId}'`);
    if (input.role === 'unit' && !input.unitId)
      throw badRequest('unitId: a user with the role unit belongs to a unit');
    const [row] = await db.query<UserRow>(
      `INSERT INTO users (id, name, role, unit_id, grid_codes, password_hash) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING id, name, role, unit_id, grid_codes`,
      [input.id, input.name, input.role, input.unitId, input.gridCodes, await hashPassword(input.password)],
    );
    const user = toUser(row!);
    users.set(user.id, user);
    return user;
  }

  async function deleteUser(id: string) {
    if (!users.has(id)) throw notFound('user', id);
    await db.query('DELETE FROM users WHERE id = $1', [id]);
    users.delete(id);
    for (const [h, t] of tokens) if (t.userId === id) tokens.delete(h);
  }

  async function login(id: string, password: string) {
    const rows = await db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      id,
    ]);
    // The same answer for an unknown user and a wrong password.
    if (!rows[0] || !(await checkPassword(password, rows[0].password_hash)))
      throw unauthorized('unknown user or wrong password');
    const token = randomBytes(24).toString('base64url');
    const expiresAt = deps.now() + TOKEN_TTL_MS;
    await db.query('INSERT INTO user_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)', [
      sha(token),
      id,
      new Date(expiresAt),
    ]);
    tokens.set(sha(token), { userId: id, expiresAt });
    return { token, expiresAt: new Date(expiresAt).toISOString(), user: users.get(id)! };
  }

  function userForToken(token: string): User | undefined {
    const t = tokens.get(sha(token));
    if (!t) return undefined;
    if (t.expiresAt <= deps.now()) {
      tokens.delete(sha(token));
      return undefined;
    }
    return users.get(t.userId);
  }

  return {
    load,
    users: {
      list: () => [...users.values()].sort((a, b) => a.id.localeCompare(b.id)),
      get: (id: string) => users.get(id),
      create: createUser,
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
    userForToken,
  };
}
export type People = Awaited<ReturnType<typeof createPeople>>;
