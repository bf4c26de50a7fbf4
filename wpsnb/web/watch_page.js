// The watch page (served by wpsnb/watch/server.py): one group's training log, live, with history.
//
// The server relays the records a StreamView's page gets (feed.py's batch / replay messages) over a
// WebSocket. SocketModel gives that socket the part of an anywidget model the shared code uses
// (get / set / on / off / send / save_changes), so the store (feed.js), the log and the Metrics tab
// (training_log.js) are the very modules StreamView runs. When the socket closes the page says so
// and reloads once the server answers again.
//
// Test hooks on `.wpsnb-watch`: data-state, data-count, data-stored, data-rows, data-tab, data-socket.

import { formatCount, h } from "./dom.js";
import { FeedStore } from "./feed.js";
import { headerState, liveControls } from "./live_view.js";
import { mountTrainingLog } from "./training_log.js";

class SocketModel {
  constructor(socket, state) {
    this.socket = socket;
    this.values = { _key: "watch", limit: state.limit, rows: state.rows, title: state.title, paused: false };
    this.values.header = state.header || {};
    this.values.history = [];
    this.handlers = new Map();
    this.highest = -1; // the highest record index seen (a local "clear" hides everything up to it)
  }

  get(name) {
    return this.values[name];
  }

  set(name, value) {
    this.values[name] = value;
    this.fire(`change:${name}`);
  }

  save_changes() {}

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(handler);
  }

  off(event, handler) {
    this.handlers.get(event)?.delete(handler);
  }

  fire(event, ...args) {
    for (const handler of this.handlers.get(event) || []) handler(...args);
  }

  receive(message) {
    for (const record of message.records || []) this.highest = Math.max(this.highest, record.i);
    this.fire("msg:custom", message);
  }

  send(message) {
    if (message.kind === "clear") {
      // Clear is this page's own: the server keeps its records for the other pages.
      this.fire("msg:custom", { kind: "clear", through: this.highest });
      return;
    }
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}

function mount(socket, state) {
  const model = new SocketModel(socket, state);
  const store = new FeedStore(model);
  const controls = liveControls();
  const { title, stateBadge, count, rate } = controls;
  const where = h("span", { class: "wpsnb-field" });
  const pages = h("span", { class: "wpsnb-field wpsnb-pages" });
  const header = h("div", { class: "wpsnb-header" }, title, stateBadge, where, count, rate, pages);
  const root = h("div", { class: "wpsnb-widget wpsnb-training wpsnb-watch", dataset: { socket: "open" } });
  const log = mountTrainingLog({
    model,
    feed: store,
    root,
    controls,
    hooks: {
      paintHeader() {
        const hd = store.header || {};
        const stateName = root.dataset.socket === "closed" ? "disconnected" : headerState(store, "live");
        log.live.paintHeaderBase({
          state: stateName,
          badgeText: hd.reason && stateName !== "live" ? `${stateName}: ${hd.reason}` : stateName,
          defaultTitle: "wpsnb watch",
          countText: `${formatCount(hd.count)} message${hd.count === 1 ? "" : "s"}`,
        });
        where.textContent = `group ${hd.group ?? state.group} · hub ${hd.hub ?? state.hub} · ${hd.source ?? state.source}`;
        pages.textContent = hd.pages > 1 ? `${hd.pages} pages watching` : "";
      },
    },
  });
  root.append(header, log.toolbar, log.body);
  document.getElementById("wpsnb-watch").replaceChildren(root);
  document.title = state.title;
  log.live.schedule();
  return { model, root, repaint: () => log.live.repaintHeader() };
}

function connect() {
  const url = new URL("feed", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  let page = null;
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.kind === "state") {
      if (!page) page = mount(socket, message);
      return;
    }
    page?.model.receive(message);
  });
  socket.addEventListener("close", () => {
    if (page) {
      page.root.dataset.socket = "closed";
      page.repaint();
    }
    waitThenReload();
  });
}

// The server went away (or dropped this page for falling behind): reload when it answers again.
function waitThenReload() {
  setTimeout(async () => {
    try {
      const response = await fetch("health", { cache: "no-store" });
      if (response.ok) return window.location.reload();
    } catch (error) {
      // not back yet
    }
    waitThenReload();
  }, 2000);
}

connect();
