import type { Hub } from '../hub/index.ts';
import {
  createFleet,
  demoDistrict,
  type Fleet,
  fleetDevices,
  simulateCameraStreams,
} from '../simulators/index.ts';

/**
 * `npm run demo`: the demo district (3 streets, 6 communities, 42 unit grids) and its fleet —
 * bins, site dust and noise monitors, cranes, and a site reporting through a gateway — provisioned
 * through the hub's own HTTP API and publishing over MQTT like real devices.
 */
export async function startDemo(opts: {
  hub: Hub;
  urls: { httpUrl: string; mqttUrl: string };
  intervalMs?: number;
  backfillMs?: number;
  out?: NodeJS.WritableStream;
}): Promise<Fleet> {
  const { hub, urls } = opts;
  const out = opts.out ?? process.stdout;
  const fleet = createFleet({
    mqttUrl: urls.mqttUrl,
    apiUrl: urls.httpUrl,
    adminToken: hub.adminToken,
    intervalMs: opts.intervalMs ?? 5000,
    // Replay the last three hours first (readings with their timestamps), so the charts have
    // history and the rules have had time to open cases; then go on live.
    fastForwardMs: opts.backfillMs ?? 3 * 3_600_000,
    thenLive: true,
    timeZone: hub.config.timezone,
    logger: hub.logger.child({ module: 'simulator' }),
  });
  await fleet.provision();
  await provisionPeople(urls.httpUrl, hub.adminToken);
  // The cameras stream a test pattern when GStreamer's RTSP server is installed (else a line
  // says how to install it); the hub's live view and detection stills use these streams.
  const cameras = await simulateCameraStreams({
    apiUrl: urls.httpUrl,
    adminToken: hub.adminToken,
    cameraIds: fleetDevices(demoDistrict(1))
      .filter((d) => d.profile === 'camera')
      .map((d) => d.id),
    say: (line) => out.write(`gridhub demo: ${line}\n`),
  }).catch(() => undefined);
  const stopFleet = fleet.stop.bind(fleet);
  fleet.stop = async (o) => {
    await stopFleet(o);
    await cameras?.stop();
  };
  await fleet.start();
  const s = fleet.stats();
  const tokenHint = hub.config.adminToken
    ? 'the admin token is GRIDHUB_ADMIN_TOKEN'
    : `the admin token is in ${hub.config.dataDir}/admin-token`;
  out.write(
    [
      '',
      `gridhub demo: ${s.devices} simulated devices in 42 unit grids of district 330102 are publishing every ${(opts.intervalMs ?? 5000) / 1000} s`,
      '  (the last 3 hours are being replayed first, so charts and the case inbox have history)',
      `  dashboard ${urls.httpUrl}/   (sign in as dispatcher, operator, sanitation, inspector … below)`,
      `  API      ${urls.httpUrl}/api   (OpenAPI: ${urls.httpUrl}/docs)`,
      `  health   ${urls.httpUrl}/api/health`,
      `  MQTT     ${urls.mqttUrl}   (WebSocket: ${urls.httpUrl.replace(/^http/, 'ws')}/mqtt)`,
      `  sign in  ${tokenHint}; send it as "Authorization: Bearer <token>"`,
      `  try      curl -H "Authorization: Bearer $(cat ${hub.config.dataDir}/admin-token)" "${urls.httpUrl}/api/devices/bin-01/series?key=fillingLevel"`,
      `  users    admin, operator, dispatcher, sanitation, site-office, inspector, viewer (password ${DEMO_PASSWORD}): POST /api/auth/login`,
      '  stop     Ctrl-C',
      '',
    ].join('\n'),
  );
  return fleet;
}

export const DEMO_PASSWORD = 'gridhub-demo';

/** Responsible units and one user per role, so the case loop can be walked through in the demo. */
async function provisionPeople(apiUrl: string, adminToken: string) {
  const call = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    // 409: already there from an earlier demo run on the same data folder.
    if (!res.ok && res.status !== 409)
      throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  const units = [
    { id: 'sanitation', name: '环卫所 Sanitation', categories: ['0101', '0102', '0103', '0104', '0904'] },
    {
      id: 'site-office',
      name: '建设工地监管办 Construction safety office',
      categories: ['0301', '0302', '0303', '0304', '0305', '0902', '0903'],
    },
    {
      id: 'enforcement',
      name: '城管执法中队 Enforcement squad',
      categories: ['0201', '0401', '0402', '0905'],
    },
    { id: 'fire', name: '消防救援站 Fire station', categories: ['0501'] },
    { id: 'device-ops', name: '设备运维 Device operations', categories: ['0901'] },
  ];
  for (const u of units) await call('PUT', `/api/units/${u.id}`, { name: u.name, categories: u.categories });
  const users = [
    // People are the admins (issue 7): the dashboard's administration pages sign in as this one.
    { id: 'admin', name: '系统管理员', role: 'admin' },
    { id: 'operator', name: '监督中心值班员', role: 'operator' },
    { id: 'dispatcher', name: '指挥中心派遣员', role: 'dispatcher' },
    { id: 'sanitation', name: '环卫所', role: 'unit', unitId: 'sanitation' },
    { id: 'site-office', name: '工地监管办', role: 'unit', unitId: 'site-office' },
    { id: 'inspector', name: '网格员', role: 'inspector', gridCodes: ['330102'] },
    { id: 'viewer', name: '领导驾驶舱', role: 'viewer' },
  ];
  for (const u of users) await call('POST', '/api/users', { ...u, password: DEMO_PASSWORD });
}
