// FrameInspector's page (see frame_inspector.py). Python puts feed.js in front of this file: FeedStore,
// storeFor, initializeStore, frameScheduler, h, clockTime, formatCount, formatBytes, atBottom.
//
// Test hooks on the root `.wpsnb-frames`: data-state, data-count (frames seen), data-stored,
// data-rows, data-paused, data-selected (index of the selected frame). Rows: `tr.wpsnb-frame` with
// data-i, data-dir, data-type; the selected row has `.wpsnb-selected`, its linked ack/request `.wpsnb-linked`.

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
  const rows = () => Math.max(1, model.get("rows") || 1000);
  const requestId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const view = {
    following: true,
    stale: false,
    unseen: 0,
    reset: true,
    forced: false, // a user action asks for a full render
    queue: [],
    headerDirty: true,
    optionsDirty: true,
    types: new Set(),
    groups: new Set(),
    answeredBy: new Map(), // request index -> ack index
    filter: { dir: "", type: "", group: "" },
    selected: null,
    detailRequest: null,
    exportRequest: null,
    exportTimer: null,
    exportUrl: null,
  };

  // -- layout --
  const title = h("span", { class: "wpsnb-title" });
  const stateBadge = h("span", { class: "wpsnb-state" });
  const count = h("span", { class: "wpsnb-count" });
  const directions = h("span", { class: "wpsnb-field wpsnb-directions" });
  const malformed = h("span", { class: "wpsnb-field wpsnb-malformed-count" });
  const rate = h("span", { class: "wpsnb-rate" });
  const header = h("div", { class: "wpsnb-header" }, title, stateBadge, count, directions, malformed, rate);

  const pauseButton = h("button", { class: "wpsnb-button wpsnb-pause", type: "button" });
  const clearButton = h("button", { class: "wpsnb-button wpsnb-clear", type: "button", text: "Clear" });
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
  const shown = h("span", { class: "wpsnb-shown" });
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
  const jump = h("button", { class: "wpsnb-button wpsnb-jump", type: "button", hidden: true });
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
    const f = view.filter;
    if (f.dir && record.dir !== f.dir) return false;
    if (f.type && record.type !== f.type) return false;
    if (f.group && record.group !== f.group) return false;
    return true;
  }

  // -- painting --
  function paintHeader() {
    const hd = store.header || {};
    const state = store.offline
      ? "offline"
      : hd.closed
        ? "closed"
        : model.get("paused")
          ? "paused"
          : hd.state || "live";
    stateBadge.title = store.offline ? "Saved output: the kernel that made this view does not answer" : "";
    title.textContent = model.get("title") || "FrameInspector";
    stateBadge.textContent = state;
    stateBadge.className = `wpsnb-state wpsnb-state-${state}`;
    count.textContent = `${formatCount(hd.count)} frames`;
    directions.textContent = `${formatCount(hd.sent)} sent · ${formatCount(hd.received)} received`;
    malformed.textContent = hd.errors ? `${formatCount(hd.errors)} malformed` : "";
    malformed.hidden = !hd.errors;
    rate.textContent = store.offline ? "" : `${Number(hd.rate || 0).toFixed(1)}/s`;
    root.dataset.state = state;
    root.dataset.count = String(hd.count || 0);
  }

  function fillSelect(select, values, allLabel) {
    const selected = select.value;
    const names = [...values].sort();
    select.replaceChildren(
      h("option", { value: "", text: allLabel }),
      ...names.map((v) => h("option", { value: v, text: v })),
    );
    select.value = names.includes(selected) ? selected : "";
  }

  function paintRows() {
    const limit = rows();
    if (view.reset) {
      const visible = store.records.filter(matches).slice(-limit);
      const fragment = document.createDocumentFragment();
      for (const record of visible) fragment.append(renderFrameRow(record));
      tbody.replaceChildren(fragment);
    } else if (view.queue.length) {
      const fragment = document.createDocumentFragment();
      for (const record of view.queue.filter(matches).slice(-limit)) fragment.append(renderFrameRow(record));
      tbody.append(fragment);
      let excess = tbody.childElementCount - limit;
      while (excess-- > 0) tbody.firstElementChild.remove();
    }
    view.reset = false;
    view.queue = [];
    view.stale = false;
    view.unseen = 0;
    paintSelection();
    if (view.following) scroller.scrollTop = scroller.scrollHeight;
  }

  function paint() {
    if (view.headerDirty) {
      view.headerDirty = false;
      paintHeader();
    }
    if (view.optionsDirty) {
      view.optionsDirty = false;
      fillSelect(typeFilter, view.types, "all types");
      fillSelect(groupFilter, view.groups, "all groups");
    }
    const paused = model.get("paused");
    if (view.forced) {
      // A user action (filter, jump, resume, clear): render now, wherever the table is scrolled.
      view.forced = false;
      view.reset = true;
      paintRows();
      jump.hidden = true;
    } else if (paused || !view.following) {
      if (view.stale && !view.following) {
        jump.hidden = false;
        jump.textContent = `Jump to latest (${formatCount(view.unseen)} new)`;
      }
    } else if (view.reset || view.queue.length) {
      paintRows();
      jump.hidden = true;
    }
    pauseButton.textContent = paused ? `Resume${view.unseen ? ` (${formatCount(view.unseen)} new)` : ""}` : "Pause";
    root.dataset.paused = paused ? "true" : "false";
    root.dataset.stored = String(store.records.length);
    root.dataset.rows = String(tbody.childElementCount);
    shown.textContent =
      tbody.childElementCount < store.records.length
        ? `showing ${formatCount(tbody.childElementCount)} of ${formatCount(store.records.length)} records`
        : `${formatCount(store.records.length)} records`;
  }

  const schedule = frameScheduler(paint);

  function forceRender() {
    view.forced = true;
    schedule();
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

  // -- store changes --
  function onChange(change) {
    if (change.cleared) view.forced = true; // emptied: show it, wherever the view is scrolled
    if (change.reset) {
      view.reset = true;
      view.queue = [];
      view.stale = true;
      view.answeredBy.clear();
      for (const record of store.records) learn(record);
      view.optionsDirty = true;
      if (view.selected !== null && !findRecord(store.records, view.selected)) select(null);
    }
    if (change.appended) {
      for (const record of change.appended) learn(record);
      view.optionsDirty = true;
      if (!view.reset) {
        view.queue.push(...change.appended);
        if (view.queue.length > rows()) {
          view.reset = true;
          view.queue = [];
        }
      }
      view.stale = true;
      view.unseen += change.appended.length;
    }
    if (change.header) view.headerDirty = true;
    if (change.message) {
      const msg = change.message;
      if (msg.kind === "frame") onFrameDetail(msg);
      if (msg.kind === "export" && msg.request === view.exportRequest) {
        clearTimeout(view.exportTimer);
        view.exportRequest = null;
        offerDownload(msg.text, msg.name);
      }
    }
    schedule();
  }

  // -- controls --
  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr.wpsnb-frame");
    if (row) select(Number(row.dataset.i));
  });
  scroller.addEventListener("scroll", () => {
    const bottom = atBottom(scroller);
    if (bottom === view.following) return;
    view.following = bottom;
    if (bottom && view.stale) view.reset = true;
    if (bottom) jump.hidden = true;
    schedule();
  });
  jump.addEventListener("click", () => {
    view.following = true;
    forceRender();
  });
  pauseButton.addEventListener("click", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  });
  clearButton.addEventListener("click", () => {
    store.records = [];
    store.emit({ reset: true, cleared: true });
    model.send({ kind: "clear" });
  });
  for (const [select_, key] of [
    [dirFilter, "dir"],
    [typeFilter, "type"],
    [groupFilter, "group"],
  ]) {
    select_.addEventListener("change", () => {
      view.filter[key] = select_.value;
      forceRender();
    });
  }
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

  const onPaused = () => {
    if (!model.get("paused")) view.forced = true;
    view.headerDirty = true;
    schedule();
  };
  model.on("change:paused", onPaused);
  model.on("change:title", () => {
    view.headerDirty = true;
    schedule();
  });

  for (const record of store.records) learn(record);
  const unsubscribe = store.subscribe(onChange);
  schedule();
  return () => {
    unsubscribe();
    clearTimeout(view.exportTimer);
    if (view.exportUrl) URL.revokeObjectURL(view.exportUrl);
  };
}

export default { initialize: initializeStore, render: renderFrameInspector };
