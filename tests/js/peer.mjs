// A peer that drives the official Azure Web PubSub JavaScript SDKs for the wpsnb interop tests.
//
// The Python tests start it as a subprocess and talk to it with one JSON object per line:
// commands on stdin, results and events on stdout (stderr is free-form logging).
//
//   node peer.mjs [--url URL] [--connection-string CS --hub HUB] [--protocol json|reliable]
//
// --url              a client access URL for the client (@azure/web-pubsub-client).
// --connection-string / --hub
//                    enables the server SDK (@azure/web-pubsub WebPubSubServiceClient); without --url
//                    the client's URL is minted with getClientAccessToken using the "start" command's
//                    userId / roles / groups.
// --protocol         "json" (json.webpubsub.azure.v1) or "reliable" (json.reliable.webpubsub.azure.v1,
//                    the default, as in the SDK).
//
// Commands (each may carry "id"; every command is answered by exactly one "result" line with that id):
//   {"cmd":"start", "userId"?, "roles"?, "groups"?, "keepAliveIntervalInMs"?, "messageRetries"?, "autoReconnect"?}
//                                                           -> value {"connectionId", "userId"}
//   {"cmd":"joinGroup"|"leaveGroup", "group", "ackId"?}    -> value {"ackId", "isDuplicated"}
//   {"cmd":"sendToGroup", "group", "data", "dataType", "noEcho"?, "fireAndForget"?, "ackId"?}
//   {"cmd":"sendEvent", "event", "data", "dataType", "fireAndForget"?, "ackId"?}
//   {"cmd":"openGroupStream", "group", "streamId"?, "idleTimeoutInMs"?, "noEcho"?} -> value {"streamId"}
//   {"cmd":"streamWrite", "streamId", "data", "dataType"}   -> value null once written
//   {"cmd":"streamWriteMany", "streamId", "count", "prefix"} writes "<prefix><n>" (text) for n = 1..count
//   {"cmd":"streamEnd", "streamId"} / {"cmd":"streamAbort", "streamId", "message", "userErrorCode"?}
//   {"cmd":"onGroupStream", "handleFromStart"?, "groupNames"?, "idleTimeoutInMs"?} subscribes to inbound
//                                                           streams (events "inbound-stream-*" below)
//   {"cmd":"invokeEvent", "event", "data"?, "dataType"?, "abortAfterMs"?} -> value {"dataType", "data"}
//                                                           (an InvocationError carries errorDetail)
//   {"cmd":"stop"}                                          -> value null, after the "stopped" event
//   {"cmd":"server.getClientAccessToken", "userId"?, "roles"?, "groups"?} -> value {"url", "token", "baseUrl"}
//   {"cmd":"server.sendToAll", "data", "dataType"}
//   {"cmd":"server.sendToGroup", "group", "data", "dataType"}
//   {"cmd":"server.sendToUser", "user", "data", "dataType"}
//   {"cmd":"exit"}                                          -> stops everything and exits 0
// Binary data travels base64-encoded in "data" with "dataType":"binary", both ways.
//
// Results: {"event":"result","id":..,"ok":true,"value":..}
//          {"event":"result","id":..,"ok":false,"error":{"name","message","ackId"?,"errorDetail"?}}
// Events:  {"event":"ready"} once the peer reads commands;
//          "connected" {connectionId,userId}; "disconnected" {connectionId,message};
//          "stopped"; "rejoin-group-failed" {group,message};
//          "group-message" {group,fromUserId,dataType,data,sequenceId,stream}; "server-message" {dataType,data,sequenceId};
//          "stream-error" {streamId,name,message} (an outbound stream's onError);
//          "inbound-stream-start" {group,streamId}; "inbound-stream-message" {group,streamId,dataType,data,
//          streamSequenceId}; "inbound-stream-end" {group,streamId,error} (error null when it ended normally);
//          "frame" {direction:"received"|"sent", text} for every WebSocket frame the client handles.
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { Buffer } from "node:buffer";
import {
  WebPubSubClient,
  WebPubSubJsonProtocol,
  WebPubSubJsonReliableProtocol,
} from "@azure/web-pubsub-client";
import { WebPubSubServiceClient } from "@azure/web-pubsub";

const PROTOCOLS = { json: WebPubSubJsonProtocol, reliable: WebPubSubJsonReliableProtocol };

const { values: options } = parseArgs({
  options: {
    url: { type: "string" },
    "connection-string": { type: "string" },
    hub: { type: "string" },
    protocol: { type: "string", default: "reliable" },
  },
});

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function fail(message) {
  process.stderr.write(`peer.mjs: ${message}\n`);
  process.exit(2);
}

if (!(options.protocol in PROTOCOLS)) {
  fail(`--protocol must be one of ${Object.keys(PROTOCOLS).join(", ")}, got ${options.protocol}`);
}
if (options["connection-string"] && !options.hub) {
  fail("--connection-string needs --hub");
}

