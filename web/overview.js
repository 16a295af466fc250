// Overview view: api/overview every 2 s while the view is shown and the tab is visible.
import { errorText, request } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { RateChart } from './chart.js';
import { productLink } from './links.js';
import { formatCount, formatDuration, formatRate, formatDateTime, formatAgo, num, str } from './format.js';

const REFRESH_MS = 2000;

const meta = byId('overview-meta');
const errorBox = byId('overview-error');
const topicsBody = byId('topics-body');
const topicsEmpty = byId('topics-empty');
const consumersBody = byId('consumers-body');
const partitionsBody = byId('partitions-body');
const partitionsEmpty = byId('partitions-empty');
const partitionsMore = byId('partitions-more');
const deadList = byId('dead-list');
const deadEmpty = byId('dead-empty');
const deadFilter = byId('dead-filter');
const deadReason = byId('dead-reason');
// The dead letters whose payload is open: the list is rebuilt every refresh, they stay open.
const openPayloads = new Set();
const invalidBody = byId('invalid-body');
const invalidEmpty = byId('invalid-empty');
const chart = new RateChart(byId('chart'), byId('chart-legend'));
const duplicates = byId('metric-duplicates');
const storedRateLine = byId('stored-rate-line');
const storedNone = byId('stored-none');

let visible = false;
let timer = 0;
let fetching = false;   // a request is out (never aborted: it would be a failed request)
let last = null;

function metric(name, text) {
  for (const el of document.querySelectorAll(`[data-metric="${name}"]`)) el.textContent = text;
}

function sum(list, key) {
  let total = 0;
  let any = false;
  for (const item of list) {
    const v = num(item && item[key]);
    if (v !== null) {
      total += v;
      any = true;
    }
  }
  return any ? total : null;
}

function renderFigures(o) {
  const ingest = Array.isArray(o.ingest) ? o.ingest : [];
  const routedTopics = new Set((Array.isArray(o.topics) ? o.topics : []).map((t) => t && t.topic));
  // "Consumed" counts what came in from outside: an ingest stage reading only topics this
  // process itself routed to (the store's copy in --role=all) would count every event twice.
  const external = ingest.filter((i) => !(Array.isArray(i.topics) && i.topics.length
    && i.topics.every((t) => routedTopics.has(t))));
  const source = external.length ? external : ingest;
  metric('consumed', formatCount(sum(source, 'consumed')));
  metric('consumed-rate', formatRate(sum(source, 'rate')));
  metric('lag', formatCount(sum(ingest, 'lag')));

  const stored = o.stored && typeof o.stored === 'object' ? o.stored : null;
  metric('stored', stored ? formatCount(stored.count) : '–');
  metric('stored-rate', stored ? formatRate(stored.rate) : '–');
  const dup = stored ? num(stored.duplicates) : null;
  duplicates.textContent = dup ? ` · ${formatCount(dup)} duplicates ignored` : '';
  storedRateLine.hidden = !stored;
  storedNone.hidden = Boolean(stored);

  const dead = o.deadLetters && typeof o.deadLetters === 'object' ? o.deadLetters : {};
  metric('deadLetters', formatCount(dead.count));
  metric('deadLetters-rate', formatRate(dead.rate));

  const pushed = o.pushed && typeof o.pushed === 'object' ? o.pushed : {};
  metric('pushed', formatCount(pushed.count));
  metric('pushed-failures', formatCount(pushed.failures));

  consumersBody.replaceChildren(...ingest.map((i) => h('tr', null,
    h('th', { scope: 'row' }, str(i.stage)),
    h('td', { class: 'wrap' }, Array.isArray(i.topics) ? i.topics.map(str).join(', ') : ''),
    h('td', { class: 'num' }, formatCount(i.consumed)),
    h('td', { class: 'num' }, formatRate(i.rate)),
    h('td', { class: 'num' }, formatCount(i.lag)))));
}

