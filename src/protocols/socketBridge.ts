// Protocol v2 over WebSocket (GET /threads/{id}/stream/events with Upgrade: websocket), carried
// on the protocol's HTTP transport through the gateway's own pipeline (design note 010).
//
// The client's socket ends here. Its event stream is one POST /threads/{id}/stream/events for
// every channel, and each command frame is one POST /threads/{id}/commands. Both are sent as the
// client's own requests, with its credentials and its address, to a loopback listener whose
// handler is the request pipeline. So every frame is classified, authorised, masked, held for
// approval and recorded exactly as its HTTP twin is, and every event the client receives was
// masked by the respond stage. The server sees the protocol's HTTP transport, which it binds to
// the thread for the session (a thread's transport is fixed by its first request), so the two
// transports are never mixed upstream.
//
// Subscriptions are the transport's own business. On a socket the server sends what the client
// subscribed to and the SDK sorts events into subscriptions by their channel and namespace
// (matchesSubscription). The bridge's event stream already carries every channel the caller may
// read, so subscription.subscribe and .unsubscribe are answered here, and the SDK sorts as before.
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, request as httpRequest, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { once } from "node:events";
import type { Duplex } from "node:stream";
import { createParser } from "eventsource-parser";
import type { Logger } from "pino";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { GatewayError } from "../errors.js";
import { isObject } from "../jsonText.js";
import { parseRequestTarget, type RequestTarget } from "../receive/index.js";

/** Every channel of protocol v2 (inferChannel in @langchain/langgraph/stream). */
const PROTOCOL_CHANNELS = ["values", "checkpoints", "updates", "messages", "tools", "custom", "lifecycle", "input", "tasks"] as const;

// Names a bridged request on the loopback listener: a secret of this process and the request's id.
const BRIDGE_HEADER = "portcullis-socket-bridge";
// Fields of the upgrade request that belong to the WebSocket handshake or to its connection, not
// to the requests the bridge sends on the client's behalf.
const HANDSHAKE_FIELDS = new Set([
  "connection",
  "upgrade",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "content-length",
  "content-type",
  "expect",
  "accept",
  "accept-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  // A deferred answer (Prefer: respond-async) has nowhere to go on a socket: held commands wait.
  "prefer",
  BRIDGE_HEADER,
]);
// Relayed from a refused event stream to the refused handshake.
const REFUSAL_FIELDS = ["content-type", "x-request-id", "x-portcullis-error", "www-authenticate", "retry-after", "portcullis-approval-id"];

interface ProtocolSocketBridgeOptions {
  /** The request pipeline (RequestPipeline.handle): every bridged request goes through it. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Refuses and records a handshake below the pipeline (RequestPipeline.refuseConnection). */
  refuse(req: IncomingMessage, socket: Socket, error: GatewayError): Promise<void>;
  /** limits.max_body_bytes: the largest command frame taken. */
  maxMessageBytes: number;
  /** cors.allow_origins: pages on other origins whose sockets are taken. */
  allowOrigins: readonly string[];
  log: Logger;
}

interface SocketSession {
  ws: WebSocket;
  peer: Socket;
  threadId: string;
  headers: IncomingHttpHeaders;
  subscriptions: Set<string>;
  events: AbortController;
  /** The event stream is open (or being opened). */
  streaming: boolean;
}

export class ProtocolSocketBridge {
  private readonly sockets: WebSocketServer;
  private readonly loopback: Server;
  private readonly secret = randomBytes(32).toString("base64url");
  /** Bridged requests in flight: their id → the client connection they act for. */
  private readonly peers = new Map<string, Socket>();
  private readonly sessions = new Set<SocketSession>();
  private port = 0;

