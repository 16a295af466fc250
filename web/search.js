// Search view: product id chips, filters, the paged history, the query kept in the URL hash.
import { errorText, request, serverInfo, withQuery } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { eventItem } from './events.js';

const PAGE_SIZE = 50;
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
const unavailable = byId('search-unavailable');

let ids = [];
let shown = null;       // the query whose results are on screen (a key string)
let current = null;     // {ids, eventType, from, to} of the results on screen
let cursor = null;
let count = 0;
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

function statusText() {
  const noun = count === 1 ? 'event' : 'events';
  if (count === 0) return 'No events';
  return cursor ? `${count} ${noun} (more available)` : `${count} ${noun}`;
}

async function fetchPage(q, append) {
  const mine = ++latest;
  inFlight = true;
  const url = withQuery('event', {
    productIds: q.ids, limit: PAGE_SIZE, eventType: q.eventType, from: q.from, to: q.to,
    cursor: append ? cursor : '',
  });
  statusLine.textContent = append ? 'Loading more…' : 'Searching…';
  results.setAttribute('aria-busy', 'true');
  loadMore.setAttribute('aria-disabled', 'true'); // not disabled: it would lose the focus
  const result = await request(url);
  if (mine !== latest) return; // a newer search or page was asked for meanwhile
  inFlight = false;
  results.removeAttribute('aria-busy');
  loadMore.removeAttribute('aria-disabled');
  if (!result.ok || !Array.isArray(result.data)) {
    statusLine.textContent = result.ok ? 'The server sent an unexpected answer.'
      : result.status === 503 && !result.networkError
        ? `Search is not available: ${errorText(result)}` : errorText(result);
    if (!append) {
      results.replaceChildren();
      loadMore.hidden = true;
    }
    return;
  }
  if (!append) {
    results.replaceChildren();
    count = 0;
    if (awaitingMore(result.data, result.headers.get('X-Next-Cursor'))) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (current === q && !inFlight) fetchPage(q, false);
      }, RETRY_MS);
    }
  }
  const items = result.data.map((event) => eventItem(event));
  results.append(...items);
  count += result.data.length;
  cursor = result.headers.get('X-Next-Cursor') || null;
  const hadFocus = document.activeElement === loadMore;
  loadMore.hidden = !cursor;
  statusLine.textContent = statusText();
  if (append && hadFocus && !cursor && items.length) {
    // "Load more" is gone with the last page: keep the keyboard where the new events start.
    items[0].tabIndex = -1;
    items[0].focus();
  }
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
  current = q;
  shown = keyOf(q);
  cursor = null;
  if (!q.ids.length) {
    latest += 1; // drop the answer of a search still running
    inFlight = false;
    results.removeAttribute('aria-busy');
    results.replaceChildren();
    loadMore.hidden = true;
    statusLine.textContent = 'Add at least one product ID.';
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
  if (current && cursor && !inFlight) fetchPage(current, true);
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
    if (!q.ids.length) return; // plain #/search: keep what is on screen
    if (keyOf(q) === shown && !awaited) return;
    fillForm(q);
    run(q);
  },
  hide() {},
};
