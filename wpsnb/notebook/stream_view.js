// StreamView's page (see stream_view.py). Python puts feed.js in front of this file: FeedStore,
// storeFor, initializeStore, frameScheduler, h, clockTime, formatCount, formatBytes, atBottom.
//
// Test hooks on the root `.wpsnb-stream`: data-state, data-connection-id, data-count (messages the
// kernel received), data-stored (records this page holds), data-rows (rows in the DOM), data-paused.

const JSON_SUMMARY = 160; // characters of a collapsed JSON message

function recordSearchText(record) {
  if (record._search === undefined) {
    const data = typeof record.data === "string" ? record.data : JSON.stringify(record.data);
    record._search = [record.group, record.from, record.text, data].filter(Boolean).join(" ").toLowerCase();
  }
  return record._search;
}

function renderMessageBody(record) {
  const type = record.dataType;
  if (type === "binary" || type === "protobuf") {
    return h(
      "span",
      { class: "wpsnb-binary" },
      h("span", { class: "wpsnb-badge", text: `${type} · ${formatBytes(record.size)}` }),
      h("code", { class: "wpsnb-hex", text: `${record.data}${record.truncated ? " …" : ""}` }),
    );
  }
  if (type === "json" && !record.preview && typeof record.data !== "string") {
    const compact = JSON.stringify(record.data);
    const pre = h("pre", { class: "wpsnb-json-pretty" });
    const details = h(
      "details",
      { class: "wpsnb-json" },
      h("summary", { text: compact.length > JSON_SUMMARY ? `${compact.slice(0, JSON_SUMMARY)} …` : compact }),
      pre,
    );
    // Pretty-print only when opened: thousands of rows stay cheap.
    details.addEventListener("toggle", () => {
      if (details.open && !pre.textContent) pre.textContent = JSON.stringify(record.data, null, 2);
    });
    return details;
  }
  const text = typeof record.data === "string" ? record.data : JSON.stringify(record.data);
  return h(
    "pre",
    { class: "wpsnb-text" },
    text,
    record.truncated ? h("span", { class: "wpsnb-note", text: ` … (${formatBytes(record.size)} in all)` }) : null,
  );
}

function renderRecord(record) {
  const time = h("span", { class: "wpsnb-time", text: clockTime(record.t) });
  if (record.kind === "system") {
    return h(
      "div",
      {
        class: `wpsnb-row wpsnb-system wpsnb-level-${record.level || "info"}`,
        dataset: { i: record.i, kind: "system", event: record.event || "" },
      },
      time,
      h("span", { class: "wpsnb-system-text", text: record.text }),
    );
  }
  const where = record.group
    ? h("span", { class: "wpsnb-group", text: record.group })
    : h("span", { class: "wpsnb-server", text: record.source || "server" });
  return h(
    "div",
    {
      class: "wpsnb-row wpsnb-message",
      dataset: { i: record.i, kind: "message", group: record.group || "", type: record.dataType },
    },
    time,
    where,
    record.from ? h("span", { class: "wpsnb-from", text: record.from }) : null,
    renderMessageBody(record),
  );
}

