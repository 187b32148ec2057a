// A request held open while approvers decide (src/approve/gate.ts): streams and /runs/wait answer
// 200 at once, as LangGraph does, and keep the connection alive (SSE heartbeats, keep-alive
// newlines); a stream also gets one informational event, which the SDK passes to the caller and
// reads past (langgraph-api.md §8, pattern C). Other requests send nothing: their status line
// waits for the upstream's answer or the refusal. Once approved, the relay continues the answer.
import type { OutgoingHttpHeaders } from "node:http";
import type { Exchange } from "../exchange.js";
import { formatEvent } from "./sse.js";
import { writeToClient } from "./write.js";

interface HeldAnswer {
  /** The head of the answer: the headers decided so far and the approval's id. */
  headers: OutgoingHttpHeaders;
  /** For a stream: the event telling the client what it waits for. */
  notice: { event: string; data: unknown };
}

/** Starts the held answer; the returned function stops its keep-alives. */
export function holdAnswer(exchange: Exchange, held: HeldAnswer, settings: { heartbeatMs: number; waitKeepaliveMs: number }): () => void {
  const res = exchange.res;
  const kind = exchange.operation!.response;
  if (kind === "json") return () => undefined;
  const stream = kind === "sse";
  if (!exchange.heldAnswerBegun) {
    res.writeHead(200, { ...held.headers, "content-type": stream ? "text/event-stream" : "text/plain; charset=utf-8", "cache-control": "no-cache" });
    res.flushHeaders();
    exchange.heldAnswerBegun = true;
  }
  if (stream) writeToClient(exchange, formatEvent({ event: held.notice.event, data: JSON.stringify(held.notice.data) }));
  const keepalive = setInterval(() => writeToClient(exchange, stream ? ": heartbeat\n\n" : "\n"), stream ? settings.heartbeatMs : settings.waitKeepaliveMs);
  return () => clearInterval(keepalive);
}
