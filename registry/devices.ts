/**
 * Devices: placement in a grid (by location, or a grid given by hand), tokens, gateway children
 * and attributes. The database is the record; everything is also held in memory because the
 * broker authenticates and ingest enriches on every message. Writes go to the database first.
 */
import { isProfileName, type ProfileName } from '../domain/index.ts';
import type { Logger } from '../kernel/index.ts';
import { badRequest, conflict, notFound } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import type { Grids } from './grids.ts';
import type { Presence } from './presence.ts';
import { hashToken, newToken, type TokenIndex } from './tokens.ts';

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

/** Device ids (also gateway children's names): the rule the API applies to `POST /api/devices`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const isDeviceId = (id: unknown): id is string => typeof id === 'string' && DEVICE_ID_PATTERN.test(id);

type CredentialChange = 'rotated' | 'revoked' | 'deleted';

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

export function createDevices(deps: {
  db: Db;
  logger: Logger;
  grids: Pick<Grids, 'has' | 'locate'>;
  presence: Pick<Presence, 'status' | 'forget'>;
  tokens: TokenIndex;
  /** Removes a deleted device's data (issue 8: a re-created id starts empty). */
  removeData?: (deviceIds: string[]) => Promise<void>;
}) {
  const { db, logger, grids, presence, tokens } = deps;
  const devices = new Map<string, Device>();
  /** Told when a device's credentials change (rotate, revoke, delete): the gateway cuts its connections. */
  const credentialListeners = new Set<(deviceId: string, change: CredentialChange) => void>();
  const credentialChanged = (id: string, change: CredentialChange) => {
    for (const l of credentialListeners) {
      try {
        l(id, change);
      } catch (err) {
        logger.error({ err, deviceId: id }, 'credential listener failed');
      }
    }
  };

  function remember(r: DeviceRow): Device {
    const d = toDevice(r);
    tokens.set(d.id, r.token_hash);
    devices.set(d.id, d);
    return d;
  }

  function forget(id: string) {
    tokens.set(id, null);
    devices.delete(id);
    presence.forget(id);
  }

  async function load() {
    devices.clear();
    tokens.clear();
    for (const r of await db.query<DeviceRow>('SELECT * FROM devices')) remember(r);
  }

  /** After the grids changed: places again every device that is not overridden; how many moved. */
  async function replace(): Promise<number> {
    let moved = 0;
    for (const d of devices.values()) {
      if (d.gridOverride || !d.location) continue;
      const code = grids.locate(d.location.lng, d.location.lat);
      if (code !== d.gridCode) {
        const [row] = await db.query<DeviceRow>(
          'UPDATE devices SET grid_code = $2 WHERE id = $1 RETURNING *',
          [d.id, code],
        );
        if (row) remember(row);
        moved++;
      }
    }
    return moved;
  }

  async function create(input: NewDevice) {
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
    } else if (input.location) gridCode = grids.locate(input.location.lng, input.location.lat);
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

  function get(id: string): Device {
    const d = devices.get(id);
    if (!d) throw notFound('device', id);
    return d;
  }

  async function rotateToken(id: string) {
    const d = get(id);
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
    get(id);
    const [row] = await db.query<DeviceRow>(
      'UPDATE devices SET token_hash = NULL WHERE id = $1 RETURNING *',
      [id],
    );
    if (row) remember(row);
    credentialChanged(id, 'revoked');
  }

  async function remove(id: string) {
    get(id);
    const children = [...devices.values()].filter((d) => d.parentId === id).map((d) => d.id);
    await db.query('DELETE FROM devices WHERE id = $1', [id]);
    for (const c of children) forget(c);
    forget(id);
    for (const c of children) credentialChanged(c, 'deleted');
    credentialChanged(id, 'deleted');
    await deps.removeData?.([id, ...children]);
    return { deleted: [id, ...children] };
  }

  async function update(
    id: string,
    patch: { name?: string; location?: { lng: number; lat: number } | null; gridCode?: string | null },
  ) {
    const d = get(id);
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
    if (!override) gridCode = location ? grids.locate(location.lng, location.lat) : null;
    const [row] = await db.query<DeviceRow>(
      `UPDATE devices SET name = $2, lng = $3, lat = $4, grid_code = $5, grid_override = $6 WHERE id = $1 RETURNING *`,
      [id, patch.name ?? d.name, location?.lng ?? null, location?.lat ?? null, gridCode, override],
    );
    return remember(row!);
  }

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
    const creation = create({
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
    creating.set(name, creation);
    try {
      return await creation;
    } finally {
      creating.delete(name);
    }
  }

  /** Server and shared attributes are set through the API; rules read their thresholds here. */
  async function setAttributes(
    id: string,
    attrs: { server?: Record<string, unknown>; shared?: Record<string, unknown> },
  ) {
    get(id);
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

  function list(
    filter: { gridCode?: string; profile?: string; status?: 'online' | 'offline'; parentId?: string } = {},
  ) {
    return [...devices.values()]
      .filter(
        (d) =>
          (!filter.gridCode || (d.gridCode ?? '').startsWith(filter.gridCode)) &&
          (!filter.profile || d.profile === filter.profile) &&
          (!filter.parentId || d.parentId === filter.parentId) &&
          (!filter.status || presence.status(d.id) === filter.status),
      )
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  return {
    load,
    replace,
    create,
    get,
    find: (id: string) => devices.get(id),
    list,
    update,
    delete: remove,
    rotateToken,
    revokeToken,
    ensureChild,
    setClientAttributes,
    setAttributes,
    setChildLimit(fn: (gateway: Device) => number) {
      childLimit = fn;
    },
    /** The hash of the credential a device authenticates with now (null: none). */
    credentialOf: (id: string) => tokens.hashOf(id) ?? null,
    onCredentialChange(listener: (deviceId: string, change: CredentialChange) => void) {
      credentialListeners.add(listener);
      return () => credentialListeners.delete(listener);
    },
    byToken: (token: string) => {
      const id = tokens.deviceOf(hashToken(token));
      return id ? devices.get(id) : undefined;
    },
    count: () => devices.size,
  };
}
export type Devices = ReturnType<typeof createDevices>;
