import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_KEYS } from '../hub/config.ts';
import { startTestHub, type TestHub } from './support/hub.ts';

describe('manual clock', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ overrides: { clock: 'manual' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('moves only when told, admin only, and readings without ts take hub time', async () => {
    const set = await t.api('POST', '/api/clock', { set: '2026-03-02T01:00:00Z' });
    expect(set.body).toEqual({ now: '2026-03-02T01:00:00.000Z' });
    expect((await t.api('POST', '/api/clock', { advance: '2h' })).body).toEqual({
      now: '2026-03-02T03:00:00.000Z',
    });
    expect((await t.api('GET', '/api/health')).body.clock).toEqual({
      kind: 'manual',
      now: '2026-03-02T03:00:00.000Z',
    });
    const bad = await t.api('POST', '/api/clock', { advance: 'soon' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body\.advance/);
    expect((await t.api('POST', '/api/clock', { advance: '1h' }, null)).status).toBe(401);
    const c = await t.connect(await t.device({ id: 'clk-1', profile: 'noise-level' }));
    await c.publishAsync('v1/devices/me/telemetry', '{"LAeq":50}', { qos: 1 });
    const pts = await t.api('GET', '/api/devices/clk-1/series?key=LAeq');
    expect(pts.body.points).toEqual([{ ts: '2026-03-02T03:00:00.000Z', value: 50 }]);
  });
});

describe('system clock', () => {
  it('refuses to be moved', async () => {
    const t = await startTestHub();
    try {
      const r = await t.api('POST', '/api/clock', { advance: '1h' });
      expect(r.status).toBe(409);
      expect(r.body.error.message).toMatch(/GRIDHUB_CLOCK=manual/);
    } finally {
      await t.stop();
    }
  });
});

describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  it('shows the two commands and documents every environment variable', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm test');
    const missing = Object.keys(ENV_KEYS).filter((k) => !readme.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });
});
