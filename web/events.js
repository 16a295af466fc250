// One event as a list item, shared by the Search results and the Live list.
import { h } from './dom.js';
import { formatAgo, formatDateTime, str, summarize } from './format.js';
import { productLink } from './links.js';

let jsonIds = 0;
const RAW_FIELDS = 12; // fields of unknown data shown as they are

const TYPE_CLASS = {
  ProductPriceUpdate: 'type-price',
  Country: 'type-country',
  SpecificProductDiscountUpdate: 'type-discount',
};

function summaryNode(event) {
  const sum = summarize(event);
  if (sum.kind === 'price' || sum.kind === 'discount') {
    return h('p', { class: 'event-summary' },
      h('span', { class: 'summary-label' }, sum.label),
      ' ',
      h('span', { class: 'old-value' }, sum.from),
      h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '),
      h('span', { class: 'visually-hidden' }, ' to '),
      h('span', { class: 'new-value' }, sum.to),
      sum.change ? ' ' : null,
      sum.change ? h('span', { class: `change change-${sum.direction}` },
        sum.direction === 'up' ? h('span', { 'aria-hidden': 'true' }, '▲ ') : null,
        sum.direction === 'down' ? h('span', { 'aria-hidden': 'true' }, '▼ ') : null,
        sum.change) : null);
  }
  if (sum.kind === 'other' && sum.fields && sum.fields.length) {
    // Data this page does not know: its fields as they are, the first RAW_FIELDS of them.
    const shown = sum.fields.slice(0, RAW_FIELDS);
    return h('div', { class: 'event-summary raw-data' },
      h('span', { class: 'summary-label' }, 'Data'),
      h('dl', { class: 'raw-fields' }, shown.map(([k, v]) => [
        h('dt', null, k), h('dd', null, h('code', null, str(v)))])),
      sum.fields.length > shown.length ? h('p', { class: 'summary-note' },
        `and ${sum.fields.length - shown.length} more fields (Show JSON)`) : null);
  }
  return h('p', { class: 'event-summary' },
    h('span', { class: 'summary-label' }, sum.label),
    ' ',
    h('span', { class: 'summary-value' }, sum.value),
    sum.note ? h('span', { class: 'summary-note' }, ` · ${sum.note}`) : null);
}

function jsonToggle(event) {
  const id = `event-json-${++jsonIds}`;
  const pre = h('pre', { class: 'json', id, hidden: true, tabindex: '0' });
  const button = h('button', {
    type: 'button', class: 'link-button', 'aria-expanded': 'false', 'aria-controls': id,
  }, 'Show JSON');
  button.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    if (open && !pre.firstChild) pre.textContent = JSON.stringify(event, null, 2);
    pre.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
  });
  return { button, pre };
}

/**
 * <li data-event-id data-created-at> for one event.
 * options.meta: extra nodes for the head line (the Live view's source and topics).
 */
export function eventItem(event, options = {}) {
  const ev = event && typeof event === 'object' ? event : { data: event };
  const type = str(ev.eventType);
  const typeClass = TYPE_CLASS[type] || 'type-other';
  const { button, pre } = jsonToggle(event);
  const created = str(ev.createdAt);
  return h('li', {
    class: `event ${typeClass}`,
    dataset: { eventId: str(ev.eventId), createdAt: created },
  },
  h('span', { class: 'event-marker', 'aria-hidden': 'true' }),
  h('div', { class: 'event-card' },
    h('div', { class: 'event-head' },
      h('span', { class: `badge type-badge ${typeClass}` }, type || 'no type'),
      productLink(str(ev.productId), { class: 'product-id' }),
      ev.region !== undefined && ev.region !== '' ? h('span', { class: 'badge region-badge' },
        h('span', { class: 'visually-hidden' }, 'region '), str(ev.region)) : null,
      h('time', { class: 'event-time', datetime: created, title: formatAgo(created) || null },
        formatDateTime(created))),
    summaryNode(ev),
    options.meta ? h('p', { class: 'event-meta' }, options.meta) : null,
    h('div', { class: 'event-foot' },
      h('span', { class: 'event-id' }, 'eventId ', h('code', null, str(ev.eventId) || 'none')),
      str(ev.eventId) ? h('a', {
        class: 'link-button lineage-link',
        href: `#/lineage?eventId=${encodeURIComponent(str(ev.eventId))}`,
      }, 'Lineage') : null,
      button),
    pre));
}
