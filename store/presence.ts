import type { Logger } from '../kernel/index.ts';
import type { Db } from './db.ts';

/**
 * A device's online history (issue 11, the device page): every connect and disconnect the registry
 * sees is written to `device_presence`. Writes go through one bounded queue so a flapping fleet or
 * a slow store never holds up the broker; past the bound a change is dropped, counted and logged
 * (throttled) — presence is bookkeeping, not accepted device data. A hub that stopped without
 * recording its devices' disconnects (a crash) closes their open periods at its next start.
 */
export interface PresenceEvent {
  ts: number;
  online: boolean;
}
export interface PresencePeriod {
  from: string;
  to: string;
  online: boolean;
}

const MAX_PENDING = 10_000;

export function createPresenceLog(deps: { db: Db; logger: Logger; now: () => number }) {
  const { db, logger } = deps;
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let dropped = 0;
  let lastWarn = 0;
  const warn = (err: unknown, msg: string) => {
    const t = Date.now();
    if (t - lastWarn < 60_000) return;
    lastWarn = t;
    logger.warn({ err, dropped }, msg);
  };

  return {
    /** Closes the periods left open by a hub that stopped without recording the disconnects. */
    async start() {
      await db.query(
        `INSERT INTO device_presence (device_id, ts, online)
         SELECT device_id, $1, false FROM (
           SELECT DISTINCT ON (device_id) device_id, online FROM device_presence
            ORDER BY device_id, ts DESC, online ASC) last
          WHERE last.online
         ON CONFLICT DO NOTHING`,
        [new Date(deps.now())],
      );
    },
    record(deviceId: string, online: boolean, at = deps.now()) {
      if (pending >= MAX_PENDING) {
        dropped++;
        warn(undefined, 'presence history: queue full, connect/disconnect changes dropped');
        return;
      }
      pending++;
      chain = chain
        .then(() =>
          db.query(
            'INSERT INTO device_presence (device_id, ts, online) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
            [deviceId, new Date(at), online],
          ),
        )
        .then(
          () => {},
          (err) => {
            dropped++;
            warn(err, 'presence history: a connect/disconnect change could not be written');
          },
        )
        .finally(() => {
          pending--;
        });
    },
    /** Waits for what was recorded so far (stop, tests). */
    flush: () => chain,
    dropped: () => dropped,
  };
}
export type PresenceLog = ReturnType<typeof createPresenceLog>;

/** The changes in [from, to) and the last one before `from` (the state the window opens with). */
export async function readPresence(
  db: Db,
  q: { deviceId: string; from: number; to: number; limit: number },
): Promise<{ before: PresenceEvent | null; events: PresenceEvent[]; truncated: boolean }> {
  const conv = (r: { ts: Date | string; online: boolean }) => ({
    ts: new Date(r.ts).getTime(),
    online: r.online,
  });
  const before = await db.query<{ ts: Date; online: boolean }>(
    `SELECT ts, online FROM device_presence WHERE device_id = $1 AND ts < $2
      ORDER BY ts DESC, online ASC LIMIT 1`,
    [q.deviceId, new Date(q.from)],
  );
  const rows = await db.query<{ ts: Date; online: boolean }>(
    `SELECT ts, online FROM device_presence WHERE device_id = $1 AND ts >= $2 AND ts < $3
      ORDER BY ts ASC, online DESC LIMIT $4`,
    [q.deviceId, new Date(q.from), new Date(q.to), q.limit + 1],
  );
  return {
    before: before[0] ? conv(before[0]) : null,
    events: rows.slice(0, q.limit).map(conv),
    truncated: rows.length > q.limit,
  };
}

/**
 * Online and offline periods over [from, to) from the changes (pure). Before the first known
 * change the state is unknown: no period is drawn there. Repeated states merge; a period
 * shorter than nothing (a connect and disconnect in the same millisecond) is left out.
 */
export function presencePeriods(
  before: PresenceEvent | null,
  events: PresenceEvent[],
  from: number,
  to: number,
): PresencePeriod[] {
  const out: { from: number; to: number; online: boolean }[] = [];
  let cur: { at: number; online: boolean } | null = before ? { at: from, online: before.online } : null;
  for (const e of events) {
    if (e.ts < from || e.ts >= to) continue;
    if (cur && cur.online === e.online) continue;
    if (cur && e.ts > cur.at) out.push({ from: cur.at, to: e.ts, online: cur.online });
    cur = { at: e.ts, online: e.online };
  }
  if (cur && to > cur.at) out.push({ from: cur.at, to, online: cur.online });
  const merged: typeof out = [];
  for (const p of out) {
    const prev = merged[merged.length - 1];
    if (prev && prev.online === p.online && prev.to === p.from) prev.to = p.to;
    else merged.push({ ...p });
  }
  return merged.map((p) => ({
    from: new Date(p.from).toISOString(),
    to: new Date(p.to).toISOString(),
    online: p.online,
  }));
}
