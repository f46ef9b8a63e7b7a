export function durableStartParams(defaults: readonly string[]): string[];
export function enableFsync(pglite: unknown): boolean;
export function syncTree(dir: string): number;