function renderStreamView({ model, el }) {
  const store = storeFor(model);
  const rows = () => Math.max(1, model.get("rows") || 1000);
  const view = {
    following: true,
    stale: false, // records arrived that the DOM does not show (paused, or scrolled up)
    unseen: 0,
    reset: true,
    queue: [],
    headerDirty: true,
    groups: new Set(),
    groupsDirty: true,
    forced: false, // a user action asks for a full render
    filterGroup: "",
    filterText: "",
    publishId: null,
    publishTimer: null,
  };

  // -- layout --
  const title = h("span", { class: "wpsnb-title" });
  const stateBadge = h("span", { class: "wpsnb-state" });
  const connection = h("code", { class: "wpsnb-connection-id" });
  const user = h("code", { class: "wpsnb-user-id" });
  const groupsText = h("span", { class: "wpsnb-groups" });
  const count = h("span", { class: "wpsnb-count" });
  const rate = h("span", { class: "wpsnb-rate" });
  const dropped = h("span", {
    class: "wpsnb-dropped",
    title: "Messages the client dropped because the kernel could not keep up",
  });
  const header = h(
    "div",
    { class: "wpsnb-header" },
    title,
    stateBadge,
    h("span", { class: "wpsnb-field" }, "connection ", connection),
    h("span", { class: "wpsnb-field" }, "user ", user),
    h("span", { class: "wpsnb-field" }, "groups ", groupsText),
    count,
    rate,
    dropped,
  );

  const pauseButton = h("button", { class: "wpsnb-button wpsnb-pause", type: "button" });
  const clearButton = h("button", { class: "wpsnb-button wpsnb-clear", type: "button", text: "Clear" });
  const groupFilter = h("select", { class: "wpsnb-filter-group", title: "Show one group" });
  const textFilter = h("input", {
    class: "wpsnb-filter-text",
    type: "search",
    placeholder: "filter text",
    title: "Show messages containing this text",
  });
  const shown = h("span", { class: "wpsnb-shown" });
  const toolbar = h("div", { class: "wpsnb-toolbar" }, pauseButton, clearButton, groupFilter, textFilter, shown);

  const list = h("div", { class: "wpsnb-rows" });
  const scroller = h("div", { class: "wpsnb-log" }, list);
  const jump = h("button", { class: "wpsnb-button wpsnb-jump", type: "button", hidden: true });
  const logWrap = h("div", { class: "wpsnb-log-wrap" }, scroller, jump);

  const datalistId = `wpsnb-groups-${model.get("_key")}-${Math.random().toString(36).slice(2, 8)}`;
  const groupOptions = h("datalist", { id: datalistId });
  const publishGroup = h("input", {
    class: "wpsnb-publish-group",
    placeholder: "group",
    title: "Group to publish to",
    list: datalistId,
  });
  const publishType = h(
    "select",
    { class: "wpsnb-publish-type", title: "dataType" },
    h("option", { value: "text", text: "text" }),
    h("option", { value: "json", text: "json" }),
  );
  const publishData = h("input", { class: "wpsnb-publish-data", placeholder: "message to publish" });
  const publishButton = h("button", { class: "wpsnb-button wpsnb-publish-send", type: "submit", text: "Publish" });
  const publishStatus = h("span", { class: "wpsnb-publish-status" });
  const publishForm = h(
    "form",
    { class: "wpsnb-publish" },
    groupOptions,
    publishGroup,
    publishType,
    publishData,
    publishButton,
    publishStatus,
  );

  const root = h("div", { class: "wpsnb-widget wpsnb-stream" }, header, toolbar, logWrap, publishForm);
  el.replaceChildren(root);

  // -- filtering --
  function matches(record) {
    if (view.filterGroup && record.group && record.group !== view.filterGroup) return false;
    if (view.filterGroup && !record.group && record.kind !== "system") return false;
    if (view.filterText && !recordSearchText(record).includes(view.filterText)) return false;
    return true;
  }

  // -- painting (once per animation frame) --
  function paintHeader() {
    const hd = store.header || {};
    const state = store.offline ? "offline" : hd.closed ? "closed" : hd.state || "unknown";
    stateBadge.title = store.offline ? "Saved output: the kernel that made this view does not answer" : "";
    title.textContent = model.get("title") || "StreamView";
    stateBadge.textContent = hd.reason && state !== "connected" ? `${state}: ${hd.reason}` : state;
    stateBadge.className = `wpsnb-state wpsnb-state-${state}`;
    connection.textContent = hd.connectionId || "–";
    user.textContent = hd.userId || "–";
    const groups = hd.groups || [];
    groupsText.textContent = groups.length ? groups.join(", ") : "–";
    count.textContent = `${formatCount(hd.count)} messages`;
    rate.textContent = store.offline ? "" : `${Number(hd.rate || 0).toFixed(1)}/s`;
    dropped.textContent = hd.dropped ? `${formatCount(hd.dropped)} dropped` : "";
    dropped.hidden = !hd.dropped;
    root.dataset.state = state;
    root.dataset.connectionId = hd.connectionId || "";
    root.dataset.count = String(hd.count || 0);
    for (const g of groups) addGroup(g);
    if (!publishGroup.value && groups.length) publishGroup.value = groups[0];
  }

  function addGroup(group) {
    if (group && !view.groups.has(group)) {
      view.groups.add(group);
      view.groupsDirty = true;
    }
  }

  function paintGroups() {
    const selected = groupFilter.value;
    const names = [...view.groups].sort();
    groupFilter.replaceChildren(
      h("option", { value: "", text: "all groups" }),
      ...names.map((g) => h("option", { value: g, text: g })),
    );
    groupFilter.value = names.includes(selected) ? selected : "";
    groupOptions.replaceChildren(...names.map((g) => h("option", { value: g })));
  }

  function paintRows() {
    const limit = rows();
    if (view.reset) {
      const matching = store.records.filter(matches);
      const visible = matching.slice(-limit);
      const fragment = document.createDocumentFragment();
      for (const record of visible) fragment.append(renderRecord(record));
      list.replaceChildren(fragment);
      view.matching = matching.length;
    } else if (view.queue.length) {
      const fresh = view.queue.filter(matches);
      view.matching = (view.matching || 0) + fresh.length;
      const fragment = document.createDocumentFragment();
      for (const record of fresh.slice(-limit)) fragment.append(renderRecord(record));
      list.append(fragment);
      let excess = list.childElementCount - limit;
      while (excess-- > 0) list.firstElementChild.remove();
    }
    view.reset = false;
    view.queue = [];
    view.stale = false;
    view.unseen = 0;
    if (view.following) scroller.scrollTop = scroller.scrollHeight;
  }

  function forceRender() {
    view.forced = true;
    schedule();
  }

  function paint() {
    if (view.headerDirty) {
      view.headerDirty = false;
      paintHeader();
    }
    if (view.groupsDirty) {
      view.groupsDirty = false;
      paintGroups();
    }
    const paused = model.get("paused");
    if (view.forced) {
      // A user action (filter, jump, resume, clear): render now, wherever the view is scrolled.
      view.forced = false;
      view.reset = true;
      paintRows();
      jump.hidden = true;
    } else if (paused || !view.following) {
      if (view.stale) {
        jump.hidden = view.following;
        jump.textContent = `Jump to latest (${formatCount(view.unseen)} new)`;
      }
    } else if (view.reset || view.queue.length) {
      paintRows();
      jump.hidden = true;
    }
    pauseButton.textContent = paused ? `Resume${view.unseen ? ` (${formatCount(view.unseen)} new)` : ""}` : "Pause";
    root.dataset.paused = paused ? "true" : "false";
    root.dataset.stored = String(store.records.length);
    root.dataset.rows = String(list.childElementCount);
    const total = store.records.length;
    shown.textContent =
      list.childElementCount < total
        ? `showing ${formatCount(list.childElementCount)} of ${formatCount(total)} records`
        : `${formatCount(total)} records`;
  }

  const schedule = frameScheduler(paint);

  function onChange(change) {
    if (change.cleared) view.forced = true; // emptied: show it, wherever the view is scrolled
    if (change.reset) {
      view.reset = true;
      view.queue = [];
      view.stale = true;
    }
    if (change.appended) {
      for (const record of change.appended) addGroup(record.group);
      if (!view.reset) {
        view.queue.push(...change.appended);
        // More queued than the DOM can show: a full render from the store is cheaper.
        if (view.queue.length > rows()) {
          view.reset = true;
          view.queue = [];
        }
      }
      view.stale = true;
      view.unseen += change.appended.length;
    }
    if (change.header) view.headerDirty = true;
    if (change.message) onKernelMessage(change.message);
    schedule();
  }

  function onKernelMessage(msg) {
    if (msg.kind === "publish-result" && msg.id === view.publishId) {
      clearTimeout(view.publishTimer);
      view.publishId = null;
      publishButton.disabled = false;
      if (msg.ok) {
        setPublishStatus("ok", "published");
        publishData.value = "";
      } else {
        const error = msg.error || {};
        setPublishStatus("error", `${error.name || "Error"}: ${error.message || "the service refused"}`, error.name);
      }
    }
  }

  function setPublishStatus(status, text, errorName) {
    publishStatus.dataset.status = status;
    publishStatus.textContent = text;
    if (errorName) publishStatus.dataset.errorName = errorName;
    else delete publishStatus.dataset.errorName;
  }

  // -- controls --
  scroller.addEventListener("scroll", () => {
    const bottom = atBottom(scroller);
    if (bottom === view.following) return;
    view.following = bottom;
    if (bottom && view.stale) view.reset = true;
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
  groupFilter.addEventListener("change", () => {
    view.filterGroup = groupFilter.value;
    forceRender();
  });
  textFilter.addEventListener("input", () => {
    view.filterText = textFilter.value.trim().toLowerCase();
    forceRender();
  });
  publishForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const group = publishGroup.value.trim();
    if (!group) return setPublishStatus("error", "choose a group to publish to");
    let data = publishData.value;
    if (publishType.value === "json") {
      try {
        data = JSON.parse(data);
      } catch (error) {
        return setPublishStatus("error", `not valid JSON: ${error.message}`);
      }
    }
    view.publishId = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    publishButton.disabled = true;
    setPublishStatus("pending", "publishing…");
    model.send({ kind: "publish", id: view.publishId, group, dataType: publishType.value, data });
    clearTimeout(view.publishTimer);
    view.publishTimer = setTimeout(() => {
      view.publishId = null;
      publishButton.disabled = false;
      setPublishStatus("error", "no answer from the kernel: is it running (or busy in a cell)?");
    }, 15000);
  });

  const onPaused = () => {
    if (!model.get("paused")) view.forced = true;
    schedule();
  };
  const onPublishBox = () => (publishForm.hidden = !model.get("publish_box"));
  const onTitle = () => {
    view.headerDirty = true;
    schedule();
  };
  model.on("change:paused", onPaused);
  model.on("change:publish_box", onPublishBox);
  model.on("change:title", onTitle);
  onPublishBox();

  const unsubscribe = store.subscribe(onChange);
  schedule();
  return () => {
    unsubscribe();
    clearTimeout(view.publishTimer);
  };
}

export default { initialize: initializeStore, render: renderStreamView };
