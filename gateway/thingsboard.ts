/**
 * One PUBLISH on ThingsBoard's device and gateway API, by topic (topics.ts says which): telemetry to
 * ingest, client attributes and attribute requests, RPC, and a gateway's children (connect,
 * disconnect, their attributes). Returns what became of it; publish.ts answers the client.
 */
import type { Client, PublishPacket } from 'aedes';
import type { RejectCode } from '../ingest/index.ts';
import type { Device } from '../registry/index.ts';
import type { AttributesRpc } from './attributes-rpc.ts';
import { type GatewayContext, type Outcome, parseObject } from './context.ts';
import type { Pacing } from './pacing.ts';
import { inboundTopic, routePublish } from './topics.ts';

export function createThingsboardApi(ctx: GatewayContext, pacing: Pacing, api: AttributesRpc) {
  const { registry, ingest, log } = ctx;

  return async function handle(client: Client, device: Device, packet: PublishPacket): Promise<Outcome> {
    const topic = packet.topic;
    const route = routePublish(topic, device.gateway);
    if ('refused' in route) {
      ctx.refuse('publish', client, topic, route.refused);
      return { refused: route.refused };
    }
    packet.retain = false; // the retain flag is ignored (contract)
    packet.topic = inboundTopic(device.id, topic);
    const msg = {
      device,
      clientId: client.id,
      topic,
      payload: packet.payload as Buffer,
      qos: packet.qos,
      messageId: packet.messageId,
      dup: packet.dup,
    };
    const rejectWith = (code: RejectCode, reason: string): Outcome => {
      ingest.reject(device.id, client.id, topic, msg.payload, [{ code, reason }]);
      return { invalid: reason };
    };
    const limits = pacing.edgeOf(device).limits;
    switch (route.kind) {
      case 'telemetry': {
        const tooMany = pacing.telemetryKeysProblem(device, msg.payload);
        if (tooMany) return rejectWith('too_many_keys', tooMany);
        return new Promise((resolve) =>
          ingest.telemetry(msg, (err, verdict) =>
            resolve(err ? { storeFailed: err } : (verdict ?? { ok: true })),
          ),
        );
      }
      case 'gateway_telemetry': {
        const tooMany = pacing.gatewayKeysProblem(device, msg.payload);
        if (tooMany) return rejectWith('too_many_keys', tooMany);
        return new Promise((resolve) =>
          ingest.gatewayTelemetry(msg, (err, verdict) =>
            resolve(err ? { storeFailed: err } : (verdict ?? { ok: true })),
          ),
        );
      }
      case 'attributes': {
        const checked = api.checkAttributes(device, msg.payload, limits, device.clientAttributes);
        if ('invalid' in checked) return rejectWith(checked.code, checked.invalid);
        await registry.devices.setClientAttributes(device.id, checked.attrs);
        return { ok: true };
      }
      case 'attributes_request':
        await api.answerAttributes(
          device,
          msg.payload,
          `v1/devices/me/attributes/response/${route.requestId}`,
        );
        return { ok: true };
      case 'gateway_connect':
      case 'gateway_disconnect': {
        const body = parseObject(msg.payload);
        const name = body?.device;
        if (typeof name !== 'string' || !name)
          return rejectWith('bad_shape', `${topic}: expected {"device": NAME, "type": PROFILE}`);
        if (route.kind === 'gateway_disconnect') {
          // A gateway acts only for its own children.
          if (registry.devices.find(name)?.parentId !== device.id)
            return rejectWith(
              'unknown_device',
              `device '${name.slice(0, 128)}' is not registered under gateway '${device.id}'`,
            );
          registry.presence.connected(name, false);
          ctx.childrenOf.get(client)?.delete(name);
          return { ok: true };
        }
        const child = await registry.devices.ensureChild(
          device,
          name,
          typeof body?.type === 'string' ? body.type : undefined,
          limits.maxChildren,
        );
        if ('refused' in child) {
          if (child.refused.includes('children, its limit')) pacing.breach(device, 'children', child.refused);
          return rejectWith('unknown_device', child.refused);
        }
        registry.presence.connected(child.id, true);
        const set = ctx.childrenOf.get(client) ?? new Set<string>();
        ctx.childrenOf.set(client, set);
        set.add(child.id);
        return { ok: true };
      }
      case 'gateway_attributes': {
        const body = parseObject(msg.payload);
        if (!body) return rejectWith('bad_shape', 'v1/gateway/attributes: expected {"NAME": {attributes}}');
        const problems: string[] = [];
        for (const [name, attrs] of Object.entries(body)) {
          const child = await registry.devices.ensureChild(device, name, undefined, limits.maxChildren);
          if ('refused' in child) {
            problems.push(child.refused);
            continue;
          }
          const checked = api.checkAttributes(
            child,
            Buffer.from(JSON.stringify(attrs ?? null)),
            limits,
            child.clientAttributes,
          );
          if ('invalid' in checked) problems.push(`${name}: ${checked.invalid}`);
          else await registry.devices.setClientAttributes(child.id, checked.attrs);
        }
        if (problems.length) {
          ingest.reject(device.id, client.id, topic, msg.payload, [
            { code: 'unknown_device', reason: problems.join('; ') },
          ]);
          if (problems.length === Object.keys(body).length) return { invalid: problems.join('; ') };
        }
        return { ok: true };
      }
      case 'rpc_request':
        await api.answerClientRpc(device, msg.payload, route.requestId);
        return { ok: true };
      case 'rpc_response':
        ctx.rpc.answered(device.id, route.requestId, msg.payload);
        return { ok: true };
      case 'gateway_attributes_request':
      case 'gateway_rpc': {
        // {"id": 1, "device": NAME, "client": true, "key": K | "keys": [...]} / {"device": NAME, "id": N, "data": …}
        const body = parseObject(msg.payload);
        const name = body?.device;
        const child = typeof name === 'string' ? registry.devices.find(name) : undefined;
        if (!body || !child || child.parentId !== device.id)
          return rejectWith(
            'unknown_device',
            typeof name === 'string'
              ? `device '${name.slice(0, 128)}' is not registered under gateway '${device.id}'`
              : `${topic}: expected {"device": NAME, …}`,
          );
        if (route.kind === 'gateway_rpc') {
          log.debug({ deviceId: device.id, child: child.id }, 'gateway rpc reply');
          return { ok: true };
        }
        await api.answerGatewayAttributes(device, child, body);
        return { ok: true };
      }
    }
  };
}
