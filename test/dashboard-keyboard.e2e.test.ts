// The dashboard from the keyboard, and its newer parts (issue 11): every main page operable with
// Tab / Enter / Escape with a visible focus; the inbox sorted on the server with paging correct
// across pages; a device's online history; the unit and working-calendar editors (checked before
// sending, in plain words in both languages); the backtest's range at the server's edge; an
// optional basemap whose tile host — and only it — the page may reach. The real hub (PostgreSQL
// where installed) and bundle in headless Debian Chromium; axe-core on every new page state, no
// console errors, screenshots in test-artifacts/dashboard/.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../hub/index.ts';
import { demoDistrict } from '../simulators/index.ts';
import { ensureUi } from '../web/index.ts';
import { CHROMIUM_HINT, dashboardDriver, hasChromium, launchChromium, makePng } from './support/browser.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

if (!hasChromium && process.env.CI === 'true') throw new Error(`CI requires chromium (${CHROMIUM_HINT})`);

const PASSWORD = 'e2e-passphrase-7261';
const district = demoDistrict();
const GRIDS = district.grids.features.map((f) => f.properties.code);
const centre = (code: string) => {
  const ring = district.grids.features.find((g) => g.properties.code === code)!.geometry.coordinates[0]!;
  const pts = ring.slice(0, -1);
  return {
    lng: pts.reduce((s, p) => s + p[0], 0) / pts.length,
    lat: pts.reduce((s, p) => s + p[1], 0) / pts.length,
  };
};
const INSPECTOR_GRID = GRIDS.find((g) => g.startsWith('330102001'))!;
const URGENCIES = ['low', 'normal', 'urgent'] as const;

interface Focused {
  tag: string;
  id: string;
  name: string | null;
  text: string;
  label: string | null;
  action: string | null;
  visible: boolean;
}

