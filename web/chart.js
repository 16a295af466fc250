// The rate chart: an inline SVG drawn from /api/overview's series, with a legend that shows the
// latest rates, or the rates under the pointer. Colours come from classes in app.css (the CSP
// allows no inline styles), so the chart follows the light/dark theme.
import { h, s } from './dom.js';
import { formatCount, formatRate, num } from './format.js';

const SERIES = [
  { key: 'consumed', label: 'Consumed' },
  { key: 'routed', label: 'Routed' },
  { key: 'stored', label: 'Stored' },
  { key: 'deadLetters', label: 'Dead letters' },
];

const MAX_WINDOW_MS = 10 * 60 * 1000; // the server keeps 10 minutes
const MIN_WINDOW_MS = 60 * 1000;      // a process that just started: its first minute
const TICK_STEPS_MS = [15e3, 30e3, 60e3, 120e3, 300e3];

function tickText(msAgo) {
  if (msAgo === 0) return 'now';
  return msAgo < 60e3 ? `−${msAgo / 1000} s` : `−${msAgo / 60e3} min`;
}
const HEIGHT = 220;
const PAD = { left: 44, right: 14, top: 12, bottom: 26 };

function niceMax(value) {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function tickLabel(v) {
  return String(Number(v.toFixed(2)));
}

export class RateChart {
  constructor(container, legend) {
    this.container = container;
    this.legend = legend;
    this.points = [];
    this.width = 0;
    this.hoverX = null; // pointer position in SVG units, while over the chart
    this.geometry = null;
    container.addEventListener('pointermove', (e) => this.onPointer(e));
    container.addEventListener('pointerleave', () => {
      this.hoverX = null;
      this.applyHover();
    });
  }

  /** series: [{t, consumed, routed, stored, deadLetters}], oldest first; omit: keys not to draw. */
  update(series, omit = []) {
    this.points = Array.isArray(series)
      ? series.filter((p) => p && typeof p === 'object' && num(p.t) !== null) : [];
    this.omit = omit;
    this.draw();
  }

  resize(width) {
    this.width = width;
    this.draw();
  }

  draw() {
    const points = this.points;
    const w = Math.max(280, Math.round(this.width || this.container.clientWidth || 600));
    const plotW = w - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const end = points.length ? num(points[points.length - 1].t) : Date.now();
    const span = points.length ? end - num(points[0].t) : MAX_WINDOW_MS;
    const windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, span));
    const start = end - windowMs;
    // A role without a store has no "stored" points, one without routing no "routed" ones.
    const omit = this.omit || [];
    const shown = SERIES.filter((ser) => !omit.includes(ser.key)
      && points.some((p) => num(p[ser.key]) !== null));
    // Dead letters are markers on their own row under the plot, not a line on the events'
    // scale: a few per second would be a flat line at zero next to thousands of events.
    const lines = shown.filter((ser) => ser.key !== 'deadLetters');
    const marked = shown.some((ser) => ser.key === 'deadLetters');
    let max = 0;
    for (const p of points) {
      for (const ser of lines) max = Math.max(max, num(p[ser.key]) ?? 0);
    }
    const top = niceMax(max);
    const x = (t) => PAD.left + ((t - start) / windowMs) * plotW;
    const y = (v) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;

    const svg = s('svg', {
      role: 'img', 'aria-label': 'Events per second over the last minutes',
      viewBox: `0 0 ${w} ${HEIGHT}`, width: w, height: HEIGHT, class: 'chart-svg',
    });
    const grid = s('g', { class: 'chart-grid' });
    for (let i = 0; i <= 4; i += 1) {
      const v = (top / 4) * i;
      grid.append(
        s('line', { x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v), class: i ? 'grid-line' : 'axis-line' }),
        s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-text' }, tickLabel(v)));
    }
    const maxTicks = plotW < 420 ? 3 : 6;
    const step = TICK_STEPS_MS.find((ms) => windowMs / ms <= maxTicks) || TICK_STEPS_MS.at(-1);
    for (let ago = Math.floor(windowMs / step) * step; ago >= 0; ago -= step) {
      const xx = x(end - ago);
      const anchor = ago === 0 ? 'end' : xx - PAD.left < 30 ? 'start' : 'middle';
      grid.append(
        s('line', { x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4, class: 'axis-line' }),
        s('text', { x: xx, y: HEIGHT - 6, 'text-anchor': anchor, class: 'chart-text' }, tickText(ago)));
    }
    svg.append(grid);

    const markerY = PAD.top + plotH - 5;
    if (marked) {
      const markers = s('g', { class: 'dead-markers' });
      for (const p of points) {
        const t = num(p.t);
        const v = num(p.deadLetters);
        if (t < start || v === null || v <= 0) continue;
        markers.append(s('path', {
          d: `M${x(t).toFixed(1)},${(markerY - 5).toFixed(1)}l4,8h-8z`, class: 'dead-marker',
        }, s('title', null, `${formatRate(v)} dead letters/s`)));
      }
      svg.append(markers);
    }
    for (const ser of lines) {
      let d = '';
      let pen = false;
      for (const p of points) {
        const t = num(p.t);
        const v = num(p[ser.key]);
        if (t < start || v === null) {
          pen = false; // a gap in the data stays a gap
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      }
      if (d) svg.append(s('path', { d, class: `series series-${ser.key}`, fill: 'none' }));
    }
    if (!points.length) {
      svg.append(s('text', {
        x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'chart-text',
      }, 'No data yet'));
    }
    const cursor = s('g', { class: 'chart-cursor', visibility: 'hidden' },
      s('line', { y1: PAD.top, y2: PAD.top + plotH, class: 'cursor-line' }),
      shown.map((ser) => s('circle', { r: 3.5, class: `cursor-dot series-dot-${ser.key}`, dataset: { key: ser.key } })));
    svg.append(cursor);
    this.geometry = { svg, cursor, w, x, y, start, windowMs, plotW, shown, markerY };
    this.container.replaceChildren(svg);
    this.applyHover();
  }

  onPointer(e) {
    const g = this.geometry;
    if (!g) return;
    const rect = g.svg.getBoundingClientRect();
    if (!rect.width) return;
    this.hoverX = ((e.clientX - rect.left) / rect.width) * g.w;
    this.applyHover();
  }

  /** The point under the pointer, or null. */
  hovered() {
    const g = this.geometry;
    if (!g || this.hoverX === null || !this.points.length) return null;
    const t = g.start + ((this.hoverX - PAD.left) / g.plotW) * g.windowMs;
    let best = null;
    for (const p of this.points) {
      if (num(p.t) < g.start) continue;
      if (!best || Math.abs(num(p.t) - t) < Math.abs(num(best.t) - t)) best = p;
    }
    return best;
  }

  applyHover() {
    const g = this.geometry;
    const point = this.hovered();
    if (g) {
      if (point) {
        const xx = g.x(num(point.t));
        const line = g.cursor.firstChild;
        line.setAttribute('x1', xx);
        line.setAttribute('x2', xx);
        for (const dot of g.cursor.querySelectorAll('circle')) {
          const v = num(point[dot.dataset.key]);
          dot.setAttribute('cx', xx);
          dot.setAttribute('cy', dot.dataset.key === 'deadLetters' ? g.markerY : g.y(v ?? 0));
          dot.setAttribute('visibility', v === null ? 'hidden' : 'visible');
        }
        g.cursor.setAttribute('visibility', 'visible');
      } else {
        g.cursor.setAttribute('visibility', 'hidden');
      }
    }
    this.drawLegend(point);
  }

  drawLegend(point) {
    const shown = this.geometry ? this.geometry.shown : [];
    const values = point || (this.points.length ? this.points[this.points.length - 1] : {});
    const when = point ? new Date(num(point.t)).toLocaleTimeString() : 'latest';
    this.legend.replaceChildren(
      ...shown.map((ser) => h('li', null,
        h('span', { class: `swatch swatch-${ser.key}`, 'aria-hidden': 'true' }),
        `${ser.label} `,
        h('span', { class: 'legend-value' }, `${formatRate(values[ser.key])}/s`))),
      shown.length ? h('li', { class: 'legend-when' }, when) : null);
  }
}

