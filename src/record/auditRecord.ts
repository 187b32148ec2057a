// What the gateway records about every request that reaches it. The tamper-evident ledger
// (issue "Tamper-evident audit ledger") stores these same records; until then they go to an
// append-only JSON Lines file behind the AuditSink interface.
import type { Decision } from "../authorize/evaluate.js";
import type { Operation } from "../classify/index.js";
import type { Identity } from "../identify/identity.js";

export interface RequestRecord {
  type: "request";
  request_id: string;
  time: string;
  client: { address: string | null; user_agent: string | null };
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
  /** Set when the gateway refused the request itself. */
  status?: number;
  error?: string;
}

export type Outcome = "ok" | "upstream_error_status" | "run_error" | "client_aborted" | "upstream_failed" | "shutdown";

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

export type AuditRecord = RequestRecord | CompletionRecord | PolicyRecord;

export interface AuditSink {
  /** Resolves once the record is durably handed to storage; rejects if it cannot be. */
  append(record: AuditRecord): Promise<void>;
  close(): Promise<void>;
}
