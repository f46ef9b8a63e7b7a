/**
 * Which store errors a retry can cure. A batch that fails for a reason retrying cannot cure (bad
 * data: SQLSTATE class 22 data exception, 23 integrity violation, 42 syntax or access, 54 limits)
 * must be split until the bad rows are found, or one poison reading stalls every device behind
 * it. Everything about the connection or the server's state (class 08 connection exception, 53
 * insufficient resources, 57P operator intervention — a restart or pg_terminate_backend —, 40
 * serialization failure or deadlock, 55P03 lock timeout, 58 system error) and the driver's own
 * socket errors are retried. https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const RETRYABLE_SQLSTATE = /^(08|53|57P|40|55P03|58)/;
const RETRYABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT', // the unix socket of a server that is down
]);
// Messages node-postgres uses for a connection lost, refused or not yet made.
const RETRYABLE_MESSAGE =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout|Client was closed|the database system is (starting up|shutting down|in recovery)|terminating connection|store unavailable|rollback timed out/i;

/** The SQLSTATE of a database error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** True when the same statement may succeed later (connection or server state), false for bad data. */
export function isRetryable(err: unknown): boolean {
  const state = sqlState(err);
  if (state) return RETRYABLE_SQLSTATE.test(state);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_ERRNO.has(code)) return true;
  const message = (err as Error | null)?.message ?? String(err);
  return RETRYABLE_MESSAGE.test(message);
}

/** A short description of a store error for a rejection reason: message and SQLSTATE. */
export function describeStoreError(err: unknown): string {
  const state = sqlState(err);
  const message = ((err as Error | null)?.message ?? String(err)).slice(0, 300);
  return state ? `${message} (SQLSTATE ${state})` : message;
}
