/**
 * Limits at run time (the pure rules are in limits.ts): each device's rate buckets and breach
 * window, breaches counted per device and reason, the cool-down that disconnects a device past its
 * threshold, and the telemetry-key limit of open profiles. The records live in the gateway state
 * (state.ts), so a multi-process hub can partition them by device.
 */

import { PROFILES } from '../domain/index.ts';
import { parseGatewayTelemetry, parseJson, parseTelemetry } from '../ingest/index.ts';
import type { Device } from '../registry/index.ts';
import type { GatewayContext } from './context.ts';
import { BreachWindow, resolveLimits, TokenBucket } from './limits.ts';
import { kick, RC } from './mqtt5.ts';
import type { BreachReason, DeviceEdge } from './state.ts';

export function createPacing(ctx: GatewayContext) {
  const { edge, limitsConfig, m, log } = ctx;
  const { edges, keys } = ctx.state;

  function edgeOf(device: Device): DeviceEdge {
    const now = Date.now();
    let e = edges.get(device.id);
    const attr = device.serverAttributes.limits as Record<string, unknown> | undefined;
    if (!e) {
      const limits = resolveLimits(device, limitsConfig);
      e = {
        messages: new TokenBucket(
          limits.messagesPerSecond,
          limits.messagesPerSecond * limits.burstSeconds,
          now,
        ),
        bytes: new TokenBucket(
          limits.bytesPerSecond,
          Math.max(limits.bytesPerSecond * limits.burstSeconds, edge.maxPacketBytes),
          now,
        ),
        window: new BreachWindow(),
        breaches: {},
        coolDownUntil: 0,
        limits,
        limitsOf: attr,
      };
      edges.set(device.id, e);
    } else if (e.limitsOf !== attr) {
      // The device's `limits` attribute changed through the API: retune without losing its state.
      e.limits = resolveLimits(device, limitsConfig);
      e.limitsOf = attr;
      e.messages.retune(e.limits.messagesPerSecond, e.limits.messagesPerSecond * e.limits.burstSeconds);
      e.bytes.retune(
        e.limits.bytesPerSecond,
        Math.max(e.limits.bytesPerSecond * e.limits.burstSeconds, edge.maxPacketBytes),
      );
    }
    return e;
  }

  /** Counts a breach; past the device's threshold, disconnects it for its cool-down. */
  function breach(device: Device, reason: BreachReason, detail: string, towardsThreshold = true) {
    const e = edgeOf(device);
    e.breaches[reason] = (e.breaches[reason] ?? 0) + 1;
    m.breaches.inc({ reason });
    ctx.warnThrottled(
      `breach\u0000${device.id}\u0000${reason}`,
      { deviceId: device.id, reason, detail },
      'device limit breached',
    );
    const l = e.limits;
    if (towardsThreshold && e.window.hit(Date.now(), l.breachWindowSeconds * 1000, l.breachThreshold))
      coolDown(device, e);
  }

  function coolDown(device: Device, e: DeviceEdge) {
    e.window.reset();
    e.coolDownUntil = Date.now() + e.limits.coolDownSeconds * 1000;
    m.coolDowns.inc();
    log.warn(
      { deviceId: device.id, coolDownSeconds: e.limits.coolDownSeconds },
      'device over its limits: disconnected for a cool-down',
    );
    // MQTT 5: DISCONNECT 0x96 (message rate too high); 3.1.1 has no server DISCONNECT: close.
    for (const c of ctx.clientsOf.get(device.id) ?? []) kick(c, RC.MESSAGE_RATE_TOO_HIGH);
  }

  /** For open profiles: the new keys a message brings must fit the device's key limit. */
  function keysProblem(device: Device, records: { values: Record<string, unknown> }[]): string | undefined {
    if (PROFILES[device.profile].strict) return undefined;
    const max = edgeOf(device).limits.maxKeysPerDevice;
    let known = keys.get(device.id);
    if (!known) {
      known = new Set();
      keys.set(device.id, known);
    }
    const fresh = new Set<string>();
    for (const r of records) for (const k of Object.keys(r.values)) if (!known.has(k)) fresh.add(k);
    if (fresh.size === 0) return undefined;
    if (known.size + fresh.size > max) {
      breach(device, 'keys', `${known.size + fresh.size} keys`);
      return `${fresh.size} new keys would take device '${device.id}' over its limit of ${max} keys`;
    }
    for (const k of fresh) known.add(k);
    return undefined;
  }

  /** Gateway telemetry: each child's new keys, for children of an open profile (or not yet created). */
  function gatewayKeysProblem(gateway: Device, payload: Buffer): string | undefined {
    const json = parseJson(payload);
    const parsed = json.ok ? parseGatewayTelemetry(json.value) : undefined;
    if (!parsed?.ok) return undefined; // ingest names that problem
    const problems: string[] = [];
    for (const [name, body] of parsed.value) {
      const child = ctx.registry.devices.find(name);
      if (child && child.parentId !== gateway.id) continue; // ingest refuses it
      const p = keysProblem(
        child ?? { ...gateway, id: name, profile: 'generic', gateway: false, serverAttributes: {} },
        parseTelemetry(body).records,
      );
      if (p) problems.push(p);
    }
    return problems.length ? problems.join('; ') : undefined;
  }

  /** Telemetry keys of a plain device's message that would go over its limit (open profiles only). */
  function telemetryKeysProblem(device: Device, payload: Buffer): string | undefined {
    if (PROFILES[device.profile].strict) return undefined;
    const json = parseJson(payload);
    return json.ok ? keysProblem(device, parseTelemetry(json.value).records) : undefined;
  }

  /** A deleted device's records go with it. */
  function forget(deviceId: string) {
    edges.delete(deviceId);
    keys.delete(deviceId);
  }

  return { edgeOf, breach, keysProblem, gatewayKeysProblem, telemetryKeysProblem, forget };
}
export type Pacing = ReturnType<typeof createPacing>;
