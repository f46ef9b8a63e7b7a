/**
 * Step 1 of ingest: bytes → records. The three payload forms of ThingsBoard's device API
 * (https://thingsboard.io/docs/reference/mqtt-api/#telemetry-upload-api):
 *   {"pm10": 85.2}                               timestamp = arrival time
 *   {"ts": 1764115200000, "values": {"pm10": 85}} epoch milliseconds
 *   [ either of the above, … ]                   the SDKs send [{"pm10": 85.2}]
 * and the gateway form {"NAME": [{"ts": …, "values": {…}}, …], …}.
 */
export interface RawRecord {
  ts?: unknown;
  values: Record<string, unknown>;
}

export interface Problem {
  code: RejectCode;
  reason: string;
}

export type RejectCode =
  | 'malformed_json'
  | 'bad_shape'
  | 'too_large'
  | 'bad_timestamp'
  | 'ts_future'
  | 'ts_past'
  | 'unknown_key'
  | 'wrong_type'
  | 'not_finite'
  | 'out_of_range'
  | 'unknown_device'
  | 'too_many_keys'
  | 'empty'
  /** A string the store cannot hold (U+0000, a lone surrogate) or JSON nested too deep. */
  | 'bad_text'
  /** The store refused a reading for a reason retrying cannot cure (its message says which). */
  | 'store_refused'
  /** A step of the pipeline failed on this message: a bug, contained to the message. */
  | 'internal';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: Problem };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseJson(payload: Buffer): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch (err) {
    return {
      ok: false,
      problem: { code: 'malformed_json', reason: `malformed JSON: ${(err as Error).message}` },
    };
  }
}

function toRecord(item: unknown, where: string): Parsed<RawRecord> {
  if (!isPlainObject(item)) {
    return {
      ok: false,
      problem: { code: 'bad_shape', reason: `${where}: expected a JSON object, got ${kind(item)}` },
    };
  }
  if ('values' in item && isPlainObject(item.values)) {
    const extra = Object.keys(item).filter((k) => k !== 'ts' && k !== 'values');
    if (extra.length) {
      return {
        ok: false,
        problem: { code: 'bad_shape', reason: `${where}: unexpected ${extra.join(', ')} beside ts/values` },
      };
    }
    return { ok: true, value: { ts: item.ts, values: item.values } };
  }
  if ('values' in item) {
    return {
      ok: false,
      problem: { code: 'bad_shape', reason: `${where}.values: expected an object, got ${kind(item.values)}` },
    };
  }
  return { ok: true, value: { values: item } };
}

export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

/** Device telemetry: one object or an array of objects; each is a record. */
export function parseTelemetry(json: unknown): { records: RawRecord[]; problems: Problem[] } {
  if (!Array.isArray(json)) {
    // Most messages are one record: no list of items, no closure.
    const r = toRecord(json, 'payload');
    return r.ok ? { records: [r.value], problems: [] } : { records: [], problems: [r.problem] };
  }
  const items = json;
  const records: RawRecord[] = [];
  const problems: Problem[] = [];
  if (items.length === 0) problems.push({ code: 'empty', reason: 'an empty array carries no readings' });
  items.forEach((item, i) => {
    const r = toRecord(item, `[${i}]`);
    if (r.ok) records.push(r.value);
    else problems.push(r.problem);
  });
  return { records, problems };
}

/** Gateway telemetry: {"NAME": [records…]} (a single record object is accepted too). */
export function parseGatewayTelemetry(json: unknown): Parsed<Map<string, unknown>> {
  if (!isPlainObject(json)) {
    return {
      ok: false,
      problem: {
        code: 'bad_shape',
        reason: `gateway telemetry: expected {"DEVICE NAME": [...]}, got ${kind(json)}`,
      },
    };
  }
  return { ok: true, value: new Map(Object.entries(json)) };
}
