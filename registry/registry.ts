import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from '../kernel/index.ts';
import { badRequest, conflict, notFound } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { type AreaGeometry, type BBox, bbox, covers, inBBox, ringProblem } from './geo.ts';
import { ancestorCode, hierarchy, isGridCode, LEVEL_LENGTH } from './grid-code.ts';
import { isProfileName, type ProfileName } from './profiles.ts';

export interface Grid {
  code: string;
  name: string | null;
  geometry: AreaGeometry;
  bbox: BBox;
}

export interface Device {
  id: string;
  name: string;
  profile: ProfileName;
  location: { lng: number; lat: number } | null;
  gridCode: string | null;
  gridOverride: boolean;
  gateway: boolean;
  parentId: string | null;
  hasToken: boolean;
  serverAttributes: Record<string, unknown>;
  sharedAttributes: Record<string, unknown>;
  clientAttributes: Record<string, unknown>;
  createdAt: string;
}

export interface NewDevice {
  id: string;
  name?: string;
  profile: ProfileName;
  location?: { lng: number; lat: number } | null;
  gridCode?: string | null;
  gateway?: boolean;
  parentId?: string | null;
}

interface DeviceRow {
  id: string;
  name: string;
  profile: string;
  lng: number | null;
  lat: number | null;
  grid_code: string | null;
  grid_override: boolean;
  gateway: boolean;
  parent_id: string | null;
  token_hash: string | null;
  server_attributes: Record<string, unknown>;
  shared_attributes: Record<string, unknown>;
  client_attributes: Record<string, unknown>;
  created_at: Date;
}

export interface GeoFeatureInput {
  type?: string;
  properties?: Record<string, unknown> | null;
  geometry?: { type?: string; coordinates?: unknown } | null;
}

/** Access tokens are long random strings, stored as SHA-256 (contract: a fast hash, not a KDF). */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const newToken = () => randomBytes(24).toString('base64url');

export type Registry = Awaited<ReturnType<typeof createRegistry>>;

/** Device ids (also gateway children's names): the rule the API applies to `POST /api/devices`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const isDeviceId = (id: unknown): id is string => typeof id === 'string' && DEVICE_ID_PATTERN.test(id);

/**
 * Grids and devices. The database is the record; everything is also held in memory because the
 * broker authenticates and ingest enriches on every message. Writes go to the database first.
 */
