// One pemx and one browser per suite (describe): before() starts both, after() stops both
// (also when a test failed). Each test opens its own pages (fresh browser contexts).
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';

import { launch, openPage, screenshot } from './browser.mjs';
import { Pemx } from './pemx.mjs';

export function usePemx(options = {}) {
  const env = { pemx: null, browser: null, pages: [] };
  before(async () => {
    env.pemx = new Pemx(options);
    await env.pemx.start();
    env.browser = await launch();
  }, { timeout: 60000 });
  after(async () => {
    if (env.browser) await env.browser.close().catch(() => {});
    if (env.pemx) {
      const exit = await env.pemx.stop();
      // A pemx that crashed under the page's requests is a failure even if every test passed.
      assert.deepEqual(exit, { code: 0, signal: null },
        `pemx did not exit cleanly on SIGTERM; its log: ${env.pemx.logPath}`);
    }
  }, { timeout: 60000 });
  afterEach(async (t) => {
    // What the test's last page showed at its end, in the output dir (never docs/), named
    // after the suite and the test; then its pages (and their contexts) end with it.
    const last = env.pages.at(-1);
    if (last && !last.isClosed()) {
      const slug = `${options.name || 'pemx'}-${t.name}`.toLowerCase().replace(/[^a-z0-9]+/g, '-')
        .slice(0, 80).replace(/-+$/, '');
      await screenshot(last, `end-${slug}.png`, { docs: false }).catch(() => {});
    }
    await Promise.all(env.pages.splice(0).map((page) => page.context().close().catch(() => {})));
  });

  // A new page on this server with `path` loaded (null: nothing loaded yet); options: width,
  // height, timezoneId.
  env.open = async (path = '/', options) => {
    const page = await openPage(env.browser, env.pemx.pageUrl, options);
    env.pages.push(page);
    if (path !== null) await page.goto(path);
    return page;
  };
  // The page logged no error, threw nothing, and every request it made reached the server.
  env.assertNoProblems = (page) => {
    assert.deepEqual(page.problems, [], 'the page reported errors');
  };
  return env;
}
