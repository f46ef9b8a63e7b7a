/**
 * Reading and validating scenario files. YAML (eemeli's `yaml`, with a LineCounter so every problem
 * names its line), then zod for the shapes, then the cross-references (devices, users, units, rules,
 * report labels). Every problem reads `FILE:LINE: path.to.field: message`, e.g.
 * `scenarios/x.yaml:14: steps[2].over: expected a duration like 40m, got "40 min"`.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { KPI_FIELDS, type KpiField } from '../../domain/index.ts';
import { formatDuration } from '../../kernel/index.ts';
import { formatPath } from '../messages.ts';
import { MODELS } from '../models/index.ts';
import { CastReader, MAX_CLOCK_STEPS } from './cast.ts';
import { Issues, locator, type Path, ScenarioError } from './issues.ts';
import {
  type caseRef,
  describe,
  EXPECT_KINDS,
  expectSchemas,
  gcd,
  parseDuration,
  STEP_KINDS,
  type StepKindName,
  stepSchemas,
  type TimeSpec,
  topSchema,
} from './schema.ts';
import type { CaseChecks, Expectation, PersonAction, Scenario, Step } from './types.ts';

/** Reads and validates a scenario file; throws {@link ScenarioError}. */
export function loadScenarioFile(file: string): Scenario {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ScenarioError([
      {
        file,
        line: 0,
        path: '',
        message: code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`,
      },
    ]);
  }
  return loadScenario(source, file);
}

/** Parses and validates scenario text; `file` is used in messages. Throws {@link ScenarioError}. */
export function loadScenario(source: string, file = '<inline>'): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ScenarioError(
      doc.errors.slice(0, 5).map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line,
        path: '',
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const loc = locator(file, doc, lc);
  const issues = new Issues(loc);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    issues.add(
      [],
      'a scenario is a YAML map with name, description, start, duration, devices, steps and expect',
    );
    throw new ScenarioError(issues.list);
  }
  const top = issues.parse(topSchema, data, []);
  if (!top) {
    // Go on without the broken header fields, to report the problems of the rest of the file too.
    const first = topSchema.safeParse(data);
    const patched: Record<string, unknown> = { ...(data as Record<string, unknown>) };
    for (const i of first.error?.issues ?? []) {
      if (i.code === 'unrecognized_keys') for (const k of i.keys) delete patched[k];
      else if (typeof i.path[0] === 'string') delete patched[i.path[0]];
    }
    const placeholders = { name: 'x', description: 'x', start: '2000-01-01T00:00:00Z', duration: '10d' };
    const again = topSchema.safeParse({ ...placeholders, ...patched });
    if (again.success) new Validator(again.data, issues).run(file);
    throw new ScenarioError(issues.list);
  }
  const scenario = new Validator(top, issues).run(file);
  if (issues.list.length) throw new ScenarioError(issues.list);
  return scenario;
}

class Validator extends CastReader {
  run(file: string): Scenario {
    const { top, issues } = this;
    this.start = Date.parse(top.start);
    this.readUnits();
    this.readUsers();
    this.readDevices();
    const labels = new Map<string, number>();
    const steps = this.readSteps(labels);
    const expect = top.expect.flatMap(
      (e, i) => this.readExpectation(e, ['expect', i], labels, Infinity) ?? [],
    );
    for (const s of steps) {
      if (s.at > top.duration)
        issues.add(
          ['steps', s.index, 'at'],
          `after the end of the scenario (duration ${top.duration / 60_000} min)`,
        );
    }
    const everies = Object.values(this.devices)
      .map((d) => d.every)
      .filter((e) => e > 0);
    const tick =
      top.tick ??
      Math.max(
        10_000,
        everies.reduce((a, b) => gcd(a, b), everies[0] ?? 60_000),
      );
    if (top.duration / tick > MAX_CLOCK_STEPS)
      issues.add(
        [top.tick === undefined ? 'duration' : 'tick'],
        `${Math.ceil(top.duration / tick)} clock steps of ${formatDuration(tick)}: at most ${MAX_CLOCK_STEPS}; set a larger tick (or a shorter duration)`,
      );
    return {
      file,
      name: top.name,
      description: top.description.trim(),
      start: this.start,
      startText: top.start,
      seed: top.seed,
      grids: top.grids ?? null,
      tick,
      duration: top.duration,
      units: this.units,
      users: this.users,
      devices: this.devices,
      steps: steps.sort((a, b) => a.at - b.at || a.index - b.index),
      expect,
    };
  }

  private readSteps(labels: Map<string, number>): Step[] {
    const out: Step[] = [];
    // Keys that have a current value (for ramps): baseline, model, or an earlier set/episode/ramp.
    const hasValue = new Set<string>();
    for (const d of Object.values(this.devices)) {
      for (const k of Object.keys(d.baseline)) hasValue.add(`${d.id}\u0000${k}`);
      if (d.model)
        for (const k of MODELS[d.profile as keyof typeof MODELS]?.keys ?? [])
          hasValue.add(`${d.id}\u0000${k}`);
    }
    const order = this.top.steps
      .map((raw, index) => ({ raw, index, at: parseDuration((raw as { at?: unknown })?.at) ?? 0 }))
      .sort((a, b) => a.at - b.at || a.index - b.index);
    for (const { raw, index } of order) {
      const path: Path = ['steps', index];
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        this.issues.add(path, `a step is a map with at and one of ${STEP_KINDS.join(', ')}`);
        continue;
      }
      const kinds = STEP_KINDS.filter((k) => k in raw);
      if (kinds.length !== 1) {
        this.issues.add(
          path,
          kinds.length === 0
            ? `a step needs one of ${STEP_KINDS.join(', ')} (found ${Object.keys(raw).join(', ') || 'nothing'})`
            : `a step does one thing: found ${kinds.join(' and ')}`,
          kinds.length > 1 ? { key: kinds[1] } : {},
        );
        continue;
      }
      const kind = kinds[0]!;
      const s = this.issues.parse(stepSchemas[kind], raw, path) as Record<string, unknown> | undefined;
      if (!s) continue;
      const base = { at: s.at as number, index, line: this.issues.loc.lineOf(path) };
      const step = this.step(kind, s, base, path, labels, hasValue);
      if (step) out.push(step);
    }
    return out;
  }

  private step(
    kind: StepKindName,
    s: Record<string, unknown>,
    base: { at: number; index: number; line: number },
    path: Path,
    labels: Map<string, number>,
    hasValue: Set<string>,
  ): Step | undefined {
    const { issues } = this;
    switch (kind) {
      case 'ramp': {
        const r = s as unknown as { ramp: string; key: string; to: number; over: number };
        if (!this.deviceRef(r.ramp, [...path, 'ramp'])) return;
        this.checkKeys(r.ramp, [r.key], path, 'key');
        this.checkRange(r.ramp, { to: r.to }, path);
        if (!hasValue.has(`${r.ramp}\u0000${r.key}`))
          issues.add(
            [...path, 'key'],
            `device ${r.ramp} has no current ${r.key} to ramp from: give it a baseline`,
          );
        hasValue.add(`${r.ramp}\u0000${r.key}`);
        return { ...base, kind, device: r.ramp, key: r.key, to: r.to, over: r.over };
      }
      case 'episode':
      case 'set': {
        const r = s as unknown as {
          episode?: string;
          set?: string;
          for?: number;
          key?: string;
          value?: number;
          values?: Record<string, number>;
        };
        const device = (kind === 'episode' ? r.episode : r.set)!;
        if (!this.deviceRef(device, [...path, kind])) return;
        const values = this.values(r, path);
        if (!values) return;
        this.checkKeys(
          device,
          Object.keys(values),
          r.values ? [...path, 'values'] : path,
          r.values ? undefined : 'key',
        );
        this.checkRange(device, values, r.values ? [...path, 'values'] : path);
        for (const k of Object.keys(values)) hasValue.add(`${device}\u0000${k}`);
        return kind === 'episode'
          ? { ...base, kind, device, values, for: r.for! }
          : { ...base, kind, device, values };
      }
      case 'silence': {
        const r = s as unknown as { silence: string; for?: number };
        if (!this.deviceRef(r.silence, [...path, 'silence'])) return;
        return { ...base, kind, device: r.silence, for: r.for ?? null };
      }
      case 'resume': {
        const r = s as unknown as { resume: string };
        if (!this.deviceRef(r.resume, [...path, 'resume'])) return;
        return { ...base, kind, device: r.resume };
      }
      case 'event': {
        const r = s as unknown as { event: string; type: string; confidence: number; snapshot?: string };
        if (!this.deviceRef(r.event, [...path, 'event'], { camera: true })) return;
        return {
          ...base,
          kind,
          device: r.event,
          type: r.type,
          confidence: r.confidence,
          snapshot: r.snapshot ?? null,
        };
      }
      case 'action': {
        const r = s as unknown as {
          action: PersonAction;
          case: z.infer<typeof caseRef>;
          by: string;
          assignee?: string;
          note?: string;
          refused?: number;
        };
        this.userRef(r.by, [...path, 'by']);
        if (r.assignee !== undefined && !(r.assignee in this.top.units))
          issues.add(
            [...path, 'assignee'],
            `no unit '${r.assignee}' in units (${this.known(this.top.units)})`,
          );
        if (r.action === 'dispatch' && r.assignee === undefined && r.refused === undefined)
          issues.add(path, 'dispatch needs an assignee (a unit of this scenario)', { key: 'assignee' });
        const ref = this.caseRef(r.case, [...path, 'case'], labels, base.at);
        if (!ref) return;
        return {
          ...base,
          kind,
          action: r.action,
          case: ref,
          by: r.by,
          assignee: r.assignee ?? null,
          note: r.note ?? null,
          refused: r.refused ?? null,
        };
      }
      case 'report': {
        const r = s as unknown as {
          report: string;
          by: string;
          category: string;
          grid?: string;
          site?: string;
          location?: { lng: number; lat: number };
          description: string;
          urgency?: 'low' | 'normal' | 'urgent';
          photos: string[];
        };
        this.userRef(r.by, [...path, 'by']);
        if (labels.has(r.report))
          issues.add([...path, 'report'], `the label '${r.report}' is used by another report`);
        labels.set(r.report, base.at);
        const placement = this.placement(r, path);
        if (!placement) {
          issues.add(path, 'a report needs a place: grid, site or location');
          return;
        }
        return {
          ...base,
          kind,
          label: r.report,
          by: r.by,
          category: r.category,
          placement,
          description: r.description,
          urgency: r.urgency ?? null,
          photos: r.photos,
        };
      }
      case 'check': {
        const r = s as unknown as { check: unknown[] };
        const expect = r.check.flatMap(
          (e, i) => this.readExpectation(e, [...path, 'check', i], labels, base.at) ?? [],
        );
        return { ...base, kind, expect };
      }
    }
  }

  private readExpectation(
    raw: unknown,
    path: Path,
    labels: Map<string, number>,
    at: number,
  ): Expectation | undefined {
    const { issues } = this;
    const line = issues.loc.lineOf(path);
    const where = formatPath(path);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      issues.add(path, `an expectation is a map with one of ${EXPECT_KINDS.join(', ')}`);
      return;
    }
    const kinds = EXPECT_KINDS.filter((k) => k in raw);
    if (kinds.length !== 1) {
      issues.add(
        path,
        kinds.length === 0
          ? `an expectation needs one of ${EXPECT_KINDS.join(', ')} (found ${Object.keys(raw).join(', ') || 'nothing'})`
          : `an expectation checks one thing: found ${kinds.join(' and ')}`,
        kinds.length > 1 ? { key: kinds[1] } : {},
      );
      return;
    }
    const kind = kinds[0]!;
    if (kind === 'noCase') {
      const e = issues.parse(expectSchemas.noCase, raw, path);
      if (!e) return;
      const ref = this.caseRef(e.noCase, [...path, 'noCase'], labels, at);
      return ref && { kind, ref, line, path: where };
    }
    if (kind === 'case') {
      const e = issues.parse(expectSchemas.case, raw, path);
      if (!e) return;
      const ref = this.caseRef(e.case, [...path, 'case'], labels, at);
      if (!ref) return;
      const { case: _c, openedAt, deadline, closedAt, assignee, verifiedBy, ...rest } = e;
      if (assignee !== undefined && assignee !== null && !(assignee in this.top.units))
        issues.add([...path, 'assignee'], `no unit '${assignee}' in units (${this.known(this.top.units)})`);
      if (
        verifiedBy !== undefined &&
        verifiedBy !== 'sensor' &&
        verifiedBy !== 'admin' &&
        !(verifiedBy in this.top.users)
      )
        issues.add(
          [...path, 'verifiedBy'],
          `expected sensor, admin or a user of this scenario, got '${verifiedBy}'`,
        );
      const checks: CaseChecks = { ...rest };
      if (assignee !== undefined) checks.assignee = assignee;
      if (verifiedBy !== undefined) checks.verifiedBy = verifiedBy;
      if (openedAt !== undefined) checks.openedAt = this.time(openedAt);
      if (deadline !== undefined) checks.deadline = deadline === null ? null : this.time(deadline);
      if (closedAt !== undefined) checks.closedAt = closedAt === null ? null : this.time(closedAt);
      return { kind, ref, line, path: where, ...checks };
    }
    const e = issues.parse(expectSchemas.kpi, raw, path) as
      | ({
          kpi: {
            level: 'grid' | 'community' | 'street' | 'district' | 'unit';
            key?: string | number;
            from: TimeSpec;
            to: TimeSpec;
          };
        } & Record<string, unknown>)
      | undefined;
    if (!e) return;
    const { level } = e.kpi;
    let key: string | null = e.kpi.key === undefined ? null : String(e.kpi.key);
    if (key !== null) {
      if (level === 'unit') {
        if (!(key in this.top.units))
          issues.add([...path, 'kpi', 'key'], `no unit '${key}' in units (${this.known(this.top.units)})`);
      } else {
        const len = { grid: 15, community: 12, street: 9, district: 6 }[level];
        if (!new RegExp(`^\\d{${len}}$`).test(key)) {
          issues.add(
            [...path, 'kpi', 'key'],
            `a ${level} code has ${len} digits, got ${describe(e.kpi.key)}`,
          );
          key = null;
        }
      }
    }
    const from = this.time(e.kpi.from);
    const to = this.time(e.kpi.to);
    if (from >= to) issues.add([...path, 'kpi', 'to'], 'must be after from');
    const values: Partial<Record<KpiField, number | null>> = {};
    for (const f of KPI_FIELDS) if (e[f] !== undefined) values[f] = e[f] as number | null;
    if (Object.keys(values).length === 0)
      issues.add(path, `give at least one KPI value (${KPI_FIELDS.join(', ')})`);
    return { kind, level, key, from, to, values, line, path: where };
  }
}
