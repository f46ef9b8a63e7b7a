/** The composition root: configuration, and `createHub`, which builds and starts the parts in flow order. */
export { ensureDataDir } from './admin-token.ts';
export { type Config, type ConfigInput, configSchema, ENV_KEYS, loadConfig } from './config.ts';
export { createHub, type Hub, type HubDeps, VERSION } from './hub.ts';
