// Live: events pushed while the page is on #/live appear, newest on top; Pause counts new
// events without inserting them, Resume inserts them; the Filter narrows the list.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { withScreenshot } from './lib/browser.mjs';
import { countryChange, discountUpdate, priceUpdate, productId } from './lib/events.mjs';
import { assertCount, itemAttributes, metricNumber } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';
import { waitFor } from './lib/pemx.mjs';

describe('live', () => {
  const env = usePemx({ name: 'live' });

  test('pushed events arrive in the live list, newest on top; Pause and Resume',
    { timeout: 60000 }, async () => {
      const page = await env.open('/#/live');
      await page.getByRole('heading', { name: 'Live' }).waitFor();
      await page.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();

      await withScreenshot(page, 'live.png', async () => {
        // One product: one partition, so the events are stored (and streamed) in push order.
        const product = productId('LIVE');
        const first = [priceUpdate(product, 1), countryChange(product, 2),
          discountUpdate(product, 3)];
        await env.pemx.push(first);
        const list = page.getByRole('list', { name: 'Live events' });
        await assertCount(list.locator(':scope > li'), 3, 30000);
        assert.deepEqual(await itemAttributes(list, 'data-event-id'),
          first.map((e) => e.eventId).reverse(), 'newest on top');
        await list.locator(`:scope > li[data-event-id="${first[2].eventId}"]`)
          .getByText(product).first().waitFor();

        // Paused: counted, not inserted.
        const pause = page.getByRole('button', { name: 'Pause' });
        await pause.click();
        await page.getByRole('button', { name: 'Resume' }).waitFor();
        const second = [priceUpdate(product, 4), priceUpdate(product, 5)];
        await env.pemx.push(second);
        await page.getByText('2 new').waitFor({ timeout: 30000 });
        assert.equal(await list.locator(':scope > li').count(), 3, 'nothing inserted while paused');
        await page.getByRole('button', { name: 'Resume' }).click();
        await assertCount(list.locator(':scope > li'), 5);
        assert.deepEqual(await itemAttributes(list, 'data-event-id'),
          [...first, ...second].map((e) => e.eventId).reverse());

        // Filter by event type, client-side.
        const filter = page.getByLabel('Filter');
        await filter.fill('Country');
        await assertCount(list.locator(':scope > li:visible'), 1);
        assert.equal(await list.locator(':scope > li:visible').getAttribute('data-event-id'),
          first[1].eventId);
        await filter.fill('');
        await assertCount(list.locator(':scope > li:visible'), 5);
        env.assertNoProblems(page);
      });
    });

  test('the list is bounded: 210 events keep the newest 200', { timeout: 60000 }, async () => {
    const page = await env.open('/#/live');
    await page.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
    const product = productId('MANY');
    const events = Array.from({ length: 210 }, (_, n) => priceUpdate(product, n));
    await env.pemx.push(events.slice(0, 200));
    await env.pemx.push(events.slice(200));
    const list = page.getByRole('list', { name: 'Live events' });
    await list.locator(`:scope > li[data-event-id="${events[209].eventId}"]`)
      .waitFor({ timeout: 30000 });
    await assertCount(list.locator(':scope > li'), 200);
    const ids = await itemAttributes(list, 'data-event-id');
    assert.deepEqual(ids, events.slice(10).map((e) => e.eventId).reverse(),
      'the newest 200, newest on top');
    env.assertNoProblems(page);
  });

  test('at real rates: the rate, what was dropped, compact rows, paused while scrolled down',
    { timeout: 90000 }, async () => {
      const page = await env.open('/#/live');
      await page.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
      const list = page.getByRole('list', { name: 'Live events' });
      const product = productId('RATE');
      // Paused, 205 arrive: the newest 200 are kept for Resume, 5 are dropped and counted.
      await page.getByRole('button', { name: 'Pause' }).click();
      const events = Array.from({ length: 205 }, (_, n) => priceUpdate(product, n));
      await env.pemx.push(events.slice(0, 200));
      await env.pemx.push(events.slice(200));
      await page.getByText('205 new').waitFor({ timeout: 30000 });
      assert.equal((await page.locator('#live-dropped').textContent()).trim(), '5');
      // The rate counts whole seconds (refreshed each second): > 0 once one has passed.
      await waitFor('a rate over the last seconds', async () =>
        metricNumber(await page.locator('#live-rate').textContent()) > 0,
      { timeoutMs: 10000, everyMs: 200 });
      await page.getByRole('button', { name: 'Resume' }).click();
      await assertCount(list.locator(':scope > li'), 200);

      // Compact rows: one line each, the summary left out.
      const compact = page.getByRole('button', { name: 'Compact rows' });
      await compact.click();
      assert.equal(await compact.getAttribute('aria-pressed'), 'true');
      assert.equal(await list.locator(':scope > li .event-summary').first().isVisible(), false);
      await compact.click();

      // Scrolled down into the list: paused, counting; back at the top: resumed.
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.getByRole('button', { name: 'Resume' }).waitFor();
      const late = priceUpdate(product, 300);
      await env.pemx.push([late]);
      await page.getByText('1 new').waitFor({ timeout: 30000 });
      assert.notEqual(await list.locator(':scope > li').first().getAttribute('data-event-id'),
        late.eventId, 'nothing inserted while scrolled down');
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.getByRole('button', { name: 'Pause' }).waitFor();
      await list.locator(':scope > li').first().and(
        list.locator(`:scope > li[data-event-id="${late.eventId}"]`)).waitFor();
      env.assertNoProblems(page);
    });

  test('Source "routed": events arrive with the topics they were sent to', { timeout: 60000 },
    async () => {
      const page = await env.open('/#/live');
      await page.getByRole('status').filter({ hasText: /^Connected/ }).waitFor();
      // Connected to the routed stream once its answer's headers are in.
      await Promise.all([
        page.waitForResponse((r) => r.url().includes('/api/live') &&
          new URL(r.url()).searchParams.get('kind') === 'routed' && r.status() === 200),
        page.getByLabel('Source').selectOption('routed'),
      ]);
      const product = productId('ROUTE');
      const event = priceUpdate(product, 1, { region: 'US' });
      await env.pemx.push([event]);
      const item = page.getByRole('list', { name: 'Live events' })
        .locator(`:scope > li[data-event-id="${event.eventId}"]`);
      await item.waitFor({ timeout: 30000 });
      const text = await item.textContent();
      assert.match(text, /routed/);
      for (const topic of ['product-price-update-v1-US', 'product-event-storage-pemx']) {
        assert.ok(text.includes(`${env.pemx.prefix}-${topic}`), `${topic} is shown: ${text}`);
      }
      env.assertNoProblems(page);
    });
});
