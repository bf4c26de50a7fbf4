// The training-log viewer that StreamView and the watch page share: a terminal-like log (log_lines.js)
// with a level filter and search, and a Metrics tab (metrics.js), over one feed store (feed.js).
//
// mountTrainingLog({model, feed, root, controls, extraFilters, extraMatch, hooks}) returns the pieces for the
// caller's layout: `toolbar`, `body` (log and metrics), `live` (the LiveView), `lines`, `metrics`.
// Test hooks: the toolbar's `.wpsnb-tab[data-tab]` (aria-selected), `.wpsnb-filter-level`,
// `.wpsnb-filter-text`; the body's `.wpsnb-log` and `.wpsnb-metrics`.

import { h } from "./dom.js";
import { LiveView } from "./live_view.js";
import { LEVELS, LineStore, lineMatches, refreshLine, renderLine, searchable } from "./log_lines.js";
import { MetricsPanel } from "./metrics.js";

export function mountTrainingLog({ model, feed, root, controls, extraFilters = [], extraMatch = () => true, hooks = {} }) {
  const { pauseButton, clearButton, shown, jump } = controls;
  const lines = new LineStore(feed, model.get("limit"));
  const metrics = new MetricsPanel();

  const levelFilter = h(
    "select",
    { class: "wpsnb-filter-level", title: "Show only log records at or above a level" },
    h("option", { value: "", text: "all output" }),
    ...LEVELS.map(([name, number]) => h("option", { value: String(number), text: `${name}+` })),
  );
  const textFilter = h("input", {
    class: "wpsnb-filter-text",
    type: "search",
    placeholder: "search",
    title: "Show lines containing this text (as shown: `epoch 2` finds {\"epoch\": 2})",
  });
  const logTab = h("button", { class: "wpsnb-tab", type: "button", dataset: { tab: "log" }, text: "Log" });
  const metricsTab = h("button", { class: "wpsnb-tab", type: "button", dataset: { tab: "metrics" }, text: "Metrics" });
  const tabs = h("span", { class: "wpsnb-tabs", role: "tablist" }, logTab, metricsTab);
  const toolbar = h(
    "div",
    { class: "wpsnb-toolbar" },
    tabs,
    pauseButton,
    clearButton,
    levelFilter,
    ...extraFilters,
    textFilter,
    shown,
  );

  const list = h("div", { class: "wpsnb-rows" });
  const scroller = h("div", { class: "wpsnb-log" }, list);
  const logWrap = h("div", { class: "wpsnb-log-wrap" }, scroller, jump);
  metrics.root.hidden = true;
  const body = h("div", { class: "wpsnb-body" }, logWrap, metrics.root);

  function matches(line) {
    return lineMatches(line, live.filter) && extraMatch(line, live.filter);
  }

  function onChange(change) {
    if (change.updated) for (const line of change.updated) refreshLine(line);
    hooks.onChange?.(change);
  }

  const live = new LiveView({
    model,
    store: lines,
    root,
    list,
    scroller,
    controls,
    renderRow: renderLine,
    matches,
    hooks: { ...hooks, onChange },
  });
  live.filter.level = 0;
  live.bindFilter(levelFilter, "change", "level", () => Number(levelFilter.value) || 0);
  live.bindFilter(textFilter, "input", "text", () => searchable(textFilter.value));

  // Metrics come from the feed's records (log records' extra too), not from the log's lines.
  metrics.reset(feed.records);
  const unsubscribeMetrics = feed.subscribe((change) => {
    if (change.reset) metrics.reset(feed.records);
    else if (change.appended) metrics.add(change.appended);
    if (metricsTab.dataset.count !== String(metrics.metrics.size)) {
      metricsTab.dataset.count = String(metrics.metrics.size);
      metricsTab.textContent = metrics.metrics.size ? `Metrics (${metrics.metrics.size})` : "Metrics";
    }
  });

  function select(tab) {
    for (const button of [logTab, metricsTab]) button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    logWrap.hidden = tab !== "log";
    metrics.root.hidden = tab !== "metrics";
    metrics.setVisible(tab === "metrics");
    root.dataset.tab = tab;
    if (tab === "log") live.forceRender();
  }
  logTab.addEventListener("click", () => select("log"));
  metricsTab.addEventListener("click", () => select("metrics"));
  select("log");

  return {
    toolbar,
    body,
    live,
    lines,
    metrics,
    select,
    dispose() {
      live.unsubscribe();
      unsubscribeMetrics();
      lines.dispose();
      metrics.dispose();
    },
  };
}
