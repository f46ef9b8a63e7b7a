/**
 * Server-side RPC (hub → device, ThingsBoard's `v1/devices/me/rpc/request/N`) with an expiry and a
 * state. A command not delivered by its expiry is never sent late: a crane cut-off arriving hours
 * later is a hazard (contract, Hub → device). States: queued (published, not yet written to the
 * device), sent (written), delivered (the device's PUBACK came back), answered (its response on
 * `rpc/response/N`), expired (not delivered by the expiry), failed (no answer to a two-way call
 * by the expiry, or the device was deleted).
 *
 * The state machine is here; the gateway calls it from the broker's hooks.
 */
import { randomUUID } from 'node:crypto';

export type RpcState = 'queued' | 'sent' | 'delivered' | 'answered' | 'expired' | 'failed';

export interface RpcRecord {
  id: string;
  deviceId: string;
  /** N in `v1/devices/me/rpc/request/N`. */
  requestId: number;
  method: string;
  params: unknown;
  oneway: boolean;
  state: RpcState;
  createdAt: string;
  expiresAt: string;
  sentAt: string | null;
  deliveredAt: string | null;
  answeredAt: string | null;
  response: unknown;
  error: string | null;
}

export interface RpcRequest {
  method: string;
  params?: unknown;
  /** Absolute expiry (epoch ms), as ThingsBoard's `expirationTime`. */
  expirationTime?: number;
  /** Relative expiry in ms when no `expirationTime` (default 60 s). */
  timeout?: number;
  oneway?: boolean;
}

export const RPC_DEFAULT_TIMEOUT_MS = 60_000;
const MAX_RECORDS = 10_000;
const FINAL: RpcState[] = ['answered', 'expired', 'failed'];

export function createRpcTracker(deps: {
  now: () => number;
  /** Publishes the request to the device (QoS 1) with an MQTT message expiry in seconds. */
  publish: (deviceId: string, topic: string, payload: unknown, expirySeconds: number) => Promise<void>;
  onChange?: (r: RpcRecord) => void;
}) {
  const records = new Map<string, RpcRecord>();
  const byRequest = new Map<string, string>(); // `${deviceId}\0${requestId}` → id
  const nextRequestId = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  const iso = (t: number) => new Date(t).toISOString();
  const key = (deviceId: string, requestId: number | string) => `${deviceId}\u0000${requestId}`;

  function set(r: RpcRecord, state: RpcState, patch: Partial<RpcRecord> = {}) {
    Object.assign(r, patch, { state });
    if (FINAL.includes(state)) {
      const timer = timers.get(r.id);
      if (timer) clearTimeout(timer);
      timers.delete(r.id);
      byRequest.delete(key(r.deviceId, r.requestId));
    }
    deps.onChange?.(r);
  }

  /** Bounded: the oldest finished records go first, then the oldest of all. */
  function evict() {
    if (records.size < MAX_RECORDS) return;
    for (const [id, r] of records) {
      if (FINAL.includes(r.state)) {
        records.delete(id);
        if (records.size < MAX_RECORDS) return;
      }
    }
    const oldest = records.keys().next().value;
    if (oldest) {
      const r = records.get(oldest)!;
      set(r, 'failed', { error: 'dropped: too many RPCs pending' });
      records.delete(oldest);
    }
  }

  function send(deviceId: string, req: RpcRequest): RpcRecord {
    const now = deps.now();
    const expiresAt = req.expirationTime ?? now + (req.timeout ?? RPC_DEFAULT_TIMEOUT_MS);
    const requestId = nextRequestId.get(deviceId) ?? 1;
    nextRequestId.set(deviceId, requestId >= 2 ** 31 - 1 ? 1 : requestId + 1);
    evict();
    const r: RpcRecord = {
      id: randomUUID(),
      deviceId,
      requestId,
      method: req.method,
      params: req.params ?? {},
      oneway: req.oneway ?? false,
      state: 'queued',
      createdAt: iso(now),
      expiresAt: iso(expiresAt),
      sentAt: null,
      deliveredAt: null,
      answeredAt: null,
      response: null,
      error: null,
    };
    records.set(r.id, r);
    byRequest.set(key(deviceId, requestId), r.id);
    const timer = setTimeout(() => expire(r), Math.max(0, expiresAt - now));
    timer.unref?.();
    timers.set(r.id, timer);
    if (expiresAt <= now) {
      set(r, 'expired', { error: 'expired before it was sent' });
      return r;
    }
    deps
      .publish(
        deviceId,
        `v1/devices/me/rpc/request/${requestId}`,
        { method: r.method, params: r.params },
        Math.max(1, Math.ceil((expiresAt - now) / 1000)),
      )
      .catch((err: Error) => set(r, 'failed', { error: `could not publish: ${err.message}` }));
    return r;
  }

  function expire(r: RpcRecord) {
    timers.delete(r.id);
    if (r.state === 'queued' || r.state === 'sent')
      set(r, 'expired', { error: 'not delivered before the expiry' });
    else if (r.state === 'delivered' && !r.oneway)
      set(r, 'failed', { error: 'no response before the expiry' });
  }

  const find = (deviceId: string, requestId: number | string) => {
    const id = byRequest.get(key(deviceId, requestId));
    return id ? records.get(id) : undefined;
  };

  return {
    send,
    /** About to be written to the device: false when it must not be (expired or finished). */
    forwarding(deviceId: string, requestId: number | string): boolean {
      const r = find(deviceId, requestId);
      if (!r) return false; // unknown or finished: never sent (again)
      if (Date.parse(r.expiresAt) <= deps.now()) {
        set(r, 'expired', { error: 'not delivered before the expiry' });
        return false;
      }
      if (r.state === 'queued') set(r, 'sent', { sentAt: iso(deps.now()) });
      return true;
    },
    delivered(deviceId: string, requestId: number | string) {
      const r = find(deviceId, requestId);
      if (!r || (r.state !== 'sent' && r.state !== 'queued')) return;
      set(r, 'delivered', { deliveredAt: iso(deps.now()) });
      if (r.oneway) {
        // A one-way call ends at delivery: no response is awaited.
        clearTimeout(timers.get(r.id));
        timers.delete(r.id);
        byRequest.delete(key(r.deviceId, r.requestId));
      }
    },
    answered(deviceId: string, requestId: number | string, payload: Buffer) {
      const r = find(deviceId, requestId);
      if (!r) return false;
      let response: unknown = payload.subarray(0, 65_536).toString('utf8');
      try {
        response = JSON.parse(response as string);
      } catch {}
      set(r, 'answered', {
        response,
        answeredAt: iso(deps.now()),
        deliveredAt: r.deliveredAt ?? iso(deps.now()),
      });
      return true;
    },
    deviceGone(deviceId: string) {
      for (const r of records.values())
        if (r.deviceId === deviceId && !FINAL.includes(r.state))
          set(r, 'failed', { error: 'device deleted' });
      nextRequestId.delete(deviceId);
    },
    get: (id: string) => records.get(id),
    list: (deviceId: string) => [...records.values()].filter((r) => r.deviceId === deviceId).reverse(),
    stop() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
export type RpcTracker = ReturnType<typeof createRpcTracker>;
