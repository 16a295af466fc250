// Search view: product id chips, filters, the paged history, the query kept in the URL hash.
import { errorText, request, serverInfo, withQuery } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { eventItem } from './events.js';
import { EVENT_TYPES, formatAgo, formatDateTime, str, summarize } from './format.js';
import { productLink } from './links.js';

const PAGE_SIZE = 50;       // the first page
// "Load more" asks for bigger pages each time (50, 200, 1000, 1000, …); "Load all" asks for
// pages of LOAD_ALL_PAGE until the last one, or until LOAD_ALL_CAP more events are on screen.
const MORE_SIZES = [200, 1000];
const LOAD_ALL_PAGE = 1000;
const LOAD_ALL_CAP = 5000;
const LATEST_MAX_IDS = 3;  // the latest state is shown for searches of up to this many products
const MAX_IDS = 200;
const SEPARATORS = /[\s,;]+/;

const form = byId('search-form');
const chipList = byId('chips');
const chipField = byId('chip-field');
const input = byId('product-input');
const typeSelect = byId('event-type');
const fromInput = byId('from-input');
const toInput = byId('to-input');
const statusLine = byId('search-status');
const results = byId('results');
const loadMore = byId('load-more');
const loadAll = byId('load-all');
const viewToggle = byId('view-toggle');
const tableWrap = byId('results-table-wrap');
const tableRows = byId('results-rows');
const latestPanel = byId('latest-state');
const latestBody = byId('latest-body');
const unavailable = byId('search-unavailable');
const suggestLine = byId('search-suggest');
const recentSection = byId('recent-products');
const recentList = byId('recent-list');
const RECENT_LIMIT = 12;
const SUGGEST_MAX_IDS = 10; // ids without events checked for another spelling, at most

let ids = [];
let shown = null;       // the query whose results are on screen (a key string)
let current = null;     // {ids, eventType, from, to} of the results on screen
let cursor = null;
let count = 0;
let pages = 0;          // pages on screen
let shownEvents = [];   // the events on screen, in order
let total = null;       // {count, capped} of the search on screen, once counted
let compact = false;    // the table instead of the timeline
let loadingAll = false;
// Requests are never aborted (an aborted fetch is a failed request in the browser's log);
// an answer that is no longer the latest request's is dropped instead.
let latest = 0;         // number of the latest request
let inFlight = false;   // the latest request has not answered yet
// Events just pushed from the Push view: the store writes them a moment after Kafka took them,
// so a search for them is repeated for a few seconds until they are all there.
let awaited = null;     // {eventIds: Set, until: ms}
let retryTimer = 0;
const AWAIT_MS = 8000;
const RETRY_MS = 500;

// ---- chips ----

function renderChips() {
  chipList.replaceChildren(...ids.map((id) => h('li', { class: 'chip' },
    h('span', { class: 'chip-label' }, id),
    h('button', {
      type: 'button', class: 'chip-remove', 'aria-label': `Remove ${id}`, title: `Remove ${id}`,
      onclick: () => {
        removeId(id);
        input.focus();
      },
    }, h('span', { 'aria-hidden': 'true' }, '×')))));
  chipField.classList.toggle('has-chips', ids.length > 0);
}

function addIds(list) {
  let refused = 0;
  for (const raw of list) {
    const id = raw.trim();
    if (!id || ids.includes(id)) continue;
    if (ids.length >= MAX_IDS) {
      refused += 1;
      continue;
    }
    ids.push(id);
  }
  renderChips();
  if (refused) statusLine.textContent = `At most ${MAX_IDS} product IDs per search.`;
}

function removeId(id) {
  ids = ids.filter((x) => x !== id);
  renderChips();
}

/** Turns everything typed so far into chips; keepTail leaves the text after the last separator. */
function commitInput(keepTail) {
  const parts = input.value.split(SEPARATORS);
  const tail = keepTail ? parts.pop() : '';
  addIds(parts);
  input.value = tail;
}

input.addEventListener('keydown', (e) => {
  if (e.isComposing) return;
  if (e.key === 'Enter') {
    e.preventDefault();
    if (input.value.trim()) commitInput(false);
    else submit();
  } else if (e.key === ',' || e.key === ' ' || e.key === ';') {
    e.preventDefault();
    commitInput(false);
  } else if (e.key === 'Backspace' && input.value === '' && ids.length) {
    e.preventDefault();
    removeId(ids[ids.length - 1]);
  }
});

