// egress: graph code on the LangGraph runtime reaching outside services (model providers, tool
// APIs) through Portcullis, which holds their credentials. A call to /egress/<route>/<path> is
// identified (the runtime's service account), classified against the route's methods and paths,
// linked to its run, authorized (egress:call), masked, recorded, sent with the route's
// credential, and its answer masked and scrubbed of the credential (src/pipeline.ts runs the
// stages in that order).
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import path from "node:path";
import { pipeline, Transform, type Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { RateLimiter } from "../authorize/index.js";
import type { Operation } from "../classify/index.js";
import { readSecret, type PortcullisConfig, type EgressRouteConfig } from "../config/index.js";
import { GatewayError } from "../errors.js";
import { UpstreamClient } from "../forward/index.js";
import type { Identity } from "../identify/index.js";
import { readJsonBody, type RequestBody, type RequestTarget } from "../receive/index.js";
import { routeCredential, type RouteCredential } from "./credential.js";
import { encodePathSegment, pathMatches } from "./paths.js";
import { RUN_CONTEXT_HEADER, RUN_CONTEXT_UPSTREAM_HEADER, RunContextTokens, type RunLink } from "./runContext.js";
import { SecretScrubber, secretPatterns } from "./scrub.js";

export { egressMessage } from "./jsonRpc.js";
export { RUN_CONTEXT_UPSTREAM_HEADER, type RunLink } from "./runContext.js";
export type { SecretScrubber } from "./scrub.js";

const EGRESS_PREFIX = "egress";

/** What an egress call was, kept on its request record (src/record/). */
export interface EgressFacts {
  route: string;
  /** The path below the route's base URL that was called (no query: it may carry the credential). */
  path: string;
  /** The run the call was made for (from its verified run-context token): the request that
   * started it, who that was, the thread and graphs. Absent when the call carried no context. */
  run?: { request_id: string; subject: string; thread_id?: string; tenant?: string; graphs: string[] };
  /** On an MCP or A2A route: the JSON-RPC method, and the tool a tools/call names. */
  message?: { method: string; tool?: string };
}

// Client headers sent downstream: an allow-list, so credentials, hop-by-hop and framing headers,
// the gateway's own, and headers some servers route by (x-original-url, x-rewrite-url) never
// leave. The rest are what model provider clients send to select versions and features.
const FORWARDED_BY_DEFAULT = new Set([
  "accept",
  "accept-language",
  "user-agent",
  "idempotency-key",
  "openai-organization",
  "openai-project",
  "openai-beta",
  "anthropic-version",
  "anthropic-beta",
]);
// The OpenAI and Anthropic SDKs describe themselves in x-stainless-* (language, version, retry count).
const FORWARDED_PREFIX = "x-stainless-";

class EgressRoute {
  readonly url: URL;
  readonly client: UpstreamClient;
  private readonly secretForms: readonly Buffer[];

  constructor(
    readonly name: string,
    readonly config: EgressRouteConfig,
    readonly credential: RouteCredential | undefined,
  ) {
    this.url = new URL(config.url);
    this.secretForms = secretPatterns(credential?.secretForms ?? []);
    this.client = new UpstreamClient(this.url, {
      connectTimeoutMs: config.connect_timeout_ms,
      responseTimeoutMs: config.response_timeout_ms,
      bodyTimeoutMs: config.idle_timeout_ms,
      name: this.serverName,
    });
  }

  get serverName(): string {
    return `The downstream of egress route '${this.name}'`;
  }

  /** A fresh scrubber per call, so its count is the call's. */
  scrubber(): SecretScrubber {
    return new SecretScrubber(this.secretForms);
  }
}

/** One call through a route, as classify understood it. */
interface EgressCall {
  route: EgressRoute;
  /** The path below the route's base URL, as sent (no query). */
  path: string;
  /** What the downstream is sent after the base URL: path and the query (credential added). */
  pathAndQuery: string;
  operation: Operation;
  scrubber: SecretScrubber;
}

export class Egress {
  private constructor(
    private readonly routes: Map<string, EgressRoute>,
    private readonly runContexts: RunContextTokens | undefined,
    private readonly maxJsonDepth: number,
    private readonly limiter: RateLimiter,
  ) {}

  /** Reads every route's secret at start, so a missing one stops the gateway rather than a call. */
  static async open(config: PortcullisConfig, limiter = new RateLimiter()): Promise<Egress> {
    const routes = new Map<string, EgressRoute>();
    for (const [name, route] of Object.entries(config.egress.routes)) {
      const credential = route.credential && routeCredential(name, route.credential, await readSecret(route.credential.secret, `egress.routes.${name}.credential.secret`));
      routes.set(name, new EgressRoute(name, route, credential));
    }
    const runContexts = routes.size > 0 ? await RunContextTokens.open(config.egress.run_context, path.dirname(path.resolve(config.storage.sqlite_file))) : undefined;
    return new Egress(routes, runContexts, config.limits.max_json_depth, limiter);
  }

  get enabled(): boolean {
    return this.routes.size > 0;
  }

  handles(target: RequestTarget): boolean {
    return target.segments[0] === EGRESS_PREFIX;
  }

  /** classify: the route, and whether its methods and paths allow this call. */
  classify(method: string, target: RequestTarget): EgressCall {
    const name = target.segments[1] ?? "";
    const route = this.routes.get(name);
    if (!route) throw new GatewayError(404, "PC_EGRESS_UNKNOWN_ROUTE", `Refused: there is no egress route '${name.slice(0, 64)}' (egress.routes in the gateway's config).`);
    if (!(route.config.methods as string[]).includes(method)) {
      throw new GatewayError(405, "PC_EGRESS_METHOD_NOT_ALLOWED", `Refused: egress route '${name}' allows ${route.config.methods.join(", ")}, not ${method.slice(0, 16)}.`);
    }
    const segments = target.segments.slice(2);
    // Servers that read ';' parameters or trim dots and spaces (Tomcat's "..;", IIS's ".. ") would
    // see a dot segment here: refused like one.
    const hidden = segments.findIndex((segment, index) => /^[. ]*$/.test(segment.split(";")[0]!) && !(segment === "" && index === segments.length - 1));
    if (hidden !== -1) throw new GatewayError(400, "PC_BAD_PATH", "Refused: a path segment that some servers read as '.' or '..' (dots, spaces, ';' parameters) is not allowed in egress paths.");
    if (!route.config.paths.some((pattern) => pathMatches(pattern, segments))) {
      throw new GatewayError(403, "PC_EGRESS_PATH_NOT_ALLOWED", `Refused: egress route '${name}' does not allow the path /${segments.join("/").slice(0, 200)} (allowed: ${route.config.paths.join(", ")}).`);
    }
    const downstreamPath = `/${segments.map(encodePathSegment).join("/")}`;
    return {
      route,
      path: downstreamPath,
      pathAndQuery: `${downstreamPath}${downstreamQuery(target.search, route.credential)}`,
      operation: {
        route: "egress.call",
        resource: "egress",
        action: "egress:call",
        actions: ["egress:call"],
        risk: "write",
        response: "json",
        ids: {},
        assistant_ids: [],
        risk_reasons: [],
        creates_run: false,
      },
      scrubber: route.scrubber(),
    };
  }

  /** The run the call serves, from the token the graph forwards. A token that does not verify is
   * refused; no token is refused only where the route requires one. */
  async linkRun(headers: IncomingHttpHeaders, call: EgressCall): Promise<RunLink | undefined> {
    const token = headers[RUN_CONTEXT_HEADER];
    if (typeof token !== "string" || token === "") {
      if (call.route.config.require_run_context) {
        throw new GatewayError(428, "PC_EGRESS_RUN_CONTEXT_REQUIRED", `Refused: egress route '${call.route.name}' requires the Portcullis-Run-Context header (forward config.configurable["${RUN_CONTEXT_UPSTREAM_HEADER}"] from the graph).`);
      }
      return undefined;
    }
    return this.runContexts!.verify(token);
  }

  /** For the record of a call refused before classify let it through (its route, method or
   * path, or earlier: a hostile path, a missing credential): the route and path it asked for,
   * as sent, and the run its run-context token names when the token verifies. Undefined for
   * requests that are not egress calls. */
  async refusedCallFacts(req: Pick<IncomingMessage, "url" | "headers">, target: RequestTarget | undefined): Promise<EgressFacts | undefined> {
    let route: string;
    let below: string;
    if (target) {
      if (!this.handles(target)) return undefined;
      route = target.segments[1] ?? "";
      below = `/${target.segments.slice(2).map(encodePathSegment).join("/")}`;
    } else {
      // The target did not parse: the raw path, as far as it names a route.
      const raw = /^\/egress\/([^/?]*)([^?]*)/.exec(String(req.url ?? ""));
      if (!raw) return undefined;
      route = raw[1]!;
      below = raw[2] || "/";
    }
    const run = await this.verifiedRunOf(req.headers);
    return { route: route.slice(0, 64), path: below.slice(0, 2048), ...(run ? { run } : {}) };
  }

  /** The run a call's token names, or undefined when it has none or it does not verify. */
  private async verifiedRunOf(headers: IncomingHttpHeaders): Promise<RunLink | undefined> {
    const token = headers[RUN_CONTEXT_HEADER];
    if (typeof token !== "string" || token === "" || !this.runContexts) return undefined;
    return this.runContexts.verify(token).catch(() => undefined);
  }

  /** The run-context token for a run the gateway forwards, or undefined when egress is off. */
  runContextFor(link: RunLink): Promise<string> | undefined {
    return this.runContexts?.issue(link);
  }

  async limitRate(call: EgressCall, identity: Identity): Promise<void> {
    const limit = call.route.config.rate_limit;
    if (limit) await this.limiter.takeFrom(`${call.route.name}\u0000${identity.subject}`, { id: `egress:${call.route.name}`, ...limit }, identity);
  }

  /** receive: JSON (or no body) only, since only that can be masked, within the route's limit. */
  async readBody(req: IncomingMessage, call: EgressCall): Promise<RequestBody> {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    const hasBody = req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
    if (hasBody && type !== "" && type !== "application/json" && !type.endsWith("+json")) {
      throw new GatewayError(415, "PC_UNSUPPORTED_MEDIA_TYPE", `Refused: egress calls carry JSON bodies only, since other bodies cannot be scanned for PII and secrets (got ${type.slice(0, 60)}).`);
    }
    return readJsonBody(req, call.route.config.max_request_bytes, this.maxJsonDepth);
  }

  /** The allowed client headers, plus the route's credential. */
  downstreamHeaders(client: IncomingHttpHeaders, call: EgressCall, hasBody: boolean): Record<string, string> {
    const { route } = call;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(client)) {
      if (value === undefined || !(FORWARDED_BY_DEFAULT.has(name) || name.startsWith(FORWARDED_PREFIX) || route.config.forward_headers.includes(name))) continue;
      headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    // Answers are scanned for PII, so they must arrive uncompressed.
    headers["accept-encoding"] = "identity";
    if (hasBody) headers["content-type"] = "application/json";
    Object.assign(headers, route.credential?.headers);
    return headers;
  }

  /** forward: sends the call with the route's credential. The answer comes back with the
   * credential scrubbed from its headers and body, and cut off past the route's size limit. */
  async send(call: EgressCall, request: { method: string; headers: Record<string, string>; body: string | undefined; signal: AbortSignal }): Promise<Dispatcher.ResponseData> {
    const { route, scrubber } = call;
    const answer = await route.client.send({ method: request.method, pathAndQuery: call.pathAndQuery, headers: request.headers, ...(request.body !== undefined ? { body: request.body } : {}), signal: request.signal });
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined) continue;
      answer.headers[name] = Array.isArray(value) ? value.map((item) => scrubber.text(item)) : scrubber.text(value);
    }
    return { ...answer, body: limitBytes(scrubber.stream(answer.body), route) as Dispatcher.ResponseData["body"] };
  }

  /** Redirects are followed by no one: one within the route becomes a gateway path, one leaving
   * it is refused (so no credential goes with it). Location on other answers, and
   * Content-Location, are kept only within the route. */
  confineLocations(call: EgressCall, answer: Dispatcher.ResponseData): void {
    const { route } = call;
    const requested = new URL(`${route.url.pathname.replace(/\/$/, "")}${call.path}`, route.url);
    for (const name of ["location", "content-location"]) {
      const value = answer.headers[name];
      if (value === undefined) continue;
      const within = gatewayPathFor(String(value), requested, route);
      if (within !== undefined) {
        answer.headers[name] = within;
        continue;
      }
      delete answer.headers[name];
      if (name === "location" && answer.statusCode >= 300 && answer.statusCode < 400) {
        // undici fails a destroyed body with RequestAbortedError: listened for, so it is not uncaught.
        answer.body.on("error", () => undefined).destroy();
        throw new GatewayError(502, "PC_EGRESS_REDIRECT_REFUSED", `${route.serverName} redirected outside the route (to ${redirectOrigin(String(value), requested, route)}); Portcullis neither follows nor relays such redirects, so no credential goes with them.`);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.routes.values()].map((route) => route.client.destroy()));
  }
}

