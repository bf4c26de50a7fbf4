// The page FrameInspector and LiveTrace share (wpsnb/notebook/frame_inspector.py, live_trace.py): a
// live table of records (LiveView) beside a detail pane.
//
// Around the table: the header, filters (the menus among them list the values the records carry), a
// selected row with the row it links to, the kernel's whole copy of the selected record on request
// and a JSONL export (the kernel's; the page's own copy when no kernel answers). Each widget says its
// columns, rows, filters, header fields and detail pane in a `spec`, see renderRecordInspector.
//
// Test hooks on the root: data-state, data-count, data-stored, data-rows, data-paused (LiveView's) and
// data-selected (the selected record's index). The selected row has `.wpsnb-selected`, the row it
// links to `.wpsnb-linked`; the detail pane `.wpsnb-detail` has data-i.

import { formatBytes, formatCount, h } from "./dom.js";
import { storeFor } from "./feed.js";
import { fillSelect, headerState, LiveView, liveControls } from "./live_view.js";

const EXPORT_WAIT_MS = 3000; // no answer to an export request by then: export what the page holds

// The record with index `index` in `records` (sorted by index), or null.
export function findRecord(records, index) {
  let lo = 0;
  let hi = records.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const i = records[mid].i;
    if (i === index) return records[mid];
    if (i < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

// The filter of a select's fixed choices by direction, "both directions" first: {value: label}.
export function directionFilter(choices) {
  return h(
    "select",
    { class: "wpsnb-filter-dir", title: "Direction" },
    h("option", { value: "", text: "both directions" }),
    ...Object.entries(choices).map(([value, text]) => h("option", { value, text })),
  );
}

// A filter menu, filled from the records' values (a filter with `of`, see renderRecordInspector).
export function filterMenu(cls, title) {
  return h("select", { class: cls, title });
}

function requestId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// spec:
//   rootClass          classes of the root besides "wpsnb-widget"
//   defaultTitle, noun the title without a "title" trait; what the header counts ("frames")
//   header(controls)   the header's elements in order (LiveView's controls among the widget's own)
//   paintHeader(hd)    paints the widget's own header fields from the store's header
//   filters            [{ key, control, event = "change", all?, of? }]: the toolbar's filters in order;
//                      one with `of(record)` is a menu of the values it returns, "all" labelled `all`
//   matches(record, filter), columns, renderRow(record)
//   linkedOf(record)   the index of the record the selected one links to, or null
//   detail             { placeholder, top, sections, kind, head(record), show(record), noKernel(),
//                      missing(), answer(msg) }: the pane is its head line, the elements `top`, then
//                      `sections` ([label, element] each); filled from the page's copy on click
//                      (show), then from the kernel's answer to {kind, i} (answer / missing)
//   learn(record), forget()   optional: the widget's own index of the records (forget: before a reset)
//   pageExport         { format, name, line(record) }: the page's own JSONL when no kernel answers
// Returns { choose(index, { scroll }), linkButton(label, index), dispose() }: choose selects a record;
// linkButton is a button in the pane that selects record `index`.
export function renderRecordInspector({ model, el }, spec) {
  const store = storeFor(model);
  const menus = spec.filters.filter((f) => f.of).map((f) => ({ ...f, values: new Set() }));
  const state = {
    menusDirty: true,
    selected: null,
    detailRequest: null,
    exportRequest: null,
    exportTimer: null,
    exportUrl: null,
  };

  // -- layout --
  const controls = liveControls();
  const { pauseButton, clearButton, shown, jump } = controls;
  const header = h("div", { class: "wpsnb-header" }, ...spec.header(controls));
  const exportButton = h("button", { class: "wpsnb-button wpsnb-export", type: "button", text: "Export JSONL" });
  const exportLink = h("a", { class: "wpsnb-export-link", hidden: true });
  const toolbar = h(
    "div",
    { class: "wpsnb-toolbar" },
    pauseButton,
    clearButton,
    ...spec.filters.map((f) => f.control),
    exportButton,
    exportLink,
    shown,
  );

  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "wpsnb-table" },
    h("thead", {}, h("tr", {}, ...spec.columns.map((name) => h("th", { text: name })))),
    tbody,
  );
  const scroller = h("div", { class: "wpsnb-table-scroll" }, table);
  const tableWrap = h("div", { class: "wpsnb-log-wrap" }, scroller, jump);

  const detailHead = h("div", { class: "wpsnb-detail-head" });
  const detail = h(
    "div",
    { class: "wpsnb-detail", hidden: true },
    detailHead,
    ...spec.detail.top,
    ...spec.detail.sections.flatMap(([label, element]) => [h("div", { class: "wpsnb-detail-label", text: label }), element]),
  );
  const placeholder = h("div", { class: "wpsnb-detail-empty", text: spec.detail.placeholder });
  const side = h("div", { class: "wpsnb-side" }, placeholder, detail);
  const body = h("div", { class: "wpsnb-split" }, tableWrap, side);
  const root = h("div", { class: `wpsnb-widget ${spec.rootClass}` }, header, toolbar, body);
  el.replaceChildren(root);

  // -- menus --
  function learn(record) {
    for (const menu of menus) {
      const value = menu.of(record);
      if (value) menu.values.add(value);
    }
    spec.learn?.(record);
  }
  function paintMenus() {
    if (!state.menusDirty) return;
    state.menusDirty = false;
    for (const menu of menus) fillSelect(menu.control, menu.values, menu.all);
  }

  // -- painting (the rows, follow-tail and counts are LiveView's) --
  function paintHeader() {
    const hd = store.header || {};
    live.paintHeaderBase({
      state: headerState(store, "live", model.get("paused")),
      defaultTitle: spec.defaultTitle,
      countText: `${formatCount(hd.count)} ${spec.noun}`,
    });
    spec.paintHeader(hd);
  }

  // -- selection and the detail pane --
  function rowOf(index) {
    return index === null ? null : tbody.querySelector(`tr[data-i="${index}"]`);
  }

  function paintSelection() {
    for (const row of tbody.querySelectorAll("tr.wpsnb-selected, tr.wpsnb-linked")) {
      row.classList.remove("wpsnb-selected", "wpsnb-linked");
    }
    if (state.selected === null) return;
    rowOf(state.selected)?.classList.add("wpsnb-selected");
    const record = findRecord(store.records, state.selected);
    const other = record ? spec.linkedOf(record) : null;
    if (other !== null && other !== undefined) rowOf(other)?.classList.add("wpsnb-linked");
  }

  function choose(index, { scroll = false } = {}) {
    const record = index === null ? null : findRecord(store.records, index);
    state.selected = record ? index : null;
    root.dataset.selected = record ? String(index) : "";
    paintSelection();
    if (!record) {
      detail.hidden = true;
      placeholder.hidden = false;
      return;
    }
    if (scroll) rowOf(index)?.scrollIntoView({ block: "nearest" });
    placeholder.hidden = true;
    detail.hidden = false;
    detail.dataset.i = String(index);
    detailHead.textContent = spec.detail.head(record);
    spec.detail.show(record);
    state.detailRequest = requestId();
    try {
      model.send({ kind: spec.detail.kind, i: index, request: state.detailRequest });
    } catch (error) {
      spec.detail.noKernel();
    }
  }

  function linkButton(label, index) {
    return h("button", {
      class: "wpsnb-button wpsnb-link",
      type: "button",
      text: label,
      dataset: { target: index },
      onclick: () => choose(index, { scroll: true }),
    });
  }

  function onDetail(msg) {
    if (msg.request !== state.detailRequest || msg.i !== state.selected) return;
    if (msg.missing) spec.detail.missing();
    else spec.detail.answer(msg);
  }

  // -- export --
  function offerDownload(text, name, note) {
    if (state.exportUrl) URL.revokeObjectURL(state.exportUrl);
    state.exportUrl = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    exportLink.href = state.exportUrl;
    exportLink.download = name;
    exportLink.textContent = `${name} (${formatBytes(text.length)})${note ? ` ${note}` : ""}`;
    exportLink.hidden = false;
    exportLink.click();
  }

  function exportFromPage() {
    const { format, name, line } = spec.pageExport;
    const lines = [JSON.stringify({ format, version: 1, wall_time: Date.now() / 1000 })];
    for (const record of store.records) lines.push(JSON.stringify(line(record)));
    offerDownload(`${lines.join("\n")}\n`, name, "(from the page: long frames cut short)");
  }

  function requestExport() {
    state.exportRequest = requestId();
    clearTimeout(state.exportTimer);
    // No answer (no kernel, e.g. a saved notebook): export what the page holds instead.
    state.exportTimer = setTimeout(() => {
      state.exportRequest = null;
      exportFromPage();
    }, EXPORT_WAIT_MS);
    try {
      model.send({ kind: "export", request: state.exportRequest });
    } catch (error) {
      clearTimeout(state.exportTimer);
      exportFromPage();
    }
  }

  // -- store changes: menus, the widget's links, the selection and kernel answers --
  function onChange(change) {
    if (change.reset) {
      spec.forget?.();
      for (const record of store.records) learn(record);
      state.menusDirty = true;
      if (state.selected !== null && !findRecord(store.records, state.selected)) choose(null);
    }
    if (change.appended) {
      for (const record of change.appended) learn(record);
      state.menusDirty = true;
    }
    if (change.message) {
      const msg = change.message;
      if (msg.kind === spec.detail.kind) onDetail(msg);
      if (msg.kind === "export" && msg.request === state.exportRequest) {
        clearTimeout(state.exportTimer);
        state.exportRequest = null;
        offerDownload(msg.text, msg.name);
      }
    }
  }

  for (const record of store.records) learn(record);
  const live = new LiveView({
    model,
    store,
    root,
    list: tbody,
    scroller,
    controls,
    renderRow: spec.renderRow,
    matches: (record) => spec.matches(record, live.filter),
    hooks: { paintHeader, paintMenus, afterRows: paintSelection, onChange },
  });

  // -- controls --
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-i]");
    if (row) choose(Number(row.dataset.i));
  });
  for (const { control, key, event = "change" } of spec.filters) live.bindFilter(control, event, key);
  exportButton.addEventListener("click", requestExport);
  model.on("change:paused", () => live.repaintHeader()); // the badge says "paused"

  live.schedule();
  return {
    choose,
    linkButton,
    dispose() {
      live.unsubscribe();
      clearTimeout(state.exportTimer);
      if (state.exportUrl) URL.revokeObjectURL(state.exportUrl);
    },
  };
}
