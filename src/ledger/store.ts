// The ledger's storage: one interface, SQLite (default, one file) and PostgreSQL (shared by
// several gateway instances) behind it. The same conformance tests run against both.
//
// What is stored (audit-ledger.md §11): the exact canonical bytes of each leaf and its hash, the
// hashes of every complete perfect subtree (so proofs cost O(log n) reads), signed checkpoints,
// masked payloads apart from the leaves (retention deletes them; leaves commit only to hashes),
// the signing-key history, legal holds, and the requests and runs still open.
import type { FollowedRun } from "../record/index.js";
import type { NodeReader } from "./merkle.js";
import type { GrantUsage, IdentityUsage, SessionQuery, SessionSummary, SessionUpdate } from "./sessionIndex.js";
import { OperatorError } from "../errors.js";

export interface StoredEntry {
  seq: number;
  /** RFC 8785 canonical JSON, exactly the bytes that were hashed. */
  leaf: Buffer;
  leafHash: Buffer;
}

/** Columns kept beside each leaf so exports can be filtered without parsing every record. */
export interface EntryIndex {
  timeMs: number;
  type: string;
  subject: string | null;
  graphs: string[];
  requestId: string | null;
}

export interface StoredPayload {
  sha256: string;
  body: Buffer;
  subject: string | null;
  timeMs: number;
}

export interface AppendBatch {
  entries: (StoredEntry & { index: EntryIndex })[];
  /** Interior nodes completed by this batch (level >= 1; level 0 is the leaf hash). */
  nodes: { level: number; index: number; hash: Buffer }[];
  payloads: StoredPayload[];
  /** Requests admitted by this batch and not yet completed, and those this batch completes. */
  opened: { requestId: string; seq: number }[];
  /** The gateway instance that admitted `opened` (its lease says whether it still serves them). */
  instance: string;
  closed: string[];
  /** What the batch's records tell about their sessions (src/ledger/sessionIndex.ts). */
  sessions: SessionUpdate[];
}

/** A run the gateway follows to its end (src/record/runFollower.ts), kept in the store so that a
 * live instance can take it over when the instance following it dies. */
export type TrackedRun = FollowedRun;

/** The rightmost perfect subtree of a log: where it ends. */
export interface LogTip {
  level: number;
  index: number;
  hash: Buffer;
}

export interface StoredCheckpoint {
  size: number;
  root: Buffer;
  /** The signed note (C2SP tlog-checkpoint + signed-note), with any cosignatures. */
  note: string;
  createdAtMs: number;
}

export interface StoredKey {
  name: string;
  keyId: string;
  /** Verifier key in Go sumdb note form: name+keyid+base64(type||key). */
  vkey: string;
  role: "log" | "witness" | "manifest";
  validFromMs: number;
  validToMs: number | null;
}

export interface LegalHold {
  id: string;
  subject: string | null;
  fromMs: number | null;
  toMs: number | null;
  reason: string;
  createdBy: string;
  createdAtMs: number;
  releasedAtMs: number | null;
}

export interface EntryFilter {
  fromMs?: number;
  toMs?: number;
  subject?: string;
  graph?: string;
}

/** A write transaction that holds the log's sequencer lock: one writer per log at a time. */
export interface SequencerTransaction extends NodeReader {
  /** Entries in the log, read inside the lock (another instance may have appended). */
  size(): Promise<number>;
  insert(batch: AppendBatch): Promise<void>;
  /** The first sequence number the session index has not seen (below size after an upgrade). */
  sessionsIndexedTo(): Promise<number>;
  /** Indexes older entries (an upgraded ledger), then marks the index complete up to `next`. */
  indexSessions(updates: SessionUpdate[], next: number): Promise<void>;
}

