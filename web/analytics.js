// The Analytics view (#/analytics?from=…&to=…&bucket=…&top=…): GET /api/analytics drawn as a
// chart of events per type and region over time (with a table of the same numbers), the
// products that change most (each a link to its history) and the histograms of price and
// discount changes. The window lives in the hash, so a view can be shared and reloaded.
import { errorText, request, withQuery } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { bucketLegend, drawBucketChart, drawHistogram } from './chart.js';
import { productLink } from './links.js';
import { formatCount, num, str } from './format.js';

const form = byId('analytics-form');
const fromInput = byId('analytics-from');
const toInput = byId('analytics-to');
const bucketSelect = byId('analytics-bucket');
const topInput = byId('analytics-top');
const status = byId('analytics-status');
const note = byId('analytics-note');
const seriesPanel = byId('analytics-series-panel');
const grid = byId('analytics-grid');
const chart = byId('analytics-chart');
const legend = byId('analytics-legend');
const seriesBody = byId('analytics-series-body');
const topBody = byId('analytics-top-body');
const topEmpty = byId('analytics-top-empty');
let asked = 0; // answers to an older question are dropped
let lastData = null;

function pad(n) {
  return String(n).padStart(2, '0');
}

/** ISO (UTC) -> a datetime-local value in local time, to the minute. */
function isoToLocal(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    + `T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** datetime-local (local time) -> ISO UTC; '' when empty or not a date. */
function localToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** The answer's series rows grouped per (type, region), largest first, with a value per bucket. */
function seriesOf(data) {
  const bucketMs = num(data.bucketMs) || 1;
  const from = Date.parse(data.from);
  const to = Date.parse(data.to);
  const n = Math.max(1, Math.ceil((to - from) / bucketMs));
  const starts = Array.from({ length: n }, (_, i) => from + i * bucketMs);
  const groups = new Map();
  for (const row of Array.isArray(data.series) ? data.series : []) {
    const i = Math.floor((Date.parse(row.start) - from) / bucketMs);
    if (!(i >= 0 && i < n)) continue;
    const key = `${str(row.eventType)}\u0000${str(row.region)}`;
    if (!groups.has(key)) {
      groups.set(key, {
        type: str(row.eventType), region: str(row.region), values: new Array(n).fill(0), total: 0,
      });
    }
    const g = groups.get(key);
    const count = num(row.count) ?? 0;
    g.values[i] += count;
    g.total += count;
  }
  const series = [...groups.values()].map((g) => ({ ...g, label: `${g.type} · ${g.region}` }));
  series.sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  return { starts, series, bucketMs };
}

function binLabel(bin, unit) {
  const suffix = unit === 'percent' ? '%' : ' pt';
  const from = num(bin.from);
  const to = num(bin.to);
  if (from === null) return { label: `below ${to}${suffix}`, short: `<${to}${suffix}` };
  if (to === null) return { label: `${from}${suffix} or more`, short: `≥${from}${suffix}` };
  return { label: `${from}${suffix} to ${to}${suffix}`, short: `${from}${suffix}` };
}

function renderHistogram(kind, title, histogram) {
  const unit = histogram && typeof histogram === 'object' ? str(histogram.unit) : '';
  const bins = (histogram && Array.isArray(histogram.bins) ? histogram.bins : [])
    .map((b) => ({ ...binLabel(b, unit), count: num(b.count) ?? 0 }));
  const total = bins.reduce((sum, b) => sum + b.count, 0);
  let busiest = null;
  for (const b of bins) if (b.count && (!busiest || b.count > busiest.count)) busiest = b;
  const summary = total
    ? `${formatCount(total)} changes (${unit}); most often ${busiest.label} (${formatCount(busiest.count)}).`
    : `No ${title.toLowerCase()} with both values in this window.`;
  byId(`analytics-${kind}-summary`).textContent = summary;
  drawHistogram(byId(`analytics-${kind}-chart`), { bins, label: `${title}: ${summary}` });
}

function render(data) {
  lastData = data;
  const { starts, series } = seriesOf(data);
  const events = num(data.events) ?? 0;
  drawBucketChart(chart, {
    starts, series, bucketMs: num(data.bucketMs) || 1,
    label: `Events per ${str(data.bucket)} by type and region: ${formatCount(events)} events, `
      + `${series.length} series`,
  });
  bucketLegend(legend, series);
  seriesBody.replaceChildren(...series.map((ser) => {
    let peak = 0;
    ser.values.forEach((v, i) => {
      if (v > ser.values[peak]) peak = i;
    });
    return h('tr', null,
      h('th', { scope: 'row' }, ser.type),
      h('td', null, ser.region),
      h('td', { class: 'num' }, formatCount(ser.total)),
      h('td', { class: 'num' }, h('time', { datetime: new Date(starts[peak]).toISOString() },
        `${new Date(starts[peak]).toLocaleString()} (${formatCount(ser.values[peak])})`)));
  }));
  const top = Array.isArray(data.topProducts) ? data.topProducts : [];
  topBody.replaceChildren(...top.map((p) => h('tr', null,
    h('th', { scope: 'row' }, productLink(str(p.productId))),
    h('td', { class: 'num' }, formatCount(p.changes)))));
  topEmpty.hidden = top.length > 0;
  renderHistogram('price', 'Price changes', data.priceChanges);
  renderHistogram('discount', 'Discount changes', data.discountChanges);
  seriesPanel.hidden = false;
  grid.hidden = false;
  const notes = [];
  if (data.complete === false) {
    notes.push(`Only the first ${formatCount(data.rowBudget)} events of the window were read; `
      + 'choose a shorter window to see all of it.');
  }
  if (data.seriesCapped) notes.push('The series were cut at 2,000 rows; choose a wider bucket.');
  setNotice(note, notes.join(' '));
  status.textContent = `${formatCount(events)} events from ${new Date(data.from).toLocaleString()}`
    + ` to ${new Date(data.to).toLocaleString()}, per ${str(data.bucket)}.`;
}

async function load(params) {
  const mine = ++asked;
  status.textContent = 'Computing…';
  const answer = await request(withQuery('api/analytics', params));
  if (mine !== asked) return;
  if (answer.ok && answer.data && typeof answer.data === 'object') {
    render(answer.data);
    if (!params.from) fromInput.value = isoToLocal(answer.data.from);
    if (!params.to) toInput.value = isoToLocal(answer.data.to);
  } else {
    seriesPanel.hidden = true;
    grid.hidden = true;
    setNotice(note, '');
    status.textContent = `Could not compute analytics: ${errorText(answer)}`;
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const params = {
    from: localToIso(fromInput.value), to: localToIso(toInput.value),
    bucket: bucketSelect.value, top: topInput.value.trim(),
  };
  const hash = withQuery('#/analytics', params);
  if (location.hash === hash) load(params);
  else location.hash = hash;
});

window.addEventListener('resize', () => {
  if (lastData && !seriesPanel.hidden) render(lastData);
});

export const analyticsView = {
  show(params) {
    const asks = {
      from: params.get('from') || '', to: params.get('to') || '',
      bucket: params.get('bucket') || '', top: params.get('top') || '',
    };
    fromInput.value = isoToLocal(asks.from);
    toInput.value = isoToLocal(asks.to);
    bucketSelect.value = asks.bucket;
    if (asks.top) topInput.value = asks.top;
    load(asks);
  },
  hide() {
    asked += 1;
  },
};
