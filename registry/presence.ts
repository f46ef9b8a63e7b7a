/**
 * Device presence: connected or not (the broker says) and when last heard from (ingest says).
 * The table of presence is process-local state behind an interface (issue 10, item 7): with
 * several hub processes a device's connection lives in one of them, so a shared implementation
 * partitions it by device (each process writes the devices connected to it) and the others read a
 * local copy; ingest's `seen` stays a synchronous write to memory.
 */
export interface PresenceEntry {
  connected: boolean;
  lastSeen: number | null;
}

export interface PresenceStore {
  get(deviceId: string): PresenceEntry | undefined;
  set(deviceId: string, entry: PresenceEntry): void;
  delete(deviceId: string): void;
}

export function createMemoryPresenceStore(): PresenceStore {
  const entries = new Map<string, PresenceEntry>();
  return {
    get: (id) => entries.get(id),
    set: (id, e) => void entries.set(id, e),
    delete: (id) => void entries.delete(id),
  };
}

export type PresenceListener = (deviceId: string, status: 'online' | 'offline') => void;

export function createPresence(store: PresenceStore = createMemoryPresenceStore()) {
  const listeners = new Set<PresenceListener>();
  const status = (id: string): 'online' | 'offline' => (store.get(id)?.connected ? 'online' : 'offline');
  return {
    connected(id: string, connected: boolean) {
      const p = store.get(id) ?? { connected: false, lastSeen: null };
      const changed = p.connected !== connected;
      store.set(id, { ...p, connected });
      if (changed) for (const l of listeners) l(id, connected ? 'online' : 'offline');
    },
    onChange(listener: PresenceListener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    seen(id: string, at: number) {
      const p = store.get(id);
      store.set(id, { connected: p?.connected ?? false, lastSeen: at });
    },
    status,
    lastSeen: (id: string) => store.get(id)?.lastSeen ?? null,
    /** A deleted device's presence goes with it. */
    forget: (id: string) => store.delete(id),
  };
}
export type Presence = ReturnType<typeof createPresence>;
