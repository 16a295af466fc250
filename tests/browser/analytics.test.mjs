// Analytics: events pushed into a fixed hour, stored, then the Analytics view (reached from the
// nav) shows them per type and region, the product that changes most as a link to its history,
// and the price and discount change histograms; it fits a phone without horizontal scrolling.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { withScreenshot } from './lib/browser.mjs';
import { countryChange, discountUpdate, priceUpdate, productId } from './lib/events.mjs';
import { assertCount } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';

describe('analytics', () => {
  const env = usePemx({ name: 'analytics' });
  const busy = productId('ANB');
  const quiet = productId('ANQ');
  // 2024-07-26 08:01..08:05 UTC (lib/events.mjs's createdAt): 3 price updates (EU, +10..11 %),
  // one discount update (US, +5 points) and one country change (EU).
  const events = [priceUpdate(busy, 1), priceUpdate(busy, 2), priceUpdate(busy, 3),
    discountUpdate(busy, 4), countryChange(quiet, 5)];
  const window = 'from=2024-07-26T08:00:00.000Z&to=2024-07-26T09:00:00.000Z&bucket=5m';

  before(async () => {
    await env.pemx.push(events);
    await env.pemx.waitStored([busy, quiet], events.length);
  }, { timeout: 40000 });

  test('counts per type and region, top products linked, change histograms',
    { timeout: 60000 }, async () => {
      const page = await env.open('/');
      const nav = page.getByRole('navigation', { name: 'Views' });
      await nav.getByRole('link', { name: 'Analytics' }).click();
      await page.getByRole('heading', { name: 'Analytics', level: 1 }).waitFor();
      assert.equal(await nav.getByRole('link', { name: 'Analytics' }).getAttribute('aria-current'),
        'page');
      await withScreenshot(page, 'analytics.png', async () => {
        await page.goto(`/#/analytics?${window}`);
        // (The view first showed the last 24 hours: no events; then this window's five.)
        await page.getByRole('status').filter({ hasText: /^5 events from/ })
          .waitFor({ timeout: 20000 });
        // The form shows the window it was opened with.
        assert.equal(await page.getByLabel('Bucket').inputValue(), '5m');

        const perSeries = page.getByRole('table', { name: 'Events per type and region in the window' });
        const rows = perSeries.locator('tbody > tr');
        await assertCount(rows, 3);
        const cells = await rows.evaluateAll((trs) => trs.map(
          (tr) => [...tr.cells].slice(0, 3).map((c) => c.textContent.trim()).join(' ')));
        assert.deepEqual(cells, ['ProductPriceUpdate EU 3', 'Country EU 1',
          'SpecificProductDiscountUpdate US 1']);
        const chart = page.getByRole('img', { name: /^Events per 5m by type and region: 5 events/ });
        assert.equal(await chart.locator('path.series').count(), 3);

        const top = page.getByRole('table', { name: 'Products that change most' });
        const topRows = top.locator('tbody > tr');
        await assertCount(topRows, 2);
        const firstRow = await topRows.first().evaluate(
          (tr) => [...tr.cells].map((c) => c.textContent.trim()).join(' '));
        assert.equal(firstRow, `${busy} 4`);

        const price = page.getByRole('img', { name: /^Price changes: 3 changes \(percent\); most often 10% to 20%/ });
        assert.equal(await price.locator('rect.abar').count(), 1);
        const discount = page.getByRole('img', { name: /^Discount changes: 1 changes \(percentage points\); most often 0 pt to 10 pt/ });
        assert.equal(await discount.locator('rect.abar').count(), 1);
      });
      // Every product id links to its history.
      const top = page.getByRole('table', { name: 'Products that change most' });
      await top.getByRole('link', { name: busy }).click();
      await page.getByRole('heading', { name: 'Search', level: 1 }).waitFor();
      assert.match(decodeURIComponent(new URL(page.url()).hash), new RegExp(`productIds=${busy}`));
      env.assertNoProblems(page);
    });

  test('a bad window says why; a phone-width screen does not scroll sideways',
    { timeout: 60000 }, async () => {
      const page = await env.open(`/#/analytics?${window}`, { width: 375, height: 800 });
      await page.getByRole('status').filter({ hasText: /^5 events from/ })
        .waitFor({ timeout: 20000 });
      const over = await page.evaluate(() => Math.max(document.documentElement.scrollWidth,
        document.body.scrollWidth) - document.documentElement.clientWidth);
      assert.equal(over, 0, `the Analytics view is ${over} px wider than the phone`);

      // 1 minute buckets over a week are more than the server draws: its message, no chart.
      await page.locator('#analytics-from').fill('2024-07-01T00:00');
      await page.locator('#analytics-to').fill('2024-07-08T00:00');
      await page.getByLabel('Bucket').selectOption('1m');
      await page.getByRole('button', { name: 'Show', exact: true }).click();
      await page.getByRole('status').filter({ hasText: /more than 500 buckets/ })
        .waitFor({ timeout: 20000 });
      assert.equal(await page.getByRole('table', { name: 'Products that change most' }).isVisible(),
        false);
      env.assertNoProblems(page);
    });
});
