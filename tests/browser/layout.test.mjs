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

  test('375 px wide: no horizontal overflow in any view', { timeout: 60000 }, async () => {
    await env.pemx.push(events);
    await env.pemx.waitStored([product], events.length);
    const page = await env.open(`/#/search?productIds=${product}`, { width: 375, height: 800 });
    await withScreenshot(page, 'phone.png', async () => {
      const results = page.getByRole('list', { name: 'Results' });
      await assertCount(results.locator(':scope > li'), events.length);
      // The longest content a result has: its raw JSON.
      await results.locator(':scope > li').first()
        .getByRole('button', { name: 'Show JSON' }).click();
      const nav = page.getByRole('navigation', { name: 'Views' });
      const views = [['Search', null], ['Push', 'Fill example'], ['Live', null],
        ['Overview', null]];
      for (const [view, button] of views) {
        await nav.getByRole('link', { name: view }).click();
        await page.getByRole('heading', { name: view, level: 1 }).waitFor();
        if (button) await page.getByRole('button', { name: button }).click();
        const { over, culprits } = await overflow(page);
        assert.equal(over, 0, `the ${view} view is ${over} px wider than the phone: ${culprits}`);
      }
      await nav.getByRole('link', { name: 'Search' }).click();
      await results.locator(':scope > li').first().waitFor();
      env.assertNoProblems(page);
    });
  });

  test('keyboard: Tab reaches Product IDs, Enter runs the search', { timeout: 60000 }, async () => {
    await env.pemx.waitStored([product], events.length);
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
    await page.keyboard.type(product);
    await page.keyboard.press('Enter');  // the text becomes a chip
    await page.getByRole('list', { name: 'Selected products' }).getByRole('listitem').first()
      .waitFor();
    await page.keyboard.press('Enter');  // an empty input: Enter searches
    const results = page.getByRole('list', { name: 'Results' });
    await assertCount(results.locator(':scope > li'), events.length);
    assert.match(new URL(page.url()).hash, new RegExp(`productIds=${product}`));
    await screenshot(page, 'keyboard.png', { docs: false });
    env.assertNoProblems(page);
  });
});
