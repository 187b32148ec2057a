// Which credentials a request carries, read from the raw header lines: Node keeps only the first
// Authorization header in req.headers and joins repeated x-api-key and Cookie headers, so two
// credentials could otherwise pass as one. A request is identified by exactly one credential.
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";

export type CredentialKind = "authorization" | "x-api-key" | "session-cookie" | "approval-execution";

/** Carried by a deferred request the gateway sends to itself once approved (src/approve/deferred.ts). */
export const EXECUTION_HEADER = "portcullis-approval-execution";

const CREDENTIAL_HEADERS = new Map<string, CredentialKind>([
  ["authorization", "authorization"],
  ["x-api-key", "x-api-key"],
  [EXECUTION_HEADER, "approval-execution"],
]);

/** The browser session cookie's name, read here as a credential and set by the sign-in
 * (src/authenticate/cookies.ts). With an https public URL it has the __Host- prefix (RFC 6265bis
 * §4.1.3.2: no Domain, Path=/, Secure), so no subdomain can plant or read it. */
export function sessionCookieName(secure: boolean): string {
  return `${secure ? "__Host-" : ""}portcullis_session`;
}

// The session cookie under an http and an https public URL.
const SESSION_COOKIES = new Set([sessionCookieName(false), sessionCookieName(true)]);

export interface PresentedCredentials {
  /** One entry per credential sent (a repeated header counts each time); never their values. */
  kinds: CredentialKind[];
  /** Credential headers the Connection header names as hop-by-hop. */
  hopByHop: string[];
}

/** @param sessions whether the session cookie is a credential here (identity.login.api_access) */
export function presentedCredentials(req: Pick<IncomingMessage, "rawHeaders">, sessions: boolean): PresentedCredentials {
  const kinds: CredentialKind[] = [];
  const hopByHop: string[] = [];
  const raw = req.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index]!.toLowerCase();
    const value = raw[index + 1]!.trim();
    const kind = CREDENTIAL_HEADERS.get(name);
    if (kind && value !== "") kinds.push(kind);
    else if (name === "cookie" && sessions) {
      for (const pair of value.split(";")) {
        const at = pair.indexOf("=");
        if (at > 0 && SESSION_COOKIES.has(pair.slice(0, at).trim()) && pair.slice(at + 1).trim() !== "") kinds.push("session-cookie");
      }
    } else if (name === "connection") {
      // RFC 9110 §7.6.1: a proxy on the way removes the headers Connection names.
      for (const option of value.split(",").map((item) => item.trim().toLowerCase())) {
        if (CREDENTIAL_HEADERS.has(option) || (option === "cookie" && sessions)) hopByHop.push(option);
      }
    }
  }
  return { kinds, hopByHop };
}

/** Refuses a request whose credential is ambiguous: more than one, or one that a proxy between
 * the client and the gateway would have dropped. The message names the kinds, never values. */
export function assertOneCredential(presented: PresentedCredentials): void {
  if (presented.hopByHop.length > 0) {
    throw new GatewayError(
      400,
      "PC_AMBIGUOUS_CREDENTIALS",
      `Refused: the Connection header names ${presented.hopByHop.join(", ")} as hop-by-hop (RFC 9110 §7.6.1), so a proxy on the way would drop that credential; send credentials end to end${presented.kinds.length > 0 ? ` (sent: ${describeCredentials(presented.kinds)})` : ""}.`,
    );
  }
  if (presented.kinds.length > 1) {
    throw new GatewayError(
      400,
      "PC_AMBIGUOUS_CREDENTIALS",
      `Refused: the request carries more than one credential (${describeCredentials(presented.kinds)}); send exactly one: 'Authorization: Bearer <token or key>', 'x-api-key: <key>' or the session cookie.`,
    );
  }
}

/** "2 × authorization, x-api-key": what was sent, for messages and records. */
export function describeCredentials(kinds: readonly CredentialKind[]): string {
  const counts = new Map<CredentialKind, number>();
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => (count > 1 ? `${count} × ${kind}` : kind)).join(", ");
}
