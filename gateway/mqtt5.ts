/**
 * MQTT 5 answers the gateway writes itself (reason codes, negative acks, server DISCONNECT), and
 * the few Aedes 2.0.0-beta.1 client internals it leans on (see the README's notes on the beta).
 */
import type { Duplex } from 'node:stream';
import type { AuthenticateError, Client, PublishPacket } from 'aedes';
import mqttPacket from 'mqtt-packet';

// MQTT 5 reason codes used here (MQTT 5.0 section 2.4).
export const RC = {
  UNSPECIFIED: 0x80,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  CONNECTION_RATE_EXCEEDED: 0x9f,
} as const;

/** Aedes 2.0.0-beta.1 internals the gateway leans on (see the README's notes on the beta). */
export interface AedesClientInternals {
  conn: Duplex;
  version?: number;
  /** Set in preConnect: makes every v5 CONNACK carry Server Keep Alive (lib/handlers/connect.js). */
  _serverKeepAlive?: number;
  /** v5 Request Problem Information: when false no reason string may be sent [MQTT-3.1.2-29]. */
  _requestProblemInformation?: boolean;
}
export const internalsOf = (client: Client) => client as unknown as AedesClientInternals;

/** Marks a PUBLISH the gateway has answered itself: aedes' enqueuePublish then neither acks nor routes it. */
export type MarkedPacket = PublishPacket & { _notAuthorized?: boolean };

export const authError = (message: string, returnCode: 3 | 4 | 5) => {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode as AuthenticateError['returnCode'];
  return err;
};

/** Ends a connection: MQTT 5 gets a DISCONNECT with the reason; 3.1.1 has none, so it is closed. */
export function kick(client: Client, reasonCode: number) {
  if (client.closed) return;
  if (internalsOf(client).version === 5) client.disconnect({ reasonCode }, () => {});
  else client.close();
}

/** The next outgoing message id, as aedes' QoSPacket would take it (lib/qos-packet.js). */
export function takeMessageId(client: Client): number {
  const c = client as unknown as { _nextId: number };
  const id = c._nextId;
  c._nextId = id >= 65535 ? 1 : id + 1;
  return id;
}

/** Writes an MQTT 5 PUBACK/PUBREC with a reason code; aedes then leaves the packet alone. */
export function answerV5(client: Client, packet: MarkedPacket, reasonCode: number, reason: string) {
  packet._notAuthorized = true;
  if (packet.qos === 0) return; // no acknowledgement to carry it: dropped (and counted)
  const internals = internalsOf(client);
  const ack: mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket = {
    cmd: packet.qos === 1 ? 'puback' : 'pubrec',
    messageId: packet.messageId,
    reasonCode,
  };
  // [MQTT-3.1.2-29] no reason string when the client asked for no problem information.
  if (internals._requestProblemInformation !== false) ack.properties = { reasonString: reason.slice(0, 256) };
  mqttPacket.writeToStream(ack, internals.conn as never, { protocolVersion: 5 });
}

/** A v5 CONNACK with a reason aedes cannot send from authenticate (it maps errors to 0x86/0x87). */
export function writeV5Connack(stream: Duplex, reasonCode: number) {
  try {
    stream.write(
      mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode }, { protocolVersion: 5 }),
    );
  } catch {}
}

/** Answers a connection the broker has not seen with a CONNACK in its version, then closes it. */
export function connackAndClose(stream: Duplex, version: number, v5Code: number, v4Code: number) {
  const connack =
    version === 5
      ? { cmd: 'connack' as const, sessionPresent: false, reasonCode: v5Code }
      : { cmd: 'connack' as const, sessionPresent: false, returnCode: v4Code };
  try {
    stream.end(mqttPacket.generate(connack, { protocolVersion: version === 5 ? 5 : 4 }));
  } catch {}
  setTimeout(() => stream.destroy(), 1000).unref?.();
}
