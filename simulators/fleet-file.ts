/**
 * `gridhub simulate --fleet FILE`: the devices to simulate, from a JSON file instead of the demo
 * district.
 *
 *   { "devices": [
 *       { "id": "cam-1", "profile": "camera", "location": { "lng": 120.16, "lat": 30.25 } },
 *       { "id": "gw-1", "profile": "gateway", "location": { "lng": 120.17, "lat": 30.26 } },
 *       { "id": "gw-1-dust", "profile": "air-quality", "gateway": "gw-1", "everyMs": 10000 } ] }
 *
 * `profile` is a simulated profile (`waste-container`, `air-quality`, `noise-level`,
 * `tower-crane`, `camera`) or `gateway` (a data logger: created with `gateway: true`, it publishes
 * nothing itself and carries the devices that name it in `gateway`). `location` is required except
 * for a gateway's children (the hub places them at their gateway; a child's own location is set
 * afterwards). Optional: `name`, `everyMs` (publishing period, default `--interval`), `scene`
 * (`street` or `site`, cameras only).
 *
 * Every problem names the file, the line and the field: `fleet.json:7: devices[1].location.lat:
 * expected a number from -90 to 90, got "30.25"`. The JSON is read by a small parser of its own that
 * remembers where each value starts (JSON.parse does not say where on Node 20).
 */

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describeValue, formatPath } from './messages.ts';
import { CAMERA_SCENES, type CameraScene, SIM_PROFILES, type SimProfile } from './models/index.ts';
import type { FleetDeviceSpec } from './roster.ts';

export interface FleetFileDevice {
  id: string;
  name?: string;
  profile: SimProfile | 'gateway';
  location?: { lng: number; lat: number };
  gateway?: string;
  everyMs?: number;
  scene?: CameraScene;
}

export interface FleetFile {
  devices: FleetFileDevice[];
}

export interface FleetFileIssue {
  /** 1-based; 0 when unknown. */
  line: number;
  /** `devices[2].location.lat`, or '' for the whole file. */
  path: string;
  message: string;
}

/** An invalid fleet file: one line per problem, `FILE:LINE: path: message`. */
export class FleetFileError extends Error {
  readonly file: string;
  readonly issues: FleetFileIssue[];
  constructor(file: string, issues: FleetFileIssue[]) {
    const sorted = [...issues].sort((a, b) => a.line - b.line);
    super(sorted.map((i) => formatFleetIssue(file, i)).join('\n'));
    this.name = 'FleetFileError';
    this.file = file;
    this.issues = sorted;
    this.stack = `${this.name}: ${this.message}`;
  }
}

