// The credential Portcullis adds to a route's calls, and every form it could take on the wire,
// so an answer that echoes it back (a debugging endpoint, an error quoting the request) is
// scrubbed before the runtime, the logs or the ledger see it.
import { ConfigError } from "../errors.js";
import type { EgressCredentialConfig } from "../config/index.js";
import { base64Forms } from "./scrub.js";

export interface RouteCredential {
  /** Headers set on every downstream call. */
  headers: Record<string, string>;
  /** A query parameter appended to every downstream call (and removed from the client's query). */
  query?: { name: string; value: string };
  /** The credential as it may appear in an answer: raw, and as encoded on the wire. */
  secretForms: string[];
}

// A shorter secret would make the scrubber replace ordinary text in answers.
const MIN_SECRET_LENGTH = 8;

export function routeCredential(route: string, config: EgressCredentialConfig, secret: string): RouteCredential {
  if (secret.length < MIN_SECRET_LENGTH) throw new ConfigError(`egress.routes.${route}.credential: the secret is shorter than ${MIN_SECRET_LENGTH} characters`);
  if (/[\r\n\0]/.test(secret)) throw new ConfigError(`egress.routes.${route}.credential: the secret contains a line break or NUL`);
  // An echo may carry it JSON-escaped (with '/' as '\/' too), percent-encoded (either hex case,
  // or as a form value), and any of those, or the whole header it was sent in, base64-encoded.
  const jsonEscaped = JSON.stringify(secret).slice(1, -1);
  const percent = encodeURIComponent(secret);
  const textual = [
    secret,
    jsonEscaped,
    jsonEscaped.replace(/\//g, "\\/"),
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    new URLSearchParams({ v: secret }).toString().slice(2),
  ];
  // The header value as sent is caught as text by the secret's own forms (so "Bearer " stays
  // readable); base64 of it is not, since its characters depend on the prefix.
  const formsWith = (headerValue: string | undefined, ...more: string[]) => [...new Set([...textual, ...more, ...[...textual, ...more, ...(headerValue ? [headerValue] : [])].flatMap(base64Forms)])];
  switch (config.type) {
    case "bearer":
      return { headers: { authorization: `Bearer ${secret}` }, secretForms: formsWith(`Bearer ${secret}`) };
    case "header":
      return { headers: { [config.header]: `${config.prefix}${secret}` }, secretForms: formsWith(`${config.prefix}${secret}`) };
    case "basic": {
      const token = Buffer.from(`${config.username}:${secret}`, "utf8").toString("base64");
      return { headers: { authorization: `Basic ${token}` }, secretForms: formsWith(`Basic ${token}`, token) };
    }
    case "query":
      return { headers: {}, query: { name: config.parameter, value: secret }, secretForms: formsWith(undefined) };
  }
}
