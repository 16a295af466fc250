// Push view: a JSON editor, a parse check before anything is sent, the server's answer shown
// against each event and field.
import { errorText, getToken, request, serverInfo } from './api.js';
import { byId, h, setNotice } from './dom.js';
import { awaitEvents, searchHash } from './search.js';
import { openTokenDialog } from './token.js';
import {
  eventSpans, lineColumn, pathSegments, pointerSegments, prettyJson, valueSpan,
} from './jsontext.js';

const form = byId('push-form');
const editor = byId('events-json');
const countHint = byId('events-count');
const pushButton = byId('push-button');
const statusLine = byId('push-status');
const success = byId('push-success');
const successDetail = byId('push-success-detail');
const searchLink = byId('push-search-link');
const alertBox = byId('push-alert');
const validation = byId('validation-errors');
const unavailable = byId('push-unavailable');

let busy = false;
let pushAllowed = true;

const MAX_EVENTS = 200; // per request (POST /event); more are offered as several requests

// ---- parsing ----

/**
 * The editor's text as a request: {events, body} where body is the exact text to send
 * (the user's numbers are not re-serialised), or {error, position}.
 */
function parseEditor(text) {
  if (!text.trim()) {
    return { error: 'The editor is empty: enter a JSON array of events (or use Fill example).' };
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(message);
    return { error: message, syntax: true, position: m ? Number(m[1]) : null };
  }
  if (Array.isArray(value)) return { events: value, body: `{"events":${text}}` };
  if (value && typeof value === 'object') {
    if (Object.prototype.hasOwnProperty.call(value, 'events')) {
      return { events: Array.isArray(value.events) ? value.events : [], body: text };
    }
    if ('eventId' in value || 'eventType' in value || 'productId' in value) {
      return { events: [value], body: `{"events":[${text}]}` };
    }
  }
  return { error: 'Expected a JSON array of events, or an object {"events": [...]}.' };
}

function selectInEditor(start, end) {
  editor.focus();
  editor.setSelectionRange(start, end);
  const line = editor.value.slice(0, start).split('\n').length - 1;
  const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 20;
  editor.scrollTop = Math.max(0, (line - 2) * lineHeight);
}

let countTimer = 0;
function updateCount() {
  const text = editor.value;
  if (!text.trim()) {
    countHint.textContent = '';
    return;
  }
  const parsed = parseEditor(text);
  if (parsed.error) countHint.textContent = parsed.syntax ? 'not valid JSON yet' : '';
  else {
    const n = parsed.events.length;
    countHint.textContent = `${n} ${n === 1 ? 'event' : 'events'}`
      + (n > MAX_EVENTS ? ` (more than ${MAX_EVENTS}: ${Math.ceil(n / MAX_EVENTS)} requests)` : '');
  }
}

editor.addEventListener('input', () => {
  editor.removeAttribute('aria-invalid');
  clearTimeout(countTimer);
  countTimer = setTimeout(updateCount, 250);
});

editor.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    form.requestSubmit();
  }
});

// ---- feedback ----

function clearFeedback() {
  statusLine.textContent = '';
  success.hidden = true;
  setNotice(alertBox, '');
  validation.replaceChildren();
  validation.hidden = true;
  editor.removeAttribute('aria-invalid');
}

function showAlert(...content) {
  alertBox.replaceChildren(...content);
  alertBox.hidden = false;
}

function valueText(value) {
  if (value === undefined) return '';
  let text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  if (text.length > 80) text = `${text.slice(0, 77)}…`;
  return text;
}

/**
 * The field a server message is about, as segments inside its event: from the message's JSON
 * pointer ("/events/3/data/newPrice", schema failures) or else its path ("events[3].region").
 */
function fieldSegments(e) {
  const segments = pointerSegments(e.pointer) || pathSegments(e.path);
  if (!segments || segments[0] !== 'events' || !/^\d+$/.test(segments[1] || '')) return null;
  return segments.slice(2);
}

/** Selects event `index`'s field (or, when it is missing, the value it is missing from). */
function showField(index, segments) {
  const text = editor.value;
  const spans = eventSpans(text);
  const span = spans && spans[index] ? valueSpan(text, spans[index][0], segments) : null;
  if (span) selectInEditor(span[0], span[1]);
  else editor.focus();
}

