import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../kernel/index.ts';
import { tempDirs } from '../test/support/temp.ts';
import { loadConfig } from './config.ts';

const problems = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

/** Config files' folders, removed after each test. */
const made = tempDirs();
const tempDir = () => made('gridhub-cfg-');

describe('configuration', () => {
  it('has the contract defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c).toMatchObject({
      dataDir: './data',
      mqttPort: 1883,
      httpPort: 8080,
      host: '127.0.0.1',
      timezone: 'Asia/Shanghai',
      clock: 'system',
    });
    expect(c.databaseUrl).toBeUndefined();
  });
  it('env wins over the file', () => {
    const dir = tempDir();
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ mqttPort: 1999, httpPort: 9000, ingest: { batchSize: 10 } }));
    const c = loadConfig({ file, env: { GRIDHUB_MQTT_PORT: '0', DATABASE_URL: 'postgres://u@127.0.0.1/x' } });
    expect(c.mqttPort).toBe(0);
    expect(c.httpPort).toBe(9000);
    expect(c.ingest.batchSize).toBe(10);
    expect(c.databaseUrl).toBe('postgres://u@127.0.0.1/x');
  });
  it('names every bad key, with its variable and value', () => {
    const p = problems(() =>
      loadConfig({
        env: {
          GRIDHUB_MQTT_PORT: 'abc',
          GRIDHUB_TIMEZONE: 'Mars/Olympus',
          GRIDHUB_CLOCK: 'sundial',
          DATABASE_URL: 'mysql://x',
        },
      }),
    );
    expect(p).toHaveLength(4);
    expect(p.find((x) => x.startsWith('mqttPort (GRIDHUB_MQTT_PORT)'))).toMatch(/"abc"/);
    expect(p.find((x) => x.startsWith('timezone (GRIDHUB_TIMEZONE)'))).toMatch(/IANA/);
    expect(p.find((x) => x.startsWith('clock (GRIDHUB_CLOCK)'))).toBeDefined();
    expect(p.find((x) => x.startsWith('databaseUrl (DATABASE_URL)'))).toMatch(/postgres/);
  });
  it('rejects out-of-range ports, unknown file keys and a lone TLS file', () => {
    expect(problems(() => loadConfig({ env: { GRIDHUB_HTTP_PORT: '70000' } }))[0]).toMatch(/^httpPort/);
    const dir = tempDir();
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ mqttPrt: 1 }));
    expect(problems(() => loadConfig({ file, env: {} }))[0]).toMatch(/mqttPrt/);
    writeFileSync(file, '{ not json');
    expect(problems(() => loadConfig({ file, env: {} }))[0]).toContain(file);
    expect(problems(() => loadConfig({ env: { GRIDHUB_TLS_CERT: '/x.pem' } }))[0]).toMatch(/GRIDHUB_TLS_KEY/);
  });
  it('the ingest slice is 0..1000 ms, 2 by default; outside that the variable is named', () => {
    expect(loadConfig({ env: {} }).ingest.sliceMs).toBe(2);
    expect(loadConfig({ env: { GRIDHUB_INGEST_SLICE_MS: '0' } }).ingest.sliceMs).toBe(0);
    expect(loadConfig({ env: { GRIDHUB_INGEST_SLICE_MS: '1000' } }).ingest.sliceMs).toBe(1000);
    expect(loadConfig({ env: { GRIDHUB_INGEST_SLICE_MS: '2.5' } }).ingest.sliceMs).toBe(2.5);
    for (const bad of ['1001', '-1', 'fast'])
      expect(problems(() => loadConfig({ env: { GRIDHUB_INGEST_SLICE_MS: bad } }))[0]).toMatch(
        /^ingest\.sliceMs \(GRIDHUB_INGEST_SLICE_MS\)/,
      );
  });
  it('the group-commit gather is 0..100 ms, 2 by default; outside that the variable is named', () => {
    expect(loadConfig({ env: {} }).ingest.gatherMs).toBe(2);
    expect(loadConfig({ env: { GRIDHUB_INGEST_GATHER_MS: '0' } }).ingest.gatherMs).toBe(0);
    expect(loadConfig({ env: { GRIDHUB_INGEST_GATHER_MS: '100' } }).ingest.gatherMs).toBe(100);
    expect(loadConfig({ env: { GRIDHUB_INGEST_GATHER_MS: '0.5' } }).ingest.gatherMs).toBe(0.5);
    for (const bad of ['101', '-1', 'soon'])
      expect(problems(() => loadConfig({ env: { GRIDHUB_INGEST_GATHER_MS: bad } }))[0]).toMatch(
        /^ingest\.gatherMs \(GRIDHUB_INGEST_GATHER_MS\)/,
      );
  });
});
