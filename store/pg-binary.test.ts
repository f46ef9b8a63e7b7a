// The binary float8[]/text[] parameters of the ingest writer (issue 13) read back exactly as the
// text ones do, on a real PostgreSQL 15: awkward strings (quotes, backslashes, commas, braces,
// "NULL", empty, non-ASCII), NULLs, extreme and fractional doubles, an empty array.
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freshPgDatabase, pgSkipReason } from '../test/support/pg.ts';
import { float8ArrayParam, textArrayParam } from './pg-binary.mjs';

describe('binary array parameters on PostgreSQL', () => {
  let client: pg.Client | undefined;
  beforeEach((ctx) => {
    const reason = pgSkipReason();
    if (!reason) return;
    if (process.env.CI === 'true') throw new Error(reason);
    ctx.skip(reason);
  });
  beforeAll(async () => {
    const url = await freshPgDatabase();
    if (!url) return;
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(() => client?.end());

  const texts = [
    'aq-00001',
    'a "quoted" {b,c}',
    'back\\slash',
    'NULL',
    '',
    '网格 ✓ 😀',
    null,
    'x'.repeat(3000),
  ];
  const numbers = [0, -0, 1.5, -273.15, 1765000000123, Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2, null];

  it('text[] reads back element for element, NULLs included', async () => {
    const { rows } = await client!.query('SELECT $1::text[] AS a, cardinality($1::text[]) AS n', [
      textArrayParam(texts),
    ]);
    expect(rows[0].a).toEqual(texts);
    expect(rows[0].n).toBe(texts.length);
  });

  it('float8[] reads back bit for bit, NULLs included', async () => {
    const { rows } = await client!.query('SELECT $1::float8[]::text AS a, ($1::float8[])[2] = 0 AS negzero', [
      float8ArrayParam(numbers),
    ]);
    // PostgreSQL prints doubles shortest-exact (extra_float_digits 1, the default): compare as numbers.
    const back = (rows[0].a as string)
      .slice(1, -1)
      .split(',')
      .map((s) => (s === 'NULL' ? null : Number(s)));
    expect(back).toEqual(numbers.map((n) => (Object.is(n, -0) ? -0 : n)));
    expect(rows[0].negzero).toBe(true);
  });

  it('the same unnest INSERT as the text form stores the same rows', async () => {
    await client!.query('CREATE TABLE t (k text, v float8, s text)');
    const k = ['a', 'b,c', 'd"e', 'f\\g'];
    const v = [1, 2.25, -3, 4e-300];
    const s = ['x', null, '', 'NULL'];
    const sql = 'INSERT INTO t SELECT * FROM unnest($1::text[], $2::float8[], $3::text[])';
    await client!.query(sql, [k, v, s]);
    await client!.query(sql, [textArrayParam(k), float8ArrayParam(v), textArrayParam(s)]);
    const { rows } = await client!.query(
      'SELECT k, v, s, count(*)::int AS n FROM t GROUP BY k, v, s ORDER BY k',
    );
    expect(rows).toEqual(
      k.map((kk, i) => ({ k: kk, v: v[i], s: s[i], n: 2 })).sort((x, y) => (x.k < y.k ? -1 : 1)),
    );
  });

  it('an empty array is an empty array', async () => {
    const { rows } = await client!.query(
      'SELECT cardinality($1::text[]) AS a, cardinality($2::float8[]) AS b',
      [textArrayParam([]), float8ArrayParam([])],
    );
    expect(rows[0]).toEqual({ a: 0, b: 0 });
  });
});
