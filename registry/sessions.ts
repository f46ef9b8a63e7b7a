/**
 * Sign-in sessions held in memory, keyed by the SHA-256 of their token (the store keeps the same
 * rows in `user_tokens`, the record across restarts). Process-local state behind an interface
 * (issue 10, item 7): several hub processes would each keep a synchronous local copy, filled from
 * the store on a miss and invalidated over the bus on logout or when a user's sessions end, so a
 * request never waits on the network to learn who is calling.
 */
export interface Session {
  userId: string;
  createdAt: number;
  expiresAt: number;
  lastUsed: number;
  /** When `lastUsed` was last written to the store. */
  written: number;
}

export interface SessionStore {
  get(tokenHash: string): Session | undefined;
  set(tokenHash: string, s: Session): void;
  delete(tokenHash: string): void;
  entries(): IterableIterator<[string, Session]>;
  clear(): void;
  size(): number;
}

export function createMemorySessionStore(): SessionStore {
  const sessions = new Map<string, Session>();
  return {
    get: (h) => sessions.get(h),
    set: (h, s) => void sessions.set(h, s),
    delete: (h) => void sessions.delete(h),
    entries: () => sessions.entries(),
    clear: () => sessions.clear(),
    size: () => sessions.size,
  };
}
