import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../kernel/index.ts';

/**
 * The data folder holds the embedded database (password and token hashes) and the admin token:
 * created 0700, and an existing one that others may read is tightened (issue 7, finding 6).
 */
export function ensureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const mode = statSync(dataDir).mode & 0o777;
  if (mode & 0o077) {
    try {
      chmodSync(dataDir, mode & 0o700);
    } catch {
      // Not ours to change (a mounted volume): the files inside are still 0600.
    }
  }
}

/**
 * The admin token: GRIDHUB_ADMIN_TOKEN when set (`off` turns it off: null); otherwise generated
 * once into `<dataDir>/admin-token` (mode 0600). The log says where, never the token itself.
 */
export function resolveAdminToken(
  configured: string | undefined,
  dataDir: string,
  log: Logger,
): string | null {
  if (configured === 'off') return null;
  if (configured) return configured;
  ensureDataDir(dataDir);
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return token;
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  log.info({ file }, 'generated an admin token (GRIDHUB_ADMIN_TOKEN was not set)');
  return token;
}
