// The LangGraph server as a request's destination: its routes classify the request, the policy
// authorizes it and says how it is masked, and the one upstream client forwards it.
import { randomUUID } from "node:crypto";
import type { Dispatcher } from "undici";
import { refusalFor, type AuthorizationRequest, type Authorizer } from "../authorize/index.js";
import { classifyOperation } from "../classify/index.js";
import { RUN_CONTEXT_UPSTREAM_HEADER } from "../egress/index.js";
import type { Exchange } from "../exchange.js";
import { upstreamRequestHeaders } from "../forward/index.js";
import { isObject } from "../jsonText.js";
import { MaskingTally, type TokenEntry } from "../mask/index.js";
import { assertRouteReadsBody, readJsonBody } from "../receive/index.js";
import { followedRunOf, maskedPayload } from "../record/index.js";
import type { Destination, Flight, StageContext } from "./flight.js";
import { maskRequestBody, prepareRestore, tokenizeRequestBody, vaultScope } from "./maskRequest.js";

type Authorization = Awaited<ReturnType<Authorizer["authorize"]>>;

export class ToLangGraph implements Destination {
  private readonly exchange: Exchange;
  private authorization?: Authorization;

  constructor(
    private readonly flight: Flight,
    private readonly gateway: StageContext,
  ) {
    this.exchange = flight.exchange;
  }

  relaySettings() {
    return { upstreamUrl: this.gateway.deps.upstream.url, maxResponseBytes: this.gateway.deps.maxResponseBytes };
  }

  /** Route first (unknown routes never get their body read), then the body. */
  async classify(): Promise<void> {
    const { deps, routes } = this.gateway;
    const { exchange } = this;
    const req = exchange.req;
    const route = routes.match(req.method ?? "", exchange.target!);
    assertRouteReadsBody(req, route.spec);
    const body = await readJsonBody(req, deps.maxBodyBytes, deps.maxJsonDepth);
    this.flight.body = body;
    exchange.bytesIn = body.bytes;
    exchange.operation = classifyOperation(route, exchange.target!, body.json, deps.maxBatchRuns);
    // A /runs/batch takes a rate-limit token per run (the first was taken at identify).
    await deps.authorizer.limitRunRate(exchange.identity!, exchange.operation);
    deps.identifier.confirmSessionIntent(req, exchange.identity!, exchange.operation.risk !== "read");
  }

  /** Policy decides, with the facts it looks up; then the body gets its stamps. */
  async authorize(): Promise<void> {
    const { deps } = this.gateway;
    const { exchange, flight } = this;
    const request: AuthorizationRequest = {
      requestId: exchange.id,
      identity: exchange.identity!,
      operation: exchange.operation!,
      target: exchange.target!,
      method: exchange.req.method ?? "",
      sourceAddress: exchange.clientAddress,
      body: flight.body!.json,
    };
    const authorization = await deps.authorizer.authorize(request);
    this.authorization = authorization;
    exchange.decision = authorization.decision;
    exchange.resources = {
      graphs: authorization.facts.graphs,
      ...(authorization.facts.thread ? { thread_owner: authorization.facts.thread.owner ?? null } : {}),
      ...(authorization.facts.callerTenant !== undefined ? { tenant: authorization.facts.callerTenant } : {}),
    };
    const refusal = refusalFor(authorization.decision, request);
    if (refusal) throw refusal;
    // Records name the graphs a run reaches even when no rule needed them, so evidence filtered
    // by graph (export --graph, the report) holds the request that started it.
    if (exchange.operation!.creates_run && exchange.resources.graphs.length === 0 && exchange.operation!.assistant_ids.length > 0) {
      exchange.resources.graphs = await this.graphsForRecord();
    }
    exchange.rewrites = deps.authorizer.prepareBody(request, authorization);
    if (exchange.rewrites.removed.length > 0) flight.responseHeaders["portcullis-removed"] = exchange.rewrites.removed.join(", ");
  }

