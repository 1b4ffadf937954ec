/**
 * The live page in a real browser: Debian's chromium driven by playwright-core. The server runs
 * the scripted generator (a buggy first iteration, a fix in the second) and the local runner
 * (real pytest); the page starts a run and must show iteration 1 red, then iteration 2 green,
 * the failing test's name, and the final files. A screenshot is written as a test artefact.
 *
 * Without chromium the test skips loudly; under CI=true a missing chromium fails it (.ci/run
 * installs it).
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startRomaServer, type RunningServer } from './server.js';

const CHROMIUM_PATH = process.env.PTC_CHROMIUM_PATH || '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
/** Git-ignored (output/ is): screenshots are looked at, never committed. */
const ARTIFACTS = resolve(process.env.PTC_TEST_ARTIFACTS_DIR || join(import.meta.dirname, '../../output/test-artifacts'));
/** Every wait in the page is bounded: a page that does not answer must fail the test, not hang it. */
const STEP_TIMEOUT_MS = 60_000;

function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return undefined;
  } catch {
    return `chromium is not at ${CHROMIUM_PATH} (apt-get install -y chromium, or set PTC_CHROMIUM_PATH)`;
  }
}

const missing = chromiumMissing();
const skipReason = missing && !IN_CI ? `${missing}; the browser test of the live page is SKIPPED` : undefined;
if (skipReason) console.warn(`\n*** ${skipReason} ***\n`);

const TESTS = 'from slug import slugify\n\n\ndef test_spaces():\n    assert slugify("Hello World") == "hello-world"\n\n\ndef test_punctuation():\n    assert slugify("Hello,   World!!") == "hello-world"\n';
const BUGGY = 'import re\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]", "-", text.lower())\n';
// Markup in model output must show as text, never run.
const FIXED = 'import re\n\n# <img src=x onerror="window.__pwned = 1">\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n';
const SCRIPT = [
  [
    { path: 'slug.py', content: BUGGY },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
  [
    { path: 'slug.py', content: FIXED },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
];

describe.skipIf(skipReason !== undefined)(`the live page in chromium${skipReason ? ` (SKIPPED: ${skipReason})` : ''}`, () => {
  let directory: string;
  let server: RunningServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (missing) throw new Error(`${missing}; CI=true requires it (.ci/run installs it with apt-get install -y chromium)`);
    directory = mkdtempSync(join(tmpdir(), 'ptc-roma-page-'));
    writeFileSync(join(directory, 'script.json'), JSON.stringify(SCRIPT));
    // A little latency per answer, so the page is seen while the run is still going.
    server = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json'), PTC_SCRIPT_LATENCY_MS: '300' }, port: 0, onWarning: () => {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      timeout: STEP_TIMEOUT_MS,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await server?.close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  test('start a run: iteration 1 red, iteration 2 green, failing test named, files shown; a screenshot is saved', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    try {
      const response = await page.goto(server!.url, { waitUntil: 'domcontentloaded' });
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-type']).toMatch(/^text\/html/);
      expect(response?.headers()['content-security-policy']).toMatch(/script-src 'nonce-/);
      await expect.poll(() => page.locator('#health').textContent(), { timeout: STEP_TIMEOUT_MS }).toMatch(/scripted/);

      // Records every state an iteration row takes, in order, to check the run is followed live
      // (iteration 1 red strictly before iteration 2 exists) without depending on timing.
      await page.evaluate(() => {
        const seen: string[] = [];
        (globalThis as { __states?: string[] }).__states = seen;
        const document = (globalThis as unknown as { document: { getElementById(id: string): unknown } }).document;
        const Observer = (globalThis as unknown as { MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void } }).MutationObserver;
        const body = document.getElementById('iterations-body') as { querySelectorAll(selector: string): Iterable<{ dataset: Record<string, string> }> };
        new Observer(() => {
          for (const row of body.querySelectorAll('tr')) {
            const state = `${row.dataset.iteration}:${row.dataset.state}`;
            if (seen.at(-1) !== state && !seen.includes(state)) seen.push(state);
          }
        }).observe(body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
      });

      await page.locator('#start').click();

      const first = page.locator('tr[data-iteration="1"]');
      const second = page.locator('tr[data-iteration="2"]');
      await page.locator('tr[data-iteration="2"][data-state="green"]').waitFor();
      await page.locator('#status[data-status="SUCCESS"]').waitFor();
      const states = await page.evaluate(() => (globalThis as { __states?: string[] }).__states ?? []);
      expect(states.indexOf('1:red')).toBeGreaterThanOrEqual(0);
      expect(states.indexOf('1:red')).toBeLessThan(states.indexOf('2:running'));
      expect(states.indexOf('2:running')).toBeLessThan(states.indexOf('2:green'));

      expect(await first.locator('td').nth(2).textContent()).toBe('1');
      expect(await first.locator('td').nth(3).textContent()).toBe('1');
      expect(await first.locator('td.failing').textContent()).toMatch(/test_punctuation/);
      expect(await second.locator('td').nth(2).textContent()).toBe('2');
      expect(await second.locator('td').nth(3).textContent()).toBe('0');
      expect(await page.locator('#usage').textContent()).toMatch(/tokens: 300/);
      const files = await page.locator('#files').textContent();
      expect(files).toContain('slug.py (source_code)');
      expect(files).toContain('tests/test_slug.py (test)');
      expect(files).toContain('<img src=x onerror="window.__pwned = 1">');
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
      await expect.poll(() => page.locator('#executions li').count(), { timeout: STEP_TIMEOUT_MS }).toBeGreaterThan(0);
      expect(await page.locator('#executions li').first().textContent()).toMatch(/SUCCESS/);

      mkdirSync(ARTIFACTS, { recursive: true });
      const screenshot = join(ARTIFACTS, 'roma-live-page.png');
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
      expect(problems).toEqual([]);
    } finally {
      await page.close().catch(() => {});
    }
  }, 180_000);
});
