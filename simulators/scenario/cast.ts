/**
 * Reading a scenario's cast — its units, users and devices — and checking every reference to them (device
 * keys and ranges, areas, case references), with each problem located in the file.
 */
import type { z } from 'zod';
import { PROFILE_NAMES, PROFILES } from '../../domain/index.ts';
import { builtInRules } from '../../rules/index.ts';
import { demoDistrict } from '../district.ts';
import { MODELS } from '../models/index.ts';
import type { Issues, Path } from './issues.ts';
import {
  CASE_REF_HELP,
  caseRefSchemas,
  describe,
  deviceSchema,
  ID_RE,
  type TimeSpec,
  type Top,
  unitSchema,
  userSchema,
} from './schema.ts';
import type { CaseRef, DeviceSpec, Placement, UnitSpec, UserSpec } from './types.ts';

// ---- the loader ----------------------------------------------------------------------------------

const RULES = new Map(builtInRules().map((r) => [r.id, r]));
const DEMO = demoDistrict(1);
const DEMO_GRIDS = new Set(DEMO.grids.features.map((f) => f.properties.code));
const DEMO_SITES = new Map(DEMO.sites.map((s) => [s.id, s]));
const DEFAULT_EVERY = 5 * 60_000;
/** Bounds the walk through time (each step is a few requests). */
export const MAX_CLOCK_STEPS = 20_000;

/** The scenario's cast — units, users, devices — and every reference to them (base of the Validator in parse.ts). */
export class CastReader {
  protected units: Record<string, UnitSpec> = {};
  protected users: Record<string, UserSpec> = {};
  protected devices: Record<string, DeviceSpec> = {};
  protected start = 0;

  constructor(
    protected readonly top: Top,
    protected readonly issues: Issues,
  ) {}

