// The tamper-evident audit ledger: every audit record becomes one leaf of an RFC 6962 Merkle
// tree, appended with group commit and acknowledged only after the commit is durable; signed
// checkpoints (C2SP) follow at a short cadence, as a heartbeat when idle, and on shutdown.
//
//   append → (queue) → one transaction per batch: sequence, canonicalise, hash, insert → ack
//   timer  → checkpoint: sign (origin, size, root) with the log key, store the note
import { createHash, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { metrics } from "../observe/index.js";
import type { AppendContext, AppendReceipt, AuditRecord, AuditSink } from "../record/index.js";
import { canonicalJson } from "./canonical.js";
import { keyFileChanged, loadLogKey, loadOrCreateLogKey, MissingLogKeyError, type LogKey } from "./keys.js";
import { CompactRange, leafHash, type NodeReader } from "./merkle.js";
import { formatCheckpoint, signNote } from "./note.js";
import { sessionUpdateOf, type SessionUpdate } from "./sessionIndex.js";
import type { AppendBatch, EntryIndex, LedgerStore, SequencerTransaction, StoredCheckpoint, StoredPayload, TrackedRun } from "./store.js";
import { WitnessClient, type WitnessEndpoint } from "./witnesses.js";
import { OperatorError } from "../errors.js";

/** Leaves stay well under the 64 KiB entry limit of tlog tiles (audit-ledger.md §8). */
const MAX_LEAF_BYTES = 60_000;

interface LedgerOptions {
  origin: string;
  store: LedgerStore;
  keyFile: string;
  log: Logger;
  checkpointIntervalMs: number;
  heartbeatIntervalMs: number;
  /** Most records committed in one transaction. */
  maxBatch: number;
  /** Receives every record after it is committed (the SIEM stream). */
  onCommitted?: (record: AuditRecord, receipt: AppendReceipt) => void;
  /** "gateway": closes requests a dead process left open and signs on a timer. "tool": the CLI
   * appending beside a running gateway, which must not touch the gateway's open requests. */
  role?: "gateway" | "tool";
  /** A tool that has just written a new key file (rotate-key) adds it to the key history. */
  registerKey?: boolean;
  /** How long a gateway instance that stopped renewing its lease keeps its open requests on a
   * shared store before a live instance closes them (default 30 s; renewed every third of it). */
  leaseMs?: number;
  /** Witnesses (c2sp.org/tlog-witness) every checkpoint is sent to; their cosignatures are stored with it. */
  witnesses?: readonly WitnessEndpoint[];
  witnessTimeoutMs?: number;
}

const DEFAULT_LEASE_MS = 30_000;
const WITNESS_CLOCK_SLACK_MS = 60_000;

/** The leaf: the record inside an envelope that binds it to this log and position. */
export interface LedgerLeaf {
  v: 1;
  log: string;
  /** Decimal string: I-JSON keeps integers above 2^53 exact only as strings (RFC 8785 §3.2.2.3). */
  seq: string;
  record: AuditRecord;
}

interface Pending {
  record: AuditRecord;
  context: AppendContext;
  resolve: (receipt: AppendReceipt) => void;
  reject: (error: unknown) => void;
}

export class LedgerIntegrityError extends OperatorError {
  override readonly name = "LedgerIntegrityError";
}

export class Ledger implements AuditSink {
  private range: CompactRange = CompactRange.empty();
  /** The tree after the last batch handed to the store's writer, committed or not yet, and the
   * chain of batches it belongs to (a batch that is not written ends its chain). */
  private tip: CompactRange | undefined;
  private tipChain = 0;
  /** The checking path (sequence), one batch at a time. */
  private checking: Promise<unknown> = Promise.resolve();
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private lastCheckpoint: StoredCheckpoint | undefined;
  private checkpointing: Promise<StoredCheckpoint> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastCommitError: Error | undefined;
  /** This process's lease on the log: the requests it admits are its own while it renews it. */
  readonly instance = randomUUID();
  private leaseTimer: NodeJS.Timeout | undefined;
  private maintaining = false;
  /** Follows the runs this instance takes over from a stopped one (set by the gateway). */
  private runTakeover: ((run: TrackedRun) => void) | undefined;
  private witnessClients: WitnessClient[] = [];
  /** Cosigning runs one checkpoint at a time, after it is stored, never holding up appends. */
  private witnessing: Promise<void> = Promise.resolve();
  private pendingCosign: StoredCheckpoint | undefined;

  private constructor(
    private readonly options: LedgerOptions,
    private key: LogKey,
  ) {}

  /** Opens the log: loads (or creates) the signing key, records it in the key history, closes
   * requests a previous process left open, and signs a first checkpoint. */
  static async open(options: LedgerOptions): Promise<Ledger> {
    // A tool signs only with a key the log already knows, unless it is the one rotating it.
    const tool = options.role === "tool";
    const key = tool ? await loadLogKey(options.keyFile, options.origin) : await loadOrCreateLogKey(options.keyFile, options.origin);
    const ledger = new Ledger(options, key);
    // Tools cosign too (an export's end checkpoint); only the gateway adds witness keys to the history.
    ledger.witnessClients = (options.witnesses ?? []).map((endpoint) => new WitnessClient(endpoint, options.witnessTimeoutMs ?? 5_000));
    if (tool && !options.registerKey) await ledger.requireKnownKey();
    else await ledger.registerKey();
    ledger.lastCheckpoint = await options.store.latestCheckpoint(options.origin);
    // Start from the stored tree, proven consistent with the newest checkpoint (fail closed).
    ledger.range = await options.store.sequence(options.origin, async (tx) => {
      const size = await tx.size();
      await ledger.catchUpSessionIndex(tx, size);
      return ledger.rebuilt(tx, size);
    });
    if (options.role === "tool") return ledger;
    await ledger.registerWitnesses();
    await ledger.renewLease();
    // One gateway owns a SQLite file: whatever it finds open, a previous process left.
    await ledger.closeOrphanedRequests(options.store.sharedByInstances ? Date.now() - ledger.leaseMs : Infinity);
    await ledger.checkpoint();
    ledger.timer = setInterval(() => {
      ledger.checkpointIfDue().catch((error: unknown) => {
        metrics()?.ledgerStoreErrors.inc({ operation: "checkpoint" });
        options.log.error({ err: error }, "ledger checkpoint failed");
      });
    }, options.checkpointIntervalMs);
    ledger.timer.unref();
    if (options.store.sharedByInstances) {
      // Renewed three times per lease, on its own timer: a lease never outlives the checkpoint cadence.
      ledger.leaseTimer = setInterval(() => {
        if (ledger.maintaining) return;
        ledger.maintaining = true;
        ledger
          .maintainLease()
          .catch((error: unknown) => options.log.error({ err: error }, "ledger lease renewal failed"))
          .finally(() => {
            ledger.maintaining = false;
          });
      }, ledger.leaseMs / 3);
      ledger.leaseTimer.unref();
    }
    return ledger;
  }

  get origin(): string {
    return this.options.origin;
  }

  get store(): LedgerStore {
    return this.options.store;
  }

  get verifierKey(): string {
    return this.key.vkey;
  }

  get keyId(): string {
    return this.key.keyIdHex;
  }

  /** Signs notes as the log (checkpoints, bundle manifests). */
  get signer() {
    return this.key.signer;
  }

  append(record: AuditRecord, context: AppendContext = {}): Promise<AppendReceipt> {
    if (this.closed) return Promise.reject(new Error("the audit ledger is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ record, context, resolve, reject });
      metrics()?.ledgerQueueDepth.set(this.queue.length);
      // Group commit: whatever arrives while a batch commits goes into the next one, so
      // concurrent requests share one fsync without a fixed wait (audit-ledger.md §11).
      this.flushing ??= this.flush();
    });
  }

  /** Not ready while the last commit failed (until one succeeds) or the store does not answer. */
  async readiness(): Promise<string | undefined> {
    if (this.closed) return "the ledger is closed";
    if (this.lastCommitError) return `the last append failed: ${this.lastCommitError.message}`;
    await this.options.store.size(this.options.origin);
    return undefined;
  }

  private async flush(): Promise<void> {
    // Let the records of the current tick join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    // With a writer thread, the next batch is prepared and sent while one commits.
    const depth = this.pipelined ? 2 : 1;
    const inFlight: { batch: Pending[]; receipts: Promise<AppendReceipt[]>; committing: (() => void) | undefined }[] = [];
    while (this.queue.length > 0 || inFlight.length > 0) {
      while (this.queue.length > 0 && inFlight.length < depth) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        const committing = metrics()?.ledgerCommitting(batch.length, this.queue.length);
        const receipts = this.commit(batch);
        // Settled in order below; a rejection is handled there.
        receipts.catch(() => undefined);
        inFlight.push({ batch, receipts, committing });
      }
      const { batch, receipts: committed, committing } = inFlight.shift()!;
      try {
        const receipts = await committed;
        committing?.();
        this.lastCommitError = undefined;
        batch.forEach((pending, i) => pending.resolve(receipts[i]!));
        if (this.options.onCommitted) batch.forEach((pending, i) => this.options.onCommitted!(pending.record, receipts[i]!));
      } catch (error) {
        metrics()?.ledgerStoreErrors.inc({ operation: "append" });
        this.lastCommitError = error as Error;
        for (const pending of batch) pending.reject(error);
      }
    }
    this.flushing = undefined;
  }

  private get pipelined(): boolean {
    return this.options.store.appendAtSize !== undefined && this.options.role !== "tool";
  }

  private async commit(batch: Pending[]): Promise<AppendReceipt[]> {
    const origin = this.options.origin;
    const store = this.options.store;
    if (this.pipelined) {
      // Prepared against where the previous batch leaves the log (committed or still in flight);
      // the store writes it only if the log still ends there, else nothing (someone else
      // appended, the previous batch failed, the file was cut) and the checking path follows.
      const chain = this.tipChain;
      const base = this.tip ?? this.range;
      const prepared = this.prepare(batch, base.clone());
      this.tip = prepared.range;
      let written = false;
      try {
        written = await store.appendAtSize!(origin, base.size, rightmostSubtree(base), prepared.batch);
      } finally {
        // Whatever was prepared behind this batch cannot land either: start a new chain from
        // what is committed.
        if (!written && chain === this.tipChain) {
          this.tip = undefined;
          this.tipChain += 1;
        }
      }
      if (written) {
        this.advanceTo(prepared.range);
        return prepared.receipts;
      }
    }
    // One checking commit at a time: a pipelined batch behind a refused one comes here too.
    const checked = this.checking.then(() =>
      store.sequence(origin, async (tx) => {
        const size = await tx.size();
        // Another instance (shared PostgreSQL) or the CLI may have appended since our last batch.
        const prepared = this.prepare(batch, size === this.range.size ? this.range.clone() : await this.rebuilt(tx, size));
        await tx.insert(prepared.batch);
        return prepared;
      }),
    );
    this.checking = checked.catch(() => undefined);
    const committed = await checked;
    this.advanceTo(committed.range);
    return committed.receipts;
  }

  /** Batches commit in order but their answers may be read out of it: the tree only grows. */
  private advanceTo(range: CompactRange): void {
    if (range.size >= this.range.size) this.range = range;
  }

  /** The rows a batch of records adds to the log after `range` (which it extends). */
  private prepare(batch: Pending[], range: CompactRange): { batch: AppendBatch; range: CompactRange; receipts: AppendReceipt[] } {
    const origin = this.options.origin;
    const out: AppendBatch = { entries: [], nodes: [], payloads: [], opened: [], instance: this.instance, closed: [], sessions: [] };
    const receipts: AppendReceipt[] = [];
    for (const { record, context } of batch) {
      const seq = range.size;
      const leaf = leafBytes(origin, seq, record);
      const hash = leafHash(leaf);
      range.append(hash, (level, index, nodeHash) => out.nodes.push({ level, index, hash: nodeHash }));
      out.entries.push({ seq, leaf, leafHash: hash, index: indexOf(record, context) });
      for (const payload of context.payloads ?? []) out.payloads.push(storedPayload(payload, context, record));
      if (record.type === "request" && record.status === undefined) out.opened.push({ requestId: record.request_id, seq });
      if (record.type === "completion") out.closed.push(record.request_id);
      const session = sessionUpdateOf(record, seq);
      if (session) out.sessions.push(session);
      receipts.push({ seq, leafHash: hash });
    }
    return { batch: out, range, receipts };
  }

  /** The tree at `size` from stored hashes, after proving that the store still holds what this
   * log last signed: a log must never sign two inconsistent checkpoints (C2SP tlog-checkpoint),
   * so a store that shrank or was rewritten below a signed checkpoint stops the writer. */
  private async rebuilt(nodes: NodeReader & { size(): Promise<number> }, size: number): Promise<CompactRange> {
    const signed = this.lastCheckpoint;
    if (size < this.range.size || (signed && size < signed.size)) {
      throw new LedgerIntegrityError(`the ledger store holds ${size} entries but ${Math.max(this.range.size, signed?.size ?? 0)} were committed and signed; it was truncated outside Portcullis. Appends are refused until an operator investigates (run portcullis verify).`);
    }
    if (signed && signed.size > 0 && !(await rangeFromStore(nodes, signed.size)).root().equals(signed.root)) {
      throw new LedgerIntegrityError(`the ledger store no longer matches the checkpoint it signed at size ${signed.size}; it was rewritten outside Portcullis. Appends are refused until an operator investigates (run portcullis verify).`);
    }
    return rangeFromStore(nodes, size);
  }

  /** A ledger written before the session index existed (or by an older version) is indexed
   * from its leaves once, under the sequencer lock, before anything new is appended. */
  private async catchUpSessionIndex(tx: SequencerTransaction, size: number): Promise<void> {
    let next = await tx.sessionsIndexedTo();
    if (next >= size) return;
    const started = next;
    for await (const page of this.options.store.entryPages(this.options.origin, next, size)) {
      const updates: SessionUpdate[] = [];
      for (const entry of page) {
        const leaf = JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf;
        const update = sessionUpdateOf(leaf.record, entry.seq);
        if (update) updates.push(update);
      }
      next = page.at(-1)!.seq + 1;
      await tx.indexSessions(updates, next);
    }
    this.options.log.info({ from: started, to: next }, "session index rebuilt from the ledger");
  }

  /** Signs a checkpoint of the tree as committed now, whether or not it grew (a heartbeat). */
  checkpoint(): Promise<StoredCheckpoint> {
    this.checkpointing ??= this.signCheckpoint().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async checkpointIfDue(): Promise<void> {
    // Several instances on one log: one signs on the cadence (the longest-running live one), so
    // the log has one sequence of timed checkpoints; the others still sign at start, on shutdown
    // and for exports. A signer that dies is replaced once its lease expires.
    if (this.options.store.sharedByInstances && (await this.options.store.checkpointSigner(this.options.origin, Date.now() - this.leaseMs)) !== this.instance) return;
    const last = this.lastCheckpoint;
    const grew = !last || (await this.options.store.size(this.options.origin)) > last.size;
    if (grew || Date.now() - last.createdAtMs >= this.options.heartbeatIntervalMs) await this.checkpoint();
  }

  private async signCheckpoint(): Promise<StoredCheckpoint> {
    await this.flushing;
    if (await keyFileChanged(this.options.keyFile, this.key)) {
      // `portcullis audit rotate-key` wrote a new key; sign with it from now on.
      this.key = await loadOrCreateLogKey(this.options.keyFile, this.options.origin);
      await this.registerKey();
    }
    const origin = this.options.origin;
    const committed = this.range;
    // What this process committed last is the log, unless another process appended (or the file
    // was cut): then the root is read under the sequencer lock so size and root belong together.
    const { size, root } =
      (await this.options.store.size(origin)) === committed.size
        ? { size: committed.size, root: committed.root() }
        : await this.options.store.sequence(origin, async (tx) => {
            const size = await tx.size();
            const range = size === this.range.size ? this.range : await this.rebuilt(tx, size);
            return { size, root: range.root() };
          });
    const note = signNote(formatCheckpoint({ origin, size, root }), [this.key.signer]);
    const checkpoint: StoredCheckpoint = { size, root, note, createdAtMs: Date.now() };
    await this.options.store.addCheckpoint(origin, checkpoint);
    metrics()?.checkpointSigned(checkpoint.createdAtMs);
    this.lastCheckpoint = checkpoint;
    if (this.witnessClients.length > 0) {
      // One cosigning at a time, for the newest checkpoint only: a slow or absent witness cannot
      // build a backlog, and a later cosignature covers what the skipped ones would have.
      const queued = this.pendingCosign !== undefined;
      this.pendingCosign = checkpoint;
      if (!queued) {
        this.witnessing = this.witnessing.then(() => {
          const next = this.pendingCosign!;
          this.pendingCosign = undefined;
          return this.cosign(next);
        });
      }
    }
    return checkpoint;
  }

  /** Waits for the cosignatures of the checkpoints signed so far (exports, tests, shutdown). */
  async witnessed(): Promise<void> {
    await this.witnessing;
  }

  /** Each witness's cosignature on `checkpoint`, stored as a cosigned copy of it. A witness that
   * is down or refuses is logged: the checkpoint stands, and verify --trusted-witness reports
   * the gap (a stale or missing cosignature), which is the point. */
  private async cosign(checkpoint: StoredCheckpoint): Promise<void> {
    const nodes = this.options.store.nodes(this.options.origin);
    const results = await Promise.allSettled(this.witnessClients.map((client) => client.cosign(checkpoint.note, checkpoint.size, nodes)));
    let lines = "";
    results.forEach((result, i) => {
      if (result.status === "fulfilled") lines += result.value;
      else this.options.log.error({ err: result.reason, witness: this.witnessClients[i]!.name }, "a witness did not cosign the checkpoint");
    });
    if (lines === "") return;
    const cosigned: StoredCheckpoint = { ...checkpoint, note: `${checkpoint.note}${lines}` };
    await this.options.store.addCheckpoint(this.options.origin, cosigned).catch((error: unknown) => this.options.log.error({ err: error }, "storing a cosigned checkpoint failed"));
    if (this.lastCheckpoint === checkpoint) this.lastCheckpoint = cosigned;
  }

  /** The witnesses' keys join the key history (role "witness"), so bundles carry them. */
  private async registerWitnesses(): Promise<void> {
    if (this.witnessClients.length === 0) return;
    const known = await this.options.store.keys();
    for (const client of this.witnessClients) {
      const keyId = client.verifier.keyId.toString("hex");
      if (known.some((k) => k.keyId === keyId)) continue;
      // Cosignature times are whole seconds of the witness's clock: a minute of slack before now.
      await this.options.store.addKey({ name: client.name, keyId, vkey: client.endpoint.vkey, role: "witness", validFromMs: Math.floor(Date.now() / 1000) * 1000 - WITNESS_CLOCK_SLACK_MS, validToMs: null });
    }
  }

  private async requireKnownKey(): Promise<void> {
    const known = await this.options.store.keys();
    const active = known.find((k) => k.keyId === this.key.keyIdHex && k.role === "log" && k.validToMs === null);
    if (active) return;
    throw new MissingLogKeyError(
      known.some((k) => k.keyId === this.key.keyIdHex)
        ? `the key at ${this.options.keyFile} was retired from this ledger's key history; pass --key-file with its active signing key`
        : `the key at ${this.options.keyFile} is not in this ledger's key history; pass --key-file <the gateway's audit.signing_key_file> (a tool never registers a key of its own; portcullis audit rotate-key replaces one)`,
    );
  }

  private async registerKey(): Promise<void> {
    const known = await this.options.store.keys();
    if (known.some((k) => k.keyId === this.key.keyIdHex)) return;
    await this.options.store.addKey({ name: this.options.origin, keyId: this.key.keyIdHex, vkey: this.key.vkey, role: "log", validFromMs: Date.now(), validToMs: null });
  }

  private get leaseMs(): number {
    return this.options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  private async renewLease(): Promise<void> {
    await this.options.store.renewLease(this.options.origin, this.instance, Date.now());
  }

  /** Renews this instance's lease, closes the requests of instances whose lease expired, and
   * takes over the runs they followed. */
  private async maintainLease(): Promise<void> {
    await this.renewLease();
    await this.closeOrphanedRequests(Date.now() - this.leaseMs);
    await this.followOrphanedRuns();
  }

  /** Records that this instance follows `run` to its end: if it dies first, a live instance
   * takes the run over (takeOverRuns), so the run's record is still written. */
  async trackRun(run: TrackedRun): Promise<void> {
    await this.options.store.trackRun(this.options.origin, this.instance, run);
  }

  /** On a shared store, runs unfinished at shutdown are left to the live instances. */
  get handsOverRuns(): boolean {
    return this.options.store.sharedByInstances;
  }

  /** The run's record is written. */
  async untrackRun(requestId: string): Promise<void> {
    await this.options.store.untrackRun(this.options.origin, requestId);
  }

  /** From now on, runs followed by an instance that lost its lease (or by the previous process
   * on a SQLite file) are handed to `follow`; those already orphaned are handed over at once. */
  async takeOverRuns(follow: (run: TrackedRun) => void): Promise<void> {
    this.runTakeover = follow;
    await this.followOrphanedRuns();
  }

  private async followOrphanedRuns(): Promise<void> {
    if (!this.runTakeover || this.closed) return;
    const runs = await this.options.store.claimOrphanedRuns(this.options.origin, this.instance);
    if (runs.length === 0) return;
    for (const run of runs) this.runTakeover(run);
    this.options.log.warn({ runs: runs.length, run_ids: runs.map((run) => run.runId) }, "following runs taken over from a gateway process that stopped");
  }

  /** A request record without a completion whose instance no longer holds a lease means that
   * process died mid-exchange; say so in the ledger. A live instance's requests are left alone. */
  private async closeOrphanedRequests(expiredBeforeMs: number): Promise<void> {
    const open = await this.options.store.claimOrphanedRequests(this.options.origin, this.instance, expiredBeforeMs);
    if (open.length === 0) return;
    const time = new Date().toISOString();
    await Promise.all(
      open.map(({ requestId }) =>
        this.append({
          type: "completion",
          request_id: requestId,
          time,
          status: null,
          upstream_status: null,
          outcome: "interrupted",
          error: "PC_GATEWAY_RESTARTED",
          duration_ms: 0,
          bytes_in: 0,
          bytes_out: 0,
        }),
      ),
    );
    this.options.log.warn({ requests: open.length }, "closed requests left open by a gateway process that stopped (recorded as interrupted)");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    clearInterval(this.leaseTimer);
    await this.flushing;
    await this.checkpoint().catch((error: unknown) => this.options.log.error({ err: error }, "final ledger checkpoint failed"));
    await this.witnessing;
    if (this.options.role !== "tool") {
      // Requests still open now were not completed by this process: hand them on at once.
      await this.options.store.endLease(this.options.origin, this.instance).catch((error: unknown) => this.options.log.error({ err: error }, "ending the ledger lease failed"));
    }
    this.closed = true;
    await this.options.store.close();
  }
}

export function leafBytes(origin: string, seq: number, record: AuditRecord): Buffer {
  const leaf = canonicalJson({ v: 1, log: origin, seq: String(seq), record } satisfies LedgerLeaf);
  if (leaf.length <= MAX_LEAF_BYTES) return leaf;
  // Only client-supplied values (ids, namespaces, event names) make a record this large: keep
  // every field, cut long strings and lists down with a hash of what was cut.
  const shortened = canonicalJson({ v: 1, log: origin, seq: String(seq), record: bounded(record, 0) as AuditRecord });
  if (shortened.length <= MAX_LEAF_BYTES) return shortened;
  throw new LedgerIntegrityError(`an audit record of ${leaf.length} bytes cannot be bounded below ${MAX_LEAF_BYTES}; the request is refused`);
}

const MAX_STRING = 512;
const MAX_ITEMS = 64;

function bounded(value: unknown, depth: number): unknown {
  if (typeof value === "string") {
    if (value.length <= MAX_STRING) return value;
    return `${value.slice(0, MAX_STRING)}…[${value.length} chars, sha256 ${createHash("sha256").update(value).digest("hex")}]`;
  }
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_ITEMS).map((item) => bounded(item, depth + 1));
    return value.length > MAX_ITEMS ? [...kept, `…[${value.length - MAX_ITEMS} more items]`] : kept;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    const kept = entries.slice(0, MAX_ITEMS).map(([key, item]) => [bounded(key, depth + 1) as string, depth > 8 ? "…" : bounded(item, depth + 1)]);
    if (entries.length > MAX_ITEMS) kept.push(["…truncated", `${entries.length - MAX_ITEMS} more members`]);
    return Object.fromEntries(kept);
  }
  return value;
}