/** The server's messages per event; `offset`: the index of the request's first event. */
function renderValidation(errors, events, offset = 0) {
  const groups = new Map();
  for (const err of errors) {
    const e = err && typeof err === 'object' ? err : { msg: String(err) };
    const path = typeof e.path === 'string' ? e.path : '';
    const m = /^events\[(\d+)\](?:\.(.+))?$/.exec(path);
    const key = m ? Number(m[1]) + offset : 'all';
    const field = m ? (m[2] || 'event') : (path || 'events');
    const segments = m ? fieldSegments(e) : null;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push({
      field, msg: typeof e.msg === 'string' ? e.msg : 'Invalid value', value: e.value, segments,
    });
  }
  const keys = [...groups.keys()].sort((a, b) => (a === 'all' ? -1 : b === 'all' ? 1 : a - b));
  validation.replaceChildren(...keys.map((key) => {
    const event = typeof key === 'number' ? events[key] : undefined;
    const id = event && typeof event === 'object' && typeof event.eventId === 'string'
      ? event.eventId : '';
    const head = key === 'all'
      ? h('p', { class: 'validation-head' }, h('strong', null, 'All events'))
      : h('p', { class: 'validation-head' },
        h('strong', null, `Event ${key + 1}`), ' ',
        h('code', { class: 'muted' }, `events[${key}]`), ' · ',
        id ? h('span', null, 'eventId ', h('code', null, id)) : h('span', { class: 'muted' }, 'no eventId'),
        h('button', {
          type: 'button', class: 'link-button',
          onclick: () => {
            const spans = eventSpans(editor.value);
            if (spans && spans[key]) selectInEditor(spans[key][0], spans[key][1]);
            else editor.focus();
          },
        }, 'Select in editor'));
    return h('li', { class: 'validation-item', dataset: { eventIndex: key } },
      head,
      h('ul', { class: 'validation-messages' }, groups.get(key).map((x) => h('li', null,
        h('code', { class: 'field-name' }, x.field), ' ',
        h('span', null, x.msg),
        x.value !== undefined && x.value !== null && x.value !== ''
          ? h('span', { class: 'muted' }, ` (got ${valueText(x.value)})`) : null,
        x.segments && x.segments.length && typeof key === 'number' ? [' ', h('button', {
          type: 'button', class: 'link-button',
          'aria-label': `Show ${x.field} of event ${key + 1} in the editor`,
          onclick: () => showField(key, x.segments),
        }, 'Show field')] : null))));
  }));
  validation.hidden = false;
}

// ---- pushing ----

/** "Pushed N events" and the link to search their products. */
function showPushed(parsed, count, how) {
  statusLine.textContent = `Pushed ${count} ${count === 1 ? 'event' : 'events'}${how}`;
  const ids = [...new Set(parsed.events
    .map((e) => (e && typeof e === 'object' && typeof e.productId === 'string' ? e.productId.trim() : ''))
    .filter((id) => id && !/[\s,;]/.test(id)))].slice(0, 200);
  successDetail.textContent = 'Kafka acknowledged every event. They show up in Search once the '
    + 'web role has stored them (usually within a second).';
  searchLink.hidden = ids.length === 0;
  searchLink.href = searchHash({ ids });
  success.hidden = false;
  const eventIds = parsed.events
    .map((e) => (e && typeof e === 'object' && typeof e.eventId === 'string' ? e.eventId : ''))
    .filter(Boolean);
  searchLink.onclick = () => awaitEvents(eventIds);
}

