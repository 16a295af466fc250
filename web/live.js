// Live view: Server-Sent Events from api/live, newest first, bounded, pausable, filterable.
import { serverInfo, withQuery } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { eventItem } from './events.js';
import { formatCount, formatRate, formatTime, str } from './format.js';

const MAX_ITEMS = 200;

const list = byId('live-list');
const statusEl = byId('live-status');
const dot = byId('live-dot');
const pauseButton = byId('live-pause');
const pendingEl = byId('live-pending');
const filterInput = byId('live-filter');
const sourceField = byId('live-source-field');
const sourceSelect = byId('live-source');
const note = byId('live-note');
const empty = byId('live-empty');
const rateEl = byId('live-rate');
const droppedEl = byId('live-dropped');
const compactButton = byId('live-compact');
const RATE_WINDOW_S = 10;   // the rate is over the last 10 s
const SCROLL_PAUSE_PX = 200; // scrolled this far below the list's top: paused until back

let source = null;        // the EventSource while the view is shown
let retryTimer = 0;
let retryDelay = 2000;
let kind = '';
let paused = false;
let pendingCount = 0;
let missedTotal = 0;
let dropped = 0;          // received (or skipped by the server) but never shown: see countDropped
let scrollPaused = false; // paused by scrolling down, resumed at the top
const arrivals = new Array(RATE_WINDOW_S + 1).fill(0); // events per second, a ring
let arrivalSecond = 0;
let rateTimer = 0;
const items = [];         // received messages, oldest first, at most MAX_ITEMS
const pending = [];       // received while paused, oldest first, at most MAX_ITEMS
const incoming = [];      // received since the last paint, oldest first, at most MAX_ITEMS
let flushTimer = 0;

// A new connection replays the server's last few events; these keys skip the ones already seen.
const SEEN_MAX = 1000;
const seenKeys = new Set();
const seenOrder = [];

function firstSeen(message) {
  const ev = message.event && typeof message.event === 'object' ? message.event : {};
  const key = `${str(message.kind)}|${str(message.seq)}|${str(ev.eventId)}`;
  if (seenKeys.has(key)) return false;
  seenKeys.add(key);
  seenOrder.push(key);
  if (seenOrder.length > SEEN_MAX) seenKeys.delete(seenOrder.shift());
  return true;
}

function setState(state, text) {
  statusEl.textContent = text;
  dot.className = `dot dot-${state}`;
}

function matches(message) {
  const q = filterInput.value.trim().toLowerCase();
  if (!q) return true;
  const ev = message.event && typeof message.event === 'object' ? message.event : {};
  return [ev.productId, ev.eventType, ev.eventId].some((v) => str(v).toLowerCase().includes(q));
}

function render(message) {
  const meta = [
    h('span', { class: 'badge kind-badge' }, str(message.kind) || kind || 'live'),
    h('span', { class: 'live-at' }, 'seen at ', formatTime(message.at)),
  ];
  if (Array.isArray(message.topics) && message.topics.length) {
    meta.push(h('span', { class: 'topics' },
      h('span', { class: 'visually-hidden' }, 'sent to '),
      h('span', { 'aria-hidden': 'true' }, '→ '), message.topics.map(str).join(', ')));
  }
  const li = eventItem(message.event, { meta });
  li.classList.add('live-item');
  if (!li.dataset.eventId) li.dataset.eventId = '';
  return li;
}

function updateEmpty() {
  empty.hidden = list.childElementCount > 0;
  if (!items.length) empty.textContent = paused ? 'Paused.' : 'Waiting for events…';
  else empty.textContent = 'No received event matches the filter.';
}

function trimList() {
  while (list.childElementCount > MAX_ITEMS) list.lastElementChild.remove();
}

function insert(messages) {
  for (const m of messages) {
    items.push(m);
    if (items.length > MAX_ITEMS) items.shift();
  }
  const fresh = messages.filter(matches).slice(-MAX_ITEMS);
  const fragment = document.createDocumentFragment();
  for (let i = fresh.length - 1; i >= 0; i -= 1) fragment.append(render(fresh[i]));
  list.prepend(fragment);
  trimList();
  updateEmpty();
}

function rebuild() {
  const fragment = document.createDocumentFragment();
  for (let i = items.length - 1; i >= 0; i -= 1) {
    if (matches(items[i])) fragment.append(render(items[i]));
  }
  list.replaceChildren(fragment);
  updateEmpty();
}

// ---- the rate and the dropped count ----

function countArrival() {
  const second = Math.floor(Date.now() / 1000);
  if (second !== arrivalSecond) advanceRate(second);
  arrivals[second % arrivals.length] += 1;
}

/** Clears the ring's seconds between the last arrival and `second`. */
function advanceRate(second) {
  const gap = Math.min(second - arrivalSecond, arrivals.length);
  for (let i = 1; i <= gap; i += 1) arrivals[(arrivalSecond + i) % arrivals.length] = 0;
  arrivalSecond = second;
}

/** Events a second over the last RATE_WINDOW_S whole seconds. */
function showRate() {
  const second = Math.floor(Date.now() / 1000);
  if (second !== arrivalSecond) advanceRate(second);
  let sum = 0;
  for (let i = 1; i <= RATE_WINDOW_S; i += 1) {
    sum += arrivals[(second - i + arrivals.length) % arrivals.length];
  }
  rateEl.textContent = formatRate(sum / RATE_WINDOW_S);
}

/**
 * Events this page never showed: skipped by the server (a gap), or pushed out of the bounded
 * buffers while paused or between two paints.
 */
function countDropped(n) {
  if (!n) return;
  dropped += n;
  droppedEl.textContent = formatCount(dropped);
}

