/**
 * What a scenario run reports — its steps and its expectations, each check with what was expected and what
 * was found — and the report as terminal text.
 */
import { formatDuration } from '../../kernel/index.ts';
import type { CaseRef } from './types.ts';

export interface Check {
  field: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface ExpectationResult {
  /** `end`, or the offset of a check step. */
  when: 'end' | number;
  line: number;
  path: string;
  /** What is checked: `bin/bin-full`, `no case bin/bin-fire`, `kpi community 330102001001`. */
  subject: string;
  ok: boolean;
  checks: Check[];
}

export interface StepResult {
  index: number;
  line: number;
  at: number;
  what: string;
  ok: boolean;
  message: string;
}

export interface Report {
  name: string;
  file: string;
  description: string;
  passed: boolean;
  apiUrl: string;
  idPrefix: string;
  start: string;
  end: string;
  simulatedMs: number;
  /** Wall-clock time of the run (ms). */
  durationMs: number;
  messages: number;
  readings: number;
  /** Steps in the scenario; `steps` has the results of the person steps (actions, reports). */
  stepCount: number;
  steps: StepResult[];
  expectations: ExpectationResult[];
}

export function formatTime(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  if (offsetMin === 0) return `${local}Z`;
  const a = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

export const plus = (ms: number) => `+${formatDuration(ms)}`;

export function refLabel(ref: CaseRef): string {
  if (ref.kind === 'sensor') return `${ref.device}/${ref.rule}`;
  if (ref.kind === 'report') return `report ${ref.label}`;
  return `${ref.category} cases in ${ref.grid}`;
}
// ---- the terminal report -------------------------------------------------------------------------

/** The report for the terminal: one line per check, ✓ or ✗, expected and actual for the failures. */
export function formatReport(r: Report): string {
  const lines: string[] = [];
  const expectations = r.expectations;
  const checks = expectations.flatMap((e) => e.checks);
  const failedSteps = r.steps.filter((s) => !s.ok);
  lines.push(`${r.passed ? '✓' : '✗'} ${r.name} (${r.file})`);
  for (const line of r.description.split('\n')) if (line.trim()) lines.push(`  ${line.trim()}`);
  lines.push(
    `  ${r.start} → ${r.end}: ${formatDuration(r.simulatedMs)} simulated in ${(r.durationMs / 1000).toFixed(1)} s · ${r.readings} readings in ${r.messages} messages · ${r.stepCount} steps · ids ${r.idPrefix || '(no prefix)'}*`,
  );
  for (const s of failedSteps)
    lines.push(`  ✗ steps[${s.index}] (line ${s.line}, +${formatDuration(s.at)}) ${s.what}: ${s.message}`);
  let group = '';
  for (const e of expectations) {
    const g = e.when === 'end' ? 'at the end' : `check at +${formatDuration(e.when)}`;
    if (g !== group) {
      lines.push(`  ${g}:`);
      group = g;
    }
    const good = e.checks.filter((c) => c.ok);
    if (good.length)
      lines.push(`    ✓ ${e.subject}: ${good.map((c) => `${c.field} ${c.expected}`).join(', ')}`);
    for (const c of e.checks.filter((x) => !x.ok))
      lines.push(
        `    ✗ ${e.subject}: ${c.field}: expected ${c.expected}, actual ${c.actual}   (line ${e.line})`,
      );
  }
  const okChecks = checks.filter((c) => c.ok).length;
  lines.push(
    `  ${r.passed ? 'PASS' : 'FAIL'}: ${okChecks}/${checks.length} checks hold${failedSteps.length ? `, ${failedSteps.length} step${failedSteps.length > 1 ? 's' : ''} failed` : ''}`,
  );
  return lines.join('\n');
}
