// The admin console's call operations: across admitted visits, how often
// the call connected, how long admit→connected took (p50/p95), and the
// shares of calls relayed through TURN and degraded to audio only, per day
// as an SVG chart with the totals beside it (`GET /admin/operations`).

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const SERIES = [
  { key: 'connect_rate', label: 'Connected', className: 'ops-connected' },
  { key: 'relayed_share', label: 'Relayed through TURN', className: 'ops-relayed' },
  { key: 'audio_only_share', label: 'Degraded to audio only', className: 'ops-audio' },
];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const percent = (share) => (share === null || share === undefined ? '\u2014' : `${Math.round(share * 100)}%`);
const seconds = (s) => (s === null || s === undefined ? '\u2014' : `${Math.round(s)} s`);

/** One grouped bar per day and series; a day with no admitted visit has none. */
export function chart(days) {
  const width = 640;
  const height = 220;
  const pad = { left: 36, right: 8, top: 10, bottom: 34 };
  const inner = { w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
  const slot = inner.w / Math.max(1, days.length);
  const bar = Math.max(2, (slot - 6) / SERIES.length);
  const y = (share) => pad.top + inner.h * (1 - share);
  const root = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'ops-chart', 'data-testid': 'ops-chart',
    'aria-labelledby': 'ops-chart-title',
  }, svg('title', { id: 'ops-chart-title' }, 'Connected, relayed and audio-only shares of admitted calls, per day'));
  for (const tick of [0, 0.5, 1]) {
    root.append(
      svg('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'ops-grid' }),
      svg('text', { x: pad.left - 4, y: y(tick) + 4, 'text-anchor': 'end', class: 'ops-axis' }, `${tick * 100}%`),
    );
  }
  days.forEach((day, i) => {
    const x0 = pad.left + i * slot + 3;
    SERIES.forEach((series, j) => {
      const share = day[series.key];
      if (share === null || share === undefined) return;
      root.append(svg('rect', {
        x: x0 + j * bar, y: y(share), width: bar - 1, height: Math.max(0.5, inner.h * share),
        class: series.className, 'data-day': day.date, 'data-series': series.key,
      }, svg('title', {}, `${day.date}: ${series.label.toLowerCase()} ${percent(share)} of ${day.admitted}`)));
    });
    if (days.length <= 14 || i % Math.ceil(days.length / 14) === 0) {
      root.append(svg('text', { x: x0 + slot / 2 - 3, y: height - 14, 'text-anchor': 'middle', class: 'ops-axis' }, day.date.slice(5)));
    }
  });
  return root;
}

/** Mounts the section into `root`, reading through `api`. */
export function mountOperations(root, api) {
  const select = h('select', { id: 'ops-days', 'data-testid': 'ops-days' },
    ...[7, 14, 30, 90].map((d) => h('option', { value: String(d), selected: d === 14 }, `Last ${d} days`)));
  const figures = h('dl', { class: 'ops-figures', 'data-testid': 'ops-figures' });
  const holder = h('div', { class: 'ops-chart-wrap' });
  const legend = h('ul', { class: 'ops-legend', 'aria-hidden': 'true' },
    ...SERIES.map((s) => h('li', {}, h('span', { class: `ops-key ${s.className}` }), s.label)));
  const message = h('p', { class: 'field-error', role: 'status', 'aria-live': 'polite', 'data-testid': 'ops-message' });
  root.replaceChildren(
    h('h2', { id: 'ops-title' }, 'Call operations'),
    h('p', {}, 'How calls went across admitted visits: figures only, no patient data.'),
    h('div', { class: 'form-grid' }, h('div', {}, h('label', { for: 'ops-days' }, 'Period'), select)),
    figures, holder, legend, message,
  );

  async function load() {
    let report;
    try {
      report = await api(`/admin/operations?days=${select.value}`);
    } catch (error) {
      message.textContent = error.message;
      return;
    }
    message.textContent = '';
    const t = report.total;
    const fact = (label, value, id) => [h('dt', {}, label), h('dd', { 'data-testid': id }, value)];
    figures.replaceChildren(
      ...fact('Admitted visits', String(t.admitted), 'ops-admitted'),
      ...fact('Connect success', percent(t.connect_rate), 'ops-connect-rate'),
      ...fact('Admit \u2192 connected, median', seconds(t.admit_to_connected_p50_seconds), 'ops-p50'),
      ...fact('Admit \u2192 connected, 95th percentile', seconds(t.admit_to_connected_p95_seconds), 'ops-p95'),
      ...fact('Relayed through TURN', percent(t.relayed_share), 'ops-relayed'),
      ...fact('Degraded to audio only', percent(t.audio_only_share), 'ops-audio-only'),
    );
    holder.replaceChildren(chart(report.days));
  }
  select.addEventListener('change', load);
  load();
  return { reload: load };
}