  constructor(private readonly options: ProtocolSocketBridgeOptions) {
    this.sockets = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false });
    this.loopback = createServer((req, res) => this.receive(req, res));
  }

  /** The thread of a protocol-v2 WebSocket upgrade (GET /threads/{id}/stream/events), or
   * undefined for any other upgrade. */
  static threadOf(req: IncomingMessage): string | undefined {
    if (req.method !== "GET" || String(req.headers.upgrade ?? "").toLowerCase() !== "websocket") return undefined;
    let target: RequestTarget;
    try {
      target = parseRequestTarget(req.url);
    } catch {
      return undefined;
    }
    const [threads, threadId, stream, events, ...rest] = target.segments;
    if (threads !== "threads" || !threadId || stream !== "stream" || events !== "events" || rest.length > 0 || target.search !== "") return undefined;
    return threadId;
  }

  async start(): Promise<void> {
    this.loopback.listen(0, "127.0.0.1");
    await once(this.loopback, "listening");
    this.port = (this.loopback.address() as AddressInfo).port;
  }

  /** Ends every socket (1001 going away) and the loopback listener. */
  async close(): Promise<void> {
    for (const session of this.sessions) {
      session.events.abort();
      session.ws.close(1001, "Portcullis is shutting down");
    }
    this.loopback.closeAllConnections();
    await new Promise<void>((resolve) => this.loopback.close(() => resolve()));
    this.sockets.close();
  }

  /** Takes a protocol-v2 upgrade: the thread's event stream is opened through the pipeline first,
   * and a refusal there (recorded by the pipeline) is the handshake's answer. A thread the caller
   * cannot see (PC_NOT_FOUND: it does not exist yet, or it is another caller's, which the gateway
   * does not tell apart) still gets its socket: a client opens it before run.start creates the
   * thread. Its events follow once a command succeeds and the stream is let through; until then
   * nothing is sent, and each command is judged on its own. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, threadId: string): Promise<void> {
    const peer = socket as Socket;
    peer.on("error", () => undefined);
    // A socket has no CORS: a page on another origin could open one with the person's session
    // cookie and read the thread. Only the gateway's own origin and cors.allow_origins may.
    const origin = req.headers.origin;
    if (origin !== undefined && !this.options.allowOrigins.includes(origin) && !sameOrigin(origin, req.headers.host)) {
      await this.options.refuse(req, peer, new GatewayError(403, "PC_FORBIDDEN", "Refused: a WebSocket from this origin is not taken (cors.allow_origins)."));
      return;
    }
    const headers = bridgedHeaders(req.headers);
    const events = new AbortController();
    peer.once("close", () => events.abort());
    let stream: IncomingMessage | undefined;
    try {
      stream = await this.openEvents(peer, threadId, headers, events.signal);
    } catch (error) {
      this.options.log.warn({ err: error }, "the event stream of a protocol WebSocket could not be opened");
      peer.destroy();
      return;
    }
    if (!isEventStream(stream)) {
      if (!notFound(stream)) {
        await refuseHandshake(peer, stream);
        return;
      }
      stream.resume();
      stream = undefined;
    }
    const opened = stream;
    this.sockets.handleUpgrade(req, peer, head, (ws) => {
      const session: SocketSession = { ws, peer, threadId, headers, subscriptions: new Set(), events, streaming: opened !== undefined };
      this.sessions.add(session);
      ws.on("close", () => {
        events.abort();
        this.sessions.delete(session);
      });
      ws.on("error", () => ws.terminate());
      ws.on("message", (data, isBinary) => {
        this.command(session, frameText(data, isBinary)).catch((error: unknown) => {
          this.options.log.error({ err: error }, "a protocol WebSocket command failed");
          ws.close(1011, "command failed");
        });
      });
      if (opened) this.pump(session, opened);
    });
  }

  private openEvents(peer: Socket, threadId: string, headers: IncomingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
    return this.send(peer, "POST", threadPath(threadId, "stream/events"), { ...headers, "content-type": "application/json", accept: "text/event-stream" }, JSON.stringify({ channels: PROTOCOL_CHANNELS }), signal);
  }

  private pump(session: SocketSession, stream: IncomingMessage): void {
    this.pumpEvents(session, stream).catch((error: unknown) => {
      if (!session.events.signal.aborted) this.options.log.warn({ err: error }, "a protocol WebSocket event stream failed");
      session.ws.close(1011, "event stream failed");
    });
  }

  /** After a command succeeded on a socket without events (its thread did not exist yet). */
  private async followEvents(session: SocketSession): Promise<void> {
    if (session.streaming || session.ws.readyState !== session.ws.OPEN) return;
    session.streaming = true;
    const stream = await this.openEvents(session.peer, session.threadId, session.headers, session.events.signal);
    if (isEventStream(stream)) {
      this.pump(session, stream);
      return;
    }
    stream.resume();
    if (notFound(stream)) {
      session.streaming = false;
      return;
    }
    // Refused for another reason (the policy changed, a rate limit): the socket ends with it.
    session.ws.close(1008, String(stream.headers["x-portcullis-error"] ?? "event stream refused").slice(0, 120));
  }

  /** The pipeline's masked events, one frame each; the socket's send buffer paces the reading. */
  private async pumpEvents(session: SocketSession, stream: IncomingMessage): Promise<void> {
    const { ws } = session;
    const frames: Array<{ event?: string; data: string }> = [];
    const parser = createParser({ onEvent: (event) => frames.push(event) });
    const decoder = new TextDecoder();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      for (const frame of frames.splice(0)) {
        // The gateway ends a stream it cannot continue with an in-band error (shutdown, masking).
        if (frame.event === "error") {
          ws.close(closeCodeFor(frame.data), closeReason(frame.data));
          return;
        }
        if (ws.readyState !== ws.OPEN) return;
        await new Promise<void>((resolve, reject) => ws.send(frame.data, (error) => (error ? reject(error) : resolve())));
      }
    }
    if (ws.readyState === ws.OPEN) ws.close(1011, "event stream ended");
  }

  /** One client frame: subscriptions are answered here, every other command is sent through the
   * pipeline as POST /threads/{id}/commands and its answer (or refusal) is the reply frame. */
  private async command(session: SocketSession, text: string): Promise<void> {
    const parsed = parseFrame(text);
    if (parsed?.method === "subscription.subscribe" || parsed?.method === "subscription.unsubscribe") {
      sendFrame(session.ws, this.subscription(session, parsed));
      return;
    }
    const answer = await this.send(session.peer, "POST", threadPath(session.threadId, "commands"), { ...session.headers, "content-type": "application/json", accept: "application/json" }, text);
    const body = await readText(answer);
    if (answer.statusCode === 200) {
      // A subscribe the server answered on its own transport comes back as null: nothing to send.
      if (body.trim() !== "null") sendFrame(session.ws, body);
      if (!session.streaming && isSuccess(body)) await this.followEvents(session);
      return;
    }
    sendFrame(session.ws, JSON.stringify(refusalFrame(parsed?.id ?? null, answer, body)));
  }

  private subscription(session: SocketSession, command: ParsedFrame): string {
    const params = isObject(command.params) ? command.params : {};
    if (command.method === "subscription.unsubscribe") {
      const id = params.subscription_id;
      if (typeof id !== "string") return JSON.stringify({ type: "error", id: command.id, error: "invalid_argument", message: "subscription.unsubscribe requires a subscription_id." });
      if (!session.subscriptions.delete(id)) return JSON.stringify({ type: "error", id: command.id, error: "no_such_subscription", message: `Unknown subscription: ${id}` });
      return JSON.stringify({ type: "success", id: command.id, result: {} });
    }
    // The server's checks (RunProtocolSession.handleSubscribeForResponse).
    const channels = params.channels;
    if (!Array.isArray(channels) || channels.length === 0) {
      return JSON.stringify({ type: "error", id: command.id, error: "invalid_argument", message: "subscription.subscribe requires a non-empty channels array." });
    }
    if (!channels.every((channel) => typeof channel === "string" && isChannel(channel))) {
      return JSON.stringify({ type: "error", id: command.id, error: "invalid_argument", message: "subscription.subscribe received an unsupported channel." });
    }
    const subscriptionId = randomUUID();
    session.subscriptions.add(subscriptionId);
    return JSON.stringify({ type: "success", id: command.id, result: { subscription_id: subscriptionId, replayed_events: 0 } });
  }

  /** Sends a request on the client's behalf to the loopback listener (a connection of its own,
   * so the client's address can be given to it). */
  private send(peer: Socket, method: string, path: string, headers: IncomingHttpHeaders, body: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const id = randomUUID();
    this.peers.set(id, peer);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = httpRequest({
        host: "127.0.0.1",
        port: this.port,
        method,
        path,
        agent: false,
        headers: { ...headers, "content-length": Buffer.byteLength(body), connection: "close", [BRIDGE_HEADER]: `${this.secret}.${id}` },
        ...(signal ? { signal } : {}),
      });
      request.once("response", (response) => {
        response.once("close", () => this.peers.delete(id));
        resolve(response);
      });
      request.once("error", (error) => {
        this.peers.delete(id);
        reject(error);
      });
      request.end(body);
    });
  }

  /** The loopback listener: only the bridge's own requests, each handed to the pipeline as sent
   * by the client (its address, its TLS), never anything else. */
  private receive(req: IncomingMessage, res: ServerResponse): void {
    const claim = String(req.headers[BRIDGE_HEADER] ?? "");
    const [secret, id = ""] = claim.split(".");
    const peer = secret === this.secret ? this.peers.get(id) : undefined;
    if (!peer) {
      res.writeHead(403, { connection: "close" }).end();
      return;
    }
    delete req.headers[BRIDGE_HEADER];
    // One request per connection (agent: false, connection: close): the connection is the client's.
    Object.defineProperty(req.socket, "remoteAddress", { value: peer.remoteAddress, configurable: true });
    Object.defineProperty(req.socket, "encrypted", { value: (peer as Socket & { encrypted?: boolean }).encrypted === true ? true : undefined, configurable: true });
    this.options.handle(req, res);
  }
}

