/**
 * Local time of the city zone for schedules, calendar days and the times in explanations.
 *
 * A zone's offset is looked up once per quarter hour (zone transitions happen on quarter hours) and
 * remembered per zone: the memo holds only what a pure function of (zone, time) returns, so it
 * changes no result, and it is bounded.
 */
import { zoneOffsetMs } from '../../kernel/index.ts';

const QUARTER_MS = 900_000;
/** Quarter hours remembered per zone before its memo starts over. */
const MAX_QUARTERS = 10_000;
/** Zones remembered before the memo starts over (a hub has one; tests try several). */
const MAX_ZONES = 64;

/** What is remembered of one zone. */
class ZoneMemo {
  readonly offsets = new Map<number, number>();
  /** The last quarter hour asked for (readings of one time mostly ask the same). */
  quarter = Number.NaN;
  offset = 0;
  /** The last quarter hour a calendar day was asked for, and that day. */
  dayQuarter = Number.NaN;
  day = '';
  constructor(readonly zone: string) {}

  offsetAt(ts: number): number {
    const quarter = Math.floor(ts / QUARTER_MS);
    if (quarter === this.quarter) return this.offset;
    let off = this.offsets.get(quarter);
    if (off === undefined) {
      try {
        off = zoneOffsetMs(this.zone, ts);
      } catch (err) {
        throw new Error(`invalid time zone '${this.zone}' in the rule context: ${(err as Error).message}`);
      }
      if (!Number.isFinite(off)) throw new Error(`invalid time zone '${this.zone}' in the rule context`);
      if (this.offsets.size > MAX_QUARTERS) this.offsets.clear();
      this.offsets.set(quarter, off);
    }
    this.quarter = quarter;
    this.offset = off;
    return off;
  }

  localDay(ts: number): string {
    const quarter = Math.floor(ts / QUARTER_MS);
    if (quarter === this.dayQuarter) return this.day;
    const off = this.offsetAt(ts);
    const day = new Date(ts + off).toISOString().slice(0, 10);
    // With a whole number of quarter hours of offset, a quarter hour lies within one local day.
    if (off % QUARTER_MS === 0) {
      this.dayQuarter = quarter;
      this.day = day;
    }
    return day;
  }
}

const memos = new Map<string, ZoneMemo>();

function zone(timezone: string): ZoneMemo {
  let m = memos.get(timezone);
  if (m === undefined) {
    if (memos.size >= MAX_ZONES) memos.clear();
    m = new ZoneMemo(timezone);
    memos.set(timezone, m);
  }
  return m;
}

/** The zone's offset from UTC at `ts`, ms. */
export function offsetAt(timezone: string, ts: number): number {
  return zone(timezone).offsetAt(ts);
}

/** Local calendar day 'YYYY-MM-DD' of `ts` in `timezone`. */
export function localDay(ts: number, timezone: string): string {
  return zone(timezone).localDay(ts);
}

/** ISO 8601 local time with the zone's offset: '2026-11-26T13:05:00+08:00'. */
export function localIso(ts: number, timezone: string): string {
  const off = offsetAt(timezone, ts);
  const abs = Math.abs(off) / 60_000;
  const sign = off < 0 ? '-' : '+';
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${new Date(ts + off).toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}
