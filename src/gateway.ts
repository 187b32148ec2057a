// Builds a running gateway from a validated config: the HTTP server, the pipeline behind it,
// health endpoints and graceful shutdown.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Agent } from "undici";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { pino, stdTimeFunctions, type Logger, type LoggerOptions } from "pino";
import { ApprovalsApi, Approvals, DeferredRequests, ApprovalGate, createNotifier } from "./approve/index.js";
import { createSignIn } from "./authenticate/index.js";
import { Console } from "./console/index.js";
import { Authorizer, PolicySource, ResourceLookups, RateLimiter } from "./authorize/index.js";
import { readSecret, type PortcullisConfig } from "./config/index.js";
import { Egress } from "./egress/index.js";
import { GatewayError } from "./errors.js";
import { IDENTITY_JWKS_PATH, IdentityAssertionSigner, UpstreamClient, type UpstreamCredential } from "./forward/index.js";
import { Identifier, OidcBearerVerifier, ServiceAccountKeys } from "./identify/index.js";
import { Observability, metrics } from "./observe/index.js";
import { RequestPipeline } from "./pipeline.js";
import { ProtocolSocketBridge } from "./protocols/index.js";
import { RouteTable } from "./classify/index.js";
import { Ledger, openLedger, purgeExpiredPayloads } from "./ledger/index.js";
import { RunFollower, SiemStream, StageRecorder, type AuditSink } from "./record/index.js";
import { createMasker, maskedLogOptions, openVault, type Masker } from "./mask/index.js";
import { TrustedProxies, loadListenerCertificate, reloadCertificateOnChange } from "./receive/index.js";
import { Readiness } from "./respond/index.js";
import { openStateStores } from "./stateStores.js";

export interface Gateway {
  /** Base URL the gateway listens on, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly server: Server;
  readonly pipeline: RequestPipeline;
  /** Metrics and traces; `observe.metricsUrl` is where Prometheus scrapes (metrics enabled). */
  readonly observe: Observability;
  /** Stops accepting, lets live streams finish for shutdown.drain_ms, then ends them. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  logger?: Logger;
  /** Replaces the configured audit sink (tests use it to make the sink fail). */
  audit?: AuditSink;
}

export async function startGateway(config: PortcullisConfig, options: GatewayOptions = {}): Promise<Gateway> {
  // A certificate that does not load stops the start before anything is opened.
  const tlsOptions = config.listen.tls && loadListenerCertificate(config.listen.tls);
  const masker = await createMasker(config.masking);
  const log = options.logger ?? pino(gatewayLogOptions(config.log.level, masker));
  const upstreamCredential = await resolveUpstreamCredential(config);
  const identityAssertion = config.upstream.identity_assertion && (await IdentityAssertionSigner.create(config.upstream.identity_assertion));
  const introspectionSecrets = new Map<string, string>();
  for (const issuer of config.identity.oidc.issuers) {
    if (issuer.introspection) introspectionSecrets.set(issuer.id, await readSecret(issuer.introspection.client_secret, `identity.oidc issuer ${issuer.id} introspection.client_secret`));
  }
  // Everything opened from here on is closed by `opened`, newest first, whether the start fails
  // part-way or the gateway is closed.
  const opened = new OpenedResources(log);
  try {
    return await openGateway(config, options, { tlsOptions, masker, log, upstreamCredential, identityAssertion, introspectionSecrets, opened });
  } catch (error) {
    await opened.closeAll();
    throw error;
  }
}

