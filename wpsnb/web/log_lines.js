// A training log as a terminal would show it, from a feed of message records (see docs/history.md
// for what publishers send). Shared by StreamView and the watch page.
//
// - Text is terminal text: a message that starts with "\r" replaces the line in progress of its
//   sender (same group and fromUserId) in place, wherever that row is; inside a message, each line
//   shows what follows its last "\r". A message without a final "\n" leaves its row open.
// - LogHandler records (JSON with levelno, logger, message) read `time LEVEL logger: message`,
//   coloured by level, with their extra fields and traceback.
// - wpsnb's control messages (JSON with a top-level "wpsnb" key) are never shown.
// - Search matches what the row shows, ignoring JSON punctuation: `epoch 2` finds {"epoch": 2}.

import { clockTime, formatBytes, h } from "./dom.js";

export const LEVELS = [
  ["DEBUG", 10],
  ["INFO", 20],
  ["WARNING", 30],
  ["ERROR", 40],
  ["CRITICAL", 50],
];
const JSON_SUMMARY = 160; // characters of a collapsed JSON message

function plainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function isControl(record) {
  return record.dataType === "json" && plainObject(record.data) && "wpsnb" in record.data;
}

// The LogHandler fields of a record's JSON, or null when it is not a log record.
export function logRecordOf(record) {
  const d = record.data;
  if (record.kind !== "message" || record.dataType !== "json" || !plainObject(d)) return null;
  return typeof d.levelno === "number" && typeof d.message === "string" ? d : null;
}

export function levelName(levelno) {
  let name = "DEBUG";
  for (const [label, number] of LEVELS) if (levelno >= number) name = label;
  return name;
}

// What a terminal shows for `raw`: every line from its last "\r" on ("\r\n" ends a line).
export function terminalText(raw) {
  return raw
    .replace(/\r+\n/g, "\n")
    .split("\n")
    .map((line) => {
      const body = line.replace(/\r+$/, "");
      const cut = body.lastIndexOf("\r");
      return cut >= 0 ? body.slice(cut + 1) : body;
    })
    .join("\n");
}

// A row shows its text without the newline that ended it.
function shownText(raw) {
  return raw.endsWith("\n") ? raw.slice(0, -1) : raw;
}

