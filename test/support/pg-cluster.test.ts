import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshPgDatabase, pgSkipReason } from './pg.ts';
import { startPgCluster } from './pg-cluster.ts';

const clients: pg.Client[] = [];

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  clients.push(client);
  return client;
}

async function freshDb(): Promise<string> {
  const url = await freshPgDatabase();
  if (!url) throw new Error('no PostgreSQL cluster');
  return url;
}

describe('throwaway PostgreSQL cluster', () => {
  beforeEach((ctx) => {
    const reason = pgSkipReason();
    if (!reason) return;
    // In CI the global setup already failed without PostgreSQL; never silently skip there.
    if (process.env.CI === 'true') throw new Error(reason);
    ctx.skip(reason);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  });

  it('accepts a query', async () => {
    const client = await connect(await freshDb());
    const res = await client.query<{ one: number; version: string }>(
      'select 1 as one, current_setting($1) as version',
      ['server_version_num'],
    );
    expect(res.rows[0]?.one).toBe(1);
    expect(Number(res.rows[0]?.version)).toBeGreaterThanOrEqual(150000);
  });

  it('gives each createDatabase call an isolated database', async () => {
    const [urlA, urlB] = await Promise.all([freshDb(), freshDb()]);
    expect(urlA).not.toBe(urlB);
    const a = await connect(urlA);
    const b = await connect(urlB);
    await a.query('create table readings (id int primary key, v double precision)');
    await a.query('insert into readings values (1, 42.5)');

    const inA = await a.query<{ n: number }>('select count(*)::int as n from readings');
    expect(inA.rows[0]?.n).toBe(1);
    const inB = await b.query<{ t: string | null }>("select to_regclass('public.readings')::text as t");
    expect(inB.rows[0]?.t).toBeNull();
    await expect(b.query('select * from readings')).rejects.toThrow(/does not exist/);
  });

  it('creates many databases concurrently', async () => {
    const urls = await Promise.all(Array.from({ length: 8 }, () => freshDb()));
    expect(new Set(urls).size).toBe(8);
    for (const url of urls) expect(url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/t_/);
  });
});

describe('startPgCluster', () => {
  beforeEach((ctx) => {
    const reason = pgSkipReason();
    if (!reason) return;
    if (process.env.CI === 'true') throw new Error(reason);
    ctx.skip(reason);
  });

  it('starts a private cluster, creates a named database, and stop() removes everything', async () => {
    const cluster = await startPgCluster();
    try {
      expect(cluster.url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/postgres`);
      const url = await cluster.createDatabase('gridhub_named');
      expect(url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/gridhub_named`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      await client.connect();
      const res = await client.query<{ db: string }>('select current_database() as db');
      expect(res.rows[0]?.db).toBe('gridhub_named');
      await client.end();
    } finally {
      await cluster.stop();
    }
    await cluster.stop(); // idempotent
    const probe = new pg.Client({ connectionString: cluster.url, connectionTimeoutMillis: 2_000 });
    await expect(probe.connect()).rejects.toThrow();
  });
});
