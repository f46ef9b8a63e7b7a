/**
 * Who a connection is: ThingsBoard-compatible device authentication (the access token as the MQTT
 * username, or over MQTTS a client certificate whose SHA-256 fingerprint is the device's
 * `x509Fingerprint` server attribute), the cool-down check, and client ids namespaced per device so
 * no device can take over another's session. A connection stays bound to its device *and* the
 * credential it authenticated with: a change of credentials closes it.
 */
import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import type { Device } from '../registry/index.ts';
import { type Conn, type GatewayContext, normaliseFingerprint } from './context.ts';
import { authError, internalsOf, kick, RC, writeV5Connack } from './mqtt5.ts';
import type { Pacing } from './pacing.ts';

type AuthCallback = (err: AuthenticateError | null, ok: boolean | null) => void;

export function createAuthentication(ctx: GatewayContext, pacing: Pacing) {
  const { registry, m, edge, log } = ctx;

  /** Admits an authenticated device, unless it is cooling down; namespaces its client id. */
  function admitDevice(client: Client, device: Device, credential: string | null, cb: AuthCallback) {
    const internals = internalsOf(client);
    const e = pacing.edgeOf(device);
    if (e.coolDownUntil > Date.now()) {
      m.refusedConnect.inc({ reason: 'cool_down' });
      ctx.warnThrottled(
        `connect\u0000cool\u0000${device.id}`,
        { deviceId: device.id },
        'connect refused: device cooling down',
      );
      if (internals.version === 5) {
        // aedes maps authenticate errors to 0x86/0x87 only; 0x97 (quota exceeded) is written here
        // and the client closed before aedes answers (it then stops: client.closed).
        writeV5Connack(internals.conn, RC.QUOTA_EXCEEDED);
        client.close();
        return cb(authError('cooling down', 3), false);
      }
      return cb(authError('device cooling down after breaching its limits', 3), false);
    }
    // Client ids are the device's own: namespaced by device id ('/' never occurs in one), so a
    // device can only take over its own sessions ([MQTT-3.1.4-2] applies within the device).
    client.id = `${device.id}/${client.id}`;
    ctx.connOf.set(client, {
      device,
      credential,
      v5: internals.version === 5,
      inflight: 0,
      subscriptions: new Set(),
    });
    cb(null, true);
  }

  function deviceByFingerprint(fp: string): Device | undefined {
    // A scan: certificate connections are few, and the attribute is set through the API.
    for (const d of registry.devices.list())
      if (
        typeof d.serverAttributes.x509Fingerprint === 'string' &&
        normaliseFingerprint(d.serverAttributes.x509Fingerprint) === fp
      )
        return d;
    return undefined;
  }

  /** The device this connection may still act as, or why not: bound to device and credential. */
  function current(conn: Conn): Device | string {
    const device = registry.devices.find(conn.device.id);
    if (!device) return `device '${conn.device.id}' was deleted`;
    const credential = conn.credential?.startsWith('x509:')
      ? typeof device.serverAttributes.x509Fingerprint === 'string'
        ? `x509:${normaliseFingerprint(device.serverAttributes.x509Fingerprint)}`
        : null
      : registry.devices.credentialOf(device.id);
    if (credential !== conn.credential) return `the credentials of device '${device.id}' changed`;
    return device;
  }

  /** Aedes' preConnect hook. */
  function preConnect(client: Client, packet: ConnectPacket, cb: (err: Error | null, ok: boolean) => void) {
    // Every MQTT 5 CONNACK advertises Server Keep Alive (contract); aedes 2.0.0-beta.1 sends it
    // only when it lowers the client's value, so it is set here for the others.
    if (packet.protocolVersion === 5) {
      const ka = packet.keepalive ?? 0;
      internalsOf(client)._serverKeepAlive =
        ka > 0 && ka <= edge.keepaliveMaxSeconds ? ka : edge.keepaliveMaxSeconds;
    }
    cb(null, true);
  }

  /** Aedes' authenticate hook. */
  function authenticate(
    client: Client,
    username: Readonly<string> | undefined,
    _password: Readonly<Buffer> | undefined,
    cb: AuthCallback,
  ) {
    // Draining for shutdown: CONNACK 3, server unavailable (MQTT 3.1.1 §3.2.2.3).
    if (ctx.draining) return cb(authError('the hub is shutting down', 3 as never), false);
    const fingerprint = ctx.certOf.get(internalsOf(client).conn);
    if ((typeof username !== 'string' || username.length === 0) && fingerprint) {
      const byCert = deviceByFingerprint(fingerprint);
      if (!byCert) {
        m.refusedConnect.inc({ reason: 'unknown_certificate' });
        ctx.warnThrottled(
          'connect\u0000cert',
          { clientId: client.id },
          'connect refused: unknown client certificate',
        );
        return cb(authError('no device is registered with this certificate', 5), false);
      }
      return admitDevice(client, byCert, `x509:${fingerprint}`, cb);
    }
    if (typeof username !== 'string' || username.length === 0) {
      m.refusedConnect.inc({ reason: 'malformed' });
      ctx.warnThrottled(
        'connect\u0000malformed',
        { clientId: client.id },
        'connect refused: no access token in the username',
      );
      return cb(authError('the access token goes in the MQTT username', 4), false);
    }
    const device = registry.devices.byToken(username);
    if (!device) {
      m.refusedConnect.inc({ reason: 'unknown_token' });
      ctx.warnThrottled(
        'connect\u0000unknown',
        { clientId: client.id },
        'connect refused: unknown or revoked access token',
      );
      return cb(authError('unknown or revoked access token', 5), false);
    }
    admitDevice(client, device, registry.devices.credentialOf(device.id), cb);
  }

  /** A change of credentials (rotate, revoke, delete) closes that device's connections now. */
  function watchCredentials(onDeleted: (deviceId: string) => void): () => void {
    return registry.devices.onCredentialChange((deviceId, change) => {
      if (change === 'deleted') onDeleted(deviceId);
      for (const client of ctx.clientsOf.get(deviceId) ?? []) {
        const conn = ctx.connOf.get(client);
        if (conn && typeof current(conn) === 'string') {
          log.info({ deviceId, change }, 'credentials changed: connection closed');
          kick(client, RC.NOT_AUTHORIZED);
        }
      }
    });
  }

  return { preConnect, authenticate, current, watchCredentials };
}
