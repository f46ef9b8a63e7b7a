/**
 * What the MQTT edge keeps in process, behind one small interface per concern (issue 10, item 7),
 * so several hubs on one store can later share or partition it (Redis) without touching the
 * gateway. Every method is synchronous: the broker's hooks run per message, so a shared
 * implementation keeps a local copy and invalidates it from its backend (pub/sub), never a
 * network round trip per message. The in-memory implementations here are what one hub uses.
 */
import type { BreachWindow, DeviceLimits, TokenBucket } from './limits.ts';

/** Why a device's message or connection hit a limit; breaches are counted per device by these. */
export type BreachReason =
  | 'rate_messages'
  | 'rate_bytes'
  | 'inflight'
  | 'subscriptions'
  | 'attribute_size'
  | 'attribute_keys'
  | 'keys'
  | 'children';

/** Per device, across its connections: rate buckets, breach counts, cool-down. */
export interface DeviceEdge {
  messages: TokenBucket;
  bytes: TokenBucket;
  window: BreachWindow;
  breaches: Partial<Record<BreachReason, number>>;
  coolDownUntil: number;
  limits: DeviceLimits;
  /** The `limits` server attribute the limits were resolved from (a new object: retune). */
  limitsOf: Record<string, unknown> | undefined;
}

/** Records by key (a device id or a source address). */
export interface KeyedTable<T> {
  get(key: string): T | undefined;
  set(key: string, value: T): void;
  delete(key: string): void;
  size(): number;
  clear(): void;
}

/** Counts by key; a count that reaches 0 is forgotten. */
export interface Counters {
  /** Adds `delta` (+1 or -1) and returns the new count (never below 0). */
  add(key: string, delta: number): number;
  get(key: string): number;
}

/**
 * Persistent MQTT sessions (subscriptions, offline queues, wills) and the message bus between
 * connections: the `persistence` and `mq` options of the Aedes broker.
 */
export interface BrokerSessions {
  /** Options merged into `Aedes.createBroker`; empty means aedes' own in-memory ones. */
  aedesOptions(): { persistence?: unknown; mq?: unknown };
}

export interface GatewayState {
  /**
   * Pacing per device (token buckets, breach window and counts, cool-down). Shared: partition by
   * device id (its connections land on one hub, e.g. the balancer hashes the username), and
   * publish cool-downs so that another hub refuses the device as well.
   */
  edges: KeyedTable<DeviceEdge>;
  /**
   * Telemetry keys each open-profile device has created (the key limit). Shared: one set per
   * device in Redis; the local copy is invalidated when another hub adds keys.
   */
  keys: KeyedTable<Set<string>>;
  /**
   * Connect-rate buckets per source address. Shared: per-hub buckets with the rate divided by the
   * number of hubs (no coordination on the connect path), or one Redis bucket topped up in batches.
   */
  connectBuckets: KeyedTable<TokenBucket>;
  /**
   * Open connections per device (presence goes offline at 0). Shared: per-hub counts summed
   * (a hash per hub id that expires with the hub), so a device stays online until its last one.
   */
  deviceConnections: Counters;
  /**
   * Open connections per source address (the per-address cap). Shared: each hub caps its own
   * sockets; a global cap sums the per-hub counts, published every second.
   */
  addressConnections: Counters;
  /**
   * Persistent sessions. Shared: aedes-persistence-redis and mqemitter-redis, so a device that
   * reconnects to another hub finds its session and a message published on one hub reaches it.
   */
  sessions: BrokerSessions;
}

export function memoryTable<T>(): KeyedTable<T> {
  const map = new Map<string, T>();
  return {
    get: (key) => map.get(key),
    set: (key, value) => void map.set(key, value),
    delete: (key) => void map.delete(key),
    size: () => map.size,
    clear: () => map.clear(),
  };
}

export function memoryCounters(): Counters {
  const map = new Map<string, number>();
  return {
    add(key, delta) {
      const n = Math.max(0, (map.get(key) ?? 0) + delta);
      if (n === 0) map.delete(key);
      else map.set(key, n);
      return n;
    },
    get: (key) => map.get(key) ?? 0,
  };
}

/** One hub: everything in this process; aedes keeps sessions in its in-memory persistence. */
export function memoryGatewayState(): GatewayState {
  return {
    edges: memoryTable(),
    keys: memoryTable(),
    connectBuckets: memoryTable(),
    deviceConnections: memoryCounters(),
    addressConnections: memoryCounters(),
    sessions: { aedesOptions: () => ({}) },
  };
}
