import { describe, expect, it } from 'vitest';
import { parseJson, parseTelemetry } from './parse.ts';
import { MAX_FUTURE_MS, MAX_PAST_MS, validateRecord } from './validate.ts';

const NOW = Date.UTC(2026, 10, 26, 6, 0, 0);
const records = (payload: string) => {
  const json = parseJson(Buffer.from(payload));
  if (!json.ok) throw new Error(json.problem.reason);
  return parseTelemetry(json.value);
};

describe('parse: the three payload forms of the ThingsBoard device API', () => {
  it('plain object: timestamp is arrival time', () => {
    const { records: r, problems } = records('{"pm10": 85.2, "windSpeed": 3.1}');
    expect(problems).toEqual([]);
    expect(r).toEqual([{ values: { pm10: 85.2, windSpeed: 3.1 } }]);
  });
  it('ts + values', () => {
    const { records: r } = records('{"ts": 1764115200000, "values": {"pm10": 85.2}}');
    expect(r).toEqual([{ ts: 1764115200000, values: { pm10: 85.2 } }]);
  });
  it('an array mixing both', () => {
    const { records: r } = records('[{"pm10": 1}, {"ts": 5, "values": {"pm10": 2}}]');
    expect(r).toEqual([{ values: { pm10: 1 } }, { ts: 5, values: { pm10: 2 } }]);
  });
  it('malformed JSON names the problem', () => {
    const r = parseJson(Buffer.from('{"pm10": 8'));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problem.code).toBe('malformed_json');
      expect(r.problem.reason).toMatch(/^malformed JSON/);
    }
  });
  it('NaN is not JSON', () => {
    const r = parseJson(Buffer.from('{"pm10": NaN}'));
    expect(r.ok).toBe(false);
  });
  it('a scalar or a bad values member is a shape problem', () => {
    expect(records('42').problems[0]?.code).toBe('bad_shape');
    expect(records('{"ts": 1, "values": 3}').problems[0]?.reason).toMatch(/values: expected an object/);
    expect(records('[]').problems[0]?.code).toBe('empty');
  });
});