// Each ingest stage's partitions, the most lagging first (the server sends at most 50 a stage
// and says how many it has assigned); a partition with lag is marked.
function renderPartitions(o) {
  const ingest = (Array.isArray(o.ingest) ? o.ingest : []).filter((i) => i && typeof i === 'object');
  const rows = [];
  let omitted = 0;
  for (const i of ingest) {
    const parts = (Array.isArray(i.partitions) ? i.partitions : [])
      .filter((p) => p && typeof p === 'object');
    omitted += Math.max(0, (num(i.partitionsAssigned) ?? parts.length) - parts.length);
    for (const p of parts) {
      const lag = num(p.lag);
      rows.push(h('tr', {
        class: lag ? 'lagging' : null,
        dataset: { stage: str(i.stage), topic: str(p.topic), partition: String(num(p.partition)) },
      },
      h('th', { scope: 'row' }, str(i.stage)),
      h('td', { class: 'topic-name' }, str(p.topic)),
      h('td', { class: 'num' }, String(num(p.partition) ?? '–')),
      h('td', { class: 'num', title: num(p.committed) === null ? 'not known yet' : null },
        formatCount(p.committed)),
      h('td', { class: 'num' }, formatCount(p.highWatermark)),
      h('td', { class: 'num' }, formatCount(lag))));
    }
  }
  partitionsBody.replaceChildren(...rows);
  partitionsEmpty.hidden = rows.length > 0;
  partitionsMore.hidden = omitted === 0;
  partitionsMore.textContent = omitted
    ? `${formatCount(omitted)} more ${omitted === 1 ? 'partition' : 'partitions'} with less lag not listed.`
    : '';
}

function renderTopics(o) {
  const topics = (Array.isArray(o.topics) ? o.topics : [])
    .filter((t) => t && typeof t === 'object')
    .sort((a, b) => str(a.topic).localeCompare(str(b.topic)));
  topicsBody.replaceChildren(...topics.map((t) => h('tr', {
    class: t.deadLetters === true ? 'dead-topic' : null, dataset: { topic: str(t.topic) },
  },
    h('th', { scope: 'row', class: 'topic-name' }, str(t.topic),
      t.deadLetters === true ? [' ', h('span', { class: 'badge reason-badge' }, 'dead letters')]
        : null),
    h('td', { class: 'num' }, formatCount(t.count)),
    h('td', { class: 'num' }, formatRate(t.rate)))));
  topicsEmpty.hidden = topics.length > 0;
}

function deadKey(d) {
  return `${num(d.at)}|${str(d.eventId)}|${str(d.topic)}|${num(d.partition)}|${num(d.offset)}`;
}

/** The reasons of the latest dead letters as the filter's options; the choice is kept. */
function renderReasons(latest) {
  const reasons = [...new Set(latest.map((d) => str(d.reason)).filter(Boolean))].sort();
  const chosen = deadReason.value;
  if (chosen && !reasons.includes(chosen)) reasons.push(chosen); // keep it while it has none
  const have = [...deadReason.options].slice(1).map((o) => o.value);
  if (have.join('\n') !== reasons.join('\n')) {
    deadReason.replaceChildren(h('option', { value: '' }, 'All reasons'),
      ...reasons.map((r) => h('option', { value: r }, r)));
    deadReason.value = chosen;
  }
  deadFilter.hidden = reasons.length === 0;
}

function deadSource(d) {
  const parts = [];
  if (d.topic) parts.push(h('span', null, 'from ', h('code', null, str(d.topic))));
  if (num(d.partition) !== null && num(d.partition) >= 0) {
    parts.push(h('span', null, ' partition ', h('code', null, String(num(d.partition)))));
  }
  if (num(d.offset) !== null && num(d.offset) >= 0) {
    parts.push(h('span', null, ' offset ', h('code', null, String(num(d.offset)))));
  }
  if (d.deadLetterTopic) {
    parts.push(h('span', null, ' → ', h('code', null, str(d.deadLetterTopic))));
  }
  return parts.length ? h('p', { class: 'dead-source' }, parts) : null;
}

function deadPayload(d) {
  if (typeof d.payload !== 'string' || d.payload === '') return null;
  const key = deadKey(d);
  const details = h('details', { class: 'dead-payload', open: openPayloads.has(key) },
    h('summary', null, d.payloadTruncated ? 'Payload (first 4 KiB)' : 'Payload'),
    h('pre', { class: 'json', tabindex: '0' }, d.payload));
  details.addEventListener('toggle', () => {
    if (details.open) openPayloads.add(key);
    else openPayloads.delete(key);
  });
  return details;
}

