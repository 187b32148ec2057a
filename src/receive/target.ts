// Turns the raw request-target into the one canonical path that is both classified and
// forwarded, so path tricks cannot make the gateway and LangGraph disagree about the route.
import type { IncomingHttpHeaders } from "node:http";
import { GatewayError } from "../errors.js";

export interface RequestTarget {
  /** Decoded path segments, e.g. ["threads", "abc", "runs"]. */
  segments: string[];
  /** Canonical, re-encoded path forwarded upstream. */
  path: string;
  /** Raw query string including "?", forwarded unchanged ("" when absent). */
  search: string;
  query: URLSearchParams;
}

const FORBIDDEN_ENCODED = /%(2f|5c|00)/i; // encoded "/", "\" and NUL would re-split or truncate paths upstream
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function parseRequestTarget(rawUrl: string | undefined): RequestTarget {
  const url = rawUrl ?? "";
  if (!url.startsWith("/")) throw badPath("the request-target must be an absolute path (origin-form, RFC 9112 §3.2.1)");
  const queryStart = url.indexOf("?");
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart);
  const search = queryStart === -1 ? "" : url.slice(queryStart);
  if (rawPath.includes("\\")) throw badPath("backslashes are not allowed in paths");
  if (FORBIDDEN_ENCODED.test(rawPath)) throw badPath("encoded '/', '\\' or NUL is not allowed in paths");

  const rawSegments = rawPath.slice(1).split("/");
  const segments = rawSegments.map((raw, index) => {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw badPath("the path has malformed percent-encoding");
    }
    if (CONTROL_CHARS.test(segment)) throw badPath("control characters are not allowed in paths");
    if (segment === "." || segment === "..") throw badPath("dot segments are not allowed in paths");
    // An empty segment is only the root ("/") or a trailing slash; "//" is refused.
    if (segment === "" && index !== rawSegments.length - 1) throw badPath("empty path segments ('//') are not allowed");
    return segment;
  });
  return { segments, path: `/${segments.map(encodeURIComponent).join("/")}`, search, query: new URLSearchParams(search) };
}

// Some frameworks let these headers change the method; LangGraph does not, so a request carrying
// one means something other than what would be classified. Refused rather than guessed.
const METHOD_OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];

export function assertNoMethodOverride(headers: IncomingHttpHeaders): void {
  const present = METHOD_OVERRIDE_HEADERS.find((name) => headers[name] !== undefined);
  if (present) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: the ${present} header is not accepted; send the intended method itself.`);
}

function badPath(message: string): GatewayError {
  return new GatewayError(400, "PC_BAD_PATH", `Refused: ${message}.`);
}
