// The request pipeline: every stage a request passes through, in order, in one place.
//
//   receive → identify → classify → authorize → mask (request) → approve → record (admit)
//     → forward → respond (mask each event or document) → record (complete)
//
// Each stage lives in the folder of the same name. A stage refuses a request by throwing a
// GatewayError; the refusal is recorded and answered here, so no stage can forget either.
// approve comes after the request is masked so approvers are shown only masked values.
//
// Egress calls (graph code reaching an outside service, /egress/<route>/…) take the same stages
// with the route in place of LangGraph: see forwardEgress.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import type { ApprovalsApi, ApprovalGate } from "./approve/index.js";
import type { Console } from "./console/index.js";
import type { SignIn } from "./authenticate/index.js";
import { refusalFor, threadIdOf, type Authorizer, type AuthorizationRequest } from "./authorize/index.js";
import { classifyOperation, RouteTable } from "./classify/index.js";
import { GatewayError } from "./errors.js";
import { elapsedMs, type Exchange } from "./exchange.js";
import { isObject } from "./jsonText.js";
import { upstreamRequestHeaders, type UpstreamCredential, type IdentityAssertionSigner, type UpstreamClient } from "./forward/index.js";
import { RUN_CONTEXT_UPSTREAM_HEADER, egressMessage, type Egress, type RunLink } from "./egress/index.js";
import { metrics, type Observability } from "./observe/index.js";
import type { Identifier } from "./identify/index.js";
import { assertNoBodyOnBodylessMethod, assertRouteReadsBody, readJsonBody, corsHeaders, isPreflight, preflightHeaders, assertHeaderLimits, assertNoMethodOverride, parseRequestTarget, type CorsSettings, type HeaderLimits, type TrustedProxies } from "./receive/index.js";
import { MaskingError, MaskingTally, ProviderStreamMasker, restoreWhole, restoringMasker, type Masker, type TokenEntry, type KeptValue, type Vault, type VaultScope } from "./mask/index.js";
import { maskedPayload, ResponseRecording, followedRunOf, Recorder, type AuditSink, type RunFollower } from "./record/index.js";
import { relayResponse, runOutlivesClient, sendGatewayError, ERROR_CODE_HEADER, sendLocalAnswer, type LocalAnswer } from "./respond/index.js";

interface PipelineDeps {
  localEndpoints: Record<string, () => LocalAnswer | Promise<LocalAnswer>>;
  /** Browser sign-in, when identity.login is configured. */
  signIn?: SignIn;
  /** The console (/console/*) for people signed in through the browser. */
  console?: Console;
  identifier: Identifier;
  authorizer: Authorizer;
  upstream: UpstreamClient;
  upstreamCredential?: UpstreamCredential;
  identityAssertion?: IdentityAssertionSigner;
  forwardHeaders: string[];
  audit: AuditSink;
  /** Holds require-approval requests until approvers decide (or answers 202). */
  approvals: ApprovalGate;
  /** The approvals REST API (/portcullis/approvals) for approvers, the CLI and the console. */
  approvalsApi: ApprovalsApi;
  /** Egress routes: outside services the runtime reaches through the gateway (src/egress/). */
  egress: Egress;
  /** Masks bodies, streams and what the ledger stores. */
  masker: Masker;
  /** Originals behind the tokens LangGraph receives under masking.requests: tokenize. */
  vault?: Vault;
  /** A quiet stream releases held text that is no longer a distinctive partial after this long. */
  maskFlushMs: number;
  /** Follows every admitted run to its end for the run record. */
  runs: RunFollower;
  /** Largest recorded response kept per request (the rest is marked truncated). */
  maxRecordingBytes: number;
  /** Adds Portcullis-Audit-Receipt (the request record's position and leaf hash) to responses. */
  receipts: boolean;
  log: Logger;
  cors: CorsSettings;
  /** listen.trusted_proxies: whose X-Forwarded-For / Forwarded is believed. */
  trustedProxies: TrustedProxies;
  maxBodyBytes: number;
  /** limits.max_json_depth: bodies nested deeper are refused while they are read. */
  maxJsonDepth: number;
  /** limits.max_batch_runs: the most runs one /runs/batch may carry. */
  maxBatchRuns: number;
  /** limits.max_headers and limits.max_header_bytes. */
  headerLimits: HeaderLimits;
  maxResponseBytes: number;
  heartbeatMs: number;
  waitKeepaliveMs: number;
  /** Metrics and traces (src/observe/): each stage's end is marked; off unless configured. */
  observe?: Observability;
  /** LangGraph's routes plus routes.custom from the config (LangGraph's alone when absent). */
  routes?: RouteTable;
}

/** The parts of the gateway that answer paths of their own; any other path is LangGraph's. */
type GatewayRoute = "local" | "sign-in" | "console" | "egress" | "approvals-api";