input.addEventListener('paste', (e) => {
  const text = e.clipboardData ? e.clipboardData.getData('text') : '';
  if (!SEPARATORS.test(text.trim())) return; // one id: let it be pasted as text
  e.preventDefault();
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? input.value.length;
  input.value = input.value.slice(0, start) + text + input.value.slice(end);
  commitInput(false);
});

input.addEventListener('input', (e) => {
  if (!SEPARATORS.test(input.value)) return;
  // A separator typed on a phone keyboard (no usable keydown), or text inserted in one go.
  const bulk = e.inputType === 'insertFromPaste' || e.inputType === 'insertFromDrop'
    || e.data === null || (typeof e.data === 'string' && e.data.length > 1);
  commitInput(!bulk);
});

chipField.addEventListener('click', (e) => {
  if (e.target === chipField || e.target === chipList) input.focus();
});

// ---- query <-> URL hash ----

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

/** ISO (UTC) -> the value of a datetime-local input, in local time. */
function isoToLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  let out = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    + `T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.getSeconds() || d.getMilliseconds()) {
    out += `:${pad(d.getSeconds())}`;
    if (d.getMilliseconds()) out += `.${pad(d.getMilliseconds(), 3)}`;
  }
  return out;
}

/** datetime-local (local time) -> ISO UTC; '' when empty, null when not a date. */
function localToIso(value) {
  if (!value) return '';
  const d = new Date(value); // date-time without an offset: local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function readForm() {
  if (input.value.trim()) commitInput(false);
  return {
    ids: [...ids],
    eventType: typeSelect.value,
    from: localToIso(fromInput.value),
    to: localToIso(toInput.value),
  };
}

function keyOf(q) {
  return JSON.stringify([q.ids, q.eventType || '', q.from || '', q.to || '']);
}

function hashValue(value) {
  return encodeURIComponent(value).replace(/%3A/gi, ':');
}

export function searchHash(q) {
  const parts = [];
  if (q.ids && q.ids.length) parts.push(`productIds=${q.ids.map(hashValue).join(',')}`);
  if (q.eventType) parts.push(`eventType=${hashValue(q.eventType)}`);
  if (q.from) parts.push(`from=${hashValue(q.from)}`);
  if (q.to) parts.push(`to=${hashValue(q.to)}`);
  return `#/search${parts.length ? `?${parts.join('&')}` : ''}`;
}

function queryFromParams(params) {
  const list = (params.get('productIds') || '').split(SEPARATORS).map((x) => x.trim())
    .filter(Boolean);
  return {
    ids: [...new Set(list)].slice(0, MAX_IDS),
    eventType: params.get('eventType') || '',
    from: params.get('from') || '',
    to: params.get('to') || '',
  };
}

function fillForm(q) {
  ids = [...q.ids];
  renderChips();
  input.value = '';
  const known = [...typeSelect.options].some((o) => o.value === q.eventType);
  if (!known && q.eventType) {
    typeSelect.append(h('option', { value: q.eventType }, q.eventType));
  }
  typeSelect.value = q.eventType;
  fromInput.value = isoToLocal(q.from);
  toInput.value = isoToLocal(q.to);
}

// ---- running a search ----

const grouped = new Intl.NumberFormat(undefined);

function statusText() {
  const noun = count === 1 ? 'event' : 'events';
  if (count === 0) return 'No events';
  if (!cursor) return `${grouped.format(count)} ${noun}`;
  if (total && total.count > count) {
    return `${grouped.format(count)} ${noun} of ${total.capped ? 'more than ' : ''}`
      + `${grouped.format(total.count)}`;
  }
  return `${grouped.format(count)} ${noun} (more available)`;
}

/** The page size of the next request: the first page, then bigger ones. */
function nextSize(append, size) {
  if (size) return size;
  if (!append) return PAGE_SIZE;
  return MORE_SIZES[Math.min(pages - 1, MORE_SIZES.length - 1)];
}

