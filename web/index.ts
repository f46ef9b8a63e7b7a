export type { Principal, Role } from './auth.ts';
export { createWebServer, type WebServer } from './part.ts';
export { type App, createWeb, type WebDeps } from './server.ts';
export { buildUi, ensureUi, uiBundleState } from './ui-bundle.ts';