export class RequestPipeline {
  /** Requests in flight, for draining on shutdown. */
  readonly active = new Set<Exchange>();
  /** Set on shutdown: new requests are refused while live ones finish. */
  draining = false;
  /** Refused after a held response had begun (approval denied or expired, shutdown): the
   * client got 200 and an in-band error, so they get a completion record like any response. */
  private readonly endedInBand = new WeakSet<Exchange>();
  /** The routes classify matches: LangGraph's, and those declared under routes.custom. */
  routes: RouteTable;

  /** The record stage: every audit record a request leaves. */
  private readonly recorder: Recorder;

  /** The paths the gateway answers itself, each owned by one part, in the order they are asked. */
  private readonly gatewayRoutes: ReadonlyArray<readonly [GatewayRoute, (exchange: Exchange) => boolean]>;

  constructor(private readonly deps: PipelineDeps) {
    this.routes = deps.routes ?? new RouteTable();
    this.recorder = new Recorder(deps);
    this.gatewayRoutes = [
      // health, readiness, metrics and the like: GET only (other methods are LangGraph's to refuse)
      ["local", ({ req, target }) => req.method === "GET" && Object.hasOwn(deps.localEndpoints, target!.path)],
      ["sign-in", ({ target }) => deps.signIn?.handles(target!.path) === true],
      ["console", ({ target }) => deps.console?.handles(target!.path) === true],
      ["egress", ({ target }) => deps.egress.handles(target!)],
      ["approvals-api", ({ target }) => deps.approvalsApi.handles(target!.path)],
    ];
  }

