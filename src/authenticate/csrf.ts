// Cookie-authenticated requests that change state must prove they come from a page the gateway
// trusts: the session's CSRF token in a header (the console), or an Origin that is the gateway's
// own or in cors.allow_origins (LangGraph Studio). SameSite=Lax already keeps the cookie off
// cross-site requests; this is the second, independent check (OWASP CSRF cheat sheet).
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";

export const CSRF_HEADER = "portcullis-csrf";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function checkCsrf(
  req: Pick<IncomingMessage, "method" | "headers">,
  expectedToken: string,
  trustedOrigins: readonly string[],
  options: { formToken?: string | undefined; identity?: Identity; changesState?: boolean } = {},
): void {
  // A GET can change state too (a join stream with cancel_on_disconnect); classify says so.
  if (!options.changesState && SAFE_METHODS.has(req.method ?? "")) return;
  const presented = options.formToken ?? req.headers[CSRF_HEADER];
  if (typeof presented === "string" && sameSecret(presented, expectedToken)) return;
  const origin = req.headers.origin;
  if (typeof origin === "string" && trustedOrigins.includes(origin)) return;
  throw new GatewayError(
    403,
    "PC_CSRF",
    `Refused: a state-changing request authenticated by a session cookie must carry the session's CSRF token (${CSRF_HEADER} header) or come from a trusted Origin.`,
    options.identity ? { identity: options.identity } : undefined,
  );
}

function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
