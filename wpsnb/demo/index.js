// The log-stream page: joins the group "stream" over a plain browser WebSocket speaking the
// json.webpubsub.azure.v1 subprotocol (as the official tutorial's page does) and shows every message.
//
// Messages are terminal text: "\n" ends a line, "\r" makes the following text replace the line in
// progress (progress bars). A text message without either is one line. Incoming text is buffered
// and drawn once per animation frame, so a flood of messages costs one layout per frame.
"use strict";

const GROUP = "stream";
const MAX_LINES = 20000; // older lines are removed beyond this
const output = document.getElementById("output");
const statusView = document.getElementById("status");
const countView = document.getElementById("count");

let current = null;      // the element of the line in progress (null: the next text starts a new line)
let replaceNext = false; // a "\r" came: the next text replaces the line in progress
let complete = 0;        // lines ended so far
let pending = [];        // text waiting for the next frame
let frameRequested = false;

function setStatus(state, text) {
  statusView.dataset.state = state;
  statusView.textContent = text;
}

function newLine() {
  current = document.createElement("div");
  current.className = "line";
  output.appendChild(current);
  while (output.childElementCount > MAX_LINES) output.firstElementChild.remove();
}

function draw(text) {
  for (const piece of text.split(/(\r|\n)/)) {
    if (piece === "\n") {
      if (current === null) newLine();
      current.dataset.complete = "true";
      current = null;
      replaceNext = false;
      complete += 1;
    } else if (piece === "\r") {
      replaceNext = true;
    } else if (piece) {
      if (current === null) newLine();
      current.textContent = replaceNext ? piece : current.textContent + piece;
      replaceNext = false;
    }
  }
}

function render() {
  frameRequested = false;
  const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
  const text = pending.join("");
  pending = [];
  draw(text);
  output.dataset.lines = String(complete);
  countView.textContent = `${complete} line${complete === 1 ? "" : "s"}`;
  if (stick) output.scrollTop = output.scrollHeight; // follow the end unless the reader scrolled up
}

function show(message) {
  // wpsnb's own control messages (history requests and answers, docs/history.md) are not output.
  if (message.dataType === "json" && message.data && typeof message.data === "object" && "wpsnb" in message.data) return;
  let text;
  if (message.dataType === "text") {
    text = message.data;
  } else if (message.dataType === "json") {
    text = JSON.stringify(message.data);
  } else {
    text = `<${message.dataType} message, ${String(message.data).length} base64 characters>`;
  }
  if (!/[\r\n]/.test(text)) text += "\n"; // plain text from any publisher: one line
  // A new line from another writer must not be glued to a progress line still in progress.
  const pendingEndsLine = pending.length ? /\n$/.test(pending[pending.length - 1]) : current === null;
  if (!pendingEndsLine && !text.startsWith("\r")) text = "\n" + text;
  pending.push(text);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(render);
  }
}

async function connect() {
  setStatus("connecting", "connecting…");
  let url;
  try {
    const answer = await fetch("negotiate", { cache: "no-store" });
    if (!answer.ok) throw new Error(`/negotiate answered ${answer.status}`);
    url = (await answer.json()).url;
  } catch (error) {
    setStatus("error", `cannot negotiate: ${error.message}; retrying`);
    setTimeout(connect, 2000);
    return;
  }
  let ackId = 0;
  const ws = new WebSocket(url, "json.webpubsub.azure.v1");
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "joinGroup", group: GROUP, ackId: ++ackId }));
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "system" && message.event === "connected") {
      setStatus("connected", `connected as ${message.connectionId}`);
    } else if (message.type === "ack") {
      if (message.success || (message.error && message.error.name === "Duplicate")) {
        setStatus("joined", `joined group "${GROUP}"`);
      } else {
        setStatus("error", `join refused: ${message.error ? message.error.name + " " + message.error.message : ""}`);
      }
    } else if (message.type === "message" && message.group === GROUP) {
      show(message);
    }
  };
  ws.onclose = (event) => {
    setStatus("closed", `disconnected (${event.code}); reconnecting…`);
    setTimeout(connect, 2000);
  };
}

connect();