describe('validate per profile', () => {
  const v = (profile: Parameters<typeof validateRecord>[0], values: Record<string, unknown>, ts?: unknown) =>
    validateRecord(profile, { ts, values }, NOW);

  it('accepts valid readings with the arrival time', () => {
    const r = v('air-quality', { pm10: 85.2, pm25: 40 });
    expect(r.problems).toEqual([]);
    expect(r.readings).toEqual([
      { kind: 'number', key: 'pm10', ts: NOW, value: 85.2 },
      { kind: 'number', key: 'pm25', ts: NOW, value: 40 },
    ]);
  });

  it('partly invalid: valid keys kept, each invalid key rejected with its reason', () => {
    const r = v('air-quality', { pm10: 90, pm25: -1, colour: 'red', windSpeed: '3' });
    expect(r.readings.map((x) => x.key)).toEqual(['pm10']);
    expect(r.problems.map((p) => p.code)).toEqual(['out_of_range', 'unknown_key', 'wrong_type']);
    expect(r.problems[0]!.reason).toBe('pm25: -1 is outside 0..5000 µg/m³');
    expect(r.problems[1]!.reason).toBe('colour: not a key of profile air-quality');
    expect(r.problems[2]!.reason).toMatch(/^windSpeed: expected a number, got string/);
  });

  it('Infinity (1e999 in JSON) is not finite', () => {
    const json = parseJson(Buffer.from('{"fillingLevel": 1e999}'));
    expect(json.ok).toBe(true);
    const rec = parseTelemetry(json.ok ? json.value : null).records[0]!;
    const r = validateRecord('waste-container', rec, NOW);
    expect(r.readings).toEqual([]);
    expect(r.problems[0]).toMatchObject({ code: 'not_finite' });
    expect(r.problems[0]!.reason).toMatch(/fillingLevel/);
  });

  it('fillingLevel is a fraction 0..1', () => {
    expect(v('waste-container', { fillingLevel: 1.2 }).problems[0]?.reason).toBe(
      'fillingLevel: 1.2 is outside 0..1',
    );
    expect(v('waste-container', { fillingLevel: 1 }).readings).toHaveLength(1);
  });

  it('a timestamp more than the allowed skew ahead or a year behind rejects the whole record', () => {
    expect(MAX_FUTURE_MS).toBe(10 * 60_000); // contract: GRIDHUB_MAX_CLOCK_SKEW defaults to 10 minutes
    expect(v('noise-level', { LAeq: 60 }, NOW + MAX_FUTURE_MS).readings).toHaveLength(1);
    const future = v('noise-level', { LAeq: 60, LAmax: 70 }, NOW + MAX_FUTURE_MS + 1);
    expect(future.readings).toEqual([]);
    expect(future.problems).toEqual([
      expect.objectContaining({
        code: 'ts_future',
        reason: expect.stringMatching(
          /is 10 min 0 s ahead of the hub's clock \(limit 10 min 0 s\).*\(2 readings\)/,
        ),
      }),
    ]);
    const past = v('noise-level', { LAeq: 60 }, NOW - MAX_PAST_MS - 1);
    expect(past.problems[0]?.code).toBe('ts_past');
    expect(v('noise-level', { LAeq: 60 }, NOW - MAX_PAST_MS + 1000).readings).toHaveLength(1);
    expect(v('noise-level', { LAeq: 60 }, '2026-01-01').problems[0]?.code).toBe('bad_timestamp');
  });

  it('generic keeps any key: numbers as series, other values with their type', () => {
    const r = v('generic', { a: 1, b: 'text', c: true, d: { x: 1 }, e: null });
    expect(r.readings).toEqual([
      { kind: 'number', key: 'a', ts: NOW, value: 1 },
      { kind: 'json', key: 'b', ts: NOW, value: 'text' },
      { kind: 'json', key: 'c', ts: NOW, value: true },
      { kind: 'json', key: 'd', ts: NOW, value: { x: 1 } },
    ]);
    expect(r.problems.map((p) => p.code)).toEqual(['wrong_type']);
  });

  it('camera detections become events; a bad event names the field', () => {
    const ok = v('camera', {
      event: { type: 'street_vending', confidence: 0.93, snapshot: 'http://x/1.jpg' },
    });
    expect(ok.readings).toEqual([
      {
        kind: 'event',
        key: 'event',
        ts: NOW,
        type: 'street_vending',
        confidence: 0.93,
        snapshot: 'http://x/1.jpg',
        data: {},
      },
    ]);
    const bad = v('camera', { event: { type: 'ufo', confidence: 0.5 } });
    expect(bad.readings).toEqual([]);
    expect(bad.problems[0]?.reason).toMatch(/^event\.type:/);
    expect(v('camera', { event: { type: 'no_helmet', confidence: 1.5 } }).problems[0]?.reason).toMatch(
      /^event\.confidence/,
    );
  });
});

