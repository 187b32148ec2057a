// The gateway's Prometheus metrics (prom-client), one registry per process. Labels take only
// small, bounded value sets: route names from the route table (src/classify/routes.ts), decision
// effects, status codes, stable error codes, stage names, entity types. Never ids or raw paths.
// Imported only when metrics are enabled (metrics.ts), so prom-client costs nothing otherwise.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Latency buckets (seconds) for stages that are usually sub-millisecond but may wait on an IdP,
 * an approver or the upstream. */
const STAGE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const EXCHANGE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "portcullis_requests_total",
    help: "Requests answered, by route name (from the route table, or gateway:* for the gateway's own endpoints), decision effect and response status code.",
    labelNames: ["route", "decision", "status_class", "status"] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: "portcullis_refusals_total",
    help: "Requests refused by the gateway, by stable error code (PC_*) and HTTP status.",
    labelNames: ["code", "status"] as const,
    registers: [this.registry],
  });
  readonly stageDuration = new Histogram({
    name: "portcullis_stage_duration_seconds",
    help: "Time spent in each pipeline stage (receive, identify, classify, authorize, mask, approve, admit, upstream_headers, first_byte, respond).",
    labelNames: ["stage"] as const,
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });
  readonly exchangeDuration = new Histogram({
    name: "portcullis_request_duration_seconds",
    help: "Whole exchange, from the request's arrival to the last byte of the answer (streams included), by route name.",
    labelNames: ["route"] as const,
    buckets: EXCHANGE_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: "portcullis_upstream_errors_total",
    help: "Failures talking to the upstream (LangGraph or an egress route): an error code (PC_UPSTREAM_*), a broken stream (stream_broken) or a 5xx answer (status_5xx).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly sseStreamsOpen = new Gauge({
    name: "portcullis_sse_streams_open",
    help: "SSE streams being relayed to clients now.",
    registers: [this.registry],
  });
  readonly sseEventsRelayed = new Counter({
    name: "portcullis_sse_events_relayed_total",
    help: "SSE events relayed to clients (after masking).",
    registers: [this.registry],
  });
  readonly maskingDetections = new Counter({
    name: "portcullis_masking_detections_total",
    help: "Values masked, by entity type (the detector's entity name) and direction (request or response).",
    labelNames: ["entity", "direction"] as const,
    registers: [this.registry],
  });
  readonly maskingFailures = new Counter({
    name: "portcullis_masking_failures_total",
    help: "Bodies or streams that could not be scanned and were refused or ended (fail closed), by direction.",
    labelNames: ["direction"] as const,
    registers: [this.registry],
  });
  readonly ledgerCommitDuration = new Histogram({
    name: "portcullis_ledger_append_duration_seconds",
    help: "Time to commit one group of audit records to the ledger store (the wait a request's admit stage sees, minus queueing).",
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });
  readonly ledgerGroupCommitSize = new Histogram({
    name: "portcullis_ledger_group_commit_records",
    help: "Audit records committed together in one transaction (group commit).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly ledgerQueueDepth = new Gauge({
    name: "portcullis_ledger_queue_depth",
    help: "Audit records waiting for the next group commit.",
    registers: [this.registry],
  });
  readonly ledgerStoreErrors = new Counter({
    name: "portcullis_ledger_store_errors_total",
    help: "Group commits or checkpoints the ledger store refused; while appends fail, requests are refused with PC_AUDIT_UNAVAILABLE.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });
  /** When the last checkpoint was signed (ms since the epoch), for the age gauge. */
  private lastCheckpointAtMs: number | undefined;
  readonly ledgerCheckpointAge = new Gauge({
    name: "portcullis_ledger_checkpoint_age_seconds",
    help: "Seconds since this gateway last signed a ledger checkpoint (absent until the first one).",
    registers: [this.registry],
    collect: () => {
      if (this.lastCheckpointAtMs !== undefined) this.ledgerCheckpointAge.set((Date.now() - this.lastCheckpointAtMs) / 1000);
    },
  });
  /** Counts pending approvals in the approval store (shared by gateways on PostgreSQL). */
  private countPending: (() => Promise<number>) | undefined;
  readonly approvalsPending = new Gauge({
    name: "portcullis_approvals_pending",
    help: "Approvals waiting for a decision, counted in the approval store at each scrape (on PostgreSQL every gateway reports the shared count: alert on max, not sum).",
    registers: [this.registry],
    collect: async () => {
      if (this.countPending) this.approvalsPending.set(await this.countPending());
    },
  });
  readonly approvalDecision = new Histogram({
    name: "portcullis_approval_decision_seconds",
    help: "Time from asking an approval to its outcome (approved, denied, expired).",
    labelNames: ["outcome"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14_400, 86_400],
    registers: [this.registry],
  });
  readonly identityVerifications = new Counter({
    name: "portcullis_identity_verifications_total",
    help: "Credentials checked by identify, by method (api-key, oidc-bearer, oidc-introspection, browser-session, approval-execution, or unknown when refused before one was recognised) and result (ok or the refusal's error code).",
    labelNames: ["method", "result"] as const,
    registers: [this.registry],
  });
  readonly jwksFetches = new Counter({
    name: "portcullis_jwks_fetches_total",
    help: "JWKS fetches from OIDC issuers, by issuer id (from the config) and result (ok or failed).",
    labelNames: ["issuer", "result"] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "portcullis_rate_limited_total",
    help: "Requests refused by the per-identity rate limit (429 PC_RATE_LIMITED), by identity kind.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  constructor() {
    // Process and runtime: CPU, resident memory, heap, event-loop lag, open handles and fds.
    collectDefaultMetrics({ register: this.registry });
    // Series an alert watches exist from the start at 0, so that the first failure is an
    // increase (increase() sees nothing in a series whose first sample is its first value).
    for (const operation of ["append", "checkpoint"]) this.ledgerStoreErrors.inc({ operation }, 0);
    for (const code of ["PC_AUDIT_UNAVAILABLE", "PC_IDP_UNAVAILABLE", "PC_UPSTREAM_UNAVAILABLE", "PC_UPSTREAM_TIMEOUT", "PC_MASKING_FAILED"]) this.refusals.inc({ code, status: code === "PC_UPSTREAM_UNAVAILABLE" ? "502" : code === "PC_UPSTREAM_TIMEOUT" ? "504" : code === "PC_MASKING_FAILED" ? "422" : "503" }, 0);
    for (const kind of ["PC_UPSTREAM_UNAVAILABLE", "PC_UPSTREAM_TIMEOUT", "stream_broken", "status_5xx"]) this.upstreamErrors.inc({ kind }, 0);
  }

  pendingApprovalsFrom(count: () => Promise<number>): void {
    this.countPending = count;
  }

  checkpointSigned(atMs: number): void {
    this.lastCheckpointAtMs = atMs;
  }

  /** A group commit begins; the returned function, called once it is durable, times it. */
  ledgerCommitting(records: number, stillQueued: number): () => void {
    this.ledgerGroupCommitSize.observe(records);
    this.ledgerQueueDepth.set(stillQueued);
    return this.ledgerCommitDuration.startTimer();
  }

  /** An approval was decided or expired: how long it waited. */
  approvalClosed(outcome: "approved" | "denied" | "expired", createdAtMs: number): void {
    this.approvalDecision.observe({ outcome }, Math.max(0, Date.now() - createdAtMs) / 1000);
  }
}
