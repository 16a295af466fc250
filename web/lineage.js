// The Lineage view (#/lineage?eventId=…): GET /event/{eventId}/lineage as a list of steps —
// source message, storage message and row, each output, each dead letter.
import { errorText, request } from './api.js';
import { byId, h } from './dom.js';
import { str } from './format.js';

const form = byId('lineage-form');
const input = byId('lineage-input');
const status = byId('lineage-status');
const result = byId('lineage-result');
let asked = 0; // answers to an older question are dropped

function coords(m) {
  if (!m || typeof m !== 'object') return 'unknown';
  return `${str(m.topic)} [${m.partition}] @ ${m.offset}`;
}

function step(kind, title, ...lines) {
  return h('li', { class: `lineage-step lineage-${kind}`, dataset: { step: kind } },
    h('p', { class: 'lineage-title' }, title),
    lines.filter(Boolean).map((line) => h('p', { class: 'lineage-line' }, line)));
}

function when(ms) {
  return typeof ms === 'number' && ms >= 0 ? new Date(ms).toISOString() : null;
}

function render(data) {
  const steps = [];
  if (data.stored) {
    steps.push(step('source', 'Source', data.source ? coords(data.source)
      : 'the storage message has no source headers'));
    const rules = data.rules || {};
    steps.push(step('rules', 'Rules',
      `routed with ${str(rules.routedWith) || 'unknown'}, in force ${str(rules.current) || 'unknown'}`,
      rules.changed ? 'the rules changed since: outputs are where the rules in force send it' : null,
      str(rules.note) || null));
    for (const o of Array.isArray(data.outputs) ? data.outputs : []) {
      // The cluster, when the rule names one other than [kafka].
      const on = o.cluster && o.cluster !== 'kafka' ? ` on ${str(o.cluster)}` : '';
      const missing = o.status === 'unknown' ? 'unknown (the search was cut short)' : 'not found';
      steps.push(o.status === 'found'
        ? step('output', `Output ${str(o.topic)}${on}`, coords(o), when(o.timestamp))
        : step('missing', `Output ${str(o.topic)}${on}: ${missing}`, str(o.reason)));
    }
    const row = data.row || {};
    steps.push(step('row', 'Stored row',
      `${str(row.eventType)} · ${str(row.productId)} · ${str(row.region)} · ${str(row.createdAt)}`,
      `consumed from ${coords(row.storage)}`, when(row.storedAt) ? `stored ${when(row.storedAt)}` : null));
  } else {
    steps.push(step('missing', 'Not stored', str(data.error)));
  }
  for (const d of Array.isArray(data.deadLetters) ? data.deadLetters : []) {
    steps.push(step('dead', `Dead letter: ${str(d.reason)}`, coords(d), str(d.detail),
      d.stage ? `by ${str(d.stage)}` : null));
  }
  const scan = data.deadLetterScan || {};
  const scanLine = `Dead letters: ${scan.scanned ?? 0} messages of ${str(scan.topic) || 'no topic'} scanned`
    + (scan.problem ? ` (${str(scan.problem)})` : '')
    + (scan.complete === false ? '; the scan did not finish, there may be more' : '')
    + (scan.truncated ? '; more were found than are listed' : '');
  result.replaceChildren(h('ol', { class: 'lineage-steps', 'aria-label': 'Lineage' }, steps),
    h('p', { class: 'hint' }, scanLine));
}

async function trace(id) {
  const mine = ++asked;
  result.replaceChildren();
  if (!id) {
    status.textContent = 'Enter an eventId, or open one from Search.';
    return;
  }
  status.textContent = 'Tracing…';
  const answer = await request(`event/${encodeURIComponent(id)}/lineage`);
  if (mine !== asked) return;
  if (answer.data && typeof answer.data === 'object' && 'stored' in answer.data) {
    // 503/504: nothing could be searched; the body still has the row and each reason.
    status.textContent = answer.status >= 500 ? `Could not trace ${id}: ${str(answer.data.error)}`
      : answer.data.stored ? `Lineage of ${id}` : `${id} is not stored`;
    render(answer.data);
  } else {
    status.textContent = `Could not trace ${id}: ${errorText(answer)}`;
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  location.hash = `#/lineage?eventId=${encodeURIComponent(input.value.trim())}`;
});

export const lineageView = {
  show(params) {
    const id = params.get('eventId') || '';
    input.value = id;
    trace(id);
  },
  hide() {
    asked += 1;
  },
};
