// Child processes for the benchmark: the hub (or the bare broker) and the load generators each run in
// their own Node process, loaded as the hub is (bin/run-ts.mjs), talking to the orchestrator over IPC with a tiny
// request/response protocol. Every child exits by itself when its parent goes away.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

interface Request {
  id: number;
  cmd: string;
  args?: unknown;
}
interface Response {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
interface Notice {
  event: string;
  data?: unknown;
}

const TSX = import.meta.resolve('tsx');
const RUN_TS = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url));
/** How a child loads its TypeScript: bundled as `gridhub start` runs (bin/run-ts.mjs), or `BENCH_CHILD_LOADER=tsx`. */
const CHILD_LOADER: string[] = process.env.BENCH_CHILD_LOADER === 'tsx' ? ['--import', TSX] : [RUN_TS];
const live = new Set<ChildProcess>();
const liveChildren = new Set<Child>();

/** Kills every child still running (they are all ours, by pid). Last resort at exit. */
export function killAllChildren(): void {
  for (const p of live) {
    try {
      if (p.pid) process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  live.clear();
}
process.on('exit', killAllChildren);

let aborted = false;

/**
 * Asks every running child to clean up and exit (Ctrl-C, watchdog); SIGKILL after timeoutMs. No child
 * starts afterwards.
 */
export async function stopAllChildren(timeoutMs = 8000): Promise<void> {
  aborted = true;
  await Promise.all([...liveChildren].map((c) => c.stop(timeoutMs).catch(() => {})));
  killAllChildren();
}

let tasksetChecked: boolean | undefined;
function hasTaskset(): boolean {
  tasksetChecked ??= spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  return tasksetChecked;
}

/**
 * Passes a child's log lines through, but only the first few of each pino message (the hub warns
 * once per device registered outside every grid: 10,000 lines in the idle run); the rest are counted.
 */
function dedupeLogs(name: string, stream: NodeJS.ReadableStream): void {
  const seen = new Map<string, number>();
  const SHOWN = 3;
  const rl = createInterface({ input: stream });
  rl.on('line', (line) => {
    let key = line;
    try {
      const j = JSON.parse(line) as { msg?: string; level?: number };
      key = `${j.level}:${j.msg}`;
    } catch {}
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n <= SHOWN) console.log(`[${name}] ${line}`);
    else if (n === SHOWN + 1)
      console.log(`[${name}] (further lines like the one above are counted, not shown)`);
  });
  rl.on('close', () => {
    for (const [key, n] of seen)
      if (n > SHOWN) console.log(`[${name}] ${n - SHOWN} more log lines "${key}" not shown`);
  });
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to clean up and exit; SIGKILL if it has not exited within timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
  onNotice(fn: (n: Notice) => void): void;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `entry` (a .ts file under bench/) in a new Node process, loaded as the hub is (CHILD_LOADER). `nofile` raises the
 * child's open-file limit (a shell `ulimit -n` before exec); `cpu` pins it with taskset.
 */
export function startChild(
  entry: string,
  opts: { name: string; nofile?: number; cpu?: number; nodeArgs?: string[]; quietLogs?: boolean } = {
    name: 'child',
  },
): Child {
  if (aborted) throw new Error('the benchmark is stopping');
  const file = fileURLToPath(new URL(entry, import.meta.url));
  const node = [process.execPath, '--expose-gc', ...(opts.nodeArgs ?? []), ...CHILD_LOADER, file];
  const argv = opts.cpu !== undefined && hasTaskset() ? ['taskset', '-c', String(opts.cpu), ...node] : node;
  const script = opts.nofile
    ? `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`
    : 'exec "$@"';
  const proc = spawn('/bin/sh', ['-c', script, 'sh', ...argv], {
    stdio: ['ignore', opts.quietLogs ? 'pipe' : 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    env: { ...process.env, BENCH_CHILD: opts.name },
  });
  live.add(proc);
  if (opts.quietLogs && proc.stdout) dedupeLogs(opts.name, proc.stdout);
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const noticeFns: ((n: Notice) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      for (const p of pending.values())
        p.reject(new Error(`${opts.name} exited (${signal ?? code}) before answering`));
      pending.clear();
      resolve(code);
    });
  });
  proc.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  proc.on('message', (m: Response | Notice) => {
    if ('event' in m) {
      for (const fn of noticeFns) fn(m);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`${opts.name}: ${m.error}`));
  });

  const child: Child = {
    name: opts.name,
    pid: proc.pid ?? -1,
    exited,
    onNotice: (fn) => void noticeFns.push(fn),
    call<T>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (!proc.connected) return reject(new Error(`${opts.name} is not running`));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${opts.name}: '${cmd}' did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        proc.send({ id, cmd, args } satisfies Request);
      });
    },
    async stop(timeoutMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const kill = setTimeout(() => {
        try {
          proc.kill('SIGKILL');
        } catch {}
      }, timeoutMs);
      try {
        if (proc.connected) await this.call('stop', undefined, timeoutMs).catch(() => {});
        await exited;
      } finally {
        clearTimeout(kill);
      }
    },
  };
  liveChildren.add(child);
  void exited.then(() => liveChildren.delete(child));
  return child;
}

/**
 * The child's side: answers requests with the handlers. `stop` runs the cleanup, answers, then exits.
 * A child whose parent disconnects (crashed, killed) cleans up and exits too, bounded to a few seconds.
 */
export function serve(
  handlers: Record<string, (args: any) => unknown>,
  cleanup: () => Promise<void> | void,
): { notify(event: string, data?: unknown): void } {
  if (!process.send) throw new Error('this file runs as a child of bench/run.ts');
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    const hard = setTimeout(() => process.exit(code), 10_000);
    hard.unref();
    try {
      await cleanup();
    } catch (err) {
      console.error(`[${process.env.BENCH_CHILD}] cleanup failed:`, err);
    }
    process.exit(code);
  };
  process.on('disconnect', () => void exit(0));
  process.on('message', async (m: Request) => {
    if (m.cmd === 'stop') {
      if (exiting) return;
      exiting = true;
      let error: string | undefined;
      try {
        await cleanup();
      } catch (err) {
        error = String((err as Error)?.stack ?? err);
      }
      const reply: Response = error ? { id: m.id, ok: false, error } : { id: m.id, ok: true };
      process.send!(reply, () => process.exit(0));
      return;
    }
    const fn = handlers[m.cmd];
    let reply: Response;
    try {
      if (!fn) throw new Error(`unknown command ${m.cmd}`);
      reply = { id: m.id, ok: true, result: await fn(m.args) };
    } catch (err) {
      reply = { id: m.id, ok: false, error: String((err as Error)?.stack ?? err) };
    }
    if (process.connected) process.send!(reply);
  });
  // Ctrl-C reaches the whole process group: the parent then asks each child to stop, so a child with a
  // parent only waits for that (bounded); an orphan cleans up by itself.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (!process.connected) void exit(0);
      else setTimeout(() => void exit(0), 15_000).unref();
    });
  return {
    notify(event, data) {
      if (process.connected) process.send!({ event, data } satisfies Notice);
    },
  };
}
