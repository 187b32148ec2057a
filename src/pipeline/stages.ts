// The stages every request takes, in the order src/pipeline.ts lists them. Each one either lets
// the request go on ("next") or answers it ("answered"); a refusal is a thrown GatewayError.
// What differs between LangGraph and an egress route is asked of the request's Destination.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { GatewayError } from "../errors.js";
import { elapsedMs, type Exchange } from "../exchange.js";
import { assertHeaderLimits, assertNoBodyOnBodylessMethod, assertNoMethodOverride, isPreflight, parseRequestTarget, preflightHeaders, readJsonBody } from "../receive/index.js";
import { ResponseRecording } from "../record/index.js";
import { holdAnswer, relayResponse, runOutlivesClient, sendLocalAnswer, type LocalAnswer } from "../respond/index.js";
import { ToEgressRoute } from "./egress.js";
import type { Flight, StageContext, GatewayRoute, Next } from "./flight.js";
import { ToLangGraph } from "./langgraph.js";

/** A new exchange: its id, the client's address (through listen.trusted_proxies), its log, and
 * what happens when the client goes away before it is answered. */
export function openExchange({ deps }: StageContext, req: IncomingMessage, res: ServerResponse): Exchange {
  const client = deps.trustedProxies.resolve(req);
  const id = randomUUID();
  const exchange: Exchange = {
    id,
    req,
    res,
    startedAt: performance.now(),
    clientAddress: client.address,
    ...(client.forwardedAsSent !== undefined ? { forwarded: { as_sent: client.forwardedAsSent, believed: client.forwardedBelieved === true } } : {}),
    // Every log line of the exchange carries its request id (and, once traced, its trace id).
    log: deps.log.child({ request_id: id }),
    bytesIn: 0,
    bytesOut: 0,
    events: {},
    upstreamAbort: new AbortController(),
    clientGone: false,
    shuttingDown: false,
    outcome: "ok",
  };
  res.once("close", () => {
    if (res.writableFinished) return;
    exchange.clientGone = true;
    if (exchange.outcome === "ok") exchange.outcome = "client_aborted";
    // Release the upstream at once, whatever stage the request is in, unless it is a run the
    // client wants to outlive its connection (the record then follows it to the end).
    if (!runOutlivesClient(exchange)) exchange.upstreamAbort.abort();
  });
  deps.observe?.begin(exchange);
  return exchange;
}

/** receive: a bounded head (before any header is trusted), one canonical path, classified and
 * forwarded alike, and no body on a method that takes none. The gateway's own paths answered
 * before identify (preflight, health, sign-in, console) are answered here. */