  /** The approve stage (its hold bound is approvals.hold_max_s). */
  get approvalGate(): ApprovalGate {
    return this.deps.approvals;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const exchange = this.open(req, res);
    const responseHeaders: OutgoingHttpHeaders = { ...corsHeaders(req, this.deps.cors), "x-request-id": exchange.id };
    let upstreamResponse: Dispatcher.ResponseData | undefined;
    try {
      // receive: a bounded head (before any header is trusted), one canonical path, classified
      // and forwarded alike, and no body on a method that takes none
      assertHeaderLimits(req, this.deps.headerLimits);
      exchange.target = parseRequestTarget(req.url);
      // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400 (Node's own answer is
      // turned off so that this one is recorded).
      if (req.httpVersion === "1.1" && req.headers.host === undefined) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: an HTTP/1.1 request needs a Host header.");
      assertNoMethodOverride(req.headers);
      assertNoBodyOnBodylessMethod(req);
      // The gateway's own routes, looked up once; any other path is LangGraph's (classify below).
      const own = this.gatewayRouteOf(exchange);
      // The console is same-origin only: no CORS, so a trusted cross-site origin (Studio) cannot
      // read its pages or their CSRF token with the person's session cookie.
      if (own === "console") {
        if (isPreflight(req)) throw new GatewayError(403, "PC_FORBIDDEN", "Refused: the console is not available cross-origin.");
        for (const name of Object.keys(responseHeaders)) if (name.startsWith("access-control-")) delete responseHeaders[name];
      }
      if (this.draining) throw new GatewayError(503, "PC_SHUTTING_DOWN", "Refused: Portcullis is shutting down; retry shortly.");
      if (isPreflight(req)) return await this.answerLocally(exchange, this.preflight(req), responseHeaders, "gateway:local-endpoint");
      if (own === "local") return await this.answerLocally(exchange, await this.deps.localEndpoints[exchange.target.path]!(), responseHeaders, "gateway:local-endpoint");
      // authenticate: a person signing in through the browser (/auth/*) is answered here
      if (own === "sign-in") return await this.answerLocally(exchange, await this.deps.signIn!.answer(exchange), responseHeaders, "gateway:sign-in");
      // the console: pages for people signed in (src/console/), each one recorded
      if (own === "console") return await this.answerLocally(exchange, await this.deps.console!.answer(exchange), responseHeaders, "gateway:console");
      // identify: credentials are checked before any body is read
      this.deps.observe?.stage(exchange, "receive");
      exchange.identifyAttempted = true;
      exchange.identity = await this.deps.identifier.identify(req);
      await this.deps.authorizer.limitRate(exchange.identity);
      this.deps.observe?.stage(exchange, "identify");
      if (own === "egress") return await this.forwardEgress(exchange, responseHeaders);
      // The gateway's own API for approvers: identified like any caller, answered here.
      if (own === "approvals-api") {
        const body = await readJsonBody(req, this.deps.maxBodyBytes, this.deps.maxJsonDepth);
        exchange.bytesIn = body.bytes;
        this.deps.identifier.confirmSessionIntent(req, exchange.identity, req.method !== "GET" && req.method !== "HEAD");
        return await this.answerLocally(exchange, await this.deps.approvalsApi.answer(exchange, body.json), responseHeaders, "gateway:approvals-api");
      }
      // classify: route first (unknown routes never get their body read), then the body
      const route = this.routes.match(req.method ?? "", exchange.target);
      assertRouteReadsBody(req, route.spec);
      const body = await readJsonBody(req, this.deps.maxBodyBytes, this.deps.maxJsonDepth);
      exchange.bytesIn = body.bytes;
      exchange.operation = classifyOperation(route, exchange.target, body.json, this.deps.maxBatchRuns);
      // A /runs/batch takes a rate-limit token per run (the first was taken at identify).
      await this.deps.authorizer.limitRunRate(exchange.identity, exchange.operation);
      this.deps.identifier.confirmSessionIntent(req, exchange.identity, exchange.operation.risk !== "read");
      this.deps.observe?.stage(exchange, "classify");
      // authorize: policy decides, with the facts it looks up; then the body gets its stamps
      const authorizationRequest: AuthorizationRequest = {
        requestId: exchange.id,
        identity: exchange.identity,
        operation: exchange.operation,
        target: exchange.target,
        method: req.method ?? "",
        sourceAddress: exchange.clientAddress,
        body: body.json,
      };
      const authorization = await this.deps.authorizer.authorize(authorizationRequest);
      exchange.decision = authorization.decision;
      exchange.resources = {
        graphs: authorization.facts.graphs,
        ...(authorization.facts.thread ? { thread_owner: authorization.facts.thread.owner ?? null } : {}),
        ...(authorization.facts.callerTenant !== undefined ? { tenant: authorization.facts.callerTenant } : {}),
      };
      const refusal = refusalFor(authorization.decision, authorizationRequest);
      if (refusal) throw refusal;
      // Records name the graphs a run reaches even when no rule needed them, so evidence filtered
      // by graph (export --graph, the report) holds the request that started it.
      if (exchange.operation.creates_run && exchange.resources.graphs.length === 0 && exchange.operation.assistant_ids.length > 0) {
        exchange.resources.graphs = await this.graphsForRecord(exchange);
      }
      exchange.rewrites = this.deps.authorizer.prepareBody(authorizationRequest, authorization);
      let rewritten = exchange.rewrites.created ?? body.json;
      let reserialise = exchange.rewrites.added.length + exchange.rewrites.removed.length > 0;
      // A thread created without an id gets one here when values are tokenised: the tokens in its
      // metadata then belong to the thread, and its owner reads them back on every later request.
      const tokenizes = authorization.policy.requestMasking === "tokenize" && this.deps.vault !== undefined && exchange.operation.request_body !== "mask";
      if (tokenizes && exchange.operation.route === "threads.create" && isObject(rewritten) && rewritten.thread_id === undefined) {
        rewritten = { ...rewritten, thread_id: randomUUID() };
        reserialise = true;
      }
      let forwardedBody = reserialise ? JSON.stringify(rewritten) : body.forwarded;
      if (exchange.rewrites.removed.length > 0) responseHeaders["portcullis-removed"] = exchange.rewrites.removed.join(", ");
      this.deps.observe?.stage(exchange, "authorize");
      // mask (request): the stored copy always, what LangGraph receives when the policy says so
      const policy = authorization.policy;
      exchange.masking = {
        clearResponses: policy.seesClearResponses(exchange.identity),
        // A custom route declared with body: mask is masked for LangGraph whatever the policy says.
        maskRequests: policy.masksRequests || exchange.operation.request_body === "mask",
        // Without a vault, tokenize masks all the same: a value is never forwarded unprotected.
        tokenized: tokenizes,
        request: {},
        response: new MaskingTally(),
      };
      const vaultScope = this.vaultScope(exchange, rewritten);
      let tokenized: TokenEntry[] = [];
      let maskedBody: string | undefined;
      if (forwardedBody !== undefined) {
        const masked = this.maskRequestBody(forwardedBody);
        maskedBody = masked.text;
        exchange.masking.request = masked.redactions;
        exchange.requestBody = maskedPayload(masked, this.deps.masker.name);
        if (exchange.masking.maskRequests && Object.keys(masked.redactions).length > 0) {
          // tokenize: LangGraph gets a token per value, the vault keeps the original
          if (exchange.masking.tokenized) {
            ({ text: forwardedBody, entries: tokenized } = await this.tokenizeRequestBody(forwardedBody, vaultScope));
          } else {
            forwardedBody = masked.text;
          }
        }
      }
      if (exchange.masking.tokenized) await this.prepareRestore(exchange, vaultScope, tokenized, policy.restoresFor(exchange.identity), authorization.facts.thread?.owner);
      if (exchange.masking.clearResponses) responseHeaders["portcullis-masking"] = "clear";
      this.deps.observe?.stage(exchange, "mask");
      // approve: a request the policy puts behind approval waits for it (held open, or 202)
      if (authorization.decision.effect === "require-approval") {
        const outcome = await this.deps.approvals.admit(exchange, { decision: authorization.decision, clientBody: body.json, clientBodyText: body.forwarded, maskedBody, headers: responseHeaders });
        if ("answered" in outcome) {
          exchange.approval = outcome.answered;
          return await this.answerAsked(exchange, { status: outcome.status, json: outcome.json, headers: outcome.headers }, responseHeaders);
        }
        exchange.approval = outcome.go;
        this.deps.observe?.stage(exchange, "approve");
      }
      // record (admit): written before anything is forwarded; no record, no request
      exchange.recording = new ResponseRecording(exchange.startedAt, this.deps.maxRecordingBytes);
      const receipt = await this.recorder.admitted(exchange);
      if (this.deps.receipts) responseHeaders["portcullis-audit-receipt"] = `${receipt.seq} ${receipt.leafHash.toString("base64")}`;
      this.deps.observe?.stage(exchange, "admit");
      // forward: the inspected JSON, re-serialised, is what LangGraph receives (duplicate keys resolved once)
      const assertion = this.deps.identityAssertion;
      upstreamResponse = await this.deps.upstream.send({
        method: req.method!,
        pathAndQuery: `${exchange.target.path}${exchange.target.search}`,
        headers: upstreamRequestHeaders(req.headers, {
          forwardHeaders: this.deps.forwardHeaders,
          credential: this.deps.upstreamCredential,
          identityAssertion: assertion && {
            header: assertion.header,
            value: await assertion.sign(exchange.identity, exchange.id, { ...(exchange.decision.scope ? { scope: exchange.decision.scope } : {}), ...(exchange.resources?.tenant ? { tenant: exchange.resources.tenant } : {}) }),
          },
          runContext: await this.runContext(exchange),
          traceContext: this.deps.observe?.forwarding(exchange),
          requestId: exchange.id,
          hasBody: forwardedBody !== undefined,
        }),
        body: forwardedBody,
        signal: exchange.upstreamAbort.signal,
      });
      exchange.upstreamStatus = upstreamResponse.statusCode;
      this.deps.observe?.forwarded(exchange, upstreamResponse.statusCode);
      exchange.upstreamHeadersMs = elapsedMs(exchange);
      noteRunLocation(exchange, upstreamResponse.headers["content-location"]);
      if (exchange.operation?.creates_run && exchange.runId) await this.deps.runs.started(followedRunOf(exchange));
      // respond
      await relayResponse(exchange, upstreamResponse, {
        upstreamUrl: this.deps.upstream.url,
        heartbeatMs: this.deps.heartbeatMs,
        waitKeepaliveMs: this.deps.waitKeepaliveMs,
        maxResponseBytes: this.deps.maxResponseBytes,
        extraHeaders: responseHeaders,
        masker: this.deps.masker,
        flushMs: this.deps.maskFlushMs,
      });
      this.deps.observe?.relayed(exchange);
    } catch (error) {
      await this.refuse(exchange, error, responseHeaders);
    } finally {
      // An upstream body left unread (a relay that failed early) would hold a pool connection.
      if (upstreamResponse && !upstreamResponse.body.readableEnded) upstreamResponse.body.destroy();
      // record (complete)
      await this.recorder.completed(exchange, this.endedInBand.has(exchange));
      this.deps.observe?.finish(exchange);
      this.active.delete(exchange);
    }
  }

