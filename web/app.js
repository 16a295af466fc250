// PEMX page: hash routing between the views, the server's capabilities in the header.
// Loaded as an ES module from index.html (no inline script: the server's CSP forbids it).
import { serverInfo } from './api.js';
import { byId } from './dom.js';
import { currentSearchHash, searchView } from './search.js';
import { pushView } from './push.js';
import { liveView } from './live.js';
import { overviewView } from './overview.js';
import { lineageView } from './lineage.js';
import { analyticsView } from './analytics.js';
import './token.js';

const VIEWS = {
  search: { view: searchView, section: byId('view-search'), heading: byId('search-heading'), title: 'Search' },
  push: { view: pushView, section: byId('view-push'), heading: byId('push-heading'), title: 'Push' },
  live: { view: liveView, section: byId('view-live'), heading: byId('live-heading'), title: 'Live' },
  overview: { view: overviewView, section: byId('view-overview'), heading: byId('overview-heading'), title: 'Overview' },
  analytics: { view: analyticsView, section: byId('view-analytics'), heading: byId('analytics-heading'), title: 'Analytics' },
  lineage: { view: lineageView, section: byId('view-lineage'), heading: byId('lineage-heading'), title: 'Lineage' },
};

const navLinks = [...document.querySelectorAll('nav[aria-label="Views"] a[data-view]')];
let currentName = null;

/** "#/search?productIds=A,B" -> {name: 'search', params}; values are percent-decoded, "+" kept. */
function parseHash(hash) {
  const body = hash.replace(/^#\/?/, '');
  const q = body.indexOf('?');
  const name = (q < 0 ? body : body.slice(0, q)).replace(/\/+$/, '');
  const params = new Map();
  if (q >= 0) {
    for (const part of body.slice(q + 1).split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const raw = eq < 0 ? '' : part.slice(eq + 1);
      let value = raw;
      try {
        value = decodeURIComponent(raw);
      } catch {
        // malformed escape: keep the text as written
      }
      params.set(key, value);
    }
  }
  return { name: Object.hasOwn(VIEWS, name) ? name : 'search', params };
}

function route() {
  const { name, params } = parseHash(location.hash);
  const entry = VIEWS[name];
  const changed = name !== currentName;
  if (changed) {
    if (currentName) VIEWS[currentName].view.hide();
    for (const [key, other] of Object.entries(VIEWS)) other.section.hidden = key !== name;
    for (const link of navLinks) {
      if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${entry.title} · PEMX`;
  }
  entry.view.show({ get: (k) => (params.has(k) ? params.get(k) : null) });
  if (name === 'search') navLinks[0].href = currentSearchHash();
  if (changed && currentName !== null) entry.heading.focus({ preventScroll: false });
  currentName = name;
}

window.addEventListener('hashchange', route);

// The search link in the nav keeps the last search, so coming back shows it again.
document.addEventListener('click', (e) => {
  const link = e.target instanceof Element ? e.target.closest('a[data-view="search"]') : null;
  if (link) link.href = currentSearchHash();
}, true);

byId('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  const entry = currentName ? VIEWS[currentName] : VIEWS.search;
  entry.heading.focus();
});

serverInfo().then((info) => {
  const parts = [];
  if (info.role) parts.push(`role ${info.role}`);
  if (info.version) parts.push(`v${info.version}`);
  // The routing rules' version (pemx-rules-version on every routed message) and their load time.
  const rules = info.rules && typeof info.rules === 'object' ? info.rules : null;
  if (rules && typeof rules.version === 'string') parts.push(`rules ${rules.version}`);
  const el = byId('server-info');
  el.textContent = parts.join(' · ');
  if (rules && typeof rules.loadedAt === 'string') {
    el.title = `Routing rules ${rules.version}, loaded ${new Date(rules.loadedAt).toLocaleString()}`
      + ` (${rules.reloads ?? 0} reloads, ${rules.reloadFailures ?? 0} refused)`;
  }
});

route();
