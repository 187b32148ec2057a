// Header hygiene in both directions. Requests: an allow-list, so client credentials, cookies,
// x-auth-scheme and unknown x-* headers never reach LangGraph (the JS server copies x-* headers
// into config.configurable, langgraph-api.md §7). Responses: hop-by-hop and upstream CORS
// headers dropped, Location made gateway-relative (langgraph-api.md §5).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

const FORWARDED_BY_DEFAULT = ["accept", "accept-language", "last-event-id", "user-agent"];

export interface UpstreamCredential {
  header: string;
  value: string;
}

export function upstreamRequestHeaders(
  client: IncomingHttpHeaders,
  options: {
    forwardHeaders: string[];
    credential?: UpstreamCredential;
    identityAssertion?: { header: string; value: string };
    /** For runs: the egress run-context token, which LangGraph copies into config.configurable. */
    runContext?: { header: string; value: string };
    /** W3C traceparent/tracestate naming the gateway's forward span (tracing on). */
    traceContext?: Record<string, string> | undefined;
    requestId: string;
    hasBody: boolean;
  },
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of [...FORWARDED_BY_DEFAULT, ...options.forwardHeaders]) {
    const value = client[name];
    if (typeof value === "string") headers[name] = value;
    else if (Array.isArray(value)) headers[name] = value.join(", ");
  }
  // The body is re-serialised JSON (see pipeline), so its type is known whatever the client said.
  if (options.hasBody) headers["content-type"] = "application/json";
  headers["portcullis-request-id"] = options.requestId;
  if (options.credential) headers[options.credential.header] = options.credential.value;
  if (options.identityAssertion) headers[options.identityAssertion.header] = options.identityAssertion.value;
  if (options.runContext) headers[options.runContext.header] = options.runContext.value;
  // With tracing on, the upstream sees the gateway's span as parent, never the client's raw
  // value (a trusted client's trace id carries on through the gateway's span).
  if (options.traceContext) {
    delete headers.traceparent;
    delete headers.tracestate;
    Object.assign(headers, options.traceContext);
  }
  return headers;
}

const DROPPED_RESPONSE_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "content-length",
  "set-cookie",
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
]);

export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  upstreamUrl: URL,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    headers[name] = name === "location" || name === "content-location" ? gatewayRelative(String(value), upstreamUrl) : value;
  }
  return headers;
}

/** Rewrites an upstream URL to a path on the gateway; other origins are left as they are. */
function gatewayRelative(location: string, upstreamUrl: URL): string {
  let resolved: URL;
  try {
    resolved = new URL(location, upstreamUrl);
  } catch {
    return location;
  }
  if (resolved.origin !== upstreamUrl.origin) return location;
  const basePath = upstreamUrl.pathname.replace(/\/$/, "");
  const path = basePath && resolved.pathname.startsWith(`${basePath}/`) ? resolved.pathname.slice(basePath.length) : resolved.pathname;
  return `${path}${resolved.search}`;
}
