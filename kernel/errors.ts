/**
 * Coded errors. Each carries a stable code (GRIDHUB_ERR_…) and the HTTP status it maps to; the one
 * HTTP error handler turns them into `{ error: { code, message } }` and hides 5xx internals.
 */
export class GridhubError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode = 400,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'GridhubError';
  }
}

export const notFound = (what: string, id: string) =>
  new GridhubError('GRIDHUB_ERR_NOT_FOUND', `${what} '${id}' not found`, 404);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new GridhubError('GRIDHUB_ERR_CONFLICT', message, 409, details);
export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new GridhubError('GRIDHUB_ERR_BAD_REQUEST', message, 400, details);
export const forbidden = (message: string) => new GridhubError('GRIDHUB_ERR_FORBIDDEN', message, 403);
export const unauthorized = (message = 'missing or invalid bearer token') =>
  new GridhubError('GRIDHUB_ERR_UNAUTHORIZED', message, 401);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`bad configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}