export const formatFleetIssue = (file: string, i: FleetFileIssue) =>
  `${file}${i.line ? `:${i.line}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`;

export const MIN_EVERY_MS = 100;
export const MAX_EVERY_MS = 86_400_000;
const MAX_DEVICES = 100_000;

// ---- a JSON parser that remembers where every value is --------------------------------------------

type PathKey = string | number;

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

interface Located {
  value: unknown;
  /** Offset of the value at each path (`formatPath`), '' being the root. */
  offsets: Map<string, number>;
}

/** Strict JSON (RFC 8259) → the value and where each value starts. Throws JsonSyntaxError. */
export function parseJsonLocated(text: string): Located {
  const offsets = new Map<string, number>();
  let i = 0;
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const describeAt = () => (i >= text.length ? 'the end of the file' : JSON.stringify(text[i]));
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`invalid JSON: expected ${what}, found ${describeAt()}`, i);
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) {
        i = start;
        throw new JsonSyntaxError('invalid JSON: a string is not closed', start);
      }
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e !== undefined && e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          throw new JsonSyntaxError('invalid JSON: a bad escape in a string', i);
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20)
        throw new JsonSyntaxError('invalid JSON: a control character in a string', i);
      out += c;
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (path: PathKey[]): unknown => {
    ws();
    offsets.set(formatPath(path), i);
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a key in double quotes');
        const key = string();
        ws();
        if (text[i] !== ':') fail("':' after a key");
        i++;
        obj[key] = value([...path, key]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value([...path, arr.length]));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail('a value');
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  const root = value([]);
  ws();
  if (i < text.length) fail('the end of the file');
  return { value: root, offsets };
}

const lineAt = (text: string, offset: number) => {
  let line = 1;
  for (let k = 0; k < offset && k < text.length; k++) if (text.charCodeAt(k) === 0x0a) line++;
  return line;
};

// ---- the schema ---------------------------------------------------------------------------------

const describe = (v: unknown) => describeValue(v);

const PROFILE_CHOICES = [...SIM_PROFILES, 'gateway'] as const;

const coordinate = (name: string, limit: number) =>
  z
    .number({ error: (iss) => `expected a number, got ${describe(iss.input)}` })
    .refine((v) => v >= -limit && v <= limit, {
      error: (iss) => `${name} must be from -${limit} to ${limit}, got ${describe(iss.input)}`,
    });

const deviceSchema = z
  .object({
    id: z
      .string({ error: (iss) => `expected a device id (a string), got ${describe(iss.input)}` })
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, {
        error: (iss) =>
          `${describe(iss.input)} is not a device id: 1–128 letters, digits and . _ : @ - (starting with a letter or digit)`,
      }),
    name: z.string().min(1).max(200).optional(),
    profile: z.enum(PROFILE_CHOICES, {
      error: (iss) => `expected one of ${PROFILE_CHOICES.join(', ')}, got ${describe(iss.input)}`,
    }),
    location: z
      .object(
        { lng: coordinate('lng', 180), lat: coordinate('lat', 90) },
        { error: (iss) => `expected {"lng": …, "lat": …}, got ${describe(iss.input)}` },
      )
      .strict()
      .optional(),
    gateway: z
      .string({ error: (iss) => `expected the id of a gateway in this file, got ${describe(iss.input)}` })
      .optional(),
    everyMs: z
      .number({ error: (iss) => `expected milliseconds (a number), got ${describe(iss.input)}` })
      .int({ error: (iss) => `expected whole milliseconds, got ${describe(iss.input)}` })
      .min(MIN_EVERY_MS, { error: (iss) => `at least ${MIN_EVERY_MS} ms, got ${describe(iss.input)}` })
      .max(MAX_EVERY_MS, { error: (iss) => `at most ${MAX_EVERY_MS} ms (a day), got ${describe(iss.input)}` })
      .optional(),
    scene: z
      .enum(CAMERA_SCENES as [CameraScene, ...CameraScene[]], {
        error: (iss) => `expected ${CAMERA_SCENES.join(' or ')}, got ${describe(iss.input)}`,
      })
      .optional(),
  })
  .strict();

const fileSchema = z
  .object(
    {
      devices: z
        .array(deviceSchema, { error: (iss) => `expected a list of devices, got ${describe(iss.input)}` })
        .min(1, 'the list is empty: name at least one device')
        .max(MAX_DEVICES, `at most ${MAX_DEVICES} devices`),
    },
    { error: (iss) => `expected {"devices": [...]}, got ${describe(iss.input)}` },
  )
  .strict();

/** Zod's words for the issues it phrases itself, in ours. */
function issueMessage(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type' && input === undefined) return 'required';
  return issue.message;
}

const valueAt = (root: unknown, path: readonly PropertyKey[]): unknown => {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
};

/**
 * Parses and checks a fleet file's text. Throws a FleetFileError naming every problem (the file,
 * the line, the field) — syntax, shape, and the cross-references (unique ids, gateways that exist
 * and are gateways, locations where the hub needs them).
 */
export function parseFleetFile(text: string, file = 'fleet.json'): FleetFile {
  let located: Located;
  try {
    located = parseJsonLocated(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError)
      throw new FleetFileError(file, [{ line: lineAt(text, err.offset), path: '', message: err.message }]);
    throw err;
  }
  const { value, offsets } = located;
  /** The line of the deepest part of `path` that is in the file. */
  const lineOf = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      const at = offsets.get(formatPath(path.slice(0, n) as PathKey[]));
      if (at !== undefined) return lineAt(text, at);
    }
    return 0;
  };
  const issues: FleetFileIssue[] = [];
  const add = (path: PathKey[], message: string) =>
    issues.push({ line: lineOf(path), path: formatPath(path), message });

  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.filter((p): p is PathKey => typeof p !== 'symbol');
      add(path, issueMessage(issue, valueAt(value, path)));
    }
  }
  // The references among devices, also when some are malformed (all problems at once).
  const list = (value as { devices?: unknown } | null)?.devices;
  if (Array.isArray(list)) crossCheck(list, add);
  if (issues.length || !parsed.success) throw new FleetFileError(file, issues);
  return { devices: parsed.data.devices as FleetFileDevice[] };
}

/** Unique ids, gateways that exist and are gateways, locations where the hub needs them. */
function crossCheck(raw: readonly unknown[], add: (path: PathKey[], message: string) => void): void {
  const devices = raw.map((d) =>
    d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : undefined,
  );
  const index = new Map<string, number>();
  devices.forEach((d, i) => {
    if (typeof d?.id !== 'string') return;
    const first = index.get(d.id);
    if (first !== undefined) add(['devices', i, 'id'], `${d.id} is already the id of devices[${first}]`);
    else index.set(d.id, i);
  });
  devices.forEach((d, i) => {
    if (!d) return;
    const isGateway = d.profile === 'gateway';
    if (typeof d.gateway === 'string') {
      const p = index.get(d.gateway);
      const parent = p === undefined ? undefined : devices[p];
      if (isGateway) add(['devices', i, 'gateway'], 'a gateway cannot report through another gateway');
      else if (!parent) add(['devices', i, 'gateway'], `no device ${JSON.stringify(d.gateway)} in this file`);
      else if (parent.profile !== 'gateway')
        add(
          ['devices', i, 'gateway'],
          `${d.gateway} is not a gateway (devices[${p}] has profile ${describe(parent.profile)}; a gateway has profile gateway)`,
        );
    } else if (d.gateway === undefined && d.location === undefined) {
      add(['devices', i, 'location'], 'required (only the children of a gateway may leave it out)');
    }
    if (isGateway && d.everyMs !== undefined)
      add(['devices', i, 'everyMs'], 'a gateway publishes when its children do: set everyMs on them');
    if (d.scene !== undefined && typeof d.profile === 'string' && d.profile !== 'camera')
      add(['devices', i, 'scene'], `only for cameras (this is ${d.profile})`);
  });
}

/** Reads and checks a fleet file (FleetFileError for every problem, including a missing file). */
export function loadFleetFile(path: string): FleetFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new FleetFileError(path, [
      {
        line: 0,
        path: '',
        message: code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`,
      },
    ]);
  }
  return parseFleetFile(text, path);
}

