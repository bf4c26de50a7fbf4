// LiveTrace's page (see wpsnb/notebook/live_trace.py): a local service's whole trace as a table.
//
// It shares FrameInspector's store (feed.js), view (live_view.js) and table styles; what is its own is
// the columns, the seven filters and the detail pane, which shows the frame's fields explained, the
// record it answers and the records it caused.
//
// Test hooks on the root `.wpsnb-trace`: data-state, data-count, data-stored, data-rows, data-paused,
// data-selected. Rows: `tr.wpsnb-trace-row` with data-i, data-kind, data-dir, data-type, data-conn.
// The detail pane's explained fields: `tr.wpsnb-field-row` with data-field.

import { clockTime, formatBytes, formatCount, h } from "./dom.js";
import { initializeStore, storeFor } from "./feed.js";
import { fillSelect, headerState, LiveView, liveControls } from "./live_view.js";

const KINDS = ["connect", "frame", "delivery", "rest", "close", "end", "detach", "recovery", "replay", "refused", "upstream"];

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

function shortId(id) {
  return id ? (id.length > 10 ? `${id.slice(0, 8)}…` : id) : "";
}

function directionText(record) {
  if (record.kind === "delivery") return "⇉ out";
  if (record.dir === "in") return "→ in";
  if (record.dir === "out") return "← out";
  return "";
}

// What the row says in its last column: the ids, the target, the status, the reason.
function summary(record) {
  switch (record.kind) {
    case "frame": {
      const parts = [];
      if (record.ackId !== undefined && record.ackId !== null) parts.push(`ackId ${record.ackId}`);
      if (record.sequenceId !== undefined && record.sequenceId !== null) parts.push(`seq ${record.sequenceId}`);
      parts.push(formatBytes(record.size));
      return parts.join(" · ");
    }
    case "delivery":
      return `to ${record.to} ${record.group || record.toUser || record.toConnection || ""}: ${formatCount(record.recipients)} recipient(s)`;
    case "rest":
      return `${record.method} ${record.path} → ${record.status} · ${record.ms} ms`;
    case "connect":
      return `${record.protocol || "no subprotocol"} · from ${record.peer || "?"}`;
    case "close":
      return `by ${record.by} · code ${record.code ?? "none"} · ${record.reason || ""}`;
    case "end":
    case "detach":
      return record.reason || "";
    case "recovery":
      return record.ok ? "recovered" : `refused: ${record.reason}`;
    case "replay":
      return `${formatCount(record.count)} unacknowledged message(s) again`;
    case "refused":
      return `${record.status} ${record.path}: ${record.reason}`;
    case "upstream":
      return `${record.event} → ${record.status ?? "no answer"} · ${record.ms} ms`;
    default:
      return "";
  }
}

function typeText(record) {
  if (record.kind === "frame" || record.kind === "delivery") return record.type || "?";
  return record.kind;
}

function renderTraceRow(record) {
  const classes = ["wpsnb-frame", "wpsnb-trace-row", `wpsnb-kind-${record.kind}`];
  if (record.dir === "in") classes.push("wpsnb-sent");
  else if (record.dir === "out") classes.push("wpsnb-received");
  if ((record.kind === "rest" && record.status >= 400) || record.kind === "refused" || record.ok === false) {
    classes.push("wpsnb-failed");
  }
  return h(
    "tr",
    {
      class: classes.join(" "),
      dataset: { i: record.i, kind: record.kind, dir: record.dir || "", type: record.type || "", conn: record.conn || "" },
    },
    h("td", { class: "wpsnb-time", text: clockTime(record.t) }),
    h("td", { class: "wpsnb-dir", text: directionText(record) }),
    h("td", { class: "wpsnb-type", text: typeText(record) }),
    h("td", { class: "wpsnb-col-hub", text: record.hub || "" }),
    h("td", { class: "wpsnb-col-conn", text: shortId(record.conn), title: record.conn || "" }),
    h("td", { class: "wpsnb-col-user", text: record.user || (record.users || []).join(", ") }),
    h("td", { class: "wpsnb-col-group", text: record.group || "" }),
    h("td", { class: "wpsnb-ids", text: summary(record) }),
  );
}

