// A phone-width screen (375 px) without horizontal scrolling in any view, and the search done
// with the keyboard only: Tab reaches the Product IDs input, Enter runs the search.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { screenshot, withScreenshot } from './lib/browser.mjs';
import { countryChange, discountUpdate, priceUpdate, productId } from './lib/events.mjs';
import { assertCount } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';

// How far the page is wider than the window (0: no horizontal overflow), and what sticks out.
async function overflow(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const over = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - width;
    const culprits = [];
    if (over > 0) {
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > width + 1 && culprits.length < 5) {
          culprits.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className}`);
        }
      }
    }
    return { over, culprits };
  });
}

describe('layout and keyboard', () => {
  const env = usePemx({ name: 'layout' });
  const product = productId('PHONE');
  const events = [priceUpdate(product, 1), countryChange(product, 2, 'Norway'),
    discountUpdate(product, 3), priceUpdate(product, 4)];

  test('375 px wide: no horizontal overflow in any view, with content', { timeout: 60000 },
    async () => {
      const page = await env.open('/#/live', { width: 375, height: 800 });
      const assertFits = async (view) => {
        const { over, culprits } = await overflow(page);
        assert.equal(over, 0, `the ${view} view is ${over} px wider than the phone: ${culprits}`);
      };
      await withScreenshot(page, 'phone.png', async () => {
        // Live, with the events arriving (the stored stream: then Search has them too).
        await page.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
        await env.pemx.push(events);
        const live = page.getByRole('list', { name: 'Live events' });
        await assertCount(live.locator(':scope > li'), events.length, 30000);
        await assertFits('Live');

        // Search, with a result's raw JSON open (its widest content).
        await page.goto(`/#/search?productIds=${product}`);
        const results = page.getByRole('list', { name: 'Results' });
        await assertCount(results.locator(':scope > li'), events.length);
        await results.locator(':scope > li').first()
          .getByRole('button', { name: 'Show JSON' }).click();
        await assertFits('Search');

        const nav = page.getByRole('navigation', { name: 'Views' });
        await nav.getByRole('link', { name: 'Push' }).click();
        await page.getByRole('button', { name: 'Fill example' }).click();
        await assertFits('Push');

        // Overview, once its Topics table has this run's (long, prefixed) topic names.
        await nav.getByRole('link', { name: 'Overview' }).click();
        await page.getByRole('table', { name: 'Topics' }).locator('tbody > tr').first().waitFor();
        await assertFits('Overview');

        // Analytics, once its answer is drawn (the last 24 hours: the events above are older).
        await nav.getByRole('link', { name: 'Analytics' }).click();
        await page.getByRole('status').filter({ hasText: /^[\d,]+ events? from/ }).waitFor();
        await assertFits('Analytics');

        await nav.getByRole('link', { name: 'Search' }).click();
        await results.locator(':scope > li').first().waitFor();
        env.assertNoProblems(page);
      });
    });

  test('keyboard: Tab reaches Product IDs, Enter runs the search', { timeout: 60000 }, async () => {
    const typed = productId('KEYS');
    const mine = [priceUpdate(typed, 1), countryChange(typed, 2)];
    await env.pemx.push(mine);
    await env.pemx.waitStored([typed], mine.length);
    const page = await env.open('/');
    const input = page.getByLabel('Product IDs');
    await input.waitFor();
    let reached = false;
    for (let i = 0; i < 30 && !reached; ++i) {
      await page.keyboard.press('Tab');
      reached = await input.evaluate((el) => el === document.activeElement);
    }
    assert.ok(reached, 'Product IDs is reachable by Tab (within 30 presses)');
    const focusVisible = await input.evaluate((el) => el.matches(':focus-visible'));
    assert.ok(focusVisible, 'keyboard focus on Product IDs is visible (:focus-visible)');
    await page.keyboard.type(typed);
    await page.keyboard.press('Enter');  // the text becomes a chip
    await page.getByRole('list', { name: 'Selected products' }).getByRole('listitem').first()
      .waitFor();
    await page.keyboard.press('Enter');  // an empty input: Enter searches
    const results = page.getByRole('list', { name: 'Results' });
    await assertCount(results.locator(':scope > li'), mine.length);
    assert.match(new URL(page.url()).hash, new RegExp(`productIds=${typed}`));
    await screenshot(page, 'keyboard.png', { docs: false });
    env.assertNoProblems(page);
  });

  test('served with the strict Content-Security-Policy, and nothing on the page breaks it',
    { timeout: 30000 }, async () => {
      const page = await env.open(null);
      const violations = [];
      await page.exposeFunction('reportViolation', (v) => violations.push(v));
      await page.addInitScript(() => document.addEventListener('securitypolicyviolation',
        (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI}`)));
      const answer = await page.goto('/');
      const csp = answer.headers()['content-security-policy'] || '';
      for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'",
        "connect-src 'self'", "frame-ancestors 'none'"]) {
        assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
      }
      // Every view once, so each view's rendering runs under the policy.
      const nav = page.getByRole('navigation', { name: 'Views' });
      for (const view of ['Push', 'Live', 'Overview', 'Analytics', 'Search']) {
        await nav.getByRole('link', { name: view }).click();
        await page.getByRole('heading', { name: view, level: 1 }).waitFor();
        assert.equal(await nav.getByRole('link', { name: view }).getAttribute('aria-current'),
          'page');
      }
      assert.deepEqual(violations, []);
      env.assertNoProblems(page);
    });
});

