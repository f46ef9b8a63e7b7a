import { describe, expect, it } from 'vitest';
import { durationMs, durationSchema, ruleSchema, validateRule } from './rule-grammar.ts';

const base = {
  id: 'site-dust',
  name: 'Site dust',
  appliesTo: { profile: 'air-quality' },
  category: '0303',
  urgency: 'normal',
};
const pm10 = { kind: 'threshold', key: 'pm10', op: '>', value: 80 };

function errorsOf(input: unknown): string[] {
  const res = validateRule(input);
  if (res.ok) throw new Error(`expected errors, got a valid rule ${JSON.stringify(res.rule)}`);
  return res.errors;
}

describe('durationSchema', () => {
  it.each(['30s', '15m', '2h', '1d', '1w', '500ms', '1.5h'])('accepts %s', (d) => {
    expect(durationSchema.safeParse(d).success).toBe(true);
  });
  it.each(['15', 'm', '0s', '-1m', '15 minutes', '', '1y'])('rejects %j naming the format', (d) => {
    const res = durationSchema.safeParse(d);
    expect(res.success).toBe(false);
    expect(res.error?.issues[0]?.message).toMatch(/expected a duration such as '30s', '15m', '2h' or '1d'/);
  });
  it('converts to milliseconds', () => {
    expect(durationMs('15m')).toBe(900_000);
    expect(durationMs('1d')).toBe(86_400_000);
    expect(() => durationMs('soon')).toThrow(/invalid duration 'soon'/);
  });
});

