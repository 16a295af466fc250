// Lineage: an event's "Lineage" link in Search opens the Lineage view, which shows where the
// event came from (its source message), each output it was routed to, and its stored row.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { priceUpdate, productId } from './lib/events.mjs';
import { assertCount } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';

describe('lineage', () => {
  const env = usePemx({ name: 'lineage' });
  const a = productId('LINA');
  const event = priceUpdate(a, 1);

  before(async () => {
    await env.pemx.push([event]);
    await env.pemx.waitStored([a], 1);
  }, { timeout: 40000 });

  test('the Lineage link of a searched event shows its source, outputs and row',
    { timeout: 60000 }, async () => {
      const page = await env.open(`/#/search?productIds=${a}`);
      const results = page.getByRole('list', { name: 'Results' });
      await assertCount(results.locator(':scope > li'), 1);
      await results.getByRole('link', { name: 'Lineage' }).click();
      await page.getByRole('heading', { name: 'Lineage', level: 1 }).waitFor();
      assert.match(decodeURIComponent(new URL(page.url()).hash), new RegExp(event.eventId));
      const steps = page.getByRole('list', { name: 'Lineage' });
      await steps.locator('[data-step="row"]').waitFor({ timeout: 20000 });
      assert.match(await steps.locator('[data-step="source"]').textContent(),
        /product-event \[\d+\] @ \d+/, 'the source message: topic [partition] @ offset');
      // The price rule's topic and the storage topic, both found.
      const outputs = steps.locator('[data-step="output"]');
      await assertCount(outputs, 2);
      assert.match(await outputs.allTextContents().then((t) => t.join('\n')),
        /product-price-update-v1-EU \[\d+\] @ \d+/);
      assert.equal(await steps.locator('[data-step="missing"]').count(), 0);
      assert.match(await page.getByRole('status').filter({ hasText: 'Lineage of' }).textContent(),
        new RegExp(event.eventId));
      env.assertNoProblems(page);
    });
});
