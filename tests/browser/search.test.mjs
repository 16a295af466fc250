// Search: chips, the history newest first, paging with "Load more", the query in the URL.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { withScreenshot } from './lib/browser.mjs';
import { countryChange, discountUpdate, newestFirst, priceUpdate, productId }
  from './lib/events.mjs';
import { assertCount, assertHidden, itemAttributes } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';

describe('search', () => {
  const env = usePemx({ name: 'search' });
  const a = productId('SRCHA');
  const b = productId('SRCHB');
  const other = productId('SRCHX');  // never searched for: must not show up
  // 58 events of two products, distinct createdAt (one minute apart, from n), pushed out of
  // order: 50 price updates of a (n = 0..49), then b's country and discount updates (50..57).
  const events = [];
  for (let n = 0; n < 50; ++n) events.push(priceUpdate(a, n));
  for (let n = 50; n < 58; n += 2) events.push(countryChange(b, n), discountUpdate(b, n + 1));
  const expected = newestFirst(events);
  const ofB = expected.filter((e) => e.productId === b);

  before(async () => {
    await env.pemx.push([...events].sort((x, y) => (x.eventId < y.eventId ? -1 : 1)));
    await env.pemx.push([priceUpdate(other, 1000)]);
    await env.pemx.waitStored([a, b, other], events.length + 1);
  }, { timeout: 40000 });

  test('shows pushed events newest first, pages with Load more, keeps the query in the URL',
    { timeout: 60000 }, async () => {
      const page = await env.open('/');
      await withScreenshot(page, 'search.png', async () => {
        const input = page.getByLabel('Product IDs');
        await input.fill(a);
        await input.press('Enter');
        await input.fill(b);
        await input.press(',');
        const chips = page.getByRole('list', { name: 'Selected products' }).getByRole('listitem');
        await assertCount(chips, 2);
        const [request] = await Promise.all([
          page.waitForRequest((r) => new URL(r.url()).pathname === '/event'),
          page.getByRole('button', { name: 'Search', exact: true }).click(),
        ]);
        // The page's page size (web/search.js asks for 50): fewer than the 58 events, so a
        // second page is needed.
        const limit = Number(new URL(request.url()).searchParams.get('limit'));
        assert.ok(limit > 0 && limit < events.length,
          `the page asks for a page smaller than ${events.length} events (limit=${limit})`);

        const results = page.getByRole('list', { name: 'Results' });
        await assertCount(results.locator(':scope > li'), limit);
        const first = await itemAttributes(results, 'data-created-at');
        assert.deepEqual(first.map(Date.parse),
          expected.slice(0, limit).map((e) => Date.parse(e.createdAt)),
          `the first page is the ${limit} newest events, newest first`);
        await page.getByRole('status').filter({ hasText: `${limit} events` }).waitFor();
        assert.match(new URL(page.url()).hash, new RegExp(`productIds=${a},${b}`));

        const more = page.getByRole('button', { name: 'Load more' });
        await more.click();
        await assertCount(results.locator(':scope > li'), events.length);
        const all = await itemAttributes(results, 'data-created-at');
        assert.deepEqual(all.map(Date.parse), expected.map((e) => Date.parse(e.createdAt)),
          'after Load more: every event once, newest first');
        const ids = await itemAttributes(results, 'data-event-id');
        assert.deepEqual(ids, expected.map((e) => e.eventId));
        await assertHidden(more, 'Load more disappears on the last page');
        await page.getByRole('status').filter({ hasText: `${events.length} events` }).waitFor();

        // The summaries: a price update old -> new with the change, absolute and in % (a's
        // newest: 139 -> 149, +10, +7.2 %); a discount old -> new (b's newest: 10 % -> 15 %).
        const newest = results.locator(':scope > li').filter({ hasText: a }).first();
        const priced = expected.find((e) => e.productId === a);
        const summary = await newest.textContent();
        assert.match(summary, /139(\.0+)?\D+149(\.0+)?/, `old -> new price: ${summary}`);
        assert.match(summary, /\+\s?10(\.0+)?\b/, `the change: ${summary}`);
        assert.match(summary, /7\.19?\s?%|7\.2\s?%/, `the change in %: ${summary}`);
        const discount = await results.locator(':scope > li').first().textContent();
        assert.match(discount, /10\s?%\D+15\s?%/, `old -> new discount: ${discount}`);
        // Show JSON opens the raw event.
        await newest.getByRole('button', { name: 'Show JSON' }).click();
        const raw = JSON.parse(await newest.locator('pre').textContent());
        assert.equal(raw.eventId, priced.eventId);

        // Back to the top for the screenshot: the form and the newest few.
        await page.evaluate(() => window.scrollTo(0, 0));
        env.assertNoProblems(page);
      });
    });

  test('first look: the recently stored products, each id a link to its history, another '
    + 'spelling named', { timeout: 60000 }, async () => {
    const page = await env.open('/');
    // An empty Search offers the most recently stored products (GET /api/products/recent).
    const recent = page.getByRole('list', { name: 'Recently stored products' });
    for (const id of [a, b, other]) {
      await recent.getByRole('link', { name: id, exact: true }).waitFor();
    }
    const newest = await recent.getByRole('link').first().textContent();
    assert.equal(await page.getByLabel('Product IDs').getAttribute('placeholder'),
      `e.g. ${newest}`, 'the placeholder is the most recently stored product');
    await recent.getByRole('link', { name: b, exact: true }).click();
    const results = page.getByRole('list', { name: 'Results' });
    await assertCount(results.locator(':scope > li'), ofB.length);
    assert.match(new URL(page.url()).hash, new RegExp(`productIds=${b}$`));
    assert.equal(await recent.isVisible(), false, 'the list goes once a search is on screen');
    // Every product id in the history is a link to that product's history.
    const links = results.getByRole('link', { name: b, exact: true });
    assert.equal(await links.count(), ofB.length);
    assert.equal(await links.first().getAttribute('href'), `#/search?productIds=${b}`);

    // An id that differs from a stored one only in case: "No events", and the stored spelling.
    const lower = a.toLowerCase();
    await page.goto(`/#/search?productIds=${lower}`);
    await page.getByRole('status').filter({ hasText: 'No events' }).waitFor();
    const suggest = page.locator('#search-suggest');
    await suggest.filter({ hasText: `No events for ${lower}; did you mean ${a}?` }).waitFor();
    await suggest.getByRole('link', { name: a, exact: true }).click();
    await assertCount(results.locator(':scope > li'), 50);
    assert.equal(await suggest.isVisible(), false);
    env.assertNoProblems(page);
  });

  test('a long history: its total, the latest state, Load all in one click, the compact table',
    { timeout: 90000 }, async () => {
      // 600 events of one product, in three pushes (200 each, the push's limit): price (n % 3
      // = 0), country (1) and discount (2) updates. Newest: price n = 597 (697), country n =
      // 598 ("C598"), discount n = 599 (15 %).
      const long = productId('LONG');
      const history = [];
      for (let n = 0; n < 600; ++n) {
        history.push(n % 3 === 0 ? priceUpdate(long, n)
          : n % 3 === 1 ? countryChange(long, n, `C${n}`) : discountUpdate(long, n));
      }
      for (let i = 0; i < history.length; i += 200) await env.pemx.push(history.slice(i, i + 200));
      await env.pemx.waitStored([long], history.length);
      const newest = newestFirst(history);

      const page = await env.open(`/#/search?productIds=${long}`);
      const results = page.getByRole('list', { name: 'Results' });
      await assertCount(results.locator(':scope > li'), 50);
      // The total (GET /api/events/count) next to what is on screen.
      await page.getByRole('status').filter({ hasText: '50 events of 600' }).waitFor();
      // The latest state: the newest event of each type, at the top.
      const latest = page.getByRole('region', { name: 'Latest state' });
      await latest.getByText('C598').waitFor();
      const state = await latest.textContent();
      assert.match(state, /Price\s*697(\.0+)?/, `the newest price: ${state}`);
      assert.match(state, /Discount\s*15\s?%/, `the newest discount: ${state}`);

      // One click loads the other 550, in one request.
      const pages = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/event') pages.push(r.url());
      });
      await page.getByRole('button', { name: 'Load all 600' }).click();
      await assertCount(results.locator(':scope > li'), history.length, 20000);
      await page.getByRole('status').filter({ hasText: '600 events' }).waitFor();
      assert.equal(pages.length, 1, `one request for the rest: ${pages.join(' ')}`);
      assert.deepEqual(await itemAttributes(results, 'data-event-id'),
        newest.map((e) => e.eventId));
      await assertHidden(page.getByRole('button', { name: /^Load/ }).first(),
        'no more pages to load');

      // The compact table: one row per event, same order; the toggle says it is on.
      const toggle = page.getByRole('button', { name: 'Compact table' });
      await toggle.click();
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
      const table = page.getByRole('table', { name: 'Results' });
      const rows = table.locator('tbody > tr');
      await assertCount(rows, history.length);
      assert.equal(await rows.first().getAttribute('data-event-id'), newest[0].eventId);
      assert.match(await rows.first().textContent(), new RegExp(long));
      await assertHidden(results, 'the timeline is hidden while the table shows');
      await toggle.click();
      await assertCount(results.locator(':scope > li'), history.length);
      env.assertNoProblems(page);
    });

  test('filters: the URL runs its search; event type; From in local time is sent as UTC',
    { timeout: 60000 }, async () => {
      // Loading a shared URL runs its search.
      const shared = await env.open(`/#/search?productIds=${b}`);
      const sharedList = shared.getByRole('list', { name: 'Results' });
      await assertCount(sharedList.locator(':scope > li'), ofB.length);
      assert.deepEqual(await itemAttributes(sharedList, 'data-event-id'),
        ofB.map((e) => e.eventId));

      // Stockholm is UTC+2 in July: 10:53:30 there is 08:53:30Z, after b's n = 53.
      const page = await env.open(`/#/search?productIds=${b}`, { timezoneId: 'Europe/Stockholm' });
      const results = page.getByRole('list', { name: 'Results' });
      await assertCount(results.locator(':scope > li'), ofB.length);
      await page.getByLabel('Event type').selectOption('Country');
      await page.getByRole('textbox', { name: 'From' }).fill('2024-07-26T10:53:30');
      const [request] = await Promise.all([
        page.waitForRequest((r) => new URL(r.url()).pathname === '/event'),
        page.getByRole('button', { name: 'Search', exact: true }).click(),
      ]);
      const query = new URL(request.url()).searchParams;
      assert.equal(query.get('eventType'), 'Country');
      assert.equal(Date.parse(query.get('from')), Date.parse('2024-07-26T08:53:30Z'),
        `From is local time, sent as UTC: ${query.get('from')}`);
      const wanted = ofB.filter((e) => e.eventType === 'Country' &&
        Date.parse(e.createdAt) >= Date.parse('2024-07-26T08:53:30Z'));
      assert.equal(wanted.length, 2);
      await assertCount(results.locator(':scope > li'), wanted.length);
      assert.deepEqual(await itemAttributes(results, 'data-event-id'),
        wanted.map((e) => e.eventId));
      assert.match(new URL(page.url()).hash, /eventType=Country/);
      assert.match(new URL(page.url()).hash, /from=/);
      env.assertNoProblems(shared);
      env.assertNoProblems(page);
    });

  test('chips: a pasted list, Backspace, the Remove buttons', { timeout: 30000 }, async () => {
    const page = await env.open('/');
    const input = page.getByLabel('Product IDs');
    const chips = page.getByRole('list', { name: 'Selected products' }).getByRole('listitem');
    await input.focus();
    await input.evaluate((el) => {
      const data = new DataTransfer();
      data.setData('text/plain', 'AAA1,BBB2,CCC3');
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true,
        cancelable: true }));
    });
    await assertCount(chips, 3);
    const labels = (await chips.allTextContents()).map((t) => t.replace(/×/g, '').trim());
    assert.deepEqual(labels, ['AAA1', 'BBB2', 'CCC3']);
    await input.press('Backspace');
    await assertCount(chips, 2);
    await page.getByRole('button', { name: 'Remove AAA1' }).click();
    await assertCount(chips, 1);
    assert.match(await chips.first().textContent(), /BBB2/);
    env.assertNoProblems(page);
  });

  test('an unknown product: "No events"', { timeout: 30000 }, async () => {
    const page = await env.open(`/#/search?productIds=${productId('NONE')}`);
    await page.getByRole('status').filter({ hasText: 'No events' }).waitFor();
    const results = page.getByRole('list', { name: 'Results' });
    assert.equal(await results.locator(':scope > li').count(), 0);
    env.assertNoProblems(page);
  });
});
