export type { Principal } from './auth.ts';
export { type DashboardConfig, dashboardConfigSchema } from './config.ts';
export type { App, WebDeps } from './context.ts';
export { createWebServer, type WebServer } from './part.ts';
export { createWeb } from './server.ts';
export { buildUi, ensureUi, uiBundleState } from './ui-bundle.ts';