  /** An egress call, after identify: classify → link its run → authorize → receive → mask
   * (request) → record (admit) → forward with the route's credential → respond (mask, scrub the
   * credential) → record (complete, in handle). */
  private async forwardEgress(exchange: Exchange, responseHeaders: OutgoingHttpHeaders): Promise<void> {
    const { egress } = this.deps;
    const req = exchange.req;
    const identity = exchange.identity!;
    // classify: the route, and whether its methods and paths allow this call
    const call = egress.classify(req.method ?? "", exchange.target!);
    exchange.operation = call.operation;
    exchange.scrubber = call.scrubber;
    exchange.egress = { route: call.route.name, path: this.recorder.recorded(call.path) };
    // link: the run the call serves and who started it, from the token the graph forwards
    const run = await egress.linkRun(req.headers, call);
    if (run) exchange.egress.run = run;
    exchange.resources = { graphs: run?.graphs ?? [] };
    this.deps.identifier.confirmSessionIntent(req, identity, true);
    this.deps.observe?.stage(exchange, "classify");
    // An agent-protocol route (MCP, A2A) is authorised per JSON-RPC message: its body first.
    const protocol = call.route.config.protocol;
    const early = protocol === "http" ? undefined : await egress.readBody(req, call);
    const message = early && protocol !== "http" ? egressMessage(protocol, call.route.name, early.json) : undefined;
    if (message) {
      exchange.egress.message = { method: message.method, ...(message.tool !== undefined ? { tool: this.recorder.recorded(message.tool) } : {}) };
      call.operation.risk_reasons.push(message.tool !== undefined ? `tools/call ${message.tool}` : message.method);
    }
    // authorize: policy must allow egress:call on this route (deny by default), then its rate
    const request = { identity, operation: call.operation, target: exchange.target!, method: req.method ?? "", sourceAddress: exchange.clientAddress, body: undefined };
    const authorization = this.deps.authorizer.authorizeEgress(request, call.route.name, exchange.resources.graphs, protocol === "mcp" ? { ...(message?.tool !== undefined ? { tool: message.tool } : {}) } : undefined);
    exchange.decision = authorization.decision;
    if (authorization.decision.effect !== "allow") {
      const what = message?.tool !== undefined ? `tool '${message.tool}' on egress route` : "egress route";
      throw new GatewayError(403, "PC_FORBIDDEN", `Refused: ${authorization.decision.reason ?? "not allowed"} on ${what} '${call.route.name}' (rule ${authorization.decision.rule}).`, { identity });
    }
    await egress.limitRate(call, identity);
    this.deps.observe?.stage(exchange, "authorize");
    // receive: JSON within the route's limit
    const body = early ?? (await egress.readBody(req, call));
    exchange.bytesIn = body.bytes;
    // mask (request): the stored copy always, what the downstream receives when the route says so
    const masking = call.route.config.masking;
    exchange.masking = { clearResponses: masking.responses === "clear", maskRequests: masking.requests === "mask", request: {}, response: new MaskingTally() };
    let forwardedBody = body.forwarded;
    if (forwardedBody !== undefined) {
      const masked = this.maskRequestBody(forwardedBody);
      exchange.masking.request = masked.redactions;
      exchange.requestBody = maskedPayload(masked, this.deps.masker.name);
      if (exchange.masking.maskRequests) forwardedBody = masked.text;
      // restore: the originals of the route's entity types, from the run's own thread and tenant
      if (run && call.route.config.restore.length > 0) forwardedBody = await this.restoreForEgress(exchange, forwardedBody, run, call.route.config.restore);
    }
    this.deps.observe?.stage(exchange, "mask");
    // record (admit)
    exchange.recording = new ResponseRecording(exchange.startedAt, this.deps.maxRecordingBytes);
    const receipt = await this.recorder.admitted(exchange);
    if (this.deps.receipts) responseHeaders["portcullis-audit-receipt"] = `${receipt.seq} ${receipt.leafHash.toString("base64")}`;
    this.deps.observe?.stage(exchange, "admit");
    // forward: the client's credentials stripped, the route's added
    const answer = await egress.send(call, {
      method: req.method!,
      headers: egress.downstreamHeaders(req.headers, call, forwardedBody !== undefined),
      body: forwardedBody,
      signal: exchange.upstreamAbort.signal,
    });
    try {
      exchange.upstreamStatus = answer.statusCode;
      this.deps.observe?.forwarded(exchange, answer.statusCode);
      exchange.upstreamHeadersMs = elapsedMs(exchange);
      egress.confineLocations(call, answer);
      // respond: masked as it streams, the credential scrubbed before masking sees it
      await relayResponse(exchange, answer, {
        upstreamUrl: call.route.url,
        heartbeatMs: this.deps.heartbeatMs,
        waitKeepaliveMs: this.deps.waitKeepaliveMs,
        maxResponseBytes: call.route.config.max_response_bytes,
        extraHeaders: responseHeaders,
        masker: this.deps.masker,
        flushMs: this.deps.maskFlushMs,
        // A provider's token deltas are held back per choice, output or content block.
        streamMasker: (masker, tally) => new ProviderStreamMasker(masker, tally),
        serverName: call.route.serverName,
      });
    } finally {
      if (!answer.body.readableEnded) answer.body.destroy();
    }
  }

