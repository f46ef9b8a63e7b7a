/**
 * The registry: grids (registry/grids.ts), devices (registry/devices.ts) and their presence
 * (registry/presence.ts), composed here; people and sessions (registry/people.ts). The
 * process-local indexes — device tokens, presence, sessions, sign-in throttles — sit behind small
 * interfaces (TokenIndex, PresenceStore, SessionStore, Throttle) so several hub processes can
 * later share or partition them.
 */
import type { Logger } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { createDevices } from './devices.ts';
import { createGrids, type GeoFeatureInput } from './grids.ts';
import { createPresence, type PresenceStore } from './presence.ts';
import { createMemoryTokenIndex, type TokenIndex } from './tokens.ts';

export { DEVICE_ID_PATTERN, type Device, isDeviceId, type NewDevice } from './devices.ts';
export { type AreaGeometry, covers } from './geo.ts';
export type { GeoFeatureInput, Grid } from './grids.ts';
export { createHasher, type Hasher, KDF, passwordProblem } from './passwords.ts';
export {
  createPeople,
  DEFAULT_SESSIONS,
  type People,
  type SessionOptions,
  type Unit,
  type User,
} from './people.ts';
export { createMemoryPresenceStore, type PresenceEntry, type PresenceStore } from './presence.ts';
export { createMemorySessionStore, type Session, type SessionStore } from './sessions.ts';
export { createMemoryThrottle, type Throttle, type ThrottleOptions } from './throttle.ts';
export { createMemoryTokenIndex, hashToken, type TokenIndex } from './tokens.ts';

/**
 * Grids, devices and presence. `start()` loads grids and devices from the store; a grid upsert
 * places the devices again.
 */
export function createRegistry(deps: {
  db: Db;
  logger: Logger;
  /** Removes a deleted device's data (issue 8: a re-created id starts empty). */
  removeData?: (deviceIds: string[]) => Promise<void>;
  /** Device token hashes (default: this process's memory). */
  tokens?: TokenIndex;
  /** Who is connected and when last heard from (default: this process's memory). */
  presence?: PresenceStore;
}) {
  const grids = createGrids(deps);
  const presence = createPresence(deps.presence);
  const {
    load: loadDevices,
    replace,
    ...devices
  } = createDevices({
    ...deps,
    grids,
    presence,
    tokens: deps.tokens ?? createMemoryTokenIndex(),
  });

  async function load() {
    await grids.load();
    await loadDevices();
    deps.logger.info({ grids: grids.count(), devices: devices.count() }, 'registry loaded');
  }

  const { load: _gridsLoad, upsert, ...gridReads } = grids;
  return {
    start: load,
    stop: async () => {},
    load,
    grids: {
      ...gridReads,
      /** Upserts grids by code, then re-places every device that is not overridden. */
      async upsert(collection: { type?: string; features?: GeoFeatureInput[] }) {
        const { upserted } = await upsert(collection);
        return { upserted, devicesMoved: await replace() };
      },
    },
    devices,
    presence,
  };
}
export type Registry = ReturnType<typeof createRegistry>;
