// Working on JSON as text (for text that JSON.parse accepted): where each event starts and
// ends, and re-indenting without touching strings or numbers.

const WS = ' \t\n\r';

function skipSpace(t, i) {
  while (i < t.length && WS.includes(t[i])) i += 1;
  return i;
}

function skipString(t, i) {
  i += 1; // opening quote
  while (i < t.length) {
    if (t[i] === '\\') i += 2;
    else if (t[i] === '"') return i + 1;
    else i += 1;
  }
  return i;
}

function skipValue(t, i) {
  i = skipSpace(t, i);
  if (t[i] === '"') return skipString(t, i);
  if (t[i] === '[' || t[i] === '{') {
    let depth = 0;
    while (i < t.length) {
      const c = t[i];
      if (c === '"') {
        i = skipString(t, i);
        continue;
      }
      if (c === '[' || c === '{') depth += 1;
      else if (c === ']' || c === '}') {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
      i += 1;
    }
    return i;
  }
  while (i < t.length && !',]}'.includes(t[i]) && !WS.includes(t[i])) i += 1;
  return i;
}

function arraySpans(t, i) {
  const spans = [];
  i = skipSpace(t, i + 1);
  if (t[i] === ']') return spans;
  while (i < t.length) {
    i = skipSpace(t, i);
    const end = skipValue(t, i);
    spans.push([i, end]);
    i = skipSpace(t, end);
    if (t[i] !== ',') break;
    i += 1;
  }
  return spans;
}

/** [start, end) of each event in the editor's text, or null when it cannot tell. */
export function eventSpans(text) {
  try {
    JSON.parse(text);
  } catch {
    return null;
  }
  let i = skipSpace(text, 0);
  if (text[i] === '[') return arraySpans(text, i);
  if (text[i] !== '{') return null;
  const start = i;
  let found = null;
  let single = false;
  i = skipSpace(text, i + 1);
  while (i < text.length && text[i] === '"') {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd));
    i = skipSpace(text, skipSpace(text, keyEnd) + 1); // past the colon
    if (key === 'events' && text[i] === '[') found = arraySpans(text, i); // the last one wins
    if (key === 'eventId' || key === 'eventType') single = true;
    i = skipSpace(text, skipValue(text, i));
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  if (found) return found;
  return single ? [[start, skipValue(text, start)]] : null;
}

/** Two-space indentation; strings and numbers are copied exactly as written. */
export function prettyJson(text) {
  let out = '';
  let depth = 0;
  const newline = () => `\n${'  '.repeat(depth)}`;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (WS.includes(c)) {
      i += 1;
    } else if (c === '"') {
      const end = skipString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (c === '{' || c === '[') {
      const next = skipSpace(text, i + 1);
      if (text[next] === (c === '{' ? '}' : ']')) {
        out += c === '{' ? '{}' : '[]';
        i = next + 1;
      } else {
        depth += 1;
        out += c + newline();
        i += 1;
      }
    } else if (c === '}' || c === ']') {
      depth -= 1;
      out += newline() + c;
      i += 1;
    } else if (c === ',') {
      out += `,${newline()}`;
      i += 1;
    } else if (c === ':') {
      out += ': ';
      i += 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

export function lineColumn(text, position) {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return { line, column };
}

/**
 * [start, end) of the value at `segments` (object keys and array indexes, in order) inside the
 * value that starts at `start`; when a segment is missing, the span of the deepest value that
 * exists (so a missing field points at the object it is missing from). Null when the text at
 * `start` is not a value.
 */
export function valueSpan(text, start, segments) {
  let i = skipSpace(text, start);
  if (i >= text.length) return null;
  for (const seg of segments) {
    let next = -1;
    if (text[i] === '{') {
      let j = skipSpace(text, i + 1);
      while (j < text.length && text[j] === '"') {
        const keyEnd = skipString(text, j);
        let key;
        try {
          key = JSON.parse(text.slice(j, keyEnd));
        } catch {
          return null;
        }
        j = skipSpace(text, skipSpace(text, keyEnd) + 1); // past the colon
        if (key === String(seg)) next = j; // the last one wins, as in JSON.parse
        j = skipSpace(text, skipValue(text, j));
        if (text[j] === ',') j = skipSpace(text, j + 1);
      }
    } else if (text[i] === '[') {
      const spans = arraySpans(text, i);
      const n = Number(seg);
      if (Number.isInteger(n) && spans[n]) next = spans[n][0];
    }
    if (next < 0) break;
    i = next;
  }
  return [i, skipValue(text, i)];
}

/** "/events/3/data/new~1price" -> ['events', '3', 'data', 'new/price'] (RFC 6901). */
export function pointerSegments(pointer) {
  if (typeof pointer !== 'string' || !pointer.startsWith('/')) return null;
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** "events[3].data.newPrice" (express-validator's path) -> ['events', '3', 'data', 'newPrice']. */
export function pathSegments(path) {
  if (typeof path !== 'string' || !path) return null;
  const out = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return null;
    if (m[1]) out.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) out.push(index[1]);
  }
  return out;
}
