/** The keys of each device profile, from the hub's own profile table (domain/profiles.ts is browser-safe). */
import { PROFILES } from '../../../domain/index.ts';

export const PROFILES_KEYS: Record<string, string[]> = Object.fromEntries(
  Object.entries(PROFILES).map(([name, spec]) => [name, Object.keys(spec.keys)]),
);
