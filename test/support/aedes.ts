/**
 * A bare Aedes broker on a free loopback port, for the gateway's tests of Aedes itself. Call
 * `bareBrokers()` once in a test file: each `start` is closed after its test.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach } from 'vitest';

export function bareBrokers() {
  let broker: Aedes | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await new Promise<void>((r) => (broker ? broker.close(() => r()) : r()));
    server = broker = undefined;
  });
  /** Starts a broker with `opts`; `prepare` runs before it listens. */
  return async function start(
    opts: Parameters<typeof Aedes.createBroker>[0],
    prepare?: (b: Aedes) => void,
  ): Promise<{ broker: Aedes; url: string }> {
    const b = await Aedes.createBroker(opts);
    broker = b;
    prepare?.(b);
    const srv = createServer((s) => b.handle(s));
    server = srv;
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const a = srv.address();
    return { broker: b, url: `mqtt://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
  };
}
