// Live charts of the numeric fields in a feed's JSON messages (uPlot, vendored: vendor/VENDORED.md).
// Shared by StreamView's Metrics tab and the watch page.
//
// A metric is every numeric (non-boolean) top-level field of a JSON message that is neither a log
// record nor a wpsnb control message, and every numeric field of a log record's `extra`. Its x is
// the message's numeric `step`, else the time it was sent. One small chart per metric, one line in
// it: metrics of different scales (loss, learning rate, accuracy) each stay readable.
//
// Test hooks: the panel's data-metrics (names, comma-separated); each chart `.wpsnb-metric` with
// data-metric, data-points, data-last (the last value) and data-axis ("step" or "time").

import { frameScheduler, h } from "./dom.js";
import { isControl, logRecordOf } from "./log_lines.js";
import uPlot from "./vendor/uPlot.iife.min.js";

const MAX_POINTS = 10000; // per metric; the oldest go first
const COLOURS = ["#1a73e8", "#d93025", "#188038", "#f29900", "#9334e6", "#12b5cb", "#e8710a", "#5f6368"];

function finite(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// The points a record adds: [{name, x, y, axis}].
export function metricPoints(record) {
  if (record.kind !== "message" || record.dataType !== "json" || isControl(record)) return [];
  const data = record.data;
  if (data === null || typeof data !== "object" || Array.isArray(data)) return [];
  const log = logRecordOf(record);
  const fields = log ? log.extra : data;
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) return [];
  let time = record.t / 1000;
  if (log && typeof log.time === "string" && !Number.isNaN(Date.parse(log.time))) time = Date.parse(log.time) / 1000;
  const step = finite(fields.step) ? fields.step : null;
  const points = [];
  for (const [name, value] of Object.entries(fields)) {
    if (name === "step" || !finite(value)) continue;
    points.push({ name, x: step ?? time, y: value, axis: step === null ? "time" : "step" });
  }
  return points;
}

function formatValue(value) {
  if (!finite(value)) return "–";
  const size = Math.abs(value);
  if (size !== 0 && (size < 1e-3 || size >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

export class MetricsPanel {
  constructor() {
    this.metrics = new Map(); // name -> {xs, ys, axis, card, plot, dirty}
    this.visible = false;
    this.empty = h("p", {
      class: "wpsnb-metrics-empty",
      text: "No metrics yet: numeric fields of JSON messages (e.g. wpsnb.log_metrics(step=1, loss=0.3)) are charted here.",
    });
    this.grid = h("div", { class: "wpsnb-metrics-grid" });
    this.root = h("div", { class: "wpsnb-metrics", dataset: { metrics: "" } }, this.empty, this.grid);
    this.schedule = frameScheduler(() => this.paint());
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.root);
  }

  reset(records) {
    for (const metric of this.metrics.values()) metric.plot?.destroy();
    this.metrics.clear();
    this.grid.replaceChildren();
    this.add(records);
  }

  add(records) {
    let changed = false;
    for (const record of records) {
      for (const point of metricPoints(record)) changed = this.addPoint(point) || changed;
    }
    if (changed) this.schedule();
  }

  addPoint({ name, x, y, axis }) {
    let metric = this.metrics.get(name);
    if (!metric) {
      const colour = COLOURS[this.metrics.size % COLOURS.length];
      const chart = h("div", { class: "wpsnb-metric-chart" });
      const last = h("span", { class: "wpsnb-metric-last" });
      const card = h(
        "div",
        { class: "wpsnb-metric", dataset: { metric: name, points: "0", axis } },
        h("div", { class: "wpsnb-metric-title" }, h("span", { class: "wpsnb-metric-name", text: name }), last),
        chart,
      );
      metric = { name, xs: [], ys: [], axis, colour, card, chart, last, plot: null, dirty: true };
      this.metrics.set(name, metric);
      this.grid.append(card);
      this.root.dataset.metrics = [...this.metrics.keys()].join(",");
    }
    if (axis !== metric.axis) return false; // one x axis per chart: the first point's kind decides
    const { xs, ys } = metric;
    if (!xs.length || x >= xs[xs.length - 1]) {
      xs.push(x);
      ys.push(y);
    } else {
      // Out of order (a history answer, a restarted run): uPlot wants x ascending.
      let at = xs.length;
      while (at > 0 && xs[at - 1] > x) at--;
      xs.splice(at, 0, x);
      ys.splice(at, 0, y);
    }
    if (xs.length > MAX_POINTS) {
      xs.splice(0, xs.length - MAX_POINTS);
      ys.splice(0, ys.length - MAX_POINTS);
    }
    metric.lastValue = ys[ys.length - 1]; // the value at the largest x, whatever arrived last
    metric.dirty = true;
    return true;
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      for (const metric of this.metrics.values()) metric.dirty = true;
      this.schedule();
    }
  }

  width(metric) {
    return Math.max(200, Math.floor(metric.chart.clientWidth || 320));
  }

  options(metric) {
    return {
      width: this.width(metric),
      height: 150,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: metric.axis === "time" } },
      axes: [
        { stroke: "#888", grid: { stroke: "rgba(128,128,128,0.15)" }, size: 30 },
        { stroke: "#888", grid: { stroke: "rgba(128,128,128,0.15)" }, size: 52 },
      ],
      series: [{ label: metric.axis }, { label: metric.name, stroke: metric.colour, width: 1.5, points: { show: false } }],
    };
  }

  paint() {
    this.empty.hidden = this.metrics.size > 0;
    for (const metric of this.metrics.values()) {
      if (!metric.dirty) continue;
      metric.card.dataset.points = String(metric.xs.length);
      metric.card.dataset.last = String(metric.lastValue);
      metric.last.textContent = formatValue(metric.lastValue);
      if (!this.visible) continue; // a hidden chart has no width: drawn when shown
      metric.dirty = false;
      const data = [metric.xs.slice(), metric.ys.slice()];
      if (!metric.plot) metric.plot = new uPlot(this.options(metric), data, metric.chart);
      else metric.plot.setData(data);
    }
  }

  resize() {
    if (!this.visible) return;
    for (const metric of this.metrics.values()) {
      if (metric.plot && this.width(metric) !== metric.plot.width) metric.plot.setSize({ width: this.width(metric), height: 150 });
    }
  }

  // The charts as PNG data URLs (for a saved notebook's snapshot), by metric name.
  images() {
    const images = {};
    for (const metric of this.metrics.values()) {
      const canvas = metric.plot?.root.querySelector("canvas");
      if (canvas) images[metric.name] = canvas.toDataURL("image/png");
    }
    return images;
  }

  dispose() {
    this.resizer.disconnect();
    for (const metric of this.metrics.values()) metric.plot?.destroy();
  }
}
