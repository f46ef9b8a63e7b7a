// The dashboard end to end: the real hub (PostgreSQL 15 where installed, a device over MQTT) and the
// real bundle in headless Debian Chromium. Every page visited is checked with axe-core (no serious
// or critical violation), for console errors and for requests to other origins, and screenshotted
// into test-artifacts/dashboard/.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoDistrict } from '../simulators/index.ts';
import { ensureUi } from '../web/index.ts';
import { CHROMIUM_HINT, dashboardDriver, hasChromium, launchChromium, makePng } from './support/browser.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

if (!hasChromium && process.env.CI === 'true') throw new Error(`CI requires chromium (${CHROMIUM_HINT})`);

const PASSWORD = 'e2e-passphrase-7261';
const district = demoDistrict();
const centre = (code: string) => {
  const f = district.grids.features.find((g) => g.properties.code === code)!;
  const ring = f.geometry.coordinates[0]!.slice(0, -1);
  return {
    lng: ring.reduce((s, p) => s + p[0], 0) / ring.length,
    lat: ring.reduce((s, p) => s + p[1], 0) / ring.length,
  };
};
const gridsOf = (street: string) =>
  district.grids.features.map((f) => f.properties.code).filter((c) => c.startsWith(street));
const STREET_1 = gridsOf('330102001');
const STREET_2 = gridsOf('330102002');
const BIN_GRID = STREET_1[0]!;
const OTHER_GRID = STREET_2[0]!;
const VERIFY_GRID = STREET_1[1]!;

