// Links between views: every product id on the page leads to its history in Search.
import { h } from './dom.js';

/** The Search URL of one product's history. */
export function productHref(id) {
  return `#/search?productIds=${encodeURIComponent(id).replace(/%3A/gi, ':')}`;
}

/** A product id as a link to its history (plain text when there is no id). */
export function productLink(id, attrs = {}) {
  if (!id) return h('span', attrs, 'no productId');
  return h('a', {
    ...attrs, href: productHref(id), title: `History of ${id}`,
  }, id);
}
