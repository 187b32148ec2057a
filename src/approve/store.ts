// Where approvals live between the request that asked and the approvers who decide: the state
// database (SQLite, one gateway) or PostgreSQL (several gateways, where a decision taken on one
// instance releases a request held on another). Their tables, for both, are APPROVAL_TABLES.
import type { Identity } from "../identify/index.js";
import { perDialect, type Component } from "../storage/index.js";

/** approving: enough approvers allowed it, and the gateway is writing the "approved" record; it
 * becomes approved (usable, and its grant findable) only once that record is in the ledger, so no
 * instance can use an approval the ledger does not show as given (see confirm). */
export type ApprovalState = "pending" | "approving" | "approved" | "denied" | "expired" | "used";

/** Why an approval stuck in "approving" was expired: its "approved" record was never written. */
export const UNRECORDED_DECISION = "the approval was never recorded in the ledger, so it was never usable";

/** held: the client's connection waits (streams, /runs/wait); deferred: the client got 202 and
 * the gateway sends the request itself once approved. */
export type ApprovalMode = "held" | "deferred";

export interface Vote {
  approver: string;
  verdict: "approve" | "deny";
  reason: string | null;
  /** An approval for a window (seconds): the requester may repeat such requests until it ends. */
  window_s: number | null;
  time: number;
}

/** The request as it must be sent again, for deferred execution only; cleared once decided. */
export interface DeferredRequest {
  method: string;
  path_and_query: string;
  body: string | null;
}

/** What the gateway got when it sent a deferred request (masked), for the status URL. */
export interface DeferredResult {
  status: number;
  body: unknown;
  run_id?: string;
  thread_id?: string;
  error?: string;
}

export interface Approval {
  id: string;
  state: ApprovalState;
  mode: ApprovalMode;
  created_at: number;
  /** Pending: refused after this; approved: must be used before this. */
  expires_at: number;
  decided_at: number | null;
  /** The request that asked. */
  request_id: string;
  /** Who asked, as identified then (deferred execution acts as this identity). */
  requester: Identity;
  rule: string;
  policy: string;
  approver_groups: string[];
  approvals_required: number;
  /** Longest window an approver may give (0: once only). */
  max_window_s: number;
  /** How long an approved request stays usable. */
  use_within_s: number;
  graphs: string[];
  actions: string[];
  method: string;
  /** Masked, for display. */
  path: string;
  /** SHA-256 of the canonical request (method, path, query, body): an approval is for that request only. */
  fingerprint: string;
  /** Masked. */
  justification: string | null;
  /** Masked details for approvers (input digest, pending tool calls, the interrupt). */
  details: Record<string, unknown>;
  /** The thread's checkpoint approvers were shown (continue, resume, state writes): the approval
   * holds only while the thread is still there. */
  thread_checkpoint: string | null;
  request: DeferredRequest | null;
  votes: Vote[];
  reason: string | null;
  used_by: string | null;
  result: DeferredResult | null;
  grant: { id: string; expires_at: number } | null;
}

export type NewApproval = Omit<Approval, "state" | "decided_at" | "votes" | "reason" | "used_by" | "result" | "grant">;

/** A time-boxed grant: this requester, this rule, these graphs, the approved actions (or fewer),
 * until expires_at. */
export interface Grant {
  id: string;
  approval_id: string;
  subject: string;
  rule: string;
  graphs: string[];
  actions: string[];
  granted_by: string[];
  created_at: number;
  expires_at: number;
}

export interface VoteResult {
  approval: Approval;
  /** The state the vote moved the approval to (still pending when more approvals are needed,
   * approving when enough approvers allowed it). */
  state: ApprovalState;
}

export class ApprovalConflict extends Error {
  constructor(
    message: string,
    readonly approval?: Approval,
  ) {
    super(message);
    this.name = "ApprovalConflict";
  }
}

/** create() refused: the requester already has `pending` approvals, the most allowed. */
export class ApprovalCapReached extends Error {
  constructor(readonly pending: number) {
    super(`the requester has ${pending} approvals pending`);
    this.name = "ApprovalCapReached";
  }
}

