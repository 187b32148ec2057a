// respond: picks the relay for the upstream answer and writes the gateway's own errors.
import type { OutgoingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { clientResponseHeaders } from "../forward/headers.js";
import { formatEvent, relaySse } from "./sse.js";
import { relayWait } from "./wait.js";
import { clientDrained, endClientResponse, writeToClient } from "./write.js";

export interface RelaySettings {
  upstreamUrl: URL;
  heartbeatMs: number;
  waitKeepaliveMs: number;
  maxResponseBytes: number;
  extraHeaders: OutgoingHttpHeaders;
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

  if (contentType.startsWith("text/event-stream")) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relaySse(exchange, upstream.body, { heartbeatMs: settings.heartbeatMs, drainAfterClientLeaves });
  } else if (exchange.operation!.response === "wait" && upstream.statusCode === 200) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relayWait(exchange, upstream.body, { keepaliveMs: settings.waitKeepaliveMs, maxResultBytes: settings.maxResponseBytes, drainAfterClientLeaves });
  } else {
    await relayWhole(exchange, upstream, headers, settings.maxResponseBytes);
  }
}

// JSON and other non-streaming answers: held until complete (a later stage masks whole
// documents), within limits.max_response_bytes, then written with an exact content-length.
async function relayWhole(exchange: Exchange, upstream: Dispatcher.ResponseData, headers: OutgoingHttpHeaders, maxBytes: number): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new GatewayError(502, "PC_UPSTREAM_RESPONSE_TOO_LARGE", `The LangGraph server's answer exceeds limits.max_response_bytes (${maxBytes}); narrow the request (limit, select).`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, size);
  exchange.recording?.body(body.toString("utf8"));
  if (exchange.clientGone) return;
  if (size > 0) headers["content-length"] = size;
  exchange.res.writeHead(upstream.statusCode, headers);
  exchange.bytesOut += size;
  exchange.res.end(body);
  await clientDrained(exchange);
}

export function sendGatewayError(exchange: Exchange, error: GatewayError, extraHeaders: OutgoingHttpHeaders): void {
  const res = exchange.res;
  if (exchange.clientGone) return;
  if (res.headersSent) {
    // Mid-stream: the status line is gone; tell the client in-band.
    endClientResponse(exchange, formatEvent({ event: "error", data: JSON.stringify({ error: error.code, message: error.message }) }));
    return;
  }
  const body = JSON.stringify(error.toJSON(exchange.id));
  const headers: OutgoingHttpHeaders = {
    ...extraHeaders,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (error.status === 401) headers["www-authenticate"] = error.wwwAuthenticate();
  if (error.retryAfterS !== undefined) headers["retry-after"] = String(error.retryAfterS);
  res.writeHead(error.status, headers);
  writeToClient(exchange, body);
  res.end();
}
