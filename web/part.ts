/**
 * The web part's lifecycle, `createWebServer(deps, listen) → { app, start(), stop() }`: building
 * the app registers every route (and refuses one that does not say who may call it); start()
 * listens, stop() closes (ending the live streams first, web/routes/system.ts).
 */
import type { App, WebDeps } from './context.ts';
import { createWeb } from './server.ts';

export async function createWebServer(deps: WebDeps, listen: { host: string; port: number }) {
  const app: App = await createWeb(deps);
  return {
    app,
    /** Listens; resolves with the HTTP port (the one the system chose for port 0). */
    async start(): Promise<number> {
      await app.listen(listen);
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    stop: () => app.close(),
  };
}
export type WebServer = Awaited<ReturnType<typeof createWebServer>>;