async function push() {
  if (busy || !pushAllowed) return;
  clearFeedback();
  updateCount();
  const parsed = parseEditor(editor.value);
  if (parsed.error) {
    editor.setAttribute('aria-invalid', 'true');
    const parts = [h('strong', null, parsed.syntax ? 'Not valid JSON: ' : 'Nothing sent: '), parsed.error];
    if (parsed.syntax && parsed.position !== null && !/line \d+/.test(parsed.error)) {
      const { line, column } = lineColumn(editor.value, parsed.position);
      parts.push(` (line ${line}, column ${column})`);
    }
    if (parsed.syntax && parsed.position !== null) {
      const at = Math.min(parsed.position, editor.value.length);
      parts.push(' ', h('button', {
        type: 'button', class: 'link-button', onclick: () => selectInEditor(at, Math.min(at + 1, editor.value.length)),
      }, 'Show in editor'));
    }
    showAlert(...parts);
    return;
  }
  if (parsed.events.length > MAX_EVENTS) {
    offerSplit(parsed);
    return;
  }
  const sent = parsed.events.length;
  busy = true;
  pushButton.setAttribute('aria-disabled', 'true'); // not disabled: it would lose the focus
  statusLine.textContent = `Pushing ${sent} ${sent === 1 ? 'event' : 'events'}…`;
  let result;
  try {
    // The JSON receipt (count, and where each event went) instead of the reference's text
    // answer: POST /event gives it to a client that prefers it (RFC 7240).
    result = await request('event', {
      method: 'POST', body: parsed.body, auth: true, headers: { Prefer: 'return=representation' },
    });
  } finally {
    busy = false;
    pushButton.removeAttribute('aria-disabled');
  }
  statusLine.textContent = '';

  if (result.ok) {
    const count = result.data && Number.isInteger(result.data.count) ? result.data.count : sent;
    showPushed(parsed, count, '');
    return;
  }
  const data = result.data;
  if (result.status === 400 && data && Array.isArray(data.errors) && data.errors.length) {
    const n = data.errors.length;
    showAlert(`The server refused the push (${n} ${n === 1 ? 'problem' : 'problems'}, listed below). `
      + 'Nothing was sent to Kafka.');
    renderValidation(data.errors, parsed.events);
    return;
  }
  if (result.status === 401) {
    const message = getToken()
      ? 'The server refused the write token. Enter the right token, then push again.'
      : 'This server needs a write token to push events. Enter it, then push again.';
    showAlert(message, ' ', h('button', {
      type: 'button', class: 'link-button', onclick: () => openTokenDialog(message, pushButton),
    }, 'Enter token'));
    openTokenDialog(message, pushButton);
    return;
  }
  if (result.status === 503) {
    showAlert(`Kafka did not take the events in time (${errorText(result)}). `
      + 'Please retry in a moment: pushing the same events again is safe, the store keeps one copy per eventId.');
    return;
  }
  if (result.status === 413) {
    showAlert('The request is larger than the server accepts. Push fewer events at a time.');
    return;
  }
  showAlert(errorText(result));
}

// ---- more than MAX_EVENTS: several requests ----

/** The request bodies of `parsed` in chunks of MAX_EVENTS, each event's text as written. */
function chunkBodies(parsed) {
  const text = editor.value;
  const spans = eventSpans(text);
  const usable = spans && spans.length === parsed.events.length;
  const bodies = [];
  for (let i = 0; i < parsed.events.length; i += MAX_EVENTS) {
    const end = Math.min(i + MAX_EVENTS, parsed.events.length);
    const parts = usable ? spans.slice(i, end).map(([a, b]) => text.slice(a, b))
      : parsed.events.slice(i, end).map((e) => JSON.stringify(e));
    bodies.push({ first: i, count: end - i, body: `{"events":[${parts.join(',')}]}` });
  }
  return bodies;
}

function offerSplit(parsed) {
  const n = parsed.events.length;
  const requests = Math.ceil(n / MAX_EVENTS);
  editor.setAttribute('aria-invalid', 'true');
  showAlert(h('strong', null, 'Nothing sent: '),
    `${n} events, and the server takes at most ${MAX_EVENTS} per request. `, h('button', {
      type: 'button', class: 'link-button', onclick: () => pushInChunks(parsed),
    }, `Push in ${requests} requests`));
}

