// Relays an upstream SSE stream event by event. The upstream is parsed with a spec-compliant
// parser (multi-line data, CRLF, comments, any field order), each event masked and re-emitted
// as soon as it is complete, and heartbeat comments keep quiet streams alive through proxies and
// browsers. Token events may hold back a suffix that could still become a match; a short idle
// timer releases what is no longer a distinctive partial (src/mask/events.ts).
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Readable } from "node:stream";
import type { Exchange } from "../exchange.js";
import { MaskingError, SseStreamMasker, type EventStreamMasker, type Masker, type MaskingTally } from "../mask/index.js";
import { eventsRelayed, metrics } from "../observe/index.js";
import { withoutOwnershipStamps } from "./ownership.js";
import { streamRestorer } from "./restore.js";
import { clientDrained, endClientResponse, writeToClient } from "./write.js";

interface SseRelayOptions {
  heartbeatMs: number;
  /** Keep reading the upstream after the client left, so the run's record stays complete. */
  drainAfterClientLeaves: () => boolean;
  masker: Masker;
  flushMs: number;
  /** Masks the stream's events: LangGraph's (SseStreamMasker) unless given, a provider's for
   * egress routes (ProviderStreamMasker). */
  streamMasker?: (masker: Masker, tally: MaskingTally) => EventStreamMasker;
  /** Names the answering server in errors. */
  serverName?: string;
}

export async function relaySse(exchange: Exchange, upstream: Readable, options: SseRelayOptions): Promise<void> {
  const masking = exchange.masking!;
  // What is stored is always masked; what the client sees is masked unless policy says clear.
  const recorded = options.streamMasker?.(options.masker, masking.response) ?? new SseStreamMasker(options.masker, masking.response);
  const sent = masking.clearResponses ? undefined : recorded;
  const heartbeat = setInterval(() => writeToClient(exchange, ": heartbeat\n\n"), options.heartbeatMs);
  const streamsOpen = metrics()?.sseStreamsOpen;
  streamsOpen?.inc();
  const send = (text: string) => {
    writeToClient(exchange, text);
    heartbeat.refresh();
  };
  // The caller's own values back in place of their tokens (policy masking.restore_for); the
  // recording keeps the tokens.
  const restoring = streamRestorer(exchange);
  // An event id tells the client that everything up to that upstream event has reached it: after
  // a reconnect with Last-Event-ID, through this instance or another, the upstream replays only
  // what follows. LangGraph's stream masker (and the restorer) let an event go only once its text
  // is out whole: held text makes it and the events after it wait (src/mask/events.ts). A
  // provider's masker sends what it can and carries held text in a later event, so behind it the
  // relay makes events wait while text is held, and sends them in one write once nothing is. A
  // client that leaves meanwhile has not seen their ids and is replayed them whole: nothing is
  // lost and nothing comes twice.
  const eventsWaitHere = options.streamMasker !== undefined && sent !== undefined;
  let waiting: EventSourceMessage[] = [];
  const toClient = (events: EventSourceMessage[]) => {
    if (events.length > 0) eventsRelayed(exchange, events.length);
    waiting.push(...events);
    if (waiting.length === 0 || (eventsWaitHere && recorded.holding)) return;
    send(waiting.map(formatEvent).join(""));
    waiting = [];
  };
  const relay = (forClient: EventSourceMessage[], forRecord: EventSourceMessage[]) => {
    for (const event of forRecord) exchange.recording?.event(event);
    toClient(restoring ? restoring.events(forClient) : forClient);
  };
  let failure: unknown;
  // Armed by an event that leaves text held back: a quiet stream costs no wake-ups but its
  // heartbeat, and only text that grew since the last tick is looked at again anyway.
  let idleFlush: NodeJS.Timeout | undefined;
  const releaseIdle = () => {
    idleFlush = undefined;
    try {
      const released = recorded.idle();
      relay(sent ? released : [], released);
      if (restoring) toClient(restoring.idle());
    } catch (error) {
      failure ??= error;
      exchange.upstreamAbort.abort();
    }
  };
  const armIdleFlush = () => {
    if (recorded.holding || restoring?.holding) {
      if (idleFlush) idleFlush.refresh();
      else idleFlush = setTimeout(releaseIdle, options.flushMs);
    } else if (idleFlush) {
      clearTimeout(idleFlush);
      idleFlush = undefined;
    }
  };
  const langGraph = exchange.operation?.resource !== "egress";
  // The events of one upstream read are masked together: a burst of tokens is scanned once per
  // read, not once per token (src/mask/events.ts).
  let received: EventSourceMessage[] = [];
  const relayReceived = () => {
    if (received.length === 0) return;
    const batch = received;
    received = [];
    const masked = recorded.events(batch);
    relay(sent ? masked : batch, masked);
    armIdleFlush();
  };
  const parser = createParser({
    onEvent: (event) => {
      const stripped = langGraph ? { ...event, data: withoutOwnershipStamps(event.data, event.event) } : event;
      countEvent(exchange, stripped);
      received.push(stripped);
    },
    onRetry: (retry) => {
      relayReceived();
      send(`retry: ${retry}\n\n`);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of upstream as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      relayReceived();
      if (exchange.clientGone && !options.drainAfterClientLeaves()) {
        exchange.upstreamAbort.abort();
        break;
      }
      await clientDrained(exchange);
    }
    parser.feed(decoder.decode());
    relayReceived();
    if (failure) throw failure;
    const rest = recorded.end();
    relay(sent ? rest : [], rest);
    if (restoring) toClient(restoring.end());
    endClientResponse(exchange);
  } catch (caught) {
    const error = failure ?? caught;
    if (exchange.clientGone && !exchange.shuttingDown && !(error instanceof MaskingError)) return;
    // Fail closed: a stream that cannot be masked ends here; nothing unscanned is sent.
    const { name, message, outcome } =
      error instanceof MaskingError
        ? { name: "GatewayMaskingError", message: `The stream could not be masked (${error.message}); it was ended so nothing unscanned reaches you.`, outcome: "masking_failed" as const }
        : exchange.shuttingDown
          ? { name: "GatewayShutdown", message: "Portcullis is shutting down; reconnect to continue.", outcome: "shutdown" as const }
          : { name: "UpstreamStreamError", message: `${options.serverName ?? "The LangGraph server"}'s stream broke off; the failure is logged with this request's x-request-id.`, outcome: "upstream_failed" as const };
    exchange.log.warn({ err: error }, "SSE relay failed");
    exchange.outcome = outcome;
    exchange.error = name;
    if (error instanceof MaskingError) exchange.upstreamAbort.abort();
    endClientResponse(exchange, formatEvent({ event: "error", data: JSON.stringify({ error: name, message }) }));
  } finally {
    streamsOpen?.dec();
    clearInterval(heartbeat);
    clearTimeout(idleFlush);
  }
}

function countEvent(exchange: Exchange, event: EventSourceMessage): void {
  const name = event.event ?? "message";
  exchange.events[name] = (exchange.events[name] ?? 0) + 1;
  if (name === "error") {
    exchange.outcome = "run_error";
    exchange.error ??= "event: error";
  }
  // A LangGraph run's first event names it; an egress downstream's events name nothing of ours.
  if (name === "metadata" && !exchange.runId && exchange.operation?.resource !== "egress") {
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
