// The page side of wpsnb's live feeds (wpsnb/notebook/feed.py): one store of records per model,
// shared by every view of it. A model is an anywidget model, or anything with the same get / on /
// off / send (the watch page's socket, see watch_page.js).
//
// Records carry an index "i" that only grows. The store takes them from three places:
// - {"kind": "batch"} custom messages (live, at most ~20 a second);
// - {"kind": "replay"} answers to the store's own request (the kernel's whole ring buffer);
// - the "history" trait (the last few hundred records: a saved notebook, a page without a kernel).
// It keeps records it has not seen (i > last), at most `limit` of them, and tells its views what
// changed. Views coalesce those changes and touch the DOM once per animation frame.

const STORES = new Map();
const OFFLINE_AFTER_MS = 4000; // no answer to the replay request by then: the view shows saved output

export class FeedStore {
  constructor(model) {
    this.model = model;
    this.key = model.get("_key");
    this.limit = Math.max(1, model.get("limit") || 10000);
    this.records = [];
    this.last = -1; // highest record index seen
    this.header = model.get("header") || {};
    this.views = new Set();
    this.requestId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    this.replayBuffer = null;
    this.replied = false; // the kernel answered: it is alive
    this.replayed = false; // the kernel answered our replay request
    this.offline = false; // no answer to the replay request: this is saved output, its kernel is gone
    this.onMessage = (msg) => this.receive(msg);
    this.onHistory = () => this.append(this.model.get("history") || [], "history");
    this.onHeader = () => this.setHeader(this.model.get("header") || {});
    model.on("msg:custom", this.onMessage);
    model.on("change:history", this.onHistory);
    model.on("change:header", this.onHeader);
    this.append(model.get("history") || [], "history");
    this.requestReplay();
  }

  requestReplay() {
    try {
      this.model.send({ kind: "replay", request: this.requestId });
    } catch (error) {
      // No kernel (a saved notebook): the history trait is all there is.
    }
    this.offlineTimer = setTimeout(() => {
      // A reloaded page's request (or its answer) can be lost while the page's comm reconnects: ask
      // again until the ring arrives, or the view would stay incomplete for good.
      if (!this.replayed) this.requestReplay();
      if (this.replied) return;
      this.offline = true;
      this.emit({ header: true });
    }, OFFLINE_AFTER_MS);
  }

  receive(msg) {
    if (!msg || typeof msg !== "object") return;
    if (this.offline) {
      this.offline = false; // the kernel is there after all (it was busy)
      this.emit({ header: true });
    }
    if (msg.header) this.setHeader(msg.header, true);
    switch (msg.kind) {
      case "batch":
        this.replied = true;
        this.append(msg.records || [], "batch");
        break;
      case "replay":
        if (msg.request !== this.requestId) return; // another page's request
        this.replied = true;
        this.replayed = true;
        if (msg.first) this.replayBuffer = [];
        if (this.replayBuffer) this.replayBuffer.push(...(msg.records || []));
        if (msg.last && this.replayBuffer) {
          const records = this.replayBuffer.slice(-this.limit);
          this.replayBuffer = null;
          this.records = records;
          if (records.length) this.last = Math.max(this.last, records[records.length - 1].i);
          this.emit({ reset: true });
        }
        break;
      case "clear":
        this.records = [];
        this.last = Math.max(this.last, msg.through ?? -1);
        this.emit({ reset: true, cleared: true });
        break;
      default:
        this.emit({ message: msg });
    }
  }

  append(records, source) {
    const fresh = [];
    for (const record of records) {
      if (record && record.i > this.last) {
        fresh.push(record);
        this.last = record.i;
      }
    }
    if (!fresh.length) return;
    this.records.push(...fresh);
    const excess = this.records.length - this.limit;
    if (excess > 0) this.records.splice(0, excess);
    this.emit({ appended: fresh, source });
  }

  setHeader(header, live = false) {
    this.header = header;
    this.emit({ header: true, live });
  }

  emit(change) {
    for (const view of this.views) {
      try {
        view(change);
      } catch (error) {
        console.error("wpsnb view update failed", error);
      }
    }
  }

  subscribe(view) {
    this.views.add(view);
    return () => this.views.delete(view);
  }

  dispose() {
    clearTimeout(this.offlineTimer);
    this.model.off("msg:custom", this.onMessage);
    this.model.off("change:history", this.onHistory);
    this.model.off("change:header", this.onHeader);
    this.views.clear();
    if (STORES.get(this.key) === this) STORES.delete(this.key);
  }
}

export function storeFor(model) {
  const key = model.get("_key");
  let store = STORES.get(key);
  if (!store) {
    store = new FeedStore(model);
    STORES.set(key, store);
  }
  return store;
}

export function initializeStore({ model }) {
  const key = model.get("_key");
  const old = STORES.get(key);
  if (old) old.dispose(); // the module was re-bound (e.g. hot reload): start over
  const store = new FeedStore(model);
  STORES.set(key, store);
  return () => store.dispose();
}
