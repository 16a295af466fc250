// Overview: while events flow (`pemx simulate --rate 50` into this pemx's input topic), the
// page shows a non-zero consumed rate, stored events, rows in the Topics table, the chart,
// a dead letter in the latest ones, and counters that move without a reload.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { screenshot, withScreenshot } from './lib/browser.mjs';
import { countryChange, priceUpdate, productId } from './lib/events.mjs';
import { metricNumber } from './lib/expect.mjs';
import { usePemx } from './lib/fixture.mjs';
import { binary, brokers, Hopeless, http, sourceDir, waitFor } from './lib/pemx.mjs';

// Where the events come from: `pemx simulate` when this binary has it, else the demo role's
// simulator stage when the config has that role, else the test pushes them itself.
function eventSource() {
  const help = spawnSync(binary(), ['simulate', '--help'], { encoding: 'utf8', timeout: 10000 });
  if (help.status === 0) return 'simulate';
  const config = readFileSync(join(sourceDir, 'pemx.toml'), 'utf8');
  if (/^\s*demo\s*=/m.test(config)) return 'demo';
  return 'push';
}

const source = eventSource();

describe(`overview (events from: ${source})`, () => {
  // The push applies the router's decision (a dead letter is a 400); this test needs a dead
  // letter through the push, so its pemx leaves that check out (route_check = "").
  const env = usePemx({ name: 'overview', role: source === 'demo' ? 'demo' : 'all',
    extraArgs: ['--set', 'stages.http.route_check=""'] });

  test('non-zero rates, topics and the chart while the simulator runs', { timeout: 120000 },
    async (t) => {
      let stopPushing = () => {};
      let simulator = null;
      if (source === 'simulate') {
        simulator = env.pemx.spawnHelper(['simulate', ...env.pemx.configArgs(), '--rate', '50',
          '--duration', '60s'], 'simulate.log');
      } else if (source === 'push') {
        t.diagnostic('no `pemx simulate` and no demo role: the test pushes 50 events/s itself');
        stopPushing = pushSteadily(env.pemx, 50);
      }
      const page = await env.open('/#/overview');
      try {
        await withScreenshot(page, 'overview.png', async () => {
          await page.getByRole('heading', { name: 'Overview' }).waitFor();
          const consumedRate = page.locator('[data-metric="consumed-rate"]');
          // Rates are averaged over ~10 s and the page refreshes every 2 s.
          await waitFor('a consumed rate > 0 on the page', async () => {
            if (simulator && simulator.exitCode !== null && simulator.exitCode !== 0) {
              throw new Hopeless(`pemx simulate exited ${simulator.exitCode}: ` +
                readFileSync(join(env.pemx.dir, 'simulate.log'), 'utf8').slice(-1500));
            }
            return metricNumber(await consumedRate.textContent()) > 0;
          }, { timeoutMs: 30000, everyMs: 250 });
          await waitFor('stored > 0 and a stored rate > 0 on the page', async () =>
            metricNumber(await page.locator('[data-metric="stored"]').textContent()) > 0 &&
            metricNumber(await page.locator('[data-metric="stored-rate"]').textContent()) > 0,
          { timeoutMs: 30000, everyMs: 250 });

          const topics = page.getByRole('table', { name: 'Topics' });
          const rows = topics.locator('tbody > tr');
          await waitFor('rows in the Topics table', async () => (await rows.count()) > 0,
            { timeoutMs: 20000 });
          const names = await rows.evaluateAll(
            (trs) => trs.map((tr) => tr.cells[0].textContent.trim()));
          assert.ok(names.every((n) => n.startsWith(env.pemx.prefix)),
            `every routed topic is one of this run's (${env.pemx.prefix}-*): ${names}`);
          assert.ok(names.some((n) => n.includes('product-event-storage-pemx')),
            `the storage topic is listed: ${names}`);
          const rates = await rows.evaluateAll((trs) => trs.map((tr) => tr.cells[2].textContent));
          assert.ok(rates.some((r) => metricNumber(r) > 0), `some topic has a rate > 0: ${rates}`);

          // Lag per partition: each of the three partitions of this run's input topic (the
          // broker's num.partitions) and of its storage topic, with its committed offset, high
          // watermark and lag, which add up.
          const lagRows = page.getByRole('table', { name: 'Lag per partition' })
            .locator('tbody > tr');
          const lagCells = () => lagRows.evaluateAll((trs) => trs.map(
            (tr) => [...tr.cells].map((c) => c.textContent.trim())));
          const inputTopic = `${env.pemx.prefix}-product-event`;
          const storageTopic = `${env.pemx.prefix}-product-event-storage-pemx`;
          let lag = [];
          await waitFor('the partitions of the input and storage topics with their offsets',
            async () => {
              lag = await lagCells();
              const known = lag.filter((c) => c[3] !== '–' && c[4] !== '–');
              return known.filter((c) => c[0] === 'dist_ingest' && c[1] === inputTopic).length === 3
                && known.filter((c) => c[0] === 'store_ingest' && c[1] === storageTopic).length === 3;
            }, { timeoutMs: 30000, everyMs: 250 });
          assert.deepEqual(lag.filter((c) => c[1] === inputTopic).map((c) => c[2]).sort(),
            ['0', '1', '2']);
          for (const [stage, topic, partition, committed, high, behind] of lag) {
            if (committed === '–') continue;
            assert.equal(metricNumber(committed) + metricNumber(behind), metricNumber(high),
              `${stage} ${topic} [${partition}]: committed ${committed} + lag ${behind} = ${high}`);
          }
          assert.ok(await page.locator('#partitions-empty').isHidden());

          const chart = page.getByRole('img', { name: 'Events per second over the last minutes' });
          await chart.waitFor();
          await waitFor('the chart to draw a series', async () =>
            (await chart.locator('path, polyline').count()) > 0, { timeoutMs: 15000 });
          // A dead letter: valid for the reference's rules, but "New Zealand" makes an illegal
          // topic name (the push's router check is off here, see usePemx above).
          const dead = countryChange(productId('DEAD'), 1, 'New Zealand');
          await env.pemx.push([dead]);
          const deadList = page.getByRole('list', { name: 'Latest dead letters' });
          await deadList.locator(':scope > li').filter({ hasText: dead.eventId }).waitFor(
            { timeout: 20000 });
          await waitFor('the dead letter count on the page', async () =>
            metricNumber(await page.locator('[data-metric="deadLetters"]').textContent()) >= 1,
          { timeoutMs: 10000, everyMs: 250 });
          // On the chart: a marker on its own row, not a line on the events' scale.
          await waitFor('a dead-letter marker on the chart', async () =>
            (await chart.locator('.dead-marker').count()) > 0, { timeoutMs: 15000 });
          assert.equal(await chart.locator('path.series-deadLetters').count(), 0);
          // What an operator needs to act on it: where it came from, its payload, its product.
          const item = deadList.locator(':scope > li').filter({ hasText: dead.eventId });
          const itemText = await item.textContent();
          assert.match(itemText, new RegExp(`from ${env.pemx.prefix}-product-event`), itemText);
          assert.match(itemText, /partition \d+ offset \d+/, itemText);
          assert.equal(await item.getByRole('link', { name: dead.productId, exact: true })
            .getAttribute('href'), `#/search?productIds=${dead.productId}`);
          await item.getByText('Payload', { exact: true }).click();
          assert.equal(JSON.parse(await item.locator('pre').textContent()).eventId, dead.eventId);
          // The dead-letter topic among the topics, marked.
          const dlq = rows.filter({ hasText: 'dead letters' });
          await dlq.first().waitFor({ timeout: 10000 });
          assert.ok((await dlq.first().textContent()).startsWith(env.pemx.prefix));
          // A dead letter of a message without a key (produced with kcat) still names the
          // event's productId (the router once took the message key).
          const keyless = countryChange(productId('NOKEY'), 2, 'New Zealand');
          const sent = spawnSync('kcat', ['-b', brokers(), '-t', `${env.pemx.prefix}-product-event`,
            '-P'], { input: JSON.stringify(keyless), encoding: 'utf8', timeout: 30000 });
          assert.equal(sent.status, 0, `kcat produced the event: ${sent.stderr}`);
          const keylessItem = deadList.locator(':scope > li').filter({ hasText: keyless.eventId });
          await keylessItem.waitFor({ timeout: 20000 });
          await keylessItem.getByRole('link', { name: keyless.productId, exact: true }).waitFor();
          // The filter by reason: only illegal_topic ones stay.
          await page.getByLabel('Reason').selectOption('illegal_topic');
          const reasons = await deadList.locator(':scope > li').evaluateAll(
            (lis) => lis.map((li) => li.dataset.reason));
          assert.ok(reasons.length >= 2 && reasons.every((r) => r === 'illegal_topic'),
            `only illegal_topic dead letters: ${reasons}`);

          // An event the push would refuse (its eventId is no UUID) but the original routed and
          // stored when it came through Kafka: routed, stored and counted per rule by both the
          // router and the store (validation = "report"), and the page says so.
          const loose = { ...priceUpdate(productId('LOOSE'), 1), eventId: 'not-a-uuid' };
          const produced = spawnSync('kcat', ['-b', brokers(), '-t',
            `${env.pemx.prefix}-product-event`, '-P', '-k', loose.productId],
          { input: JSON.stringify(loose), encoding: 'utf8', timeout: 30000 });
          assert.equal(produced.status, 0, `kcat produced the event: ${produced.stderr}`);
          const invalid = page.getByRole('table', { name: "Kept despite the push's field rules" });
          await waitFor('the router and the store count the eventId rule on the page', async () => {
            const rows = await invalid.locator('tbody > tr[data-reason="eventId"]').evaluateAll(
              (trs) => trs.map((tr) => tr.cells[0].textContent.trim()));
            return rows.includes('router') && rows.includes('store');
          }, { timeoutMs: 20000, everyMs: 250 });

          // For the README's picture: a chart with some history (a point every 2 s).
          if (process.env.PEMX_UPDATE_SCREENSHOTS === '1') {
            await waitFor('40 s of chart', async () =>
              JSON.parse((await http(`${env.pemx.url}/api/overview`)).body).series.length >= 20,
            { timeoutMs: 60000, everyMs: 1000 });
          }

          // Counts and rates at real volumes carry thousands separators (the page's locale).
          assert.deepEqual(await page.evaluate(async () => {
            const f = await import('/format.js');
            return [f.formatCount(1234567), f.formatRate(12345.4), f.formatRate(2.25)];
          }), ['1,234,567', '12,345', '2.3']);

          // The counters keep moving: the page refreshes by itself.
          const before = metricNumber(await page.locator('[data-metric="consumed"]').textContent());
          await waitFor('the consumed count to grow without a reload', async () =>
            metricNumber(await page.locator('[data-metric="consumed"]').textContent()) > before,
          { timeoutMs: 10000, everyMs: 250 });

          // The README's pictures: the consumers and their lag per partition, then the
          // overview from its top (overview.png, once this body is done).
          await page.locator('#consumers-table').evaluate((table) => {
            table.scrollIntoView({ block: 'start' });
            window.scrollBy(0, -80); // below the sticky header
          });
          await screenshot(page, 'overview-lag.png');
          await page.evaluate(() => window.scrollTo(0, 0));
          env.assertNoProblems(page);
        });
      } finally {
        stopPushing();
      }
    });
});

// The fallback source: `rate` events a second through POST /event, in batches of 10.
function pushSteadily(pemx, rate) {
  const product = productId('OVER');
  let n = 0;
  const timer = setInterval(() => {
    const batch = [];
    for (let i = 0; i < 10; ++i) batch.push(priceUpdate(product, n++));
    pemx.push(batch).catch(() => {});
  }, 10000 / rate);
  return () => clearInterval(timer);
}
