// Evidence photos: POST /api/media (raw image body, type by magic bytes, 5 MiB) and
// GET /api/media/:id (signed-in users who may see the case), and photo ids in reports and actions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_MAX_BYTES_DEFAULT, sniffImageType } from '../domain/index.ts';
import { makePng } from './support/browser.ts';
import { cell } from './support/grids.ts';
import { startTestHub, type TestHub } from './support/hub.ts';

const GRID_A = '330102001001001';
const GRID_B = '330102002001001';
const PASSWORD = 'media-passphrase-8812';
const jpeg = (n: number) => {
  const b = Buffer.alloc(n, 0x11);
  b.set([0xff, 0xd8, 0xff, 0xe0]);
  return b;
};

describe('evidence photos', () => {
  let t: TestHub;
  const tok: Record<string, string> = {};
  const upload = (who: string, body: Buffer, type = 'image/png') =>
    fetch(`${t.httpUrl}/api/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok[who]}`, 'content-type': type },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const get = (who: string | null, id: string) =>
    fetch(`${t.httpUrl}/api/media/${id}`, { headers: who ? { authorization: `Bearer ${tok[who]}` } : {} });

  beforeAll(async () => {
    t = await startTestHub();
    await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell(GRID_A, 120, 30), cell(GRID_B, 120.01, 30)],
    });
    await t.api('PUT', '/api/units/sanitation', { name: '环卫所', categories: ['0101'] });
    await t.api('PUT', '/api/units/parks', { name: '园林所', categories: [] });
    for (const u of [
      { id: 'insp-a', role: 'inspector', gridCodes: ['330102001'] },
      { id: 'insp-b', role: 'inspector', gridCodes: ['330102002'] },
      { id: 'op', role: 'operator' },
      { id: 'disp', role: 'dispatcher' },
      { id: 'san', role: 'unit', unitId: 'sanitation' },
      { id: 'park', role: 'unit', unitId: 'parks' },
      { id: 'view', role: 'viewer' },
    ]) {
      expect((await t.api('POST', '/api/users', { ...u, name: u.id, password: PASSWORD })).status).toBe(201);
      tok[u.id] = (
        await t.api('POST', '/api/auth/login', { username: u.id, password: PASSWORD }, null)
      ).body.token;
    }
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('knows JPEG, PNG and WebP by their first bytes and nothing else', () => {
    expect(sniffImageType(jpeg(10))).toBe('image/jpeg');
    expect(sniffImageType(makePng())).toBe('image/png');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0AVI LIST'))).toBeNull();
    expect(sniffImageType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImageType(Buffer.from([0xff, 0xd8]))).toBeNull();
    expect(sniffImageType(new Uint8Array())).toBeNull();
  });

  it('takes a photo up to exactly the limit and refuses one byte more, an empty body, a non-image, a lying type', async () => {
    const ok = await upload('insp-a', jpeg(MEDIA_MAX_BYTES_DEFAULT), 'image/jpeg');
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ type: 'image/jpeg', bytes: MEDIA_MAX_BYTES_DEFAULT });
    const big = await upload('insp-a', jpeg(MEDIA_MAX_BYTES_DEFAULT + 1), 'image/jpeg');
    expect(big.status).toBe(413);
    expect(big.body.error.message).toMatch(/over the limit of 5242880 bytes/);
    expect((await upload('insp-a', Buffer.alloc(0))).status).toBe(400);
    const text = await upload('insp-a', Buffer.from('just text'), 'image/png');
    expect(text.status).toBe(415);
    expect(text.body.error.message).toMatch(/not a JPEG, PNG or WebP/);
    const lying = await upload('insp-a', jpeg(100), 'image/png');
    expect(lying.status).toBe(415);
    expect(lying.body.error.message).toMatch(/declared image\/png but the content is image\/jpeg/);
    // A camera app that says nothing useful about the type: the content decides.
    const octet = await upload('insp-a', makePng(), 'application/octet-stream');
    expect(octet.status).toBe(201);
    expect(octet.body.type).toBe('image/png');
  });

  it('uploads are for the roles that report; reads need a session', async () => {
    expect((await upload('view', makePng())).status).toBe(403);
    expect((await upload('san', makePng())).status).toBe(403);
    const r = await fetch(`${t.httpUrl}/api/media`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: makePng(),
    });
    expect(r.status).toBe(401);
    const id = (await upload('disp', makePng())).body.id;
    expect((await get(null, id)).status).toBe(401);
    expect((await get('view', 'not-an-id')).status).toBe(404);
  });

  it('a photo is seen by its uploader, then by whoever may see its case; others get 404', async () => {
    const photo = (await upload('insp-a', makePng(20, 10))).body.id as string;
    // Before it belongs to a case: only its uploader (and admins).
    expect((await get('insp-a', photo)).status).toBe(200);
    expect((await get('op', photo)).status).toBe(404);
    expect((await t.api('GET', `/api/media/${photo}`)).status).toBe(200);
    const c = await t.api(
      'POST',
      '/api/cases',
      { category: '0101', description: 'garbage', gridCode: GRID_A, photos: [photo] },
      tok['insp-a'],
    );
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body.photos).toEqual([photo]);
    const res = await get('op', photo);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await res.arrayBuffer()).equals(makePng(20, 10))).toBe(true);
    expect((await get('view', photo)).status).toBe(200);
    // Another street's inspector, and units the case was not dispatched to.
    expect((await get('insp-b', photo)).status).toBe(404);
    expect((await get('san', photo)).status).toBe(404);
    await t.api('POST', `/api/cases/${c.body.id}/actions`, { action: 'register' }, tok.op);
    await t.api(
      'POST',
      `/api/cases/${c.body.id}/actions`,
      { action: 'dispatch', assignee: 'sanitation' },
      tok.disp,
    );
    expect((await get('san', photo)).status).toBe(200);
    expect((await get('park', photo)).status).toBe(404);
    // A photo belongs to one case: reusing it, or naming one that does not exist, is refused.
    const again = await t.api(
      'POST',
      '/api/cases',
      { category: '0101', description: 'again', gridCode: GRID_A, photos: [photo] },
      tok['insp-a'],
    );
    expect(again.status).toBe(400);
    expect(again.body.error.message).toMatch(/body\.photos\.0: no uploaded photo/);
    const none = await t.api(
      'POST',
      '/api/cases',
      { category: '0101', description: 'x', gridCode: GRID_A, photos: ['m000000000000000000000000'] },
      tok['insp-a'],
    );
    expect(none.status).toBe(400);
  });

  it('an on-site verification carries its photo into the timeline; only the uploader may use it', async () => {
    const c = (
      await t.api(
        'POST',
        '/api/cases',
        { category: '0101', description: 'to verify', gridCode: GRID_A },
        tok.op,
      )
    ).body.id;
    for (const [who, action, extra] of [
      ['op', 'register', {}],
      ['disp', 'dispatch', { assignee: 'sanitation' }],
      ['san', 'start', {}],
      ['san', 'handle', {}],
    ] as const)
      expect((await t.api('POST', `/api/cases/${c}/actions`, { action, ...extra }, tok[who])).status).toBe(
        200,
      );
    const others = (await upload('disp', makePng())).body.id;
    const refused = await t.api(
      'POST',
      `/api/cases/${c}/actions`,
      { action: 'verify', photos: [others] },
      tok['insp-a'],
    );
    expect(refused.status).toBe(400);
    const mine = (await upload('insp-a', makePng(8, 8))).body.id;
    const bad = await t.api(
      'POST',
      `/api/cases/${c}/actions`,
      { action: 'verify', photos: ['../../etc/passwd'] },
      tok['insp-a'],
    );
    expect(bad.status).toBe(400);
    const ok = await t.api(
      'POST',
      `/api/cases/${c}/actions`,
      { action: 'verify', note: 'clean now', photos: [mine] },
      tok['insp-a'],
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.status).toBe('verified');
    expect(ok.body.timeline.at(-1).note).toBe(`clean now /api/media/${mine}`);
    expect((await get('op', mine)).status).toBe(200);
    expect((await get('insp-b', mine)).status).toBe(404);
  });
});
