// runtime.js: a live view of runtime.stats (doc/protocol.md, GET /api/stats).
//
// Once a second the page fetches the figures, keeps the last WINDOW samples
// of a few of them, and draws each as a small line chart on a canvas, with the
// current value beside its title and every raw figure in a table below.
//
// Invariants:
//  - every series holds at most WINDOW samples, oldest first;
//  - "switches per second" is the difference of two consecutive samples of
//    the `switches` counter over the uptime between them (no value for the
//    first sample, nor across a server restart, when the counter goes down).

const WINDOW = 60; // samples kept per chart: a minute at one a second
const PERIOD_MS = 1000;
const COLORS = ['#2a6fdb', '#e8710a', '#1e8e3e', '#c0392b', '#9334e6', '#12b5cb', '#e52592', '#7cb342'];

const fmtInt = new Intl.NumberFormat('en');

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** The charts: title, how to read one value (or one per P) from a sample. */
const CHARTS = [
  { id: 'goroutines', title: 'goroutines', pick: (s) => [s.goroutines], fmt: fmtInt.format },
  { id: 'threads', title: 'threads (Ms)', pick: (s) => [s.threads], fmt: fmtInt.format },
  { id: 'runq', title: 'run queue per P', pick: (s) => s.runq || [], fmt: (v, all) => all.join(' ') },
  { id: 'switches', title: 'switches / s', pick: (s, rate) => (rate === null ? null : [rate]),
    fmt: (v) => fmtInt.format(Math.round(v)) },
  { id: 'heap', title: 'heap in use', pick: (s) => [s.heap ? s.heap.bytes_in_use : 0], fmt: fmtBytes },
];

const series = new Map(); // chart id -> array of samples (each an array of numbers)
let previous = null; // the previous sample, for the switch rate

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function buildCharts() {
  const box = document.getElementById('charts');
  for (const c of CHARTS) {
    const div = el('div', 'chart');
    div.id = `chart-${c.id}`;
    const h = el('h2', null, c.title);
    const out = el('output');
    out.id = `value-${c.id}`;
    out.textContent = '–';
    h.append(out);
    const canvas = el('canvas');
    canvas.width = 300;
    canvas.height = 100;
    div.append(h, canvas);
    box.append(div);
    series.set(c.id, []);
  }
}

/** Draws samples (arrays of numbers, one line per index) scaled to the canvas. */
function draw(canvas, samples) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300;
  const h = canvas.clientHeight || 100;
  if (canvas.width !== Math.round(w * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  let max = 1;
  for (const s of samples) for (const v of s) max = Math.max(max, v);
  ctx.strokeStyle = '#dde1e6';
  ctx.beginPath();
  ctx.moveTo(0, h - 0.5);
  ctx.lineTo(w, h - 0.5);
  ctx.stroke();
  ctx.fillStyle = '#6b7480';
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillText(String(Math.round(max)), 2, 10);
  const lines = samples.reduce((n, s) => Math.max(n, s.length), 0);
  const dx = w / (WINDOW - 1);
  const x0 = w - dx * (samples.length - 1);
  for (let k = 0; k < lines; k++) {
    ctx.strokeStyle = COLORS[k % COLORS.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    samples.forEach((s, i) => {
      const y = h - 2 - ((s[k] || 0) / max) * (h - 14);
      if (i === 0) ctx.moveTo(x0, y);
      else ctx.lineTo(x0 + i * dx, y);
    });
    ctx.stroke();
  }
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

function showRaw(stats) {
  const rows = flatten(stats, '', []).map(([name, v]) => {
    const tr = el('tr');
    tr.dataset.name = name;
    tr.append(el('td', null, name), el('td', null, typeof v === 'number' ? fmtInt.format(v) : String(v)));
    return tr;
  });
  document.getElementById('raw-body').replaceChildren(...rows);
}

function switchRate(stats) {
  const p = previous;
  previous = stats;
  if (!p || stats.switches < p.switches || stats.uptime_ms <= p.uptime_ms) return null;
  return ((stats.switches - p.switches) * 1000) / (stats.uptime_ms - p.uptime_ms);
}

function update(stats) {
  const rate = switchRate(stats);
  for (const c of CHARTS) {
    const v = c.pick(stats, rate);
    if (v === null) continue;
    const s = series.get(c.id);
    s.push(v);
    if (s.length > WINDOW) s.shift();
    document.getElementById(`value-${c.id}`).textContent = c.fmt(v[0], v);
    draw(document.querySelector(`#chart-${c.id} canvas`), s);
  }
  showRaw(stats);
}

function showState(ok, text) {
  const el = document.getElementById('state');
  el.dataset.state = ok ? 'open' : 'waiting';
  el.textContent = text;
}

async function poll() {
  try {
    const res = await fetch('/api/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    update(await res.json());
    showState(true, 'live');
  } catch (err) {
    showState(false, `no figures: ${err.message}`);
  }
  setTimeout(poll, PERIOD_MS);
}

buildCharts();
poll();
