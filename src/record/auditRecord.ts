// What the gateway records about every request that reaches it, every run it admits, and the
// ledger's own housekeeping. Each record becomes one leaf of the tamper-evident ledger
// (src/ledger/), so everything here is small and holds no payload: bodies and streams are
// stored apart, masked, and referenced by their SHA-256. What a stage decided is kept in the
// stage's own words (RequestApproval, EgressFacts, Decision): this folder depends on the stages
// whose facts it records, never the reverse.
import type { RequestApproval } from "../approve/index.js";
import type { Decision } from "../authorize/index.js";
import type { Operation } from "../classify/index.js";
import type { EgressFacts } from "../egress/index.js";
import type { Identity } from "../identify/index.js";

export interface RequestRecord {
  type: "request";
  request_id: string;
  time: string;
  /** `address` is the resolved client (listen.trusted_proxies); `forwarded`, the X-Forwarded-For or
   * Forwarded header as sent, and whether it was believed. */
  client: { address: string | null; user_agent: string | null; forwarded?: { as_sent: string; believed: boolean } };
  method: string;
  /** Canonical path when it could be parsed, otherwise the raw target (truncated). */
  path: string;
  /** Raw query string ("" when absent). */
  query: string;
  identity: Identity | null;
  operation: Operation | null;
  decision: Decision;
  /** Facts policy looked up: the graphs the request touches, the thread's owner. */
  resources?: { graphs: string[]; thread_owner?: string | null; tenant?: string };
  /** How the gateway changed the body before forwarding it (ownership stamps, removed hazards). */
  rewrites?: { added: string[]; removed: string[] };
  /** The masked request body as stored (absent when there was none). */
  body?: PayloadReference;
  /** Whether LangGraph received the inputs masked (policy masking.requests), and what was masked. */
  masking?: { request: "masked" | "tokenized" | "forwarded"; redactions: Record<string, number>; restored?: Record<string, number> };
  /** Set when the request needed approval: how it went ahead (or why it waited). */
  approval?: RequestApproval;
  /** Set for a call through an egress route: which route, where below it, and the run it served. */
  egress?: EgressFacts;
  /** Set when the gateway refused the request itself. */
  status?: number;
  error?: string;
  /** The exchange's OpenTelemetry root span, when tracing is on: the record leads to the trace. */
  trace?: { trace_id: string; span_id: string };
}

/** A masked payload stored beside the ledger; the leaf commits to it by hash only. */
export interface PayloadReference {
  sha256: string;
  bytes: number;
  /** Which masker produced it. */
  masking: string;
  /** Masked values by entity type; never the values. */
  redactions?: Record<string, number>;
}

/** `interrupted`: the gateway stopped (crash, kill) before the exchange ended; written on restart. */
export type Outcome = "ok" | "upstream_error_status" | "run_error" | "client_aborted" | "upstream_failed" | "masking_failed" | "shutdown" | "interrupted";

export interface CompletionRecord {
  type: "completion";
  request_id: string;
  time: string;
  /** Status sent to the client; null when it left before any. */
  status: number | null;
  upstream_status: number | null;
  outcome: Outcome;
  error?: string;
  duration_ms: number;
  upstream_headers_ms?: number;
  bytes_in: number;
  bytes_out: number;
  /** SSE events relayed, by event name. */
  events?: Record<string, number>;
  run_id?: string;
  thread_id?: string;
  /** The masked response as stored: the whole body, or the event stream with time offsets. */
  response?: PayloadReference;
  /** What the client was sent: masked values (counted by type, never the values), or clear
   * values for a caller the policy lets see them. */
  masking?: { response: "masked" | "clear"; redactions: Record<string, number>; restored?: Record<string, number> };
  /** Egress: times the downstream's answer echoed the route's credential (each was replaced). */
  credential_echoes?: number;
}

/** One run the gateway admitted, followed to its end whether or not a client stayed connected. */
export interface RunRecord {
  type: "run";
  request_id: string;
  time: string;
  run_id: string;
  thread_id: string | null;
  /** The graphs the run's assistants belong to (looked up after the run when policy did not need them). */
  graphs?: string[];
  /** Final run status as LangGraph reports it (success, error, interrupted, timeout…), or why it is unknown. */
  status: string;
  /** The graph steps the run took, from the thread's checkpoints: step number, source, nodes that wrote. */
  steps: { step: number; source: string; nodes: string[] }[];
  steps_truncated?: boolean;
  /** The nodes the thread would run next when the run ended: work left pending by an
   * `interrupt()` or a breakpoint (absent when the run finished its graph). */
  next?: string[];
  /** How many `interrupt()` calls are waiting for a resume (0 at a breakpoint). */
  interrupts?: number;
  /** The masked final state (values), stored apart. */
  output?: PayloadReference;
  followed_ms: number;
  error?: string;
}

