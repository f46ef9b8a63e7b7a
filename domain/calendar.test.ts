import { describe, expect, it } from 'vitest';
import {
  addWorkingTime,
  calendarSchema,
  DEFAULT_CALENDAR,
  isWorkingTime,
  NoWorkingTimeError,
  type WorkingCalendar,
  workingDayMs,
  workingMsBetween,
} from './calendar.ts';

/** Local Shanghai wall time → epoch ms. */
const sh = (local: string) => Date.parse(`${local}:00+08:00`);
const H = 3_600_000;
const cal = DEFAULT_CALENDAR; // Asia/Shanghai, 08:30–12:00 + 13:30–17:30, Mon–Fri
const iso = (t: number) => new Date(t).toISOString();

/** 2025 National Day: Oct 1–8 off; Sun Sep 28 and Sat Oct 11 worked (调休). */
const nationalDay: WorkingCalendar = calendarSchema.parse({
  holidays: ['2025-10-01', '2025-10-02', '2025-10-03', '2025-10-06', '2025-10-07', '2025-10-08'],
  extraWorkdays: ['2025-09-28', '2025-10-11'],
});

describe('calendar schema', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_CALENDAR).toEqual({
      timezone: 'Asia/Shanghai',
      hours: [
        { start: '08:30', end: '12:00' },
        { start: '13:30', end: '17:30' },
      ],
      workdays: [1, 2, 3, 4, 5],
      holidays: [],
      extraWorkdays: [],
    });
    expect(workingDayMs(cal)).toBe(7.5 * H);
  });
  it('refuses bad zones, hours and dates, naming the field', () => {
    const bad = (input: unknown) => {
      const r = calendarSchema.safeParse(input);
      expect(r.success).toBe(false);
      return r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') ?? '';
    };
    expect(bad({ timezone: 'Mars/Olympus' })).toMatch(/timezone/);
    expect(bad({ hours: [{ start: '25:00', end: '26:00' }] })).toMatch(/hours/);
    expect(bad({ hours: [{ start: '12:00', end: '08:00' }] })).toMatch(/before end/);
    expect(
      bad({
        hours: [
          { start: '08:00', end: '12:00' },
          { start: '11:00', end: '13:00' },
        ],
      }),
    ).toMatch(/overlap/);
    expect(bad({ hours: [] })).toMatch(/hours/);
    expect(bad({ holidays: ['2025-02-30'] })).toMatch(/holidays/);
    expect(bad({ holidays: ['2025-10-11'], extraWorkdays: ['2025-10-11'] })).toMatch(/both/);
    expect(bad({ workdays: [8] })).toMatch(/workdays/);
  });
});

describe('isWorkingTime', () => {
  it('knows hours, lunch, weekends, holidays and 调休', () => {
    expect(isWorkingTime(cal, sh('2025-12-02T08:30'))).toBe(true);
    expect(isWorkingTime(cal, sh('2025-12-02T08:29'))).toBe(false);
    expect(isWorkingTime(cal, sh('2025-12-02T11:59'))).toBe(true);
    expect(isWorkingTime(cal, sh('2025-12-02T12:00'))).toBe(false); // half-open
    expect(isWorkingTime(cal, sh('2025-12-02T13:29'))).toBe(false);
    expect(isWorkingTime(cal, sh('2025-12-02T13:30'))).toBe(true);
    expect(isWorkingTime(cal, sh('2025-12-02T17:30'))).toBe(false);
    expect(isWorkingTime(cal, sh('2025-12-06T10:00'))).toBe(false); // Saturday
    expect(isWorkingTime(nationalDay, sh('2025-10-02T10:00'))).toBe(false); // Thursday, holiday
    expect(isWorkingTime(nationalDay, sh('2025-10-11T10:00'))).toBe(true); // Saturday, 调休
    expect(isWorkingTime(cal, sh('2025-10-11T10:00'))).toBe(false);
  });
  it('reads hours in the calendar zone, not UTC', () => {
    // 2025-12-02 02:00 UTC is 10:00 in Shanghai (working) and 02:00 in UTC (not).
    const t = Date.parse('2025-12-02T02:00:00Z');
    expect(isWorkingTime(cal, t)).toBe(true);
    expect(isWorkingTime(calendarSchema.parse({ timezone: 'UTC' }), t)).toBe(false);
  });
});