  /** The graphs a run request names: a graph name as assistant id is its own graph (LangGraph's
   * system assistant); a UUID is looked up (cached). Only for the record, so a failed lookup
   * leaves the record without it rather than failing a request no rule refused. */
  private async graphsForRecord(exchange: Exchange): Promise<string[]> {
    const ids = exchange.operation!.assistant_ids;
    const graphs = ids.filter((id) => !ASSISTANT_UUID.test(id));
    const uuids = ids.filter((id) => ASSISTANT_UUID.test(id));
    if (uuids.length > 0) {
      try {
        graphs.push(...(await this.deps.authorizer.graphsOf(uuids, exchange.id)));
      } catch (error) {
        exchange.log.warn({ err: error }, "the graph of a run's assistant could not be looked up for its record");
      }
    }
    return [...new Set(graphs)];
  }

  /** For a request that starts or resumes a run, with egress routes configured: the token that
   * links the run's egress calls to it (LangGraph copies the header into config.configurable). */
  private async runContext(exchange: Exchange): Promise<{ header: string; value: string } | undefined> {
    const operation = exchange.operation;
    if (!operation?.creates_run || !exchange.identity || !this.deps.egress.enabled) return undefined;
    // Policy looks graphs up only when a rule names them; the run's egress calls need them anyway.
    let graphs = exchange.resources?.graphs ?? [];
    if (graphs.length === 0 && operation.assistant_ids.length > 0) graphs = await this.deps.authorizer.graphsOf(operation.assistant_ids, exchange.id);
    const token = await this.deps.egress.runContextFor({
      request_id: exchange.id,
      subject: exchange.identity.subject,
      ...(operation.ids.thread_id ? { thread_id: operation.ids.thread_id } : {}),
      ...(exchange.resources?.tenant ? { tenant: exchange.resources.tenant } : {}),
      graphs,
    });
    return token === undefined ? undefined : { header: RUN_CONTEXT_UPSTREAM_HEADER, value: token };
  }

