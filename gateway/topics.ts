/**
 * The topic ACL of ThingsBoard's MQTT device API, as pure functions. Topics under
 * `v1/devices/me/...` are per connection: `me` is the authenticated device. Internally each
 * device's topics live under `$gridhub/…/<device id>/…` so that nothing one device publishes can
 * reach another, and the hub can address one device. (`$` topics are not matched by `#` or `+`,
 * [MQTT-4.7.2-1].)
 */
export type PublishRoute =
  | { kind: 'telemetry' }
  | { kind: 'attributes' }
  | { kind: 'attributes_request'; requestId: string }
  | { kind: 'rpc_response'; requestId: string }
  | { kind: 'rpc_request'; requestId: string }
  | { kind: 'gateway_connect' }
  | { kind: 'gateway_disconnect' }
  | { kind: 'gateway_telemetry' }
  | { kind: 'gateway_attributes' }
  | { kind: 'gateway_attributes_request' }
  | { kind: 'gateway_rpc' };

const ID = '([^/#+]{1,64})';
const DEVICE_PUBLISH: [RegExp, (m: RegExpExecArray) => PublishRoute][] = [
  [/^v1\/devices\/me\/telemetry$/, () => ({ kind: 'telemetry' })],
  [/^v1\/devices\/me\/attributes$/, () => ({ kind: 'attributes' })],
  [
    new RegExp(`^v1/devices/me/attributes/request/${ID}$`),
    (m) => ({ kind: 'attributes_request', requestId: m[1]! }),
  ],
  [new RegExp(`^v1/devices/me/rpc/response/${ID}$`), (m) => ({ kind: 'rpc_response', requestId: m[1]! })],
  [new RegExp(`^v1/devices/me/rpc/request/${ID}$`), (m) => ({ kind: 'rpc_request', requestId: m[1]! })],
];
const GATEWAY_PUBLISH: [RegExp, () => PublishRoute][] = [
  [/^v1\/gateway\/connect$/, () => ({ kind: 'gateway_connect' })],
  [/^v1\/gateway\/disconnect$/, () => ({ kind: 'gateway_disconnect' })],
  [/^v1\/gateway\/telemetry$/, () => ({ kind: 'gateway_telemetry' })],
  [/^v1\/gateway\/attributes$/, () => ({ kind: 'gateway_attributes' })],
  [/^v1\/gateway\/attributes\/request$/, () => ({ kind: 'gateway_attributes_request' })],
  [/^v1\/gateway\/rpc$/, () => ({ kind: 'gateway_rpc' })],
];

/** What a publish on `topic` means for a device, or the reason it is refused. */
export function routePublish(topic: string, isGateway: boolean): PublishRoute | { refused: string } {
  for (const [re, make] of DEVICE_PUBLISH) {
    const m = re.exec(topic);
    if (m) return make(m);
  }
  if (topic.startsWith('v1/gateway/')) {
    if (!isGateway) return { refused: `only gateway devices may publish to ${topic}` };
    for (const [re, make] of GATEWAY_PUBLISH) if (re.test(topic)) return make();
  }
  return {
    refused: `publishing to ${topic} is not allowed (only v1/devices/me/… and, for gateways, v1/gateway/…)`,
  };
}

// The subscriptions the ThingsBoard SDKs make on connect.
const DEVICE_SUBSCRIBE =
  /^v1\/devices\/me\/(attributes|attributes\/response\/(?:\+|[^/#+]+)|rpc\/request\/(?:\+|[^/#+]+)|rpc\/response\/(?:\+|[^/#+]+))$/;
const GATEWAY_SUBSCRIBE = /^v1\/gateway\/(attributes|attributes\/response|rpc)$/;

const enc = (deviceId: string) => encodeURIComponent(deviceId);

/** The internal topic a device's subscription becomes, or the reason it is refused. */
export function routeSubscribe(
  topic: string,
  deviceId: string,
  isGateway: boolean,
): { internal: string } | { refused: string } {
  const d = DEVICE_SUBSCRIBE.exec(topic);
  if (d) return { internal: `$gridhub/out/${enc(deviceId)}/me/${d[1]}` };
  const g = GATEWAY_SUBSCRIBE.exec(topic);
  if (g) {
    if (!isGateway) return { refused: `only gateway devices may subscribe to ${topic}` };
    return { internal: `$gridhub/out/${enc(deviceId)}/gw/${g[1]}` };
  }
  return { refused: `subscribing to ${topic} is not allowed` };
}

/** The topic a hub message to one device is published on internally. */
export function outboundTopic(deviceId: string, deviceTopic: string): string {
  if (deviceTopic.startsWith('v1/devices/me/'))
    return `$gridhub/out/${enc(deviceId)}/me/${deviceTopic.slice(14)}`;
  if (deviceTopic.startsWith('v1/gateway/'))
    return `$gridhub/out/${enc(deviceId)}/gw/${deviceTopic.slice(11)}`;
  throw new Error(`not a device topic: ${deviceTopic}`);
}

/** Maps an internal outbound topic back to what the device sees; undefined when not its own. */
export function deviceTopicFor(internal: string, deviceId: string): string | undefined {
  const prefix = `$gridhub/out/${enc(deviceId)}/`;
  if (!internal.startsWith(prefix)) return undefined;
  const rest = internal.slice(prefix.length);
  if (rest.startsWith('me/')) return `v1/devices/me/${rest.slice(3)}`;
  if (rest.startsWith('gw/')) return `v1/gateway/${rest.slice(3)}`;
  return undefined;
}

/** Where inbound messages are renamed to: under it the broker forwards nothing (inbound.ts). */
export const INBOUND_PREFIX = '$gridhub/in/';
/** Inbound messages are renamed so the broker never forwards them to any device. */
export const inboundTopic = (deviceId: string, topic: string) => `${INBOUND_PREFIX}${enc(deviceId)}/${topic}`;