async function openGateway(
  config: PortcullisConfig,
  options: GatewayOptions,
  { tlsOptions, masker, log, upstreamCredential, identityAssertion, introspectionSecrets, opened }: StartContext,
): Promise<Gateway> {
  const state = await openStateStores(config);
  opened.add("the state stores", () => state.close());
  // One limiter for the API and egress routes; its buckets are shared when the state is in PostgreSQL.
  const limiter = new RateLimiter(state.tokenBuckets);
  // Egress secrets are read now: a missing one stops the start, not a call an hour later.
  const egress = await Egress.open(config, limiter);
  opened.add("egress", () => egress.close());
  const signIn =
    config.identity.login && (await createSignIn(config.identity.login, state, { corsOrigins: config.cors.allow_origins, fetchTimeoutMs: config.identity.oidc.fetch_timeout_ms }));
  // Before the ledger opens, so that the checkpoint it signs on opening is seen by the metrics;
  // closed after it, so that the last spans are exported before the exporter stops.
  const observe = await Observability.start(config.observability, log);
  opened.add("observability", () => observe.close());
  const siem = config.audit.stream && new SiemStream(config.audit.stream.file, config.audit.origin, log);
  if (siem) opened.add("the SIEM stream", () => siem.close());
  const audit: AuditSink = options.audit ?? (await openLedger(config.audit, log, siem ? (record, receipt) => siem.write(record, receipt) : undefined));
  opened.add("the audit ledger", () => audit.close());
  const retention = audit instanceof Ledger && config.audit.payload_retention_days > 0 ? startRetention(audit, config.audit.payload_retention_days, log) : undefined;
  if (retention) opened.add("payload retention", () => clearInterval(retention));
  // What stages report outside a request (policy changes, approval steps) becomes ledger records.
  const stageRecords = new StageRecorder(audit);
  const policies = await PolicySource.open(config.policy.file, { log, audit: stageRecords });
  opened.add("the policy source", () => policies.close());
  const vault = await openVault(config, await state.openVault());
  opened.add("the vault", () => vault.close());
  const approvals = new Approvals({
    store: await state.openApprovals(),
    audit: stageRecords,
    notifier: await createNotifier(config.approvals.notify, log),
    masker,
    log,
    sweepMs: config.approvals.sweep_ms,
    retentionDays: config.approvals.retention_days,
    maxPendingPerRequester: config.approvals.max_pending_per_requester,
    ...(config.identity.login ? { publicUrl: new URL(config.identity.login.public_url).origin } : {}),
  });
  opened.add("approvals", () => approvals.close());
  metrics()?.pendingApprovalsFrom(() => approvals.pendingCount());
  const deferredRequests = new DeferredRequests(approvals, masker);
  if (config.policy.watch) policies.watch();
  const upstreamUrl = new URL(config.upstream.url);
  const upstream = new UpstreamClient(upstreamUrl, {
    connectTimeoutMs: config.upstream.connect_timeout_ms,
    responseTimeoutMs: config.upstream.response_timeout_ms,
  });
  opened.add("the upstream client", () => upstream.destroy());
  const gatewayAuth = { ...(upstreamCredential ? { credential: upstreamCredential } : {}), ...(identityAssertion ? { identityAssertion } : {}) };
  const runs = new RunFollower({
    upstream,
    auth: gatewayAuth,
    audit,
    masker,
    log,
    pollMs: config.audit.run_follow.poll_ms,
    maxPollMs: config.audit.run_follow.max_poll_ms,
    maxFollowMs: config.audit.run_follow.max_follow_ms,
    maxHistoryBytes: config.audit.max_recording_bytes,
    ...(audit instanceof Ledger ? { tracker: audit } : {}),
  });
  // Unfinished runs are recorded as they stand before the ledger's final checkpoint.
  opened.add("run following", () => runs.close());
  // Runs followed by a gateway process that stopped (another replica, or this one's predecessor).
  if (audit instanceof Ledger) await audit.takeOverRuns((run) => runs.follow(run));

  let ready = true;
  const readiness = new Readiness({
    policySha256: () => policies.current?.sha256,
    audit,
    upstream,
    auth: gatewayAuth,
    accepting: () => ready,
    log,
  });
  const serviceAccounts = state.serviceAccounts;
  const consolePages = signIn
    ? new Console({ signIn, ledger: audit instanceof Ledger ? audit : undefined, approvals, policies, serviceAccounts, config, log })
    : undefined;
  const pipeline = new RequestPipeline({
    routes: new RouteTable(config.routes.custom),
    identifier: new Identifier(
      new ServiceAccountKeys(config.identity.service_accounts, serviceAccounts),
      new OidcBearerVerifier(config.identity.oidc.issuers, config.identity.oidc.fetch_timeout_ms, introspectionSecrets),
      config.identity.login?.api_access ? signIn : undefined,
      deferredRequests,
    ),
    ...(signIn ? { signIn } : {}),
    ...(consolePages ? { console: consolePages } : {}),
    authorizer: new Authorizer(policies, new ResourceLookups(upstream, gatewayAuth), limiter),
    upstream,
    upstreamCredential,
    identityAssertion,
    forwardHeaders: config.upstream.forward_headers,
    audit,
    approvals: new ApprovalGate(approvals, {
      holdMaxMs: config.approvals.hold_max_s * 1000,
      details: { upstream, auth: gatewayAuth, masker },
    }),
    approvalsApi: new ApprovalsApi(approvals),
    egress,
    masker,
    vault,
    maskFlushMs: config.masking.flush_ms,
    runs,
    maxRecordingBytes: config.audit.max_recording_bytes,
    receipts: config.audit.receipts,
    log,
    cors: {
      allowOrigins: config.cors.allow_origins,
      allowPrivateNetwork: config.cors.allow_private_network,
      maxAgeS: config.cors.max_age_s,
      allowCredentials: config.identity.login?.session.cross_site ?? false,
    },
    trustedProxies: new TrustedProxies(config.listen.trusted_proxies, config.listen.forwarded_header),
    maxBodyBytes: config.limits.max_body_bytes,
    maxJsonDepth: config.limits.max_json_depth,
    maxBatchRuns: config.limits.max_batch_runs,
    headerLimits: { maxHeaders: config.limits.max_headers, maxHeaderBytes: config.limits.max_header_bytes },
    maxResponseBytes: config.limits.max_response_bytes,
    heartbeatMs: config.streaming.heartbeat_ms,
    waitKeepaliveMs: config.streaming.wait_keepalive_ms,
    ...(observe.enabled ? { observe } : {}),
    localEndpoints: {
      "/healthz": () => ({ status: 200, json: { status: "ok" } }),
      "/readyz": () => readiness.answer(),
      ...(identityAssertion ? { [IDENTITY_JWKS_PATH]: () => ({ status: 200, json: identityAssertion.jwks() }) } : {}),
    },
  });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    pipeline.handle(req, res).catch((error: unknown) => {
      log.error({ err: error }, "request pipeline failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end();
    });
  };
  // Protocol v2 over WebSocket: each frame goes through the pipeline as its HTTP twin.
  const protocolSockets = new ProtocolSocketBridge({
    handle,
    refuse: (req, socket, error) => pipeline.refuseConnection(req, socket, error),
    maxMessageBytes: config.limits.max_body_bytes,
    allowOrigins: config.cors.allow_origins,
    log,
  });
  const timeouts = config.listen.timeouts;
  const serverOptions: ServerOptions = {
    // Slow clients are cut off deliberately (docs/operations.md): headers within headers_ms, the
    // whole request within request_ms, idle keep-alive connections after keep_alive_ms; checked
    // every second rather than Node's default 30 s.
    headersTimeout: timeouts.headers_ms,
    requestTimeout: timeouts.request_ms,
    keepAliveTimeout: timeouts.keep_alive_ms,
    connectionsCheckingInterval: 1_000,
    // The pipeline answers a missing Host itself, so that the refusal is recorded.
    requireHostHeader: false,
  };
  const server: Server = tlsOptions ? createHttpsServer({ ...serverOptions, ...tlsOptions }, handle) : createHttpServer(serverOptions, handle);
  // One above limits.max_headers: Node silently drops fields past its count, and a request over
  // the limit must still show more than max_headers fields for the receive stage to refuse it.
  server.maxHeadersCount = config.limits.max_headers + 1;
  const stopCertificateWatch = config.listen.tls ? reloadCertificateOnChange(server as HttpsServer, config.listen.tls, log) : undefined;
  if (stopCertificateWatch) opened.add("the certificate watch", stopCertificateWatch);
  // Node answers these by itself unless they have a listener; the gateway answers them so that
  // each leaves a record. 100-continue is met as Node would; any other expectation is refused.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    res.writeContinue();
    handle(req, res);
  });
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    pipeline
      .refuseRequest(req, res, new GatewayError(417, "PC_BAD_REQUEST", `Refused: the gateway meets only "Expect: 100-continue", not ${JSON.stringify(String(req.headers.expect).slice(0, 64))}.`))
      .catch((error: unknown) => log.error({ err: error }, "refusing an expectation failed"));
  });
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    pipeline
      .refuseConnection(req, socket, new GatewayError(405, "PC_METHOD_NOT_ALLOWED", "Refused: CONNECT is not supported; Portcullis is a reverse proxy for the LangGraph API."))
      .catch((error: unknown) => log.error({ err: error }, "refusing a CONNECT failed"));
  });
  // The WebSocket transport of protocol v2 is bridged frame by frame through the pipeline
  // (src/protocols/socketBridge.ts, docs/design/010-protocol-v2-websocket.md); any other upgrade
  // is refused.
  server.on("upgrade", (req, socket, head) => {
    const threadId = ProtocolSocketBridge.threadOf(req);
    if (threadId !== undefined) {
      protocolSockets.upgrade(req, socket, head, threadId).catch((error: unknown) => {
        log.error({ err: error }, "a protocol WebSocket upgrade failed");
        socket.destroy();
      });
      return;
    }
    pipeline.refuseConnection(
      req,
      socket as Socket,
      new GatewayError(501, "PC_UNSUPPORTED_PROTOCOL", "Refused: the only WebSocket Portcullis takes is protocol v2's (GET /threads/{thread_id}/stream/events, no query); use the HTTP API for anything else."),
    ).catch((error: unknown) => log.error({ err: error }, "refusing an upgrade failed"));
  });
  // Requests Node's HTTP parser rejects (conflicting Content-Length / Transfer-Encoding, bad
  // header syntax, oversized headers) never reach the pipeline; record them here.
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const refusal =
      error.code === "HPE_HEADER_OVERFLOW"
        ? new GatewayError(431, "PC_BAD_REQUEST", "Refused: the request headers are too large.")
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? new GatewayError(408, "PC_BAD_REQUEST", "Refused: the request was not received in time (listen.timeouts).")
          : new GatewayError(400, "PC_BAD_REQUEST", `Refused: malformed HTTP request (${error.code ?? error.message}).`);
    pipeline
      .refuseConnection(undefined, socket, refusal)
      .catch((refusalError: unknown) => log.error({ err: refusalError }, "refusing a malformed request failed"));
  });

  server.listen(config.listen.port, config.listen.host);
  await once(server, "listening");
  await protocolSockets.start();
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${tlsOptions ? "https" : "http"}://${host}:${address.port}`;
  log.info({ url, upstream: upstreamUrl.origin, ...(egress.enabled ? { egress_routes: Object.keys(config.egress.routes) } : {}) }, "portcullis listening");
  // Approved requests are sent to the gateway's own listener. Over TLS its certificate names the
  // public host, not the bind address, so the host name is not checked; the chain still is
  // (the listener's own chain, then the system's roots).
  const selfDispatcher = config.listen.tls ? ownListenerDispatcher(config.listen.tls.cert_file) : undefined;
  approvals.startSending((approval) => deferredRequests.send(approval, url, selfDispatcher?.()), url);
  vault.startSweeps(log);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      pipeline.draining = true;
      // Requests held for approval have nothing to finish: they end now, their approvals pending.
      for (const exchange of pipeline.active) {
        if (!exchange.waitingForApproval) continue;
        exchange.shuttingDown = true;
        exchange.upstreamAbort.abort();
      }
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await settled(pipeline, config.shutdown.drain_ms);
      for (const exchange of pipeline.active) {
        exchange.shuttingDown = true;
        exchange.upstreamAbort.abort();
      }
      await settled(pipeline, 2_000);
      server.closeAllConnections();
      await protocolSockets.close();
      await stopped;
      await opened.closeAll();
      log.info("portcullis stopped");
    })();
    return closing;
  };
  return { url, server, pipeline, observe, close };
}

