// FrameInspector's page (see wpsnb/notebook/frame_inspector.py): one connection's frames, on the
// record table and detail pane it shares with LiveTrace (record_inspector.js). Its own: the columns,
// the direction/type/group filters, the ack <-> request links and a pane with the frame raw, pretty
// and as wpsnb decoded it.
//
// Test hooks on the root `.wpsnb-frames`: data-state, data-count (frames seen), data-stored,
// data-rows, data-paused, data-selected (index of the selected frame). Rows: `tr.wpsnb-frame` with
// data-i, data-dir, data-type; the selected row has `.wpsnb-selected`, its linked ack/request `.wpsnb-linked`.

import { clockTime, formatBytes, formatCount, h } from "./dom.js";
import { initializeStore, storeFor } from "./feed.js";
import { directionFilter, filterMenu, findRecord, renderRecordInspector } from "./record_inspector.js";

function prettyRaw(raw) {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch (error) {
    return null;
  }
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

function matches(record, f) {
  if (f.dir && record.dir !== f.dir) return false;
  if (f.type && record.type !== f.type) return false;
  if (f.group && record.group !== f.group) return false;
  return true;
}

// One line of the page's own export: the fields of a journal line (wpsnb/notebook/frame_inspector.py).
function journalLine(r) {
  return {
    time: r.mono,
    wall_time: r.t / 1000,
    direction: r.dir,
    kind: r.kind,
    raw: r.raw,
    size: r.size,
    connection_id: r.conn ?? null,
    error: r.error ?? null,
    code: r.code ?? null,
  };
}

function renderFrameInspector(props) {
  const store = storeFor(props.model);
  const answeredBy = new Map(); // request index -> ack index

  const directions = h("span", { class: "wpsnb-field wpsnb-directions" });
  const malformed = h("span", { class: "wpsnb-field wpsnb-malformed-count" });

  const detailLink = h("div", { class: "wpsnb-detail-link" });
  const detailError = h("div", { class: "wpsnb-detail-error" });
  const rawPre = h("pre", { class: "wpsnb-raw" });
  const prettyPre = h("pre", { class: "wpsnb-pretty" });
  const decodedPre = h("pre", { class: "wpsnb-decoded" });

  function linkedIndex(record) {
    if (record.link !== undefined && record.link !== null) return record.link;
    return answeredBy.get(record.i) ?? null;
  }

  function showRaw(raw, encoding, truncated) {
    rawPre.textContent = `${raw}${truncated ? " …" : ""}`;
    const pretty = encoding === "text" && !truncated ? prettyRaw(raw) : null;
    prettyPre.textContent = pretty ?? (truncated ? "(loading the whole frame…)" : "(not JSON)");
    prettyPre.classList.toggle("wpsnb-muted", pretty === null);
  }

  function show(record) {
    const other = linkedIndex(record);
    detailLink.replaceChildren();
    if (other !== null) {
      const target = findRecord(store.records, other);
      const label =
        record.type === "ack"
          ? `answers request #${other}${target ? ` (${typeText(target)}${target.group ? ` ${target.group}` : ""})` : ""}`
          : `answered by #${other}${target ? ` (${typeText(target)})` : ""}`;
      detailLink.append(inspector.linkButton(label, other));
    } else if (record.ackId !== undefined && record.dir === "sent") {
      detailLink.append(h("span", { class: "wpsnb-muted", text: "no ack yet" }));
    }
    detailError.textContent = record.error ? `Malformed frame: ${record.error}` : "";
    detailError.hidden = !record.error;
    showRaw(record.raw, record.rawEncoding, record.rawTruncated);
    decodedPre.textContent = "…";
  }

  const inspector = renderRecordInspector(props, {
    rootClass: "wpsnb-frames",
    defaultTitle: "FrameInspector",
    noun: "frames",
    header: ({ title, stateBadge, count, rate }) => [title, stateBadge, count, directions, malformed, rate],
    paintHeader(hd) {
      directions.textContent = `${formatCount(hd.sent)} sent · ${formatCount(hd.received)} received`;
      malformed.textContent = hd.errors ? `${formatCount(hd.errors)} malformed` : "";
      malformed.hidden = !hd.errors;
    },
    filters: [
      { key: "dir", control: directionFilter({ sent: "→ sent", received: "← received" }) },
      { key: "type", control: filterMenu("wpsnb-filter-type", "Message type"), all: "all types", of: (r) => r.type },
      { key: "group", control: filterMenu("wpsnb-filter-group", "Group"), all: "all groups", of: (r) => r.group },
    ],
    matches,
    columns: ["time", "direction", "type", "group", "ackId / seq", "size"],
    renderRow: renderFrameRow,
    linkedOf: linkedIndex,
    learn(record) {
      if (record.link !== undefined && record.link !== null) answeredBy.set(record.link, record.i);
    },
    forget: () => answeredBy.clear(),
    detail: {
      placeholder: "Click a frame to see it raw and decoded.",
      top: [detailLink, detailError],
      sections: [
        ["raw frame", rawPre],
        ["JSON, pretty", prettyPre],
        ["as wpsnb decoded it", decodedPre],
      ],
      kind: "frame",
      head: (record) =>
        [
          `#${record.i}`,
          record.dir,
          typeText(record),
          formatBytes(record.size),
          clockTime(record.t),
          record.conn ? `connection ${record.conn}` : null,
        ]
          .filter(Boolean)
          .join(" · "),
      show,
      noKernel() {
        decodedPre.textContent = "(no kernel: only the page's copy of the frame is available)";
      },
      missing() {
        decodedPre.textContent = "(the kernel no longer holds this frame)";
      },
      answer(msg) {
        showRaw(msg.raw, msg.rawEncoding, false);
        decodedPre.textContent = msg.decoded ?? (msg.error ? `(did not parse: ${msg.error})` : "(not decoded)");
      },
    },
    pageExport: { format: "wpsnb.journal", name: "frames-page.jsonl", line: journalLine },
  });
  return inspector.dispose;
}

export default { initialize: initializeStore, render: renderFrameInspector };