interface ParsedFrame {
  id: number | null;
  method?: string;
  params?: unknown;
}

function parseFrame(text: string): ParsedFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  return { id: typeof value.id === "number" ? value.id : null, ...(typeof value.method === "string" ? { method: value.method } : {}), params: value.params };
}

/** A command the pipeline refused, as the protocol's error response; the gateway's code and the
 * request id (which names its record) in the message. */
function refusalFrame(id: number | null, answer: IncomingMessage, body: string): Record<string, unknown> {
  const status = answer.statusCode ?? 502;
  const code = String(answer.headers["x-portcullis-error"] ?? "");
  let message = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    // LangGraph's text answer, as it is
  }
  const error = status === 401 || status === 403 || status === 404 ? "permission_denied" : status >= 400 && status < 500 && status !== 408 && status !== 429 ? "invalid_argument" : "unknown_error";
  return { type: "error", id, error, message: code ? `${code}: ${message}` : message, ...(answer.headers["x-request-id"] ? { request_id: answer.headers["x-request-id"] } : {}) };
}

async function refuseHandshake(peer: Socket, answer: IncomingMessage): Promise<void> {
  const body = await readText(answer).catch(() => "");
  const status = answer.statusCode ?? 502;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
  for (const name of REFUSAL_FIELDS) {
    const value = answer.headers[name];
    if (typeof value === "string") lines.push(`${name}: ${value.replace(/[\r\n]/g, "")}`);
  }
  lines.push(`content-length: ${Buffer.byteLength(body)}`, "connection: close", "", body);
  if (peer.writable) peer.end(lines.join("\r\n"));
  else peer.destroy();
}

function bridgedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HANDSHAKE_FIELDS.has(name) && value !== undefined) kept[name] = value;
  return kept;
}

function threadPath(threadId: string, rest: string): string {
  return `/threads/${encodeURIComponent(threadId)}/${rest}`;
}

// The server decodes a binary frame as UTF-8 too (api/protocol.mjs parseSocketPayload).
function frameText(data: RawData, isBinary: boolean): string {
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
  return isBinary ? new TextDecoder().decode(buffer) : buffer.toString("utf8");
}

function sendFrame(ws: WebSocket, text: string): void {
  if (ws.readyState === ws.OPEN) ws.send(text);
}

async function readText(stream: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

// RFC 6455 §7.4.1: 1001 going away (the gateway is shutting down: respond/sse.ts ends the stream
// with GatewayShutdown), 1011 an internal error (the stream could not be masked, or broke off).
function closeCodeFor(data: string): number {
  return closeReason(data) === "GatewayShutdown" ? 1001 : 1011;
}

// A close reason is at most 123 bytes (RFC 6455 §5.5).
function closeReason(data: string): string {
  let code = "event stream ended";
  try {
    const parsed = JSON.parse(data) as { error?: unknown };
    if (typeof parsed.error === "string") code = parsed.error;
  } catch {
    // not the gateway's JSON
  }
  return code.slice(0, 120);
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

function isEventStream(stream: IncomingMessage): boolean {
  return stream.statusCode === 200 && String(stream.headers["content-type"] ?? "").startsWith("text/event-stream");
}

function notFound(stream: IncomingMessage): boolean {
  return stream.statusCode === 404 && stream.headers["x-portcullis-error"] === "PC_NOT_FOUND";
}

function isSuccess(body: string): boolean {
  try {
    return (JSON.parse(body) as { type?: unknown }).type === "success";
  } catch {
    return false;
  }
}

function isChannel(channel: string): boolean {
  return (PROTOCOL_CHANNELS as readonly string[]).includes(channel) || channel.startsWith("custom:");
}