describe('addWorkingTime', () => {
  it('carries a Friday-evening case over the weekend (wh)', () => {
    // Fri 2025-11-28 17:00 + 4 wh: 0.5 h on Friday (17:00–17:30), 3.5 h Monday 08:30–12:00.
    expect(iso(addWorkingTime(cal, sh('2025-11-28T17:00'), { value: 4, unit: 'wh' }))).toBe(
      iso(sh('2025-12-01T12:00')),
    );
    // + 5 wh: 0.5 + 3.5 (Mon morning) + 1 h after lunch → Monday 14:30.
    expect(addWorkingTime(cal, sh('2025-11-28T17:00'), { value: 5, unit: 'wh' })).toBe(
      sh('2025-12-01T14:30'),
    );
  });
  it('skips the lunch break', () => {
    // Tue 11:00 + 2 wh: 1 h to noon, lunch 12:00–13:30 skipped, 1 h → 14:30.
    expect(addWorkingTime(cal, sh('2025-12-02T11:00'), { value: 2, unit: 'wh' })).toBe(
      sh('2025-12-02T14:30'),
    );
    // Starting inside lunch counts from 13:30.
    expect(addWorkingTime(cal, sh('2025-12-02T12:30'), { value: 1, unit: 'wh' })).toBe(
      sh('2025-12-02T14:30'),
    );
  });
  it('starts outside working time at the next working moment', () => {
    expect(addWorkingTime(cal, sh('2025-12-06T10:00'), { value: 1, unit: 'wh' })).toBe(
      sh('2025-12-08T09:30'),
    );
    expect(addWorkingTime(cal, sh('2025-12-02T06:00'), { value: 1, unit: 'wh' })).toBe(
      sh('2025-12-02T09:30'),
    );
  });
  it('ends at the end of an interval when the time is used up exactly there', () => {
    expect(addWorkingTime(cal, sh('2025-11-28T17:00'), { value: 0.5, unit: 'wh' })).toBe(
      sh('2025-11-28T17:30'),
    );
    expect(addWorkingTime(cal, sh('2025-12-02T10:00'), { value: 0, unit: 'wh' })).toBe(
      sh('2025-12-02T10:00'),
    );
  });
  it('counts working days as N × 7.5 working hours', () => {
    // 1 wd from Tue 10:00 → Wed 10:00.
    expect(addWorkingTime(cal, sh('2025-12-02T10:00'), { value: 1, unit: 'wd' })).toBe(
      sh('2025-12-03T10:00'),
    );
    // 2 wd = 15 h from Fri 17:00: 0.5 Fri + 7.5 Mon + 3.5 Tue morning + 3.5 Tue afternoon → Tue 17:00.
    expect(addWorkingTime(cal, sh('2025-11-28T17:00'), { value: 2, unit: 'wd' })).toBe(
      sh('2025-12-02T17:00'),
    );
    // Registered Tue 20:00 with 1 wd → end of Wednesday.
    expect(addWorkingTime(cal, sh('2025-12-02T20:00'), { value: 1, unit: 'wd' })).toBe(
      sh('2025-12-03T17:30'),
    );
  });
  it('handles fractional values', () => {
    expect(addWorkingTime(cal, sh('2025-12-06T10:00'), { value: 0.5, unit: 'h' })).toBe(
      sh('2025-12-06T10:30'),
    );
    // 0.5 wh from Tue 11:50: 10 min before noon, 20 min after lunch → 13:50.
    expect(addWorkingTime(cal, sh('2025-12-02T11:50'), { value: 0.5, unit: 'wh' })).toBe(
      sh('2025-12-02T13:50'),
    );
    // 1.5 wd = 11.25 h from Mon 08:30: 7.5 Mon + 3.5 Tue morning + 0.25 → Tue 13:45.
    expect(addWorkingTime(cal, sh('2025-12-01T08:30'), { value: 1.5, unit: 'wd' })).toBe(
      sh('2025-12-02T13:45'),
    );
  });
  it('runs urgent limits (h) on the wall clock, weekends and holidays included', () => {
    expect(addWorkingTime(cal, sh('2025-11-28T23:00'), { value: 2, unit: 'h' })).toBe(sh('2025-11-29T01:00'));
    expect(addWorkingTime(nationalDay, sh('2025-10-01T10:00'), { value: 8, unit: 'h' })).toBe(
      sh('2025-10-01T18:00'),
    );
  });
  it('skips holidays and works on 调休 weekend days', () => {
    // Tue Sep 30 16:00 + 4 wh: 1.5 h on Sep 30, Oct 1–8 off, 2.5 h on Thu Oct 9 → 11:00.
    expect(addWorkingTime(nationalDay, sh('2025-09-30T16:00'), { value: 4, unit: 'wh' })).toBe(
      sh('2025-10-09T11:00'),
    );
    // Fri Oct 10 17:00 + 2 wh: 0.5 h Friday, then Saturday Oct 11 is a working day → 10:00.
    expect(addWorkingTime(nationalDay, sh('2025-10-10T17:00'), { value: 2, unit: 'wh' })).toBe(
      sh('2025-10-11T10:00'),
    );
    // Sat Sep 27 10:00 + 1 wh → Sun Sep 28 (调休) 09:30.
    expect(addWorkingTime(nationalDay, sh('2025-09-27T10:00'), { value: 1, unit: 'wh' })).toBe(
      sh('2025-09-28T09:30'),
    );
    // Without the holidays the same start is due on Wed Oct 1.
    expect(addWorkingTime(cal, sh('2025-09-30T16:00'), { value: 4, unit: 'wh' })).toBe(
      sh('2025-10-01T11:00'),
    );
  });
  it('follows daylight saving time in zones that have it', () => {
    // Berlin leaves summer time on Sun 2025-10-26; Friday 17:00 CEST + 4 wh → Monday 12:00 CET.
    const berlin = calendarSchema.parse({ timezone: 'Europe/Berlin' });
    expect(
      iso(addWorkingTime(berlin, Date.parse('2025-10-24T17:00:00+02:00'), { value: 4, unit: 'wh' })),
    ).toBe(iso(Date.parse('2025-10-27T12:00:00+01:00')));
  });
  it('throws a clear error for a calendar with no working time', () => {
    const noHours: WorkingCalendar = { ...cal, hours: [] };
    expect(() => addWorkingTime(noHours, sh('2025-12-01T10:00'), { value: 4, unit: 'wh' })).toThrow(
      NoWorkingTimeError,
    );
    expect(() => addWorkingTime(noHours, sh('2025-12-01T10:00'), { value: 4, unit: 'wh' })).toThrow(
      /no working time at all/,
    );
    const noDays: WorkingCalendar = { ...cal, workdays: [] };
    expect(() => addWorkingTime(noDays, sh('2025-12-01T10:00'), { value: 1, unit: 'wd' })).toThrow(
      /no working time at all/,
    );
    // Only one (past) working day: the scan gives up after 400 empty days instead of looping.
    const past: WorkingCalendar = { ...cal, workdays: [], extraWorkdays: ['2020-01-02'] };
    expect(() => addWorkingTime(past, sh('2025-12-01T10:00'), { value: 1, unit: 'wh' })).toThrow(
      /no working time in 400 consecutive days/,
    );
    // Wall-clock limits do not need working time.
    expect(addWorkingTime(noHours, sh('2025-12-01T10:00'), { value: 1, unit: 'h' })).toBe(
      sh('2025-12-01T11:00'),
    );
  });
  it('refuses negative or non-finite limits', () => {
    expect(() => addWorkingTime(cal, sh('2025-12-01T10:00'), { value: -1, unit: 'wh' })).toThrow(
      /non-negative/,
    );
    expect(() => addWorkingTime(cal, Number.NaN, { value: 1, unit: 'wh' })).toThrow(/finite/);
  });
});

