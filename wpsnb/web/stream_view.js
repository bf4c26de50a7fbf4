// StreamView's page (see wpsnb/notebook/stream_view.py).
//
// Test hooks on the root `.wpsnb-stream`: data-state, data-connection-id, data-count (messages the
// kernel received), data-stored (records this page holds), data-rows (rows in the DOM), data-paused.

import { clockTime, formatBytes, formatCount, h } from "./dom.js";
import { initializeStore, storeFor } from "./feed.js";
import { fillSelect, headerState, LiveView, liveControls } from "./live_view.js";

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
  const view = {
    groups: new Set(),
    groupsDirty: true,
    publishId: null,
    publishTimer: null,
  };

  // -- layout --
  const controls = liveControls();
  const { title, stateBadge, count, rate, pauseButton, clearButton, shown, jump } = controls;
  const connection = h("code", { class: "wpsnb-connection-id" });
  const user = h("code", { class: "wpsnb-user-id" });
  const groupsText = h("span", { class: "wpsnb-groups" });
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

  const groupFilter = h("select", { class: "wpsnb-filter-group", title: "Show one group" });
  const textFilter = h("input", {
    class: "wpsnb-filter-text",
    type: "search",
    placeholder: "filter text",
    title: "Show messages containing this text",
  });
  const toolbar = h("div", { class: "wpsnb-toolbar" }, pauseButton, clearButton, groupFilter, textFilter, shown);

  const list = h("div", { class: "wpsnb-rows" });
  const scroller = h("div", { class: "wpsnb-log" }, list);
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
    const { group, text } = live.filter;
    if (group && record.group && record.group !== group) return false;
    if (group && !record.group && record.kind !== "system") return false;
    if (text && !recordSearchText(record).includes(text)) return false;
    return true;
  }

  // -- painting (the rows, follow-tail and counts are LiveView's) --
  function paintHeader() {
    const hd = store.header || {};
    const state = headerState(store, "unknown");
    const groups = hd.groups || [];
    live.paintHeaderBase({
      state,
      badgeText: hd.reason && state !== "connected" ? `${state}: ${hd.reason}` : state,
      defaultTitle: "StreamView",
      countText: `${formatCount(hd.count)} messages`,
    });
    connection.textContent = hd.connectionId || "–";
    user.textContent = hd.userId || "–";
    groupsText.textContent = groups.length ? groups.join(", ") : "–";
    dropped.textContent = hd.dropped ? `${formatCount(hd.dropped)} dropped` : "";
    dropped.hidden = !hd.dropped;
    root.dataset.connectionId = hd.connectionId || "";
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
    if (!view.groupsDirty) return;
    view.groupsDirty = false;
    const names = fillSelect(groupFilter, view.groups, "all groups");
    groupOptions.replaceChildren(...names.map((g) => h("option", { value: g })));
  }

  function onChange(change) {
    for (const record of change.appended || []) addGroup(record.group);
    if (change.message) onKernelMessage(change.message);
  }

  const live = new LiveView({
    model,
    store,
    root,
    list,
    scroller,
    controls,
    renderRow: renderRecord,
    matches,
    hooks: { paintHeader, paintMenus: paintGroups, onChange },
  });

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
  live.bindFilter(groupFilter, "change", "group");
  live.bindFilter(textFilter, "input", "text", () => textFilter.value.trim().toLowerCase());
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

  const onPublishBox = () => (publishForm.hidden = !model.get("publish_box"));
  model.on("change:publish_box", onPublishBox);
  onPublishBox();

  live.schedule();
  return () => {
    live.unsubscribe();
    clearTimeout(view.publishTimer);
  };
}

export default { initialize: initializeStore, render: renderStreamView };