/** One row of the compact table (a cell per column of #results-table). */
function eventRow(event) {
  const ev = event && typeof event === 'object' ? event : { data: event };
  const sum = summarize(ev);
  const created = str(ev.createdAt);
  const change = sum.kind === 'price' || sum.kind === 'discount'
    ? `${sum.from} → ${sum.to}${sum.change ? ` (${sum.change})` : ''}` : sum.value;
  return h('tr', { dataset: { eventId: str(ev.eventId), createdAt: created } },
    h('td', null, h('time', { datetime: created, title: formatAgo(created) || null },
      formatDateTime(created))),
    h('td', null, str(ev.eventType) || 'no type'),
    h('td', null, productLink(str(ev.productId), { class: 'product-id' })),
    h('td', null, str(ev.region)),
    h('td', null, change),
    h('td', null, h('code', null, str(ev.eventId) || 'none')));
}

/** Adds events to the view on screen; returns the first node added (for the focus). */
function renderEvents(events) {
  const nodes = events.map((event) => (compact ? eventRow(event) : eventItem(event)));
  (compact ? tableRows : results).append(...nodes);
  return nodes[0] || null;
}

function clearResults() {
  results.replaceChildren();
  tableRows.replaceChildren();
  shownEvents = [];
}

viewToggle.addEventListener('click', () => {
  compact = !compact;
  viewToggle.setAttribute('aria-pressed', String(compact));
  results.replaceChildren();
  tableRows.replaceChildren();
  renderEvents(shownEvents);
  results.hidden = compact;
  tableWrap.hidden = !compact;
});

function updateMoreButtons() {
  loadMore.hidden = !cursor;
  loadAll.hidden = !cursor;
  loadAll.textContent = total && !total.capped && total.count - count <= LOAD_ALL_CAP
    ? `Load all ${grouped.format(total.count)}` : `Load ${grouped.format(LOAD_ALL_CAP)} more`;
}

/** The total of the search (GET api/events/count), shown in the status line once known. */
async function countTotal(q, mine) {
  const r = await request(withQuery('api/events/count', {
    productIds: q.ids, eventType: q.eventType, from: q.from, to: q.to,
  }));
  if (mine !== searchNumber || !r.ok || !r.data || !Number.isInteger(r.data.count)) return;
  total = { count: r.data.count, capped: r.data.capped === true };
  if (!inFlight) {
    statusLine.textContent = statusText();
    updateMoreButtons();
  }
}

/** The newest price, discount and country of each product (up to LATEST_MAX_IDS of them). */
async function showLatest(q, mine) {
  latestPanel.hidden = true;
  latestBody.replaceChildren();
  if (q.ids.length > LATEST_MAX_IDS) return;
  const asks = q.ids.flatMap((id) => EVENT_TYPES.map((type) => ({ id, type })));
  const answers = await Promise.all(asks.map((a) => request(withQuery('event', {
    productIds: [a.id], eventType: a.type, limit: 1,
  }))));
  if (mine !== searchNumber) return;
  const blocks = q.ids.map((id) => {
    const facts = asks.map((a, i) => ({ ...a, r: answers[i] }))
      .filter((a) => a.id === id && a.r.ok && Array.isArray(a.r.data) && a.r.data[0])
      .map((a) => {
        const event = a.r.data[0];
        const sum = summarize(event);
        const value = sum.kind === 'price' || sum.kind === 'discount' ? sum.to : sum.value;
        const created = str(event.createdAt);
        return [h('dt', null, sum.label), h('dd', null, value, ' ',
          h('time', { class: 'muted', datetime: created, title: formatAgo(created) || null },
            formatDateTime(created)))];
      });
    if (!facts.length) return null;
    return h('div', { class: 'latest-product', dataset: { productId: id } },
      q.ids.length > 1 ? h('h3', { class: 'latest-id' }, productLink(id, { class: 'product-id' }))
        : null,
      h('dl', { class: 'latest-facts' }, facts));
  }).filter(Boolean);
  latestBody.replaceChildren(...blocks);
  latestPanel.hidden = blocks.length === 0;
}

let searchNumber = 0; // the search on screen (pages of it keep the number)

