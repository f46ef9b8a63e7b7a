/**
 * Checking a scenario's expectations against the hub: letting it settle first (a clock nudge and a request
 * queued behind its case work), finding the cases an expectation names, and comparing their fields and the
 * KPIs.
 */

import type { KpiField } from '../../domain/index.ts';
import { Api, errorMessage, RunnerError } from './client.ts';
import { type Check, type ExpectationResult, formatTime, refLabel } from './report.ts';
import type { CaseRef, Expectation, Scenario } from './types.ts';

export interface CaseView {
  id: string;
  status: string;
  category: string;
  gridCode: string;
  urgency: string;
  deviceId: string | null;
  ruleId: string | null;
  occurrences: number;
  escalationLevel: string;
  assignee: string | null;
  overdue: boolean;
  openedAt: string;
  deadline: string | null;
  closedAt: string | null;
  description: string;
  evidence?: { explanation?: string };
  timeline?: { action: string; actor: string; level?: string; at: string }[];
  allowedActions?: string[];
}

export interface RunOptions {
  apiUrl: string;
  mqttUrl: string;
  adminToken: string;
  /** Progress lines (steps as they run). */
  log?: (line: string) => void;
  /** Prefix of device, user and unit ids; default `<name>-<4 random characters>.`; '' for none. */
  idPrefix?: string;
  /** HTTP attempts while the hub is unreachable (backoff 0.5 s doubling, at most 5 s); default 5. */
  attempts?: number;
  /** How long to wait for the hub to reach an expected state before reporting ✗; default 10 s. */
  settleTimeoutMs?: number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const PASSWORD_CHARS = 'abcdefghijkmnpqrstuvwxyz23456789';

export function randomText(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += PASSWORD_CHARS[Math.floor(Math.random() * PASSWORD_CHARS.length)];
  return s;
}

export function offsetOf(iso: string): number {
  const m = /([+-])(\d{2}):(\d{2})$/.exec(iso);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}

/**
 * What every part of a run shares (the scenario, the API, the ids, hub time) and the half of it that
 * lets the hub settle and checks the expectations; the Run in runner.ts drives the devices and people.
 */
export class RunBase {
  protected readonly api: Api;
  protected readonly prefix: string;
  protected readonly log: (line: string) => void;
  protected readonly settleMs: number;
  protected readonly offsetMin: number;
  protected readonly reports = new Map<string, string>();
  protected now: number;

  constructor(
    protected readonly s: Scenario,
    protected readonly opts: RunOptions,
  ) {
    this.log = opts.log ?? (() => {});
    this.api = new Api(opts.apiUrl, opts.adminToken, Math.max(1, opts.attempts ?? 5), (m) => this.log(m));
    this.prefix = opts.idPrefix ?? `${s.name}-${randomText(4)}.`;
    this.settleMs = opts.settleTimeoutMs ?? 10_000;
    this.offsetMin = offsetOf(s.startText);
    this.now = s.start;
  }

  protected id = (local: string) => `${this.prefix}${local}`;
  protected local = (hubId: string | null) =>
    hubId !== null && this.prefix && hubId.startsWith(this.prefix) ? hubId.slice(this.prefix.length) : hubId;
  protected time = (ms: number) => formatTime(ms, this.offsetMin);

  // ---- settling and polling ------------------------------------------------------------------------

  /**
   * Lets the hub finish the work the last readings and clock move started: a clock "nudge" (the
   * same time again, which runs the hub's timers: absence, sensor verification, escalation), then a
   * no-op case action that the hub's case queue answers (404) only after the work queued before it.
   */
  protected async settle() {
    await this.api.call('POST', '/api/clock', { set: new Date(this.now).toISOString() });
    await this.barrier();
  }

  /** A request the hub answers in order after the case work queued before it (a 404 for a no-op). */
  protected async barrier() {
    await this.api.call('POST', '/api/cases/~settle/actions', { action: 'register' });
  }

