import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Pipeline, startPipeline } from '@doubletap/testing';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const SCREENSHOT = join(tmpdir(), 'doubletap-page.png');

describe('the live post page in headless Chromium (api + aggregator + projector as processes)', () => {
  let p: Pipeline;
  const contexts: BrowserContext[] = [];
  const dirs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh`);
    p = await startPipeline({ partitions: 4 });
  }, 120000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await p?.close();
  });

  /** A separate browser (own process, fresh profile) opened on the page as `userId`. */
  async function browserAs(userId: string, postId: string): Promise<Page> {
    const dir = await mkdtemp(join(tmpdir(), 'dt-chromium-'));
    dirs.push(dir);
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 480, height: 720 },
    });
    contexts.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(`${userId}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`${userId} console: ${m.text()}`);
    });
    await page.goto(`${p.apiUrl}/p/${postId}?token=${await p.token(userId)}`);
    return page;
  }

  const heart = (page: Page) => page.locator('#heart');
  /** Waits (in the page) until the element's text or attribute has the value; a timeout fails the test. */
  const waitIn = (page: Page, selector: string, value: string, attribute?: string) => {
    const read = attribute ? `getAttribute(${JSON.stringify(attribute)})` : 'textContent';
    return page.waitForFunction(
      `document.querySelector(${JSON.stringify(selector)})?.${read} === ${JSON.stringify(value)}`,
      undefined,
      {
        timeout: 20000,
      },
    );
  };
  const expectText = (page: Page, selector: string, text: string) => waitIn(page, selector, text);
  const expectPressed = (page: Page, pressed: boolean) =>
    waitIn(page, '#heart', String(pressed), 'aria-pressed');

  it('A taps the heart: it fills and the count goes up; B sees the count change live; a reload remembers; a second tap unlikes', async () => {
    const postId = 'sunset_42';
    // three earlier likes by other users, over the public API
    for (const u of ['u1', 'u2', 'u3']) {
      const res = await fetch(`${p.apiUrl}/v1/posts/${postId}/likes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await p.token(u)}` },
      });
      expect(res.status).toBe(202);
    }

    const a = await browserAs('alice', postId);
    const b = await browserAs('bob', postId);
    for (const page of [a, b]) {
      await expectText(page, '#count', '3');
      await expectText(page, '#status', 'live');
      expect(await heart(page).isEnabled()).toBe(true);
      expect(await heart(page).getAttribute('aria-pressed')).toBe('false');
      expect(page.url()).not.toContain('token='); // the token does not stay in the address bar
    }
    expect(await a.locator('#who').textContent()).toBe('you are alice');

    await heart(a).click();
    await expectPressed(a, true);
    await expectText(a, '#count', '4');
    await expectText(b, '#count', '4'); // B did nothing: the change came over SSE
    expect(await heart(b).getAttribute('aria-pressed')).toBe('false');
    await a.screenshot({ path: SCREENSHOT });

    // a reload asks the aggregator that owns alice's partition: still liked
    await a.reload();
    await expectText(a, '#count', '4');
    await expectPressed(a, true);

    await heart(a).click();
    await expectPressed(a, false);
    await expectText(b, '#count', '3');
    await expectText(a, '#count', '3');
    expect(await b.locator('#noun').textContent()).toBe('likes');
    expect(pageErrors).toEqual([]);
  });
});