// --- Analytics charts (analytics.js): counts per time bucket, and fixed-bin histograms. ---

/** Six colour classes (app.css: .aseries-N / .aswatch-N / .abar), in order of series size. */
export const ANALYTICS_COLOURS = 6;

/**
 * Lines of counts over time buckets: starts = bucket start times (ms), series =
 * [{label, values: [count per bucket]}], at most ANALYTICS_COLOURS drawn (the caller passes
 * the largest first). The SVG is an image with a summary label; the page shows the numbers in
 * a table next to it.
 */
export function drawBucketChart(container, { starts, series, label, bucketMs }) {
  const w = Math.max(280, Math.round(container.clientWidth || 600));
  const plotW = w - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  let max = 0;
  for (const ser of series) for (const v of ser.values) max = Math.max(max, v);
  const top = niceMax(max);
  const n = Math.max(1, starts.length);
  const x = (i) => PAD.left + ((i + 0.5) / n) * plotW;
  const y = (v) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  const svg = s('svg', {
    role: 'img', 'aria-label': label, viewBox: `0 0 ${w} ${HEIGHT}`, width: w, height: HEIGHT,
    class: 'chart-svg',
  });
  const grid = s('g', { class: 'chart-grid' });
  for (let i = 0; i <= 4; i += 1) {
    const v = (top / 4) * i;
    grid.append(
      s('line', { x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v), class: i ? 'grid-line' : 'axis-line' }),
      s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-text' }, tickLabel(v)));
  }
  const dayOrMore = bucketMs >= 86400000;
  // As many time labels as fit side by side (a date and time takes about 110 px at this size).
  const ticks = Math.max(1, Math.min(n, 6, Math.floor(plotW / (dayOrMore ? 90 : 110))));
  const every = Math.max(1, Math.ceil(n / ticks));
  for (let i = 0; i < starts.length; i += every) {
    const d = new Date(starts[i]);
    const text = dayOrMore ? d.toLocaleDateString() : d.toLocaleString([], {
      month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    });
    grid.append(s('text', {
      x: x(i), y: HEIGHT - 6, 'text-anchor': i === 0 ? 'start' : 'middle', class: 'chart-text',
    }, text));
  }
  svg.append(grid);
  series.slice(0, ANALYTICS_COLOURS).forEach((ser, k) => {
    let d = '';
    ser.values.forEach((v, i) => {
      d += `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (ser.values.length === 1) d += `h0.1`; // one bucket: a dot, with round line caps
    svg.append(s('path', { d, class: `series aseries-${k}`, fill: 'none' },
      s('title', null, ser.label)));
  });
  if (!series.length) {
    svg.append(s('text', {
      x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'chart-text',
    }, 'No events in this window'));
  }
  container.replaceChildren(svg);
}

/** The legend of drawBucketChart: one entry per drawn series, with its total. */
export function bucketLegend(legend, series) {
  legend.replaceChildren(...series.slice(0, ANALYTICS_COLOURS).map((ser, k) => h('li', null,
    h('span', { class: `swatch aswatch-${k}`, 'aria-hidden': 'true' }),
    `${ser.label} `,
    h('span', { class: 'legend-value' }, formatCount(ser.total)))));
}

/** Bars of a histogram: bins = [{label, count}], left to right. */
export function drawHistogram(container, { bins, label }) {
  const w = Math.max(280, Math.round(container.clientWidth || 400));
  const height = 180;
  const plotW = w - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const top = niceMax(Math.max(0, ...bins.map((b) => b.count)));
  const bw = plotW / Math.max(1, bins.length);
  const y = (v) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  const svg = s('svg', {
    role: 'img', 'aria-label': label, viewBox: `0 0 ${w} ${height}`, width: w, height,
    class: 'chart-svg',
  });
  for (let i = 0; i <= 2; i += 1) {
    const v = (top / 2) * i;
    svg.append(
      s('line', { x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v), class: i ? 'grid-line' : 'axis-line' }),
      s('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-text' }, tickLabel(v)));
  }
  bins.forEach((b, i) => {
    if (b.count > 0) {
      svg.append(s('rect', {
        x: (PAD.left + i * bw + 1).toFixed(1), y: y(b.count).toFixed(1),
        width: Math.max(1, bw - 2).toFixed(1), height: (PAD.top + plotH - y(b.count)).toFixed(1),
        class: 'abar',
      }, s('title', null, `${b.label}: ${formatCount(b.count)}`)));
    }
    if (i === 0 || i === bins.length - 1 || i === Math.floor(bins.length / 2)) {
      svg.append(s('text', {
        x: (PAD.left + (i + 0.5) * bw).toFixed(1), y: height - 6,
        'text-anchor': i === 0 ? 'start' : i === bins.length - 1 ? 'end' : 'middle',
        class: 'chart-text',
      }, b.short));
    }
  });
  container.replaceChildren(svg);
}
