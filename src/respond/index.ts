// respond: picks the relay for the upstream answer and writes the gateway's own errors.
import type { OutgoingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { clientResponseHeaders } from "../forward/headers.js";
import { relaySse } from "./sse.js";
import { relayWait } from "./wait.js";
import { clientDrained, endClientResponse, writeToClient } from "./write.js";

export interface RelaySettings {
  upstreamUrl: URL;
  heartbeatMs: number;
  waitKeepaliveMs: number;
  extraHeaders: OutgoingHttpHeaders;
}

export async function relayResponse(exchange: Exchange, upstream: Dispatcher.ResponseData, settings: RelaySettings): Promise<void> {
  const headers = { ...clientResponseHeaders(upstream.headers, settings.upstreamUrl), ...settings.extraHeaders };
  const contentType = String(upstream.headers["content-type"] ?? "");
  const operation = exchange.operation!;
  if (upstream.statusCode >= 400) exchange.outcome = "upstream_error_status";
  // A run the client started outlives its connection unless it asked for on_disconnect=cancel
  // (langgraph-api.md §6); the gateway keeps reading so the run's record is complete.
  const drainAfterClientLeaves = () => operation.action === "runs:create" && operation.on_disconnect !== "cancel" && !exchange.shuttingDown;
  // Release the upstream as soon as the client leaves, not at the upstream's next event: a quiet
  // stream would otherwise hold the connection open indefinitely.
  exchange.res.once("close", () => {
    if (exchange.clientGone && !drainAfterClientLeaves()) exchange.upstreamAbort.abort();
  });

  if (contentType.startsWith("text/event-stream")) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relaySse(exchange, upstream.body, { heartbeatMs: settings.heartbeatMs, drainAfterClientLeaves });
  } else if (operation.response === "wait" && upstream.statusCode === 200) {
    exchange.res.writeHead(upstream.statusCode, headers);
    exchange.res.flushHeaders();
    await relayWait(exchange, upstream.body, { keepaliveMs: settings.waitKeepaliveMs, drainAfterClientLeaves });
  } else {
    await relayWhole(exchange, upstream, headers);
  }
}

// JSON and other small answers: held until complete (a later stage masks whole documents),
// then written with an exact content-length.
async function relayWhole(exchange: Exchange, upstream: Dispatcher.ResponseData, headers: OutgoingHttpHeaders): Promise<void> {
  const body = Buffer.from(await upstream.body.arrayBuffer());
  if (exchange.clientGone) return;
  if (body.length > 0) headers["content-length"] = body.length;
  exchange.res.writeHead(upstream.statusCode, headers);
  exchange.bytesOut += body.length;
  exchange.res.end(body);
  await clientDrained(exchange);
}

export function sendGatewayError(exchange: Exchange, error: GatewayError, extraHeaders: OutgoingHttpHeaders): void {
  const res = exchange.res;
  if (exchange.clientGone) return;
  if (res.headersSent) {
    // Mid-stream: the status line is gone; tell the client in-band.
    const data = JSON.stringify({ error: error.code, message: error.message });
    endClientResponse(exchange, `event: error\ndata: ${data}\n\n`);
    return;
  }
  const body = JSON.stringify(error.toJSON(exchange.id));
  const headers: OutgoingHttpHeaders = {
    ...extraHeaders,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  };
  if (error.status === 401) headers["www-authenticate"] = 'Bearer realm="portcullis"';
  res.writeHead(error.status, headers);
  writeToClient(exchange, body);
  res.end();
}
