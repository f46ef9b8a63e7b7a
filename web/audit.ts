import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';

/**
 * The audit log (issue 7): every change made through the API — who (actor, role, how they signed
 * in), from where, when (hub clock), what (the route's declared audit name, its target and route)
 * and the outcome (status). Written after the answer, in the background: an audit write that fails
 * is logged and counted, never turned into a failed request. Bodies are not copied (they carry
 * passwords and tokens); only the few fields that say what was done.
 */
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  role: string;
  via: string | null;
  address: string | null;
  action: string;
  method: string;
  route: string;
  target: string | null;
  status: number;
  outcome: 'ok' | 'denied' | 'failed';
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  outcome?: 'ok' | 'denied' | 'failed';
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

// Body fields worth recording: what a case action, a role change or a clock move was.
const DETAIL_FIELDS = [
  'action',
  'assignee',
  'role',
  'unitId',
  'profile',
  'advance',
  'set',
  'username',
  'method',
];

export function createAudit(deps: { db: Db; now: () => number; logger: Logger; onError?: () => void }) {
  const { db } = deps;
  let pending = Promise.resolve();

  function record(req: FastifyRequest, reply: FastifyReply, action: string) {
    const p = req.principal;
    const params = (req.params ?? {}) as Record<string, unknown>;
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const detail: Record<string, unknown> = {};
    for (const k of DETAIL_FIELDS) {
      const v = body[k];
      if (typeof v === 'string' || typeof v === 'number')
        detail[k] = typeof v === 'string' ? v.slice(0, 128) : v;
    }
    const target = [params.id, params.code].find((v) => typeof v === 'string') as string | undefined;
    const status = reply.statusCode;
    const outcome =
      status < 400 ? 'ok' : status === 401 || status === 403 || status === 429 ? 'denied' : 'failed';
    const actor = p?.userId ?? (p?.kind === 'admin' ? 'admin-token' : 'anonymous');
    const row = [
      new Date(deps.now()),
      actor,
      p?.role ?? 'none',
      p?.via ?? null,
      req.ip ?? null,
      action,
      req.method,
      req.routeOptions.url ?? '',
      target?.slice(0, 200) ?? null,
      status,
      outcome,
      detail,
    ];
    // One write at a time, in order; the request has been answered already.
    pending = pending.then(() =>
      db
        .query(
          `INSERT INTO audit_log (at, actor, role, via, address, action, method, route, target, status, outcome, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          row,
        )
        .then(
          () => undefined,
          (err) => {
            deps.onError?.();
            deps.logger.error({ err, action }, 'audit write failed');
          },
        ),
    );
  }

  async function list(f: AuditFilter): Promise<{ items: AuditEntry[]; next: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.actor) add('actor = ?', f.actor);
    if (f.action) add('action = ?', f.action);
    if (f.outcome) add('outcome = ?', f.outcome);
    if (f.from !== undefined) add('at >= ?', new Date(f.from));
    if (f.to !== undefined) add('at < ?', new Date(f.to));
    if (f.cursor) add('id < ?', f.cursor);
    params.push(f.limit + 1);
    const rows = await db.query<Record<string, unknown>>(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    const items = rows.slice(0, f.limit).map(
      (r): AuditEntry => ({
        id: String(r.id),
        at: new Date(r.at as string).toISOString(),
        actor: r.actor as string,
        role: r.role as string,
        via: (r.via as string) ?? null,
        address: (r.address as string) ?? null,
        action: r.action as string,
        method: r.method as string,
        route: r.route as string,
        target: (r.target as string) ?? null,
        status: Number(r.status),
        outcome: r.outcome as AuditEntry['outcome'],
        detail: (r.detail as Record<string, unknown>) ?? {},
      }),
    );
    const last = items[items.length - 1];
    return { items, next: rows.length > f.limit && last ? last.id : null };
  }

  async function purge(retentionMs: number): Promise<void> {
    await db.query('DELETE FROM audit_log WHERE at < $1', [new Date(deps.now() - retentionMs)]);
  }

  return { record, list, purge, flush: () => pending };
}
export type Audit = ReturnType<typeof createAudit>;
