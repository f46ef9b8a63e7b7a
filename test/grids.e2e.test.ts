// Grids and device placement through the HTTP API, on the real embedded store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cell } from './support/grids.ts';
import { startTestHub, type TestHub } from './support/hub.ts';

describe('grids and placement', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('imports a FeatureCollection and derives the hierarchy', async () => {
    const r = await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [
        cell('330102001001001', 120.0, 30.0, {
          streetName: '清波街道',
          communityName: '柳翠井巷社区',
          name: 'A',
        }),
        cell('330102001001002', 120.001, 30.0),
        cell('330102002001001', 120.002, 30.0, { streetName: '湖滨街道' }),
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ upserted: 3 });
    const tree = (await t.api('GET', '/api/grids')).body.items;
    expect(tree).toHaveLength(1);
    expect(tree[0]).toMatchObject({ code: '330102', level: 'district' });
    expect(tree[0].children.map((s: { code: string; name: string }) => [s.code, s.name])).toEqual([
      ['330102001', '清波街道'],
      ['330102002', '湖滨街道'],
    ]);
    expect(tree[0].children[0].children[0]).toMatchObject({ code: '330102001001', name: '柳翠井巷社区' });
    expect(tree[0].children[0].children[0].children.map((g: { code: string }) => g.code)).toEqual([
      '330102001001001',
      '330102001001002',
    ]);
    const street = await t.api('GET', '/api/grids/330102001');
    expect(street.body).toMatchObject({
      level: 'street',
      name: '清波街道',
      grids: ['330102001001001', '330102001001002'],
    });
  });

  it('places devices in the containing grid; the lower code wins on a shared border; outside is flagged', async () => {
    await t.device({ id: 'p-in', profile: 'waste-container', location: { lng: 120.0015, lat: 30.0005 } });
    await t.device({ id: 'p-border', profile: 'waste-container', location: { lng: 120.001, lat: 30.0005 } });
    await t.device({ id: 'p-out', profile: 'waste-container', location: { lng: 121, lat: 31 } });
    expect((await t.api('GET', '/api/devices/p-in')).body.gridCode).toBe('330102001001002');
    expect((await t.api('GET', '/api/devices/p-border')).body.gridCode).toBe('330102001001001');
    expect((await t.api('GET', '/api/devices/p-out')).body).toMatchObject({
      gridCode: null,
      outsideGrids: true,
    });
    const inGrid = await t.api('GET', '/api/devices?gridCode=330102001');
    expect(inGrid.body.items.map((d: { id: string }) => d.id)).toEqual(['p-border', 'p-in']);
  });

  it('an override sticks; clearing it goes back to automatic placement; a new grid re-places devices', async () => {
    const o = await t.api('PATCH', '/api/devices/p-in', { gridCode: '330102002001001' });
    expect(o.body).toMatchObject({ gridCode: '330102002001001', gridOverride: true });
    const back = await t.api('PATCH', '/api/devices/p-in', { gridCode: null });
    expect(back.body).toMatchObject({ gridCode: '330102001001002', gridOverride: false });
    await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell('330102003001001', 120.9995, 30.9995)],
    });
    expect((await t.api('GET', '/api/devices/p-out')).body.gridCode).toBe('330102003001001');
  });

  it('a feature without a valid code → 400 naming it; bad geometry → 400', async () => {
    const r = await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell('330102001001003', 120.003, 30), cell('12345', 120.004, 30)],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe(
      'features[1].properties.code: a 15-digit grid code is required, got "12345"',
    );
    const open = cell('330102001001004', 120.005, 30);
    open.geometry.coordinates[0]!.pop();
    const g = await t.api('PUT', '/api/grids', { type: 'FeatureCollection', features: [open] });
    expect(g.status).toBe(400);
    expect(g.body.error.message).toMatch(
      /features\[0\] \(330102001001004\)\.geometry: the ring is not closed/,
    );
    expect((await t.api('GET', '/api/grids/330102001001003')).status).toBe(404);
    expect((await t.api('PUT', '/api/grids', { type: 'Feature' })).status).toBe(400);
  });

  it('paginates device lists with a cursor', async () => {
    for (let i = 0; i < 5; i++) await t.device({ id: `pg-${i}`, profile: 'noise-level' });
    const first = await t.api('GET', '/api/devices?profile=noise-level&limit=3');
    expect(first.body.items.map((d: { id: string }) => d.id)).toEqual(['pg-0', 'pg-1', 'pg-2']);
    const second = await t.api('GET', `/api/devices?profile=noise-level&limit=3&cursor=${first.body.next}`);
    expect(second.body.items.map((d: { id: string }) => d.id)).toEqual(['pg-3', 'pg-4']);
    expect(second.body.next).toBeNull();
  });

  it('deleting a gateway deletes its children', async () => {
    await t.device({ id: 'gw-del', profile: 'generic', gateway: true });
    const child = await t.api('POST', '/api/devices', {
      id: 'gw-del-child',
      profile: 'noise-level',
      parentId: 'gw-del',
    });
    expect(child.status).toBe(201);
    expect(child.body.accessToken).toBeNull();
    const del = await t.api('DELETE', '/api/devices/gw-del');
    expect(del.body.deleted).toEqual(['gw-del', 'gw-del-child']);
    expect((await t.api('GET', '/api/devices/gw-del-child')).status).toBe(404);
  });
});