async function pushInChunks(parsed) {
  if (busy || !pushAllowed) return;
  clearFeedback();
  const chunks = chunkBodies(parsed);
  busy = true;
  pushButton.setAttribute('aria-disabled', 'true');
  let pushed = 0;
  let failed = null;
  try {
    for (const [i, chunk] of chunks.entries()) {
      statusLine.textContent = `Pushing request ${i + 1} of ${chunks.length}…`;
      const result = await request('event', {
        method: 'POST', body: chunk.body, auth: true, headers: { Prefer: 'return=representation' },
      });
      if (!result.ok) {
        failed = { i, chunk, result };
        break;
      }
      pushed += chunk.count;
    }
  } finally {
    busy = false;
    pushButton.removeAttribute('aria-disabled');
  }
  statusLine.textContent = '';
  if (!failed) {
    showPushed(parsed, pushed, ` in ${chunks.length} requests`);
    return;
  }
  const { i, chunk, result } = failed;
  const range = `events ${chunk.first + 1} to ${chunk.first + chunk.count}`;
  const done = pushed ? ` The first ${pushed} events went through (pushing them again is safe).`
    : ' Nothing was sent to Kafka.';
  const data = result.data;
  if (result.status === 400 && data && Array.isArray(data.errors) && data.errors.length) {
    showAlert(`Request ${i + 1} of ${chunks.length} (${range}) was refused, listed below; `
      + `it and the ones after it were not pushed.${done}`);
    renderValidation(data.errors, parsed.events, chunk.first);
    return;
  }
  showAlert(`Request ${i + 1} of ${chunks.length} (${range}) failed: ${errorText(result)}.${done}`);
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  push();
});

// ---- example and formatting ----

function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // variant 10xx
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function productId() {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return [...crypto.getRandomValues(new Uint8Array(10))].map((x) => chars[x % 36]).join('');
}

function randomInt(min, max) {
  return min + (crypto.getRandomValues(new Uint32Array(1))[0] % (max - min + 1));
}

function example() {
  const now = Date.now();
  const first = productId();
  const second = productId();
  const at = (offset) => new Date(now - offset).toISOString();
  const before = randomInt(100, 9999) / 100;
  const after = Math.round(before * (0.8 + randomInt(0, 40) / 100) * 100) / 100;
  return [
    {
      eventId: uuid(), eventType: 'ProductPriceUpdate', productId: first, region: 'US',
      createdAt: at(2), data: { newPrice: after, previousPrice: before },
    },
    {
      eventId: uuid(), eventType: 'SpecificProductDiscountUpdate', productId: first, region: 'US',
      createdAt: at(1),
      data: { newDiscountPercentage: randomInt(20, 60), previousDiscountPercentage: randomInt(0, 15) },
    },
    {
      eventId: uuid(), eventType: 'Country', productId: second, region: 'EU',
      createdAt: at(0), data: { country: 'Sweden', region: 'EU' },
    },
  ];
}

byId('fill-example').addEventListener('click', () => {
  editor.value = JSON.stringify(example(), null, 2);
  clearFeedback();
  updateCount();
});

byId('format-json').addEventListener('click', () => {
  clearFeedback();
  const text = editor.value;
  try {
    JSON.parse(text);
  } catch (e) {
    showAlert(h('strong', null, 'Not valid JSON: '), e instanceof Error ? e.message : String(e));
    return;
  }
  editor.value = prettyJson(text);
});

// ---- server capabilities ----

async function refreshNotice() {
  const info = await serverInfo();
  unavailable.classList.toggle('notice-warn', info.push !== false && info.tokenRequired && !getToken());
  if (info.push === false) {
    setNotice(unavailable, 'Pushing is disabled on this server (no push topic in its configuration).');
    pushAllowed = false;
    pushButton.disabled = true;
  } else if (info.tokenRequired && !getToken()) {
    setNotice(unavailable, 'This server needs a write token to push events: set it with “Write token” at the top.');
  } else {
    setNotice(unavailable, '');
  }
}
document.addEventListener('pemx:token', refreshNotice);
refreshNotice();

// ---- event schemas ----

// The event types with a JSON Schema (GET api/schemas), each linked to its schema; the section
// stays hidden when there are none, or on a server without the endpoint.
async function loadSchemas() {
  const section = byId('push-schemas');
  const list = byId('schema-list');
  const result = await request('api/schemas');
  const schemas = result.ok && result.data && Array.isArray(result.data.schemas)
    ? result.data.schemas.filter((s) => s && typeof s.eventType === 'string')
    : [];
  list.replaceChildren(...schemas.map((s) => h('li', null,
    h('a', { href: `api/schemas/${encodeURIComponent(s.eventType)}` }, s.eventType))));
  section.hidden = schemas.length === 0;
}
loadSchemas();

export const pushView = {
  show() {},
  hide() {},
};