describe('validateRule', () => {
  it('accepts a rule and fills the defaults', () => {
    const res = validateRule({ ...base, condition: pm10 });
    expect(res).toEqual({
      ok: true,
      rule: {
        ...base,
        enabled: true,
        condition: pm10,
        verifyAfter: '15m',
        relapseWindow: '24h',
      },
    });
  });

  it('fills the event clearAfter default', () => {
    const res = validateRule({
      ...base,
      appliesTo: { profile: 'camera' },
      condition: { kind: 'event', type: 'street_vending', minConfidence: 0.8 },
    });
    expect(res.ok && res.rule.condition).toEqual({
      kind: 'event',
      type: 'street_vending',
      minConfidence: 0.8,
      clearAfter: '30m',
    });
  });

  it('accepts every kind of condition, nested', () => {
    const res = validateRule({
      ...base,
      appliesTo: { profile: 'generic', deviceIds: ['d1'], gridCodePrefix: '330102' },
      condition: {
        kind: 'any',
        conditions: [
          {
            kind: 'sustained',
            for: '10m',
            condition: {
              kind: 'all',
              conditions: [
                {
                  kind: 'threshold',
                  key: 'LAeq',
                  op: '>',
                  value: { attribute: 'noiseNightLimit', default: 55 },
                },
                { kind: 'schedule', from: '22:00', to: '06:00', days: [1, 2, 3, 4, 5] },
              ],
            },
          },
          { kind: 'window', key: 'pm10', agg: 'avg', window: '15m', op: '>=', value: 80, clear: 70 },
          {
            kind: 'dailyCount',
            moreThan: 2,
            condition: { kind: 'threshold', key: 'pm10', op: '>', value: 80 },
          },
          { kind: 'rate', key: 'temperature', perMinute: 10, direction: 'rise' },
          {
            kind: 'reference',
            key: 'pm10',
            referenceDevice: 'bg-1',
            referenceKey: 'pm10',
            op: '>',
            value: { attribute: 'diffLimit', offset: 5 },
          },
          { kind: 'absence', expectedEvery: '5m', intervals: 3 },
          { kind: 'event', type: 'smoke_fire', minConfidence: 0.5, clearAfter: '10m' },
          { kind: 'not', condition: { kind: 'schedule', from: '00:00', to: '24:00', days: [7] } },
        ],
      },
    });
    expect(res.ok ? 'ok' : res.errors).toBe('ok');
  });

  it('names the nested field path (condition.conditions.0.key)', () => {
    const errors = errorsOf({
      ...base,
      condition: { kind: 'all', conditions: [{ kind: 'threshold', op: '>=', value: 1 }] },
    });
    expect(errors).toEqual([expect.stringMatching(/^condition\.conditions\.0\.key: required/)]);
  });

  it('rejects unknown fields by name, at the top and nested', () => {
    const errors = errorsOf({ ...base, severity: 'high', condition: { ...pm10, treshold: 3 } });
    expect(errors).toContain('severity: unknown field');
    expect(errors).toContain('condition.treshold: unknown field');
  });

  it('rejects a bad duration naming the field and the expected format', () => {
    const errors = errorsOf({
      ...base,
      verifyAfter: '15 min',
      condition: { kind: 'sustained', for: 'ten minutes', condition: pm10 },
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^verifyAfter: expected a duration such as '30s', '15m', '2h' or '1d'.*'15 min'/,
        ),
        expect.stringMatching(/^condition\.for: expected a duration/),
      ]),
    );
  });

  it('rejects an unknown condition kind listing the kinds', () => {
    const errors = errorsOf({ ...base, condition: { kind: 'average', key: 'pm10' } });
    expect(errors).toEqual([
      expect.stringMatching(/^condition\.kind: expected a condition with kind one of threshold, /),
    ]);
  });

  it('checks ids, categories, urgencies, profiles', () => {
    const errors = errorsOf({
      ...base,
      id: 'Site Dust',
      category: '303',
      urgency: 'high',
      appliesTo: { profile: 'dust', gridCodePrefix: '33-01' },
      condition: pm10,
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^id: expected 1–64 characters/),
        expect.stringMatching(/^category: expected a 4-digit category code/),
        expect.stringMatching(/^urgency: expected one of 'low', 'normal', 'urgent'/),
        expect.stringMatching(/^appliesTo\.profile: expected one of the profiles waste-container, /),
        expect.stringMatching(/^appliesTo\.gridCodePrefix: expected the leading digits of a grid code/),
      ]),
    );
  });

  it('rejects camera event types it does not know and confidences outside 0..1', () => {
    const errors = errorsOf({
      ...base,
      appliesTo: { profile: 'camera' },
      condition: { kind: 'event', type: 'graffiti', minConfidence: 1.5 },
    });
    expect(errors).toEqual([
      expect.stringMatching(/^condition\.type: expected one of street_vending, exposed_garbage, /),
      'condition.minConfidence: minConfidence must be between 0 and 1',
    ]);
  });

  it('rejects a clear level on the wrong side of the value', () => {
    const errors = errorsOf({ ...base, condition: { ...pm10, op: '>=', clear: 90 } });
    expect(errors).toEqual(["condition.clear: with op '>=' the clear level must be ≤ the value 80, got 90"]);
    expect(validateRule({ ...base, condition: { ...pm10, op: '<', value: 10, clear: 15 } }).ok).toBe(true);
  });

  it('rejects keys the (strict) profile does not have, and events on a profile without them', () => {
    const errors = errorsOf({
      ...base,
      condition: {
        kind: 'any',
        conditions: [
          { kind: 'threshold', key: 'fillingLevel', op: '>=', value: 0.8 },
          { kind: 'event', type: 'no_helmet', minConfidence: 0.8 },
        ],
      },
    });
    expect(errors).toEqual([
      expect.stringMatching(
        /^condition\.conditions\.0\.key: 'fillingLevel' is not a key of profile air-quality \(known: pm10, /,
      ),
      expect.stringMatching(
        /^condition\.conditions\.1\.kind: devices of profile air-quality send no detection events/,
      ),
    ]);
    // generic takes any key
    expect(
      validateRule({ ...base, appliesTo: { profile: 'generic' }, condition: { ...pm10, key: 'anything' } })
        .ok,
    ).toBe(true);
  });

  it('checks schedules', () => {
    const errors = errorsOf({
      ...base,
      condition: {
        kind: 'all',
        conditions: [
          { kind: 'schedule', from: '22:00', to: '22:00' },
          { kind: 'schedule', from: '7:00', to: '24:00', days: [0, 8] },
        ],
      },
    });
    expect(errors).toEqual([
      "condition.conditions.0.to: from and to must differ (for a whole day use '00:00'–'24:00')",
      "condition.conditions.1.from: expected a local time 'HH:MM' (00:00–23:59)",
      'condition.conditions.1.days.0: expected a day of the week: 1 (Monday) … 7 (Sunday)',
      'condition.conditions.1.days.1: expected a day of the week: 1 (Monday) … 7 (Sunday)',
    ]);
  });

  it('needs at least one condition in all/any and a valid valueRef', () => {
    const errors = errorsOf({
      ...base,
      condition: {
        kind: 'all',
        conditions: [
          { kind: 'any', conditions: [] },
          { ...pm10, value: { attr: 'x' } },
          { ...pm10, value: '80' },
        ],
      },
    });
    expect(errors).toEqual([
      'condition.conditions.0.conditions: needs at least one condition',
      expect.stringMatching(/^condition\.conditions\.1\.value: expected a number or \{ attribute/),
      expect.stringMatching(/^condition\.conditions\.2\.value: expected a number or \{ attribute/),
    ]);
  });

  it('reports a non-object and missing fields', () => {
    expect(errorsOf(null)).toEqual([expect.stringMatching(/^\(rule\): /)]);
    const errors = errorsOf({});
    for (const f of ['id', 'name', 'appliesTo', 'category', 'urgency', 'condition'])
      expect(errors).toContainEqual(expect.stringMatching(new RegExp(`^${f}: required`)));
  });

  it('round-trips through JSON', () => {
    const res = validateRule({
      ...base,
      condition: {
        kind: 'window',
        key: 'pm10',
        agg: 'avg',
        window: '15m',
        op: '>',
        value: { attribute: 'pm10Limit', default: 80 },
      },
    });
    if (!res.ok) throw new Error(res.errors.join());
    const again = ruleSchema.parse(JSON.parse(JSON.stringify(res.rule)));
    expect(again).toEqual(res.rule);
  });
});
