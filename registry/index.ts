export { type AreaGeometry, covers } from './geo.ts';
export { createHasher, type Hasher, KDF, passwordProblem } from './passwords.ts';
export {
  createPeople,
  DEFAULT_SESSIONS,
  type People,
  type SessionOptions,
  type Unit,
  type User,
} from './people.ts';
export {
  createRegistry,
  DEVICE_ID_PATTERN,
  type Device,
  type Grid,
  hashToken,
  isDeviceId,
  type NewDevice,
  type Registry,
} from './registry.ts';