const serviceClient = options["connection-string"]
  ? // The local service speaks plain http on loopback; core-rest-pipeline refuses that unless told.
    new WebPubSubServiceClient(options["connection-string"], options.hub, { allowInsecureConnection: true })
  : null;

// Wraps the SDK's own protocol object so every raw frame is reported before the SDK parses it.
function tappedProtocol(protocol) {
  return {
    name: protocol.name,
    isReliableSubProtocol: protocol.isReliableSubProtocol,
    parseMessages(input) {
      const text = typeof input === "string" ? input : null;
      emit("frame", { direction: "received", text, binary: text === null });
      return protocol.parseMessages(input);
    },
    writeMessage(message) {
      const output = protocol.writeMessage(message);
      emit("frame", { direction: "sent", text: typeof output === "string" ? output : null });
      return output;
    },
  };
}

function toWire(data, dataType) {
  if (dataType === "binary") {
    const bytes = Buffer.from(data, "base64");
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }
  return data;
}

function fromWire(data, dataType) {
  if (dataType === "binary" || dataType === "protobuf") {
    return Buffer.from(data).toString("base64");
  }
  return data;
}

function requireServer() {
  if (!serviceClient) throw new Error("server commands need --connection-string and --hub");
  return serviceClient;
}

// The server SDK picks the content type from the value: strings need an explicit text/plain,
// binary is a Buffer (application/octet-stream), anything else is sent as JSON.
function serverBody(command) {
  if (command.dataType === "text") return [command.data, { contentType: "text/plain" }];
  if (command.dataType === "binary") return [Buffer.from(command.data, "base64"), {}];
  return [command.data, {}];
}

let client = null;

function createClient(command) {
  let credential;
  if (options.url) {
    credential = options.url;
  } else {
    const server = requireServer();
    credential = {
      getClientAccessUrl: async () =>
        (
          await server.getClientAccessToken({
            userId: command.userId,
            roles: command.roles,
            groups: command.groups,
          })
        ).url,
    };
  }
  const created = new WebPubSubClient(credential, {
    protocol: tappedProtocol(PROTOCOLS[options.protocol]()),
    // Fail fast: the tests check what the service answers, not the SDK's retry loop.
    messageRetryOptions: { maxRetries: command.messageRetries ?? 0 },
    reconnectRetryOptions: { maxRetries: 0 },
    autoReconnect: command.autoReconnect ?? false,
    ...(command.keepAliveIntervalInMs ? { keepAliveIntervalInMs: command.keepAliveIntervalInMs } : {}),
  });
  created.on("connected", (e) => emit("connected", { connectionId: e.connectionId, userId: e.userId ?? null }));
  created.on("disconnected", (e) =>
    emit("disconnected", { connectionId: e.connectionId ?? null, message: e.message?.message ?? null }),
  );
  created.stopped = new Promise((resolve) =>
    created.on("stopped", () => {
      emit("stopped");
      resolve();
    }),
  );
  created.on("rejoin-group-failed", (e) => emit("rejoin-group-failed", { group: e.group, message: String(e.error) }));
  created.on("group-message", (e) =>
    emit("group-message", {
      group: e.message.group,
      fromUserId: e.message.fromUserId ?? null,
      dataType: e.message.dataType,
      data: fromWire(e.message.data, e.message.dataType),
      sequenceId: e.message.sequenceId ?? null,
      stream: e.message.stream ?? null,
    }),
  );
  created.on("server-message", (e) =>
    emit("server-message", {
      dataType: e.message.dataType,
      data: fromWire(e.message.data, e.message.dataType),
      sequenceId: e.message.sequenceId ?? null,
    }),
  );
  return created;
}

function requireClient() {
  if (!client) throw new Error("the client is not started; send {\"cmd\":\"start\"} first");
  return client;
}

const outboundStreams = new Map();

function requireStream(streamId) {
  const stream = outboundStreams.get(streamId);
  if (!stream) throw new Error(`no open outbound stream ${streamId}; send openGroupStream first`);
  return stream;
}

// Reads one inbound group stream to its end, reporting every fragment as an event.
async function readInboundStream(groupStream) {
  const names = { group: groupStream.groupName, streamId: groupStream.streamId };
  emit("inbound-stream-start", names);
  try {
    for await (const message of groupStream) {
      emit("inbound-stream-message", {
        ...names,
        dataType: message.dataType,
        data: fromWire(message.data, message.dataType),
        streamSequenceId: message.stream?.streamSequenceId ?? null,
      });
    }
    emit("inbound-stream-end", { ...names, error: null });
  } catch (error) {
    emit("inbound-stream-end", { ...names, error: describeError(error) });
  }
}

function ackResult(result) {
  return result ? { ackId: result.ackId ?? null, isDuplicated: result.isDuplicated } : null;
}

