/**
 * Device access tokens: long random strings, stored as SHA-256 (contract: a fast hash, not a KDF,
 * since the broker checks one on every connect). The index from a token's hash to its device is
 * process-local state behind an interface (issue 10, item 7): a multi-process hub keeps a
 * synchronous local copy in each process, filled from the store and invalidated over the bus when
 * a token is rotated or revoked, so a connect never waits on the network.
 */
import { createHash, randomBytes } from 'node:crypto';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
export const newToken = () => randomBytes(24).toString('base64url');

export interface TokenIndex {
  /** The device a token hash belongs to. */
  deviceOf(hash: string): string | undefined;
  /** The hash of the token a device authenticates with now. */
  hashOf(deviceId: string): string | undefined;
  /** Sets (or with null clears) a device's token hash, dropping its previous one. */
  set(deviceId: string, hash: string | null): void;
  clear(): void;
}

export function createMemoryTokenIndex(): TokenIndex {
  const byHash = new Map<string, string>();
  const hashOf = new Map<string, string>();
  return {
    deviceOf: (hash) => byHash.get(hash),
    hashOf: (deviceId) => hashOf.get(deviceId),
    set(deviceId, hash) {
      const old = hashOf.get(deviceId);
      if (old) byHash.delete(old);
      hashOf.delete(deviceId);
      if (hash) {
        byHash.set(hash, deviceId);
        hashOf.set(deviceId, hash);
      }
    },
    clear() {
      byHash.clear();
      hashOf.clear();
    },
  };
}