  /** Polls `fn` (settling before each try) until it returns a value or the bound passes. */
  protected async poll<T>(what: string, fn: () => Promise<T | undefined>): Promise<T | undefined> {
    const until = Date.now() + this.settleMs;
    for (let i = 0; i < 10_000; i++) {
      await this.settle();
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > until) {
        this.log(`waited ${this.settleMs / 1000} s for ${what}; going on`);
        return v;
      }
      await sleep(Math.min(250, 25 * 2 ** i));
    }
    return undefined;
  }

  // ---- expectations ----------------------------------------------------------------------------------

  protected async findCases(ref: CaseRef): Promise<CaseView[]> {
    if (ref.kind === 'report') {
      const id = this.reports.get(ref.label);
      if (!id) return [];
      const r = await this.api.call('GET', `/api/cases/${encodeURIComponent(id)}`);
      return r.status === 200 ? [r.body] : [];
    }
    const q =
      ref.kind === 'sensor'
        ? `deviceId=${encodeURIComponent(this.id(ref.device))}&ruleId=${encodeURIComponent(ref.rule)}`
        : `category=${ref.category}&gridCode=${ref.grid}`;
    const items: CaseView[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const r = await this.api.call('GET', `/api/cases?${q}&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      if (r.status !== 200) throw new RunnerError(`listing cases: ${errorMessage(r)}`);
      items.push(...(r.body.items as CaseView[]));
      cursor = r.body.next;
      if (!cursor) break;
    }
    if (ref.kind === 'sensor') return items;
    // Cases of this run only: raised by its devices or reported by its people.
    const ours = new Set(this.reports.values());
    return items.filter((c) => ours.has(c.id) || c.deviceId?.startsWith(this.prefix) === true);
  }

  protected async checkAll(list: Expectation[], when: 'end' | number): Promise<ExpectationResult[]> {
    if (list.length === 0) return [];
    await this.settle();
    let results: ExpectationResult[] = [];
    const until = Date.now() + this.settleMs;
    for (let i = 0; i < 10_000; i++) {
      await this.settle();
      results = [];
      for (const e of list) results.push(await this.check(e, when));
      if (results.every((r) => r.ok) || Date.now() > until) break;
      await sleep(Math.min(250, 25 * 2 ** i));
    }
    return results;
  }

  protected async check(e: Expectation, when: 'end' | number): Promise<ExpectationResult> {
    const base = { when, line: e.line, path: e.path };
    if (e.kind === 'kpi') return { ...base, ...(await this.checkKpi(e)) };
    const cases = await this.findCases(e.ref);
    const subject = e.kind === 'noCase' ? `no case ${refLabel(e.ref)}` : refLabel(e.ref);
    const checks: Check[] = [];
    const add = (field: string, expected: unknown, actual: unknown, ok?: boolean) =>
      checks.push({
        field,
        expected: show(expected),
        actual: show(actual),
        ok: ok ?? JSON.stringify(expected) === JSON.stringify(actual),
      });
    if (e.kind === 'noCase') {
      add('count', 0, cases.length);
      return { ...base, subject, ok: checks.every((c) => c.ok), checks };
    }
    if (e.count !== undefined) add('count', e.count, cases.length);
    else
      add(
        'case',
        'exists',
        cases.length === 0 ? 'none' : `${cases.length} case${cases.length > 1 ? 's' : ''}`,
        cases.length > 0,
      );
    const c = cases[0];
    const fields = Object.keys(e).filter(
      (k) =>
        !['kind', 'ref', 'line', 'path', 'count'].includes(k) &&
        (e as unknown as Record<string, unknown>)[k] !== undefined,
    );
    if (c && fields.length) {
      const needsTimeline = fields.some((f) =>
        ['verifiedBy', 'relapsed', 'reworks', 'escalatedTo', 'timeline'].includes(f),
      );
      const full: CaseView = needsTimeline
        ? ((await this.api.call('GET', `/api/cases/${encodeURIComponent(c.id)}`)).body as CaseView)
        : c;
      const timeline = full.timeline ?? [];
      const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));
      for (const f of fields) {
        const want = (e as unknown as Record<string, unknown>)[f];
        switch (f) {
          case 'status':
          case 'category':
          case 'urgency':
          case 'occurrences':
          case 'escalationLevel':
          case 'overdue':
            add(f, want, (c as unknown as Record<string, unknown>)[f]);
            break;
          case 'grid':
            add(f, want, c.gridCode);
            break;
          case 'assignee':
            add(f, want, this.local(c.assignee));
            break;
          case 'verifiedBy': {
            const v = timeline.filter((x) => x.action === 'verify').at(-1);
            add(f, want, v ? this.local(v.actor) : 'not verified');
            break;
          }
          case 'relapsed':
            add(
              f,
              want,
              timeline.some((x) => x.action === 'relapse'),
            );
            break;
          case 'reworks':
            add(f, want, timeline.filter((x) => x.action === 'rework' || x.action === 'relapse').length);
            break;
          case 'escalatedTo':
            add(
              f,
              want,
              timeline.filter((x) => x.action === 'escalate').map((x) => x.level),
            );
            break;
          case 'timeline':
            add(
              f,
              want,
              timeline.filter((x) => x.action !== 'occurrence').map((x) => x.action),
            );
            break;
          case 'openedAt':
          case 'deadline':
          case 'closedAt': {
            const actual = ms(c[f]);
            checks.push({
              field: f,
              expected: want === null ? 'null' : this.time(want as number),
              actual: actual === null ? 'null' : this.time(actual),
              ok: want === actual,
            });
            break;
          }
          case 'explanation': {
            const text = `${c.evidence?.explanation ?? ''} ${c.description ?? ''}`;
            checks.push({
              field: f,
              expected: `contains "${want}"`,
              actual: JSON.stringify(c.evidence?.explanation ?? c.description),
              ok: text.toLowerCase().includes(String(want).toLowerCase()),
            });
            break;
          }
        }
      }
    } else if (!c) {
      for (const f of fields) {
        const want = (e as unknown as Record<string, unknown>)[f];
        checks.push({
          field: f,
          expected:
            typeof want === 'number' && ['openedAt', 'deadline', 'closedAt'].includes(f)
              ? this.time(want)
              : show(want),
          actual: 'no case',
          ok: false,
        });
      }
    }
    return { ...base, subject, ok: checks.every((x) => x.ok), checks };
  }

  protected async checkKpi(
    e: Expectation & { kind: 'kpi' },
  ): Promise<{ subject: string; ok: boolean; checks: Check[] }> {
    const key = e.key === null ? null : e.level === 'unit' ? this.id(e.key) : e.key;
    const subject = `kpi ${e.level} ${e.key ?? 'total'} [${this.time(e.from)}, ${this.time(e.to)})`;
    const r = await this.api.call(
      'GET',
      `/api/kpis?from=${encodeURIComponent(new Date(e.from).toISOString())}&to=${encodeURIComponent(new Date(e.to).toISOString())}&level=${e.level}`,
    );
    if (r.status !== 200)
      return {
        subject,
        ok: false,
        checks: [{ field: 'kpis', expected: 'HTTP 200', actual: errorMessage(r), ok: false }],
      };
    const row: Record<string, unknown> | undefined =
      key === null ? r.body.total : (r.body.items as { key: string | null }[]).find((i) => i.key === key);
    const checks: Check[] = [];
    for (const [f, want] of Object.entries(e.values) as [KpiField, number | null][]) {
      // A group without any activity is not listed: its counts are 0 and its rates null.
      const actual = row
        ? (row[f] as number | null)
        : f.endsWith('Rate') || f === 'meanTimeToCloseHours'
          ? null
          : 0;
      const ok =
        want === null || actual === null
          ? want === actual
          : Math.abs(want - actual) <= (Number.isInteger(want) ? 0 : 1e-4);
      checks.push({ field: f, expected: show(want), actual: show(actual), ok });
    }
    return { subject, ok: checks.every((c) => c.ok), checks };
  }
}
export const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
export const round = (v: number) => Math.round(v * 10_000) / 10_000;

function show(v: unknown): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  return JSON.stringify(v);
}
