export { type AreaGeometry, covers } from './geo.ts';
export { ancestorCode, type GridLevel, hierarchy, isGridCode, levelOf } from './grid-code.ts';
export { createHasher, type Hasher, KDF, passwordProblem } from './passwords.ts';
export {
  createPeople,
  DEFAULT_SESSIONS,
  type People,
  type SessionOptions,
  type Unit,
  USER_ROLES,
  type User,
  type UserRole,
} from './people.ts';
export {
  CAMERA_EVENT_TYPES,
  isProfileName,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  type ProfileSpec,
} from './profiles.ts';
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
export { memorySessions, type Session, type SessionStore } from './sessions.ts';