/** The ledger's own events: retention purges, legal holds, key rotation, exports, restarts. */
export interface LedgerEventRecord {
  type: "ledger";
  time: string;
  event: "retention.purged" | "hold.placed" | "hold.released" | "key.rotated" | "export.created" | "vault.erased";
  /** Who did it: a CLI user (`cli:<os user>`) or the gateway itself. */
  actor: string;
  details: Record<string, unknown>;
}

/** A policy file loaded into force, or rejected with the last good one kept. */
export interface PolicyRecord {
  type: "policy";
  time: string;
  event: "loaded" | "rejected";
  source: string;
  /** SHA-256 of the file that was loaded or rejected. */
  sha256: string | null;
  /** The policy in force afterwards. */
  in_force: string | null;
  error?: string;
}

/** Each step of an approval: asked, each approver's vote, the decision, its use, grants and
 * break-glass. Values that came from clients (justification, reason) are masked. */
export interface ApprovalRecord {
  type: "approval";
  time: string;
  approval_id: string;
  /** The request that asked (or, for use and grant_used, the request that went ahead). */
  request_id: string;
  event: "requested" | "voted" | "approved" | "denied" | "expired" | "used" | "grant_used" | "break_glass";
  /** Who acted: an approver's subject, or "gateway" for expiry. */
  actor: string;
  requester: string;
  rule: string;
  graphs: string[];
  actions: string[];
  approver_groups: string[];
  approvals_required: number;
  approvals_given: number;
  expires_at?: string;
  justification?: string | null;
  verdict?: "approve" | "deny";
  reason?: string | null;
  /** An approval for a window: the grant it created and until when. */
  grant?: { id: string; expires_at: string };
}

/** Someone looked at or took away recorded evidence (who looked at what): a session viewed,
 * replayed or re-run, an evidence bundle or the access review exported. */
export interface AccessRecord {
  type: "access";
  time: string;
  /** A signed-in subject (console), or `cli:<os user>`. */
  actor: string;
  via: "console" | "cli";
  action: "session.view" | "session.replay" | "session.verify" | "evidence.export" | "access-review.view" | "access-review.export" | "ledger.verify";
  /** The session looked at: its request id. */
  session?: string;
  details?: Record<string, unknown>;
}

/** One line of an access-review campaign: an identity and the access it holds when the campaign starts. */
export interface AccessReviewLine {
  subject: string;
  name: string | null;
  kind: "person" | "service-account";
  groups: string[];
  /** Where the identity comes from: the config file, the CLI's store, seen in the ledger, or only in the IdP directory. */
  source: "config" | "cli" | "identity provider" | "directory";
  /** Rules that let it through, with their last use (null: never used). */
  grants: { rule: string; last_used: string | null; uses: number }[];
  console_roles: string[];
  /** Rules whose approvals it may decide. */
  approver_rules: string[];
  last_used: string | null;
  /** never-seen: in the directory, no request recorded; not-in-directory: seen but absent from
   * the directory; inactive-in-directory: the directory marks it inactive. */
  flags: ("never-seen" | "not-in-directory" | "inactive-in-directory")[];
}

/** An access-review campaign (ISO 27001 A.9.2.5 / A.5.18, SOC 2 CC6.2): started, one record per
 * line, each reviewer's attestation or revocation, completed. The campaign's state is derived from
 * these records alone (ledger/evidence/accessReviews.ts). `request_id` holds the campaign id, so
 * the store's request index finds every record of a campaign. */
export interface AccessReviewRecord {
  type: "access_review";
  time: string;
  request_id: string;
  event: "started" | "line" | "attested" | "revoked" | "completed";
  /** A signed-in reviewer's subject (console), or `cli:<os user>`. */
  actor: string;
  via: "console" | "cli";
  /** started: how many line records follow, the policy in force, the directory export used. */
  lines?: number;
  policy?: { source: string; sha256: string };
  directory?: { file: string; sha256: string; identities: number } | null;
  line?: AccessReviewLine;
  /** attested / revoked: the line decided, and why (required for a revocation). */
  subject?: string;
  reason?: string | null;
  /** revoked: the CLI-made service account's key was revoked too. */
  key_revoked?: boolean;
  /** completed: lines still pending when the campaign was closed. */
  pending?: number;
}

export type AuditRecord = RequestRecord | CompletionRecord | PolicyRecord | RunRecord | LedgerEventRecord | ApprovalRecord | AccessRecord | AccessReviewRecord;

/** Facts kept beside a record for filtering exports (who, which graphs) and payloads committed with it. */
export interface AppendContext {
  subject?: string | null;
  graphs?: string[];
  payloads?: { sha256: string; body: Buffer }[];
}

export interface AppendReceipt {
  seq: number;
  leafHash: Buffer;
}

export interface AuditSink {
  /** Resolves once the record is durably committed; rejects if it cannot be. */
  append(record: AuditRecord, context?: AppendContext): Promise<AppendReceipt>;
  close(): Promise<void>;
  /** For /readyz: why the sink cannot take appends now, or undefined when it can. */
  readiness?(): Promise<string | undefined>;
}