function renderDeadLetters(o) {
  const latest = (o.deadLetters && Array.isArray(o.deadLetters.latest) ? o.deadLetters.latest : [])
    .filter((d) => d && typeof d === 'object');
  renderReasons(latest);
  const reason = deadReason.value;
  const shown = latest.filter((d) => !reason || str(d.reason) === reason);
  const keys = new Set(latest.map(deadKey));
  for (const key of openPayloads) if (!keys.has(key)) openPayloads.delete(key);
  deadList.replaceChildren(...shown.map((d) => h('li', {
    class: 'dead-item', dataset: { eventId: str(d.eventId), reason: str(d.reason) },
  },
  h('div', { class: 'dead-head' },
    h('span', { class: 'badge reason-badge' }, str(d.reason) || 'unknown reason'),
    d.stage ? h('span', { class: 'muted' }, `at ${str(d.stage)}`) : null,
    h('time', {
      class: 'event-time', datetime: num(d.at) !== null ? new Date(num(d.at)).toISOString() : null,
      title: formatAgo(num(d.at)) || null,
    }, formatDateTime(num(d.at)))),
  d.detail ? h('p', { class: 'dead-detail' }, str(d.detail)) : null,
  h('p', { class: 'dead-ids' },
    'eventId ', h('code', null, str(d.eventId) || 'none'),
    d.productId ? [' · productId ', productLink(str(d.productId), { class: 'product-id' })]
      : null),
  deadSource(d),
  deadPayload(d))));
  deadEmpty.hidden = shown.length > 0;
  deadEmpty.textContent = latest.length ? `No dead letters with reason ${reason}.` : 'No dead letters.';
}

deadReason.addEventListener('change', () => {
  if (last) renderDeadLetters(last);
});

// Events routed or stored although they fail a rule of the push (validation = "report"), per
// stage and rule, as counted by this process.
function renderInvalid(o) {
  const rows = (Array.isArray(o.invalidEvents) ? o.invalidEvents : [])
    .filter((r) => r && typeof r === 'object');
  invalidBody.replaceChildren(...rows.map((r) => h('tr', { dataset: { reason: str(r.reason) } },
    h('th', { scope: 'row' }, str(r.stage)),
    h('td', null, h('code', null, str(r.reason))),
    h('td', { class: 'num' }, formatCount(r.count)))));
  invalidEmpty.hidden = rows.length > 0;
}

function render(o) {
  last = o;
  const parts = [];
  if (o.role) parts.push(`Role ${str(o.role)}`);
  if (num(o.uptimeSeconds) !== null) parts.push(`up ${formatDuration(o.uptimeSeconds)}`);
  parts.push(`updated ${new Date(num(o.now) ?? Date.now()).toLocaleTimeString()}`);
  meta.textContent = parts.join(' · ');
  renderFigures(o);
  renderPartitions(o);
  renderTopics(o);
  renderDeadLetters(o);
  renderInvalid(o);
  chart.update(o.series, o.stored === null ? ['stored'] : []);
}

async function refresh() {
  timer = 0;
  if (!visible || document.hidden) return;
  fetching = true;
  const result = await request('api/overview');
  fetching = false;
  if (!visible) return; // the view was left meanwhile: show() fetches afresh
  if (result.ok && result.data && typeof result.data === 'object') {
    setNotice(errorBox, '');
    render(result.data);
  } else {
    setNotice(errorBox, result.status === 404
      ? 'This server does not offer the overview yet.'
      : `Could not refresh: ${errorText(result)}`);
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = visible && !document.hidden ? setTimeout(refresh, REFRESH_MS) : 0;
}

document.addEventListener('visibilitychange', () => {
  if (!visible) return;
  if (document.hidden) {
    clearTimeout(timer);
    timer = 0;
  } else if (!timer && !fetching) {
    refresh();
  }
});

if (typeof ResizeObserver === 'function') {
  let width = 0;
  const box = byId('chart');
  new ResizeObserver((entries) => {
    const w = Math.round(entries[0].contentRect.width);
    if (w && w !== width) {
      width = w;
      if (last) chart.resize(w);
    }
  }).observe(box);
}

export const overviewView = {
  show() {
    visible = true;
    if (!timer && !fetching) refresh();
  },
  hide() {
    visible = false;
    clearTimeout(timer);
    timer = 0;
  },
};
