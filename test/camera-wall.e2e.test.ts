// The dashboard's camera wall and live view in headless Chromium: jsmpeg (bundled) decodes what a
// simulated RTSP camera streams through the hub, signed in with the session cookie only.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RtspCamera, startRtspCamera } from '../simulators/index.ts';
import { ensureUi } from '../web/ui-bundle.ts';
import {
  axeSerious,
  CHROMIUM_HINT,
  hasChromium,
  launchChromium,
  screenshot,
  watchedContext,
} from './support/browser.ts';
import { cell } from './support/grids.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { hasFfmpeg, hasGst, VIDEO_HINT } from './support/video.ts';

if (!hasChromium && process.env.CI === 'true') throw new Error(`CI requires chromium (${CHROMIUM_HINT})`);

const GRID = '330102001001001';
const PASSWORD = 'e2e-passphrase-7261';
/** Resolves once the camera's live view on the page has decoded a frame (the page's CSP allows no eval). */
const framesDecoded = (page: Page, id: string) =>
  eventually(
    async () => Number(await page.locator(`figure[data-camera="${id}"]`).getAttribute('data-frames')) > 0,
    30_000,
    100,
  );

describe.skipIf(!hasChromium || !hasFfmpeg || !hasGst)(
  `camera wall in Chromium (${CHROMIUM_HINT}; ${VIDEO_HINT})`,
  () => {
    let t: TestHub;
    let cam: RtspCamera;
    let browser: Browser;

    beforeAll(async () => {
      await ensureUi();
      cam = await startRtspCamera({
        mounts: ['w1', 'w2'].map((name) => ({ name, width: 320, height: 240, fps: 25 })),
      });
      t = await startTestHub({ overrides: { video: { idleStopMs: 500 } } as never });
      await t.api('PUT', '/api/grids', { type: 'FeatureCollection', features: [cell(GRID, 120, 30)] });
      for (const id of ['w1', 'w2']) {
        await t.device({ id: `cam-${id}`, profile: 'camera', location: { lng: 120.0005, lat: 30.0005 } });
        await t.api('PUT', `/api/devices/cam-${id}/attributes`, { server: { rtspUrl: cam.urls[id] } });
      }
      expect(
        (
          await t.api('POST', '/api/users', {
            id: 'watch',
            name: 'watch',
            role: 'viewer',
            password: PASSWORD,
          })
        ).status,
      ).toBe(201);
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await t?.stop();
      await cam?.stop();
    });

    it('the wall plays every camera on screen; leaving it stops the streams', async () => {
      const w = await watchedContext(browser, t.httpUrl, {
        locale: 'en-US',
        viewport: { width: 1400, height: 900 },
      });
      const page = w.page;
      await page.goto(`${t.httpUrl}/`);
      await page.locator('#username').fill('watch');
      await page.locator('#password').fill(PASSWORD);
      await page.locator('button[type=submit]').click();
      await page.locator('[data-testid=who]').waitFor({ state: 'attached' });
      await page.goto(`${t.httpUrl}/cameras?gridCode=330102001`);
      await page.locator('[data-testid=camera-wall]').waitFor();
      // Both tiles decode frames (jsmpeg's JavaScript decoder into the canvas).
      for (const id of ['cam-w1', 'cam-w2']) {
        await framesDecoded(page, id);
      }
      const state = (await t.api('GET', '/api/cameras/cam-w1')).body.stream;
      expect(state).toMatchObject({ state: 'live', viewers: 1 });
      await screenshot(page, 'camera-wall');
      expect(await axeSerious(page)).toEqual([]);
      expect(w.errors).toEqual([]);
      // Only the hub itself: its pages, API and the live view's WebSockets.
      const host = new URL(t.httpUrl).host;
      expect(w.foreign.filter((u) => !u.startsWith(`ws://${host}/api/cameras/`))).toEqual([]);
      await page.goto(`${t.httpUrl}/cases`);
      const deadline = Date.now() + 20_000;
      while (
        (await t.api('GET', '/api/cameras/cam-w1')).body.stream.state !== 'idle' &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 200));
      expect((await t.api('GET', '/api/cameras/cam-w1')).body.stream.state).toBe('idle');
      await w.context.close();
    });

    it("a camera's device page plays the live view on one click", async () => {
      const w = await watchedContext(browser, t.httpUrl, { locale: 'zh-CN' });
      const page = w.page;
      await page.goto(`${t.httpUrl}/`);
      await page.locator('#username').fill('watch');
      await page.locator('#password').fill(PASSWORD);
      await page.locator('button[type=submit]').click();
      await page.locator('[data-testid=who]').waitFor({ state: 'attached' });
      await page.goto(`${t.httpUrl}/devices/cam-w2`);
      await page.getByRole('button', { name: '播放实时画面' }).click();
      await framesDecoded(page, 'cam-w2');
      expect(w.errors).toEqual([]);
      await w.context.close();
    });
  },
);