/** What startGateway prepared before opening anything. */
interface StartContext {
  tlsOptions: ReturnType<typeof loadListenerCertificate> | undefined;
  masker: Masker;
  log: Logger;
  upstreamCredential: Awaited<ReturnType<typeof resolveUpstreamCredential>>;
  identityAssertion: IdentityAssertionSigner | undefined;
  introspectionSecrets: Map<string, string>;
  opened: OpenedResources;
}

/** What the gateway has opened, closed newest first: the same list serves a start that fails
 * part-way and a gateway that is closed, so the two cannot drift apart. A close that fails is
 * logged and the others still run. */
class OpenedResources {
  private readonly closers: Array<{ what: string; close: () => unknown }> = [];

  constructor(private readonly log: Logger) {}

  add(what: string, close: () => unknown): void {
    this.closers.push({ what, close });
  }

  async closeAll(): Promise<void> {
    for (const { what, close } of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        this.log.error({ err: error }, `closing ${what} failed`);
      }
    }
  }
}

/** The operator log: one JSON object per line, ISO time, the level as a word, every field but
 * the operational ones masked (docs/operations.md, Logs). */
export function gatewayLogOptions(level: string, masker: Masker): LoggerOptions {
  const masked = maskedLogOptions(masker);
  return { level, base: { service: "portcullis" }, timestamp: stdTimeFunctions.isoTime, ...masked, formatters: { ...masked.formatters, level: (label) => ({ level: label }) } };
}

