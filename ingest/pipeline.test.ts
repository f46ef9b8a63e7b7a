// Finding 1 of issue 8: every pipeline step is guarded — a bug in one step rejects that message
// (counted, logged), never the process. The store is a real embedded PGlite in memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, silentLogger, systemClock } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import { type Db, migrate, wrapPglite } from '../store/index.ts';
import { openPglite } from '../store/pglite-driver.ts';
import { ingestConfigSchema } from './config.ts';
import { createIngest } from './pipeline.ts';

const device = { id: 'd1', profile: 'generic' } as Device;

describe('a bug in a pipeline step rejects that message, never the process', () => {
  let db: Db;
  beforeAll(async () => {
    db = wrapPglite(await openPglite('memory://'));
    await migrate(db, { timescale: 'off', retentionDays: 400, compressAfterDays: 7 });
  });
  afterAll(async () => {
    await db.close();
  });

  it('a throwing step: the message is rejected with code internal and acknowledged; the next one is stored', async () => {
    let explode = true;
    const registry = {
      presence: {
        seen() {
          if (explode) throw new TypeError('presence exploded');
        },
      },
    } as unknown as Registry;
    const metrics = new Metrics();
    const ingest = createIngest({
      db,
      registry,
      clock: systemClock(),
      logger: silentLogger(),
      metrics,
      options: ingestConfigSchema.parse({}),
    });
    const msg = (payload: string) => ({
      device,
      clientId: 'c',
      topic: 'v1/devices/me/telemetry',
      payload: Buffer.from(payload),
      qos: 1 as const,
    });
    const acked: (Error | undefined)[] = [];
    ingest.telemetry(msg('{"n":1}'), (err) => acked.push(err));
    expect(acked).toEqual([undefined]); // acknowledged (once), not thrown
    explode = false;
    await new Promise<void>((resolve, reject) =>
      ingest.telemetry(msg('{"n":2}'), (err) => (err ? reject(err) : resolve())),
    );
    await ingest.stop();
    const rows = await db.query<{ code: string; reason: string }>(
      'SELECT code, reason FROM rejected_messages',
    );
    expect(rows).toEqual([
      { code: 'internal', reason: 'internal error in step telemetry: presence exploded' },
    ]);
    expect(metrics.render()).toMatch(/gridhub_ingest_internal_errors_total\{step="telemetry"\} 1/);
    expect(acked).toHaveLength(1);
  });
});
