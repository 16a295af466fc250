// Talking to the server: same origin, relative paths (the page is served at "/").

const TOKEN_KEY = 'pemx.writeToken';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token simply is not kept.
  }
  document.dispatchEvent(new CustomEvent('pemx:token'));
}

/**
 * fetch() that never throws: resolves to {ok, status, data, headers, networkError}, data being
 * the parsed JSON body, if any. Nothing aborts a request (the views drop stale answers instead).
 * `headers` are added to the request's own (e.g. Prefer).
 */
export async function request(path, {
  method = 'GET', body, auth = false, headers: extra = {},
} = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = getToken();
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: 'no-store' });
  } catch (error) {
    return { ok: false, status: 0, data: null, headers: new Headers(), networkError: error };
  }
  let data = null;
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the connection broke mid-body: no data
  }
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

/** One readable line for a failed answer. */
export function errorText(result) {
  if (result.networkError) return 'Could not reach the server. Check that PEMX is running.';
  const data = result.data;
  if (data && Array.isArray(data.errors) && data.errors.length) {
    return data.errors
      .map((e) => (e && typeof e.msg === 'string' ? e.msg : 'Invalid request'))
      .filter((msg, i, all) => all.indexOf(msg) === i)
      .join('; ');
  }
  if (data && typeof data.error === 'string' && data.error) return data.error;
  if (data && typeof data.message === 'string' && data.message) return data.message;
  return `The server answered ${result.status}.`;
}

/** Builds "path?k=v&..." skipping empty values; commas in lists stay readable. */
export function withQuery(path, params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    const encoded = Array.isArray(value)
      ? value.map(encodeURIComponent).join(',')
      : encodeURIComponent(String(value));
    parts.push(`${key}=${encoded}`);
  }
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

let infoPromise = null;

/** GET api/info once; a server without it gets what the older API offers. */
export function serverInfo() {
  if (!infoPromise) {
    infoPromise = request('api/info').then((r) => {
      const fallback = { version: '', role: '', history: true, push: true,
        tokenRequired: false, live: [], available: false };
      if (!r.ok || !r.data || typeof r.data !== 'object') return fallback;
      return {
        ...fallback,
        ...r.data,
        live: Array.isArray(r.data.live) ? r.data.live.filter((k) => typeof k === 'string') : [],
        available: true,
      };
    });
  }
  return infoPromise;
}