const handlers = {
  async start(command) {
    if (client) throw new Error("the client is already started");
    const created = createClient(command);
    const connected = new Promise((resolve) => created.on("connected", resolve));
    await created.start(); // throws when the handshake is refused; the client then stays unset
    client = created;
    const e = await connected;
    return { connectionId: e.connectionId, userId: e.userId ?? null };
  },
  async joinGroup(command) {
    return ackResult(await requireClient().joinGroup(command.group, { ackId: command.ackId }));
  },
  async leaveGroup(command) {
    return ackResult(await requireClient().leaveGroup(command.group, { ackId: command.ackId }));
  },
  async sendToGroup(command) {
    const result = await requireClient().sendToGroup(
      command.group,
      toWire(command.data, command.dataType),
      command.dataType,
      { noEcho: command.noEcho ?? false, fireAndForget: command.fireAndForget ?? false, ackId: command.ackId },
    );
    return ackResult(result);
  },
  async sendEvent(command) {
    const result = await requireClient().sendEvent(
      command.event,
      toWire(command.data, command.dataType),
      command.dataType,
      { fireAndForget: command.fireAndForget ?? false, ackId: command.ackId },
    );
    return ackResult(result);
  },
  async openGroupStream(command) {
    const stream = await requireClient().openGroupStream(command.group, {
      streamId: command.streamId,
      idleTimeoutInMs: command.idleTimeoutInMs,
      noEcho: command.noEcho,
    });
    outboundStreams.set(stream.streamId, stream);
    stream.onError((error) => emit("stream-error", { streamId: stream.streamId, name: error.name, message: error.message }));
    return { streamId: stream.streamId };
  },
  async streamWrite(command) {
    await requireStream(command.streamId).write(toWire(command.data, command.dataType), command.dataType);
    return null;
  },
  async streamWriteMany(command) {
    const stream = requireStream(command.streamId);
    for (let n = 1; n <= command.count; n++) {
      await stream.write(`${command.prefix}${n}`, "text");
    }
    return null;
  },
  async streamEnd(command) {
    await requireStream(command.streamId).end();
    return null;
  },
  async streamAbort(command) {
    await requireStream(command.streamId).abort({ message: command.message, userErrorCode: command.userErrorCode });
    return null;
  },
  async onGroupStream(command) {
    requireClient().onGroupStream((groupStream) => void readInboundStream(groupStream), {
      handleFromStart: command.handleFromStart,
      groupNames: command.groupNames,
      idleTimeoutInMs: command.idleTimeoutInMs,
    });
    return null;
  },
  async invokeEvent(command) {
    const abortSignal = command.abortAfterMs ? AbortSignal.timeout(command.abortAfterMs) : undefined;
    const result = await requireClient().invokeEvent(
      command.event,
      command.data === undefined ? undefined : toWire(command.data, command.dataType),
      command.dataType,
      { abortSignal },
    );
    return { dataType: result.dataType ?? null, data: result.data === undefined ? null : fromWire(result.data, result.dataType) };
  },
  async stop() {
    if (!client) return null;
    const stopping = client;
    client = null;
    stopping.stop(); // a no-op when the service already ended the connection; "stopped" has fired then
    await stopping.stopped;
    return null;
  },
  async "server.getClientAccessToken"(command) {
    const token = await requireServer().getClientAccessToken({
      userId: command.userId,
      roles: command.roles,
      groups: command.groups,
    });
    return { url: token.url, token: token.token, baseUrl: token.baseUrl };
  },
  async "server.sendToAll"(command) {
    await requireServer().sendToAll(...serverBody(command));
    return null;
  },
  async "server.sendToGroup"(command) {
    await requireServer().group(command.group).sendToAll(...serverBody(command));
    return null;
  },
  async "server.sendToUser"(command) {
    await requireServer().sendToUser(command.user, ...serverBody(command));
    return null;
  },
};

function describeError(error) {
  return {
    name: error?.name ?? "Error",
    message: error?.message ?? String(error),
    ackId: error?.ackId ?? null,
    errorDetail: error?.errorDetail ?? null,
    statusCode: error?.statusCode ?? null,
  };
}

async function run(command) {
  const handler = handlers[command.cmd];
  if (!handler) {
    emit("result", { id: command.id ?? null, ok: false, error: { name: "UnknownCommand", message: `unknown cmd ${command.cmd}` } });
    return;
  }
  try {
    emit("result", { id: command.id ?? null, ok: true, value: (await handler(command)) ?? null });
  } catch (error) {
    emit("result", { id: command.id ?? null, ok: false, error: describeError(error) });
  }
}

async function exit() {
  if (client) client.stop();
  // Give the close frame a moment to leave before the process ends.
  setTimeout(() => process.exit(0), 50);
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit("result", { id: null, ok: false, error: { name: "BadCommand", message: `not JSON: ${error.message}` } });
    return;
  }
  if (command.cmd === "exit") {
    exit();
    return;
  }
  // Commands run concurrently, like calls from an application; results carry the command's id.
  run(command);
});
lines.on("close", exit);
emit("ready");
