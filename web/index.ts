export type { Principal } from './auth.ts';
export { type App, createWeb, type WebDeps } from './server.ts';
export { buildUi, ensureUi, uiBundleState } from './ui-bundle.ts';
