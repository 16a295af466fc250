// Turning event fields into readable text. Every input may be missing or of the wrong type:
// events pushed through the fallback API are only checked for their top-level fields.

export const EVENT_TYPES = ['ProductPriceUpdate', 'Country', 'SpecificProductDiscountUpdate'];

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const relative = typeof Intl.RelativeTimeFormat === 'function'
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

export function str(value) {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A number from a JSON number or a numeric string; null otherwise. */
export function num(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export function toDate(value) {
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDateTime(value) {
  const d = toDate(value);
  return d ? dateTime.format(d) : str(value) || 'no date';
}

export function formatTime(value) {
  const d = toDate(value);
  return d ? timeOnly.format(d) : str(value);
}

export function formatAgo(value, now = Date.now()) {
  const d = toDate(value);
  if (!d || !relative) return '';
  const seconds = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86400), 'day');
}

const countFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const rateFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 1, maximumFractionDigits: 1,
});

/** Whole numbers with the locale's thousands separators ("12,345" in English). */
export function formatCount(value) {
  const n = num(value);
  return n === null ? '–' : countFormat.format(Math.round(n));
}

/** Events per second: whole from 100 up, else one decimal; thousands separated. */
export function formatRate(value) {
  const n = num(value);
  if (n === null) return '–';
  return n >= 100 ? countFormat.format(Math.round(n)) : rateFormat.format(n);
}

export function formatDuration(seconds) {
  const n = num(seconds);
  if (n === null) return '';
  const s = Math.floor(n);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const priceFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 2, maximumFractionDigits: 6,
});
const plainFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const percentFormat = new Intl.NumberFormat(undefined, {
  minimumFractionDigits: 1, maximumFractionDigits: 1,
});

const MINUS = '\u2212';

function signed(n, text) {
  if (n > 0) return `+${text}`;
  if (n < 0) return `${MINUS}${text}`;
  return text;
}

function firstOf(data, keys) {
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(data, key)) return data[key];
  }
  return undefined;
}

/**
 * What an event says, as plain parts the views render:
 * {kind: 'price'|'discount'|'country'|'other', label, from, to, change, direction, note}
 */
export function summarize(event) {
  const data = event && typeof event.data === 'object' && event.data !== null
    && !Array.isArray(event.data) ? event.data : null;
  const type = event ? event.eventType : undefined;

  const priceBefore = data ? firstOf(data, ['previousPrice', 'oldPrice', 'prevPrice']) : undefined;
  const priceAfter = data ? firstOf(data, ['newPrice', 'price']) : undefined;
  // A known type whose data has none of its fields is shown as raw fields (kind 'other').
  if ((type === 'ProductPriceUpdate' && (priceBefore !== undefined || priceAfter !== undefined
    || !data || !Object.keys(data).length)) || (data && 'newPrice' in data)) {
    const before = priceBefore;
    const after = priceAfter;
    const a = num(before);
    const b = num(after);
    const out = {
      kind: 'price', label: 'Price',
      from: a !== null ? priceFormat.format(a) : before === undefined ? '?' : str(before),
      to: b !== null ? priceFormat.format(b) : after === undefined ? '?' : str(after),
      change: '', direction: 'none',
    };
    if (a !== null && b !== null) {
      const diff = b - a;
      out.direction = diff > 0 ? 'up' : diff < 0 ? 'down' : 'none';
      let change = signed(diff, priceFormat.format(Math.abs(diff)));
      if (a !== 0) change += ` (${signed(diff, percentFormat.format(Math.abs(diff / a) * 100))}%)`;
      out.change = diff === 0 ? 'no change' : change;
    }
    return out;
  }

  const discountBefore = data ? firstOf(data, ['previousDiscountPercentage',
    'oldDiscountPercentage', 'previousDiscount']) : undefined;
  const discountAfter = data ? firstOf(data, ['newDiscountPercentage', 'discountPercentage',
    'newDiscount']) : undefined;
  if ((type === 'SpecificProductDiscountUpdate' && (discountBefore !== undefined
    || discountAfter !== undefined || !data || !Object.keys(data).length))
    || (data && 'newDiscountPercentage' in data)) {
    const before = discountBefore;
    const after = discountAfter;
    const a = num(before);
    const b = num(after);
    const out = {
      kind: 'discount', label: 'Discount',
      from: a !== null ? `${plainFormat.format(a)}%` : before === undefined ? '?' : str(before),
      to: b !== null ? `${plainFormat.format(b)}%` : after === undefined ? '?' : str(after),
      change: '', direction: 'none',
    };
    if (a !== null && b !== null) {
      const diff = b - a;
      out.direction = diff > 0 ? 'up' : diff < 0 ? 'down' : 'none';
      out.change = diff === 0 ? 'no change'
        : `${signed(diff, plainFormat.format(Math.abs(diff)))} pts`;
    }
    return out;
  }

  if ((type === 'Country' && (!data || 'country' in data || !Object.keys(data).length))
    || (data && 'country' in data)) {
    const country = data ? data.country : undefined;
    const region = data ? data.region : undefined;
    return {
      kind: 'country', label: 'Country',
      value: country === undefined || country === null || country === ''
        ? 'not given (routed to country-US)' : str(country),
      note: region !== undefined && region !== null && region !== '' ? `data region ${str(region)}` : '',
    };
  }

  const entries = data ? Object.entries(data).slice(0, 6) : [];
  return {
    kind: 'other', label: 'Data',
    fields: data ? Object.entries(data) : [],
    value: entries.length
      ? entries.map(([k, v]) => `${k}: ${str(v)}`).join(', ')
      : data ? 'empty' : event && 'data' in event ? str(event.data) : 'none',
  };
}