const RETENTION_SWEEP_MS = 60 * 60 * 1000;

/** Purges expired payloads at start and hourly; each purge that removes anything is a ledger record. */
function startRetention(ledger: Ledger, days: number, log: Logger): NodeJS.Timeout {
  const sweep = () =>
    purgeExpiredPayloads(ledger, days, "gateway:retention").then(
      (result) => result.purged > 0 && log.info(result, "expired payloads purged"),
      (error: unknown) => log.error({ err: error }, "payload retention sweep failed"),
    );
  void sweep();
  const timer = setInterval(() => void sweep(), RETENTION_SWEEP_MS);
  timer.unref();
  return timer;
}

/** An undici dispatcher for the gateway's own HTTPS listener, built from the certificate file as
 * it is now (it may have been rotated since the start). */
function ownListenerDispatcher(certFile: string): () => Agent {
  let current: { pem: string; agent: Agent } | undefined;
  return () => {
    const pem = readFileSync(certFile, "utf8");
    if (current?.pem !== pem) {
      void current?.agent.close();
      current = { pem, agent: new Agent({ connect: { ca: [...rootCertificates, pem], checkServerIdentity: () => undefined } }) };
    }
    return current.agent;
  };
}

async function resolveUpstreamCredential(config: PortcullisConfig): Promise<UpstreamCredential | undefined> {
  const credential = config.upstream.credential;
  if (!credential) return undefined;
  const secret = await readSecret(credential.secret, "upstream.credential.secret");
  return { header: credential.scheme === "bearer" ? "authorization" : credential.header, value: credential.scheme === "bearer" ? `Bearer ${secret}` : secret };
}

async function settled(pipeline: RequestPipeline, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (pipeline.active.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
