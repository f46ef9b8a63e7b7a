export { type Clock, type ManualClock, manualClock, parseDuration, systemClock } from './clock.ts';
export { type Config, type ConfigInput, configSchema, ENV_KEYS, loadConfig } from './config.ts';
export { ConfigError, GridhubError } from './errors.ts';
export { createHub, type Hub, type HubDeps, VERSION } from './hub.ts';
export { createLogger, type Logger, silentLogger } from './logger.ts';
export { Metrics } from './metrics.ts';