export async function receive(flight: Flight, gateway: StageContext): Promise<Next> {
  const { deps } = gateway;
  const { exchange, responseHeaders } = flight;
  const req = exchange.req;
  assertHeaderLimits(req, deps.headerLimits);
  exchange.target = parseRequestTarget(req.url);
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400 (Node's own answer is
  // turned off so that this one is recorded).
  if (req.httpVersion === "1.1" && req.headers.host === undefined) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: an HTTP/1.1 request needs a Host header.");
  assertNoMethodOverride(req.headers);
  assertNoBodyOnBodylessMethod(req);
  // The gateway's own routes, looked up once; any other path is LangGraph's.
  flight.own = gatewayRouteOf(exchange, gateway);
  if (flight.own === undefined) flight.destination = new ToLangGraph(flight, gateway);
  else if (flight.own === "egress") flight.destination = new ToEgressRoute(flight, gateway);
  // The console is same-origin only: no CORS, so a trusted cross-site origin (Studio) cannot
  // read its pages or their CSRF token with the person's session cookie.
  if (flight.own === "console") {
    if (isPreflight(req)) throw new GatewayError(403, "PC_FORBIDDEN", "Refused: the console is not available cross-origin.");
    for (const name of Object.keys(responseHeaders)) if (name.startsWith("access-control-")) delete responseHeaders[name];
  }
  if (gateway.draining) throw new GatewayError(503, "PC_SHUTTING_DOWN", "Refused: Portcullis is shutting down; retry shortly.");
  if (isPreflight(req)) return answerLocally(flight, gateway, preflight(flight, gateway), "gateway:local-endpoint");
  if (flight.own === "local") return answerLocally(flight, gateway, await deps.localEndpoints[exchange.target.path]!(), "gateway:local-endpoint");
  // authenticate: a person signing in through the browser (/auth/*)
  if (flight.own === "sign-in") return answerLocally(flight, gateway, await deps.signIn!.answer(exchange), "gateway:sign-in");
  // the console: pages for people signed in (src/console/), each one recorded
  if (flight.own === "console") return answerLocally(flight, gateway, await deps.console!.answer(exchange), "gateway:console");
  return "next";
}

/** identify: credentials are checked before any body is read, then the caller's rate. */
export async function identify({ exchange }: Flight, { deps }: StageContext): Promise<Next> {
  exchange.identifyAttempted = true;
  exchange.identity = await deps.identifier.identify(exchange.req);
  await deps.authorizer.limitRate(exchange.identity);
  return "next";
}

/** The gateway's own API for approvers: identified like any caller, answered by the gateway. */
export async function answerApprovalsApi(flight: Flight, gateway: StageContext): Promise<Next> {
  if (flight.own !== "approvals-api") return "next";
  const { deps } = gateway;
  const { req, identity } = flight.exchange;
  const body = await readJsonBody(req, deps.maxBodyBytes, deps.maxJsonDepth);
  flight.exchange.bytesIn = body.bytes;
  deps.identifier.confirmSessionIntent(req, identity!, req.method !== "GET" && req.method !== "HEAD");
  return answerLocally(flight, gateway, await deps.approvalsApi.answer(flight.exchange, body.json), "gateway:approvals-api");
}

/** classify, authorize and mask (request): asked of the destination (src/pipeline/langgraph.ts,
 * src/pipeline/egress.ts). mask comes before approve so approvers see only masked values. */
export const classify = async (flight: Flight): Promise<Next> => (await flight.destination!.classify(), "next");
export const authorize = async (flight: Flight): Promise<Next> => (await flight.destination!.authorize(), "next");
export const maskRequest = async (flight: Flight): Promise<Next> => (await flight.destination!.maskRequest(), "next");

/** approve: a request the policy puts behind approval waits for it, held open or answered 202.
 * It marks its own end, since most requests never wait. */
export async function approve(flight: Flight, gateway: StageContext): Promise<Next> {
  const { exchange, responseHeaders } = flight;
  const decision = exchange.decision!;
  if (decision.effect !== "require-approval") return "next";
  const body = flight.body!;
  const { deps } = gateway;
  const outcome = await deps.approvals.admit(exchange, {
    decision,
    clientBody: body.json,
    clientBodyText: body.forwarded,
    maskedBody: flight.maskedBody,
    headers: responseHeaders,
    // respond writes the held answer: 200 with keep-alives for streams and /runs/wait
    holdOpen: (opening) => holdAnswer(exchange, opening, { heartbeatMs: deps.heartbeatMs, waitKeepaliveMs: deps.waitKeepaliveMs }),
  });
  if ("answered" in outcome) {
    exchange.approval = outcome.answered;
    await gateway.recorder.asked(exchange, outcome.status);
    exchange.bytesOut = sendLocalAnswer(exchange.res, { status: outcome.status, json: outcome.json, headers: outcome.headers }, responseHeaders);
    return "answered";
  }
  exchange.approval = outcome.go;
  deps.observe?.stage(exchange, "approve");
  return "next";
}

/** record (admit): the request record is written before anything is forwarded; no record, no
 * request. */
export async function admit({ exchange, responseHeaders }: Flight, { deps, recorder }: StageContext): Promise<Next> {
  exchange.recording = new ResponseRecording(exchange.startedAt, deps.maxRecordingBytes);
  const receipt = await recorder.admitted(exchange);
  if (deps.receipts) responseHeaders["portcullis-audit-receipt"] = `${receipt.seq} ${receipt.leafHash.toString("base64")}`;
  return "next";
}

/** forward: to the destination, and its answer's head read. */
export async function forward(flight: Flight, { deps }: StageContext): Promise<Next> {
  const { exchange } = flight;
  const answer = await flight.destination!.send();
  flight.answer = answer;
  exchange.upstreamStatus = answer.statusCode;
  deps.observe?.forwarded(exchange, answer.statusCode);
  exchange.upstreamHeadersMs = elapsedMs(exchange);
  await flight.destination!.received(answer);
  return "next";
}

/** respond: the answer relayed to the client, masked as it flows (tokens restored for whoever
 * may read them). */
export async function respond(flight: Flight, { deps }: StageContext): Promise<Next> {
  await relayResponse(flight.exchange, flight.answer!, {
    ...flight.destination!.relaySettings(),
    heartbeatMs: deps.heartbeatMs,
    waitKeepaliveMs: deps.waitKeepaliveMs,
    extraHeaders: flight.responseHeaders,
    masker: deps.masker,
    flushMs: deps.maskFlushMs,
  });
  deps.observe?.relayed(flight.exchange);
  return "answered";
}

/** An answer the gateway gives itself, recorded like any other. */
async function answerLocally({ exchange, responseHeaders }: Flight, { recorder }: StageContext, answer: LocalAnswer, rule: string): Promise<Next> {
  exchange.localRoute = rule;
  if (answer.identity) exchange.identity = answer.identity;
  await recorder.answered(exchange, rule, answer);
  exchange.bytesOut = sendLocalAnswer(exchange.res, answer, responseHeaders);
  return "answered";
}

/** A CORS preflight, answered for an allowed origin and refused for any other. */
function preflight({ exchange }: Flight, { deps }: StageContext): LocalAnswer {
  const headers: OutgoingHttpHeaders | undefined = preflightHeaders(exchange.req, deps.cors);
  if (!headers) throw new GatewayError(403, "PC_FORBIDDEN", "Refused: this origin is not in cors.allow_origins.");
  return { status: 204, headers };
}

/** The gateway's own routes, each owned by one part, in the order they are asked; any other
 * path is LangGraph's. */
const GATEWAY_ROUTES: ReadonlyArray<readonly [GatewayRoute, (exchange: Exchange, deps: StageContext["deps"]) => boolean]> = [
  // health, readiness, metrics and the like: GET only (other methods are LangGraph's to refuse)
  ["local", ({ req, target }, deps) => req.method === "GET" && Object.hasOwn(deps.localEndpoints, target!.path)],
  ["sign-in", ({ target }, deps) => deps.signIn?.handles(target!.path) === true],
  ["console", ({ target }, deps) => deps.console?.handles(target!.path) === true],
  ["egress", ({ target }, deps) => deps.egress.handles(target!)],
  ["approvals-api", ({ target }, deps) => deps.approvalsApi.handles(target!.path)],
];

function gatewayRouteOf(exchange: Exchange, { deps }: StageContext): GatewayRoute | undefined {
  return GATEWAY_ROUTES.find(([, owns]) => owns(exchange, deps))?.[0];
}
