/**
 * ThingsBoard's attribute and client-side RPC topics: client attributes checked against the
 * device's size and key limits, attribute requests answered from the registry, and the one
 * client-side RPC the hub answers (`getSessionLimits`). Server-side RPC state is in rpc.ts.
 */
import type { RejectCode } from '../ingest/index.ts';
import type { Device } from '../registry/index.ts';
import { type GatewayContext, parseObject } from './context.ts';
import { type DeviceLimits, sessionLimitsAnswer } from './limits.ts';
import type { Pacing } from './pacing.ts';

export function createAttributesRpc(ctx: GatewayContext, pacing: Pacing) {
  const { log } = ctx;

  /** Client attributes: one message's size and keys, and the keys the device holds in total. */
  function checkAttributes(
    device: Device,
    payload: Buffer,
    limits: DeviceLimits,
    current: Record<string, unknown>,
  ): { attrs: Record<string, unknown> } | { invalid: string; code: RejectCode } {
    if (payload.length > limits.maxAttributeBytes) {
      pacing.breach(device, 'attribute_size', `${payload.length} bytes`);
      return {
        code: 'too_large',
        invalid: `attributes of ${payload.length} bytes are over the limit of ${limits.maxAttributeBytes}`,
      };
    }
    const attrs = parseObject(payload);
    if (!attrs) return { code: 'bad_shape', invalid: 'attributes: expected a JSON object' };
    let total = Object.keys(current).length;
    for (const k of Object.keys(attrs)) if (!(k in current)) total++;
    if (total > limits.maxAttributeKeys) {
      pacing.breach(device, 'attribute_keys', `${total} keys`);
      return {
        code: 'too_many_keys',
        invalid: `attributes: ${total} keys would be over the limit of ${limits.maxAttributeKeys} per device`,
      };
    }
    return { attrs };
  }

  /** Client-side RPC (device → hub): `getSessionLimits` as ThingsBoard answers it; others get an error. */
  async function answerClientRpc(device: Device, payload: Buffer, requestId: string) {
    const body = parseObject(payload);
    const method = body?.method;
    const answer =
      method === 'getSessionLimits'
        ? sessionLimitsAnswer(pacing.edgeOf(device).limits, ctx.options.maxPayloadBytes, device.gateway)
        : {
            error:
              typeof method === 'string'
                ? `unsupported client-side RPC method '${method.slice(0, 64)}' (supported: getSessionLimits)`
                : 'expected {"method": NAME, "params": {...}}',
          };
    await ctx
      .sendTo(device.id, `v1/devices/me/rpc/response/${requestId}`, answer)
      .catch((err) => log.warn({ err, deviceId: device.id }, 'rpc response failed'));
  }

  async function answerAttributes(device: Device, payload: Buffer, responseTopic: string) {
    const body = parseObject(payload) ?? {};
    const pick = (all: Record<string, unknown>, keys: unknown) => {
      if (typeof keys !== 'string') return all;
      const wanted = new Set(keys.split(',').map((k) => k.trim()));
      return Object.fromEntries(Object.entries(all).filter(([k]) => wanted.has(k)));
    };
    const d = ctx.registry.devices.find(device.id) ?? device;
    await ctx
      .sendTo(device.id, responseTopic, {
        client: pick(d.clientAttributes, body.clientKeys),
        shared: pick(d.sharedAttributes, body.sharedKeys),
      })
      .catch((err) => log.warn({ err, deviceId: device.id }, 'attribute response failed'));
  }

  /** A gateway asks for a child's attributes: `{"id", "device", "client", "key" | "keys"}`. */
  async function answerGatewayAttributes(gateway: Device, child: Device, body: Record<string, unknown>) {
    const all = body.client === false ? child.sharedAttributes : child.clientAttributes;
    const keys = Array.isArray(body.keys) ? body.keys : typeof body.key === 'string' ? [body.key] : [];
    const answer =
      typeof body.key === 'string'
        ? { id: body.id, device: child.id, value: all[body.key] ?? null }
        : {
            id: body.id,
            device: child.id,
            values: Object.fromEntries(
              keys.filter((k) => typeof k === 'string').map((k) => [k, all[k] ?? null]),
            ),
          };
    await ctx
      .sendTo(gateway.id, 'v1/gateway/attributes/response', answer)
      .catch((err) => log.warn({ err, deviceId: gateway.id }, 'gateway attribute response failed'));
  }

  return { checkAttributes, answerClientRpc, answerAttributes, answerGatewayAttributes };
}
export type AttributesRpc = ReturnType<typeof createAttributesRpc>;
