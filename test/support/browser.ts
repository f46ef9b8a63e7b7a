// Headless Debian Chromium driven by playwright-core (never a downloaded browser), with the checks
// every dashboard page gets: no request to another origin, no console errors, axe-core's serious
// and critical findings, a screenshot kept as a test artifact.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_HINT = 'apt-get install -y chromium fonts-wqy-microhei';
export const hasChromium = existsSync(CHROMIUM);
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far. */
  errors: string[];
  /** Requests to any origin other than the hub's. */
  foreign: string[];
}

/** A browser context on the hub's origin that records console errors and foreign requests. */
export async function watchedContext(
  browser: Browser,
  origin: string,
  opts: BrowserContextOptions = {},
): Promise<Watched> {
  const context = await browser.newContext({ timezoneId: 'Asia/Shanghai', ...opts });
  const page = await context.newPage();
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  context.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  return { context, page, errors, foreign };
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2 A/AA rules). */
export async function axeSerious(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the dashboard's CSP (script-src 'self') stays on.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const g = globalThis as any;
    const r = await g.axe.run(g.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v: { impact: string }) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v: { id: string; impact: string; nodes: string[] }) => `${v.impact} ${v.id}: ${v.nodes.join(', ')}`,
    );
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** A real PNG (solid colour) of the given size, for photo uploads. */
export function makePng(width = 64, height = 48, rgb: [number, number, number] = [40, 120, 200]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * The page helpers every dashboard test shares: a watched context (zh-CN, 1600×1000 unless told),
 * sign-in through the form, and axe plus a screenshot. `watched` and `axeFindings` collect what the
 * test's last check asserts is empty. Browser and origin are read when used (set in beforeAll).
 */
export function dashboardDriver(ctx: { browser: () => Browser; origin: () => string; password: string }) {
  const watched: Watched[] = [];
  const axeFindings: string[] = [];
  return {
    watched,
    axeFindings,
    async open(opts: BrowserContextOptions = {}) {
      const w = await watchedContext(ctx.browser(), ctx.origin(), {
        locale: 'zh-CN',
        viewport: { width: 1600, height: 1000 },
        ...opts,
      });
      watched.push(w);
      return w;
    },
    async signIn(page: Page, user: string) {
      await page.goto(`${ctx.origin()}/`);
      await page.locator('#username').fill(user);
      await page.locator('#password').fill(ctx.password);
      await page.locator('button[type=submit]').click();
      await page.locator('[data-testid=who]').waitFor({ state: 'attached' });
    },
    /** axe-core and a screenshot of the page as it is. */
    async check(page: Page, name: string) {
      for (const v of await axeSerious(page)) axeFindings.push(`${name}: ${v}`);
      await screenshot(page, name);
    },
  };
}
