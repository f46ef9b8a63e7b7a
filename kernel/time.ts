/** Time helpers for a city's zone (IANA), without a date library. */

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter giving a zone's local calendar date and 24-hour time in parts. */
export function zoneFormatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at `epochMs`, in milliseconds (Asia/Shanghai → +8 h). */
export function zoneOffsetMs(zone: string, epochMs: number): number {
  const parts = zoneFormatter(zone).formatToParts(new Date(epochMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/**
 * Origin for day and week buckets: Monday 2000-01-03 00:00 local time (the same origin
 * TimescaleDB's time_bucket uses in UTC), so a day bucket is a local calendar day.
 */
export function bucketOrigin(zone: string): number {
  const utcMidnight = Date.UTC(2000, 0, 3);
  return utcMidnight - zoneOffsetMs(zone, utcMidnight);
}

/** Accepts ISO 8601 or epoch milliseconds; undefined when it is neither. */
export function parseTime(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input : undefined;
  const s = input.trim();
  if (/^-?\d+$/.test(s)) return Number(s);
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}
