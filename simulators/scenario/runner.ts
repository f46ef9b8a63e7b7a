/**
 * Runs a scenario against a hub started with GRIDHUB_CLOCK=manual, through its public API and MQTT
 * only, and checks the expected outcomes.
 *
 *   const report = await runScenario('scenarios/bin-overflow.yaml', { apiUrl, mqttUrl, adminToken });
 *   console.log(formatReport(report));
 *
 * Fast-forward: simulated time walks from `start` to `start + duration` in steps of `tick` (by
 * default the greatest common divisor of the device intervals). At each visited time T the hub clock
 * is set to T; then the world changes (ramp, episode, set, silence, resume, event steps due at T);
 * then every device due at T publishes its readings with `ts` = T (QoS 1, each PUBACK awaited); then
 * people act (action, report, check steps due at T). Before a person acts or an expectation is
 * checked, the runner lets the hub finish its case work: it nudges the clock (the hub runs its
 * timers on every clock change) and queues a no-op request behind the hub's case work, then polls
 * the API until the expected state or a generous bound. Every loop is bounded.
 *
 * Ids: devices, users and units get the prefix `<name>-<4 random characters>.` (option `idPrefix`),
 * so scenarios and re-runs do not collide on one hub. Grids are shared (the demo district).
 *
 * Why one file: the Run's setup, its simulated devices and its people share the run's devices,
 * connections and sessions at every clock step; checking the expectations (checks.ts) and the report
 * (report.ts) live apart.
 */

import { connectAsync, type MqttClient } from 'mqtt';
import { PROFILES } from '../../domain/index.ts';
import { formatDuration } from '../../kernel/index.ts';
import { demoDistrict, type LngLat, type Position, pointInRing } from '../district.ts';
import { type BaseState, MODELS, type Model, type Readings } from '../models/index.ts';
import { deriveSeed, Random } from '../random.ts';
import { type CaseView, count, RunBase, type RunOptions, randomText, round, sleep } from './checks.ts';
import { type ApiResponse, errorMessage, RunnerError } from './client.ts';
import { loadScenarioFile } from './parse.ts';
import { type ExpectationResult, plus, type Report, refLabel, type StepResult } from './report.ts';
import type { DeviceSpec, Placement, Scenario, Step } from './types.ts';

export { RunnerError } from './client.ts';

// ---- helpers -------------------------------------------------------------------------------------

const TELEMETRY = 'v1/devices/me/telemetry';
const GATEWAY_CONNECT = 'v1/gateway/connect';
const GATEWAY_TELEMETRY = 'v1/gateway/telemetry';
const PUBACK_TIMEOUT_MS = 15_000;

/** The UTC offset (minutes) written in an ISO time (`Z` → 0). */

/** Area-weighted centroid of a ring; the mean of its vertices when that is degenerate or outside. */
function centroid(ring: readonly Position[]): LngLat {
  let a = 0;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length - 1; i++) {
    const [x0, y0] = ring[i]!;
    const [x1, y1] = ring[i + 1]!;
    const f = x0 * y1 - x1 * y0;
    a += f;
    cx += (x0 + x1) * f;
    cy += (y0 + y1) * f;
  }
  const round = (x: number) => Math.round(x * 1e7) / 1e7;
  if (Math.abs(a) > 1e-14) {
    const p = { lng: round(cx / (3 * a)), lat: round(cy / (3 * a)) };
    if (pointInRing(p, ring)) return p;
  }
  const pts = ring.slice(0, -1);
  return {
    lng: round(pts.reduce((s, p) => s + p[0], 0) / pts.length),
    lat: round(pts.reduce((s, p) => s + p[1], 0) / pts.length),
  };
}

type Override =
  | { kind: 'ramp'; from: number; to: number; t0: number; over: number }
  | { kind: 'hold'; value: number; until: number | null; previous: Override | null };

interface Conn {
  deviceId: string;
  client: MqttClient;
  /** Why the connection closed, when it did. */
  closed: string | null;
}

interface Sim {
  spec: DeviceSpec;
  hubId: string;
  token: string | null;
  conn: Conn | null;
  model: { model: Model<BaseState>; state: BaseState } | null;
  lastModel: Readings;
  overrides: Map<string, Override>;
  silentUntil: number | null;
  nextDue: number;
  rnd: Random;
  events: { type: string; confidence: number; snapshot: string | null }[];
}
// ---- the run -------------------------------------------------------------------------------------

