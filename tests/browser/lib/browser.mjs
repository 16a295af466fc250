// Debian's chromium (/usr/bin/chromium) driven by playwright-core, which never downloads a
// browser. One browser per suite; a fresh context (cookies, sessionStorage) per page.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { outputDir, sourceDir } from './pemx.mjs';

export const chromiumPath = process.env.PEMX_CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
}

// A page on the server at `baseURL`, with bounded default timeouts and the browser's console
// errors, failed requests and uncaught exceptions collected in page.problems (the tests assert
// there are none: a CSP violation or a script error is a broken page).
export async function openPage(browser, baseURL,
  { width = 1280, height = 900, timezoneId = 'UTC' } = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width, height },
    locale: 'en-US', timezoneId, colorScheme: 'light' });
  context.setDefaultTimeout(10000);
  context.setDefaultNavigationTimeout(15000);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`uncaught: ${error.message}`));
  page.on('console', (msg) => {
    // Chromium logs every HTTP error answer; the tests provoke some (400) on purpose.
    const httpError = /^Failed to load resource: the server responded/.test(msg.text());
    if (msg.type() === 'error' && !httpError) page.problems.push(`console: ${msg.text()}`);
  });
  page.on('requestfailed', (request) => {
    // An EventSource closed by navigation or by the test's end is not a failure of the page.
    if (request.url().includes('/api/live')) return;
    page.problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  return page;
}

// Where screenshots go: docs/screenshots/ with PEMX_UPDATE_SCREENSHOTS=1 (to commit them),
// else PEMX_BROWSER_OUTPUT (ctest sets it to the build tree), else the temp dir. `docs: false`
// keeps one out of docs/ (a picture the README does not show).
export function screenshotDir({ docs = true } = {}) {
  if (!docs || process.env.PEMX_UPDATE_SCREENSHOTS !== '1') return outputDir();
  const dir = join(sourceDir, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function screenshot(page, name, { fullPage = false, docs = true } = {}) {
  const path = join(screenshotDir({ docs }), name);
  await page.screenshot({ path, fullPage, animations: 'disabled', caret: 'hide' });
  return path;
}

// Saves `name` before the assertion failure propagates, so a failing run leaves a picture of
// what the page showed (as failed-<name>).
export async function withScreenshot(page, name, body, options = {}) {
  try {
    await body();
  } catch (error) {
    try {
      const path = join(outputDir(), `failed-${name}`);
      await page.screenshot({ path, fullPage: true });
      error.message += `\n(screenshot of the page: ${path})`;
    } catch {
      // The page itself may be gone; the original error matters.
    }
    throw error;
  }
  await screenshot(page, name, options);
}