export interface LedgerStore {
  readonly kind: "sqlite" | "postgres";
  /** Runs `work` in one transaction under the log's sequencer lock; commits durably before resolving. */
  sequence<T>(log: string, work: (tx: SequencerTransaction) => Promise<T>): Promise<T>;
  /** Commits `batch` if the log still ends where the caller prepared it: `expectedSize` entries,
   * its rightmost perfect subtree the given hash (absent for an empty log). Off the caller's event
   * loop where the store can, and in the order called; false, with nothing written, if the log
   * ends elsewhere (the caller then takes `sequence`, which checks and rebuilds). Durable before
   * resolving, like `sequence`. */
  appendAtSize?(log: string, expectedSize: number, expectedTip: LogTip | undefined, batch: AppendBatch): Promise<boolean>;
  /** Perfect-subtree hashes for proofs; level 0 is the leaf hash. */
  nodes(log: string): NodeReader;
  size(log: string): Promise<number>;
  /** The logs (origins) this store holds. */
  logs(): Promise<string[]>;
  /** Entries [from, to) in order, one page (array) at a time: cheaper per entry for full scans. */
  entryPages(log: string, from: number, to: number): AsyncIterable<StoredEntry[]>;
  /** Sequence numbers of entries matching the filter, ascending. */
  matchingSeqs(log: string, filter: EntryFilter): Promise<number[]>;
  /** Sequence numbers of the request and completion records of one request id. */
  seqsForRequest(log: string, requestId: string): Promise<number[]>;
  openRequests(log: string): Promise<{ requestId: string; seq: number }[]>;
  /** Several gateway instances may append to this store (PostgreSQL): another instance's open
   * requests are its own until its lease expires. On SQLite one gateway owns the file. */
  readonly sharedByInstances: boolean;
  /** Starts or renews `instance`'s lease on the log (its heartbeat). */
  renewLease(log: string, instance: string, nowMs: number): Promise<void>;
  /** The instance that signs the log's checkpoints on their cadence: the longest-running one whose
   * lease was renewed at or after `aliveSinceMs`. */
  checkpointSigner(log: string, aliveSinceMs: number): Promise<string | undefined>;
  /** Ends the leases last renewed before `expiredBeforeMs` (never `instance`'s own), and hands
   * `instance` every open request whose instance holds no lease; returns them. Atomic, so two
   * live instances never claim the same request. */
  claimOrphanedRequests(log: string, instance: string, expiredBeforeMs: number): Promise<{ requestId: string; seq: number }[]>;
  /** Ends `instance`'s lease (a clean shutdown). */
  endLease(log: string, instance: string): Promise<void>;
  /** Records that `instance` follows `run` until its run record is written (replaces a row for
   * the same request). */
  trackRun(log: string, instance: string, run: TrackedRun): Promise<void>;
  /** The run record of `requestId` is written: nobody needs to follow its run any more. */
  untrackRun(log: string, requestId: string): Promise<void>;
  /** Hands `instance` every tracked run whose instance holds no lease (after
   * claimOrphanedRequests ended the expired leases); returns them. Atomic, like that claim. */
  claimOrphanedRuns(log: string, instance: string): Promise<TrackedRun[]>;
  /** One page of sessions, newest first. */
  sessions(log: string, query: SessionQuery): Promise<SessionSummary[]>;
  session(log: string, requestId: string): Promise<SessionSummary | undefined>;
  /** Every identity seen, with its latest name and groups and when it last made a request. */
  identityUsage(log: string): Promise<IdentityUsage[]>;
  /** For each identity and rule that let it through: how often and when last. */
  grantUsage(log: string): Promise<GrantUsage[]>;

  addCheckpoint(log: string, checkpoint: StoredCheckpoint): Promise<void>;
  /** Checkpoints ordered by size then time; `atMostSize` / `atLeastSize` narrow the range. */
  checkpoints(log: string, range?: { atLeastSize?: number; atMostSize?: number }): Promise<StoredCheckpoint[]>;
  latestCheckpoint(log: string): Promise<StoredCheckpoint | undefined>;

  /** The stored payloads among `sha256s` (purged ones are absent), in one query. */
  payloads(sha256s: string[]): Promise<Map<string, Buffer>>;
  /** Every stored payload, ordered by hash, one page at a time (verify re-hashes each). */
  payloadPages(): AsyncIterable<{ sha256: string; body: Buffer }[]>;
  /** Deletes payloads stored before `beforeMs` that no active hold covers; returns their hashes. */
  purgePayloads(beforeMs: number): Promise<string[]>;
  addHold(hold: LegalHold): Promise<void>;
  releaseHold(id: string, atMs: number): Promise<boolean>;
  holds(): Promise<LegalHold[]>;

  addKey(key: StoredKey): Promise<void>;
  /** Closes a key's validity window (rotation or compromise). */
  retireKey(keyId: string, atMs: number): Promise<void>;
  keys(): Promise<StoredKey[]>;

  close(): Promise<void>;
}

export class LedgerStoreError extends OperatorError {
  override readonly name = "LedgerStoreError";
}

/** One stored payload; undefined once purged. */
export async function storedPayload(store: Pick<LedgerStore, "payloads">, sha256: string): Promise<Buffer | undefined> {
  return (await store.payloads([sha256])).get(sha256);
}
