// The credential Portcullis adds to a route's calls, and every form it could take on the wire,
// so an answer that echoes it back (a debugging endpoint, an error quoting the request) is
// scrubbed before the runtime, the logs or the ledger see it.
import { ConfigError } from "../errors.js";
import type { EgressCredentialConfig } from "./config.js";

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
  // or as a form value), or base64-encoded.
  const jsonEscaped = JSON.stringify(secret).slice(1, -1);
  const percent = encodeURIComponent(secret);
  const forms = new Set([
    secret,
    jsonEscaped,
    jsonEscaped.replace(/\//g, "\\/"),
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    new URLSearchParams({ v: secret }).toString().slice(2),
    Buffer.from(secret, "utf8").toString("base64"),
    Buffer.from(secret, "utf8").toString("base64url"),
  ]);
  switch (config.type) {
    case "bearer":
      return { headers: { authorization: `Bearer ${secret}` }, secretForms: [...forms] };
    case "header":
      return { headers: { [config.header]: `${config.prefix}${secret}` }, secretForms: [...forms] };
    case "basic": {
      const token = Buffer.from(`${config.username}:${secret}`, "utf8").toString("base64");
      return { headers: { authorization: `Basic ${token}` }, secretForms: [...forms, token] };
    }
    case "query":
      return { headers: {}, query: { name: config.parameter, value: secret }, secretForms: [...forms] };
  }
}
