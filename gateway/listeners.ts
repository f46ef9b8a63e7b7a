/**
 * Where connections come in: the TCP and TLS listeners, and the connect guard every connection
 * passes before the broker reads it, TCP, TLS or WebSocket (connect-guard.ts: CONNECT conformance
 * and a small size cap before authentication; here: connection caps, the connect rate per source
 * address, bounded keep alive, the client certificate's fingerprint).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { checkConnect, readConnect } from './connect-guard.ts';
import { type GatewayContext, normaliseFingerprint } from './context.ts';
import { TokenBucket } from './limits.ts';
import { connackAndClose, RC } from './mqtt5.ts';

export function createListeners(ctx: GatewayContext) {
  const { edge, m, log } = ctx;
  const { addressConnections, connectBuckets } = ctx.state;
  const sockets = new Set<Duplex>();
  let server: Server | undefined;
  let tlsServer: Server | undefined;

  /** Refuses a connection the broker has not seen, with a CONNACK in the client's version. */
  function refuseRaw(stream: Duplex, version: number, v5Code: number, v4Code: number, reason: string) {
    m.refusedConnect.inc({ reason });
    connackAndClose(stream, version, v5Code, v4Code);
  }

  function connectBucket(address: string) {
    let bucket = connectBuckets.get(address);
    if (!bucket) {
      // Bounded: a flood of distinct addresses clears the table (their buckets were full anyway).
      if (connectBuckets.size() > 100_000) connectBuckets.clear();
      bucket = new TokenBucket(
        edge.connectRatePerAddress,
        Math.max(1, edge.connectBurstPerAddress),
        Date.now(),
      );
      connectBuckets.set(address, bucket);
    }
    return bucket;
  }

  /** Connect guard: every connection, TCP, TLS or WebSocket, before the broker reads it. */
  async function admit(stream: Duplex, address: string) {
    const b = ctx.broker;
    if (!b || ctx.stopped || ctx.draining) return void stream.destroy();
    sockets.add(stream);
    const countAddress = address !== 'ws';
    if (countAddress) addressConnections.add(address, 1);
    stream.once('close', () => {
      sockets.delete(stream);
      if (countAddress) addressConnections.add(address, -1);
    });
    // Far over the cap: not even the CONNECT is read.
    if (edge.maxConnections > 0 && sockets.size > edge.maxConnections + 1000) {
      m.refusedConnect.inc({ reason: 'connection_cap' });
      return void stream.destroy();
    }
    const rate =
      countAddress && edge.connectRatePerAddress > 0 ? connectBucket(address).take(1, Date.now()) : true;
    const first = await readConnect(stream, edge.connectMaxBytes, edge.connectTimeoutMs);
    if (!first.ok) {
      m.guardClosed.inc({ rule: first.tooLarge ? 'connect_too_large' : (first.rule ?? 'no_connect') });
      ctx.warnThrottled(
        `guard\u0000${address}`,
        { address, reason: first.reason, rule: first.rule },
        'connection closed before CONNECT',
      );
      return void stream.destroy();
    }
    const verdict = checkConnect(first.packet);
    if (verdict.kind === 'close') {
      m.guardClosed.inc({ rule: verdict.rule });
      ctx.warnThrottled(
        `guard\u0000${address}`,
        { address, reason: verdict.reason, rule: verdict.rule },
        'CONNECT refused',
      );
      return void stream.destroy();
    }
    if (verdict.kind === 'connack') {
      m.guardClosed.inc({ rule: verdict.rule });
      return refuseRaw(stream, 4, RC.UNSPECIFIED, verdict.returnCode, 'protocol_level');
    }
    if (!rate) return refuseRaw(stream, verdict.version, RC.CONNECTION_RATE_EXCEEDED, 3, 'connect_rate');
    if (
      (edge.maxConnections > 0 && sockets.size > edge.maxConnections) ||
      (countAddress &&
        edge.maxConnectionsPerAddress > 0 &&
        addressConnections.get(address) > edge.maxConnectionsPerAddress)
    )
      return refuseRaw(stream, verdict.version, RC.QUOTA_EXCEEDED, 3, 'connection_cap');
    // Keep alive is bounded: 3.1.1 clients asking for none or more get the maximum (the broker then
    // reaps them after 1.5x it, [MQTT-3.1.2-24]); MQTT 5 clients are told by Server Keep Alive.
    if (verdict.version !== 5 && (verdict.keepalive === 0 || verdict.keepalive > edge.keepaliveMaxSeconds))
      first.packet.writeUInt16BE(edge.keepaliveMaxSeconds, verdict.keepaliveOffset);
    if ('setKeepAlive' in stream) (stream as Socket).setKeepAlive(true, 60_000);
    if (edge.x509DeviceAuth && 'getPeerCertificate' in stream) {
      const fp = (stream as TLSSocket).getPeerCertificate()?.fingerprint256;
      if (fp) ctx.certOf.set(stream, normaliseFingerprint(fp));
    }
    stream.unshift(first.rest.length ? Buffer.concat([first.packet, first.rest]) : first.packet);
    b.handle(stream as never);
  }

  /** Opens the MQTT listeners: plain TCP (unless turned off with TLS on) and MQTTS. */
  async function listen(): Promise<{ port?: number; tlsPort?: number }> {
    const { host } = ctx.options;
    const accept = (socket: Socket) => void admit(socket, socket.remoteAddress ?? 'unknown');
    const open = async (srv: Server, port: number) => {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, host, () => resolve());
      });
      const address = srv.address();
      return typeof address === 'object' && address ? address.port : port;
    };
    let port: number | undefined;
    if (edge.plainMqtt || !ctx.options.tls) {
      if (!edge.plainMqtt) log.warn('plain MQTT cannot be turned off without TLS: it stays on');
      server = createServer(accept);
      port = await open(server, ctx.options.mqttPort);
      log.info({ host, port }, 'MQTT broker listening');
    } else log.info('plain MQTT is off (gateway.plainMqtt false): MQTTS only');
    let tlsPort: number | undefined;
    const tls = ctx.options.tls;
    if (tls) {
      // A client certificate is asked for, not required: token devices connect over MQTTS as before.
      tlsServer = createTlsServer(
        { cert: tls.cert, key: tls.key, requestCert: edge.x509DeviceAuth, rejectUnauthorized: false },
        (s: TLSSocket) => accept(s as unknown as Socket),
      );
      tlsServer.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
      tlsPort = await open(tlsServer, tls.port);
      log.info({ host, port: tlsPort }, 'MQTTS listening');
    }
    return { port, tlsPort };
  }

  /** Stops accepting (drain); open sockets stay. */
  function stopAccepting() {
    server?.close();
    tlsServer?.close();
  }

  /** Closes the listeners and every socket: end() first, so queued PUBACKs leave, then cut. */
  async function close() {
    const closeServer = (srv: Server | undefined) =>
      new Promise<void>((resolve) => (srv?.listening ? srv.close(() => resolve()) : resolve()));
    const closing = Promise.all([closeServer(server), closeServer(tlsServer)]);
    // end() sends what is queued (the last PUBACKs) before the FIN; whatever is still open after
    // a short bound is cut.
    const ended = [...sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.end();
        }),
    );
    await Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const s of sockets) s.destroy();
    await closing;
    tlsServer = undefined;
    server = undefined;
  }

  return { admit, listen, stopAccepting, close };
}