  protected readUnits() {
    for (const [id, raw] of Object.entries(this.top.units)) {
      const path = ['units', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a unit id is letters, digits and . _ @ - (at most 24)');
      const u = this.issues.parse(unitSchema, raw, path);
      if (u) {
        for (const [i, g] of u.grids.entries()) this.checkArea(g, [...path, 'grids', i]);
        this.units[id] = u;
      }
    }
  }

  protected readUsers() {
    for (const [id, raw] of Object.entries(this.top.users)) {
      const path = ['users', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a user id is letters, digits and . _ @ - (at most 24)');
      if (id === 'admin') this.issues.add(path, "'admin' is the admin token; choose another name");
      const u = this.issues.parse(userSchema, raw, path);
      if (!u) continue;
      if (u.role === 'unit' && !u.unit)
        this.issues.add([...path, 'unit'], 'a user with role unit needs its unit');
      if (u.unit !== undefined && !(u.unit in this.top.units))
        this.issues.add([...path, 'unit'], `no unit '${u.unit}' in units (${this.known(this.top.units)})`);
      if (u.role === 'inspector' && u.grids.length === 0)
        this.issues.add([...path, 'grids'], 'an inspector covers some grids: list their codes (any level)');
      for (const [i, g] of u.grids.entries()) this.checkArea(g, [...path, 'grids', i]);
      this.users[id] = { name: u.name ?? id, role: u.role, unit: u.unit ?? null, grids: u.grids };
    }
  }

  protected known(map: Record<string, unknown>): string {
    const keys = Object.keys(map);
    return keys.length ? `known: ${keys.join(', ')}` : 'none defined';
  }

  protected checkArea(code: string, path: Path) {
    if (this.top.grids === 'demo' && !Array.from(DEMO_GRIDS).some((g) => g.startsWith(code)))
      this.issues.add(path, `${code} is not an area of the demo district (330102…)`);
  }

  protected placement(
    raw: { grid?: string; site?: string; location?: { lng: number; lat: number } },
    path: Path,
  ) {
    const given = (['grid', 'site', 'location'] as const).filter((k) => raw[k] !== undefined);
    if (given.length > 1) {
      this.issues.add(path, `give one of grid, site or location, not ${given.join(' and ')}`, {
        key: given[1],
      });
      return null;
    }
    if (raw.grid !== undefined) {
      if (this.top.grids === 'demo' && !DEMO_GRIDS.has(raw.grid))
        this.issues.add(path, `${raw.grid} is not a grid of the demo district`, { key: 'grid' });
      return { grid: raw.grid } satisfies Placement;
    }
    if (raw.site !== undefined) {
      if (this.top.grids !== 'demo')
        this.issues.add(path, 'site needs `grids: demo` in the header', { key: 'site' });
      else if (!DEMO_SITES.has(raw.site))
        this.issues.add(
          path,
          `no site '${raw.site}' in the demo district (${[...DEMO_SITES.keys()].join(', ')})`,
          {
            key: 'site',
          },
        );
      return { site: raw.site } satisfies Placement;
    }
    if (raw.location) return { location: raw.location } satisfies Placement;
    return null;
  }

  protected checkKeys(deviceId: string, keys: string[], path: Path, field?: string) {
    const d = this.devices[deviceId];
    if (!d) return;
    const spec = PROFILES[d.profile as keyof typeof PROFILES];
    if (!spec?.strict) return;
    for (const k of keys) {
      const range = (spec.keys as Record<string, { min: number; max: number }>)[k];
      if (!range)
        this.issues.add(
          path,
          `'${k}' is not a key of profile ${d.profile} (${Object.keys(spec.keys).join(', ')})`,
          field ? { key: field } : {},
        );
    }
  }

  protected checkRange(deviceId: string, values: Record<string, number>, path: Path) {
    const d = this.devices[deviceId];
    const spec = d && PROFILES[d.profile as keyof typeof PROFILES];
    if (!spec) return;
    for (const [k, v] of Object.entries(values)) {
      const range = (spec.keys as Record<string, { min: number; max: number }>)[k];
      if (range && (v < range.min || v > range.max))
        this.issues.add(path, `${v} is outside the physical range of ${k} (${range.min}–${range.max})`, {
          key: k,
        });
    }
  }

  protected readDevices() {
    const raw = this.top.devices;
    const parsed: [string, z.infer<typeof deviceSchema>][] = [];
    for (const [id, body] of Object.entries(raw)) {
      const path = ['devices', id];
      if (!ID_RE.test(id)) this.issues.add(path, 'a device id is letters, digits and . _ @ - (at most 24)');
      const b = body as { profile?: unknown; gateway?: unknown } | null;
      if (b && typeof b === 'object' && b.profile === undefined && b.gateway !== true)
        this.issues.add(
          [...path, 'profile'],
          `required field is missing (one of ${PROFILE_NAMES.join(', ')})`,
        );
      const d = this.issues.parse(deviceSchema, body, path);
      if (d) parsed.push([id, d]);
    }
    for (const [id, d] of parsed) {
      const path = ['devices', id];
      const gateway = d.gateway;
      const profile = d.profile ?? (gateway ? 'generic' : undefined);
      if (!profile) continue; // reported above
      let placement: Placement | null = this.placement(d, path);
      if (d.via !== undefined) {
        const gw = raw[d.via] as { gateway?: unknown } | undefined;
        if (gw?.gateway !== true)
          this.issues.add(
            [...path, 'via'],
            `'${d.via}' is not a gateway device of this scenario (gateway: true)`,
          );
        if (placement) {
          this.issues.add(
            path,
            'a device behind a gateway is placed where its gateway is: drop grid/site/location',
            {
              key: 'via',
            },
          );
          placement = null;
        }
        if (gateway) this.issues.add([...path, 'via'], 'a gateway cannot report through another gateway');
      } else if (!placement) {
        this.issues.add(path, 'a device needs a placement: grid, site or location');
      }
      if (gateway && (d.every !== undefined || Object.keys(d.baseline).length || d.model))
        this.issues.add(path, 'a gateway reports only for its children: give every/baseline/model to them', {
          key: d.every !== undefined ? 'every' : Object.keys(d.baseline).length ? 'baseline' : 'model',
        });
      if (d.model && !(profile in MODELS))
        this.issues.add(
          [...path, 'model'],
          `no physics model for profile ${profile} (${Object.keys(MODELS).join(', ')})`,
        );
      this.devices[id] = {
        id,
        name: d.name ?? null,
        profile,
        placement,
        gateway,
        via: d.via ?? null,
        every: gateway ? 0 : (d.every ?? DEFAULT_EVERY),
        baseline: d.baseline,
        model: d.model,
        jitter: d.jitter,
        attributes: d.attributes,
        line: 0,
      };
      this.checkKeys(id, Object.keys(d.baseline), [...path, 'baseline']);
      this.checkRange(id, d.baseline, [...path, 'baseline']);
      this.checkKeys(id, Object.keys(d.jitter), [...path, 'jitter']);
    }
  }

  protected deviceRef(id: string, path: Path, opts: { camera?: boolean } = {}): boolean {
    const d = this.devices[id];
    if (!d) {
      // A device declared with problems of its own was reported already.
      if (!(id in this.top.devices))
        this.issues.add(path, `no device '${id}' in devices (${this.known(this.top.devices)})`);
      return false;
    }
    if (d.gateway) {
      this.issues.add(path, `'${id}' is a gateway: steps act on the devices behind it`);
      return false;
    }
    if (opts.camera && d.profile !== 'camera') {
      this.issues.add(path, `'${id}' is a ${d.profile}: detections come from cameras`);
      return false;
    }
    return true;
  }

  protected userRef(by: string, path: Path) {
    if (by !== 'admin' && !(by in this.top.users))
      this.issues.add(path, `no user '${by}' in users (${this.known(this.top.users)}; or admin)`);
  }

  protected values(
    s: { key?: string; value?: number; values?: Record<string, number> },
    path: Path,
  ): Record<string, number> | undefined {
    if (s.values && (s.key !== undefined || s.value !== undefined)) {
      this.issues.add(path, 'give either key + value or values, not both', { key: 'values' });
      return undefined;
    }
    if (s.values) {
      if (Object.keys(s.values).length === 0) this.issues.add([...path, 'values'], 'give at least one key');
      return s.values;
    }
    if (s.key === undefined || s.value === undefined) {
      this.issues.add(path, 'required: key + value (or values: {key: value, …})', {
        key: s.key === undefined ? 'key' : 'value',
      });
      return undefined;
    }
    return { [s.key]: s.value };
  }

  protected caseRef(raw: unknown, path: Path, labels: Map<string, number>, at: number): CaseRef | undefined {
    let ref: CaseRef;
    if (typeof raw === 'string' && raw.length > 0) {
      const slash = raw.indexOf('/');
      ref =
        slash >= 0
          ? { kind: 'sensor', device: raw.slice(0, slash), rule: raw.slice(slash + 1) }
          : { kind: 'report', label: raw };
    } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
      const kind = 'device' in raw || 'rule' in raw ? 'sensor' : 'report' in raw ? 'report' : 'area';
      const r = this.issues.parse(caseRefSchemas[kind] as z.ZodType<Record<string, string>>, raw, path);
      if (!r) return undefined;
      ref =
        kind === 'sensor'
          ? { kind, device: r.device!, rule: r.rule! }
          : kind === 'report'
            ? { kind, label: r.report! }
            : { kind, category: r.category!, grid: r.grid! };
    } else {
      this.issues.add(path, `expected ${CASE_REF_HELP}, got ${describe(raw)}`);
      return undefined;
    }
    if (ref.kind === 'sensor') {
      const d = this.devices[ref.device];
      if (!d) {
        if (!(ref.device in this.top.devices))
          this.issues.add(path, `no device '${ref.device}' in devices (${this.known(this.top.devices)})`);
        return undefined;
      }
      const rule = RULES.get(ref.rule);
      if (!rule) {
        this.issues.add(
          path,
          `no built-in rule '${ref.rule}' (rules for ${d.profile}: ${[...RULES.values()]
            .filter((r) => r.appliesTo.profile === d.profile)
            .map((r) => r.id)
            .join(', ')})`,
        );
        return undefined;
      }
      if (rule.appliesTo.profile !== d.profile)
        this.issues.add(
          path,
          `rule ${rule.id} applies to ${rule.appliesTo.profile} devices, '${ref.device}' is a ${d.profile}`,
        );
    } else if (ref.kind === 'report') {
      const labelAt = labels.get(ref.label);
      if (labelAt === undefined)
        this.issues.add(
          path,
          `no report labelled '${ref.label}' (a case is "device/rule", or the label of a report step${labels.size ? `: ${[...labels.keys()].join(', ')}` : ''})`,
        );
      else if (labelAt > at)
        this.issues.add(path, `the report '${ref.label}' is made later (at ${labelAt / 60_000} min)`);
    }
    return ref;
  }

  protected time(t: TimeSpec): number {
    return 'abs' in t ? t.abs : this.start + t.rel;
  }
}
