/**
 * The demo fleet's roster: which device of which profile stands where in a district (pure), and the shape
 * of a fleet's device list (fleet files produce the same).
 */
import type { DemoDistrict, LngLat } from './district.ts';
import type { CameraScene, SimProfile } from './models/index.ts';

export interface FleetChildSpec {
  id: string;
  profile: SimProfile;
  name?: string;
  /** Where the child really is (the hub first places it at its gateway). */
  location?: LngLat;
  everyMs?: number;
  scene?: CameraScene;
}

export interface FleetDeviceSpec {
  id: string;
  name: string;
  /** `generic` for a gateway. */
  profile: SimProfile | 'generic';
  location: LngLat;
  gateway?: true;
  /** A gateway's children (they publish through it). */
  children?: FleetChildSpec[];
  everyMs?: number;
  scene?: CameraScene;
}

/** The sites whose monitors go through a gateway, and those with a tower crane. */
const GATEWAY_SITES = new Set(['site-3']);
const CRANE_SITES = new Set(['site-1', 'site-2']);
/** Bins (1-based) with a street camera next to them. */
const STREET_CAMERA_BINS = [3, 10, 17, 24];

/** The devices of the fleet for a district (pure). */
export function fleetDevices(district: DemoDistrict): FleetDeviceSpec[] {
  const out: FleetDeviceSpec[] = district.bins.map((location, i) => {
    const n = String(i + 1).padStart(2, '0');
    return { id: `bin-${n}`, name: `智能垃圾桶 ${n}`, profile: 'waste-container', location };
  });
  for (const site of district.sites) {
    const monitors: { id: string; name: string; profile: SimProfile }[] = [
      { id: `${site.id}-dust`, name: `${site.name} 扬尘监测`, profile: 'air-quality' },
      { id: `${site.id}-noise`, name: `${site.name} 噪声监测`, profile: 'noise-level' },
    ];
    if (GATEWAY_SITES.has(site.id)) {
      out.push({
        id: `${site.id}-gateway`,
        name: `${site.name} 数据采集网关`,
        profile: 'generic',
        location: site.location,
        gateway: true,
        children: monitors.map(({ id, profile }) => ({ id, profile })),
      });
      monitors.length = 0;
    }
    if (CRANE_SITES.has(site.id)) {
      monitors.push({ id: `${site.id}-crane`, name: `${site.name} 塔吊安全监测`, profile: 'tower-crane' });
    }
    for (const m of monitors) out.push({ ...m, location: site.location });
    out.push({
      id: `${site.id}-camera`,
      name: `${site.name} 视频监控`,
      profile: 'camera',
      location: site.location,
      scene: 'site',
    });
  }
  STREET_CAMERA_BINS.forEach((b, k) => {
    const location = district.bins[b - 1];
    if (!location) return;
    const n = String(k + 1).padStart(2, '0');
    out.push({ id: `cam-${n}`, name: `街面视频监控 ${n}`, profile: 'camera', location, scene: 'street' });
  });
  return out;
}
