import type { Hub } from '../hub/index.ts';
import { createFleet, type Fleet } from './fleet.ts';

/**
 * `npm run demo`: the demo district (3 streets, 6 communities, 42 unit grids) and its fleet —
 * bins, site dust and noise monitors, cranes, and a site reporting through a gateway — provisioned
 * through the hub's own HTTP API and publishing over MQTT like real devices.
 */
export async function startDemo(opts: {
  hub: Hub;
  urls: { httpUrl: string; mqttUrl: string };
  intervalMs?: number;
  out?: NodeJS.WritableStream;
}): Promise<Fleet> {
  const { hub, urls } = opts;
  const out = opts.out ?? process.stdout;
  const fleet = createFleet({
    mqttUrl: urls.mqttUrl,
    apiUrl: urls.httpUrl,
    adminToken: hub.adminToken,
    intervalMs: opts.intervalMs ?? 5000,
    timeZone: hub.config.timezone,
    logger: hub.logger.child({ module: 'simulator' }),
  });
  await fleet.provision();
  await fleet.start();
  const s = fleet.stats();
  const tokenHint = hub.config.adminToken
    ? 'the admin token is GRIDHUB_ADMIN_TOKEN'
    : `the admin token is in ${hub.config.dataDir}/admin-token`;
  out.write(
    [
      '',
      `gridhub demo: ${s.devices} simulated devices in 42 unit grids of district 330102 are publishing every ${(opts.intervalMs ?? 5000) / 1000} s`,
      `  API      ${urls.httpUrl}/api   (OpenAPI: ${urls.httpUrl}/docs)`,
      `  health   ${urls.httpUrl}/api/health`,
      `  MQTT     ${urls.mqttUrl}   (WebSocket: ${urls.httpUrl.replace(/^http/, 'ws')}/mqtt)`,
      `  sign in  ${tokenHint}; send it as "Authorization: Bearer <token>"`,
      `  try      curl -H "Authorization: Bearer $(cat ${hub.config.dataDir}/admin-token)" "${urls.httpUrl}/api/devices/bin-01/series?key=fillingLevel"`,
      '  stop     Ctrl-C',
      '',
    ].join('\n'),
  );
  return fleet;
}
