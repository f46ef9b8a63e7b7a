// Throwaway PostgreSQL cluster for integration tests and benchmarks.
//
// initdb + pg_ctl into a fresh temp dir, listening only on 127.0.0.1 and a unix socket inside that dir,
// with durability switched off (fsync, synchronous_commit, full_page_writes) because the data is discarded.
// As root (CI containers) the server binaries refuse to run, so they run as the `postgres` system user via
// runuser and the temp dir is chowned to that user.

import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_INSTALL_HINT = 'apt-get install -y postgresql';

export type PgCluster = {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** Creates a new empty database (default: unique name) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server but keeps its data (an outage); `resume()` starts it again on the same port. */
  halt(): Promise<void>;
  resume(): Promise<void>;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back a moment later. */
  restart(): Promise<void>;

  /** Immediate shutdown and removal of the data directory. Idempotent. */
  stop(): Promise<void>;
};

export type StartPgClusterOptions = {
  log?: (m: string) => void;
  /**
   * Durable settings (fsync, synchronous_commit, full_page_writes on, the server defaults), for
   * the fault tests of issue 8: a commit acknowledged by such a server survives a crash of it.
   */
  durable?: boolean;
};

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'postgres'];

function hasServerBinaries(dir: string): boolean {
  return REQUIRED_BINARIES.every((b) => existsSync(join(dir, b)));
}

/** Directory holding initdb/pg_ctl/postgres: `PG_BIN` env first, then /usr/lib/postgresql/<highest>/bin. */
export function findPgBin(): string | undefined {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv && hasServerBinaries(fromEnv)) return fromEnv;
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  const sorted = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const v of sorted) {
    const dir = join(root, v, 'bin');
    if (hasServerBinaries(dir)) return dir;
  }
  return undefined;
}

type RunResult = { stdout: string; stderr: string };

class CommandError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** Environment for the server tools: no inherited PG* variables that could redirect them. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** argv to run a server binary: as root wrapped in `runuser -u postgres --`. */
function command(bin: string, tool: string, args: string[]): [string, string[]] {
  const exe = join(bin, tool);
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
}