describe('finding 1: poison messages are refused at validation, never thrown', () => {
  const v = (profile: Parameters<typeof validateRecord>[0], values: Record<string, unknown>, ts?: unknown) =>
    validateRecord(profile, { ts, values }, NOW);

  it('a string with U+0000 is refused with a reason, the other keys are kept', () => {
    const r = v('generic', { state: 'a\u0000b', ok: 'fine', n: 1 });
    expect(r.readings.map((x) => x.key).sort()).toEqual(['n', 'ok']);
    expect(r.problems).toEqual([
      { code: 'bad_text', reason: 'state: contains U+0000 (NUL), which the store cannot hold' },
    ]);
  });

  it('a profile key is judged at the edges of its range, and odd values are refused with a reason', () => {
    const at = (value: unknown) => validateRecord('air-quality', { values: { pm10: value } }, NOW);
    expect(at(0).readings).toEqual([{ kind: 'number', key: 'pm10', ts: NOW, value: 0 }]);
    expect(at(5000).readings).toEqual([{ kind: 'number', key: 'pm10', ts: NOW, value: 5000 }]);
    for (const [value, code] of [
      [-0.001, 'out_of_range'],
      [5000.001, 'out_of_range'],
      [1e20, 'out_of_range'],
      [Number.NaN, 'not_finite'],
      ['85', 'wrong_type'],
      ['\u0000', 'wrong_type'],
    ] as const) {
      const r = at(value);
      expect(r.readings, String(value)).toEqual([]);
      expect(
        r.problems.map((p) => p.code),
        String(value),
      ).toEqual([code]);
      expect(r.problems[0]!.reason).toMatch(/^pm10: /);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(at(deep).problems.map((p) => p.code)).toEqual(['wrong_type']);
    // A key with a NUL is not a profile key: named, not stored.
    const nul = validateRecord('air-quality', { values: { 'pm10\u0000': 5 } }, NOW);
    expect(nul.readings).toEqual([]);
    expect(nul.problems).toHaveLength(1);
  });

  it('lone surrogates, NUL in keys, nested strings and deep nesting are refused', () => {
    expect(v('generic', { s: '\uD800x' }).problems[0]?.reason).toMatch(/lone UTF-16 surrogate \(U\+D800\)/);
    expect(v('generic', { s: 'ok \uD83D\uDE00' }).readings).toHaveLength(1); // a real pair is fine
    expect(v('generic', { 'k\u0000': 1 }).problems[0]?.code).toBe('bad_text');
    expect(v('generic', { o: { a: ['x', { b: '\u0000' }] } }).problems[0]?.reason).toMatch(
      /value.a\[1\].b contains U\+0000/,
    );
    expect(v('generic', { o: { '\u0000': 1 } }).problems[0]?.code).toBe('bad_text');
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(v('generic', { deep }).problems[0]?.reason).toMatch(/nested deeper than 32/);
    const cam = v('camera', {
      event: { type: 'street_vending', confidence: 0.9, snapshot: 'rtsp://x/\u0000' },
    });
    expect(cam.problems[0]?.code).toBe('bad_text');
  });

  it('{"ts":1e20} and other out-of-range timestamps give a reason instead of throwing', () => {
    for (const ts of [1e20, -1e20, 8.64e15 + 1, Number.MAX_SAFE_INTEGER]) {
      const r = v('air-quality', { pm10: 5 }, ts);
      expect(r.readings).toEqual([]);
      expect(r.problems[0]?.code).toMatch(/^ts_(future|past)$/);
    }
    expect(v('air-quality', { pm10: 5 }, 1e20).problems[0]?.reason).toMatch(
      /^ts: 100000000000000000000 ms is/,
    );
  });
});

describe('finding 5: clock skew', () => {
  const v = (ts: number, skew?: number) =>
    validateRecord('air-quality', { ts, values: { pm10: 5 } }, NOW, skew);
  it('names the offset and suspects local time near a whole number of hours', () => {
    const beijing = v(NOW + 8 * 3_600_000 + 2_000);
    expect(beijing.problems[0]?.reason).toMatch(
      /is 8 h 0 min ahead of the hub's clock \(limit 10 min 0 s\) — device clock set to local time\?/,
    );
    const odd = v(NOW + 2 * 3_600_000 + 30 * 60_000);
    expect(odd.problems[0]?.reason).toMatch(/2 h 30 min ahead/);
    expect(odd.problems[0]?.reason).not.toMatch(/local time/);
    expect(v(NOW + 20 * 60_000).problems[0]?.reason).not.toMatch(/local time/);
  });
  it('the skew is configurable', () => {
    expect(v(NOW + 20 * 60_000, 30 * 60_000).readings).toHaveLength(1);
    expect(v(NOW + 20 * 60_000, 60_000).problems[0]?.code).toBe('ts_future');
  });
});