  /** A CORS preflight, answered for an allowed origin and refused for any other. */
  private preflight(req: IncomingMessage): LocalAnswer {
    const headers = preflightHeaders(req, this.deps.cors);
    if (!headers) throw new GatewayError(403, "PC_FORBIDDEN", "Refused: this origin is not in cors.allow_origins.");
    return { status: 204, headers };
  }

  /** Which of the gateway's own parts answers this request (GATEWAY_ROUTES order), if one does. */
  private gatewayRouteOf(exchange: Exchange): GatewayRoute | undefined {
    return this.gatewayRoutes.find(([, owns]) => owns(exchange))?.[0];
  }

  private async answerLocally(exchange: Exchange, answer: LocalAnswer, headers: OutgoingHttpHeaders, rule: string): Promise<void> {
    exchange.localRoute = rule;
    if (answer.identity) exchange.identity = answer.identity;
    await this.recorder.answered(exchange, rule, answer);
    exchange.bytesOut = sendLocalAnswer(exchange.res, answer, headers);
  }

  /** A request answered 202 while it waits for approval: one request record, nothing forwarded. */
  private async answerAsked(exchange: Exchange, answer: LocalAnswer, headers: OutgoingHttpHeaders): Promise<void> {
    await this.recorder.asked(exchange, answer.status);
    exchange.bytesOut = sendLocalAnswer(exchange.res, answer, headers);
  }

  /** A request refused before the pipeline runs (an Expect the gateway does not meet): answered
   * and recorded like any refusal. */
  async refuseRequest(req: IncomingMessage, res: ServerResponse, error: GatewayError): Promise<void> {
    const exchange = this.open(req, res);
    try {
      exchange.target = parseRequestTarget(req.url);
    } catch {
      // the refusal stands; the record keeps the raw target
    }
    try {
      await this.refuse(exchange, error, { "x-request-id": exchange.id });
    } finally {
      this.deps.observe?.finish(exchange);
      this.active.delete(exchange);
    }
  }

  /** Refusals below the pipeline (protocol upgrades, HTTP the parser rejects) still leave a
   * record. The socket may be reset at any moment, so it gets its own error listener and a
   * deadline, and is destroyed once the answer is written. */
  async refuseConnection(req: IncomingMessage | undefined, socket: Socket, error: GatewayError): Promise<void> {
    socket.on("error", () => undefined);
    // Exchanges still being answered on this connection (several when requests were pipelined).
    const pending = [...this.active].filter((exchange) => exchange.req.socket === socket && !exchange.res.writableFinished);
    // A request whose body was still arriving owns the error (a slow or broken body): the
    // connection is closed, so that request fails and is recorded as such, and nothing waits.
    const bodyError = pending.some((exchange) => !exchange.req.complete);
    // Otherwise an answer written now would take the place of an answer in flight: the client
    // would read this refusal as that request's answer (and might retry a create that
    // succeeded). The refusal is recorded, not sent, and the connection closes once every
    // answer on it is sent.
    const answerInFlight = pending.length > 0 && !bodyError;
    if (answerInFlight) closeWhenAnswered(socket, pending);
    else socket.setTimeout(5_000, () => socket.destroy());
    if (bodyError) socket.destroy();
    const id = randomUUID();
    const client = req ? this.deps.trustedProxies.resolve(req) : { address: this.deps.trustedProxies.peerAddress(socket) };
    const notSent = answerInFlight ? " Not sent: an answer was in flight on the connection, which was closed after it." : bodyError ? " Not sent: the connection was closed." : "";
    await this.recorder.connectionRefused({ id, req, clientAddress: client.address, error, notSent });
    this.deps.log.info({ request_id: id, status: error.status, error: error.code }, "connection refused");
    metrics()?.refusals.inc({ code: error.code, status: String(error.status) });
    if (answerInFlight || bodyError) return;
    if (socket.writable) {
      const body = JSON.stringify(error.toJSON(id));
      socket.write(
        `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\n${ERROR_CODE_HEADER}: ${error.code}\r\nconnection: close\r\n\r\n${body}`,
      );
      socket.destroySoon();
    } else {
      socket.destroy();
    }
  }

  private open(req: IncomingMessage, res: ServerResponse): Exchange {
    const client = this.deps.trustedProxies.resolve(req);
    const id = randomUUID();
    const exchange: Exchange = {
      id,
      req,
      res,
      startedAt: performance.now(),
      clientAddress: client.address,
      ...(client.forwardedAsSent !== undefined ? { forwarded: { as_sent: client.forwardedAsSent, believed: client.forwardedBelieved === true } } : {}),
      // Every log line of the exchange carries its request id (and, once traced, its trace id).
      log: this.deps.log.child({ request_id: id }),
      bytesIn: 0,
      bytesOut: 0,
      events: {},
      upstreamAbort: new AbortController(),
      clientGone: false,
      shuttingDown: false,
      outcome: "ok",
    };
    res.once("close", () => {
      if (res.writableFinished) return;
      exchange.clientGone = true;
      if (exchange.outcome === "ok") exchange.outcome = "client_aborted";
      // Release the upstream at once, whatever stage the request is in, unless it is a run the
      // client wants to outlive its connection (the record then follows it to the end).
      if (!runOutlivesClient(exchange)) exchange.upstreamAbort.abort();
    });
    this.active.add(exchange);
    this.deps.observe?.begin(exchange);
    return exchange;
  }