describe.skipIf(!hasChromium)(`dashboard in Chromium (needs ${CHROMIUM_HINT})`, () => {
  let t: TestHub;
  let browser: Browser;
  let origin: string;
  let sensorCase: string;
  let otherCase: string;
  let handledCase: string;
  const tokens: Record<string, string> = {};
  const { open, signIn, check, watched, axeFindings } = dashboardDriver({
    browser: () => browser,
    origin: () => origin,
    password: PASSWORD,
  });
  const api = (method: string, path: string, body?: unknown, who?: string) =>
    t.api(method, path, body, who ? tokens[who] : undefined);

  beforeAll(async () => {
    await ensureUi();
    t = await startTestHub({ store: 'pg' });
    origin = t.httpUrl;
    expect((await api('PUT', '/api/grids', district.grids)).status).toBe(200);
    await api('PUT', '/api/units/sanitation', {
      name: '环卫所 Sanitation',
      categories: ['0101', '0102', '0104'],
    });
    await api('PUT', '/api/units/enforcement', { name: '城管执法中队 Enforcement', categories: ['0401'] });
    const users = [
      { id: 'dispatcher', name: '指挥中心派遣员', role: 'dispatcher' },
      { id: 'operator', name: '监督中心值班员', role: 'operator' },
      { id: 'sanitation', name: '环卫所', role: 'unit', unitId: 'sanitation' },
      { id: 'inspector', name: '网格员小王', role: 'inspector', gridCodes: ['330102001'] },
      { id: 'viewer', name: 'Leader', role: 'viewer' },
    ];
    for (const u of users) {
      const r = await api('POST', '/api/users', { ...u, password: PASSWORD });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      tokens[u.id] = (
        await t.api('POST', '/api/auth/login', { username: u.id, password: PASSWORD }, null)
      ).body.token;
    }
    // A simulated bin over MQTT fills up: the built-in bin-full rule opens a case in its grid.
    const bin = await t.connect(
      await t.device({ id: 'bin-e2e', profile: 'waste-container', location: centre(BIN_GRID) }),
    );
    await bin.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.5 }), { qos: 1 });
    await bin.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.93 }), { qos: 1 });
    sensorCase = await eventually(
      async () => (await api('GET', '/api/cases?deviceId=bin-e2e')).body.items?.[0]?.id,
    );
    // A case in another street (not the inspector's), and one handled case to verify on site.
    otherCase = (
      await api(
        'POST',
        '/api/cases',
        { category: '0401', description: '占道经营 (另一街道)', gridCode: OTHER_GRID },
        'operator',
      )
    ).body.id;
    handledCase = (
      await api(
        'POST',
        '/api/cases',
        { category: '0101', description: '暴露垃圾，待核查', gridCode: VERIFY_GRID },
        'operator',
      )
    ).body.id;
    for (const [who, action, extra] of [
      ['operator', 'register', {}],
      ['dispatcher', 'dispatch', { assignee: 'sanitation' }],
      ['sanitation', 'start', {}],
      ['sanitation', 'handle', { note: '已清运' }],
    ] as const) {
      const r = await api('POST', `/api/cases/${handledCase}/actions`, { action, ...extra }, who);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('keyboard only: signs in and opens a case from the inbox', async () => {
    const { page } = await open();
    await page.goto(`${origin}/`);
    await page.locator('#username').waitFor();
    await check(page, 'sign-in');
    await page.keyboard.press('Tab'); // skip nothing on sign-in: the first field
    const focused = async () => page.evaluate(() => (globalThis as any).document.activeElement?.id);
    for (let i = 0; i < 5 && (await focused()) !== 'username'; i++) await page.keyboard.press('Tab');
    expect(await focused()).toBe('username');
    await page.keyboard.type('dispatcher');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=who]').waitFor({ state: 'attached' });
    await page.goto(`${origin}/cases`);
    const link = page.locator(`a[href="/cases/${sensorCase}"]`);
    await link.waitFor();
    await link.focus();
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=timeline]').waitFor();
    expect(page.url()).toBe(`${origin}/cases/${sensorCase}`);
  }, 120_000);

  it('a dispatcher sees the district map and dispatches a case raised by the device; unit and operator close it; the overview counts follow live', async () => {
    const d = await open();
    await signIn(d.page, 'dispatcher');
    await d.page.goto(`${origin}/overview`);
    await d.page.locator('[data-testid=overview-map] canvas').waitFor();
    await expect.poll(() => d.page.locator('[data-testid=kpi-open] .tile-value').textContent()).toBe('3');
    expect(await d.page.locator('[data-testid=kpi-closed] .tile-value').textContent()).toBe('0');
    // The demo district's three streets, to drill into, and the case in the live feed.
    for (const s of district.streets)
      await d.page.getByRole('button', { name: new RegExp(s.name) }).waitFor();
    await d.page.locator(`[data-testid=case-feed] a[href="/cases/${sensorCase}"]`).waitFor();
    await d.page.waitForTimeout(500);
    await check(d.page, 'overview-zh');
    await d.page.getByRole('button', { name: new RegExp(district.streets[0]!.name) }).click();
    await d.page.getByRole('button', { name: new RegExp(district.streets[0]!.communities[0]!.name) }).click();
    await d.page.locator(`a[href="/grids/${BIN_GRID}"]`).waitFor();

    // The case page, dispatched to the suggested unit.
    const c = await open();
    await signIn(c.page, 'dispatcher');
    await c.page.goto(`${origin}/cases/${sensorCase}`);
    await c.page.locator('[data-testid=case-trend] canvas').waitFor();
    await expect.poll(() => c.page.locator('#unit option').first().textContent()).toContain('环卫所');
    expect(await c.page.locator('#evidence').textContent()).toContain('fillingLevel');
    expect(await c.page.locator('#evidence').textContent()).toContain('0.8');
    await c.page.waitForTimeout(500);
    await check(c.page, 'case-zh');
    await c.page.locator('#note').fill('请尽快清运');
    await c.page.locator('[data-action=dispatch]').click();
    await expect.poll(() => c.page.locator('[data-testid=timeline]').textContent()).toContain('派遣');
    expect((await api('GET', `/api/cases/${sensorCase}`)).body).toMatchObject({
      status: 'dispatched',
      assignee: 'sanitation',
    });

    // The unit starts and handles it.
    const u = await open();
    await signIn(u.page, 'sanitation');
    await u.page.goto(`${origin}/cases/${sensorCase}`);
    await u.page.locator('[data-action=start]').click();
    await u.page.locator('[data-action=handle]').waitFor();
    await u.page.locator('#note').fill('已清运完毕');
    await u.page.locator('[data-action=handle]').click();
    await expect.poll(() => u.page.locator('[data-testid=timeline]').textContent()).toContain('处置完毕');
    await check(u.page, 'case-unit');

    // The operator verifies and closes it.
    const o = await open();
    await signIn(o.page, 'operator');
    await o.page.goto(`${origin}/cases/${sensorCase}`);
    await o.page.locator('[data-action=verify]').click();
    await o.page.locator('[data-action=close]').click();
    await expect.poll(() => o.page.locator('.case-badges').textContent()).toContain('已结案');

    // The dispatcher's overview, untouched, follows over the live stream.
    await expect
      .poll(() => d.page.locator('[data-testid=kpi-closed] .tile-value').textContent(), { timeout: 15_000 })
      .toBe('1');
    expect(await d.page.locator('[data-testid=kpi-open] .tile-value').textContent()).toBe('2');
  }, 180_000);

  it('an inspector on a phone reports a problem with a photo and location, verifies a case on site, and sees only its grids', async () => {
    const here = centre(STREET_1[2]!);
    const i = await open({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      geolocation: { longitude: here.lng, latitude: here.lat },
      permissions: ['geolocation'],
    });
    await signIn(i.page, 'inspector');
    expect(new URL(i.page.url()).pathname).toBe('/field');
    await i.page.locator(`[data-testid=field-cases] a[href="/cases/${handledCase}"]`).waitFor();
    // Another street's case is not listed...
    expect(await i.page.locator(`a[href="/cases/${otherCase}"]`).count()).toBe(0);
    await check(i.page, 'field-phone');

    // Report: the form refuses a non-image before anything is sent, then takes a real photo.
    await i.page.goto(`${origin}/field/report`);
    await i.page.locator('#r-desc').waitFor();
    await i.page.locator('button[type=submit]').click();
    await i.page.locator('#r-desc-err').waitFor();
    await i.page
      .locator('#r-photo')
      .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
    await i.page.locator('#r-photo-err').waitFor();
    await i.page
      .locator('#r-photo')
      .setInputFiles({ name: 'garbage.png', mimeType: 'image/png', buffer: makePng() });
    expect(await i.page.locator('#r-photo-err').count()).toBe(0);
    await i.page.locator('#r-desc').fill('路口有暴露垃圾');
    await i.page.getByRole('button', { name: /使用当前位置/ }).click();
    await expect
      .poll(() => i.page.locator('[data-testid=location]').textContent())
      .toContain(here.lng.toFixed(5));
    await check(i.page, 'field-report-phone');
    await i.page.locator('button[type=submit]').click();
    await i.page.locator('[data-testid=timeline]').waitFor();
    const reported = decodeURIComponent(new URL(i.page.url()).pathname.split('/').pop()!);
    const body = (await api('GET', `/api/cases/${reported}`)).body;
    expect(body).toMatchObject({ status: 'reported', gridCode: STREET_1[2], source: 'report' });
    expect(body.photos).toHaveLength(1);
    const img = i.page.locator('#evidence img.thumb');
    await expect.poll(() => img.evaluate((el: any) => el.complete && el.naturalWidth)).toBe(64);

    // Verify on site with a photo.
    await i.page.goto(`${origin}/cases/${handledCase}`);
    await i.page
      .locator('#verify-photo')
      .setInputFiles({ name: 'site.png', mimeType: 'image/png', buffer: makePng(32, 32, [20, 160, 60]) });
    await i.page.locator('[data-action=verify]').click();
    await expect.poll(() => i.page.locator('.case-badges').textContent()).toContain('已核查');
    await i.page.locator('[data-testid=timeline] img.thumb').waitFor();
    await check(i.page, 'case-verified-phone');

    // ...and opening it directly answers "not found" (the hub's 404, in plain words).
    const before = i.errors.length;
    await i.page.goto(`${origin}/cases/${otherCase}`);
    await expect.poll(() => i.page.locator('[role=alert]').textContent()).toContain('未找到');
    // The one expected console line: the browser logging that 404.
    expect(i.errors.slice(before).every((e) => e.includes('404'))).toBe(true);
    i.errors.splice(before);
  }, 180_000);

  it('a viewer sees no action buttons; English renders', async () => {
    const v = await open({ locale: 'en-US' });
    await signIn(v.page, 'viewer');
    await v.page.getByRole('link', { name: 'Overview' }).waitFor();
    await v.page.goto(`${origin}/cases/${otherCase}`);
    await v.page.locator('[data-testid=no-actions]').waitFor();
    expect(await v.page.locator('[data-action]').count()).toBe(0);
    expect(await v.page.locator('#evidence h2').textContent()).toBe('Evidence');
    await check(v.page, 'case-viewer-en');
    await v.page.goto(`${origin}/overview`);
    await v.page.locator('[data-testid=overview-map] canvas').waitFor();
    await v.page.waitForTimeout(500);
    await check(v.page, 'overview-en');
    for (const [path, ready, name] of [
      ['/cases', '[data-testid=inbox] tbody tr', 'inbox-en'],
      ['/kpis', '[data-testid=kpi-table] tbody tr', 'kpis-en'],
      ['/rules', '.rule', 'rules-en'],
      [`/grids/${BIN_GRID}`, '#grid-devices li', 'grid-en'],
      ['/devices/bin-e2e', '[data-testid=latest] dt', 'device-en'],
      ['/overview/wall', '[data-testid=overview-map] canvas', 'wall-en'],
    ] as const) {
      await v.page.goto(`${origin}${path}`);
      await v.page.locator(ready).first().waitFor();
      await v.page.waitForTimeout(300);
      await check(v.page, name);
    }
    // Wall mode has no header: leave it, then switch to Chinese in place.
    await v.page.getByRole('button', { name: 'Leave wall mode' }).click();
    await v.page.getByRole('button', { name: '中文' }).click();
    await v.page.getByRole('link', { name: '一张图' }).waitFor();
  }, 180_000);

  it('an administrator reaches the administration page', async () => {
    const a = await open();
    await a.page.goto(`${origin}/`);
    await api('POST', '/api/users', { id: 'root', name: 'Admin', role: 'admin', password: PASSWORD });
    await signIn(a.page, 'root');
    await a.page.goto(`${origin}/admin`);
    await a.page.locator('#users tbody tr').first().waitFor();
    await a.page.locator('#audit').waitFor();
    await check(a.page, 'admin-zh');
  }, 120_000);

  it('signing out and an ended session go back to sign-in with a message', async () => {
    const s = await open();
    await signIn(s.page, 'operator');
    await s.page.getByRole('button', { name: '退出' }).click();
    await s.page.locator('.notice').waitFor();
    expect(await s.page.locator('.notice').textContent()).toContain('退出');
    await signIn(s.page, 'operator');
    // Off the overview first: a call of its still in flight when the cookie goes would meet the 401
    // there (and clear the signed-in hint) instead of on the next page load (seen on a loaded box).
    await s.page.goto('about:blank');
    // The session ends on the hub (as if it expired): the next call gets 401, the app says so.
    await s.context.clearCookies();
    await s.page.goto(`${origin}/cases`);
    await expect.poll(() => s.page.locator('.notice').textContent()).toContain('过期');
    // The 401 that ended it is the one console line expected here.
    s.errors.splice(0, s.errors.length, ...s.errors.filter((e) => !e.includes('401')));
  }, 120_000);

  it('no page made a request to another origin, logged an error, or had a serious accessibility violation', async () => {
    expect(watched.flatMap((w) => w.foreign)).toEqual([]);
    // Without a configured basemap the CSP lets images come from the hub alone.
    const csp = (await fetch(`${origin}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/img-src 'self' blob: data:;/);
    expect(watched.flatMap((w) => w.errors)).toEqual([]);
    expect(axeFindings).toEqual([]);
  });
});
