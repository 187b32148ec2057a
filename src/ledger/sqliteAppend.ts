// What one append writes to a SQLite ledger, shared by the store's own connection (tools, the
// interactive sequencer path) and the writer thread's (src/ledger/sqliteWriter.ts), so both write
// the same rows the same way.
import type Database from "better-sqlite3";
import { compressedPayload } from "./payloadEncoding.js";
import { mergeSessionUpdates, SESSION_COLUMNS, sessionValues, type SessionUpdate } from "./sessionIndex.js";
import type { AppendBatch, LogTip, StoredCheckpoint, TrackedRun } from "./store.js";

const UPSERT_SESSION = `INSERT INTO ledger_sessions (log, request_id, ${SESSION_COLUMNS.join(", ")}, first_seq, last_seq)
  VALUES (?, ?, ${SESSION_COLUMNS.map(() => "?").join(", ")}, ?, ?)
  ON CONFLICT (log, request_id) DO UPDATE SET
  ${SESSION_COLUMNS.map((c) => (c === "started_ms" ? "started_ms = COALESCE(started_ms, excluded.started_ms)" : `${c} = COALESCE(excluded.${c}, ${c})`)).join(",\n  ")},
  first_seq = MIN(first_seq, excluded.first_seq), last_seq = MAX(last_seq, excluded.last_seq)`;

/** Opens a ledger file for writing: WAL with synchronous=FULL, so the WAL is fsynced at every
 * commit and an acknowledged append survives power loss. */
export function configureLedgerDatabase(db: Database.Database): void {
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 10000");
}

export class SqliteAppender {
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      size: db.prepare("SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM ledger_entries WHERE log = ?"),
      leafHash: db.prepare("SELECT leaf_hash FROM ledger_entries WHERE log = ? AND seq = ?").pluck(),
      node: db.prepare("SELECT hash FROM ledger_nodes WHERE log = ? AND level = ? AND idx = ?").pluck(),
      insertEntry: db.prepare("INSERT INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insertNode: db.prepare("INSERT INTO ledger_nodes (log, level, idx, hash) VALUES (?, ?, ?, ?)"),
      insertPayload: db.prepare("INSERT OR IGNORE INTO ledger_payloads (sha256, body, subject, time_ms, encoding) VALUES (?, ?, ?, ?, ?)"),
      open: db.prepare("INSERT OR REPLACE INTO ledger_open_requests (log, request_id, seq, instance) VALUES (?, ?, ?, ?)"),
      close: db.prepare("DELETE FROM ledger_open_requests WHERE log = ? AND request_id = ?"),
      upsertSession: db.prepare(UPSERT_SESSION),
      addCheckpoint: db.prepare("INSERT INTO ledger_checkpoints (log, size, root, note, created_at_ms) VALUES (?, ?, ?, ?, ?)"),
      trackRun: db.prepare("INSERT INTO ledger_followed_runs (log, request_id, instance, run) VALUES (?, ?, ?, ?) ON CONFLICT (log, request_id) DO UPDATE SET instance = excluded.instance, run = excluded.run"),
      untrackRun: db.prepare("DELETE FROM ledger_followed_runs WHERE log = ? AND request_id = ?"),
      sessionCursor: db.prepare("SELECT next_seq FROM ledger_session_cursor WHERE log = ?").pluck(),
      setSessionCursor: db.prepare("INSERT INTO ledger_session_cursor (log, next_seq) VALUES (?, ?) ON CONFLICT (log) DO UPDATE SET next_seq = excluded.next_seq"),
    };
  }

  size(log: string): number {
    return (this.statements.size.get(log) as { size: number }).size;
  }

  insert(log: string, batch: AppendBatch): void {
    const s = this.statements;
    for (const entry of batch.entries) {
      const i = entry.index;
      s.insertEntry.run(log, entry.seq, entry.leaf, entry.leafHash, i.timeMs, i.type, i.subject, i.graphs.join("\n"), i.requestId);
    }
    for (const node of batch.nodes) s.insertNode.run(log, node.level, node.index, node.hash);
    for (const payload of batch.payloads) {
      const stored = compressedPayload(payload.body);
      s.insertPayload.run(payload.sha256, stored.body, payload.subject, payload.timeMs, stored.encoding);
    }
    for (const open of batch.opened) s.open.run(log, open.requestId, open.seq, batch.instance);
    for (const requestId of batch.closed) s.close.run(log, requestId);
    if (batch.entries.length > 0) this.indexSessions(log, batch.sessions, batch.entries.at(-1)!.seq + 1);
  }

  addCheckpoint(log: string, checkpoint: StoredCheckpoint): void {
    this.statements.addCheckpoint.run(log, checkpoint.size, checkpoint.root, checkpoint.note, checkpoint.createdAtMs);
  }

  /** `instance` follows `run` until its run record is written (src/record/runFollower.ts). */
  trackRun(log: string, instance: string, run: TrackedRun): void {
    this.statements.trackRun.run(log, run.requestId, instance, JSON.stringify(run));
  }

  untrackRun(log: string, requestId: string): void {
    this.statements.untrackRun.run(log, requestId);
  }

  sessionsIndexedTo(log: string): number {
    // A ledger created before the index existed starts unindexed at 0.
    return (this.statements.sessionCursor.get(log) as number | undefined) ?? 0;
  }

  indexSessions(log: string, updates: SessionUpdate[], next: number): void {
    for (const update of mergeSessionUpdates(updates)) {
      this.statements.upsertSession.run(log, update.requestId, ...sessionValues(update), update.firstSeq ?? update.seq, update.seq);
    }
    this.statements.setSessionCursor.run(log, next);
  }

  /** Commits `batch` in one transaction if the log holds `size` entries and ends with `tip`
   * (so a batch prepared behind one that was never written cannot land); false otherwise. */
  appendIfEndsAt(log: string, size: number, tip: LogTip | undefined, batch: AppendBatch): boolean {
    return this.transaction(() => {
      if (this.size(log) !== size) return false;
      if (tip) {
        const stored = (tip.level === 0 ? this.statements.leafHash.get(log, tip.index) : this.statements.node.get(log, tip.level, tip.index)) as Uint8Array | undefined;
        if (!stored || !Buffer.from(stored).equals(Buffer.from(tip.hash))) return false;
      }
      this.insert(log, batch);
      return true;
    });
  }

  /** Runs `work` between BEGIN IMMEDIATE and COMMIT: the write lock is the log's sequencer lock. */
  transaction<T>(work: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }
}
