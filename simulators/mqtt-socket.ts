/**
 * One load-generator connection: MQTT 3.1.1, clean session, no reconnection (a load generator counts
 * a lost connection, it does not hide it), TCP_NODELAY by default so client-side Nagle does not shape
 * the latency figures.
 */
import type { Socket } from 'node:net';
import { connect, type MqttClient } from 'mqtt';

export interface MqttSocketOptions {
  /** The device's access token (ThingsBoard's convention). */
  username?: string;
  /** '' lets the broker assign one. */
  clientId?: string;
  /** Seconds (default 60). */
  keepalive?: number;
  /** Default 30 s. */
  connectTimeoutMs?: number;
  /** TCP_NODELAY (default true). */
  noDelay?: boolean;
  /** Errors after CONNACK (the client then closes; listen for 'close' to see it). */
  onError?: (err: Error) => void;
}

/**
 * Resolves at CONNACK. Rejects with the client's error (a refused CONNACK keeps its numeric `code`)
 * or when the connection closes first; the client is then ended.
 */
export function openMqttSocket(url: string, opts: MqttSocketOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const c = connect(url, {
      username: opts.username,
      clientId: opts.clientId ?? '',
      clean: true,
      protocolVersion: 4,
      keepalive: opts.keepalive ?? 60,
      reconnectPeriod: 0,
      connectTimeout: opts.connectTimeoutMs ?? 30_000,
    });
    c.once('connect', () => {
      settled = true;
      if (opts.noDelay !== false) (c.stream as Socket).setNoDelay?.(true);
      resolve(c);
    });
    c.on('error', (err) => {
      if (settled) return opts.onError?.(err);
      settled = true;
      c.end(true);
      reject(err);
    });
    c.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('connection closed before CONNACK'));
    });
  });
}
