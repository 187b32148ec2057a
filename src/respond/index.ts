// respond: picks the relay for the upstream answer, masks it on the way (each SSE event as it
// flows, whole documents once complete), and writes the gateway's own errors.
import type { OutgoingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { readBounded } from "../boundedBody.js";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { clientResponseHeaders } from "../forward/index.js";
import { MaskingError, type EventStreamMasker, type Masker, type MaskingTally } from "../mask/index.js";
import { formatEvent, relaySse } from "./sse.js";
import { gatewayAgentCard, markAgentCardOrigin } from "./agentCard.js";
import { ERROR_CODE_HEADER, langGraphAnswerFor } from "./langgraphErrors.js";
import { withoutOwnershipStamps } from "./ownership.js";
import { restored, widenRestore } from "./restore.js";
import { absoluteUiLinks, relativeUiLinks, uiAssetCaching } from "./ui.js";
import { relayWait } from "./wait.js";
import { clientDrained, endClientResponse, writeToClient } from "./write.js";

export { ERROR_CODE_HEADER, refusalStatus } from "./langgraphErrors.js";
export { holdAnswer } from "./held.js";
export { sendLocalAnswer, type LocalAnswer } from "./local.js";
export { withoutOwnershipStamps } from "./ownership.js";
export { Readiness } from "./readiness.js";

interface RelaySettings {
  upstreamUrl: URL;
  heartbeatMs: number;
  waitKeepaliveMs: number;
  maxResponseBytes: number;
  extraHeaders: OutgoingHttpHeaders;
  masker: Masker;
  /** Idle time after which a stream releases held text that is no longer a distinctive partial. */
  flushMs: number;
  /** Masks streamed events (LangGraph's SseStreamMasker unless given). */
  streamMasker?: (masker: Masker, tally: MaskingTally) => EventStreamMasker;
  /** Names the answering server in errors ("The LangGraph server", an egress route's downstream). */
  serverName?: string;
}

/** A run the client started outlives its connection unless it asked for on_disconnect=cancel
 * (langgraph-api.md §6); the gateway then keeps reading so the run's record is complete. */
export function runOutlivesClient(exchange: Exchange): boolean {
  const operation = exchange.operation;
  return operation?.creates_run === true && operation.on_disconnect !== "cancel" && !exchange.shuttingDown;
}

export async function relayResponse(exchange: Exchange, upstream: Dispatcher.ResponseData, settings: RelaySettings): Promise<void> {
  const headers = { ...clientResponseHeaders(upstream.headers, settings.upstreamUrl), ...settings.extraHeaders };
  const contentType = String(upstream.headers["content-type"] ?? "");
  if (upstream.statusCode >= 400) exchange.outcome = "upstream_error_status";
  const drainAfterClientLeaves = () => runOutlivesClient(exchange);
  const server = settings.serverName ?? "The LangGraph server";
  // A compressed answer cannot be scanned, so it is not relayed (the gateway never asks for one).
  const encoding = String(upstream.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding !== "identity") throw new GatewayError(502, "PC_MASKING_FAILED", `${server} sent a compressed answer (content-encoding: ${encoding.slice(0, 40)}), which cannot be scanned for PII; it was not relayed.`);
  // Masking changes lengths and bytes: the client gets the masked body's own framing.
  delete headers["etag"];
  delete headers["content-md5"];
  delete headers["content-length"];

  // A request held for approval already answered 200 (the connection was kept open while it
  // waited): the upstream's answer continues that response, and an upstream refusal is told in-band.
  if (exchange.heldAnswerBegun) {
    if (upstream.statusCode === 200 && contentType.startsWith("text/event-stream")) {
      await relaySse(exchange, upstream.body, { heartbeatMs: settings.heartbeatMs, drainAfterClientLeaves, masker: settings.masker, flushMs: settings.flushMs, ...(settings.streamMasker ? { streamMasker: settings.streamMasker } : {}), serverName: server });
    } else if (upstream.statusCode === 200 && exchange.operation!.response === "wait") {
      await relayWait(exchange, upstream.body, { keepaliveMs: settings.waitKeepaliveMs, maxResultBytes: settings.maxResponseBytes, drainAfterClientLeaves, masker: settings.masker });
    } else {
      await relayRefusalInBand(exchange, upstream, settings);
    }
    return;
  }
  if (contentType.startsWith("text/event-stream")) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relaySse(exchange, upstream.body, { heartbeatMs: settings.heartbeatMs, drainAfterClientLeaves, masker: settings.masker, flushMs: settings.flushMs, ...(settings.streamMasker ? { streamMasker: settings.streamMasker } : {}), serverName: server });
  } else if (exchange.operation!.response === "wait" && upstream.statusCode === 200) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relayWait(exchange, upstream.body, { keepaliveMs: settings.waitKeepaliveMs, maxResultBytes: settings.maxResponseBytes, drainAfterClientLeaves, masker: settings.masker });
  } else {
    await relayWhole(exchange, upstream, headers, settings);
  }
}

