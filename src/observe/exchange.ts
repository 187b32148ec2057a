// What one exchange contributes to metrics and its trace. The pipeline marks the end of each
// stage; a stage lasts from the previous mark to its own, so the marks are one line each and the
// stage names are the lifecycle's (docs/architecture.md).
import type { Exchange } from "../exchange.js";
import type { GatewayMetrics } from "./metrics.js";
import type { ExchangeTrace, ExchangeTracing } from "./tracing.js";

export type StageName = "receive" | "identify" | "classify" | "authorize" | "mask" | "approve" | "admit" | "upstream_headers" | "first_byte" | "respond";

/** The trace and span ids of an exchange's root span, as audit records and log lines carry them. */
export interface TraceIds {
  trace_id: string;
  span_id: string;
}

/** performance.now() milliseconds as wall-clock milliseconds since the epoch (span times). */
function wallClock(performanceMs: number): number {
  return performance.timeOrigin + performanceMs;
}

export class ExchangeObservation {
  private lastMarkMs: number;
  private trace: ExchangeTrace | undefined;
  /** Stages ended before the root span exists (it waits for identify, which decides the parent). */
  private readonly early: Array<{ name: StageName; startMs: number; endMs: number }> = [];
  private firstByteSeen = false;
  /** A live forward span carries the upstream call (LangGraph); egress calls get a stage span. */
  private forwardSpan = false;

  constructor(
    private readonly exchange: Exchange,
    private readonly metrics: GatewayMetrics | undefined,
    private readonly tracing: ExchangeTracing | undefined,
    private readonly trustedGroups: ReadonlySet<string>,
  ) {
    this.lastMarkMs = exchange.startedAt;
  }

  /** The end of a stage: its duration is observed, and a span is made for it. */
  stage(name: StageName, at = performance.now()): void {
    const startMs = this.lastMarkMs;
    this.lastMarkMs = at;
    this.metrics?.stageDuration.observe({ stage: name }, (at - startMs) / 1000);
    if (!this.tracing) return;
    if (name === "identify") this.root();
    if (this.trace) this.trace.stage(name, wallClock(startMs), wallClock(at));
    else this.early.push({ name, startMs, endMs: at });
  }

  /** The first byte of the answer went to the client (measured from the upstream's headers). */
  firstByte(): void {
    if (this.firstByteSeen) return;
    this.firstByteSeen = true;
    const at = performance.now();
    this.metrics?.stageDuration.observe({ stage: "first_byte" }, (at - this.lastMarkMs) / 1000);
    this.trace?.stage("first_byte", wallClock(this.lastMarkMs), wallClock(at));
  }

  /** Starts the forward span; the headers carry its context to the upstream. */
  forwarding(): Record<string, string> | undefined {
    if (!this.tracing) return undefined;
    this.forwardSpan = true;
    return this.root().forward(wallClock(this.lastMarkMs), {
      "http.request.method": this.exchange.req.method ?? "",
      ...(this.exchange.operation ? { "http.route": this.exchange.operation.route } : {}),
    });
  }

  /** The upstream's status line and headers arrived. */
  forwarded(status: number | undefined): void {
    const at = performance.now();
    if (this.forwardSpan) this.trace?.forwarded(wallClock(at), status);
    else this.trace?.stage("upstream_headers", wallClock(this.lastMarkMs), wallClock(at), status === undefined ? undefined : { "http.response.status_code": status });
    this.metrics?.stageDuration.observe({ stage: "upstream_headers" }, (at - this.lastMarkMs) / 1000);
    this.lastMarkMs = at;
  }

  /** The root span's ids; starting it now if identify has not run (a refusal, a local answer). */
  ids(): TraceIds | undefined {
    if (!this.tracing) return undefined;
    const trace = this.root();
    return { trace_id: trace.traceId, span_id: trace.spanId };
  }

  /** When the relay ended, so that first_byte, respond and the exchange's duration do not include
   * the completion record's commit. */
  private relayedAtMs: number | undefined;

