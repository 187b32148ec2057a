// Relays a /runs/wait answer: the JS server writes "\n" keep-alives while the run executes, then
// the JSON result (langgraph-api.md §4). Whitespace flows through at once and the gateway adds
// its own keep-alives while the upstream is quiet; the JSON itself is held until complete so a
// later stage can inspect it. A failed run is still HTTP 200, with an __error__ key.
import type { Readable } from "node:stream";
import type { Exchange } from "../exchange.js";
import { MaskingError, type Masker } from "../mask/index.js";
import { withoutOwnershipStamps } from "./ownership.js";
import { restored } from "./restore.js";
import { endClientResponse, writeToClient } from "./write.js";

interface WaitRelayOptions {
  keepaliveMs: number;
  maxResultBytes: number;
  drainAfterClientLeaves: () => boolean;
  masker: Masker;
}

export async function relayWait(exchange: Exchange, upstream: Readable, options: WaitRelayOptions): Promise<void> {
  let resultStarted = false;
  const result: Buffer[] = [];
  let resultBytes = 0;
  const keepalive = setInterval(() => {
    if (!resultStarted) writeToClient(exchange, "\n");
  }, options.keepaliveMs);
  try {
    for await (const chunk of upstream as AsyncIterable<Buffer>) {
      keepalive.refresh();
      if (resultStarted) {
        result.push(chunk);
        resultBytes += chunk.length;
      } else {
        const start = chunk.findIndex((byte) => !isJsonWhitespace(byte));
        writeToClient(exchange, chunk.subarray(0, start === -1 ? chunk.length : start).toString("latin1"));
        if (start !== -1) {
          resultStarted = true;
          result.push(chunk.subarray(start));
          resultBytes += chunk.length - start;
        }
      }
      if (resultBytes > options.maxResultBytes) {
        exchange.upstreamAbort.abort();
        throw new Error(`the result exceeds limits.max_response_bytes (${options.maxResultBytes})`);
      }
      if (exchange.clientGone && !options.drainAfterClientLeaves()) {
        exchange.upstreamAbort.abort();
        return;
      }
    }
    const text = withoutOwnershipStamps(Buffer.concat(result).toString("utf8"));
    if (/^\{\s*"__error__"/.test(text)) {
      exchange.outcome = "run_error";
      exchange.error = "__error__";
    }
    const masked = options.masker.mask(text);
    exchange.masking!.response.add(masked.redactions);
    exchange.recording?.body(masked.text);
    endClientResponse(exchange, restored(exchange, exchange.masking!.clearResponses ? text : masked.text));
  } catch (error) {
    const maskingFailed = error instanceof MaskingError;
    if (exchange.clientGone && !exchange.shuttingDown && !maskingFailed) return;
    exchange.outcome = maskingFailed ? "masking_failed" : exchange.shuttingDown ? "shutdown" : "upstream_failed";
    const name = maskingFailed ? "GatewayMaskingError" : exchange.shuttingDown ? "GatewayShutdown" : "UpstreamStreamError";
    exchange.error = name;
    // Keep the SDK's contract: the body is JSON, failures under __error__.
    exchange.log.warn({ err: error }, "wait relay failed");
    const message = maskingFailed
      ? `The run's result could not be masked (${error.message}); it was withheld so nothing unscanned reaches you.`
      : "The run's result could not be relayed; the failure is logged with this request's x-request-id.";
    endClientResponse(exchange, JSON.stringify({ __error__: { error: name, message } }));
  } finally {
    clearInterval(keepalive);
  }
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