export interface ApprovalStore {
  readonly kind: "sqlite" | "postgres";
  /** Stores a new pending approval unless its requester already has `maxPendingPerRequester`
   * pending (ApprovalCapReached): counted and inserted atomically, across every instance sharing
   * the store. */
  create(approval: NewApproval, limits: { maxPendingPerRequester: number }): Promise<void>;
  /** How many approvals this requester has pending. */
  countPending(subject: string): Promise<number>;
  get(id: string): Promise<Approval | undefined>;
  /** Newest first. */
  list(filter: { states?: ApprovalState[]; limit: number; offset?: number }): Promise<Approval[]>;
  /** Adds one approver's vote and moves the state when it decides (ApprovalConflict when the
   * approval is closed or the approver already voted). */
  vote(id: string, vote: Vote): Promise<VoteResult>;
  /** approving → approved, once the "approved" record is in the ledger, with its grant (if any)
   * stored in the same transaction; undefined when it is no longer approving (the sweep expired it
   * as unrecorded meanwhile). */
  confirm(id: string, grant: Grant | null): Promise<Approval | undefined>;
  /** approved → used, once: true for the one request that may go ahead. */
  use(id: string, requestId: string, now: number): Promise<boolean>;
  /** pending or unused approved past expires_at, and approving decided at or before
   * `unrecordedBefore` (its record was never written: the instance died or the ledger failed) →
   * expired; returns those this call moved. */
  expireDue(now: number, unrecordedBefore: number): Promise<Approval[]>;
  saveResult(id: string, result: DeferredResult): Promise<void>;
  /** Approved deferred requests nobody has sent yet (a gateway stopped in between). */
  unsentDeferred(): Promise<Approval[]>;
  /** A live grant for this requester, rule and graphs that covers every one of `actions`. */
  findGrant(subject: string, rule: string, graphs: string[], actions: string[], now: number): Promise<Grant | undefined>;
  /** Deletes approvals closed, and grants ended, before `before` (the ledger keeps their records). */
  purgeClosed(before: number): Promise<number>;
  /** Called with an approval's id whenever it changes, here or (PostgreSQL) on another instance. */
  onChange(listener: (id: string) => void): () => void;
  close(): Promise<void>;
}

export const APPROVAL_TABLES: Component = {
  name: "approvals",
  migrations: [
    perDialect(
      ({ integer, json }) => `CREATE TABLE IF NOT EXISTS approvals (
         id TEXT PRIMARY KEY,
         state TEXT NOT NULL,
         mode TEXT NOT NULL,
         created_at ${integer} NOT NULL,
         expires_at ${integer} NOT NULL,
         doc ${json} NOT NULL
       );
       CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state, expires_at);
       CREATE INDEX IF NOT EXISTS approvals_created ON approvals (created_at);
       CREATE TABLE IF NOT EXISTS approval_grants (
         id TEXT PRIMARY KEY,
         approval_id TEXT NOT NULL,
         subject TEXT NOT NULL,
         rule TEXT NOT NULL,
         graphs TEXT NOT NULL,
         actions ${json} NOT NULL,
         granted_by ${json} NOT NULL,
         created_at ${integer} NOT NULL,
         expires_at ${integer} NOT NULL
       );
       CREATE INDEX IF NOT EXISTS approval_grants_lookup ON approval_grants (subject, rule, graphs, expires_at);`,
    ),
    // The per-requester cap counts pending approvals of one requester on every request for approval.
    {
      sqlite: `CREATE INDEX approvals_pending_requester ON approvals (json_extract(doc, '$.requester.subject')) WHERE state = 'pending';`,
      postgres: `CREATE INDEX approvals_pending_requester ON approvals ((doc->'requester'->>'subject')) WHERE state = 'pending';`,
    },
  ],
};

/** The state a vote leads to: any deny denies; enough different approvers approve (approving,
 * until the approval is recorded and confirmed). */
export function applyVote(approval: Approval, vote: Vote): VoteResult {
  if (approval.state !== "pending") throw new ApprovalConflict(`approval ${approval.id} is already ${approval.state}`, approval);
  // Past its deadline but not yet swept: expired, whatever the sweep has done.
  if (vote.time >= approval.expires_at) throw new ApprovalConflict(`approval ${approval.id} has expired`, approval);
  if (approval.votes.some((v) => v.approver === vote.approver)) throw new ApprovalConflict(`${vote.approver} has already voted on approval ${approval.id}`, approval);
  const votes = [...approval.votes, vote];
  const next: Approval = { ...approval, votes };
  if (vote.verdict === "deny") {
    Object.assign(next, { state: "denied", decided_at: vote.time, reason: vote.reason, request: null });
  } else if (votes.filter((v) => v.verdict === "approve").length >= approval.approvals_required) {
    // Approved requests must be used within use_within_s, whatever was left of the pending time.
    // Usable only once confirmed, after the "approved" record.
    Object.assign(next, { state: "approving", decided_at: vote.time, expires_at: vote.time + approval.use_within_s * 1000 });
  }
  return { approval: next, state: next.state };
}

/** A grant's window: the shortest any approver gave, none if any approved once only. */
export function grantWindowS(approval: Approval): number | null {
  const approvals = approval.votes.filter((v) => v.verdict === "approve");
  if (approvals.length === 0 || approvals.some((v) => v.window_s === null)) return null;
  return Math.min(...approvals.map((v) => v.window_s!));
}

/** A grant covers a request whose actions are all among those approved. */
export function covers(granted: string[], asked: string[]): boolean {
  return asked.every((action) => granted.includes(action));
}

export function graphsKey(graphs: string[]): string {
  return JSON.stringify([...new Set(graphs)].sort());
}
