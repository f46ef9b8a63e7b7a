// The real command line: the first admin from `gridhub admin create-user`, the admin token turned
// off, SIGTERM with a live stream open (issue 7, finding 4) and secrets kept out of start errors
// and off a world-readable disk (finding 6).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ENV_BASE = {
  GRIDHUB_HTTP_PORT: '0',
  GRIDHUB_MQTT_PORT: '0',
  GRIDHUB_HOST: '127.0.0.1',
  GRIDHUB_LOG_LEVEL: 'warn',
  GRIDHUB_ADMIN_TOKEN: '',
  DATABASE_URL: '',
};

function run(args: string[], env: Record<string, string>, stdin?: string) {
  const child = spawn(process.execPath, ['bin/gridhub.js', ...args], {
    env: { ...process.env, ...ENV_BASE, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return { child, done, out: () => stdout, err: () => stderr };
}

describe('security from the command line', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'gridhub-cli-')), 'data');
  afterAll(() => rmSync(join(dataDir, '..'), { recursive: true, force: true }));

  it('`gridhub demo` with the admin token off stops at once with a reason naming the setting', async () => {
    const demo = run(['demo'], { GRIDHUB_DATA_DIR: join(dataDir, '..', 'demo'), GRIDHUB_ADMIN_TOKEN: 'off' });
    const { code } = await demo.done;
    expect(code).toBe(2);
    expect(demo.err()).toMatch(/GRIDHUB_ADMIN_TOKEN.*cannot be used with `gridhub demo`/);
    expect(demo.out()).not.toMatch(/gridhub ready/);
  });

  it('admin create-user makes the first admin from a password on stdin, and refuses a weak one', async () => {
    const weak = run(
      ['admin', 'create-user', '--id', 'root', '--role', 'admin'],
      { GRIDHUB_DATA_DIR: dataDir },
      'root\n',
    );
    expect((await weak.done).code).toBe(2);
    expect(weak.err()).toMatch(/password: at least 10 characters/);
    const ok = run(
      ['admin', 'create-user', '--id', 'root', '--role', 'admin', '--name', 'Root'],
      { GRIDHUB_DATA_DIR: dataDir },
      'a long enough passphrase\n',
    );
    const { code } = await ok.done;
    expect(ok.err()).toBe('');
    expect(code).toBe(0);
    expect(ok.out()).toMatch(/created user root \(admin\)/);
    // finding 6: the data folder holds password hashes: 0700.
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  }, 120_000);

  it('finding 4: with the admin token off, the admin signs in, holds /api/events open, and the hub exits within 10 s of SIGTERM', async () => {
    const hub = run(['start'], { GRIDHUB_DATA_DIR: dataDir, GRIDHUB_ADMIN_TOKEN: 'off' });
    const until = Date.now() + 60_000;
    while (!/gridhub ready http=(\S+)/.test(hub.out()) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const httpUrl = /gridhub ready http=(\S+)/.exec(hub.out())?.[1];
    expect(httpUrl, hub.err()).toBeDefined();
    const login = await fetch(`${httpUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'root', password: 'a long enough passphrase' }),
    });
    expect(login.status).toBe(200);
    const { token, user } = (await login.json()) as { token: string; user: { role: string } };
    expect(user.role).toBe('admin');
    // No admin token was generated: people are the admins.
    expect(() => statSync(join(dataDir, 'admin-token'))).toThrow();
    const stream = await fetch(`${httpUrl}/api/events`, { headers: { authorization: `Bearer ${token}` } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read();
    const t0 = Date.now();
    hub.child.kill('SIGTERM');
    const exit = await hub.done;
    const took = Date.now() - t0;
    expect(exit.code).toBe(0);
    expect(took).toBeLessThan(10_000);
    console.info(`[figure] SIGTERM with a live stream open → exit in ${took} ms`);
    // The stream was ended by the hub, not left hanging.
    const end = await Promise.race([
      reader.read().then((r) => r.done),
      new Promise((r) => setTimeout(() => r('hung'), 2000)),
    ]);
    expect(end).toBe(true);
  }, 120_000);

  it('finding 6: a bad DATABASE_URL is never echoed with its password', async () => {
    for (const url of [
      'postgres://gridhub:s3cret-pw@127.0.0.1:1/nope',
      'mysql://gridhub:s3cret-pw@127.0.0.1/x',
    ]) {
      const r = run(['start'], { GRIDHUB_DATA_DIR: dataDir, DATABASE_URL: url });
      const { code } = await r.done;
      expect(code).not.toBe(0);
      expect(r.err() + r.out()).not.toContain('s3cret-pw');
    }
  }, 120_000);
});