/** Runs a scenario file (path) or a loaded scenario; throws {@link RunnerError} when it cannot run. */
export async function runScenario(input: string | Scenario, opts: RunOptions): Promise<Report> {
  const scenario = typeof input === 'string' ? loadScenarioFile(input) : input;
  const run = new Run(scenario, opts);
  return run.execute();
}

class Run extends RunBase {
  private readonly password = `rehearsal-${randomText(16)}`;
  private readonly sims = new Map<string, Sim>();
  private readonly conns: Conn[] = [];
  private readonly sessions = new Map<string, { token: string; expiresAt: number }>();
  private readonly stepResults: StepResult[] = [];
  private readonly results: ExpectationResult[] = [];
  private messages = 0;
  private readings = 0;

  async execute(): Promise<Report> {
    const wallStart = Date.now();
    const s = this.s;
    try {
      await this.preflight();
      await this.setClock(s.start);
      await this.provision();
      const times = this.visitTimes();
      const byTime = new Map<number, Step[]>();
      for (const step of s.steps) {
        const t = s.start + step.at;
        byTime.set(t, [...(byTime.get(t) ?? []), step]);
      }
      for (const t of times) {
        await this.setClock(t);
        const due = byTime.get(t) ?? [];
        for (const step of due) if (isWorldStep(step)) this.applyWorldStep(step);
        await this.publishDue(t);
        // Let the timers the clock move started (absence, verification, escalation) and the case
        // work of these readings finish before time moves on: the hub runs one timer pass at a time.
        await this.barrier();
        for (const step of due) if (!isWorldStep(step)) await this.personStep(step);
      }
      this.log(
        `${plus(s.duration)} end: checking ${s.expect.length} expectation${s.expect.length === 1 ? '' : 's'}`,
      );
      this.results.push(...(await this.checkAll(s.expect, 'end')));
    } finally {
      await this.disconnect();
    }
    const passed = this.results.every((r) => r.ok) && this.stepResults.every((r) => r.ok);
    return {
      name: s.name,
      file: s.file,
      description: s.description,
      passed,
      apiUrl: this.api.base,
      idPrefix: this.prefix,
      start: this.time(s.start),
      end: this.time(s.start + s.duration),
      simulatedMs: s.duration,
      durationMs: Date.now() - wallStart,
      messages: this.messages,
      readings: this.readings,
      stepCount: s.steps.length,
      steps: this.stepResults,
      expectations: this.results,
    };
  }

  // ---- setup -------------------------------------------------------------------------------------

  private async preflight() {
    const health = await this.api.call('GET', '/api/health', undefined, null);
    if (health.status !== 200)
      throw new RunnerError(
        `the hub at ${this.api.base} answered GET /api/health with ${errorMessage(health)}`,
      );
    const kind = health.body?.clock?.kind;
    if (kind !== 'manual')
      throw new RunnerError(
        `the hub at ${this.api.base} runs on the ${kind ?? 'unknown'} clock: scenarios move hub time, so start it with GRIDHUB_CLOCK=manual`,
      );
    const me = await this.api.call('GET', '/api/users');
    if (me.status === 401 || me.status === 403)
      throw new RunnerError(`the hub at ${this.api.base} refused the admin token (${errorMessage(me)})`);
  }

  private async must(what: string, r: Promise<ApiResponse>, ok: number[] = [200, 201]): Promise<ApiResponse> {
    const res = await r;
    if (!ok.includes(res.status)) throw new RunnerError(`${this.s.file}: ${what}: ${errorMessage(res)}`);
    return res;
  }

  private async setClock(t: number) {
    this.now = t;
    await this.must(
      'setting the hub clock',
      this.api.call('POST', '/api/clock', { set: new Date(t).toISOString() }),
    );
  }

