import { describe, expect, it } from 'vitest';
import { presencePeriods } from './presence.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const p = (from: number, to: number, online: boolean) => ({ from: iso(from), to: iso(to), online });

describe('presencePeriods', () => {
  it('nothing known before the first change: no period is drawn there', () => {
    expect(presencePeriods(null, [], 0, 100)).toEqual([]);
    expect(presencePeriods(null, [{ ts: 40, online: true }], 0, 100)).toEqual([p(40, 100, true)]);
  });

  it('the window opens with the state of the last change before it', () => {
    expect(presencePeriods({ ts: -5, online: false }, [{ ts: 30, online: true }], 0, 100)).toEqual([
      p(0, 30, false),
      p(30, 100, true),
    ]);
  });

  it('repeats merge; a change in the same millisecond leaves no empty period', () => {
    expect(
      presencePeriods(
        { ts: -1, online: true },
        [
          { ts: 10, online: true },
          { ts: 20, online: false },
          { ts: 20, online: true },
          { ts: 50, online: false },
        ],
        0,
        60,
      ),
    ).toEqual([p(0, 50, true), p(50, 60, false)]);
  });

  it('changes outside the window are ignored', () => {
    expect(presencePeriods(null, [{ ts: 200, online: true }], 0, 100)).toEqual([]);
  });
});