// JSON and other non-streaming answers: held until complete, within limits.max_response_bytes,
// masked whole, then written with an exact content-length.
async function relayWhole(exchange: Exchange, upstream: Dispatcher.ResponseData, headers: OutgoingHttpHeaders, settings: RelaySettings): Promise<void> {
  const maxBytes = settings.maxResponseBytes;
  const server = settings.serverName ?? "The LangGraph server";
  const answer = await readBounded(upstream.body as AsyncIterable<Buffer>, maxBytes, { stopAtLimit: true });
  if (answer.overLimit) {
    throw new GatewayError(502, "PC_UPSTREAM_RESPONSE_TOO_LARGE", `${server}'s answer exceeds its size limit (${maxBytes} bytes: limits.max_response_bytes, or the egress route's max_response_bytes); narrow the request.`);
  }
  const route = exchange.operation?.route;
  const received = answer.body.toString("utf8");
  const uiComponents = route === "ui.components" && upstream.statusCode === 200;
  const agentCard = route === "a2a.card" && upstream.statusCode === 200;
  const text = uiComponents
    ? relativeUiLinks(received, settings.upstreamUrl)
    : agentCard
      ? markAgentCardOrigin(received, settings.upstreamUrl)
      : exchange.operation?.resource === "egress"
        ? received
        : withoutOwnershipStamps(received);
  const contentType = String(upstream.headers["content-type"] ?? "");
  if (text.length > 0 && !isTextual(contentType)) {
    throw new GatewayError(502, "PC_MASKING_FAILED", `${server} answered with ${contentType.slice(0, 60) || "no content type"}, which cannot be scanned for PII; it was not relayed.`);
  }
  const masked = maskWhole(settings.masker, text, server);
  const masking = exchange.masking!;
  masking.response.add(masked.redactions);
  exchange.recording?.body(masked.text);
  if (exchange.clientGone) return;
  const clientCopy = masking.clearResponses ? text : masked.text;
  await widenRestore(exchange, clientCopy);
  const sent = restored(exchange, clientCopy);
  const body = Buffer.from(uiComponents ? absoluteUiLinks(sent, exchange.req) : agentCard ? gatewayAgentCard(sent, exchange.req) : sent, "utf8");
  if (route === "ui.asset" && upstream.statusCode === 200 && uiAssetCaching(exchange.req, headers, body)) {
    exchange.res.writeHead(304, headers);
    exchange.res.end();
    return;
  }
  if (body.length > 0) headers["content-length"] = body.length;
  exchange.res.writeHead(upstream.statusCode, headers);
  exchange.bytesOut += body.length;
  exchange.res.end(body);
  await clientDrained(exchange);
}

/** The upstream refused a request that was held for approval (a 404, a busy thread's 422): its
 * masked answer is sent as the stream's error event, or as the /runs/wait body's __error__. */
async function relayRefusalInBand(exchange: Exchange, upstream: Dispatcher.ResponseData, settings: RelaySettings): Promise<void> {
  const received = (await readBounded(upstream.body as AsyncIterable<Buffer>, 64 * 1024)).body.toString("utf8");
  const masked = maskWhole(settings.masker, received, "The LangGraph server");
  exchange.masking!.response.add(masked.redactions);
  exchange.recording?.body(masked.text);
  const text = exchange.masking!.clearResponses ? received : masked.text;
  let detail: unknown = text;
  try {
    detail = JSON.parse(text);
  } catch {
    // not JSON: passed on as text
  }
  const error = { error: "UpstreamRefused", status: upstream.statusCode, message: `The LangGraph server refused the approved request with status ${upstream.statusCode}.`, detail };
  endClientResponse(exchange, exchange.operation!.response === "wait" ? JSON.stringify({ __error__: error }) : formatEvent({ event: "error", data: JSON.stringify(error) }));
}

function maskWhole(masker: Masker, text: string, server: string) {
  try {
    return masker.mask(text);
  } catch (error) {
    if (error instanceof MaskingError) throw new GatewayError(502, "PC_MASKING_FAILED", `${server}'s answer could not be masked (${error.message}); it was not relayed.`, { cause: error });
    throw error;
  }
}

function isTextual(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type.startsWith("text/") || type === "application/json" || type.endsWith("+json");
}

export function sendGatewayError(exchange: Exchange, error: GatewayError, extraHeaders: OutgoingHttpHeaders): void {
  const res = exchange.res;
  if (exchange.clientGone) return;
  if (res.headersSent) {
    // Mid-stream (or held for approval): the status line is gone; tell the client in-band, as
    // an error event, or for /runs/wait as LangGraph does, under __error__.
    const detail = { error: error.code, message: error.message, ...(error.approvalId ? { approval_id: error.approvalId } : {}), ...(error.statusUrl ? { status_url: error.statusUrl } : {}) };
    endClientResponse(exchange, exchange.operation?.response === "wait" && !String(res.getHeader("content-type") ?? "").startsWith("text/event-stream") ? JSON.stringify({ __error__: detail }) : formatEvent({ event: "error", data: JSON.stringify(detail) }));
    return;
  }
  // LangGraph's own answer where it has one (an SDK error then reads as it does direct); the
  // gateway's JSON otherwise. Either way the code is in x-portcullis-error.
  const langGraph = langGraphAnswerFor(exchange, error);
  const body = langGraph ? langGraph.body : JSON.stringify(error.toJSON(exchange.id));
  const headers: OutgoingHttpHeaders = {
    ...extraHeaders,
    [ERROR_CODE_HEADER]: error.code,
    "content-type": langGraph ? langGraph.contentType : "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (error.status === 401) headers["www-authenticate"] = error.wwwAuthenticate();
  if (error.retryAfterS !== undefined) headers["retry-after"] = String(error.retryAfterS);
  if (error.allow) headers.allow = error.allow.join(", ");
  res.writeHead(langGraph?.status ?? error.status, headers);
  writeToClient(exchange, body);
  res.end();
}
