// StreamView's page (see wpsnb/notebook/stream_view.py).
//
// Test hooks on the root `.wpsnb-stream`: data-state, data-connection-id, data-count (messages the
// kernel received), data-stored (lines this page holds), data-rows (rows in the DOM), data-paused,
// data-tab ("log" or "metrics"). The log and the Metrics tab are training_log.js's.

import { formatCount, h } from "./dom.js";
import { initializeStore, storeFor } from "./feed.js";
import { fillSelect, headerState, liveControls } from "./live_view.js";
import { mountTrainingLog } from "./training_log.js";

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
  const { title, stateBadge, count, rate } = controls;
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

  const root = h("div", { class: "wpsnb-widget wpsnb-training wpsnb-stream" });
  el.replaceChildren(root);

  // -- filtering by group (the level and text filters are the training log's) --
  function matchesGroup(line, { group }) {
    if (group && line.group && line.group !== group) return false;
    if (group && !line.group && line.kind !== "system") return false;
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
      countText: `${formatCount(hd.count)} message${hd.count === 1 ? "" : "s"}`,
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

  const log = mountTrainingLog({
    model,
    feed: store,
    root,
    controls,
    extraFilters: [groupFilter],
    extraMatch: matchesGroup,
    hooks: { paintHeader, paintMenus: paintGroups, onChange },
  });
  const live = log.live;
  root.append(header, log.toolbar, log.body, publishForm);

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
    log.dispose();
    clearTimeout(view.publishTimer);
  };
}

export default { initialize: initializeStore, render: renderStreamView };
