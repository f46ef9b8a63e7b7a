import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, redactUrlPasswords, silentLogger } from '../kernel/index.ts';
import { ensureDataDir, resolveAdminToken } from './admin-token.ts';

describe('secrets on disk and in logs (issue 7, finding 6)', () => {
  const root = mkdtempSync(join(tmpdir(), 'gridhub-secrets-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('creates the data folder 0700 and the admin token file 0600, and tightens a loose existing folder', () => {
    const fresh = join(root, 'fresh');
    const token = resolveAdminToken(undefined, fresh, silentLogger());
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    expect(statSync(join(fresh, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(resolveAdminToken(undefined, fresh, silentLogger())).toBe(token);
    const loose = join(root, 'loose');
    mkdirSync(loose, { mode: 0o755 });
    chmodSync(loose, 0o755);
    ensureDataDir(loose);
    expect(statSync(loose).mode & 0o777).toBe(0o700);
  });

  it('GRIDHUB_ADMIN_TOKEN=off turns the static token off', () => {
    expect(resolveAdminToken('off', join(root, 'off'), silentLogger())).toBeNull();
  });

  it('redacts credentials, cookies, tokens, passwords and URL passwords from log lines', () => {
    const lines: string[] = [];
    const log = createLogger('info', {
      write: (s: string) => lines.push(s),
    } as unknown as NodeJS.WritableStream);
    log.info(
      {
        req: { headers: { authorization: 'Bearer abc123secret', cookie: 'gridhub_session=sess-secret' } },
        body: { password: 'pw-secret', accessToken: 'tok-secret' },
        token: 'top-secret',
      },
      'connecting to postgres://u:url-secret@db/x',
    );
    log.error({ err: new Error('cannot connect postgres://u:err-secret@db:5432/x') }, 'start failed');
    const text = lines.join('\n');
    for (const secret of [
      'abc123secret',
      'sess-secret',
      'pw-secret',
      'tok-secret',
      'top-secret',
      'url-secret',
      'err-secret',
    ])
      expect(text).not.toContain(secret);
    expect(text).toContain('postgres://u:***@db/x');
    expect(redactUrlPasswords('mqtt://dev:pw@h:1 and rtsp://a:b@c/d')).toBe(
      'mqtt://dev:***@h:1 and rtsp://a:***@c/d',
    );
  });
});