function run(bin: string, tool: string, args: string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  const [file, argv] = command(bin, tool, args);
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { cwd, env: cleanEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed (${err.code ?? err.signal})`;
          const output = `${stdout}${stderr}`.trim();
          reject(new CommandError(`${tool} ${why}${output ? `:\n${output}` : ''}`, output));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

function postgresIds(): { uid: number; gid: number } {
  const res = spawnSync('id', ['postgres'], { encoding: 'utf8' });
  const uid = /uid=(\d+)/.exec(res.stdout ?? '')?.[1];
  const gid = /gid=(\d+)/.exec(res.stdout ?? '')?.[1];
  if (res.status !== 0 || uid === undefined || gid === undefined) {
    throw new Error(
      `running as root but there is no 'postgres' system user to run the server as (${PG_INSTALL_HINT} creates it)`,
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

function logTail(file: string, lines = 30): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    if (!text) return '(server log is empty)';
    return `server log tail (${file}):\n${text.split('\n').slice(-lines).join('\n')}`;
  } catch {
    return '(no server log)';
  }
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

let dbCounter = 0;

function uniqueDbName(): string {
  dbCounter += 1;
  const rand = Math.random().toString(36).slice(2, 8);
  return `t_${process.pid}_${Date.now().toString(36)}_${dbCounter}_${rand}`;
}

/**
 * Runs CREATE DATABASE on the cluster behind `adminUrl` (any database URL of that cluster) and returns the new
 * database's URL. Used by {@link PgCluster.createDatabase} and by test workers that only know the URL.
 */
export async function createDatabaseAt(adminUrl: string, name: string = uniqueDbName()): Promise<string> {
  if (name.length > 63) throw new Error(`database name too long (max 63 bytes): ${name}`);
  const client = new pg.Client({
    connectionString: adminUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
  });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await client.end().catch(() => {});
  }
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** Starts a new cluster in a temp dir on a free 127.0.0.1 port. Throws with the server log tail on failure. */
export async function startPgCluster(opts: StartPgClusterOptions = {}): Promise<PgCluster> {
  const log = opts.log ?? (() => {});
  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or $PG_BIN; install them: ${PG_INSTALL_HINT}`,
    );
  }
  const t0 = performance.now();
  // As root use /tmp: a TMPDIR under /root would not be traversable by the postgres user.
  const dir = mkdtempSync(join(isRoot() ? '/tmp' : tmpdir(), 'gridhub-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'log');
  const deadline = Date.now() + START_TIMEOUT_MS;
  const remaining = (): number => Math.max(1_000, deadline - Date.now());

  const removeDir = (): void => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  };
  const stopSync = (): void => {
    if (existsSync(join(dataDir, 'postmaster.pid'))) {
      const [file, argv] = command(bin, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      spawnSync(file, argv, { cwd: dir, env: cleanEnv(), timeout: STOP_TIMEOUT_MS, stdio: 'ignore' });
    }
    removeDir();
  };
  // Safety net if the caller never reaches stop() (crash, process.exit): don't leak a running server.
  process.on('exit', stopSync);

  try {
    if (isRoot()) {
      const { uid, gid } = postgresIds();
      chownSync(dir, uid, gid);
    }
    await run(
      bin,
      'initdb',
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      dir,
      remaining(),
    );
    const tInit = performance.now();

    let port = 0;
    let serverOpts = '';
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      serverOpts = [
        `-p ${port}`,
        `-k '${dir}'`, // pg_ctl passes -o through /bin/sh
        '-c listen_addresses=127.0.0.1',
        ...(opts.durable
          ? ['-c fsync=on', '-c synchronous_commit=on', '-c full_page_writes=on']
          : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
        '-c max_connections=200',
      ].join(' ');
      const timeoutS = Math.max(1, Math.floor((remaining() - 500) / 1000));
      try {
        await run(
          bin,
          'pg_ctl',
          ['-D', dataDir, '-w', '-t', String(timeoutS), '-l', logFile, '-o', serverOpts, 'start'],
          dir,
          remaining(),
        );
        break;
      } catch (err) {
        // Another process may have grabbed the port between probe and bind: retry on a new one.
        const tail = logTail(logFile);
        if (attempt < PORT_ATTEMPTS && /could not bind|address already in use/i.test(tail)) {
          log(`postgres: port ${port} taken, retrying`);
          continue;
        }
        throw err;
      }
    }
    const tStart = performance.now();
    log(
      `postgres ${bin} on 127.0.0.1:${port} (initdb ${Math.round(tInit - t0)} ms, start ${Math.round(tStart - tInit)} ms)`,
    );

    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    let stopped = false;
    return {
      url,
      port,
      createDatabase: (name?: string) => createDatabaseAt(url, name),
      async halt() {
        // `fast`, not `immediate`: the test cluster runs with synchronous_commit=off, so an
        // immediate stop would drop commits still in the WAL buffers — a loss a real server
        // (synchronous_commit=on) never has.
        await run(bin, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop'], dir, STOP_TIMEOUT_MS);
      },
      async resume() {
        await run(
          bin,
          'pg_ctl',
          ['-D', dataDir, '-w', '-t', '30', '-l', logFile, '-o', serverOpts, 'start'],
          dir,
          START_TIMEOUT_MS,
        );
      },
      async restart() {
        await run(
          bin,
          'pg_ctl',
          ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', '-l', logFile, '-o', serverOpts, 'restart'],
          dir,
          START_TIMEOUT_MS,
        );
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await run(bin, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], dir, STOP_TIMEOUT_MS);
        } catch (err) {
          log(`postgres: pg_ctl stop failed: ${(err as Error).message}`);
        } finally {
          removeDir();
          // Only now: an exit while pg_ctl was still stopping must still clean up.
          process.off('exit', stopSync);
        }
      },
    };
  } catch (err) {
    const message = `failed to start PostgreSQL in ${dir}: ${(err as Error).message}\n${logTail(logFile)}`;
    process.off('exit', stopSync);
    stopSync();
    throw new Error(message, { cause: err });
  }
}
