// Bounds the request head before anything reads a header. Node drops header fields past its
// server.maxHeadersCount without telling anyone, so a field placed after them (a method
// override, say) would go unseen; and a head that only just fits Node's 16 KiB limit no longer
// fits LangGraph's once the gateway has added its own headers.
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";

export interface HeaderLimits {
  /** limits.max_headers: header fields per request. */
  maxHeaders: number;
  /** limits.max_header_bytes: the request line and header fields, as received. */
  maxHeaderBytes: number;
}

export function assertHeaderLimits(req: IncomingMessage, limits: HeaderLimits): void {
  // rawHeaders keeps every field Node kept, repeated names included (req.headers merges them).
  const fields = req.rawHeaders.length / 2;
  if (fields > limits.maxHeaders) {
    throw new GatewayError(431, "PC_BAD_REQUEST", `Refused: the request has more than ${limits.maxHeaders} header fields (limits.max_headers); send fewer.`);
  }
  const bytes = requestHeadBytes(req);
  if (bytes > limits.maxHeaderBytes) {
    throw new GatewayError(
      431,
      "PC_BAD_REQUEST",
      `Refused: the request line and headers are ${bytes} bytes, over the ${limits.maxHeaderBytes}-byte limit (limits.max_header_bytes) that leaves room for the headers Portcullis adds; send smaller headers.`,
    );
  }
}

/** The size of the request head as sent (RFC 9112 §2.1): request line, each field as
 * "name: value" with its CRLF, and the empty line. Node decodes the head as latin1, one
 * character per byte, so string lengths are byte counts. */
function requestHeadBytes(req: IncomingMessage): number {
  let bytes = `${req.method ?? ""} ${req.url ?? ""} HTTP/${req.httpVersion}\r\n`.length + 2;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) bytes += raw[i]!.length + 2 + raw[i + 1]!.length + 2;
  return bytes;
}