  private async provision() {
    const s = this.s;
    const demo = s.grids === 'demo' ? demoDistrict(1) : null;
    if (demo) await this.must('uploading the demo grids', this.api.call('PUT', '/api/grids', demo.grids));
    for (const [id, u] of Object.entries(s.units)) {
      await this.must(
        `unit ${id}`,
        this.api.call('PUT', `/api/units/${encodeURIComponent(this.id(id))}`, {
          name: u.name,
          categories: u.categories,
          gridCodes: u.grids,
        }),
      );
    }
    await Promise.all(
      Object.entries(s.users).map(async ([id, u]) => {
        const r = await this.api.call('POST', '/api/users', {
          id: this.id(id),
          name: u.name,
          role: u.role,
          unitId: u.unit === null ? null : this.id(u.unit),
          gridCodes: u.grids,
          password: this.password,
        });
        if (r.status !== 201 && r.status !== 409)
          throw new RunnerError(`${s.file}: user ${id}: ${errorMessage(r)}`);
        await this.login(id);
      }),
    );

    const placeOf = async (p: Placement): Promise<{ location: LngLat; gridCode?: string }> => {
      if ('location' in p) return { location: p.location };
      if ('site' in p) {
        const site = demo?.sites.find((x) => x.id === p.site);
        if (!site) throw new RunnerError(`${s.file}: no demo site ${p.site}`);
        return { location: site.location };
      }
      let ring = demo?.grids.features.find((f) => f.properties.code === p.grid)?.geometry.coordinates[0];
      if (!ring) {
        const g = await this.must(`grid ${p.grid}`, this.api.call('GET', `/api/grids/${p.grid}`));
        const geom = g.body?.geometry;
        ring = geom?.type === 'MultiPolygon' ? geom.coordinates?.[0]?.[0] : geom?.coordinates?.[0];
        if (!ring) throw new RunnerError(`${s.file}: grid ${p.grid} has no polygon on the hub`);
      }
      return { location: centroid(ring), gridCode: p.grid };
    };

    // Devices that connect themselves (plain devices and gateways), then the gateways' children.
    const own = Object.values(s.devices).filter((d) => d.via === null);
    await Promise.all(
      own.map(async (d) => {
        const hubId = this.id(d.id);
        const place = await placeOf(d.placement!);
        const body = {
          id: hubId,
          name: d.name ?? `${s.name} ${d.id}`,
          profile: d.profile,
          location: place.location,
          ...(place.gridCode ? { gridCode: place.gridCode } : {}),
          ...(d.gateway ? { gateway: true } : {}),
        };
        let r = await this.api.call('POST', '/api/devices', body);
        if (r.status === 409)
          r = await this.api.call('POST', `/api/devices/${encodeURIComponent(hubId)}/token`);
        if (r.status !== 200 && r.status !== 201)
          throw new RunnerError(`${s.file}: creating device ${d.id}: ${errorMessage(r)}`);
        const token = r.body?.accessToken;
        if (typeof token !== 'string')
          throw new RunnerError(`${s.file}: the hub gave device ${d.id} no access token`);
        // Attributes before the connection: the hub's rules read the device as it was when it
        // connected (a hub quirk, see scenarios/README.md).
        if (Object.keys(d.attributes).length)
          await this.must(
            `attributes of ${d.id}`,
            this.api.call('PUT', `/api/devices/${encodeURIComponent(hubId)}/attributes`, {
              server: d.attributes,
            }),
          );
        const sim = this.newSim(d, hubId, token);
        sim.conn = await this.connect(hubId, token);
      }),
    );
    for (const d of Object.values(s.devices).filter((x) => x.via !== null)) {
      const gw = this.sims.get(d.via!);
      const hubId = this.id(d.id);
      if (!gw?.conn) throw new RunnerError(`${s.file}: gateway ${d.via} is not connected`);
      await this.publish(gw.conn, GATEWAY_CONNECT, { device: hubId, type: d.profile }, 0);
      const sim = this.newSim(d, hubId, null);
      sim.conn = gw.conn;
      const child = await this.poll(`gateway child ${d.id} to appear`, async () => {
        const r = await this.api.call('GET', `/api/devices/${encodeURIComponent(hubId)}`);
        return r.status === 200 ? r.body : undefined;
      });
      if (!child)
        throw new RunnerError(`${s.file}: the gateway child ${d.id} was not created by v1/gateway/connect`);
      if (Object.keys(d.attributes).length)
        await this.must(
          `attributes of ${d.id}`,
          this.api.call('PUT', `/api/devices/${encodeURIComponent(hubId)}/attributes`, {
            server: d.attributes,
          }),
        );
    }
    this.log(
      `${s.name}: ${count(Object.keys(s.devices).length, 'device')}, ${count(Object.keys(s.users).length, 'user')}, ${count(Object.keys(s.units).length, 'unit')} provisioned (ids ${this.prefix}*)`,
    );
  }

  private newSim(d: DeviceSpec, hubId: string, token: string | null): Sim {
    const model = d.model ? MODELS[d.profile as keyof typeof MODELS] : undefined;
    const sim: Sim = {
      spec: d,
      hubId,
      token,
      conn: null,
      model: model
        ? { model: model as Model<BaseState>, state: model.init(deriveSeed(this.s.seed, d.id), this.s.start) }
        : null,
      lastModel: {},
      overrides: new Map(),
      silentUntil: null,
      nextDue: this.s.start,
      rnd: new Random(deriveSeed(this.s.seed, `jitter:${d.id}`)),
      events: [],
    };
    this.sims.set(d.id, sim);
    return sim;
  }

