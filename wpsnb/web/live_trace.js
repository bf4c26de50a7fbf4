// LiveTrace's page (see wpsnb/notebook/live_trace.py): a local service's whole trace as a table.
//
// It is FrameInspector's record table and detail pane (record_inspector.js) on the same store (feed.js),
// view (live_view.js) and table styles; what is its own is the columns, the seven filters and the
// detail pane's contents: the frame's fields explained, the record it answers and the records it caused.
//
// Test hooks on the root `.wpsnb-trace`: data-state, data-count, data-stored, data-rows, data-paused,
// data-selected. Rows: `tr.wpsnb-trace-row` with data-i, data-kind, data-dir, data-type, data-conn.
// The detail pane's explained fields: `tr.wpsnb-field-row` with data-field.

import { clockTime, formatBytes, formatCount, h } from "./dom.js";
import { initializeStore } from "./feed.js";
import { fillSelect } from "./live_view.js";
import { directionFilter, filterMenu, renderRecordInspector } from "./record_inspector.js";

const KINDS = ["connect", "frame", "delivery", "rest", "close", "end", "detach", "recovery", "replay", "refused", "upstream"];

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

function renderLiveTrace(props) {
  const kinds = h("span", { class: "wpsnb-field wpsnb-trace-kinds" });
  const dropped = h("span", { class: "wpsnb-field wpsnb-trace-dropped" });
  const failure = h("span", { class: "wpsnb-field wpsnb-trace-error" });

  const kindFilter = filterMenu("wpsnb-filter-kind", "Kind");
  fillSelect(kindFilter, KINDS, "all kinds"); // every kind there is, not only those seen
  const textFilter = h("input", { class: "wpsnb-filter-text", type: "search", placeholder: "text in frame / body" });

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
  const muted = (text) => h("span", { class: "wpsnb-muted", text });

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

  // The kernel's answer: the records this one answers and caused, and its fields explained.
  function answer(msg) {
    const linkButton = inspector.linkButton;
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
    links.replaceChildren(...(parts.length ? parts : [muted("no linked records")]));
    fieldRows(fieldsBody, msg.fields);
    fieldRows(contextBody, msg.context);
    rawPre.textContent = record.frame ?? record.body ?? JSON.stringify(record, null, 2);
  }

  const inspector = renderRecordInspector(props, {
    rootClass: "wpsnb-frames wpsnb-trace",
    defaultTitle: "LiveTrace",
    noun: "records",
    header: ({ title, stateBadge, count, rate }) => [title, stateBadge, count, kinds, dropped, rate, failure],
    paintHeader(hd) {
      kinds.textContent =
        `${formatCount(hd.connections)} connections · ${formatCount(hd.frames)} frames · ` +
        `${formatCount(hd.deliveries)} deliveries · ${formatCount(hd.rest)} REST`;
      dropped.textContent = hd.dropped ? `${formatCount(hd.dropped)} dropped for this view` : "";
      dropped.hidden = !hd.dropped;
      failure.textContent = hd.error || "";
      failure.hidden = !hd.error;
    },
    filters: [
      { key: "hub", control: filterMenu("wpsnb-filter-hub", "Hub"), all: "all hubs", of: (r) => r.hub },
      { key: "conn", control: filterMenu("wpsnb-filter-conn", "Connection"), all: "all connections", of: (r) => r.conn },
      { key: "user", control: filterMenu("wpsnb-filter-user", "User"), all: "all users", of: (r) => r.user },
      { key: "group", control: filterMenu("wpsnb-filter-group", "Group"), all: "all groups", of: (r) => r.group },
      { key: "kind", control: kindFilter },
      { key: "dir", control: directionFilter({ in: "→ in (client to service)", out: "← out (service to client)" }) },
      { key: "text", control: textFilter, event: "input" },
    ],
    matches: passes,
    columns: ["time", "dir", "what", "hub", "connection", "user", "group", "details"],
    renderRow: renderTraceRow,
    linkedOf: (record) => record.causeRow ?? null,
    detail: {
      placeholder: "Click a row: the frame decoded, each field explained, what it answers and what it caused.",
      top: [links],
      sections: [
        ["the frame, field by field", fieldsTable],
        ["where it happened", contextTable],
        ["raw", rawPre],
      ],
      kind: "detail",
      head: (record) =>
        [`#${record.id}`, record.kind, directionText(record), typeText(record), clockTime(record.t)].filter(Boolean).join(" · "),
      show(record) {
        links.replaceChildren(muted("…"));
        fieldsBody.replaceChildren();
        contextBody.replaceChildren();
        rawPre.textContent = record.frame ?? record.body ?? JSON.stringify(record, null, 2);
      },
      noKernel: () => links.replaceChildren(muted("(no kernel: explanations need it)")),
      missing: () => links.replaceChildren(muted("(the kernel no longer holds this record)")),
      answer,
    },
    // The page's copy of each record, its time in seconds as in wpsnb/notebook/live_trace.py's export.
    pageExport: { format: "wpsnb.trace", name: "trace-page.jsonl", line: (r) => ({ ...r, t: r.t / 1000 }) },
  });
  return inspector.dispose;
}

export default { initialize: initializeStore, render: renderLiveTrace };
