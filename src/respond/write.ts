// Writing to the client: counts bytes, never writes after the client left, and honours
// backpressure so a slow client slows the upstream read instead of growing a buffer.
import { once } from "node:events";
import type { Exchange } from "../exchange.js";

export function writeToClient(exchange: Exchange, text: string): void {
  if (exchange.clientGone || exchange.res.writableEnded) return;
  exchange.res.write(text);
  exchange.bytesOut += Buffer.byteLength(text);
}

export async function clientDrained(exchange: Exchange): Promise<void> {
  const res = exchange.res;
  if (exchange.clientGone || !res.writableNeedDrain) return;
  // One signal removes whichever listener did not fire, so long streams collect none.
  const done = new AbortController();
  try {
    await Promise.race([once(res, "drain", { signal: done.signal }), once(res, "close", { signal: done.signal })]);
  } finally {
    done.abort();
  }
}

export function endClientResponse(exchange: Exchange, text?: string): void {
  if (exchange.clientGone || exchange.res.writableEnded) return;
  if (text) writeToClient(exchange, text);
  exchange.res.end();
}
