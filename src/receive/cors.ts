// CORS for browser clients such as LangGraph Studio (langgraph-api.md §9). Only configured
// origins get CORS headers; preflights are answered by the gateway, never forwarded.
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";

export interface CorsSettings {
  allowOrigins: string[];
  allowPrivateNetwork: boolean;
  maxAgeS: number;
  /** Credentialed requests (the session cookie) from allowed origins: identity.login.session.cross_site. */
  allowCredentials?: boolean;
}

const ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
// x-auth-scheme is accepted from Studio so its requests are not blocked, then stripped before forwarding.
const ALLOWED_HEADERS = "authorization, x-api-key, x-auth-scheme, content-type, last-event-id, portcullis-csrf";
// x-portcullis-error: the gateway's code on a refusal answered in LangGraph's own shape.
const EXPOSED_HEADERS = "content-location, location, x-pagination-total, x-pagination-next, x-request-id, portcullis-approval-id, x-portcullis-error";

export function corsHeaders(req: IncomingMessage, cors: CorsSettings): OutgoingHttpHeaders {
  const origin = req.headers.origin;
  if (!origin || !cors.allowOrigins.includes(origin)) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": EXPOSED_HEADERS,
    vary: "Origin",
    ...(cors.allowCredentials ? { "access-control-allow-credentials": "true" } : {}),
  };
}

export function isPreflight(req: IncomingMessage): boolean {
  return req.method === "OPTIONS" && typeof req.headers["access-control-request-method"] === "string";
}

export function preflightHeaders(req: IncomingMessage, cors: CorsSettings): OutgoingHttpHeaders | undefined {
  const base = corsHeaders(req, cors);
  if (!base["access-control-allow-origin"]) return undefined;
  const headers: OutgoingHttpHeaders = {
    ...base,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": String(cors.maxAgeS),
  };
  if (cors.allowPrivateNetwork && req.headers["access-control-request-private-network"] === "true") {
    headers["access-control-allow-private-network"] = "true";
  }
  return headers;
}