compactButton.addEventListener('click', () => {
  const on = compactButton.getAttribute('aria-pressed') !== 'true';
  compactButton.setAttribute('aria-pressed', String(on));
  list.classList.toggle('live-compact', on);
});

// ---- pause on scroll ----

function setPaused(on) {
  if (on === paused) return;
  if (flushTimer) {
    clearTimeout(flushTimer);
    flush();
  }
  paused = on;
  pauseButton.textContent = paused ? 'Resume' : 'Pause';
  if (!paused) {
    const lost = pendingCount - pending.length;
    const batch = pending.splice(0);
    pendingCount = 0;
    insert(batch);
    if (lost > 0) {
      setNotice(note, `${formatCount(lost)} older ${lost === 1 ? 'event' : 'events'} received while paused `
        + `were not kept (only the newest ${formatCount(MAX_ITEMS)} are).`);
    }
  }
  showPending();
  updateEmpty();
}

// Reading down the list while new events push it would be hopeless: scrolling below the
// list's top pauses it (counting what arrives), scrolling back up resumes. A pause chosen with
// the button is left to the button.
window.addEventListener('scroll', () => {
  if (!visible) return;
  const listTop = list.getBoundingClientRect().top + window.scrollY;
  const below = window.scrollY > listTop + SCROLL_PAUSE_PX;
  if (below && !paused) {
    scrollPaused = true;
    setPaused(true);
  } else if (!below && paused && scrollPaused) {
    scrollPaused = false;
    setPaused(false);
  }
}, { passive: true });

function showPending() {
  pendingEl.textContent = paused && pendingCount ? `${formatCount(pendingCount)} new` : '';
}

function onMessage(e) {
  let message;
  try {
    message = JSON.parse(e.data);
  } catch {
    return;
  }
  if (!message || typeof message !== 'object' || !firstSeen(message)) return;
  countArrival();
  if (paused) {
    pendingCount += 1;
    pending.push(message);
    if (pending.length > MAX_ITEMS) {
      pending.shift();
      countDropped(1);
    }
    showPending();
    return;
  }
  // Painted in batches: a busy stream costs one DOM update per tick, not one per event.
  incoming.push(message);
  if (incoming.length > MAX_ITEMS) {
    incoming.shift();
    countDropped(1);
  }
  if (!flushTimer) flushTimer = setTimeout(flush, 50);
}

function flush() {
  flushTimer = 0;
  insert(incoming.splice(0));
}

function onGap(e) {
  let missed = 0;
  try {
    missed = Number(JSON.parse(e.data).missed) || 0;
  } catch {
    // keep 0
  }
  missedTotal += missed;
  countDropped(missed);
  setNotice(note, `The server skipped ${formatCount(missedTotal)} ${missedTotal === 1 ? 'event' : 'events'} `
    + 'this page could not keep up with (its buffer is bounded). Search shows every stored event.');
}

function disconnect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  if (source) {
    source.close();
    source = null;
  }
}

function connect() {
  disconnect();
  const url = withQuery('api/live', { kind });
  setState('connecting', 'Connecting…');
  const es = new EventSource(url);
  source = es;
  es.addEventListener('open', () => {
    if (source !== es) return;
    retryDelay = 2000;
    setState('connected', 'Connected');
  });
  es.addEventListener('hello', () => {
    if (source !== es) return;
    setState('connected', 'Connected');
  });
  es.addEventListener('event', (e) => {
    if (source === es) onMessage(e);
  });
  es.addEventListener('gap', (e) => {
    if (source === es) onGap(e);
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    setState('reconnecting', 'Reconnecting…');
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error, or not an event stream): try again later.
      source = null;
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }
  });
}

pauseButton.addEventListener('click', () => {
  scrollPaused = false;
  setPaused(!paused);
});

byId('live-clear').addEventListener('click', () => {
  items.length = 0;
  incoming.length = 0;
  pending.length = 0;
  pendingCount = 0;
  missedTotal = 0;
  dropped = 0;
  droppedEl.textContent = '0';
  list.replaceChildren();
  setNotice(note, '');
  showPending();
  updateEmpty();
});

filterInput.addEventListener('input', rebuild);
filterInput.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && filterInput.value) {
    filterInput.value = '';
    rebuild();
  }
});

sourceSelect.addEventListener('change', () => {
  kind = sourceSelect.value;
  items.length = 0;
  incoming.length = 0;
  pending.length = 0;
  pendingCount = 0;
  list.replaceChildren();
  showPending();
  updateEmpty();
  if (visible) connect();
});

let visible = false;

serverInfo().then((info) => {
  const kinds = info.live;
  if (kinds.length > 1) {
    sourceSelect.replaceChildren(...kinds.map((k) => h('option', { value: k }, k)));
    sourceField.hidden = false;
  }
  if (!kind && kinds.length) {
    kind = kinds.includes('stored') ? 'stored' : kinds[0]; // the server's default too
    sourceSelect.value = kind;
  }
  if (info.available && !kinds.length) {
    setNotice(note, 'This server role offers no live stream.');
  }
});

export const liveView = {
  async show() {
    visible = true;
    clearInterval(rateTimer);
    rateTimer = setInterval(showRate, 1000);
    const info = await serverInfo();
    if (info.available && !info.live.length) {
      setState('idle', 'Not available');
      return;
    }
    if (visible && !source && !retryTimer) connect();
  },
  hide() {
    visible = false;
    clearInterval(rateTimer);
    rateTimer = 0;
    disconnect();
    setState('idle', 'Not connected');
  },
};

updateEmpty();
