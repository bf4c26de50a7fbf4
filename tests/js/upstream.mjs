// An app server built on the official @azure/web-pubsub-express handler, for tests/upstream/.
//
//   node upstream.mjs '{"hub": "chat", "allowedEndpoints": ["http://127.0.0.1:1234"]}'
//
// Prints {"port": N} once listening on 127.0.0.1, then one JSON line per HTTP request it received
// ({"kind": "request", method, path, headers, body: base64}) and per handler callback
// ({"kind": "connected" | "disconnected" | "connect" | "user", ...}). What the handler does is
// chosen by the client: the connect query (?user=&roles=a,b&groups=a,b&subprotocol=&reject=401&state=)
// and the user event's name (echo, count, binary, json, none, fail, hang, whoami).
import express from "express";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";

const options = JSON.parse(process.argv[2] || "{}");
const hub = options.hub || "chat";
const report = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const first = (query, name) => (query && query[name] ? query[name][0] : undefined);
const list = (value) => (value ? value.split(",").filter((x) => x) : undefined);

const handler = new WebPubSubEventHandler(hub, {
  path: options.path,
  allowedEndpoints: options.allowedEndpoints,
  handleConnect: (req, res) => {
    report({ kind: "connect", context: req.context, claims: req.claims, query: req.queries, subprotocols: req.subprotocols, headers: req.headers });
    const q = req.queries || {};
    const reject = first(q, "reject");
    if (reject) {
      res.fail(Number(reject), "rejected by the test handler");
      return;
    }
    if (first(q, "state")) res.setState("greeting", first(q, "state"));
    const answer = {};
    if (first(q, "user")) answer.userId = first(q, "user");
    if (first(q, "roles")) answer.roles = list(first(q, "roles"));
    if (first(q, "groups")) answer.groups = list(first(q, "groups"));
    if (first(q, "subprotocol")) answer.subprotocol = first(q, "subprotocol");
    res.success(Object.keys(answer).length ? answer : undefined);
  },
  onConnected: (req) => report({ kind: "connected", context: req.context }),
  onDisconnected: (req) => report({ kind: "disconnected", context: req.context, reason: req.reason }),
  onGroupJoined: (req) => report({ kind: "joined", context: req.context, group: req.group }),
  onGroupLeft: (req) => report({ kind: "left", context: req.context, group: req.group }),
  handleUserEvent: (req, res) => {
    const data = Buffer.isBuffer(req.data) ? req.data.toString("base64") : req.data;
    report({ kind: "user", context: req.context, dataType: req.dataType, data });
    switch (req.context.eventName) {
      case "hang":
        return; // never answers
      case "fail":
        res.fail(500, "the test handler fails this event");
        return;
      case "none":
        res.success();
        return;
      case "count": {
        const count = (req.context.states.count || 0) + 1;
        res.setState("count", count);
        res.success(JSON.stringify({ count }), "json");
        return;
      }
      case "binary":
        res.success(Buffer.from([0, 1, 2, 255]), "binary");
        return;
      case "whoami":
        res.success(JSON.stringify({ userId: req.context.userId, states: req.context.states }), "json");
        return;
      default: // echo (and the simple clients' "message"): the same data and type back
        res.success(req.dataType === "json" ? JSON.stringify(req.data) : req.data, req.dataType);
    }
  },
});

const app = express();
app.use((req, res, next) => {
  const seen = { kind: "request", method: req.method, path: req.originalUrl, headers: req.headers };
  if (req.method === "POST") {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => report({ ...seen, body: Buffer.concat(chunks).toString("base64") }));
  } else {
    res.on("finish", () => report({ ...seen, status: res.statusCode, allowed: res.getHeader("WebHook-Allowed-Origin") ?? null }));
  }
  next();
});
app.use(handler.getMiddleware());
const server = app.listen(0, "127.0.0.1", () => report({ port: server.address().port, path: handler.path }));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