function indexOf(record: AuditRecord, context: AppendContext): EntryIndex {
  const subject = context.subject !== undefined ? context.subject : record.type === "request" ? (record.identity?.subject ?? null) : null;
  const graphs = context.graphs ?? (record.type === "request" ? (record.resources?.graphs ?? []) : []);
  return {
    timeMs: Date.parse(record.time) || Date.now(),
    type: record.type,
    subject,
    graphs,
    requestId: "request_id" in record ? record.request_id : null,
  };
}

function storedPayload(payload: { sha256: string; body: Buffer }, context: AppendContext, record: AuditRecord): StoredPayload {
  return { sha256: payload.sha256, body: payload.body, subject: context.subject ?? null, timeMs: Date.parse(record.time) || Date.now() };
}

/** The log's last perfect subtree (the rightmost root of the range): a writer that finds the same
 * hash at the same place knows the log ends where the range does. */
function rightmostSubtree(range: CompactRange): { level: number; index: number; hash: Buffer } | undefined {
  const size = range.size;
  if (size === 0) return undefined;
  let level = 0;
  while ((size / 2 ** level) % 2 === 0) level += 1;
  return { level, index: size / 2 ** level - 1, hash: range.frontier().at(-1)! };
}

/** Rebuilds the compact range at `size` from stored perfect-subtree hashes (one per set bit). */
export async function rangeFromStore(nodes: NodeReader, size: number): Promise<CompactRange> {
  const hashes: Buffer[] = [];
  let start = 0;
  for (let level = Math.floor(Math.log2(size || 1)); level >= 0; level--) {
    const width = 2 ** level;
    if (size - start >= width) {
      hashes.push(await nodes.node(level, start / width));
      start += width;
    }
  }
  return CompactRange.fromFrontier(size, hashes);
}
