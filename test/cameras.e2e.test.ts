// Cameras end to end: a simulated RTSP camera (GStreamer, loopback) streams through the hub's
// ffmpeg to WebSocket viewers; refusals, the stream limit, a camera restart and the hub's stop.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RtspCamera, startRtspCamera } from '../simulators/index.ts';
import { cell } from './support/grids.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { hasFfmpeg, hasGst, tsProblem, VIDEO_HINT, viewLive } from './support/video.ts';

const GRID = '330102001001001';
const IN = { lng: 120.0005, lat: 30.0005 };

/** Processes whose command line mentions `needle` (a camera port): none may outlive the hub. */
function processesWith(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(needle) && !cmd.includes('rtsp-camera.py')) found.push(`${pid}: ${cmd}`);
    } catch {}
  }
  return found;
}

describe.skipIf(!hasFfmpeg || !hasGst)(`camera live view (${VIDEO_HINT})`, () => {
  let t: TestHub;
  let cam: RtspCamera;
  const tokens: Record<string, string> = {};
  const deviceTokens: Record<string, string> = {};
  const state = async (id: string) => (await t.api('GET', `/api/cameras/${id}`)).body.stream;

  beforeAll(async () => {
    cam = await startRtspCamera({
      mounts: ['a', 'b', 'c'].map((name) => ({ name, width: 320, height: 240, fps: 25 })),
    });
    t = await startTestHub({
      overrides: {
        video: { maxStreams: 2, idleStopMs: 300, backoffBaseMs: 200, backoffMaxMs: 1000, maxRetries: 40 },
      } as never,
    });
    await t.api('PUT', '/api/grids', { type: 'FeatureCollection', features: [cell(GRID, 120, 30)] });
    for (const id of ['a', 'b', 'c']) {
      deviceTokens[id] = await t.device({ id: `cam-${id}`, profile: 'camera', location: IN });
      // The simulated camera asks for no password; the URL carries one to check it never shows.
      const r = await t.api('PUT', `/api/devices/cam-${id}/attributes`, {
        server: { rtspUrl: cam.urls[id]!.replace('rtsp://', 'rtsp://admin:s3cret@') },
      });
      expect(r.status).toBe(200);
    }
    await t.device({ id: 'cam-none', profile: 'camera', location: IN });
    for (const u of [
      { id: 'view1', role: 'viewer' },
      { id: 'insp-here', role: 'inspector', gridCodes: ['330102001'] },
      { id: 'insp-away', role: 'inspector', gridCodes: ['330102002'] },
      { id: 'unit1', role: 'unit', unitId: 'u1' },
    ]) {
      if (u.role === 'unit') await t.api('PUT', '/api/units/u1', { name: 'u1', categories: [] });
      expect(
        (await t.api('POST', '/api/users', { ...u, name: u.id, password: 'correct horse' })).status,
      ).toBe(201);
      tokens[u.id] = (
        await t.api('POST', '/api/auth/login', { username: u.id, password: 'correct horse' }, null)
      ).body.token;
    }
  });
  afterAll(async () => {
    await t?.stop();
    await cam?.stop();
  });

  it('accepts only rtsp(s) stream URLs, set by an admin, and never shows their credentials', async () => {
    for (const bad of ['file:///etc/passwd', 'http://169.254.169.254/', 'rtsp://x y/z', 'concat:a|b', 42]) {
      const r = await t.api('PUT', '/api/devices/cam-none/attributes', { server: { rtspUrl: bad } });
      expect(r.status, String(bad)).toBe(400);
      expect(r.body.error.message).toMatch(/^body\.server\.rtspUrl: /);
    }
    const shared = await t.api('PUT', '/api/devices/cam-none/attributes', {
      shared: { rtspUrl: cam.urls.a },
    });
    expect(shared.status).toBe(400);
    const notAdmin = await t.api(
      'PUT',
      '/api/devices/cam-none/attributes',
      { server: { rtspUrl: cam.urls.a } },
      tokens.view1,
    );
    expect(notAdmin.status).toBe(403);
    const device = await t.api('GET', '/api/devices/cam-a');
    expect(device.body.serverAttributes.rtspUrl).toBe(cam.urls.a!.replace('rtsp://', 'rtsp://***@'));
    const list = await t.api('GET', '/api/cameras');
    expect(JSON.stringify(list.body)).not.toContain('s3cret');
    expect(list.body.items.map((c: any) => c.id)).toEqual(['cam-a', 'cam-b', 'cam-c', 'cam-none']);
    expect(list.body.items[0]).toMatchObject({
      streamUrl: expect.stringContaining('***@'),
      stream: { state: 'idle' },
    });
  });

  it('streams a camera through the hub: jsmpeg header, then whole MPEG-TS packets', async () => {
    const v = viewLive(t.httpUrl, 'cam-a', tokens.view1);
    const header = await v.header;
    expect(header.length).toBe(8);
    expect(header.subarray(0, 4).toString('ascii')).toBe('jsmp');
    expect([header.readUInt16BE(4), header.readUInt16BE(6)]).toEqual([320, 240]);
    await eventually(() => v.bytes() >= 188 * 200, 30_000);
    expect(tsProblem(v.data())).toBeUndefined();
    console.log(`[cameras] time to first frame data: ${v.firstDataAt()! - v.openedAt} ms`);
    expect(await state('cam-a')).toMatchObject({
      state: 'live',
      viewers: 1,
      size: { width: 320, height: 240 },
    });
    const health = await t.api('GET', '/api/health');
    expect(health.body.video).toMatchObject({
      status: 'on',
      streams: { live: 1, viewers: 1 },
      maxStreams: 2,
    });
    const anon = await t.api('GET', '/api/health', undefined, null);
    expect(anon.body.video).toEqual({ status: 'on' });
    v.ws.close();
    await eventually(async () => (await state('cam-a')).state === 'idle', 10_000);
  });

  it('refuses a viewer without a token (401), with a bad one (401), or outside their scope (404)', async () => {
    expect(await viewLive(t.httpUrl, 'cam-a').refused).toBe(401);
    expect(await viewLive(t.httpUrl, 'cam-a', 'not-a-token').refused).toBe(401);
    expect(await viewLive(t.httpUrl, 'cam-a', tokens['insp-away']).refused).toBe(404);
    expect(await viewLive(t.httpUrl, 'cam-a', tokens.unit1).refused).toBe(404);
    expect(await viewLive(t.httpUrl, 'no-such-cam', tokens.view1).refused).toBe(404);
    expect((await t.api('GET', '/api/cameras', undefined, tokens['insp-away'])).body.items).toEqual([]);
    expect((await t.api('GET', '/api/cameras/cam-a', undefined, tokens.unit1)).status).toBe(404);
    // The dashboard's session cookie works too, from this host's pages only.
    const login = await fetch(`${t.httpUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'view1', password: 'correct horse' }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toMatch(/^gridhub_session=/);
    const host = new URL(t.httpUrl).host;
    const byCookie = viewLive(t.httpUrl, 'cam-a', undefined, { cookie, origin: `http://${host}` });
    expect((await byCookie.header).subarray(0, 4).toString()).toBe('jsmp');
    byCookie.ws.close();
    expect(
      await viewLive(t.httpUrl, 'cam-a', undefined, { cookie, origin: 'http://evil.example' }).refused,
    ).toBe(403);
    // An inspector sees the cameras of their grids.
    const here = viewLive(t.httpUrl, 'cam-a', tokens['insp-here']);
    expect((await here.header).subarray(0, 4).toString()).toBe('jsmp');
    here.ws.close();
    // A camera without a stream URL: opened, then closed with the reason.
    const none = viewLive(t.httpUrl, 'cam-none', tokens.view1);
    expect(await none.closed).toEqual({
      code: 4409,
      reason: 'camera cam-none has no rtspUrl server attribute',
    });
  });

  it('the stream beyond the limit is refused with a reason; more viewers of a running camera are not', async () => {
    const a1 = viewLive(t.httpUrl, 'cam-a', tokens.view1);
    const b1 = viewLive(t.httpUrl, 'cam-b', tokens.view1);
    await Promise.all([a1.header, b1.header]);
    const a2 = viewLive(t.httpUrl, 'cam-a', tokens.view1);
    await a2.header;
    const c1 = viewLive(t.httpUrl, 'cam-c', tokens.view1);
    const closed = await c1.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toBe(
      'too many live streams: 2 of 2 running (GRIDHUB_VIDEO_MAX_STREAMS); try again later',
    );
    for (const v of [a1, a2, b1]) v.ws.close();
    await eventually(
      async () => (await state('cam-a')).state === 'idle' && (await state('cam-b')).state === 'idle',
    );
    // Room again.
    const c2 = viewLive(t.httpUrl, 'cam-c', tokens.view1);
    await c2.header;
    c2.ws.close();
  });

  it('the stream survives the camera restarting', async () => {
    const v = viewLive(t.httpUrl, 'cam-a', tokens.view1);
    await eventually(() => v.bytes() >= 188 * 50, 30_000);
    const port = cam.port;
    await cam.stop();
    await eventually(async () => (await state('cam-a')).state === 'retrying', 30_000);
    const s = await state('cam-a');
    expect(s.lastError).toMatch(/stream ended|exited|no video/);
    expect(s.lastError).not.toContain('s3cret');
    const before = v.bytes();
    cam = await startRtspCamera({
      port,
      mounts: ['a', 'b', 'c'].map((name) => ({ name, width: 320, height: 240, fps: 25 })),
    });
    await eventually(
      async () => (await state('cam-a')).state === 'live' && v.bytes() > before + 188 * 50,
      60_000,
    );
    expect(tsProblem(v.data())).toBeUndefined();
    expect(v.ws.readyState).toBe(v.ws.OPEN);
    v.ws.close();
  });

  it('a detection opens a case whose evidence holds a still from the stream, or the allowed snapshot', async () => {
    // A snapshot server on loopback: the hub may fetch from the camera's own host (127.0.0.1), not
    // from any other name, even one that resolves to the same address (localhost).
    const png = execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'color=red:size=64x48',
      '-frames:v',
      '1',
      '-f',
      'image2',
      '-c:v',
      'png',
      'pipe:1',
    ]);
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const detect = async (cam: string, snapshot: string) => {
        const c = await t.connect(deviceTokens[cam]!);
        await c.publishAsync(
          'v1/devices/me/telemetry',
          JSON.stringify({ event: { type: 'street_vending', confidence: 0.95, snapshot } }),
          { qos: 1 },
        );
        const found = await eventually(async () => {
          const list = (await t.api('GET', `/api/cases?deviceId=cam-${cam}`)).body.items;
          if (!list?.length) return undefined;
          const full = (await t.api('GET', `/api/cases/${list[0].id}`)).body;
          return full.evidence?.stills?.length ? full : undefined;
        }, 40_000);
        return found;
      };
      const fromStream = await detect('b', `http://localhost:${port}/snap.png`);
      expect(requests).toEqual([]);
      const still = fromStream.evidence.stills[0];
      expect(still).toMatchObject({
        source: 'stream',
        contentType: 'image/jpeg',
        url: `/api/media/${still.mediaId}`,
      });
      const res = await fetch(`${t.httpUrl}${still.url}`, {
        headers: { authorization: `Bearer ${tokens.view1}` },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      const jpeg = Buffer.from(await res.arrayBuffer());
      expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      const file = join(t.dataDir, 'check.jpg');
      writeFileSync(file, jpeg);
      const probe = execFileSync(
        'ffprobe',
        ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', file],
        { encoding: 'utf8' },
      );
      expect(probe.trim()).toBe('mjpeg,320,240');
      // Who may see the case may see the picture; nobody else.
      expect((await fetch(`${t.httpUrl}${still.url}`)).status).toBe(401);
      const away = await fetch(`${t.httpUrl}${still.url}`, {
        headers: { authorization: `Bearer ${tokens['insp-away']}` },
      });
      expect(away.status).toBe(404);
      expect((await t.api('GET', '/api/media/m0123456789abcdef01234567')).status).toBe(404);
      expect((await t.api('GET', '/api/media/..%2F..%2Fetc%2Fpasswd')).status).toBe(404);

      const fromSnapshot = await detect('c', `http://127.0.0.1:${port}/snap.png`);
      expect(requests).toEqual(['/snap.png']);
      const s2 = fromSnapshot.evidence.stills[0];
      expect(s2).toMatchObject({ source: 'snapshot', contentType: 'image/png' });
      const got = await t.api('GET', s2.url);
      expect(got.status).toBe(200);
      const raw = await fetch(`${t.httpUrl}${s2.url}`, {
        headers: { authorization: `Bearer ${tokens.view1}` },
      });
      expect(Buffer.from(await raw.arrayBuffer()).equals(png)).toBe(true);
    } finally {
      server.close();
    }
  });

  it('stopping the hub closes the viewers and leaves no ffmpeg behind', async () => {
    const a = viewLive(t.httpUrl, 'cam-a', tokens.view1);
    const b = viewLive(t.httpUrl, 'cam-b', tokens.view1);
    await Promise.all([a.header, b.header]);
    const groups = t.hub.parts.video.live.pids();
    expect(groups.length).toBe(2);
    expect(processesWith(`:${cam.port}/`).length).toBeGreaterThan(0);
    await t.hub.stop();
    expect((await a.closed).code).toBe(1001);
    for (const g of groups) expect(() => process.kill(-g, 0)).toThrow(/ESRCH/);
    expect(processesWith(`:${cam.port}/`)).toEqual([]);
  });
});

describe('without ffmpeg', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ overrides: { video: { ffmpegPath: '/nonexistent/ffmpeg' } } as never });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('live view is off with the reason; the rest of the hub works', async () => {
    const h = await t.api('GET', '/api/health', undefined, null);
    expect(h.body.video).toMatchObject({
      status: 'off',
      reason: expect.stringMatching(/ffmpeg not found.*apt-get install/),
    });
    expect(h.body.status).toBe('ok');
    await t.device({ id: 'cam-x', profile: 'camera' });
    await t.api('PUT', '/api/devices/cam-x/attributes', { server: { rtspUrl: 'rtsp://127.0.0.1:9/x' } });
    const v = viewLive(t.httpUrl, 'cam-x', undefined);
    expect(await v.refused).toBe(401);
    const { ADMIN_TOKEN } = await import('./support/hub.ts');
    const closed = await viewLive(t.httpUrl, 'cam-x', ADMIN_TOKEN).closed;
    expect(closed.code).toBe(4503);
    expect(closed.reason).toMatch(/^live view is off: ffmpeg not found/);
    expect((await t.api('GET', '/api/cameras')).body.items[0].stream.state).toBe('idle');
  });
});
