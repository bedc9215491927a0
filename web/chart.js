// chart.js: a line chart of a few series over a sliding time window, drawn
// as SVG with real axes: clock times along the bottom at whole intervals,
// values up the left at round steps formatted in the chart's unit. No
// library: a few hundred points a chart, redrawn once a second, need none
// (the README says why).
//
// Invariants:
//  - points are in time order and none is older than the window (plus one,
//    so a line enters from the left edge);
//  - a value of null draws nothing: the line breaks there (a gap in the
//    samples breaks it too);
//  - every label is set with textContent.

const SVG = 'http://www.w3.org/2000/svg';
const MARGIN = { left: 56, right: 10, top: 8, bottom: 20 };

function node(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.append(e);
  return e;
}

/** Round steps for an axis from 0 to about max: [step, top], at most ~5
 * steps. binary: steps are powers of two times a power of 1024 (bytes);
 * integer: no step below 1 (counts). */
export function niceScale(max, binary = false, integer = false) {
  if (!(max > 0)) return [1, 1];
  const base = binary ? 1024 ** Math.floor(Math.log(max) / Math.log(1024)) : 1;
  const m = max / base;
  let step;
  if (binary) {
    step = 2 ** Math.ceil(Math.log2(m / 5));
  } else {
    const p = 10 ** Math.floor(Math.log10(m / 5));
    step = [1, 2, 5, 10].map((k) => k * p).find((s) => m / s <= 5);
  }
  step *= base;
  if (integer) step = Math.max(step, 1);
  return [step, Math.ceil(max / step) * step];
}

/** Time tick interval (ms) for a window: whole seconds or minutes, at most
 * `most` ticks. */
function timeStep(windowMs, most) {
  return [5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 1800e3]
    .find((s) => windowMs / s <= most) || 1800e3;
}

const LABEL_PX = 72; // room one time label needs

export class TimeChart {
  /**
   * host: the element to draw in. opts: series [{name, color}], format(value)
   * for labels, binary (byte steps), integer (whole steps), windowMs, height
   * (px), periodMs (the sampling period: a gap of 3 periods breaks lines).
   */
  constructor(host, { series, format, binary = false, integer = false, windowMs = 300e3,
    height = 160, periodMs = 1000 }) {
    this.host = host;
    this.series = series;
    this.format = format;
    this.binary = binary;
    this.integer = integer;
    this.windowMs = windowMs;
    this.height = height;
    this.periodMs = periodMs;
    this.points = []; // [{t, v: [number|null per series]}]
    this.svg = node('svg', { role: 'img' }, host);
    this.clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
    this.clockSec = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  /** Adds the values (one per series) sampled at time t (ms since epoch). */
  push(t, values) {
    this.points.push({ t, v: values });
    const from = t - this.windowMs;
    while (this.points.length > 2 && this.points[1].t < from) this.points.shift();
  }

  /** The latest value of series i, or null. */
  latest(i = 0) {
    for (let k = this.points.length - 1; k >= 0; k--) {
      const v = this.points[k].v[i];
      if (v !== null && v !== undefined) return v;
    }
    return null;
  }

  draw(now = Date.now()) {
    const w = Math.max(this.host.clientWidth, 200);
    const h = this.height;
    const svg = this.svg;
    svg.replaceChildren();
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const x0 = MARGIN.left;
    const x1 = w - MARGIN.right;
    const y0 = h - MARGIN.bottom;
    const y1 = MARGIN.top;
    const t0 = now - this.windowMs;
    let max = 0;
    for (const p of this.points) for (const v of p.v) if (v > max) max = v;
    const [step, top] = niceScale(max, this.binary, this.integer);
    const sx = (t) => x0 + ((t - t0) / this.windowMs) * (x1 - x0);
    const sy = (v) => y0 - (v / top) * (y0 - y1);

    // value axis: gridlines at round steps, labelled in the unit
    for (let v = 0; v <= top + step / 2; v += step) {
      const y = sy(v);
      node('line', { class: v === 0 ? 'axis' : 'grid', x1: x0, x2: x1, y1: y, y2: y }, svg);
      const label = node('text', { x: x0 - 6, y: y + 3, 'text-anchor': 'end' }, svg);
      label.textContent = this.format(v);
    }
    // time axis: ticks at whole intervals, labelled with the clock
    const ts = timeStep(this.windowMs, Math.max(1, Math.floor((x1 - x0) / LABEL_PX)));
    const fmt = ts < 60e3 ? this.clockSec : this.clock;
    node('line', { class: 'axis', x1: x0, x2: x0, y1: y0, y2: y1 }, svg);
    for (let t = Math.ceil(t0 / ts) * ts; t <= now; t += ts) {
      const x = sx(t);
      node('line', { class: 'axis', x1: x, x2: x, y1: y0, y2: y0 + 4 }, svg);
      const label = node('text', { x, y: h - 4, 'text-anchor': 'middle' }, svg);
      label.textContent = fmt.format(new Date(t));
    }
    // the lines, broken at nulls and at gaps in the samples
    this.series.forEach((s, i) => {
      let d = '';
      let prev = null;
      for (const p of this.points) {
        const v = p.v[i];
        if (v === null || v === undefined || p.t < t0 - 3 * this.periodMs) {
          prev = null;
          continue;
        }
        const cmd = prev && p.t - prev.t <= 3 * this.periodMs ? 'L' : 'M';
        d += `${cmd}${Math.max(sx(p.t), x0).toFixed(1)},${sy(v).toFixed(1)}`;
        prev = p;
      }
      if (d) node('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.5,
        'stroke-linejoin': 'round', 'data-series': s.name }, svg);
      if (prev) node('circle', { cx: sx(prev.t), cy: sy(prev.v[i]), r: 2.5, fill: s.color }, svg);
    });
  }
}