  /** The stored copy always masked; what LangGraph receives masked or tokenised when the policy
   * says so. */
  async maskRequest(): Promise<void> {
    const { deps } = this.gateway;
    const { exchange, flight } = this;
    const { policy, facts } = this.authorization!;
    const rewrites = exchange.rewrites!;
    let rewritten = rewrites.created ?? flight.body!.json;
    let reserialise = rewrites.added.length + rewrites.removed.length > 0;
    // A thread created without an id gets one here when values are tokenised: the tokens in its
    // metadata then belong to the thread, and its owner reads them back on every later request.
    const vault = deps.vault;
    const tokenizes = policy.requestMasking === "tokenize" && vault !== undefined && exchange.operation!.request_body !== "mask";
    if (tokenizes && exchange.operation!.route === "threads.create" && isObject(rewritten) && rewritten.thread_id === undefined) {
      rewritten = { ...rewritten, thread_id: randomUUID() };
      reserialise = true;
    }
    let forwardedBody = reserialise ? JSON.stringify(rewritten) : flight.body!.forwarded;
    exchange.masking = {
      clearResponses: policy.seesClearResponses(exchange.identity!),
      // A custom route declared with body: mask is masked for LangGraph whatever the policy says.
      maskRequests: policy.masksRequests || exchange.operation!.request_body === "mask",
      // Without a vault, tokenize masks all the same: a value is never forwarded unprotected.
      tokenized: tokenizes,
      request: {},
      response: new MaskingTally(),
    };
    const scope = vaultScope(exchange, rewritten);
    let tokenized: TokenEntry[] = [];
    if (forwardedBody !== undefined) {
      const masked = maskRequestBody(deps.masker, forwardedBody);
      flight.maskedBody = masked.text;
      exchange.masking.request = masked.redactions;
      exchange.requestBody = maskedPayload(masked, deps.masker.name);
      if (exchange.masking.maskRequests && Object.keys(masked.redactions).length > 0) {
        // tokenize: LangGraph gets a token per value, the vault keeps the original
        if (tokenizes) ({ text: forwardedBody, entries: tokenized } = await tokenizeRequestBody(vault!, deps.masker, forwardedBody, scope));
        else forwardedBody = masked.text;
      }
    }
    flight.forwardedBody = forwardedBody;
    if (tokenizes) await prepareRestore(exchange, { vault: vault!, masker: deps.masker }, scope, tokenized, policy.restoresFor(exchange.identity!), facts.thread?.owner);
    if (exchange.masking.clearResponses) flight.responseHeaders["portcullis-masking"] = "clear";
  }

  /** The inspected JSON, re-serialised, is what LangGraph receives (duplicate keys resolved once),
   * with the gateway's credential and identity assertion in place of the client's. */
  async send(): Promise<Dispatcher.ResponseData> {
    const { deps } = this.gateway;
    const { exchange, flight } = this;
    const assertion = deps.identityAssertion;
    return deps.upstream.send({
      method: exchange.req.method!,
      pathAndQuery: `${exchange.target!.path}${exchange.target!.search}`,
      headers: upstreamRequestHeaders(exchange.req.headers, {
        forwardHeaders: deps.forwardHeaders,
        credential: deps.upstreamCredential,
        identityAssertion: assertion && {
          header: assertion.header,
          value: await assertion.sign(exchange.identity!, exchange.id, { ...(exchange.decision!.scope ? { scope: exchange.decision!.scope } : {}), ...(exchange.resources?.tenant ? { tenant: exchange.resources.tenant } : {}) }),
        },
        runContext: await this.runContext(),
        traceContext: deps.observe?.forwarding(exchange),
        requestId: exchange.id,
        hasBody: flight.forwardedBody !== undefined,
      }),
      body: flight.forwardedBody,
      signal: exchange.upstreamAbort.signal,
    });
  }

  /** A run the request started is followed to its end, for the run record. */
  async received(answer: Dispatcher.ResponseData): Promise<void> {
    const { exchange } = this;
    noteRunLocation(exchange, answer.headers["content-location"]);
    if (exchange.operation?.creates_run && exchange.runId) await this.gateway.deps.runs.started(followedRunOf(exchange));
  }

  /** The graphs a run request names: a graph name as assistant id is its own graph (LangGraph's
   * system assistant); a UUID is looked up (cached). Only for the record, so a failed lookup
   * leaves the record without it rather than failing a request no rule refused. */
  private async graphsForRecord(): Promise<string[]> {
    const ids = this.exchange.operation!.assistant_ids;
    const graphs = ids.filter((id) => !ASSISTANT_UUID.test(id));
    const uuids = ids.filter((id) => ASSISTANT_UUID.test(id));
    if (uuids.length > 0) {
      try {
        graphs.push(...(await this.gateway.deps.authorizer.graphsOf(uuids, this.exchange.id)));
      } catch (error) {
        this.exchange.log.warn({ err: error }, "the graph of a run's assistant could not be looked up for its record");
      }
    }
    return [...new Set(graphs)];
  }

  /** For a request that starts or resumes a run, with egress routes configured: the token that
   * links the run's egress calls to it (LangGraph copies the header into config.configurable). */
  private async runContext(): Promise<{ header: string; value: string } | undefined> {
    const { deps } = this.gateway;
    const { exchange } = this;
    const operation = exchange.operation;
    if (!operation?.creates_run || !exchange.identity || !deps.egress.enabled) return undefined;
    // Policy looks graphs up only when a rule names them; the run's egress calls need them anyway.
    let graphs = exchange.resources?.graphs ?? [];
    if (graphs.length === 0 && operation.assistant_ids.length > 0) graphs = await deps.authorizer.graphsOf(operation.assistant_ids, exchange.id);
    const token = await deps.egress.runContextFor({
      request_id: exchange.id,
      subject: exchange.identity.subject,
      ...(operation.ids.thread_id ? { thread_id: operation.ids.thread_id } : {}),
      ...(exchange.resources?.tenant ? { tenant: exchange.resources.tenant } : {}),
      graphs,
    });
    return token === undefined ? undefined : { header: RUN_CONTEXT_UPSTREAM_HEADER, value: token };
  }
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

const ASSISTANT_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
