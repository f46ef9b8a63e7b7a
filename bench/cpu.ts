// CPU accounting over a window from /proc: per process (hub, load generators, this orchestrator) and
// PostgreSQL and the whole machine, so the report can say who was using the cores.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

let ticksPerSecond: number | undefined;
function clkTck(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** user + system CPU seconds of a process (0 when it is gone or /proc is unavailable). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck();
  } catch {
    return 0;
  }
}

/** CPU seconds of every `postgres` server process (the throwaway cluster's backends and workers). */
function postgresCpuSeconds(): number {
  let sum = 0;
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres')
          sum += processCpuSeconds(Number(d));
      } catch {}
    }
  } catch {}
  return sum;
}

/** Busy CPU seconds of the whole machine (all cores). */
function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return (total - idle) / clkTck();
  } catch {
    return 0;
  }
}

export interface CpuSample {
  t: number;
  hub: number;
  load: number;
  self: number;
  postgres: number;
  machine: number;
}

export function cpuSample(hubPid: number | undefined, loadPids: number[]): CpuSample {
  return {
    t: performance.now(),
    hub: hubPid ? processCpuSeconds(hubPid) : 0,
    load: loadPids.reduce((s, p) => s + processCpuSeconds(p), 0),
    self: processCpuSeconds(process.pid),
    postgres: postgresCpuSeconds(),
    machine: machineBusySeconds(),
  };
}

/** Average cores in use over the window (1.0 = one core fully busy). */
export interface CpuUse {
  hub: number;
  load: number;
  orchestrator: number;
  /** The PostgreSQL server processes (backends, WAL writer, checkpointer, autovacuum). */
  postgres: number;
  /** Everything else on the machine (kernel network processing not charged to a process, …). */
  other: number;
  machine: number;
}

export function cpuUse(a: CpuSample, b: CpuSample): CpuUse {
  const s = (b.t - a.t) / 1000;
  const hub = (b.hub - a.hub) / s;
  const load = (b.load - a.load) / s;
  const orchestrator = (b.self - a.self) / s;
  // A backend that exits between two samples takes its CPU time with it: clamp at 0.
  const postgres = Math.max(0, (b.postgres - a.postgres) / s);
  const machine = (b.machine - a.machine) / s;
  const other = Math.max(0, machine - hub - load - orchestrator - postgres);
  return { hub, load, orchestrator, postgres, other, machine };
}

/** Cores busy on the whole machine over `ms` (to notice other work before measuring). */
export async function machineBusyCores(ms = 1000): Promise<number> {
  const a = machineBusySeconds();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (machineBusySeconds() - a) / ((performance.now() - t0) / 1000);
}
