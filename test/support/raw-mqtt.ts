// Raw MQTT over TCP for the gateway tests: hand-made packets (mqtt-packet or bytes), a parser for
// what comes back, and whether the server closed the connection.
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface RawConn {
  socket: Socket;
  packets: mqttPacket.Packet[];
  closed: Promise<void>;
  isClosed(): boolean;
  send(p: mqttPacket.Packet | Buffer): void;
  /** The next packet of `cmd` (or the close), within `ms`. */
  next(cmd: string, ms?: number): Promise<mqttPacket.Packet | undefined>;
  end(): void;
}

export async function rawConnect(
  url: string,
  opts: { localAddress?: string; protocolVersion?: 4 | 5 } = {},
): Promise<RawConn> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port), localAddress: opts.localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const parser = mqttPacket.parser({ protocolVersion: opts.protocolVersion ?? 4 });
  const packets: mqttPacket.Packet[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  parser.on('packet', (p) => {
    packets.push(p);
    for (const w of waiters) w();
  });
  parser.on('error', () => {});
  socket.on('data', (d) => parser.parse(d));
  const closedP = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      for (const w of waiters) w();
      resolve();
    }),
  );
  return {
    socket,
    packets,
    closed: closedP,
    isClosed: () => closed,
    send(p) {
      socket.write(
        Buffer.isBuffer(p) ? p : mqttPacket.generate(p, { protocolVersion: opts.protocolVersion ?? 4 }),
      );
    },
    next(cmd, ms = 5000) {
      return new Promise((resolve) => {
        const check = () => {
          const i = packets.findIndex((p) => p.cmd === cmd);
          if (i >= 0) {
            done();
            resolve(packets.splice(i, 1)[0]);
          } else if (closed) {
            done();
            resolve(undefined);
          }
        };
        const timer = setTimeout(() => {
          done();
          resolve(undefined);
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    end: () => socket.destroy(),
  };
}

/** Resolves true when the server closes the connection within `ms`. */
export async function closedWithin(c: RawConn, ms: number): Promise<boolean> {
  return Promise.race([
    c.closed.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
  ]);
}

export const connectPacket = (
  username: string | undefined,
  extra: Partial<mqttPacket.IConnectPacket> = {},
): mqttPacket.IConnectPacket => ({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: '',
  keepalive: 60,
  ...(username === undefined ? {} : { username }),
  ...extra,
});