/** Asks for one page; resolves to true when it was shown. */
async function fetchPage(q, append, size) {
  const mine = ++latest;
  inFlight = true;
  const url = withQuery('event', {
    productIds: q.ids, limit: nextSize(append, size), eventType: q.eventType, from: q.from,
    to: q.to, cursor: append ? cursor : '',
  });
  statusLine.textContent = append ? 'Loading more…' : 'Searching…';
  results.setAttribute('aria-busy', 'true');
  loadMore.setAttribute('aria-disabled', 'true'); // not disabled: it would lose the focus
  loadAll.setAttribute('aria-disabled', 'true');
  const result = await request(url);
  if (mine !== latest) return false; // a newer search or page was asked for meanwhile
  inFlight = false;
  results.removeAttribute('aria-busy');
  loadMore.removeAttribute('aria-disabled');
  loadAll.removeAttribute('aria-disabled');
  if (!result.ok || !Array.isArray(result.data)) {
    statusLine.textContent = result.ok ? 'The server sent an unexpected answer.'
      : result.status === 503 && !result.networkError
        ? `Search is not available: ${errorText(result)}` : errorText(result);
    if (!append) {
      clearResults();
      loadMore.hidden = true;
      loadAll.hidden = true;
      viewToggle.hidden = true;
    }
    return false;
  }
  if (!append) {
    clearResults();
    count = 0;
    pages = 0;
    total = null;
    searchNumber += 1;
    if (awaitingMore(result.data, result.headers.get('X-Next-Cursor'))) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (current === q && !inFlight) fetchPage(q, false);
      }, RETRY_MS);
    }
  }
  const first = renderEvents(result.data);
  shownEvents.push(...result.data);
  count += result.data.length;
  pages += 1;
  cursor = result.headers.get('X-Next-Cursor') || null;
  const hadFocus = document.activeElement === loadMore || document.activeElement === loadAll;
  updateMoreButtons();
  viewToggle.hidden = count === 0;
  statusLine.textContent = statusText();
  if (!append) {
    if (cursor) countTotal(q, searchNumber);
    showLatest(q, searchNumber);
  }
  if (!cursor) suggestSpellings(q, mine);
  if (append && hadFocus && !cursor && first) {
    // The buttons are gone with the last page: keep the keyboard where the new events start.
    first.tabIndex = -1;
    first.focus();
  }
  return true;
}

/** "Load all": pages of LOAD_ALL_PAGE until the last, or LOAD_ALL_CAP more events. */
async function fetchAll(q) {
  loadingAll = true;
  const stop = count + LOAD_ALL_CAP;
  try {
    while (current === q && cursor && count < stop) {
      if (!(await fetchPage(q, true, Math.min(LOAD_ALL_PAGE, stop - count)))) break;
    }
  } finally {
    loadingAll = false;
  }
}

// ---- other spellings: "no events for abc123; did you mean ABC123?" ----

/** Ids of the search with no event among the results (all of them are on screen). */
function idsWithoutEvents(q) {
  const found = new Set(shownEvents.map((e) => e && e.productId));
  return q.ids.filter((id) => !found.has(id));
}

/**
 * For each id without events (at most SUGGEST_MAX_IDS), one history request with limit=1 for
 * its upper- and lower-case spellings: an index lookup each, so cheap whatever the store.
 */
async function suggestSpellings(q, mine) {
  const missing = idsWithoutEvents(q).slice(0, SUGGEST_MAX_IDS);
  const probes = missing.map((id) => ({
    id, variants: [...new Set([id.toUpperCase(), id.toLowerCase()])].filter((v) => v !== id),
  })).filter((p) => p.variants.length);
  if (!probes.length) return;
  const answers = await Promise.all(probes.map((p) => request(withQuery('event', {
    productIds: p.variants, limit: 1, eventType: q.eventType, from: q.from, to: q.to,
  }))));
  if (mine !== latest) return; // another search meanwhile
  const found = [];
  answers.forEach((r, i) => {
    const event = r.ok && Array.isArray(r.data) ? r.data[0] : null;
    if (event && typeof event.productId === 'string') found.push([probes[i].id, event.productId]);
  });
  if (!found.length) return;
  suggestLine.replaceChildren(...found.flatMap(([asked, stored], i) => [
    i ? ' ' : null,
    `No events for ${asked}; did you mean `,
    productLink(stored, { class: 'product-id' }),
    '?',
  ]));
  suggestLine.hidden = false;
}

