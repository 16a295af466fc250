// Push: the server's validation messages next to the right event, the client-side parse error
// (nothing sent), a valid push ("Pushed N events") whose events then show up in Search.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';

import { screenshot, withScreenshot } from './lib/browser.mjs';
import { newestFirst, priceUpdate, productId } from './lib/events.mjs';
import { assertCount, itemAttributes } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';
import { sourceDir, waitFor } from './lib/pemx.mjs';

// Counts the page's POST /event requests (the parse-error case must send none).
function countPosts(page) {
  const posts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/event') posts.push(r);
  });
  return posts;
}

describe('push', () => {
  const env = usePemx({ name: 'push' });

  test('invalid events: each server message next to its event; a JSON syntax error sends nothing',
    { timeout: 60000 }, async () => {
      const product = productId('BAD');
      const good = priceUpdate(product, 1);
      const badId = { ...priceUpdate(product, 2), eventId: 'not-a-uuid' };
      const { region, ...noRegion } = priceUpdate(product, 3);
      const badDate = { ...priceUpdate(product, 4), createdAt: 'yesterday' };

      const page = await env.open('/#/push');
      const posts = countPosts(page);
      const editor = page.getByLabel('Events JSON');

      // Client side first: not JSON -> role=alert with the parser's message, no request.
      await editor.fill('[{"eventId": "x",]');
      await page.getByRole('button', { name: 'Push events' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      const parseMessage = await alert.textContent();
      let nativeMessage;
      try {
        JSON.parse('[{"eventId": "x",]');
      } catch (e) {
        nativeMessage = e.message;
      }
      assert.match(parseMessage, /JSON/i, 'the alert says the text is not JSON');
      // Node and Chromium share V8, so the parser's message is the same words.
      assert.ok(parseMessage.includes(nativeMessage.split(' in JSON')[0]),
        `the alert carries JSON.parse's message (${nativeMessage}): ${parseMessage}`);
      assert.equal(posts.length, 0, 'nothing is sent for text that is not JSON');

      await withScreenshot(page, 'push-errors.png', async () => {
        await editor.fill(JSON.stringify([good, badId, noRegion, badDate], null, 2));
        await page.getByRole('button', { name: 'Push events' }).click();
        const errors = page.getByRole('list', { name: 'Validation errors' });
        await errors.waitFor();
        assert.equal(posts.length, 1);
        const answer = await posts[0].response();
        assert.equal(answer.status(), 400);

        const items = errors.locator(':scope > li');
        await assertCount(items, 3);
        assert.equal(await errors.locator(':scope > li[data-event-index="0"]').count(), 0,
          'the valid event has no entry');
        const one = errors.locator(':scope > li[data-event-index="1"]');
        const two = errors.locator(':scope > li[data-event-index="2"]');
        const three = errors.locator(':scope > li[data-event-index="3"]');
        const [oneText, twoText, threeText] = await Promise.all(
          [one, two, three].map((li) => li.textContent()));
        assert.match(oneText, /Event ID must be a valid UUID/);
        assert.match(oneText, /eventId/);
        assert.match(oneText, /not-a-uuid/, 'the entry names the event by its id');
        assert.doesNotMatch(oneText, /Region is required|Created at/);
        assert.match(twoText, /Region is required/);
        assert.match(twoText, /region/);
        assert.ok(twoText.includes(noRegion.eventId), 'the entry names the event by its id');
        assert.doesNotMatch(twoText, /valid UUID|Created at/);
        assert.match(threeText, /Created at must be a valid ISO 8601 date/);
        assert.match(threeText, /createdAt/);
        // "Show field" selects the value the message is about in the editor (from its path),
        // or, for a missing field, the event it is missing from.
        const selection = () => editor.evaluate(
          (el) => el.value.slice(el.selectionStart, el.selectionEnd));
        await three.getByRole('button', { name: 'Show createdAt of event 4 in the editor' }).click();
        assert.equal(await selection(), '"yesterday"');
        await two.getByRole('button', { name: 'Show region of event 3 in the editor' }).click();
        assert.deepEqual(JSON.parse(await selection()), noRegion);
        // The request was refused as a whole: not a single event was stored.
        assert.deepEqual(await env.pemx.history([product]), []);
      }, { fullPage: true });

      // A count error (path "events") goes in the entry for all events: for [] only the limit
      // rule of the reference's chain fails ("Zero events entered" is for no events at all).
      await editor.fill('[]');
      await page.getByRole('button', { name: 'Push events' }).click();
      const all = page.getByRole('list', { name: 'Validation errors' })
        .locator(':scope > li[data-event-index="all"]');
      await all.waitFor();
      assert.equal(posts.length, 2, 'the empty list is judged by the server');
      assert.match(await all.textContent(), /Events out of the limit, between 1 and 200 events/);
      env.assertNoProblems(page);
    });

  test('a valid push: "Pushed 3 events", then Search finds them', { timeout: 60000 }, async () => {
    const page = await env.open('/#/push');
    const editor = page.getByLabel('Events JSON');
    await page.getByRole('button', { name: 'Fill example' }).click();
    const example = JSON.parse(await editor.inputValue());
    const events = Array.isArray(example) ? example : example.events;
    assert.equal(events.length, 3, 'Fill example puts 3 events');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    for (const e of events) assert.match(e.eventId, uuid);

    const posts = countPosts(page);
    await page.getByRole('button', { name: 'Push events' }).click();
    await page.getByRole('status').filter({ hasText: 'Pushed 3 events' }).waitFor();
    // The count shown is the server's receipt, which the page asks for.
    assert.equal(posts.length, 1);
    assert.equal(posts[0].headers().prefer, 'return=representation');
    const answer = await posts[0].response();
    assert.equal(answer.headers()['preference-applied'], 'return=representation');
    assert.equal((await answer.json()).count, 3);
    await screenshot(page, 'push-ok.png');

    const products = [...new Set(events.map((e) => e.productId))];
    await page.getByRole('link', { name: 'Search these products' }).click();
    await page.getByRole('heading', { name: 'Search' }).waitFor();
    const chips = page.getByRole('list', { name: 'Selected products' }).getByRole('listitem');
    await assertCount(chips, products.length);
    // The search may run before the web role stored them (POST -> Kafka -> dist -> storage
    // topic -> SQLite); search again until all three are there.
    const results = page.getByRole('list', { name: 'Results' });
    await waitFor('the pushed events in the search results', async () => {
      if ((await results.locator(':scope > li').count()) === 3) return true;
      await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/event'),
        page.getByRole('button', { name: 'Search', exact: true }).click(),
      ]);
      return false;
    }, { timeoutMs: 30000, everyMs: 200 });
    const shown = await itemAttributes(results, 'data-event-id');
    assert.deepEqual(shown, newestFirst(events).map((e) => e.eventId));
    env.assertNoProblems(page);
  });

  test('more than 200 events: nothing sent, offered as several requests that all go through',
    { timeout: 60000 }, async () => {
      const product = productId('SPLIT');
      const events = [];
      for (let n = 0; n < 201; ++n) events.push(priceUpdate(product, n));
      const page = await env.open('/#/push');
      const posts = countPosts(page);
      // 40 KB of text: set at once (typing it through fill() takes longer than its timeout).
      await page.getByLabel('Events JSON').evaluate((el, text) => {
        el.value = text;
        el.dispatchEvent(new Event('input', { bubbles: true }));
      }, JSON.stringify(events, null, 2));
      await page.getByRole('button', { name: 'Push events' }).click();
      const alert = page.getByRole('alert');
      await alert.filter({ hasText: '201 events, and the server takes at most 200 per request' })
        .waitFor();
      assert.equal(posts.length, 0, 'nothing is sent before the user chooses');
      await alert.getByRole('button', { name: 'Push in 2 requests' }).click();
      await page.getByRole('status').filter({ hasText: 'Pushed 201 events in 2 requests' })
        .waitFor({ timeout: 30000 });
      assert.deepEqual(posts.map((p) => JSON.parse(p.postData()).events.length), [200, 1]);
      assert.equal((await env.pemx.waitStored([product], 201)).length, 201);
      env.assertNoProblems(page);
    });

  test('an event whose data the page does not know shows its raw fields', { timeout: 60000 },
    async () => {
      const product = productId('RAW');
      const odd = { ...priceUpdate(product, 1), data: { amount: 12.5, currency: 'EUR' } };
      await env.pemx.push([odd]);
      await env.pemx.waitStored([product], 1);
      const page = await env.open(`/#/search?productIds=${product}`);
      const item = page.getByRole('list', { name: 'Results' }).locator(':scope > li').first();
      await item.waitFor();
      const fields = item.locator('dl.raw-fields');
      assert.deepEqual(await fields.locator('dt').allTextContents(), ['amount', 'currency']);
      assert.deepEqual(await fields.locator('dd').allTextContents(), ['12.5', 'EUR']);
      assert.doesNotMatch(await item.textContent(), /\?\s*→\s*\?/, 'no empty price change');
      env.assertNoProblems(page);
    });

  // The server answers 503 when Kafka did not acknowledge in time (docs/openapi.json); the
  // browser is made to see that answer, as a broker outage would be slow to provoke.
  test('503: the page says to retry; the same events then go through', { timeout: 60000 },
    async () => {
      const page = await env.open('/#/push');
      const posts = countPosts(page);
      let refuse = true;
      await page.route('**/event', (route) => (refuse && route.request().method() === 'POST'
        ? route.fulfill({ status: 503, contentType: 'application/json',
          body: JSON.stringify({ error: 'Kafka did not acknowledge the events in time' }) })
        : route.continue()));
      await page.getByRole('button', { name: 'Fill example' }).click();
      await page.getByRole('button', { name: 'Push events' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.textContent(), /retry/i);
      assert.equal(await page.getByRole('status').filter({ hasText: /Pushed/ }).count(), 0);

      refuse = false;
      await page.getByRole('button', { name: 'Push events' }).click();
      await page.getByRole('status').filter({ hasText: 'Pushed 3 events' }).waitFor();
      assert.equal(posts.length, 2);
      env.assertNoProblems(page);
    });
});

describe('push to a server that guards writes', () => {
  // A token in a file of this run (write_tokens_file), at least 16 characters.
  const token = randomBytes(16).toString('hex');
  const tokens = join(mkdtempSync(join(tmpdir(), 'pemx-browser-token-')), 'tokens');
  writeFileSync(tokens, `# browser test\n${token}\n`);
  const env = usePemx({ name: 'push-token',
    extraArgs: ['--set', `stages.http.write_tokens_file=${tokens}`] });
  after(() => rmSync(dirname(tokens), { recursive: true, force: true }));

  test('401 asks for the token; saved in the dialog, it is sent and the push succeeds',
    { timeout: 60000 }, async () => {
      const page = await env.open('/#/push');
      const posts = countPosts(page);
      await page.getByRole('button', { name: 'Fill example' }).click();
      await page.getByRole('button', { name: 'Push events' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      assert.equal((await posts[0].response()).status(), 401);
      assert.match(await page.getByRole('alert').textContent(), /token/i);

      await dialog.getByLabel('Bearer token').fill(token);
      await dialog.getByRole('button', { name: 'Save' }).click();
      await dialog.waitFor({ state: 'hidden' });
      await page.getByRole('button', { name: 'Push events' }).click();
      await page.getByRole('status').filter({ hasText: 'Pushed 3 events' }).waitFor();
      assert.equal(posts.length, 2);
      assert.equal(await posts[1].headerValue('authorization'), `Bearer ${token}`);
      // The token is kept for the tab (sessionStorage), and only there.
      assert.ok(await page.evaluate((t) => Object.values(sessionStorage).includes(t), token));
      assert.equal(await page.evaluate(() => localStorage.length), 0);
      env.assertNoProblems(page);
    });
});

describe('push to a server with event schemas', () => {
  const env = usePemx({ name: 'push-schemas',
    extraArgs: ['--set',
      `schemas.ProductPriceUpdate=${join(sourceDir, 'schemas', 'product-price-update.json')}`] });

  test('the types with a schema are listed under Push; a failing event names the pointer',
    { timeout: 60000 }, async () => {
      const page = await env.open('/#/push');
      const section = page.getByRole('region', { name: 'Event schemas' });
      await section.waitFor();
      const link = section.getByRole('link', { name: 'ProductPriceUpdate' });
      assert.equal(await link.getAttribute('href'), 'api/schemas/ProductPriceUpdate');

      const bad = priceUpdate(productId('SCHEMA'), 1);
      bad.data = { ...bad.data, newPrice: -1 };
      await page.getByLabel('Events JSON').fill(JSON.stringify([bad], null, 2));
      await page.getByRole('button', { name: 'Push events' }).click();
      await page.locator('li[data-event-index="0"]')
        .filter({ hasText: '/events/0/data/newPrice: must be ≥ 0' }).waitFor();
      // The server's JSON pointer leads to the value in the editor.
      await page.getByRole('button', { name: /^Show .* of event 1 in the editor$/ }).first()
        .click();
      assert.equal(await page.getByLabel('Events JSON').evaluate(
        (el) => el.value.slice(el.selectionStart, el.selectionEnd)), '-1');
      env.assertNoProblems(page);
    });
});