// The same rules as wpsnb.protocol.trace_records.matches (the CLI's), on the page's copy of a record.
function passes(record, f) {
  if (f.hub && String(record.hub || "").toLowerCase() !== f.hub.toLowerCase()) return false;
  if (f.conn && record.conn !== f.conn && !(record.conns || []).includes(f.conn)) return false;
  if (f.user && record.user !== f.user && !(record.users || []).includes(f.user)) return false;
  if (f.group && record.group !== f.group) return false;
  if (f.kind && record.kind !== f.kind) return false;
  if (f.dir && record.dir !== f.dir) return false;
  if (f.text) {
    const hay = [record.frame, record.body, record.path, record.reason, record.type].join(" ").toLowerCase();
    if (!hay.includes(f.text.toLowerCase())) return false;
  }
  return true;
}

function renderLiveTrace({ model, el }) {
  const store = storeFor(model);
  const requestId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const view = {
    optionsDirty: true,
    hubs: new Set(),
    conns: new Set(),
    users: new Set(),
    groups: new Set(),
    selected: null,
    detailRequest: null,
    exportRequest: null,
    exportTimer: null,
    exportUrl: null,
  };

  // -- layout --
  const controls = liveControls();
  const { title, stateBadge, count, rate, pauseButton, clearButton, shown, jump } = controls;
  const kinds = h("span", { class: "wpsnb-field wpsnb-trace-kinds" });
  const dropped = h("span", { class: "wpsnb-field wpsnb-trace-dropped" });
  const failure = h("span", { class: "wpsnb-field wpsnb-trace-error" });
  const header = h("div", { class: "wpsnb-header" }, title, stateBadge, count, kinds, dropped, rate, failure);

  const select = (cls, label) => h("select", { class: cls, title: label });
  const hubFilter = select("wpsnb-filter-hub", "Hub");
  const connFilter = select("wpsnb-filter-conn", "Connection");
  const userFilter = select("wpsnb-filter-user", "User");
  const groupFilter = select("wpsnb-filter-group", "Group");
  const kindFilter = select("wpsnb-filter-kind", "Kind");
  fillSelect(kindFilter, KINDS, "all kinds");
  const dirFilter = h(
    "select",
    { class: "wpsnb-filter-dir", title: "Direction" },
    h("option", { value: "", text: "both directions" }),
    h("option", { value: "in", text: "→ in (client to service)" }),
    h("option", { value: "out", text: "← out (service to client)" }),
  );
  const textFilter = h("input", { class: "wpsnb-filter-text", type: "search", placeholder: "text in frame / body" });
  const exportButton = h("button", { class: "wpsnb-button wpsnb-export", type: "button", text: "Export JSONL" });
  const exportLink = h("a", { class: "wpsnb-export-link", hidden: true });
  const toolbar = h(
    "div",
    { class: "wpsnb-toolbar" },
    pauseButton,
    clearButton,
    hubFilter,
    connFilter,
    userFilter,
    groupFilter,
    kindFilter,
    dirFilter,
    textFilter,
    exportButton,
    exportLink,
    shown,
  );

  const tbody = h("tbody");
  const columns = ["time", "dir", "what", "hub", "connection", "user", "group", "details"];
  const table = h(
    "table",
    { class: "wpsnb-table" },
    h("thead", {}, h("tr", {}, ...columns.map((name) => h("th", { text: name })))),
    tbody,
  );
  const scroller = h("div", { class: "wpsnb-table-scroll" }, table);
  const tableWrap = h("div", { class: "wpsnb-log-wrap" }, scroller, jump);

  const detailHead = h("div", { class: "wpsnb-detail-head" });
  const links = h("div", { class: "wpsnb-detail-link wpsnb-trace-links" });
  const fieldsBody = h("tbody");
  const fieldsTable = h(
    "table",
    { class: "wpsnb-trace-fields" },
    h("thead", {}, h("tr", {}, h("th", { text: "field" }), h("th", { text: "value" }), h("th", { text: "what it means" }))),
    fieldsBody,
  );
  const contextBody = h("tbody");
  const contextTable = h("table", { class: "wpsnb-trace-fields wpsnb-trace-context" }, contextBody);
  const rawPre = h("pre", { class: "wpsnb-raw" });
  const detail = h(
    "div",
    { class: "wpsnb-detail", hidden: true },
    detailHead,
    links,
    h("div", { class: "wpsnb-detail-label", text: "the frame, field by field" }),
    fieldsTable,
    h("div", { class: "wpsnb-detail-label", text: "where it happened" }),
    contextTable,
    h("div", { class: "wpsnb-detail-label", text: "raw" }),
    rawPre,
  );
  const placeholder = h("div", {
    class: "wpsnb-detail-empty",
    text: "Click a row: the frame decoded, each field explained, what it answers and what it caused.",
  });
  const side = h("div", { class: "wpsnb-side" }, placeholder, detail);
  const body = h("div", { class: "wpsnb-split" }, tableWrap, side);
  const root = h("div", { class: "wpsnb-widget wpsnb-frames wpsnb-trace" }, header, toolbar, body);
  el.replaceChildren(root);

  // -- menus --
  function learn(record) {
    if (record.hub) view.hubs.add(record.hub);
    if (record.conn) view.conns.add(record.conn);
    if (record.user) view.users.add(record.user);
    if (record.group) view.groups.add(record.group);
  }
  function paintMenus() {
    if (!view.optionsDirty) return;
    view.optionsDirty = false;
    fillSelect(hubFilter, view.hubs, "all hubs");
    fillSelect(connFilter, view.conns, "all connections");
    fillSelect(userFilter, view.users, "all users");
    fillSelect(groupFilter, view.groups, "all groups");
  }

  function paintHeader() {
    const hd = store.header || {};
    live.paintHeaderBase({
      state: headerState(store, "live", model.get("paused")),
      defaultTitle: "LiveTrace",
      countText: `${formatCount(hd.count)} records`,
    });
    kinds.textContent =
      `${formatCount(hd.connections)} connections · ${formatCount(hd.frames)} frames · ` +
      `${formatCount(hd.deliveries)} deliveries · ${formatCount(hd.rest)} REST`;
    dropped.textContent = hd.dropped ? `${formatCount(hd.dropped)} dropped for this view` : "";
    dropped.hidden = !hd.dropped;
    failure.textContent = hd.error || "";
    failure.hidden = !hd.error;
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
    rowOf(view.selected)?.classList.add("wpsnb-selected");
    const record = findRecord(store.records, view.selected);
    if (record && record.causeRow !== undefined && record.causeRow !== null) rowOf(record.causeRow)?.classList.add("wpsnb-linked");
  }

  function fieldRows(target, rows) {
    target.replaceChildren(
      ...rows.map((row) =>
        h(
          "tr",
          { class: "wpsnb-field-row", dataset: { field: row.field } },
          h("td", { class: "wpsnb-field-name", text: row.field }),
          h("td", { class: "wpsnb-field-value", text: typeof row.value === "string" ? row.value : JSON.stringify(row.value) }),
          h("td", { class: "wpsnb-field-meaning", text: row.meaning || "" }),
        ),
      ),
    );
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

  function choose(index, { scroll = false } = {}) {
    const record = index === null ? null : findRecord(store.records, index);
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
    detailHead.textContent = [`#${record.id}`, record.kind, directionText(record), typeText(record), clockTime(record.t)]
      .filter(Boolean)
      .join(" · ");
    links.replaceChildren(h("span", { class: "wpsnb-muted", text: "…" }));
    fieldsBody.replaceChildren();
    contextBody.replaceChildren();
    rawPre.textContent = record.frame ?? record.body ?? JSON.stringify(record, null, 2);
    view.detailRequest = requestId();
    try {
      model.send({ kind: "detail", i: index, request: view.detailRequest });
    } catch (error) {
      links.replaceChildren(h("span", { class: "wpsnb-muted", text: "(no kernel: explanations need it)" }));
    }
  }

  function onDetail(msg) {
    if (msg.request !== view.detailRequest || msg.i !== view.selected) return;
    if (msg.missing) {
      links.replaceChildren(h("span", { class: "wpsnb-muted", text: "(the kernel no longer holds this record)" }));
      return;
    }
    const parts = [];
    if (msg.cause) parts.push(h("div", {}, "answers / caused by: ", linkButton(msg.cause.line, msg.cause.i)));
    else if (msg.causeId !== null && msg.causeId !== undefined) {
      parts.push(h("div", { class: "wpsnb-muted", text: `caused by trace record #${msg.causeId} (not held here)` }));
    }
    if (msg.caused.length) {
      parts.push(
        h("div", { class: "wpsnb-trace-caused" }, `caused ${msg.caused.length}:`, ...msg.caused.map((c) => linkButton(c.line, c.i))),
      );
    }
    const record = msg.record;
    if (record.kind === "delivery") {
      const more = record.recipients > (record.conns || []).length ? ` (first ${record.conns.length} of ${record.recipients})` : "";
      parts.push(
        h("div", { class: "wpsnb-trace-recipients", text: `delivered to ${formatCount(record.recipients)}${more}: ${(record.conns || []).join(", ")}` }),
      );
      if (record.reliableRecipients) {
        parts.push(
          h("div", {
            class: "wpsnb-muted",
            text: `${record.reliableRecipients} reliable recipient(s) each got their own sequenceId appended to these bytes.`,
          }),
        );
      }
    }
    links.replaceChildren(...(parts.length ? parts : [h("span", { class: "wpsnb-muted", text: "no linked records" })]));
    fieldRows(fieldsBody, msg.fields);
    fieldRows(contextBody, msg.context);
    rawPre.textContent = record.frame ?? record.body ?? JSON.stringify(record, null, 2);
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
    const lines = [JSON.stringify({ format: "wpsnb.trace", version: 1, wall_time: Date.now() / 1000 })];
    for (const r of store.records) lines.push(JSON.stringify({ ...r, t: r.t / 1000 }));
    offerDownload(`${lines.join("\n")}\n`, "trace-page.jsonl", "(from the page: long frames cut short)");
  }

  function onChange(change) {
    if (change.reset) {
      for (const record of store.records) learn(record);
      view.optionsDirty = true;
      if (view.selected !== null && !findRecord(store.records, view.selected)) choose(null);
    }
    if (change.appended) {
      for (const record of change.appended) learn(record);
      view.optionsDirty = true;
    }
    if (change.message) {
      const msg = change.message;
      if (msg.kind === "detail") onDetail(msg);
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
    renderRow: renderTraceRow,
    matches: (record) => passes(record, live.filter),
    hooks: { paintHeader, paintMenus, afterRows: paintSelection, onChange },
  });

  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr.wpsnb-trace-row");
    if (row) choose(Number(row.dataset.i));
  });
  live.bindFilter(hubFilter, "change", "hub");
  live.bindFilter(connFilter, "change", "conn");
  live.bindFilter(userFilter, "change", "user");
  live.bindFilter(groupFilter, "change", "group");
  live.bindFilter(kindFilter, "change", "kind");
  live.bindFilter(dirFilter, "change", "dir");
  live.bindFilter(textFilter, "input", "text");
  exportButton.addEventListener("click", () => {
    view.exportRequest = requestId();
    clearTimeout(view.exportTimer);
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
  model.on("change:paused", () => live.repaintHeader());

  live.schedule();
  return () => {
    live.unsubscribe();
    clearTimeout(view.exportTimer);
    if (view.exportUrl) URL.revokeObjectURL(view.exportUrl);
  };
}

export default { initialize: initializeStore, render: renderLiveTrace };
