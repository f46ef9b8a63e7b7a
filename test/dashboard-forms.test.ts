// The dashboard's form checks (web/ui/src/forms.ts) in both languages, against the API's own
// schemas: what the form lets through, the shared schema accepts; what it refuses is named.
import { beforeAll, describe, expect, it } from 'vitest';
import { calendarSchema, DEFAULT_CALENDAR } from '../domain/index.ts';
import type { Messages } from '../web/ui/src/i18n.ts';

let MESSAGES: Record<'zh' | 'en', Messages>;
let forms: typeof import('../web/ui/src/forms.ts');
beforeAll(async () => {
  // i18n.ts reaches api.ts, which reads the sign-in hint from localStorage when loaded.
  (globalThis as { localStorage?: unknown }).localStorage ??= {
    getItem: () => null,
    setItem: () => {},
    removeItem: () => {},
  };
  ({ MESSAGES } = await import('../web/ui/src/i18n.ts'));
  forms = await import('../web/ui/src/forms.ts');
});
const zoneOk = (z: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: z });
    return true;
  } catch {
    return false;
  }
};

describe('unit form', () => {
  it('a valid unit passes and is what PUT /api/units/:id accepts', () => {
    const r = forms.unitProblems(MESSAGES.zh, {
      id: 'sanitation-2',
      name: ' 环卫二所 ',
      categories: ['0101'],
      gridCodes: '330102001, 330102002001',
    });
    expect(r.problems).toEqual([]);
    expect(r.body).toEqual({
      name: '环卫二所',
      categories: ['0101'],
      gridCodes: ['330102001', '330102002001'],
    });
  });

  it('names each bad field in the language of the page', () => {
    for (const lang of ['zh', 'en'] as const) {
      const m = MESSAGES[lang];
      const r = forms.unitProblems(m, { id: '-bad id', name: '  ', categories: [], gridCodes: '12ab' });
      expect(r.body).toBeUndefined();
      expect(r.problems).toEqual([
        { field: 'id', message: m.formErr.id },
        { field: 'name', message: m.formErr.name },
        { field: 'gridCodes', message: m.formErr.gridCodes },
      ]);
    }
    // The edges: 64 characters is an id, 65 is not; 200 characters is a name, 201 is not.
    const ok = forms.unitProblems(MESSAGES.en, {
      id: `a${'b'.repeat(63)}`,
      name: 'x'.repeat(200),
      categories: [],
      gridCodes: '',
    });
    expect(ok.problems).toEqual([]);
    const bad = forms.unitProblems(MESSAGES.en, {
      id: `a${'b'.repeat(64)}`,
      name: 'x'.repeat(201),
      categories: [],
      gridCodes: '',
    });
    expect(bad.problems.map((p) => p.field)).toEqual(['id', 'name']);
  });
});

describe('calendar form', () => {
  const cal = (patch: Partial<typeof DEFAULT_CALENDAR>) => ({
    ...structuredClone(DEFAULT_CALENDAR),
    ...patch,
  });

  it('the default calendar and one with holidays and make-up days pass, as the API schema agrees', () => {
    for (const c of [
      cal({}),
      cal({ holidays: ['2026-10-01', '2026-10-02'], extraWorkdays: ['2026-09-27'] }),
    ]) {
      expect(forms.calendarProblems(MESSAGES.zh, c, zoneOk)).toEqual([]);
      expect(calendarSchema.safeParse(c).success).toBe(true);
    }
  });

  it('every problem the API schema refuses is refused first, in plain words, in both languages', () => {
    const cases: [Partial<typeof DEFAULT_CALENDAR>, string, (m: Messages) => string][] = [
      [{ timezone: 'Mars/Olympus' }, 'timezone', (m) => m.formErr.zone],
      [{ hours: [] }, 'hours', (m) => m.formErr.noHours],
      [{ hours: [{ start: '9:00', end: '12:00' }] }, 'hours.0', (m) => m.formErr.hhmm],
      [{ hours: [{ start: '12:00', end: '12:00' }] }, 'hours.0', (m) => m.formErr.startEnd('12:00', '12:00')],
      [
        {
          hours: [
            { start: '08:00', end: '12:00' },
            { start: '11:59', end: '17:00' },
          ],
        },
        'hours',
        (m) => m.formErr.overlap,
      ],
      [{ holidays: ['2026-02-30'] }, 'holidays', (m) => m.formErr.date],
      [{ holidays: ['2026-10-01', '2026-10-01'] }, 'holidays', (m) => m.formErr.duplicate('2026-10-01')],
      [
        { holidays: ['2026-10-01'], extraWorkdays: ['2026-10-01'] },
        'extraWorkdays',
        (m) => m.formErr.both('2026-10-01'),
      ],
      [{ workdays: [], extraWorkdays: [] }, 'workdays', (m) => m.formErr.noDays],
    ];
    for (const [patch, field, msg] of cases) {
      const c = cal(patch);
      const schemaRefuses = !calendarSchema.safeParse(c).success;
      for (const lang of ['zh', 'en'] as const) {
        const m = MESSAGES[lang];
        expect(forms.calendarProblems(m, c, zoneOk), JSON.stringify(patch)).toContainEqual({
          field,
          message: msg(m),
        });
      }
      // A duplicate date is tidied by the form only (the API keeps it harmlessly).
      if (field !== 'holidays' || !patch.holidays?.[1])
        expect(schemaRefuses, JSON.stringify(patch)).toBe(true);
    }
    // Adjacent intervals (12:00–12:00) are not an overlap.
    expect(
      forms.calendarProblems(
        MESSAGES.en,
        cal({
          hours: [
            { start: '08:00', end: '12:00' },
            { start: '12:00', end: '17:00' },
          ],
        }),
        zoneOk,
      ),
    ).toEqual([]);
  });
});

describe('backtest range', () => {
  const now = Date.parse('2026-12-06T08:00:00Z');
  const DAY = 86_400_000;
  it('accepts up to the server limit and names the problem past it', () => {
    const m = MESSAGES.en;
    expect(forms.backtestRangeProblem(m, now - 31 * DAY, now, now)).toBeNull();
    expect(forms.backtestRangeProblem(m, now - 31 * DAY - 60_000, now, now)).toBe(m.formErr.range(31));
    expect(forms.backtestRangeProblem(m, now, now, now)).toBe(m.formErr.fromTo);
    expect(forms.backtestRangeProblem(m, now - DAY, now + 2 * 60_000, now)).toBe(m.formErr.future);
    expect(forms.backtestRangeProblem(m, Number.NaN, now, now)).toBe(m.formErr.missing);
    expect(forms.BACKTEST_MAX_DAYS).toBe(31);
  });
});
