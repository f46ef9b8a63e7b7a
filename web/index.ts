export type { Principal, Role } from './auth.ts';
export { type App, createWeb, type WebDeps } from './server.ts';