  /** A refusal before forwarding is one request record; a failure after it ends the exchange. */
  private async refuse(exchange: Exchange, error: unknown, headers: OutgoingHttpHeaders): Promise<void> {
    const gatewayError = toGatewayError(error, exchange);
    exchange.error = gatewayError.code;
    if (exchange.approvalId && !exchange.approval) exchange.approval = { via: "asked", approval_id: exchange.approvalId };
    if (gatewayError.status >= 500 && gatewayError.cause) {
      const level = gatewayError.code === "PC_INTERNAL" ? "error" : "warn";
      exchange.log[level]({ err: gatewayError.cause, error: gatewayError.code }, "request failed");
    }
    if (!exchange.admitted) {
      await this.recorder.refused(exchange, gatewayError);
      if (exchange.res.headersSent && exchange.masking) {
        this.endedInBand.add(exchange);
        if (gatewayError.code === "PC_SHUTTING_DOWN" && exchange.outcome === "ok") exchange.outcome = "shutdown";
      } else if (!exchange.req.complete) {
        // The body of a refused request is not read; close the connection rather than drain it.
        exchange.res.setHeader("connection", "close");
      }
    } else if (exchange.outcome === "ok") {
      exchange.outcome = gatewayError.code === "PC_SHUTTING_DOWN" ? "shutdown" : gatewayError.code === "PC_CLIENT_CLOSED" ? "client_aborted" : "upstream_failed";
    }
    sendGatewayError(exchange, gatewayError, headers);
  }

  /** Request bodies are scanned whole before anything is stored or forwarded; one that cannot
   * be scanned is refused, never passed on. */
  private maskRequestBody(text: string) {
    try {
      return this.deps.masker.mask(text);
    } catch (error) {
      if (!(error instanceof MaskingError)) throw error;
      throw new GatewayError(422, "PC_MASKING_FAILED", `Refused: the request body could not be scanned for PII and secrets (${error.message}).`, { cause: error });
    }
  }

  /** Where the values of a request belong in the vault: the caller's tenant, the thread the
   * request names (in its path or a threads.create body) or, without one, the request alone. */
  private vaultScope(exchange: Exchange, body: unknown): VaultScope {
    const operation = exchange.operation;
    const thread = operation ? threadIdOf(operation, body) : undefined;
    // A store item is written and read by its namespace: its values belong there.
    const namespace = operation && STORE_ITEM_ROUTES.has(operation.route) ? operation.namespace : undefined;
    const scope = thread ? `thread:${thread}` : namespace ? `store:${JSON.stringify(namespace)}` : `request:${exchange.id}`;
    return { tenant: exchange.resources?.tenant ?? "", scope, subject: exchange.identity?.subject ?? "" };
  }

  /** Each detected value becomes its scope's token; the originals are kept (encrypted) before
   * anything is forwarded, so every token LangGraph holds can be restored. */
  private async tokenizeRequestBody(text: string, scope: VaultScope): Promise<{ text: string; entries: TokenEntry[] }> {
    const vault = this.deps.vault!;
    const tokenizer = vault.tokenizer(this.deps.masker, scope);
    let tokenized: string;
    try {
      tokenized = tokenizer.masker.mask(text).text;
    } catch (error) {
      if (!(error instanceof MaskingError)) throw error;
      throw new GatewayError(422, "PC_MASKING_FAILED", `Refused: the request body could not be scanned for PII and secrets (${error.message}).`, { cause: error });
    }
    const entries = [...tokenizer.entries.values()];
    try {
      await vault.keep(scope, entries);
    } catch (error) {
      throw new GatewayError(503, "PC_VAULT_UNAVAILABLE", "Refused: the originals of the request's tokens could not be kept in the vault, so the request was not forwarded.", { cause: error });
    }
    return { text: tokenized, entries };
  }

