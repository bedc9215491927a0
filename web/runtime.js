// runtime.js: a live view of runtime.stats (doc/protocol.md, GET /api/stats).
//
// Once a second the page fetches the figures and adds them to charts of the
// last WINDOW_MS (chart.js: SVG with a clock along the bottom and values in
// their unit up the side): connections by transport, chat messages per
// second, the heap, goroutines, goroutine switches per second, the run
// queue of each P, the collected heap against its goal, and the collector's
// pauses (milliseconds stopped per second, collections per second). Every
// raw figure is in a table below.
//
// Invariants:
//  - a rate is the difference of a counter between two consecutive samples
//    over the uptime between them: none for the first sample, nor across a
//    server restart (the counter goes down or the uptime does);
//  - a chart whose figures the server does not send shows a sentence, not
//    an empty frame.

import { TimeChart } from './chart.js';
import { formatBytes, formatCount, formatRate } from './format.js';

const WINDOW_MS = 5 * 60 * 1000; // the charts' history: five minutes
const PERIOD_MS = 1000;
const COLORS = ['#2a6fdb', '#e8710a', '#1e8e3e', '#c0392b', '#9334e6', '#12b5cb', '#e52592', '#7cb342'];

/** A counter's rate between two samples (per second), or null. */
function rate(cur, prev, get) {
  if (!prev) return null;
  const a = get(prev);
  const b = get(cur);
  const dt = cur.uptime_ms - prev.uptime_ms;
  if (typeof a !== 'number' || typeof b !== 'number' || b < a || dt <= 0) return null;
  return ((b - a) * 1000) / dt;
}

/** The sum of the values that are numbers (null when none is). */
function sum(values) {
  const nums = values.filter((v) => typeof v === 'number');
  return nums.length ? nums.reduce((a, b) => a + b, 0) : null;
}

/**
 * The charts. series: names (or a function of the first sample, for one
 * line per P); pick(sample, previous): one value per series, or null when
 * the server does not send these figures; headline(values): the figure
 * beside the title (default: the first series').
 */
const CHARTS = [
  { id: 'conns', title: 'Connections', unit: 'open, by transport', series: ['tcp', 'http', 'ws'],
    integer: true, format: formatCount, headline: sum,
    pick: (s) => (s.conns ? [s.conns.tcp, s.conns.http, s.conns.ws] : null) },
  { id: 'messages', title: 'Chat messages', unit: 'per second', series: ['stored', 'delivered'],
    format: formatRate,
    pick: (s, p) => (s.chat ? [rate(s, p, (x) => x.chat && x.chat.messages_stored),
      rate(s, p, (x) => x.chat && x.chat.messages_delivered)] : null) },
  { id: 'heap', title: 'Heap', unit: 'bytes in use', series: ['in use'], binary: true,
    format: formatBytes, pick: (s) => (s.heap ? [s.heap.bytes_in_use] : null) },
  { id: 'goroutines', title: 'Goroutines', unit: 'live', series: ['goroutines', 'threads (Ms)'],
    integer: true, format: formatCount, pick: (s) => [s.goroutines, s.threads] },
  { id: 'switches', title: 'Scheduler', unit: 'per second', series: ['switches', 'steals'],
    format: formatRate,
    pick: (s, p) => [rate(s, p, (x) => x.switches), rate(s, p, (x) => x.steals)] },
  { id: 'runq', title: 'Run queues', unit: 'goroutines waiting, per P', integer: true,
    series: (s) => (s.runq || []).map((_, i) => `P${i}`), format: formatCount, headline: sum,
    pick: (s) => s.runq || null },
  { id: 'gc', title: 'Collected heap', unit: 'bytes, and the next collection\'s goal',
    series: ['live', 'goal'], binary: true, format: formatBytes,
    pick: (s) => (s.gc ? [s.gc.heap_live, s.gc.heap_goal] : null) },
  { id: 'gcpause', title: 'Collector', unit: 'per second', series: ['ms paused', 'collections'],
    format: formatRate,
    pick: (s, p) => (s.gc ? [rate(s, p, (x) => x.gc && x.gc.pause_total_ns / 1e6),
      rate(s, p, (x) => x.gc && x.gc.cycles)] : null) },
];