describe.skipIf(!hasChromium)(`the dashboard from the keyboard (needs ${CHROMIUM_HINT})`, () => {
  let t: TestHub;
  let browser: Browser;
  let origin: string;
  let tiles: Server;
  let tileOrigin: string;
  const tileRequests: string[] = [];
  const tokens: Record<string, string> = {};
  const { open, signIn, check, watched, axeFindings } = dashboardDriver({
    browser: () => browser,
    origin: () => origin,
    password: PASSWORD,
  });
  const api = (method: string, path: string, body?: unknown, who?: string) =>
    t.api(method, path, body, who ? tokens[who] : undefined);

  /** What has the focus, and whether the focus is drawn (outline or shadow). */
  const focused = (page: Page): Promise<Focused> =>
    page.evaluate(() => {
      const d = (globalThis as any).document;
      const el = d.activeElement;
      const cs = (globalThis as any).getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(),
        id: el.id ?? '',
        name: el.getAttribute('name'),
        text: (el.textContent ?? '').trim().slice(0, 80),
        label: el.getAttribute('aria-label'),
        action: el.getAttribute('data-action'),
        visible:
          (cs.outlineStyle !== 'none' && Number.parseFloat(cs.outlineWidth) >= 2) || cs.boxShadow !== 'none',
      };
    });
  /** Tab (or Shift+Tab) until the focus is on what `match` wants; the focus must be visible there. */
  const tabTo = async (page: Page, what: string, match: (f: Focused) => boolean, back = false) => {
    for (let i = 0; i < 120; i++) {
      await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
      const f = await focused(page);
      if (match(f)) {
        expect(f.visible, `focus visible on ${what}`).toBe(true);
        return f;
      }
    }
    throw new Error(`Tab never reached ${what}`);
  };

  beforeAll(async () => {
    await ensureUi();
    // A raster tile server on another loopback port: another origin, as a real basemap would be.
    const png = [makePng(256, 256, [214, 226, 200]), makePng(256, 256, [200, 214, 230])];
    tiles = createServer((req, res) => {
      tileRequests.push(req.url ?? '');
      const m = /^\/tiles\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(req.url ?? '');
      if (!m) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/png' }).end(png[(Number(m[2]) + Number(m[3])) % 2]);
    });
    await new Promise<void>((r) => tiles.listen(0, '127.0.0.1', r));
    tileOrigin = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}`;
    t = await startTestHub({
      store: 'pg',
      overrides: {
        dashboard: { mapTiles: `${tileOrigin}/tiles/{z}/{x}/{y}.png`, mapAttribution: 'Test tiles' },
      },
    });
    origin = t.httpUrl;
    expect((await api('PUT', '/api/grids', district.grids)).status).toBe(200);
    await api('PUT', '/api/units/sanitation', { name: '环卫所', categories: ['0101', '0102', '0104'] });
    for (const u of [
      { id: 'admin1', name: '系统管理员', role: 'admin' },
      { id: 'dispatcher', name: '派遣员', role: 'dispatcher' },
      { id: 'operator', name: '值班员', role: 'operator' },
      { id: 'inspector', name: '网格员', role: 'inspector', gridCodes: ['330102001'] },
      { id: 'viewer', name: 'Leader', role: 'viewer' },
    ]) {
      const r = await api('POST', '/api/users', { ...u, password: PASSWORD });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      tokens[u.id] = (
        await t.api('POST', '/api/auth/login', { username: u.id, password: PASSWORD }, null)
      ).body.token;
    }
    // 30 reports (more than one inbox page of 25), mixed urgencies; every third one registered so
    // it has a deadline.
    for (let i = 0; i < 30; i++) {
      const r = await api(
        'POST',
        '/api/cases',
        {
          category: '0101',
          description: `暴露垃圾 ${i}`,
          gridCode: GRIDS[i % GRIDS.length],
          urgency: URGENCIES[(i * 7) % 3],
        },
        'operator',
      );
      expect(r.status).toBe(201);
      if (i % 3 === 0)
        expect(
          (await api('POST', `/api/cases/${r.body.id}/actions`, { action: 'register' }, 'operator')).status,
        ).toBe(200);
    }
    // A bin that connects, drops and comes back: its online history has three periods.
    const token = await t.device({ id: 'bin-kb', profile: 'waste-container', location: centre(GRIDS[0]!) });
    const c1 = await t.connect(token);
    await c1.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.4 }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await c1.endAsync();
    await eventually(async () => (await api('GET', '/api/devices/bin-kb')).body.status === 'offline');
    await new Promise((r) => setTimeout(r, 300));
    await t.connect(token);
    await eventually(async () => (await api('GET', '/api/devices/bin-kb')).body.status === 'online');
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
    await new Promise((r) => tiles?.close(r));
  });

  it('overview: drill down with Enter, wall mode in and out with Enter and Escape; the basemap is drawn from the configured tile host', async () => {
    const { page } = await open();
    await signIn(page, 'dispatcher');
    await page.goto(`${origin}/overview`);
    await page.locator('[data-testid=overview-map] canvas').first().waitFor();
    const chip = await tabTo(
      page,
      'a street in the drill-down',
      (f) => f.tag === 'button' && f.text.includes('街道'),
    );
    const street = chip.text.replace(/\s*\d+$/, '');
    await page.keyboard.press('Enter');
    // The breadcrumb names where the map now is.
    await expect.poll(() => page.locator('nav.crumbs strong').textContent()).toBe(street);
    await eventually(async () => tileRequests.length > 0);
    expect(tileRequests.every((u) => /^\/tiles\/\d+\/\d+\/\d+\.png$/.test(u))).toBe(true);
    await expect.poll(() => page.locator('.map-attribution').textContent()).toContain('Test tiles');
    await new Promise((r) => setTimeout(r, 500)); // tiles painted before the screenshot
    await check(page, 'kb-overview-basemap');
    await tabTo(page, 'the wall-mode button', (f) => f.tag === 'button' && f.text === '大屏模式', true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.url()).toBe(`${origin}/overview/wall`);
    // Full screen (the wall display), then Escape leaves both.
    await expect.poll(() => page.evaluate(() => !!(globalThis as any).document.fullscreenElement)).toBe(true);
    await page.locator('.wall-tools').waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.url()).toBe(`${origin}/overview`);
    await expect
      .poll(() => page.evaluate(() => !!(globalThis as any).document.fullscreenElement))
      .toBe(false);
  }, 90_000);

  it('inbox: sort by deadline and page on from the keyboard; the pages follow the server order', async () => {
    const { page } = await open();
    await signIn(page, 'dispatcher');
    await page.goto(`${origin}/cases`);
    await page.locator('[data-testid=inbox] tbody tr').first().waitFor();
    await tabTo(page, 'the sort field', (f) => f.name === 'sort');
    await page.keyboard.press('ArrowDown'); // opened → deadline
    await page.waitForURL(/sort=deadline/);
    await tabTo(page, 'the order field', (f) => f.name === 'order');
    await page.keyboard.press('ArrowDown'); // → ascending: nearest deadline first
    await page.waitForURL(/order=asc/);
    const ids = () =>
      page
        .locator('[data-testid=inbox] tbody tr td:first-child a')
        .evaluateAll((as) => as.map((a) => a.textContent));
    const p1 = (await api('GET', '/api/cases?sort=deadline&order=asc&limit=25', undefined, 'dispatcher'))
      .body;
    const p2 = (
      await api(
        'GET',
        `/api/cases?sort=deadline&order=asc&limit=25&cursor=${p1.next}`,
        undefined,
        'dispatcher',
      )
    ).body;
    expect(p2.items.length).toBe(5);
    await expect.poll(ids).toEqual(p1.items.map((c: { id: string }) => c.id));
    expect(await page.locator('th[aria-sort=ascending]').textContent()).toBe('处置时限');
    await check(page, 'kb-inbox-sorted');
    await tabTo(page, 'the next-page button', (f) => f.tag === 'button' && f.text.includes('下一页'));
    await page.keyboard.press('Enter');
    await expect.poll(ids).toEqual(p2.items.map((c: { id: string }) => c.id));
    // Every case once over the two pages; the registered ones (with a deadline) first.
    expect(new Set([...p1.items, ...p2.items].map((c: { id: string }) => c.id)).size).toBe(30);
    expect(p1.items.slice(0, 10).every((c: { deadline: string | null }) => c.deadline !== null)).toBe(true);
    await tabTo(
      page,
      'the previous-page button',
      (f) => f.tag === 'button' && f.text.includes('上一页'),
      true,
    );
    await page.keyboard.press('Enter');
    await expect.poll(ids).toEqual(p1.items.map((c: { id: string }) => c.id));
  }, 90_000);

  it('case page: choose the unit and dispatch from the keyboard', async () => {
    const registered = (await api('GET', '/api/cases?status=registered&limit=1', undefined, 'dispatcher'))
      .body.items[0];
    const { page } = await open();
    await signIn(page, 'dispatcher');
    await page.goto(`${origin}/cases/${registered.id}`);
    await page.locator('[data-testid=timeline]').waitFor();
    await tabTo(page, 'the unit field', (f) => f.id === 'unit');
    await tabTo(page, 'the dispatch button', (f) => f.action === 'dispatch');
    await page.keyboard.press('Enter');
    await eventually(
      async () =>
        (await api('GET', `/api/cases/${registered.id}`, undefined, 'dispatcher')).body.status ===
        'dispatched',
    );
    expect((await api('GET', `/api/cases/${registered.id}`, undefined, 'dispatcher')).body.assignee).toBe(
      'sanitation',
    );
  }, 60_000);

  it('device page: the online history as periods; range and token rotation from the keyboard', async () => {
    const { page } = await open();
    await signIn(page, 'admin1');
    await page.goto(`${origin}/devices/bin-kb`);
    const list = page.locator('[data-testid=presence] .presence-list li');
    await expect.poll(() => list.count()).toBe(3);
    await page.locator('[data-testid=presence] canvas').first().waitFor();
    expect(await list.first().textContent()).toContain('在线');
    expect(await list.nth(1).textContent()).toContain('离线');
    await check(page, 'kb-device-presence');
    await tabTo(page, 'the online-history range', (f) => f.id === 'presence-range');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.locator('#presence-range').inputValue()).toBe(String(24 * 7));
    await expect.poll(() => list.count()).toBe(3);
    await tabTo(page, 'the rotate-token button', (f) => f.tag === 'button' && f.text === '更换令牌');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.notice code').count()).toBe(1);
  }, 60_000);

  it('KPIs: level and CSV export from the keyboard', async () => {
    const { page } = await open();
    await signIn(page, 'viewer');
    await page.goto(`${origin}/kpis`);
    await page.locator('table').first().waitFor();
    const level = await tabTo(page, 'a KPI field', (f) => f.tag === 'select');
    await page.keyboard.press('ArrowDown');
    expect(level.visible).toBe(true);
    await tabTo(page, 'the CSV button', (f) => f.tag === 'button' && f.text.includes('CSV'));
    const download = page.waitForEvent('download');
    await page.keyboard.press('Enter');
    expect((await download).suggestedFilename()).toMatch(/\.csv$/);
  }, 60_000);

  it('rules: open a rule with Enter, a range past 31 days is refused before sending, 31 days runs, Escape closes', async () => {
    const { page } = await open();
    const backtests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/backtest')) backtests.push(r.url());
    });
    await signIn(page, 'operator');
    await page.goto(`${origin}/rules`);
    await page.locator('#rule-toggle-bin-full').waitFor();
    await tabTo(page, "bin-full's toggle", (f) => f.id === 'rule-toggle-bin-full');
    await page.keyboard.press('Enter');
    const from = page.locator('#bt-from-bin-full');
    await from.waitFor();
    const local = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 16); // Asia/Shanghai
    const now = Date.now() - 60_000;
    await page.locator('#bt-to-bin-full').fill(local(now));
    await from.fill(local(now - 31 * 86_400_000 - 60_000));
    await tabTo(page, 'the backtest button', (f) => f.tag === 'button' && f.text.includes('回测'));
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.locator('#bt-err-bin-full').textContent())
      .toBe('回测范围最长 31 天，请缩短时间范围。');
    expect(backtests).toEqual([]);
    await check(page, 'kb-rules-range-refused');
    await from.fill(local(now - 31 * 86_400_000));
    await from.focus();
    await tabTo(page, 'the backtest button', (f) => f.tag === 'button' && f.text.includes('回测'));
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=backtest-count]').waitFor();
    expect(backtests).toHaveLength(1);
    const q = new URL(backtests[0]!).searchParams;
    expect(Date.parse(q.get('to')!) - Date.parse(q.get('from')!)).toBe(31 * 86_400_000);
    expect(await page.locator('#bt-err-bin-full').textContent()).toBe('');
    await check(page, 'kb-rules-backtest-31d');
    await page.keyboard.press('Escape');
    await expect.poll(() => from.count()).toBe(0);
    await expect.poll(async () => (await focused(page)).id).toBe('rule-toggle-bin-full');
  }, 90_000);

  it('administration: a unit created and edited, the calendar edited, bad input named before sending (zh and en)', async () => {
    const { page } = await open();
    const writes: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PUT') writes.push(new URL(r.url()).pathname);
    });
    await signIn(page, 'admin1');
    await page.goto(`${origin}/admin`);
    await page.locator('[data-testid=units] tbody tr').first().waitFor();
    // Edit the existing unit from the keyboard; Escape leaves the edit.
    await tabTo(page, "sanitation's edit button", (f) => f.label === '编辑 环卫所');
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await focused(page)).id).toBe('unit-name');
    expect(await page.locator('#unit-id').getAttribute('readonly')).not.toBeNull();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#unit-form-h').textContent()).toBe('新增责任单位');
    // A new unit with a bad id and no name: named under the fields, nothing sent, focus on the first.
    await page.locator('#unit-id').focus();
    await page.keyboard.type('parks dept!');
    await tabTo(page, 'the unit form save button', (f) => f.tag === 'button' && f.text === '保存');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#unit-id-err').textContent()).toContain('ID 只能包含字母、数字');
    expect(await page.locator('#unit-name-err').textContent()).toBe('请填写名称（最多 200 个字符）。');
    // Focus moves after the errors render (a later effect): waited for, as on the edit above.
    await expect.poll(async () => (await focused(page)).id).toBe('unit-id');
    expect(writes).toEqual([]);
    await check(page, 'kb-admin-unit-errors');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('parks');
    await page.keyboard.press('Tab');
    await page.keyboard.type('园林所');
    await tabTo(page, 'a category checkbox', (f) => f.name === 'categories');
    await page.keyboard.press('Space');
    await tabTo(page, 'the unit form save button', (f) => f.tag === 'button' && f.text === '保存');
    await page.keyboard.press('Enter');
    await page.locator('.unit-form [role=status]').waitFor();
    const parks = (await api('GET', '/api/units')).body.items.find((u: { id: string }) => u.id === 'parks');
    expect(parks.name).toBe('园林所');
    expect(parks.categories).toHaveLength(1);

    // The calendar: the same date as holiday and make-up day is refused, in plain words.
    await page.locator('#cal-holidays-new').fill('2026-10-01');
    await page.locator('#cal-holidays-new').focus();
    await page.keyboard.press('Enter');
    await page.locator('#cal-extra-new').fill('2026-10-01');
    await page.locator('#cal-extra-new').focus();
    await page.keyboard.press('Enter');
    await tabTo(page, 'the calendar save button', (f) => f.tag === 'button' && f.text === '保存');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.locator('#cal-extra-err').textContent())
      .toBe('2026-10-01 不能同时是节假日和调休工作日。');
    expect(writes).toEqual(['/api/units/parks']);
    await check(page, 'kb-admin-calendar-error');
    const removeExtra = page
      .locator('#calendar fieldset.date-list')
      .nth(1)
      .getByRole('button', { name: '移除 2026-10-01' });
    await removeExtra.focus();
    await page.keyboard.press('Enter');
    await tabTo(page, 'the calendar save button', (f) => f.tag === 'button' && f.text === '保存');
    await page.keyboard.press('Enter');
    await page.locator('#calendar [role=status]').waitFor();
    const cal = (await api('GET', '/api/calendar')).body;
    expect(cal.holidays).toContain('2026-10-01');
    expect(cal.extraWorkdays).not.toContain('2026-10-01');

    // English: the same kind of problem in English words.
    await page.locator('header button.ghost', { hasText: 'English' }).click();
    await page.locator('#cal-h0-end').fill('07:00');
    await page.locator('#calendar button[type=submit]').click();
    await expect
      .poll(() => page.locator('#cal-hours-err').textContent())
      .toContain('must come before the end');
    expect(writes).toEqual(['/api/units/parks', '/api/calendar']);
    await check(page, 'kb-admin-calendar-error-en');
  }, 120_000);

  it('field view on a phone: report a problem with the location from the keyboard', async () => {
    const here = centre(INSPECTOR_GRID);
    const { page } = await open({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      geolocation: { longitude: here.lng, latitude: here.lat },
      permissions: ['geolocation'],
    });
    await signIn(page, 'inspector');
    await page.goto(`${origin}/field`);
    await tabTo(page, 'the report link', (f) => f.tag === 'a' && f.text.includes('上报问题'));
    await page.keyboard.press('Enter');
    await page.waitForURL(`${origin}/field/report`);
    await tabTo(page, 'the description', (f) => f.tag === 'textarea');
    await page.keyboard.type('井盖缺失 (keyboard)');
    await tabTo(page, 'the location button', (f) => f.tag === 'button' && f.text.includes('位置'));
    await page.keyboard.press('Enter');
    await page.getByText('已定位').first().waitFor();
    await tabTo(page, 'the submit button', (f) => f.tag === 'button' && f.text === '提交');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.url(), { timeout: 20_000 }).toMatch(/\/cases\/[^/]+$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const c = (await api('GET', `/api/cases/${id}`, undefined, 'inspector')).body;
    expect(c.description).toBe('井盖缺失 (keyboard)');
    expect(c.gridCode.startsWith('330102001')).toBe(true);
  }, 60_000);

  it('the CSP names the configured tile host; a bad tile URL stops the start naming the key', async () => {
    const csp = (await fetch(`${origin}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain(`img-src 'self' blob: data: ${tileOrigin};`);
    // (Without the setting: test/dashboard.e2e.test.ts checks img-src is the hub alone.)
    for (const [mapTiles, why] of [
      ['https://u:p@tiles.example/{z}/{x}/{y}.png', 'without credentials'],
      ['https://tiles.example/{z}/{x}.png', 'must contain {z}, {x} and {y}'],
      ['file:///etc/{z}/{x}/{y}', 'http(s) URL'],
      ['javascript:{z}{x}{y}', 'http(s) URL'],
    ])
      expect(() => loadConfig({ env: {}, overrides: { dashboard: { mapTiles } } }), mapTiles).toThrow(
        new RegExp(`mapTiles.*${why!.replace(/[{}()]/g, '\\$&')}`),
      );
    expect(
      loadConfig({ env: {}, overrides: { dashboard: { mapTiles: '/tiles/{z}/{x}/{y}.png' } } }).dashboard
        .mapTiles,
    ).toBe('/tiles/{z}/{x}/{y}.png');
    expect(loadConfig({ env: { GRIDHUB_MAP_TILES: `${tileOrigin}/t/{z}/{x}/{y}` } }).dashboard.mapTiles).toBe(
      `${tileOrigin}/t/{z}/{x}/{y}`,
    );
  });

  it('no page reached any origin but the hub and the configured tile host, logged an error, or had a serious accessibility violation', () => {
    expect(watched.flatMap((w) => w.foreign).filter((u) => !u.startsWith(`${tileOrigin}/tiles/`))).toEqual(
      [],
    );
    expect(watched.flatMap((w) => w.errors)).toEqual([]);
    expect(axeFindings).toEqual([]);
  });
});