/** The client's query as sent downstream, byte for byte, except that a parameter named like the
 * route's query credential is the client's own and is dropped, and the route's is appended. */
function downstreamQuery(search: string, credential: RouteCredential | undefined): string {
  if (!credential?.query) return search;
  const name = credential.query.name;
  const kept = search
    .slice(1)
    .split("&")
    .filter((pair) => pair !== "" && decodedName(pair) !== name);
  kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(credential.query.value)}`);
  return `?${kept.join("&")}`;
}

function decodedName(pair: string): string {
  const raw = pair.split("=")[0]!.replace(/\+/g, " ");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A downstream URL within the route (resolved against the URL called), as the gateway path that
 * reaches it; undefined otherwise. */
function gatewayPathFor(location: string, requested: URL, route: EgressRoute): string | undefined {
  let resolved: URL;
  try {
    resolved = new URL(location, requested);
  } catch {
    return undefined;
  }
  const base = route.url.pathname.replace(/\/$/, "");
  if (resolved.origin !== route.url.origin || (base !== "" && resolved.pathname !== base && !resolved.pathname.startsWith(`${base}/`))) return undefined;
  if (route.credential?.query) resolved.searchParams.delete(route.credential.query.name);
  return `/${EGRESS_PREFIX}/${route.name}${resolved.pathname.slice(base.length) || "/"}${resolved.search}`;
}

function redirectOrigin(location: string, requested: URL, route: EgressRoute): string {
  try {
    const url = new URL(location, requested);
    return url.origin === route.url.origin ? `${url.origin}, outside ${route.url.pathname}` : url.origin;
  } catch {
    return "an unparseable location";
  }
}

/** Ends an answer (streamed or not) that grows past the route's max_response_bytes, so a hostile
 * or broken downstream cannot fill the gateway's memory with an endless stream or event. */
function limitBytes(body: Readable, route: EgressRoute): Readable {
  const max = route.config.max_response_bytes;
  let seen = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(new GatewayError(502, "PC_UPSTREAM_RESPONSE_TOO_LARGE", `${route.serverName} sent more than the route's max_response_bytes (${max}); the answer was cut off.`));
      else done(null, chunk);
    },
  });
  return pipeline(body, limited, () => undefined);
}