const charts = new Map(); // chart id -> {def, chart, legend}
let previous = null; // the previous sample, for rates

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A chart's card: its title and unit, the latest value, the drawing, a
 * legend with each series' latest value. */
function card(id, title, unit, withValue = true) {
  const div = el('section', 'chart');
  div.id = `chart-${id}`;
  const h = el('h2');
  const name = el('span', null, title);
  if (unit) name.append(el('small', 'unit', ` · ${unit}`));
  const out = el('output');
  out.id = `value-${id}`;
  out.textContent = '–';
  h.append(name);
  if (withValue) h.append(out);
  div.append(h);
  document.getElementById('charts').append(div);
  return div;
}

function makeChart(def, sample) {
  const names = typeof def.series === 'function' ? def.series(sample) : def.series;
  const series = names.map((name, i) => ({ name, color: COLORS[i % COLORS.length] }));
  const div = card(def.id, def.title, def.unit);
  const plot = el('div', 'plot');
  const legend = el('div', 'legend');
  div.append(plot, legend);
  const chart = new TimeChart(plot, { series, format: def.format, binary: def.binary,
    integer: def.integer, windowMs: WINDOW_MS, periodMs: PERIOD_MS });
  const entry = { def, chart, legend, series, note: null };
  charts.set(def.id, entry);
  return entry;
}

function showLegend(entry) {
  if (entry.series.length < 2) {
    entry.legend.replaceChildren();
    return;
  }
  entry.legend.replaceChildren(...entry.series.map((s, i) => {
    const item = el('span', 'legend-item');
    const sw = el('span', 'swatch');
    sw.style.background = s.color; // CSSOM, not a style attribute
    item.append(sw, `${s.name} ${entry.def.format(entry.chart.latest(i))}`);
    return item;
  }));
}

function showMissing(def) {
  let entry = charts.get(def.id);
  if (!entry) {
    const div = card(def.id, def.title, def.unit, false);
    entry = { def, chart: null, note: el('p', 'placeholder', 'This server does not report these figures.') };
    div.append(entry.note);
    charts.set(def.id, entry);
  }
}

function update(stats, now) {
  for (const def of CHARTS) {
    const values = def.pick(stats, previous);
    if (values === null) {
      if (!charts.has(def.id)) showMissing(def);
      continue;
    }
    const entry = charts.get(def.id) || makeChart(def, stats);
    if (!entry.chart) continue; // the figures came late: keep the card as it is
    entry.chart.push(now, values);
    entry.chart.draw(now);
    const head = def.headline ? def.headline(values) : entry.chart.latest(0);
    document.getElementById(`value-${def.id}`).textContent = def.format(head);
    showLegend(entry);
  }
  previous = stats;
  showRaw(stats);
}

/** Flattens nested figures into [name, value] rows: heap.bytes_in_use, runq[0]... */
function flatten(obj, prefix, rows) {
  for (const [k, v] of Object.entries(obj)) {
    const name = Array.isArray(obj) ? `${prefix}[${k}]` : prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object') flatten(v, name, rows);
    else rows.push([name, v]);
  }
  return rows;
}

const grouped = new Intl.NumberFormat('en');

function showRaw(stats) {
  const rows = flatten(stats, '', []).map(([name, v]) => {
    const tr = el('tr');
    tr.dataset.name = name;
    let text = typeof v === 'number' ? grouped.format(v) : String(v);
    if (typeof v === 'number' && /bytes|mapped/.test(name)) text += ` (${formatBytes(v)})`;
    tr.append(el('td', null, name), el('td', null, text));
    return tr;
  });
  document.getElementById('raw-body').replaceChildren(...rows);
}

function showState(ok, text) {
  const e = document.getElementById('state');
  e.dataset.state = ok ? 'open' : 'waiting';
  e.textContent = text;
}

async function poll() {
  try {
    const res = await fetch('/api/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    update(await res.json(), Date.now());
    showState(true, 'live');
  } catch (err) {
    previous = null; // no rate across the gap
    showState(false, `no figures: ${err.message}`);
  }
  setTimeout(poll, PERIOD_MS);
}

// charts are made on the first sample (one line per P needs it)
poll();