  private async connect(deviceId: string, token: string): Promise<Conn> {
    let client: MqttClient;
    try {
      client = await connectAsync(this.opts.mqttUrl, {
        username: token,
        clientId: '',
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
    } catch (err) {
      throw new RunnerError(
        `cannot connect device ${this.local(deviceId)} to the MQTT broker at ${this.opts.mqttUrl} (${(err as Error).message})`,
      );
    }
    const conn: Conn = { deviceId, client, closed: null };
    client.on('close', () => {
      conn.closed ??= 'the connection closed';
    });
    client.on('error', (err) => {
      conn.closed = err.message;
    });
    this.conns.push(conn);
    return conn;
  }

  private async disconnect() {
    await Promise.all(
      this.conns.map(async (c) => {
        const ended = c.client.endAsync(false).then(() => true);
        if (!(await Promise.race([ended, sleep(3000).then(() => false)]))) await c.client.endAsync(true);
      }),
    ).catch(() => {});
  }

  // ---- time and readings ---------------------------------------------------------------------------

  private visitTimes(): number[] {
    const { start, duration, tick, steps } = this.s;
    const set = new Set<number>();
    for (let k = 0; k * tick <= duration && k < 1_000_000; k++) set.add(start + k * tick);
    set.add(start + duration);
    for (const st of steps) set.add(start + st.at);
    return [...set].sort((a, b) => a - b);
  }

  private currentValue(sim: Sim, key: string, t: number): number | undefined {
    let o = sim.overrides.get(key);
    while (o?.kind === 'hold' && o.until !== null && t >= o.until) o = o.previous ?? undefined;
    if (o !== sim.overrides.get(key)) {
      if (o) sim.overrides.set(key, o);
      else sim.overrides.delete(key);
    }
    if (o?.kind === 'hold') return o.value;
    if (o?.kind === 'ramp') return o.from + (o.to - o.from) * Math.min(1, Math.max(0, (t - o.t0) / o.over));
    return sim.spec.baseline[key] ?? sim.lastModel[key];
  }

  private applyWorldStep(step: Step) {
    const t = this.now;
    switch (step.kind) {
      case 'ramp': {
        const sim = this.sims.get(step.device)!;
        const from = this.currentValue(sim, step.key, t) ?? step.to;
        sim.overrides.set(step.key, { kind: 'ramp', from, to: step.to, t0: t, over: step.over });
        this.log(
          `${plus(step.at)} ${step.device}.${step.key} ramps ${round(from)} → ${step.to} over ${formatDuration(step.over)}`,
        );
        break;
      }
      case 'episode':
      case 'set': {
        const sim = this.sims.get(step.device)!;
        for (const [k, v] of Object.entries(step.values)) {
          const previous = step.kind === 'episode' ? (sim.overrides.get(k) ?? null) : null;
          sim.overrides.set(k, {
            kind: 'hold',
            value: v,
            until: step.kind === 'episode' ? t + step.for : null,
            previous,
          });
        }
        this.log(
          `${plus(step.at)} ${step.device} ${step.kind === 'episode' ? `episode for ${formatDuration(step.for)}` : 'set'}: ${Object.entries(
            step.values,
          )
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
        break;
      }
      case 'silence': {
        const sim = this.sims.get(step.device)!;
        sim.silentUntil = step.for === null ? Number.POSITIVE_INFINITY : t + step.for;
        this.log(
          `${plus(step.at)} ${step.device} goes silent${step.for ? ` for ${formatDuration(step.for)}` : ''}`,
        );
        break;
      }
      case 'resume': {
        this.sims.get(step.device)!.silentUntil = null;
        this.log(`${plus(step.at)} ${step.device} reports again`);
        break;
      }
      case 'event': {
        this.sims
          .get(step.device)!
          .events.push({ type: step.type, confidence: step.confidence, snapshot: step.snapshot });
        this.log(`${plus(step.at)} ${step.device} detects ${step.type} (${step.confidence})`);
        break;
      }
      default:
        break;
    }
  }

  /** The readings of a device at `t` (model, then baseline, then the steps' overrides, then jitter). */
  private readingsOf(sim: Sim, t: number): Record<string, number> {
    if (sim.model) {
      const r = sim.model.model.step(sim.model.state, t);
      sim.model.state = r.state;
      sim.lastModel = r.values;
    }
    const keys = new Set([
      ...Object.keys(sim.lastModel),
      ...Object.keys(sim.spec.baseline),
      ...sim.overrides.keys(),
    ]);
    const ranges = PROFILES[sim.spec.profile as keyof typeof PROFILES]?.keys as
      | Record<string, { min: number; max: number }>
      | undefined;
    const out: Record<string, number> = {};
    for (const k of keys) {
      let v = this.currentValue(sim, k, t);
      if (v === undefined) continue;
      const j = sim.spec.jitter[k];
      if (j) v += sim.rnd.range(-j, j);
      const range = ranges?.[k];
      if (range) v = Math.min(range.max, Math.max(range.min, v));
      out[k] = round(v);
    }
    return out;
  }

  private async publishDue(t: number) {
    const plain: Promise<void>[] = [];
    const gateways = new Map<Conn, Record<string, { ts: number; values: Record<string, unknown> }[]>>();
    const counts = new Map<Conn, number>();
    for (const sim of this.sims.values()) {
      if (sim.spec.gateway || !sim.conn) continue;
      const silent = sim.silentUntil !== null && sim.silentUntil > t;
      if (sim.silentUntil !== null && !silent) sim.silentUntil = null;
      const due = t >= sim.nextDue;
      if (due) sim.nextDue += (Math.floor((t - sim.nextDue) / sim.spec.every) + 1) * sim.spec.every;
      if (silent) {
        sim.events = [];
        continue;
      }
      if (!due && sim.events.length === 0) continue;
      const values: Record<string, unknown> = due ? this.readingsOf(sim, t) : {};
      let n = Object.keys(values).length;
      const records: { ts: number; values: Record<string, unknown> }[] = [];
      for (const e of sim.events) {
        records.push({
          ts: t,
          values: {
            ...(records.length === 0 ? values : {}),
            event: {
              type: e.type,
              confidence: e.confidence,
              ...(e.snapshot ? { snapshot: e.snapshot } : {}),
            },
          },
        });
        n++;
      }
      sim.events = [];
      if (records.length === 0) records.push({ ts: t, values });
      if (n === 0) continue;
      if (sim.spec.via === null) {
        plain.push(this.publish(sim.conn, TELEMETRY, records.length === 1 ? records[0] : records, n));
      } else {
        const batch = gateways.get(sim.conn) ?? {};
        batch[sim.hubId] = records;
        gateways.set(sim.conn, batch);
        counts.set(sim.conn, (counts.get(sim.conn) ?? 0) + n);
      }
    }
    for (const [conn, batch] of gateways)
      plain.push(this.publish(conn, GATEWAY_TELEMETRY, batch, counts.get(conn) ?? 0));
    await Promise.all(plain);
  }

  private async publish(conn: Conn, topic: string, payload: unknown, readings: number) {
    if (conn.closed)
      throw new RunnerError(
        `device ${this.local(conn.deviceId)}: the MQTT connection is down (${conn.closed}); did the hub refuse a message?`,
      );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RunnerError(
              `device ${this.local(conn.deviceId)}: no PUBACK within ${PUBACK_TIMEOUT_MS / 1000} s`,
            ),
          ),
        PUBACK_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([conn.client.publishAsync(topic, JSON.stringify(payload), { qos: 1 }), timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.messages++;
    this.readings += readings;
  }

  // ---- people ------------------------------------------------------------------------------------

  private async login(user: string) {
    const r = await this.api.call(
      'POST',
      '/api/auth/login',
      { username: this.id(user), password: this.password },
      null,
    );
    if (r.status !== 200)
      throw new RunnerError(
        `${this.s.file}: user ${user} (${this.id(user)}) cannot sign in: ${errorMessage(r)}${this.opts.idPrefix !== undefined ? ' (does it exist from another run? use another idPrefix)' : ''}`,
      );
    const expiresAt = Date.parse(r.body?.expiresAt);
    this.sessions.set(user, {
      token: r.body.token,
      expiresAt: Number.isNaN(expiresAt) ? this.now + 3_600_000 : expiresAt,
    });
  }

  /** A bearer token for a user of the scenario (signed in again when hub time nears its expiry). */
  private async tokenFor(user: string): Promise<string | undefined> {
    if (user === 'admin') return undefined;
    const s = this.sessions.get(user);
    if (!s || s.expiresAt - this.now < 30 * 60_000) await this.login(user);
    return this.sessions.get(user)!.token;
  }

  /** A request as a user; on 401 (expired session) signs in once more and retries. */
  private async as(user: string, method: string, path: string, body?: unknown): Promise<ApiResponse> {
    let r = await this.api.call(method, path, body, await this.tokenFor(user));
    if (r.status === 401 && user !== 'admin') {
      await this.login(user);
      r = await this.api.call(method, path, body, await this.tokenFor(user));
    }
    return r;
  }

  private stepDone(step: Step, what: string, ok: boolean, message: string) {
    this.stepResults.push({ index: step.index, line: step.line, at: step.at, what, ok, message });
    this.log(`${plus(step.at)} ${ok ? '' : '✗ '}${what}${message ? `: ${message}` : ''}`);
  }

  private async personStep(step: Step) {
    try {
      if (step.kind === 'action') await this.action(step);
      else if (step.kind === 'report') await this.report(step);
      else if (step.kind === 'check') {
        const results = await this.checkAll(step.expect, step.at);
        this.results.push(...results);
        const bad = results.filter((r) => !r.ok).length;
        this.log(`${plus(step.at)} check: ${results.length - bad}/${results.length} hold`);
      }
    } catch (err) {
      if (err instanceof RunnerError) throw err;
      this.stepDone(step, step.kind, false, (err as Error).message);
    }
  }

  private async action(step: Step & { kind: 'action' }) {
    const what = `${step.action} ${refLabel(step.case)} by ${step.by}${step.assignee ? ` to ${step.assignee}` : ''}`;
    const found = await this.poll(
      `a case for ${refLabel(step.case)}`,
      async () => (await this.findCases(step.case))[0],
    );
    if (!found) {
      this.stepDone(step, what, false, `no case for ${refLabel(step.case)} within ${this.settleMs / 1000} s`);
      return;
    }
    const path = `/api/cases/${encodeURIComponent(found.id)}`;
    if (step.refused === null) {
      // Wait until the hub allows it (e.g. the sensor's verification or an escalation is still running).
      await this.poll(`${step.action} to be allowed`, async () => {
        const r = await this.as(step.by, 'GET', path);
        return r.status === 200 && (r.body as CaseView).allowedActions?.includes(step.action)
          ? true
          : undefined;
      });
    }
    const r = await this.as(step.by, 'POST', `${path}/actions`, {
      action: step.action,
      ...(step.assignee ? { assignee: this.id(step.assignee) } : {}),
      ...(step.note ? { note: step.note } : {}),
    });
    if (step.refused !== null) {
      const ok = r.status === step.refused;
      this.stepDone(
        step,
        what,
        ok,
        ok
          ? `refused as expected (${errorMessage(r)})`
          : `expected the hub to refuse with HTTP ${step.refused}, got ${r.status === 200 ? `200 (now ${r.body?.status})` : errorMessage(r)}`,
      );
      return;
    }
    if (r.status === 200) this.stepDone(step, what, true, `→ ${r.body?.status}`);
    else {
      const allowed = r.body?.error?.allowedActions;
      this.stepDone(
        step,
        what,
        false,
        `${errorMessage(r)}${Array.isArray(allowed) ? ` (allowed: ${allowed.join(', ') || 'nothing'})` : ''}`,
      );
    }
  }

  private async report(step: Step & { kind: 'report' }) {
    const what = `report ${step.label} (${step.category}) by ${step.by}`;
    const p = step.placement;
    let place: Record<string, unknown>;
    if ('grid' in p) place = { gridCode: p.grid };
    else if ('location' in p) place = { location: p.location };
    else {
      const site = demoDistrict(1).sites.find((x) => x.id === p.site)!;
      place = { location: site.location };
    }
    const r = await this.as(step.by, 'POST', '/api/cases', {
      category: step.category,
      description: step.description,
      ...place,
      ...(step.photos.length ? { photos: step.photos } : {}),
      ...(step.urgency ? { urgency: step.urgency } : {}),
    });
    if (r.status === 201 && typeof r.body?.id === 'string') {
      this.reports.set(step.label, r.body.id);
      this.stepDone(step, what, true, `→ case ${r.body.id} in ${r.body.gridCode}, ${r.body.status}`);
    } else this.stepDone(step, what, false, errorMessage(r));
  }
}
function isWorldStep(step: Step): boolean {
  return (
    step.kind === 'ramp' ||
    step.kind === 'episode' ||
    step.kind === 'set' ||
    step.kind === 'silence' ||
    step.kind === 'resume' ||
    step.kind === 'event'
  );
}
