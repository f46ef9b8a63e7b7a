export type { Principal, Role } from './auth.ts';
export { type DashboardConfig, dashboardConfigSchema } from './config.ts';
export { type App, createWeb, type WebDeps } from './server.ts';
export { buildUi, ensureUi, uiBundleState } from './ui-bundle.ts';
