// Bounded waits on what the page shows, for assertions that need a condition to settle.
import assert from 'node:assert/strict';

// Waits until the locator matches exactly n elements (bounded), then asserts it.
export async function assertCount(locator, n, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  let count = await locator.count();
  while (count !== n && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    count = await locator.count();
  }
  assert.equal(count, n, `expected ${n} elements for ${locator}`);
}

export async function assertHidden(locator, message, timeoutMs = 5000) {
  await locator.waitFor({ state: 'hidden', timeout: timeoutMs }).catch(() => {});
  assert.equal(await locator.isVisible(), false, message);
}

// The number a metric element shows ("1,234", "5.1", "–" for none): NaN when none.
export function metricNumber(text) {
  const cleaned = String(text ?? '').replace(/[,\s\u202f\u00a0]/g, '');
  return /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(cleaned) ? Number(cleaned) : NaN;
}

// The attribute `name` of each <li> child of a list, in order (data-event-id, data-created-at).
export async function itemAttributes(list, name) {
  return list.locator(':scope > li').evaluateAll(
    (items, attribute) => items.map((li) => li.getAttribute(attribute)), name);
}
