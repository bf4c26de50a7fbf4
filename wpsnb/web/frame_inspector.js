// FrameInspector's page (see wpsnb/notebook/frame_inspector.py).
//
// Test hooks on the root `.wpsnb-frames`: data-state, data-count (frames seen), data-stored,
// data-rows, data-paused, data-selected (index of the selected frame). Rows: `tr.wpsnb-frame` with
// data-i, data-dir, data-type; the selected row has `.wpsnb-selected`, its linked ack/request `.wpsnb-linked`.

import { clockTime, formatBytes, formatCount, h } from "./dom.js";
import { initializeStore, storeFor } from "./feed.js";
import { fillSelect, headerState, LiveView, liveControls } from "./live_view.js";

function prettyRaw(raw) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch (error) {
    return null;
  }
}

function findRecord(records, index) {
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

function idsText(record) {
  const parts = [];
  if (record.ackId !== undefined && record.ackId !== null) parts.push(`ack ${record.ackId}`);
  if (record.seq !== undefined && record.seq !== null) parts.push(`seq ${record.seq}`);
  if (record.code !== undefined && record.code !== null) parts.push(`code ${record.code}`);
  return parts.join(" · ");
}

function typeText(record) {
  if (record.type === "ack") return record.success ? "ack ✓" : `ack ✗ ${record.ackError || ""}`.trim();
  return record.type || "?";
}

function renderFrameRow(record) {
  const sent = record.dir === "sent";
  const classes = ["wpsnb-frame", sent ? "wpsnb-sent" : "wpsnb-received"];
  if (record.error) classes.push("wpsnb-malformed");
  if (record.type === "ack" && !record.success) classes.push("wpsnb-failed");
  return h(
    "tr",
    { class: classes.join(" "), dataset: { i: record.i, dir: record.dir, type: record.type || "" } },
    h("td", { class: "wpsnb-time", text: clockTime(record.t) }),
    h("td", { class: "wpsnb-dir", text: sent ? "→ sent" : "← received" }),
    h("td", { class: "wpsnb-type", text: typeText(record), title: record.error || "" }),
    h("td", { class: "wpsnb-col-group", text: record.group || "" }),
    h("td", { class: "wpsnb-ids", text: idsText(record) }),
    h("td", { class: "wpsnb-size", text: formatBytes(record.size) }),
  );
}

function renderFrameInspector({ model, el }) {
  const store = storeFor(model);
  const requestId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const view = {
    optionsDirty: true,
    types: new Set(),
    groups: new Set(),
    answeredBy: new Map(), // request index -> ack index
    selected: null,
    detailRequest: null,
    exportRequest: null,
    exportTimer: null,
    exportUrl: null,
  };

  // -- layout --
  const controls = liveControls();
  const { title, stateBadge, count, rate, pauseButton, clearButton, shown, jump } = controls;
  const directions = h("span", { class: "wpsnb-field wpsnb-directions" });
  const malformed = h("span", { class: "wpsnb-field wpsnb-malformed-count" });
  const header = h("div", { class: "wpsnb-header" }, title, stateBadge, count, directions, malformed, rate);

  const dirFilter = h(
    "select",
    { class: "wpsnb-filter-dir", title: "Direction" },
    h("option", { value: "", text: "both directions" }),
    h("option", { value: "sent", text: "→ sent" }),
    h("option", { value: "received", text: "← received" }),
  );
  const typeFilter = h("select", { class: "wpsnb-filter-type", title: "Message type" });
  const groupFilter = h("select", { class: "wpsnb-filter-group", title: "Group" });
  const exportButton = h("button", { class: "wpsnb-button wpsnb-export", type: "button", text: "Export JSONL" });
  const exportLink = h("a", { class: "wpsnb-export-link", hidden: true });
  const toolbar = h(
    "div",
    { class: "wpsnb-toolbar" },
    pauseButton,
    clearButton,
    dirFilter,
    typeFilter,
    groupFilter,
    exportButton,
    exportLink,
    shown,
  );

  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "wpsnb-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["time", "direction", "type", "group", "ackId / seq", "size"].map((name) => h("th", { text: name })),
      ),
    ),
    tbody,
  );
  const scroller = h("div", { class: "wpsnb-table-scroll" }, table);
  const tableWrap = h("div", { class: "wpsnb-log-wrap" }, scroller, jump);

  const detailHead = h("div", { class: "wpsnb-detail-head" });
  const detailLink = h("div", { class: "wpsnb-detail-link" });
  const detailError = h("div", { class: "wpsnb-detail-error" });
  const rawPre = h("pre", { class: "wpsnb-raw" });
  const prettyPre = h("pre", { class: "wpsnb-pretty" });
  const decodedPre = h("pre", { class: "wpsnb-decoded" });
  const detail = h(
    "div",
    { class: "wpsnb-detail", hidden: true },
    detailHead,
    detailLink,
    detailError,
    h("div", { class: "wpsnb-detail-label", text: "raw frame" }),
    rawPre,
    h("div", { class: "wpsnb-detail-label", text: "JSON, pretty" }),
    prettyPre,
    h("div", { class: "wpsnb-detail-label", text: "as wpsnb decoded it" }),
    decodedPre,
  );
  const placeholder = h("div", { class: "wpsnb-detail-empty", text: "Click a frame to see it raw and decoded." });
  const side = h("div", { class: "wpsnb-side" }, placeholder, detail);
  const body = h("div", { class: "wpsnb-split" }, tableWrap, side);

  const root = h("div", { class: "wpsnb-widget wpsnb-frames" }, header, toolbar, body);
  el.replaceChildren(root);

  // -- links between acks and requests --
  function learn(record) {
    if (record.type) view.types.add(record.type === "ack" ? "ack" : record.type);
    if (record.group) view.groups.add(record.group);
    if (record.link !== undefined && record.link !== null) view.answeredBy.set(record.link, record.i);
  }
  function linkedIndex(record) {
    if (record.link !== undefined && record.link !== null) return record.link;
    return view.answeredBy.get(record.i) ?? null;
  }

  function matches(record) {
    const f = live.filter;
    if (f.dir && record.dir !== f.dir) return false;
    if (f.type && record.type !== f.type) return false;
    if (f.group && record.group !== f.group) return false;
    return true;
  }

  // -- painting (the rows, follow-tail and counts are LiveView's) --
  function paintHeader() {
    const hd = store.header || {};
    live.paintHeaderBase({
      state: headerState(store, "live", model.get("paused")),
      defaultTitle: "FrameInspector",
      countText: `${formatCount(hd.count)} frames`,
    });
    directions.textContent = `${formatCount(hd.sent)} sent · ${formatCount(hd.received)} received`;
    malformed.textContent = hd.errors ? `${formatCount(hd.errors)} malformed` : "";
    malformed.hidden = !hd.errors;
  }

  function paintOptions() {
    if (!view.optionsDirty) return;
    view.optionsDirty = false;
    fillSelect(typeFilter, view.types, "all types");
    fillSelect(groupFilter, view.groups, "all groups");
  }

  // -- selection and the detail pane --
  function rowOf(index) {
    return index === null ? null : tbody.querySelector(`tr[data-i="${index}"]`);
  }

  function paintSelection() {
    for (const row of tbody.querySelectorAll("tr.wpsnb-selected, tr.wpsnb-linked")) {
      row.classList.remove("wpsnb-selected", "wpsnb-linked");
    }
    if (view.selected === null) return;
    const record = findRecord(store.records, view.selected);
    rowOf(view.selected)?.classList.add("wpsnb-selected");
    const other = record ? linkedIndex(record) : null;
    if (other !== null) rowOf(other)?.classList.add("wpsnb-linked");
  }

  function select(index, { scroll = false } = {}) {
    const record = findRecord(store.records, index);
    view.selected = record ? index : null;
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
    const where = [
      `#${record.i}`,
      record.dir,
      typeText(record),
      formatBytes(record.size),
      clockTime(record.t),
      record.conn ? `connection ${record.conn}` : null,
    ];
    detailHead.textContent = where.filter(Boolean).join(" · ");

    const other = linkedIndex(record);
    detailLink.replaceChildren();
    if (other !== null) {
      const target = findRecord(store.records, other);
      const label =
        record.type === "ack"
          ? `answers request #${other}${target ? ` (${typeText(target)}${target.group ? ` ${target.group}` : ""})` : ""}`
          : `answered by #${other}${target ? ` (${typeText(target)})` : ""}`;
      detailLink.append(
        h("button", {
          class: "wpsnb-button wpsnb-link",
          type: "button",
          text: label,
          dataset: { target: other },
          onclick: () => select(other, { scroll: true }),
        }),
      );
    } else if (record.ackId !== undefined && record.dir === "sent") {
      detailLink.append(h("span", { class: "wpsnb-muted", text: "no ack yet" }));
    }
    detailError.textContent = record.error ? `Malformed frame: ${record.error}` : "";
    detailError.hidden = !record.error;
    showRaw(record.raw, record.rawEncoding, record.rawTruncated);
    decodedPre.textContent = "…";
    view.detailRequest = requestId();
    try {
      model.send({ kind: "frame", i: index, request: view.detailRequest });
    } catch (error) {
      decodedPre.textContent = "(no kernel: only the page's copy of the frame is available)";
    }
  }

  function showRaw(raw, encoding, truncated) {
    rawPre.textContent = `${raw}${truncated ? " …" : ""}`;
    const pretty = encoding === "text" && !truncated ? prettyRaw(raw) : null;
    prettyPre.textContent = pretty ?? (truncated ? "(loading the whole frame…)" : "(not JSON)");
    prettyPre.classList.toggle("wpsnb-muted", pretty === null);
  }

  function onFrameDetail(msg) {
    if (msg.request !== view.detailRequest || msg.i !== view.selected) return;
    if (msg.missing) {
      decodedPre.textContent = "(the kernel no longer holds this frame)";
      return;
    }
    showRaw(msg.raw, msg.rawEncoding, false);
    decodedPre.textContent = msg.decoded ?? (msg.error ? `(did not parse: ${msg.error})` : "(not decoded)");
  }

  // -- export --
  function offerDownload(text, name, note) {
    if (view.exportUrl) URL.revokeObjectURL(view.exportUrl);
    view.exportUrl = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    exportLink.href = view.exportUrl;
    exportLink.download = name;
    exportLink.textContent = `${name} (${formatBytes(text.length)})${note ? ` ${note}` : ""}`;
    exportLink.hidden = false;
    exportLink.click();
  }

  function exportFromPage() {
    const lines = [JSON.stringify({ format: "wpsnb.journal", version: 1, wall_time: Date.now() / 1000 })];
    for (const r of store.records) {
      lines.push(
        JSON.stringify({
          time: r.mono,
          wall_time: r.t / 1000,
          direction: r.dir,
          kind: r.kind,
          raw: r.raw,
          size: r.size,
          connection_id: r.conn ?? null,
          error: r.error ?? null,
          code: r.code ?? null,
        }),
      );
    }
    offerDownload(`${lines.join("\n")}\n`, "frames-page.jsonl", "(from the page: long frames cut short)");
  }

  // -- store changes: menus, ack links, the selection and kernel answers --
  function onChange(change) {
    if (change.reset) {
      view.answeredBy.clear();
      for (const record of store.records) learn(record);
      view.optionsDirty = true;
      if (view.selected !== null && !findRecord(store.records, view.selected)) select(null);
    }
    if (change.appended) {
      for (const record of change.appended) learn(record);
      view.optionsDirty = true;
    }
    if (change.message) {
      const msg = change.message;
      if (msg.kind === "frame") onFrameDetail(msg);
      if (msg.kind === "export" && msg.request === view.exportRequest) {
        clearTimeout(view.exportTimer);
        view.exportRequest = null;
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
    renderRow: renderFrameRow,
    matches,
    hooks: { paintHeader, paintMenus: paintOptions, afterRows: paintSelection, onChange },
  });

  // -- controls --
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr.wpsnb-frame");
    if (row) select(Number(row.dataset.i));
  });
  live.bindFilter(dirFilter, "change", "dir");
  live.bindFilter(typeFilter, "change", "type");
  live.bindFilter(groupFilter, "change", "group");
  exportButton.addEventListener("click", () => {
    view.exportRequest = requestId();
    clearTimeout(view.exportTimer);
    // No answer (no kernel, e.g. a saved notebook): export what the page holds instead.
    view.exportTimer = setTimeout(() => {
      view.exportRequest = null;
      exportFromPage();
    }, 3000);
    try {
      model.send({ kind: "export", request: view.exportRequest });
    } catch (error) {
      clearTimeout(view.exportTimer);
      exportFromPage();
    }
  });

  model.on("change:paused", () => live.repaintHeader()); // the badge says "paused"

  live.schedule();
  return () => {
    live.unsubscribe();
    clearTimeout(view.exportTimer);
    if (view.exportUrl) URL.revokeObjectURL(view.exportUrl);
  };
}

export default { initialize: initializeStore, render: renderFrameInspector };