/** The fleet's device specs: gateways carry their children, the rest publish on their own. */
export function fleetFileDevices(file: FleetFile): FleetDeviceSpec[] {
  const out: FleetDeviceSpec[] = [];
  const gateways = new Map<string, FleetDeviceSpec>();
  for (const d of file.devices) {
    if (d.profile !== 'gateway') continue;
    const spec: FleetDeviceSpec = {
      id: d.id,
      name: d.name ?? d.id,
      profile: 'generic',
      location: d.location ?? { lng: 0, lat: 0 },
      gateway: true,
      children: [],
    };
    gateways.set(d.id, spec);
  }
  for (const d of file.devices) {
    if (d.profile === 'gateway') {
      out.push(gateways.get(d.id)!);
      continue;
    }
    const extra = {
      ...(d.everyMs !== undefined ? { everyMs: d.everyMs } : {}),
      ...(d.scene !== undefined ? { scene: d.scene } : {}),
    };
    const parent = d.gateway === undefined ? undefined : gateways.get(d.gateway);
    if (parent) {
      parent.children!.push({
        id: d.id,
        profile: d.profile,
        ...(d.location ? { location: d.location } : {}),
        ...(d.name ? { name: d.name } : {}),
        ...extra,
      });
    } else {
      out.push({ id: d.id, name: d.name ?? d.id, profile: d.profile, location: d.location!, ...extra });
    }
  }
  return out;
}
