// Relays an upstream SSE stream event by event. The upstream is parsed with a spec-compliant
// parser (multi-line data, CRLF, comments, any field order), each event re-emitted as soon as it
// is complete, and heartbeat comments keep quiet streams alive through proxies and browsers.
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Readable } from "node:stream";
import type { Exchange } from "../exchange.js";
import { clientDrained, endClientResponse, writeToClient } from "./write.js";

export interface SseRelayOptions {
  heartbeatMs: number;
  /** Keep reading the upstream after the client left, so the run's record stays complete. */
  drainAfterClientLeaves: () => boolean;
}

export async function relaySse(exchange: Exchange, upstream: Readable, options: SseRelayOptions): Promise<void> {
  const heartbeat = setInterval(() => writeToClient(exchange, ": heartbeat\n\n"), options.heartbeatMs);
  const send = (text: string) => {
    writeToClient(exchange, text);
    heartbeat.refresh();
  };
  const parser = createParser({
    onEvent: (event) => {
      countEvent(exchange, event);
      exchange.recording?.event(event);
      send(formatEvent(event));
    },
    onRetry: (retry) => send(`retry: ${retry}\n\n`),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of upstream as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (exchange.clientGone && !options.drainAfterClientLeaves()) {
        exchange.upstreamAbort.abort();
        break;
      }
      await clientDrained(exchange);
    }
    parser.feed(decoder.decode());
    endClientResponse(exchange);
  } catch (error) {
    if (exchange.clientGone && !exchange.shuttingDown) return;
    const { name, message } = exchange.shuttingDown
      ? { name: "GatewayShutdown", message: "Portcullis is shutting down; reconnect to continue." }
      : { name: "UpstreamStreamError", message: "The LangGraph server's stream broke off; the failure is logged with this request's x-request-id." };
    exchange.log.warn({ err: error, request_id: exchange.id }, "SSE relay failed");
    exchange.outcome = exchange.shuttingDown ? "shutdown" : "upstream_failed";
    exchange.error = name;
    endClientResponse(exchange, formatEvent({ event: "error", data: JSON.stringify({ error: name, message }) }));
  } finally {
    clearInterval(heartbeat);
  }
}

function countEvent(exchange: Exchange, event: EventSourceMessage): void {
  const name = event.event ?? "message";
  exchange.events[name] = (exchange.events[name] ?? 0) + 1;
  if (name === "error") {
    exchange.outcome = "run_error";
    exchange.error ??= "event: error";
  }
  if (name === "metadata" && !exchange.runId) {
    const runId = /"run_id"\s*:\s*"([^"]+)"/.exec(event.data)?.[1];
    if (runId) exchange.runId = runId;
  }
}

/** Serialises in the JS server's field order (event, data, id). Multi-line JSON (the 2.0.0
 * server pretty-prints) becomes one line; single-line data passes byte for byte. */
export function formatEvent(event: EventSourceMessage): string {
  let text = event.event !== undefined ? `event: ${event.event}\n` : "";
  for (const line of singleLineData(event.data).split("\n")) text += `data: ${line}\n`;
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  return `${text}\n`;
}

function singleLineData(data: string): string {
  if (!data.includes("\n")) return data;
  try {
    return JSON.stringify(JSON.parse(data));
  } catch {
    return data;
  }
}