  relayed(): void {
    if (this.relayedAtMs !== undefined) return;
    const now = performance.now();
    this.relayedAtMs = now;
    if (this.exchange.upstreamStatus !== undefined) {
      // A JSON answer is written whole: its first byte goes when the relay ends.
      this.firstByte();
      this.stage("respond", now);
    }
  }

  finish(): void {
    const exchange = this.exchange;
    this.relayed();
    const now = this.relayedAtMs!;
    // The gateway's own endpoints (health, sign-in, console, approvals API) by their rule, so
    // that probes do not fill the series of requests refused before they were classified.
    const route = exchange.operation?.route ?? exchange.localRoute ?? "unclassified";
    const status = exchange.res.headersSent ? exchange.res.statusCode : 0;
    if (this.metrics) this.count(route, status, (now - exchange.startedAt) / 1000);
    if (!this.tracing) return;
    this.root().end(
      wallClock(now),
      {
        "http.request.method": exchange.req.method ?? "",
        "http.route": route,
        "http.response.status_code": status,
        "portcullis.request_id": exchange.id,
        "portcullis.decision": exchange.decision?.effect ?? "none",
        "portcullis.outcome": exchange.outcome,
        ...(exchange.error ? { "error.type": exchange.error } : {}),
      },
      exchange.error,
    );
  }

  private root(): ExchangeTrace {
    if (this.trace) return this.trace;
    const exchange = this.exchange;
    const trusted = exchange.identity?.groups.some((group) => this.trustedGroups.has(group)) ?? false;
    this.trace = this.tracing!.begin({
      name: `${exchange.req.method ?? ""} ${exchange.operation?.route ?? "portcullis"}`,
      startMs: wallClock(exchange.startedAt),
      headers: exchange.req.headers,
      trusted,
    });
    for (const early of this.early.splice(0)) this.trace.stage(early.name, wallClock(early.startMs), wallClock(early.endMs));
    // Every later log line of the exchange names its trace (exchange.log is the per-request child).
    Object.assign(exchange, { log: exchange.log.child({ trace_id: this.trace.traceId, span_id: this.trace.spanId }) });
    return this.trace;
  }

  private count(route: string, status: number, seconds: number): void {
    const metrics = this.metrics!;
    const exchange = this.exchange;
    const error = exchange.error;
    metrics.requests.inc({ route, decision: exchange.decision?.effect ?? "none", status_class: status === 0 ? "none" : `${Math.floor(status / 100)}xx`, status: String(status) });
    metrics.exchangeDuration.observe({ route }, seconds);
    if (error?.startsWith("PC_")) metrics.refusals.inc({ code: error, status: String(status) });
    if (exchange.identifyAttempted) {
      const method = exchange.identity?.auth_method ?? "unknown";
      metrics.identityVerifications.inc({ method, result: exchange.identity ? "ok" : (error ?? "unknown") });
    }
    if (error === "PC_RATE_LIMITED") metrics.rateLimited.inc({ kind: exchange.identity?.kind ?? "unknown" });
    if (error === "PC_MASKING_FAILED" || exchange.outcome === "masking_failed") metrics.maskingFailures.inc({ direction: exchange.admitted ? "response" : "request" });
    if (error?.startsWith("PC_UPSTREAM")) metrics.upstreamErrors.inc({ kind: error });
    else if (exchange.outcome === "upstream_failed") metrics.upstreamErrors.inc({ kind: "stream_broken" });
    else if (exchange.upstreamStatus !== undefined && exchange.upstreamStatus >= 500) metrics.upstreamErrors.inc({ kind: "status_5xx" });
    const masking = exchange.masking;
    if (masking) {
      for (const [entity, count] of Object.entries(masking.request)) metrics.maskingDetections.inc({ entity, direction: "request" }, count);
      for (const [entity, count] of Object.entries(masking.response.redactions)) metrics.maskingDetections.inc({ entity, direction: "response" }, count);
    }
  }
}