// ---- the recently stored products (what an empty Search offers) ----

let recentShown = false;

async function showRecent() {
  const r = await request(withQuery('api/products/recent', { limit: RECENT_LIMIT }));
  const products = r.ok && r.data && Array.isArray(r.data.products)
    ? r.data.products.filter((p) => p && typeof p.productId === 'string' && p.productId) : [];
  if (!recentShown) return; // a search came first
  recentList.replaceChildren(...products.map((p) => h('li', { class: 'recent-item' },
    productLink(p.productId, { class: 'product-id' }),
    typeof p.lastCreatedAt === 'string' ? h('time', {
      class: 'event-time', datetime: p.lastCreatedAt, title: formatAgo(p.lastCreatedAt) || null,
    }, formatDateTime(p.lastCreatedAt)) : null)));
  recentSection.hidden = products.length === 0;
  // The placeholder shows an id this store has, so the example always exists.
  if (products.length) input.placeholder = `e.g. ${products[0].productId}`;
}

function setRecent(on) {
  recentShown = on;
  if (on) showRecent();
  else recentSection.hidden = true;
}

function awaitingMore(events, nextCursor) {
  if (!awaited) return false;
  if (Date.now() > awaited.until || nextCursor) {
    awaited = null;
    return false;
  }
  const found = new Set(events.map((e) => e && e.eventId));
  if ([...awaited.eventIds].every((id) => found.has(id))) {
    awaited = null;
    return false;
  }
  return true;
}

/** The next search repeats itself for a few seconds until these event ids are stored. */
export function awaitEvents(eventIds) {
  awaited = eventIds.length ? { eventIds: new Set(eventIds), until: Date.now() + AWAIT_MS } : null;
}

function run(q) {
  clearTimeout(retryTimer);
  setRecent(false);
  suggestLine.hidden = true;
  suggestLine.replaceChildren();
  current = q;
  shown = keyOf(q);
  cursor = null;
  if (!q.ids.length) {
    latest += 1; // drop the answer of a search still running
    inFlight = false;
    results.removeAttribute('aria-busy');
    clearResults();
    loadMore.hidden = true;
    loadAll.hidden = true;
    viewToggle.hidden = true;
    latestPanel.hidden = true;
    statusLine.textContent = 'Add at least one product ID.';
    setRecent(true);
    return;
  }
  if (q.from === null || q.to === null) {
    statusLine.textContent = 'From and To must be valid dates.';
    return;
  }
  if (q.from && q.to && q.from >= q.to) {
    statusLine.textContent = 'From must be before To.';
    return;
  }
  fetchPage(q, false);
}

function submit() {
  if (byId('search-button').disabled) return; // this role has no history
  const q = readForm();
  const hash = searchHash({ ...q, from: q.from || '', to: q.to || '' });
  if (location.hash === hash || q.from === null || q.to === null) {
    run(q); // same URL: search again (a refresh)
  } else {
    location.hash = hash; // the router calls show(), which runs it
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  submit();
});

loadMore.addEventListener('click', () => {
  if (current && cursor && !inFlight && !loadingAll) fetchPage(current, true);
});

loadAll.addEventListener('click', () => {
  if (current && cursor && !inFlight && !loadingAll) fetchAll(current);
});

serverInfo().then((info) => {
  if (info.history === false) {
    setNotice(unavailable, 'This server role keeps no history (no event store): search is not available here.');
    byId('search-button').disabled = true;
  }
});

/** The hash's link to the results on screen (the nav keeps it). */
export function currentSearchHash() {
  return current ? searchHash(current) : '#/search';
}

export const searchView = {
  async show(params) {
    const q = queryFromParams(params);
    const info = await serverInfo();
    if (info.history === false) {
      if (q.ids.length) fillForm(q);
      return; // no store here: the notice says so, and no request is sent
    }
    if (!q.ids.length) {
      // Plain #/search: keep what is on screen; nothing yet: offer the recent products.
      if (!current || !current.ids.length) setRecent(true);
      return;
    }
    if (keyOf(q) === shown && !awaited) return;
    fillForm(q);
    run(q);
  },
  hide() {},
};
