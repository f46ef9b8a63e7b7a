/**
 * What a load run is asked to do (LoadOptions) and what it says back: the progress snapshot and the final
 * report.
 */

export interface LoadOptions {
  mqttUrl: string;
  apiUrl: string;
  adminToken: string;
  devices: number;
  /** A number of sockets (gateways when below `devices`) or one per device. */
  sockets: number | 'per-device';
  qos: 0 | 1;
  /** Messages per second overall; default: as fast as the window allows. */
  rate?: number;
  /** Stops by itself after this long of publishing (else at `signal`). */
  durationMs?: number;
  signal?: AbortSignal;
  /** Readings per record, 1–6 (default 3). */
  keys?: number;
  /** Multiplexed: children per gateway message (default 1). */
  batch?: number;
  /** Unacknowledged messages per socket (default: 4,000 over all sockets, 1–64 each). */
  inflight?: number;
  /** Device ids start with this (default `load`). */
  prefix?: string;
  seed?: number;
  /** Longest wait for the last acknowledgements after the end (default 10 s). */
  drainMs?: number;
  /** Subscribe as the ThingsBoard SDKs do (default true), to see SUBACK refusals. */
  subscribe?: boolean;
  /** HTTP attempts while the hub is unreachable (default 5). */
  attempts?: number;
  onRetry?: (message: string) => void;
  connectConcurrency?: number;
  registerConcurrency?: number;
}

export type LoadPhase = 'provision' | 'connect' | 'announce' | 'publish' | 'drain' | 'close' | 'done';

export interface LoadSnapshot {
  phase: LoadPhase;
  /** Progress of provision/connect/announce: done of total. */
  step: { done: number; total: number };
  sockets: number;
  connected: number;
  devices: number;
  sent: number;
  acked: number;
  /** Readings in acknowledged messages (QoS 0: in written messages). */
  readings: number;
  refused: number;
  errors: number;
  inflight: number;
  /** Since publishing started. */
  elapsedMs: number;
}

export interface LoadReport {
  devices: number;
  sockets: number;
  layout: 'per-device' | 'gateways';
  qos: 0 | 1;
  keys: number;
  batch: number;
  inflightPerSocket: number;
  /** Target messages/s, or null for as fast as acknowledged. */
  rate: number | null;
  provisionMs: number;
  connectMs: number;
  /** Gateway children announced (multiplexed layout), and how long that took. */
  announced: number;
  announceMs: number;
  /** Publishing window (ms) and what happened in it. */
  durationMs: number;
  connected: number;
  sent: number;
  /** PUBACKs (QoS 1); for QoS 0, messages written to the sockets. */
  acknowledged: number;
  refused: { total: number; connack: number; suback: number; closed: number; unacked: number };
  errors: number;
  /** Readings acknowledged (QoS 0: written). */
  readings: number;
  messagesPerSec: number;
  readingsPerSec: number;
  /** Publish → PUBACK (QoS 1) or → written (QoS 0). */
  ackLatencyMs: { p50: number; p99: number; max: number } | null;
  /** What the hub's /metrics says it accepted meanwhile (all devices), if it could be read. */
  hubAccepted: number | null;
  /** QoS 0: hubAccepted over the time until the hub had it all (what it really kept up with). */
  hubReadingsPerSec: number | null;
  /** The first few distinct error messages. */
  firstErrors: string[];
}
