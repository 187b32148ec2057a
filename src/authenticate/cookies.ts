// The gateway's cookies. With an https public URL they are Secure and use the __Host- prefix
// (RFC 6265bis §4.1.3.2: no Domain, Path=/, Secure), so no subdomain can plant or read them.
import { parse, serialize } from "cookie";
import type { IncomingHttpHeaders } from "node:http";
import { sessionCookieName } from "../identify/index.js";

export interface CookieNames {
  session: string;
  login: string;
  secure: boolean;
  /** The session cookie's SameSite; "none" only for cross-site use (Studio), always Secure. */
  sessionSameSite: "lax" | "none";
}

export function cookieNames(publicUrl: string, crossSite = false): CookieNames {
  const secure = new URL(publicUrl).protocol === "https:";
  const prefix = secure ? "__Host-" : "";
  return { session: sessionCookieName(secure), login: `${prefix}portcullis_login`, secure, sessionSameSite: crossSite && secure ? "none" : "lax" };
}

export function readCookie(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (!header) return undefined;
  return parse(header)[name] || undefined;
}

/** SameSite=Lax: sent on top-level navigations back from the IdP, never on cross-site fetches or
 * posts (the session cookie is SameSite=None only with identity.login.session.cross_site). */
export function setCookie(names: CookieNames, name: string, value: string, maxAgeS: number): string {
  const sameSite = name === names.session ? names.sessionSameSite : "lax";
  return serialize(name, value, { httpOnly: true, secure: names.secure, sameSite, path: "/", maxAge: maxAgeS });
}

export function clearCookie(names: CookieNames, name: string): string {
  return serialize(name, "", { httpOnly: true, secure: names.secure, sameSite: "lax", path: "/", maxAge: 0 });
}