describe('workingMsBetween', () => {
  it('counts only working time', () => {
    expect(workingMsBetween(cal, sh('2025-11-28T17:00'), sh('2025-12-01T12:00'))).toBe(4 * H);
    expect(workingMsBetween(cal, sh('2025-12-02T12:00'), sh('2025-12-02T13:30'))).toBe(0);
    expect(workingMsBetween(cal, sh('2025-12-01T00:00'), sh('2025-12-08T00:00'))).toBe(5 * 7.5 * H);
    expect(workingMsBetween(nationalDay, sh('2025-09-30T16:00'), sh('2025-10-09T11:00'))).toBe(4 * H);
    expect(workingMsBetween(cal, sh('2025-12-01T12:00'), sh('2025-11-28T17:00'))).toBe(-4 * H);
  });
  it('is the inverse of addWorkingTime', () => {
    const starts = ['2025-11-28T17:00', '2025-12-02T11:50', '2025-12-06T03:00', '2025-09-30T16:00'];
    for (const s of starts)
      for (const value of [0.25, 1, 4, 7.5, 20]) {
        const end = addWorkingTime(nationalDay, sh(s), { value, unit: 'wh' });
        expect(workingMsBetween(nationalDay, sh(s), end)).toBe(value * H);
      }
  });
});
