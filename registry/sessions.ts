/**
 * Signed-in sessions as the request path reads them (web/auth.ts resolves every bearer token and
 * session cookie here, through people.ts). The store's `user_tokens` table is the record; this is
 * the in-process copy, behind an interface (issue 10, item 7) so several hubs can share it.
 */

/** One session, keyed by the SHA-256 of its token (the token itself is never kept). */
export interface Session {
  userId: string;
  createdAt: number;
  expiresAt: number;
  lastUsed: number;
  /** When `lastUsed` was last written back to the store. */
  written: number;
}

/**
 * The sessions this hub knows, by token hash; the subset of a Map that people.ts uses, all
 * synchronous (every request reads it). A shared implementation keeps this local copy and
 * invalidates it over Redis pub/sub: a session created on another hub is announced (or read from
 * `user_tokens` on a miss, off the request path) and one ended anywhere is deleted everywhere.
 */
export interface SessionStore extends Iterable<[string, Session]> {
  get(tokenHash: string): Session | undefined;
  set(tokenHash: string, session: Session): unknown;
  delete(tokenHash: string): unknown;
  clear(): void;
  readonly size: number;
}

/** One hub: the sessions in a Map. */
export const memorySessions = (): SessionStore => new Map<string, Session>();
