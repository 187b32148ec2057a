// Generative UI answers (/ui/{graph}, langgraph.json `ui`). The component HTML the server writes
// links its files at its own origin (`{protocol}//{Host}/ui/{graph}/{file}`, from the Host it
// received, langgraph-api ui/load.mjs); the browser must fetch them through the gateway, so the
// links name the origin the client addressed. A file answer gets a validator the browser can
// revalidate with, since masking may change its bytes and the server sends none.
import { createHash } from "node:crypto";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";

// A Host that could break out of the HTML attribute it is written into is not used.
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** The component HTML with the upstream's links to its files made gateway-relative, before it
 * is masked (the upstream's address is not the client's business, and masking would take an IP
 * address for personal data). */
export function relativeUiLinks(html: string, upstreamUrl: URL): string {
  const host = upstreamUrl.host;
  return html.replaceAll(`"http://${host}/ui/`, `"/ui/`).replaceAll(`"//${host}/ui/`, `"/ui/`);
}

/** Once masked, the links name the gateway's origin as the client addressed it (the component
 * is inserted into another origin's page): protocol-relative, as LangGraph writes them for other
 * hosts; http: for a loopback host, https: on the gateway's TLS listener. Without a usable Host
 * they stay gateway-relative. */
export function absoluteUiLinks(html: string, req: IncomingMessage): string {
  const host = req.headers.host ?? "";
  if (!PLAIN_HOST.test(host)) return html;
  const origin = `${schemeFor(req, host)}//${host}`;
  return html.replace(/(\s(?:src|href)=")\/ui\//g, `$1${origin}/ui/`);
}

function schemeFor(req: IncomingMessage, host: string): string {
  if ((req.socket as TLSSocket).encrypted) return "https:";
  const name = host.replace(/:\d+$/, "");
  return name === "localhost" || name === "127.0.0.1" || name === "[::1]" ? "http:" : "";
}

/** Cache headers for a UI file as sent: the upstream's own Cache-Control when it gave one,
 * otherwise private (the file is behind the gateway's credentials) and revalidated; a strong
 * ETag of the bytes sent. True when the client's If-None-Match already names them (answer 304). */
export function uiAssetCaching(req: IncomingMessage, headers: OutgoingHttpHeaders, body: Buffer): boolean {
  const etag = `"${createHash("sha256").update(body).digest("base64url")}"`;
  headers.etag = etag;
  headers["cache-control"] ??= "private, no-cache";
  const ifNoneMatch = req.headers["if-none-match"];
  return typeof ifNoneMatch === "string" && ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag || tag.trim() === "*");
}
