// The tamper-evident audit ledger: every audit record becomes one leaf of an RFC 6962 Merkle
// tree, appended with group commit and acknowledged only after the commit is durable; signed
// checkpoints (C2SP) follow at a short cadence, as a heartbeat when idle, and on shutdown.
//
//   append → (queue) → one transaction per batch: sequence, canonicalise, hash, insert → ack
//   timer  → checkpoint: sign (origin, size, root) with the log key, store the note
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { AppendContext, AppendReceipt, AuditRecord, AuditSink } from "../record/auditRecord.js";
import { canonicalJson } from "./canonical.js";
import { keyFileChanged, loadOrCreateLogKey, type LogKey } from "./keys.js";
import { CompactRange, leafHash, type NodeReader } from "./merkle.js";
import { formatCheckpoint, signNote } from "./note.js";
import type { AppendBatch, EntryIndex, LedgerStore, StoredCheckpoint, StoredPayload } from "./store.js";

/** Leaves stay well under the 64 KiB entry limit of tlog tiles (audit-ledger.md §8). */
export const MAX_LEAF_BYTES = 60_000;

export interface LedgerOptions {
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
}

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

export class Ledger implements AuditSink {
  private range: CompactRange = CompactRange.empty();
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private lastCheckpoint: StoredCheckpoint | undefined;
  private checkpointing: Promise<StoredCheckpoint> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly options: LedgerOptions,
    private key: LogKey,
  ) {}

  /** Opens the log: loads (or creates) the signing key, records it in the key history, closes
   * requests a previous process left open, and signs a first checkpoint. */
  static async open(options: LedgerOptions): Promise<Ledger> {
    const key = await loadOrCreateLogKey(options.keyFile, options.origin);
    const ledger = new Ledger(options, key);
    await ledger.registerKey();
    ledger.lastCheckpoint = await options.store.latestCheckpoint(options.origin);
    if (options.role === "tool") return ledger;
    await ledger.closeInterruptedRequests();
    await ledger.checkpoint();
    ledger.timer = setInterval(() => {
      ledger.checkpointIfDue().catch((error: unknown) => options.log.error({ err: error }, "ledger checkpoint failed"));
    }, options.checkpointIntervalMs);
    ledger.timer.unref();
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
      // Group commit: whatever arrives while a batch commits goes into the next one, so
      // concurrent requests share one fsync without a fixed wait (audit-ledger.md §11).
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    // Let the records of the current tick join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      try {
        const receipts = await this.commit(batch);
        batch.forEach((pending, i) => pending.resolve(receipts[i]!));
        if (this.options.onCommitted) batch.forEach((pending, i) => this.options.onCommitted!(pending.record, receipts[i]!));
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
    this.flushing = undefined;
  }

  private async commit(batch: Pending[]): Promise<AppendReceipt[]> {
    const origin = this.options.origin;
    const committed = await this.options.store.sequence(origin, async (tx) => {
      const size = await tx.size();
      // Another instance (shared PostgreSQL) or the CLI may have appended since our last batch.
      const range = size === this.range.size ? this.range.clone() : await rangeFromStore(tx, size);
      const out: AppendBatch = { entries: [], nodes: [], payloads: [], opened: [], closed: [] };
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
        receipts.push({ seq, leafHash: hash });
      }
      await tx.insert(out);
      return { range, receipts };
    });
    this.range = committed.range;
    return committed.receipts;
  }

  /** Signs a checkpoint of the tree as committed now, whether or not it grew (a heartbeat). */
  checkpoint(): Promise<StoredCheckpoint> {
    this.checkpointing ??= this.signCheckpoint().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async checkpointIfDue(): Promise<void> {
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
    // The root is read under the sequencer lock so size and root belong together.
    const { size, root } = await this.options.store.sequence(origin, async (tx) => {
      const size = await tx.size();
      const range = size === this.range.size ? this.range : await rangeFromStore(tx, size);
      return { size, root: range.root() };
    });
    const note = signNote(formatCheckpoint({ origin, size, root }), [this.key.signer]);
    const checkpoint: StoredCheckpoint = { size, root, note, createdAtMs: Date.now() };
    await this.options.store.addCheckpoint(origin, checkpoint);
    this.lastCheckpoint = checkpoint;
    return checkpoint;
  }

  private async registerKey(): Promise<void> {
    const known = await this.options.store.keys();
    if (known.some((k) => k.keyId === this.key.keyIdHex)) return;
    await this.options.store.addKey({ name: this.options.origin, keyId: this.key.keyIdHex, vkey: this.key.vkey, role: "log", validFromMs: Date.now(), validToMs: null });
  }

  /** A request record without a completion means the process died mid-exchange; say so in the ledger. */
  private async closeInterruptedRequests(): Promise<void> {
    const open = await this.options.store.openRequests(this.options.origin);
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
    this.options.log.warn({ requests: open.length }, "closed requests left open by a previous gateway process (recorded as interrupted)");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    await this.flushing;
    await this.checkpoint().catch((error: unknown) => this.options.log.error({ err: error }, "final ledger checkpoint failed"));
    this.closed = true;
    await this.options.store.close();
  }
}

export function leafBytes(origin: string, seq: number, record: AuditRecord): Buffer {
  const leaf = canonicalJson({ v: 1, log: origin, seq: String(seq), record } satisfies LedgerLeaf);
  if (leaf.length <= MAX_LEAF_BYTES) return leaf;
  // Oversized only through unexpected input (e.g. a huge identity); keep the essentials.
  return canonicalJson({ v: 1, log: origin, seq: String(seq), record: shrunk(record) });
}

function shrunk(record: AuditRecord): AuditRecord {
  const json = JSON.stringify(record);
  return {
    type: "ledger",
    time: "time" in record ? record.time : new Date().toISOString(),
    event: "record.oversized",
    actor: "gateway",
    details: { oversized_record: { type: record.type, bytes: json.length, sha256: createHash("sha256").update(json).digest("hex") } },
  };
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