// Search text and queries alike: lower case, JSON punctuation and runs of blanks as one space.
export function searchable(text) {
  return String(text)
    .toLowerCase()
    .replace(/[{}[\]",:=]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

function compactJson(value) {
  try {
    return JSON.stringify(value);
  } catch (error) {
    return String(value);
  }
}

// The log's lines: one per record, except "\r" updates, which rewrite the open line they belong to.
// It looks like a FeedStore to a LiveView (records, header, offline, subscribe, emit).
export class LineStore {
  constructor(feed, limit) {
    this.feed = feed;
    this.limit = Math.max(1, limit || 10000);
    this.records = [];
    this.views = new Set();
    this.open = new Map(); // sender key -> its line in progress
    this.rebuild();
    this.unsubscribe = feed.subscribe((change) => this.onFeed(change));
  }

  get header() {
    return this.feed.header;
  }

  get offline() {
    return this.feed.offline;
  }

  rebuild() {
    this.records = [];
    this.open.clear();
    for (const record of this.feed.records) this.take(record, new Set());
    this.trim();
  }

  onFeed(change) {
    if (change.reset) {
      this.rebuild();
      this.emit({ ...change, reset: true });
      return;
    }
    if (change.appended) {
      const before = this.records.length;
      const updated = new Set();
      for (const record of change.appended) this.take(record, updated);
      const appended = this.records.slice(before);
      this.trim();
      for (const line of appended) updated.delete(line);
      this.emit({ appended: appended.filter((line) => !line.gone), updated: [...updated], source: change.source });
    }
    if (change.header || change.message) this.emit({ header: change.header, live: change.live, message: change.message });
  }

  take(record, updated) {
    if (isControl(record)) return;
    if (record.kind === "message" && record.dataType === "text" && typeof record.data === "string") {
      const key = `${record.group ?? ""}\u0000${record.from ?? ""}`;
      const open = this.open.get(key);
      if (open && !open.gone && record.data.startsWith("\r")) {
        open.raw = terminalText(open.raw + record.data); // kept short: only what shows
        open.text = shownText(open.raw);
        open.t = record.t;
        open.updates += 1;
        open.search = undefined;
        if (record.data.endsWith("\n")) this.open.delete(key);
        updated.add(open);
        return;
      }
      const line = { ...record, raw: terminalText(record.data), updates: 0 };
      line.text = shownText(line.raw);
      if (record.data.endsWith("\n")) this.open.delete(key);
      else this.open.set(key, line);
      this.records.push(line);
      return;
    }
    this.records.push({ ...record });
  }

  trim() {
    const excess = this.records.length - this.limit;
    if (excess > 0) for (const line of this.records.splice(0, excess)) line.gone = true;
  }

  emit(change) {
    for (const view of this.views) {
      try {
        view(change);
      } catch (error) {
        console.error("wpsnb log update failed", error);
      }
    }
  }

  subscribe(view) {
    this.views.add(view);
    return () => this.views.delete(view);
  }

  dispose() {
    this.unsubscribe();
    this.views.clear();
  }
}

// What a line shows, as searchable text (cached on the line).
export function lineSearchText(line) {
  if (line.search === undefined) {
    const log = logRecordOf(line);
    let text;
    if (log) {
      const extra = plainObject(log.extra) && Object.keys(log.extra).length ? compactJson(log.extra) : "";
      text = [levelName(log.levelno), log.logger, log.message, extra, log.exception || ""].join(" ");
    } else if (line.kind === "system") text = line.text;
    else text = typeof line.text === "string" ? line.text : compactJson(line.data);
    line.search = searchable([line.group, line.from, text].filter(Boolean).join(" "));
  }
  return line.search;
}

// The filter both views use: `level` (a minimum levelno: only log records at or above it) and `text`.
export function lineMatches(line, { level, text }) {
  if (level) {
    const log = logRecordOf(line);
    if (!log || log.levelno < level) return false;
  }
  return !text || lineSearchText(line).includes(text);
}

function logTime(log, fallback) {
  const ms = Date.parse(log.time);
  return clockTime(Number.isNaN(ms) ? fallback : ms);
}

function renderLogBody(log) {
  const name = levelName(log.levelno);
  const extra = plainObject(log.extra) && Object.keys(log.extra).length ? log.extra : null;
  return h(
    "span",
    { class: "wpsnb-record" },
    h("span", { class: `wpsnb-level wpsnb-level-${name}`, text: log.level || name }),
    " ",
    h("span", { class: "wpsnb-logger", text: log.logger || "root" }),
    ": ",
    h("span", { class: "wpsnb-record-message", text: log.message }),
    extra ? h("span", { class: "wpsnb-extra", text: ` ${compactJson(extra)}` }) : null,
    log.exception ? h("pre", { class: "wpsnb-exception", text: log.exception }) : null,
    log.stack ? h("pre", { class: "wpsnb-exception", text: log.stack }) : null,
  );
}

function renderBody(line) {
  const type = line.dataType;
  if (type === "binary" || type === "protobuf") {
    return h(
      "span",
      { class: "wpsnb-binary" },
      h("span", { class: "wpsnb-badge", text: `${type} · ${formatBytes(line.size)}` }),
      h("code", { class: "wpsnb-hex", text: `${line.data}${line.truncated ? " …" : ""}` }),
    );
  }
  if (type === "json" && !line.preview && typeof line.data !== "string") {
    const compact = compactJson(line.data);
    const pre = h("pre", { class: "wpsnb-json-pretty" });
    const details = h(
      "details",
      { class: "wpsnb-json" },
      h("summary", { text: compact.length > JSON_SUMMARY ? `${compact.slice(0, JSON_SUMMARY)} …` : compact }),
      pre,
    );
    // Pretty-print only when opened: thousands of rows stay cheap.
    details.addEventListener("toggle", () => {
      if (details.open && !pre.textContent) pre.textContent = JSON.stringify(line.data, null, 2);
    });
    return details;
  }
  const text = typeof line.text === "string" ? line.text : typeof line.data === "string" ? line.data : compactJson(line.data);
  return h(
    "pre",
    { class: "wpsnb-text" },
    text,
    line.truncated ? h("span", { class: "wpsnb-note", text: ` … (${formatBytes(line.size)} in all)` }) : null,
  );
}

// One row of the log. Test hooks: data-i, data-kind, data-type, data-group, data-level, data-updates.
export function renderLine(line) {
  if (line.kind === "system") {
    const row = h(
      "div",
      {
        class: `wpsnb-row wpsnb-system wpsnb-level-${line.level || "info"}`,
        dataset: { i: line.i, kind: "system", event: line.event || "" },
      },
      h("span", { class: "wpsnb-time", text: clockTime(line.t) }),
      h("span", { class: "wpsnb-system-text", text: line.text }),
    );
    line.el = row;
    return row;
  }
  const log = logRecordOf(line);
  const where = line.group
    ? h("span", { class: "wpsnb-group", text: line.group })
    : h("span", { class: "wpsnb-server", text: line.source || "server" });
  const dataset = { i: line.i, kind: "message", group: line.group || "", type: line.dataType };
  if (log) dataset.level = levelName(log.levelno);
  if (line.history) dataset.history = "true";
  if (line.updates) dataset.updates = String(line.updates);
  const row = h(
    "div",
    { class: `wpsnb-row wpsnb-message${log ? ` wpsnb-log-record wpsnb-row-${dataset.level}` : ""}`, dataset },
    h("span", { class: "wpsnb-time", text: log ? logTime(log, line.t) : clockTime(line.t) }),
    where,
    line.from ? h("span", { class: "wpsnb-from", text: line.from }) : null,
    log ? renderLogBody(log) : renderBody(line),
  );
  line.el = row;
  return row;
}

// Redraw a line that an update changed, if it is on screen (its row is replaced in place).
export function refreshLine(line) {
  const old = line.el;
  if (!old || !old.isConnected) return;
  old.replaceWith(renderLine(line));
}