export async function createRegistry(deps: {
  db: Db;
  logger: Logger;
  /** Removes a deleted device's data (issue 8: a re-created id starts empty). */
  removeData?: (deviceIds: string[]) => Promise<void>;
}) {
  const { db, logger } = deps;
  const grids = new Map<string, Grid>();
  const areaNames = new Map<string, string>();
  const devices = new Map<string, Device>();
  const byTokenHash = new Map<string, string>();
  const tokenHashOf = new Map<string, string>();
  const presence = new Map<string, { connected: boolean; lastSeen: number | null }>();
  const presenceListeners = new Set<(deviceId: string, status: 'online' | 'offline') => void>();
  /** Told when a device's credentials change (rotate, revoke, delete): the gateway cuts its connections. */
  const credentialListeners = new Set<
    (deviceId: string, change: 'rotated' | 'revoked' | 'deleted') => void
  >();
  const credentialChanged = (id: string, change: 'rotated' | 'revoked' | 'deleted') => {
    for (const l of credentialListeners) {
      try {
        l(id, change);
      } catch (err) {
        logger.error({ err, deviceId: id }, 'credential listener failed');
      }
    }
  };

  function toDevice(r: DeviceRow): Device {
    return {
      id: r.id,
      name: r.name,
      profile: r.profile as ProfileName,
      location: r.lng === null || r.lat === null ? null : { lng: Number(r.lng), lat: Number(r.lat) },
      gridCode: r.grid_code,
      gridOverride: r.grid_override,
      gateway: r.gateway,
      parentId: r.parent_id,
      hasToken: r.token_hash !== null,
      serverAttributes: r.server_attributes ?? {},
      sharedAttributes: r.shared_attributes ?? {},
      clientAttributes: r.client_attributes ?? {},
      createdAt: new Date(r.created_at).toISOString(),
    };
  }

  function remember(r: DeviceRow): Device {
    const d = toDevice(r);
    const oldHash = tokenHashOf.get(d.id);
    if (oldHash) byTokenHash.delete(oldHash);
    tokenHashOf.delete(d.id);
    if (r.token_hash) {
      byTokenHash.set(r.token_hash, d.id);
      tokenHashOf.set(d.id, r.token_hash);
    }
    devices.set(d.id, d);
    return d;
  }

  function forget(id: string) {
    const h = tokenHashOf.get(id);
    if (h) byTokenHash.delete(h);
    tokenHashOf.delete(id);
    devices.delete(id);
    presence.delete(id);
  }

  /** The unit grid covering a point; on a shared border the lower code wins (contract). */
  function locate(lng: number, lat: number): string | null {
    let best: string | null = null;
    for (const g of grids.values()) {
      if (!inBBox(g.bbox, [lng, lat])) continue;
      if ((best === null || g.code < best) && covers(g.geometry, [lng, lat])) best = g.code;
    }
    return best;
  }

  async function load() {
    grids.clear();
    areaNames.clear();
    devices.clear();
    byTokenHash.clear();
    tokenHashOf.clear();
    for (const r of await db.query<{ code: string; name: string | null; geometry: AreaGeometry }>(
      'SELECT code, name, geometry FROM grids',
    )) {
      grids.set(r.code, { code: r.code, name: r.name, geometry: r.geometry, bbox: bbox(r.geometry) });
    }
    for (const r of await db.query<{ code: string; name: string }>('SELECT code, name FROM grid_areas')) {
      areaNames.set(r.code, r.name);
    }
    for (const r of await db.query<DeviceRow>('SELECT * FROM devices')) remember(r);
    logger.info({ grids: grids.size, devices: devices.size }, 'registry loaded');
  }

  function validateFeatures(features: GeoFeatureInput[]) {
    const out: { code: string; name: string | null; geometry: AreaGeometry; names: [string, string][] }[] =
      [];
    features.forEach((f, i) => {
      const where = `features[${i}]`;
      const p = f?.properties ?? {};
      const code = p.code;
      if (!isGridCode(code)) {
        throw badRequest(
          `${where}.properties.code: a 15-digit grid code is required, got ${JSON.stringify(code ?? null)}`,
        );
      }
      const g = f.geometry;
      if (!g || (g.type !== 'Polygon' && g.type !== 'MultiPolygon') || !Array.isArray(g.coordinates)) {
        throw badRequest(`${where} (${code}).geometry: must be a GeoJSON Polygon or MultiPolygon`);
      }
      const polys = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as unknown[];
      for (const rings of polys) {
        if (!Array.isArray(rings) || rings.length === 0)
          throw badRequest(`${where} (${code}).geometry: a polygon needs an outer ring`);
        for (const ring of rings) {
          const problem = ringProblem(ring);
          if (problem) throw badRequest(`${where} (${code}).geometry: ${problem}`);
        }
      }
      const names: [string, string][] = [];
      const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
      const district = str(p.districtName);
      const street = str(p.streetName);
      const community = str(p.communityName);
      if (district) names.push([ancestorCode(code, 'district'), district]);
      if (street) names.push([ancestorCode(code, 'street'), street]);
      if (community) names.push([ancestorCode(code, 'community'), community]);
      out.push({ code, name: str(p.name) ?? null, geometry: g as AreaGeometry, names });
    });
    return out;
  }

  /** Upserts grids by code, then re-places every device that is not overridden. */
  async function upsertGrids(collection: { type?: string; features?: GeoFeatureInput[] }) {
    if (collection?.type !== 'FeatureCollection' || !Array.isArray(collection.features)) {
      throw badRequest('body: a GeoJSON FeatureCollection with a features array is required');
    }
    const valid = validateFeatures(collection.features);
    await db.transaction(async (tx) => {
      for (const v of valid) {
        await tx.query(
          `INSERT INTO grids (code, name, geometry, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (code) DO UPDATE SET name = excluded.name, geometry = excluded.geometry, updated_at = now()`,
          [v.code, v.name, JSON.stringify(v.geometry)],
        );
        for (const [code, name] of v.names) {
          await tx.query(
            'INSERT INTO grid_areas (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = excluded.name',
            [code, name],
          );
        }
      }
    });
    for (const v of valid) {
      grids.set(v.code, { code: v.code, name: v.name, geometry: v.geometry, bbox: bbox(v.geometry) });
      for (const [code, name] of v.names) areaNames.set(code, name);
    }
    let moved = 0;
    for (const d of devices.values()) {
      if (d.gridOverride || !d.location) continue;
      const code = locate(d.location.lng, d.location.lat);
      if (code !== d.gridCode) {
        const [row] = await db.query<DeviceRow>(
          'UPDATE devices SET grid_code = $2 WHERE id = $1 RETURNING *',
          [d.id, code],
        );
        if (row) remember(row);
        moved++;
      }
    }
    return { upserted: valid.length, devicesMoved: moved };
  }

  function areaName(code: string): string | null {
    return code.length === LEVEL_LENGTH.grid
      ? (grids.get(code)?.name ?? null)
      : (areaNames.get(code) ?? null);
  }

  /** District → street → community → grid, derived from the codes. */
  function gridTree() {
    type Node = { code: string; level: string; name: string | null; children: Node[] };
    const roots = new Map<string, Node>();
    const index = new Map<string, Node>();
    const node = (code: string, level: string) => {
      let n = index.get(code);
      if (!n) {
        n = { code, level, name: areaName(code), children: [] };
        index.set(code, n);
      }
      return n;
    };
    for (const code of [...grids.keys()].sort()) {
      const h = hierarchy(code);
      const d = node(h.district, 'district');
      roots.set(h.district, d);
      const s = node(h.street, 'street');
      if (!d.children.includes(s)) d.children.push(s);
      const c = node(h.community, 'community');
      if (!s.children.includes(c)) s.children.push(c);
      c.children.push(node(code, 'grid'));
    }
    return [...roots.values()];
  }

  async function createDevice(input: NewDevice) {
    if (!isProfileName(input.profile)) throw badRequest(`profile: unknown profile '${input.profile}'`);
    if (devices.has(input.id)) throw conflict(`device '${input.id}' already exists`);
    if (input.parentId) {
      const parent = devices.get(input.parentId);
      if (!parent?.gateway) throw badRequest(`parentId: '${input.parentId}' is not a gateway device`);
    }
    let gridCode: string | null = null;
    let override = false;
    if (input.gridCode) {
      if (!grids.has(input.gridCode)) throw badRequest(`gridCode: no grid '${input.gridCode}'`);
      gridCode = input.gridCode;
      override = true;
    } else if (input.location) gridCode = locate(input.location.lng, input.location.lat);
    // Gateway children authenticate through their gateway and get no token of their own.
    const token = input.parentId ? null : newToken();
    const rows = await db.query<DeviceRow>(
      `INSERT INTO devices (id, name, profile, lng, lat, grid_code, grid_override, gateway, parent_id, token_hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING *`,
      [
        input.id,
        input.name ?? input.id,
        input.profile,
        input.location?.lng ?? null,
        input.location?.lat ?? null,
        gridCode,
        override,
        input.gateway ?? false,
        input.parentId ?? null,
        token ? hashToken(token) : null,
      ],
    );
    if (!rows[0]) throw conflict(`device '${input.id}' already exists`);
    const device = remember(rows[0]);
    // Flagged on the device (`gridCode: null`); not a warning per device, which would flood the log
    // when a fleet is registered before its grids.
    if (!device.gridCode) logger.debug({ deviceId: device.id }, 'device is outside every grid');
    return { device, accessToken: token };
  }

  function getDevice(id: string): Device {
    const d = devices.get(id);
    if (!d) throw notFound('device', id);
    return d;
  }

  async function rotateToken(id: string) {
    const d = getDevice(id);
    if (d.parentId)
      throw badRequest(`device '${id}' reports through gateway '${d.parentId}' and has no token`);
    const token = newToken();
    const [row] = await db.query<DeviceRow>('UPDATE devices SET token_hash = $2 WHERE id = $1 RETURNING *', [
      id,
      hashToken(token),
    ]);
    if (!row) throw notFound('device', id);
    remember(row);
    credentialChanged(id, 'rotated');
    return token;
  }

  async function revokeToken(id: string) {
    getDevice(id);
    const [row] = await db.query<DeviceRow>(
      'UPDATE devices SET token_hash = NULL WHERE id = $1 RETURNING *',
      [id],
    );
    if (row) remember(row);
    credentialChanged(id, 'revoked');
  }

  async function deleteDevice(id: string) {
    getDevice(id);
    const children = [...devices.values()].filter((d) => d.parentId === id).map((d) => d.id);
    await db.query('DELETE FROM devices WHERE id = $1', [id]);
    for (const c of children) forget(c);
    forget(id);
    for (const c of children) credentialChanged(c, 'deleted');
    credentialChanged(id, 'deleted');
    await deps.removeData?.([id, ...children]);
    return { deleted: [id, ...children] };
  }

  async function updateDevice(
    id: string,
    patch: { name?: string; location?: { lng: number; lat: number } | null; gridCode?: string | null },
  ) {
    const d = getDevice(id);
    const location = patch.location === undefined ? d.location : patch.location;
    let gridCode = d.gridCode;
    let override = d.gridOverride;
    if (patch.gridCode !== undefined) {
      if (patch.gridCode !== null && !grids.has(patch.gridCode))
        throw badRequest(`gridCode: no grid '${patch.gridCode}'`);
      // null clears the override: the device goes back to automatic placement.
      override = patch.gridCode !== null;
      gridCode = patch.gridCode;
    }
    if (!override) gridCode = location ? locate(location.lng, location.lat) : null;
    const [row] = await db.query<DeviceRow>(
      `UPDATE devices SET name = $2, lng = $3, lat = $4, grid_code = $5, grid_override = $6 WHERE id = $1 RETURNING *`,
      [id, patch.name ?? d.name, location?.lng ?? null, location?.lat ?? null, gridCode, override],
    );
    return remember(row!);
  }

  /**
   * A gateway's child by name, created on first sight as ThingsBoard does (profile from `type`,
   * else generic; the gateway's location). Returns an error reason when the name belongs to a
   * device the gateway does not own.
   */
  /** Children a gateway may have; the gateway (MQTT edge) installs its per-device limit. */
  let childLimit: (gateway: Device) => number = () => Number.POSITIVE_INFINITY;
  /** Creations under way, so a connect and telemetry for a new child in one read create it once. */
  const creating = new Map<string, Promise<Device | { refused: string }>>();

  /**
   * A gateway's child by name, created on first sight as ThingsBoard does (profile from `type`,
   * else generic; the gateway's location). A child first seen in telemetry (generic) takes the
   * profile a later connect names. Refused when the name belongs to a device the gateway does not own.
   */
  async function ensureChild(
    gateway: Device,
    name: string,
    type?: string,
    maxChildren = childLimit(gateway),
  ): Promise<Device | { refused: string }> {
    if (!isDeviceId(name))
      return {
        refused: `child name ${JSON.stringify(String(name).slice(0, 64))}${String(name).length > 64 ? '…' : ''} is not a valid device id (1-128 of letters, digits and . _ : @ -, starting with a letter or digit)`,
      };
    const pending = creating.get(name);
    if (pending) await pending;
    const existing = devices.get(name);
    if (existing) {
      if (existing.parentId !== gateway.id)
        return { refused: `device '${name}' is not registered under gateway '${gateway.id}'` };
      if (existing.profile === 'generic' && isProfileName(type) && type !== 'generic') {
        const [row] = await db.query<DeviceRow>('UPDATE devices SET profile = $2 WHERE id = $1 RETURNING *', [
          name,
          type,
        ]);
        if (row) return remember(row);
      }
      return existing;
    }
    if (maxChildren !== Number.POSITIVE_INFINITY) {
      let n = 0;
      for (const d of devices.values()) if (d.parentId === gateway.id) n++;
      if (n >= maxChildren)
        return { refused: `gateway '${gateway.id}' already has ${n} children, its limit (${maxChildren})` };
    }
    const profile = isProfileName(type) ? type : 'generic';
    const create = createDevice({
      id: name,
      name,
      profile,
      location: gateway.location,
      parentId: gateway.id,
      gridCode: gateway.gridOverride ? gateway.gridCode : undefined,
    }).then(
      ({ device }) => {
        logger.info({ gatewayId: gateway.id, deviceId: name, profile }, 'gateway child created');
        return device;
      },
      (err: Error) => {
        const again = devices.get(name);
        return again?.parentId === gateway.id ? again : { refused: err.message };
      },
    );
    creating.set(name, create);
    try {
      return await create;
    } finally {
      creating.delete(name);
    }
  }

  /** Server and shared attributes are set through the API; rules read their thresholds here. */
  async function setAttributes(
    id: string,
    attrs: { server?: Record<string, unknown>; shared?: Record<string, unknown> },
  ) {
    getDevice(id);
    const [row] = await db.query<DeviceRow>(
      `UPDATE devices SET server_attributes = server_attributes || $2::jsonb, shared_attributes = shared_attributes || $3::jsonb
       WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(attrs.server ?? {}), JSON.stringify(attrs.shared ?? {})],
    );
    return remember(row!);
  }

  async function setClientAttributes(id: string, attrs: Record<string, unknown>) {
    const [row] = await db.query<DeviceRow>(
      `UPDATE devices SET client_attributes = client_attributes || $2::jsonb WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(attrs)],
    );
    if (row) remember(row);
  }

  function listDevices(
    filter: { gridCode?: string; profile?: string; status?: 'online' | 'offline'; parentId?: string } = {},
  ) {
    return [...devices.values()]
      .filter(
        (d) =>
          (!filter.gridCode || (d.gridCode ?? '').startsWith(filter.gridCode)) &&
          (!filter.profile || d.profile === filter.profile) &&
          (!filter.parentId || d.parentId === filter.parentId) &&
          (!filter.status || statusOf(d.id) === filter.status),
      )
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  function statusOf(id: string): 'online' | 'offline' {
    return presence.get(id)?.connected ? 'online' : 'offline';
  }

  return {
    load,
    grids: {
      upsert: upsertGrids,
      get: (code: string) => grids.get(code),
      list: () => [...grids.values()].sort((a, b) => (a.code < b.code ? -1 : 1)),
      tree: gridTree,
      locate,
      areaName,
      count: () => grids.size,
    },
    devices: {
      create: createDevice,
      get: getDevice,
      find: (id: string) => devices.get(id),
      list: listDevices,
      update: updateDevice,
      delete: deleteDevice,
      rotateToken,
      revokeToken,
      ensureChild,
      setClientAttributes,
      setAttributes,
      setChildLimit(fn: (gateway: Device) => number) {
        childLimit = fn;
      },
      /** The hash of the credential a device authenticates with now (null: none). */
      credentialOf: (id: string) => tokenHashOf.get(id) ?? null,
      onCredentialChange(listener: (deviceId: string, change: 'rotated' | 'revoked' | 'deleted') => void) {
        credentialListeners.add(listener);
        return () => credentialListeners.delete(listener);
      },
      byToken: (token: string) => {
        const id = byTokenHash.get(hashToken(token));
        return id ? devices.get(id) : undefined;
      },
      count: () => devices.size,
    },
    presence: {
      connected(id: string, connected: boolean) {
        const p = presence.get(id) ?? { connected: false, lastSeen: null };
        const changed = p.connected !== connected;
        p.connected = connected;
        presence.set(id, p);
        if (changed) for (const l of presenceListeners) l(id, connected ? 'online' : 'offline');
      },
      onChange(listener: (deviceId: string, status: 'online' | 'offline') => void) {
        presenceListeners.add(listener);
        return () => presenceListeners.delete(listener);
      },
      seen(id: string, at: number) {
        const p = presence.get(id);
        if (p) p.lastSeen = at;
        else presence.set(id, { connected: false, lastSeen: at });
      },
      status: statusOf,
      lastSeen: (id: string) => presence.get(id)?.lastSeen ?? null,
    },
  };
}
