// Answers the gateway gives itself (health probes, CORS preflights, sign-in pages and redirects).
import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Identity } from "../identify/index.js";

export interface LocalAnswer {
  status: number;
  headers?: OutgoingHttpHeaders;
  json?: unknown;
  html?: string;
  xml?: string;
  /** A file: a console asset, or a download when it has a filename. */
  file?: { body: Buffer | string; type: string; filename?: string };
  /** A server-sent event stream (the console's live inbox): after the headers, `events` keeps
   * writing to the response until the client leaves; the request is recorded once, at its start. */
  events?: (res: ServerResponse) => void;
  /** A page's own Content-Security-Policy (the console runs its own script). */
  csp?: string;
  /** Who the answer concerns (a sign-in's person), for the audit record. */
  identity?: Identity;
  /** The answer refuses what was asked (a console page the viewer may not see): recorded as a deny. */
  denied?: string;
}

// Pages carry no scripts and must not be framed (clickjacking on the sign-out button).
const PAGE_HEADERS: OutgoingHttpHeaders = {
  "content-security-policy": "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

export function sendLocalAnswer(res: ServerResponse, answer: LocalAnswer, headers: OutgoingHttpHeaders): number {
  if (answer.events) {
    res.writeHead(answer.status, { ...headers, ...answer.headers, "content-type": "text/event-stream", "cache-control": "no-store", "x-content-type-options": "nosniff" });
    res.flushHeaders();
    answer.events(res);
    return 0;
  }
  const [body, type] =
    answer.file !== undefined
      ? [answer.file.body, answer.file.type]
      : answer.html !== undefined
      ? [answer.html, "text/html; charset=utf-8"]
      : answer.xml !== undefined
        ? [answer.xml, "application/samlmetadata+xml"]
        : answer.json !== undefined
          ? [JSON.stringify(answer.json), "application/json"]
          : ["", undefined];
  res.writeHead(answer.status, {
    ...headers,
    ...(answer.html !== undefined ? { ...PAGE_HEADERS, ...(answer.csp ? { "content-security-policy": answer.csp } : {}) } : {}),
    ...(answer.file ? { "x-content-type-options": "nosniff", ...(answer.file.filename ? { "content-disposition": `attachment; filename="${answer.file.filename.replace(/[^A-Za-z0-9._-]/g, "_")}"` } : {}) } : {}),
    ...answer.headers,
    ...(type ? { "content-type": type, "content-length": Buffer.byteLength(body) } : {}),
    "cache-control": answer.headers?.["cache-control"] ?? "no-store",
  });
  res.end(body);
  return Buffer.byteLength(body);
}
