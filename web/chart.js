// The rate chart: an inline SVG drawn from /api/overview's series. Colours come from classes
// in app.css (the CSP allows no inline styles), so the chart follows the light/dark theme.
import { h, s } from './dom.js';
import { formatRate, num } from './format.js';

export const SERIES = [
  { key: 'consumed', label: 'Consumed' },
  { key: 'routed', label: 'Routed' },
  { key: 'stored', label: 'Stored' },
  { key: 'deadLetters', label: 'Dead letters' },
];

const WINDOW_MS = 10 * 60 * 1000;
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
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Which series the data has (a role without a store has no "stored" points). */
function present(points) {
  return SERIES.filter((ser) => points.some((p) => num(p[ser.key]) !== null));
}

export function drawChart(container, series, width) {
  const points = Array.isArray(series) ? series.filter((p) => p && num(p.t) !== null) : [];
  const w = Math.max(280, Math.round(width || 600));
  const plotW = w - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const end = points.length ? num(points[points.length - 1].t) : Date.now();
  const start = end - WINDOW_MS;
  const shown = present(points);
  let max = 0;
  for (const p of points) {
    for (const ser of shown) max = Math.max(max, num(p[ser.key]) ?? 0);
  }
  const top = niceMax(max);
  const x = (t) => PAD.left + ((t - start) / WINDOW_MS) * plotW;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const svg = s('svg', {
    role: 'img', 'aria-label': 'Events per second over the last minutes',
    viewBox: `0 0 ${w} ${HEIGHT}`, width: w, height: HEIGHT, class: 'chart-svg',
    preserveAspectRatio: 'xMinYMin meet',
  });

  const grid = s('g', { class: 'chart-grid' });
  for (let i = 0; i <= 4; i += 1) {
    const v = (top / 4) * i;
    const yy = y(v);
    grid.append(
      s('line', { x1: PAD.left, x2: w - PAD.right, y1: yy, y2: yy, class: i ? 'grid-line' : 'axis-line' }),
      s('text', { x: PAD.left - 6, y: yy + 4, 'text-anchor': 'end', class: 'chart-text' }, tickLabel(v)));
  }
  for (let m = 10; m >= 0; m -= 2) {
    const xx = x(end - m * 60000);
    grid.append(
      s('line', { x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 4, class: 'axis-line' }),
      s('text', {
        x: xx, y: HEIGHT - 6, 'text-anchor': m === 0 ? 'end' : m === 10 ? 'start' : 'middle',
        class: 'chart-text',
      }, m === 0 ? 'now' : `−${m} min`));
  }
  svg.append(grid);

  for (const ser of shown) {
    let d = '';
    let pen = false;
    for (const p of points) {
      const t = num(p.t);
      const v = num(p[ser.key]);
      if (t < start || v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(Math.max(0, v)).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(s('path', { d, class: `series series-${ser.key}`, fill: 'none' }));
  }

  if (!points.length) {
    svg.append(s('text', {
      x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'chart-text',
    }, 'No data yet'));
  }
  container.replaceChildren(svg);
  return shown;
}

export function drawLegend(legend, series, shown) {
  const last = Array.isArray(series) && series.length ? series[series.length - 1] : {};
  legend.replaceChildren(...shown.map((ser) => h('li', null,
    h('span', { class: `swatch swatch-${ser.key}`, 'aria-hidden': 'true' }),
    `${ser.label} `,
    h('span', { class: 'muted' }, `${formatRate(last[ser.key])}/s`))));
}