  /** Which tokens this caller gets back as values (policy masking.restore_for): every one in the
   * scope, or by default those the caller sent, and all of them on a thread the caller owns. */
  private async prepareRestore(exchange: Exchange, scope: VaultScope, tokenized: TokenEntry[], allowed: "all" | "own" | "none", threadOwner: string | undefined): Promise<void> {
    if (allowed === "none" || !exchange.identity) return;
    const subject = exchange.identity.subject;
    // A request's own scope (a stateless run, a search) holds only what it just tokenised; what
    // its answer holds from other scopes (a search's threads and store items) is looked up by
    // token once the answer is read. Only values the caller sent itself come back: a token is
    // text anyone can copy into a store item or a run, so "every value" (restore_for) stays
    // bound to a thread the caller reads. A token that stands for two values (tokens are unique
    // per scope, not across scopes) stays a token.
    if (scope.scope.startsWith("request:")) {
      const limits = this.deps.masker.limits;
      const masker = restoringMasker(tokenized, limits);
      if (masker) exchange.masking!.restore = { masker, restored: new MaskingTally() };
      const vault = this.deps.vault!;
      exchange.masking!.restoreFromVault = async (tokens) => {
        const own = (await vault.valuesWithTokens(scope.tenant, tokens)).filter((value) => value.subject === subject);
        return restoringMasker([...tokenized, ...unambiguous(own)], limits);
      };
      return;
    }
    let values: KeptValue[];
    try {
      values = await this.deps.vault!.valuesOf(scope.tenant, scope.scope);
    } catch (error) {
      // Without the vault the caller gets tokens, which is safe; the failure is logged.
      exchange.log.warn({ err: error }, "vault could not be read; tokens are not restored");
      return;
    }
    const own = allowed === "all" || (threadOwner !== undefined && threadOwner === subject) ? values : values.filter((value) => value.subject === subject);
    const masker = restoringMasker(own, this.deps.masker.limits);
    if (masker) exchange.masking!.restore = { masker, restored: new MaskingTally() };
  }

  /** An egress call's body with the vault's tokens of the route's entity types (egress.routes.
   * <name>.restore) turned back into their originals: only tokens kept for the run's own thread
   * (or, for a stateless run, the request that started it) in the run's tenant, so a token from
   * another thread or tenant stays a token. Secrets are never tokenised, so never restored. The
   * recording keeps the tokens; the restorations are counted in the call's request record. */
  private async restoreForEgress(exchange: Exchange, body: string, run: RunLink, entities: readonly string[]): Promise<string> {
    if (!this.deps.vault) return body;
    const scope = run.thread_id ? `thread:${run.thread_id}` : `request:${run.request_id}`;
    const wanted = new Set(entities);
    let values: KeptValue[];
    try {
      values = (await this.deps.vault.valuesOf(run.tenant ?? "", scope)).filter((value) => wanted.has(value.entity));
    } catch (error) {
      throw new GatewayError(503, "PC_VAULT_UNAVAILABLE", "Refused: the vault could not be read to restore the values this egress route receives, so the call was not sent.", { cause: error });
    }
    const restorer = restoringMasker(values, this.deps.masker.limits);
    if (!restorer) return body;
    const result = restoreWhole(restorer, body);
    if (Object.keys(result.restored).length > 0) exchange.masking!.restoredDownstream = result.restored;
    return result.text;
  }

}

/** The values whose token stands for one value only. */
function unambiguous(values: readonly KeptValue[]): KeptValue[] {
  const byToken = new Map<string, KeptValue[]>();
  for (const value of values) byToken.set(value.token, [...(byToken.get(value.token) ?? []), value]);
  return [...byToken.values()].filter((same) => new Set(same.map((value) => value.value)).size === 1).map((same) => same[0]!);
}

/** LangGraph answers a run create with Content-Location /threads/{thread}/runs/{run} (or
 * /runs/{run} when stateless), whatever the response kind: the run the gateway follows. */
function noteRunLocation(exchange: Exchange, header: string | string[] | undefined): void {
  if (!exchange.operation?.creates_run || typeof header !== "string") return;
  const match = /^\/(?:threads\/([0-9a-f-]{36})\/)?runs\/([0-9a-f-]{36})$/i.exec(header);
  if (!match) return;
  exchange.runId ??= match[2];
  if (match[1]) exchange.threadId ??= match[1];
}

function toGatewayError(error: unknown, exchange: Exchange): GatewayError {
  if (error instanceof GatewayError) return error;
  if (exchange.shuttingDown) return new GatewayError(503, "PC_SHUTTING_DOWN", "Portcullis is shutting down; retry shortly.");
  if (exchange.clientGone) return new GatewayError(499, "PC_CLIENT_CLOSED", "The client closed the connection before the response was complete.");
  return new GatewayError(500, "PC_INTERNAL", "Portcullis failed to handle the request; the failure is logged with this request id.", { cause: error });
}

/** Closes the connection once every answer still pending on it has been sent (or abandoned). */
function closeWhenAnswered(socket: Socket, pending: Exchange[]): void {
  let left = pending.length;
  const done = () => {
    left -= 1;
    if (left === 0) socket.destroySoon();
  };
  for (const exchange of pending) {
    let counted = false;
    const once = () => {
      if (counted) return;
      counted = true;
      done();
    };
    exchange.res.once("finish", once);
    exchange.res.once("close", once);
  }
}

const ASSISTANT_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Store routes that name one namespace: the values they write and read are kept under it. */
const STORE_ITEM_ROUTES: ReadonlySet<string> = new Set(["store.put", "store.get", "store.delete"]);
