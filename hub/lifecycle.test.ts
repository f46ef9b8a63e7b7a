import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, createLogger } from '../kernel/index.ts';
import { createLifecycle, type Part, PartError } from './lifecycle.ts';

function recorder() {
  const calls: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  const part = (
    name: string,
    opts: { failStart?: Error; failStop?: Error; drain?: boolean } = {},
  ): Part<string> => ({
    async start() {
      calls.push(`start ${name}`);
      if (opts.failStart) throw opts.failStart;
      return `${name} ready`;
    },
    async stop() {
      calls.push(`stop ${name}`);
      if (opts.failStop) throw opts.failStop;
    },
    ...(opts.drain ? { drain: async () => void calls.push(`drain ${name}`) } : {}),
  });
  return { calls, lines, logger, part };
}

describe('part lifecycle', () => {
  it('starts in order, returns what start() gives; drains then stops in reverse', async () => {
    const r = recorder();
    const life = createLifecycle(r.logger);
    expect(await life.start('store', r.part('store'))).toBe('store ready');
    await life.start('ingest', r.part('ingest', { drain: true }));
    await life.start('gateway', r.part('gateway', { drain: true }));
    expect(life.started()).toEqual(['store', 'ingest', 'gateway']);
    expect(await life.stop()).toEqual([]);
    expect(r.calls).toEqual([
      'start store',
      'start ingest',
      'start gateway',
      'drain gateway',
      'drain ingest',
      'stop gateway',
      'stop ingest',
      'stop store',
    ]);
    expect(life.started()).toEqual([]);
    // A second stop has nothing left to stop.
    await life.stop();
    expect(r.calls).toHaveLength(8);
  });

  it('a part whose start throws is named, and is not stopped; the caller stops the others', async () => {
    const r = recorder();
    const life = createLifecycle(r.logger);
    await life.start('store', r.part('store'));
    await life.start('rules', r.part('rules'));
    const err = await life
      .start('gateway', r.part('gateway', { failStart: new Error('listen EADDRINUSE 127.0.0.1:1883') }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartError);
    expect((err as PartError).code).toBe('GRIDHUB_ERR_START');
    expect((err as PartError).part).toBe('gateway');
    expect((err as PartError).message).toBe('GRIDHUB_ERR_START: gateway: listen EADDRINUSE 127.0.0.1:1883');
    expect(((err as PartError).cause as Error).message).toBe('listen EADDRINUSE 127.0.0.1:1883');
    await life.stop();
    expect(r.calls).toEqual(['start store', 'start rules', 'start gateway', 'stop rules', 'stop store']);
  });

  it('a build step that throws is named too; a configuration error passes as it is', async () => {
    const r = recorder();
    const life = createLifecycle(r.logger);
    await expect(
      life.build('ingest', () => {
        throw new Error('spool folder not writable');
      }),
    ).rejects.toThrow(/^GRIDHUB_ERR_START: ingest: spool folder not writable$/);
    const config = new ConfigError(['tlsCert (GRIDHUB_TLS_CERT): cannot read /x (ENOENT)']);
    await expect(
      life.start('gateway', {
        start: () => {
          throw config;
        },
        stop: () => {},
      }),
    ).rejects.toBe(config);
    expect(await life.build('web', () => 42)).toBe(42);
    expect(life.started()).toEqual([]);
  });

  it('a part that fails to stop is logged by name and the others still stop', async () => {
    const r = recorder();
    const life = createLifecycle(r.logger);
    await life.start('store', r.part('store'));
    await life.start('video', r.part('video', { failStop: new Error('ffmpeg would not die') }));
    await life.start('web', r.part('web'));
    const failures = await life.stop();
    expect(r.calls.slice(3)).toEqual(['stop web', 'stop video', 'stop store']);
    expect(failures.map((f) => f.message)).toEqual(['GRIDHUB_ERR_STOP: video: ffmpeg would not die']);
    const logged = r.lines.filter((l) => l.level === 50);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      part: 'video',
      code: 'GRIDHUB_ERR_STOP',
      msg: 'GRIDHUB_ERR_STOP: video: ffmpeg would not die',
    });
    expect(r.lines.filter((l) => l.msg === 'part stopped').map((l) => l.part)).toEqual(['web', 'store']);
  });
});
