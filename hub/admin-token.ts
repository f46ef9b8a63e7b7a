import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.ts';

/**
 * The admin token: GRIDHUB_ADMIN_TOKEN when set; otherwise generated once into
 * `<dataDir>/admin-token` (mode 0600). The log says where, never the token itself.
 */
export function resolveAdminToken(configured: string | undefined, dataDir: string, log: Logger): string {
  if (configured) return configured;
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return token;
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log.info({ file }, 'generated an admin token (GRIDHUB_ADMIN_TOKEN was not set)');
  return token;
}
