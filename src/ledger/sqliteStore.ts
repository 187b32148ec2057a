// The ledger on SQLite: one file in WAL mode with synchronous=FULL, so a commit is on disk
// before an append is acknowledged. BEGIN IMMEDIATE takes the write lock up front, which makes it
// the sequencer lock too: the gateway and the CLI (retention, holds) never interleave appends.
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { sessionFilter, sessionFromRow, parsedList, type GrantUsage, type IdentityUsage, type SessionQuery, type SessionRow, type SessionSummary } from "./sessionIndex.js";
import { INSTANCE_LEASE_TABLES, SESSION_INDEX_TABLES } from "./schema.js";
import { storedPayloadBody } from "./payloadEncoding.js";
import { startModuleThread } from "./moduleThread.js";
import { configureLedgerDatabase, SqliteAppender } from "./sqliteAppend.js";
import type { WriterRequest, WriterResponse } from "./sqliteWriter.js";
import type { AppendBatch, EntryFilter, LedgerStore, LegalHold, SequencerTransaction, StoredCheckpoint, StoredEntry, StoredKey, TrackedRun, LogTip } from "./store.js";
import { LedgerStoreError } from "./store.js";

const MIGRATIONS: string[] = [
  `CREATE TABLE ledger_entries (
     log TEXT NOT NULL,
     seq INTEGER NOT NULL,
     leaf BLOB NOT NULL,
     leaf_hash BLOB NOT NULL,
     time_ms INTEGER NOT NULL,
     type TEXT NOT NULL,
     subject TEXT,
     graphs TEXT NOT NULL,
     request_id TEXT,
     PRIMARY KEY (log, seq)
   ) WITHOUT ROWID;
   CREATE INDEX ledger_entries_time ON ledger_entries (log, time_ms);
   CREATE INDEX ledger_entries_request ON ledger_entries (log, request_id);
   CREATE TABLE ledger_nodes (
     log TEXT NOT NULL,
     level INTEGER NOT NULL,
     idx INTEGER NOT NULL,
     hash BLOB NOT NULL,
     PRIMARY KEY (log, level, idx)
   ) WITHOUT ROWID;
   CREATE TABLE ledger_open_requests (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     PRIMARY KEY (log, request_id)
   );
   CREATE TABLE ledger_checkpoints (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     log TEXT NOT NULL,
     size INTEGER NOT NULL,
     root BLOB NOT NULL,
     note TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL
   );
   CREATE INDEX ledger_checkpoints_size ON ledger_checkpoints (log, size);
   CREATE TABLE ledger_payloads (
     sha256 TEXT PRIMARY KEY,
     body BLOB NOT NULL,
     subject TEXT,
     time_ms INTEGER NOT NULL
   );
   CREATE INDEX ledger_payloads_time ON ledger_payloads (time_ms);
   CREATE TABLE ledger_holds (
     id TEXT PRIMARY KEY,
     subject TEXT,
     from_ms INTEGER,
     to_ms INTEGER,
     reason TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL,
     released_at_ms INTEGER
   );
   CREATE TABLE ledger_keys (
     key_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     vkey TEXT NOT NULL,
     role TEXT NOT NULL,
     valid_from_ms INTEGER NOT NULL,
     valid_to_ms INTEGER
   );
   -- Defence in depth only (audit-ledger.md §1): the tree, not these triggers, detects tampering.
   CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
   CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;`,
  // INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless recursive_triggers).
  `CREATE TRIGGER ledger_entries_no_replace BEFORE INSERT ON ledger_entries
     WHEN EXISTS (SELECT 1 FROM ledger_entries WHERE log = NEW.log AND seq = NEW.seq)
     BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;`,
  SESSION_INDEX_TABLES.sqlite,
  INSTANCE_LEASE_TABLES.sqlite,
  // Run follows: a run belongs to the process following it; a restarted gateway takes it over.
  `CREATE TABLE ledger_followed_runs (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     instance TEXT NOT NULL,
     run TEXT NOT NULL,
     PRIMARY KEY (log, request_id)
   );`,
  // Payloads stored compressed (sqliteAppend.ts); NULL: as recorded.
  `ALTER TABLE ledger_payloads ADD COLUMN encoding TEXT;`,
];

const PAGE = 2_000;
/** Payloads are up to audit.max_recording_bytes each: a few at a time. */
const PAYLOAD_PAGE = 16;

export class SqliteLedgerStore implements LedgerStore {
  readonly kind = "sqlite" as const;
  readonly sharedByInstances = false;
  private readonly db: Database.Database;
  private readonly appender: SqliteAppender;
  private readonly statements;
  private writer: LedgerWriter | undefined;

  constructor(private readonly file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    if (file !== ":memory:") chmodSync(file, 0o600);
    configureLedgerDatabase(this.db);
    migrate(this.db);
    this.appender = new SqliteAppender(this.db);
    const db = this.db;
    this.statements = {
      leafHash: db.prepare("SELECT leaf_hash FROM ledger_entries WHERE log = ? AND seq = ?").pluck(),
      node: db.prepare("SELECT hash FROM ledger_nodes WHERE log = ? AND level = ? AND idx = ?").pluck(),
      renewLease: db.prepare("INSERT INTO ledger_instances (log, instance, started_ms, heartbeat_ms) VALUES (?, ?, ?, ?) ON CONFLICT (log, instance) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms"),
      checkpointSigner: db.prepare("SELECT instance FROM ledger_instances WHERE log = ? AND heartbeat_ms >= ? ORDER BY started_ms, instance LIMIT 1").pluck(),
      expireLeases: db.prepare("DELETE FROM ledger_instances WHERE log = ? AND instance <> ? AND heartbeat_ms < ?"),
      claimOrphans: db.prepare(
        `UPDATE ledger_open_requests SET instance = ? WHERE log = ? AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = ?)
         RETURNING request_id AS requestId, seq`,
      ),
      endLease: db.prepare("DELETE FROM ledger_instances WHERE log = ? AND instance = ?"),
      claimOrphanedRuns: db.prepare(
        "UPDATE ledger_followed_runs SET instance = ? WHERE log = ? AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = ?) RETURNING run",
      ).pluck(),
      openRequests: db.prepare("SELECT request_id AS requestId, seq FROM ledger_open_requests WHERE log = ? ORDER BY seq"),
      entries: db.prepare("SELECT seq, leaf, leaf_hash AS leafHash FROM ledger_entries WHERE log = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?"),
      seqsForRequest: db.prepare("SELECT seq FROM ledger_entries WHERE log = ? AND request_id = ? ORDER BY seq").pluck(),
      checkpoints: db.prepare(
        "SELECT size, root, note, created_at_ms AS createdAtMs FROM ledger_checkpoints WHERE log = ? AND size >= ? AND size <= ? ORDER BY size, id",
      ),
      latestCheckpoint: db.prepare("SELECT size, root, note, created_at_ms AS createdAtMs FROM ledger_checkpoints WHERE log = ? ORDER BY size DESC, id DESC LIMIT 1"),
      payloads: db.prepare("SELECT sha256, body, encoding FROM ledger_payloads WHERE sha256 IN (SELECT value FROM json_each(?))"),
      payloadPage: db.prepare("SELECT sha256, body, encoding FROM ledger_payloads WHERE sha256 > ? ORDER BY sha256 LIMIT ?"),
      purge: db.prepare(
        `DELETE FROM ledger_payloads AS p WHERE p.time_ms < ? AND NOT EXISTS (
           SELECT 1 FROM ledger_holds AS h WHERE h.released_at_ms IS NULL
             AND (h.subject IS NULL OR h.subject = p.subject)
             AND (h.from_ms IS NULL OR p.time_ms >= h.from_ms)
             AND (h.to_ms IS NULL OR p.time_ms < h.to_ms))
         RETURNING sha256`,
      ).pluck(),
      addHold: db.prepare(
        "INSERT INTO ledger_holds (id, subject, from_ms, to_ms, reason, created_by, created_at_ms, released_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
      ),
      releaseHold: db.prepare("UPDATE ledger_holds SET released_at_ms = ? WHERE id = ? AND released_at_ms IS NULL"),
      holds: db.prepare(
        "SELECT id, subject, from_ms AS fromMs, to_ms AS toMs, reason, created_by AS createdBy, created_at_ms AS createdAtMs, released_at_ms AS releasedAtMs FROM ledger_holds ORDER BY created_at_ms",
      ),
      addKey: db.prepare("INSERT OR IGNORE INTO ledger_keys (key_id, name, vkey, role, valid_from_ms, valid_to_ms) VALUES (?, ?, ?, ?, ?, ?)"),
      retireKey: db.prepare("UPDATE ledger_keys SET valid_to_ms = ? WHERE key_id = ? AND valid_to_ms IS NULL"),
      session: db.prepare("SELECT * FROM ledger_sessions WHERE log = ? AND request_id = ?"),
      keys: db.prepare("SELECT key_id AS keyId, name, vkey, role, valid_from_ms AS validFromMs, valid_to_ms AS validToMs FROM ledger_keys ORDER BY valid_from_ms"),
    };
  }

  async sequence<T>(log: string, work: (tx: SequencerTransaction) => Promise<T>): Promise<T> {
    const appender = this.appender;
    const tx: SequencerTransaction = {
      size: async () => appender.size(log),
      node: (level, index) => this.readNode(log, level, index),
      insert: async (batch: AppendBatch) => appender.insert(log, batch),
      sessionsIndexedTo: async () => appender.sessionsIndexedTo(log),
      indexSessions: async (updates, next) => appender.indexSessions(log, updates, next),
    };
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = await work(tx);
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Commits `batch` on the writer thread if the log still ends where expected; false (nothing
   * written) otherwise. A file in memory has no second connection: it commits here. */
  async appendAtSize(log: string, expectedSize: number, expectedTip: LogTip | undefined, batch: AppendBatch): Promise<boolean> {
    if (this.file === ":memory:") return this.appender.appendIfEndsAt(log, expectedSize, expectedTip, batch);
    this.writer ??= new LedgerWriter(this.file);
    return this.writer.request({ op: "append", log, expectedSize, expectedTip, batch });
  }

  async sessions(log: string, query: SessionQuery): Promise<SessionSummary[]> {
    const { where, params } = sessionFilter(query, (column) => `instr(${column}, ?) > 0`);
    const rows = this.db
      .prepare(`SELECT * FROM ledger_sessions WHERE log = ? AND ${where.join(" AND ")} ORDER BY started_ms DESC, request_id DESC LIMIT ?`)
      .all(log, ...params, query.limit) as SessionRow[];
    return rows.map(sessionFromRow);
  }

  async session(log: string, requestId: string): Promise<SessionSummary | undefined> {
    const row = this.statements.session.get(log, requestId) as SessionRow | undefined;
    return row && row.started_ms !== null ? sessionFromRow(row) : undefined;
  }

  async identityUsage(log: string): Promise<IdentityUsage[]> {
    // The latest row of each subject carries its current name and groups.
    const rows = this.db
      .prepare(
        `SELECT a.subject, latest.name, latest.groups, a.lastMs, a.firstMs, a.count
         FROM (SELECT subject, MAX(started_ms) AS lastMs, MIN(started_ms) AS firstMs, COUNT(*) AS count FROM ledger_sessions
               WHERE log = ? AND subject IS NOT NULL AND started_ms IS NOT NULL GROUP BY subject) AS a
         JOIN ledger_sessions AS latest ON latest.request_id = (
           SELECT request_id FROM ledger_sessions AS s WHERE s.log = ? AND s.subject = a.subject AND s.started_ms IS NOT NULL ORDER BY s.started_ms DESC, s.request_id DESC LIMIT 1)
           AND latest.log = ?
         ORDER BY a.subject`,
      )
      .all(log, log, log) as { subject: string; name: string | null; groups: string | null; lastMs: number; firstMs: number; count: number }[];
    return rows.map((row) => ({ ...row, groups: parsedList(row.groups) }));
  }

  async grantUsage(log: string): Promise<GrantUsage[]> {
    return this.db
      .prepare(
        `SELECT subject, rule, MAX(started_ms) AS lastMs, COUNT(*) AS count FROM ledger_sessions
         WHERE log = ? AND subject IS NOT NULL AND started_ms IS NOT NULL AND decision IN ('allow', 'require-approval') AND substr(rule, 1, 8) <> 'gateway:'
         GROUP BY subject, rule ORDER BY subject, rule`,
      )
      .all(log) as GrantUsage[];
  }

  nodes(log: string) {
    return { node: (level: number, index: number) => this.readNode(log, level, index) };
  }

  private readNode(log: string, level: number, index: number): Buffer {
    const hash = (level === 0 ? this.statements.leafHash.get(log, index) : this.statements.node.get(log, level, index)) as Buffer | undefined;
    if (!hash) throw new LedgerStoreError(`the ledger has no hash for level ${level} index ${index}; the store is incomplete or was tampered with`);
    return hash;
  }

  async size(log: string): Promise<number> {
    return this.appender.size(log);
  }

  async logs(): Promise<string[]> {
    return this.db.prepare("SELECT DISTINCT log FROM ledger_entries ORDER BY log").pluck().all() as string[];
  }

  async *entryPages(log: string, from: number, to: number): AsyncIterable<StoredEntry[]> {
    for (let next = from; next < to; ) {
      const rows = this.statements.entries.all(log, next, to, PAGE) as StoredEntry[];
      if (rows.length === 0) return;
      yield rows;
      next = rows.at(-1)!.seq + 1;
    }
  }

  async matchingSeqs(log: string, filter: EntryFilter): Promise<number[]> {
    const where = ["log = ?"];
    const params: unknown[] = [log];
    const add = (clause: string, value: unknown) => {
      where.push(clause);
      params.push(value);
    };
    if (filter.fromMs !== undefined) add("time_ms >= ?", filter.fromMs);
    if (filter.toMs !== undefined) add("time_ms < ?", filter.toMs);
    if (filter.subject !== undefined) add("subject = ?", filter.subject);
    // graphs are stored newline-joined; match one whole name
    if (filter.graph !== undefined) add("instr(char(10) || graphs || char(10), char(10) || ? || char(10)) > 0", filter.graph);
    return this.db.prepare(`SELECT seq FROM ledger_entries WHERE ${where.join(" AND ")} ORDER BY seq`).pluck().all(...params) as number[];
  }

  async seqsForRequest(log: string, requestId: string): Promise<number[]> {
    return this.statements.seqsForRequest.all(log, requestId) as number[];
  }

  async openRequests(log: string) {
    return this.statements.openRequests.all(log) as { requestId: string; seq: number }[];
  }

  async renewLease(log: string, instance: string, nowMs: number): Promise<void> {
    this.statements.renewLease.run(log, instance, nowMs, nowMs);
  }

  async checkpointSigner(log: string, aliveSinceMs: number): Promise<string | undefined> {
    return this.statements.checkpointSigner.get(log, aliveSinceMs) as string | undefined;
  }

  async claimOrphanedRequests(log: string, instance: string, expiredBeforeMs: number): Promise<{ requestId: string; seq: number }[]> {
    const s = this.statements;
    return this.db.transaction(() => {
      s.expireLeases.run(log, instance, expiredBeforeMs);
      return s.claimOrphans.all(instance, log, log) as { requestId: string; seq: number }[];
    })();
  }

  async endLease(log: string, instance: string): Promise<void> {
    this.statements.endLease.run(log, instance);
  }

  // Writes go through the writer thread while it runs: on this connection they would wait for
  // its write lock on the event loop.
  async trackRun(log: string, instance: string, run: TrackedRun): Promise<void> {
    if (this.writer) await this.writer.request({ op: "trackRun", log, instance, run });
    else this.appender.trackRun(log, instance, run);
  }

  async untrackRun(log: string, requestId: string): Promise<void> {
    if (this.writer) await this.writer.request({ op: "untrackRun", log, requestId });
    else this.appender.untrackRun(log, requestId);
  }

  async claimOrphanedRuns(log: string, instance: string): Promise<TrackedRun[]> {
    return (this.statements.claimOrphanedRuns.all(instance, log, log) as string[]).map((run) => JSON.parse(run) as TrackedRun);
  }

  async addCheckpoint(log: string, checkpoint: StoredCheckpoint): Promise<void> {
    // While the writer thread runs, it takes the write lock: waiting for it here would stall the event loop.
    if (this.writer) await this.writer.request({ op: "checkpoint", log, checkpoint });
    else this.appender.addCheckpoint(log, checkpoint);
  }

  async checkpoints(log: string, range: { atLeastSize?: number; atMostSize?: number } = {}): Promise<StoredCheckpoint[]> {
    return this.statements.checkpoints.all(log, range.atLeastSize ?? 0, range.atMostSize ?? Number.MAX_SAFE_INTEGER) as StoredCheckpoint[];
  }

  async latestCheckpoint(log: string): Promise<StoredCheckpoint | undefined> {
    return this.statements.latestCheckpoint.get(log) as StoredCheckpoint | undefined;
  }

  async payloads(sha256s: string[]): Promise<Map<string, Buffer>> {
    if (sha256s.length === 0) return new Map();
    const rows = this.statements.payloads.all(JSON.stringify(sha256s)) as { sha256: string; body: Buffer; encoding: string | null }[];
    return new Map(rows.map((row) => [row.sha256, storedPayloadBody(row.body, row.encoding)]));
  }

  async *payloadPages(): AsyncIterable<{ sha256: string; body: Buffer }[]> {
    for (let after = ""; ; ) {
      const rows = this.statements.payloadPage.all(after, PAYLOAD_PAGE) as { sha256: string; body: Buffer; encoding: string | null }[];
      if (rows.length === 0) return;
      yield rows.map((row) => ({ sha256: row.sha256, body: storedPayloadBody(row.body, row.encoding) }));
      after = rows.at(-1)!.sha256;
    }
  }

  async purgePayloads(beforeMs: number): Promise<string[]> {
    return (this.statements.purge.all(beforeMs) as string[]).sort();
  }

  async addHold(hold: LegalHold): Promise<void> {
    this.statements.addHold.run(hold.id, hold.subject, hold.fromMs, hold.toMs, hold.reason, hold.createdBy, hold.createdAtMs);
  }

  async releaseHold(id: string, atMs: number): Promise<boolean> {
    return this.statements.releaseHold.run(atMs, id).changes > 0;
  }

  async holds(): Promise<LegalHold[]> {
    return this.statements.holds.all() as LegalHold[];
  }

  async addKey(key: StoredKey): Promise<void> {
    this.statements.addKey.run(key.keyId, key.name, key.vkey, key.role, key.validFromMs, key.validToMs);
  }

  async retireKey(keyId: string, atMs: number): Promise<void> {
    this.statements.retireKey.run(atMs, keyId);
  }

  async keys(): Promise<StoredKey[]> {
    return this.statements.keys.all() as StoredKey[];
  }

  async close(): Promise<void> {
    await this.writer?.close();
    this.writer = undefined;
    this.db.close();
  }
}

/** sqliteWriter.ts from source, sqliteWriter.js once built. */
const WRITER_MODULE = new URL(`./sqliteWriter${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;

/** The main thread's side of src/ledger/sqliteWriter.ts: requests answered in order. */
class LedgerWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (written: boolean) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;

  constructor(file: string) {
    this.worker = startModuleThread(WRITER_MODULE, { file });
    this.worker.unref();
    this.worker.on("message", (response: WriterResponse) => this.settle(response));
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new LedgerStoreError(`the ledger writer thread exited (code ${code})`)));
  }

  /** Resolves once the thread has answered: whether it wrote (false: the log did not end where expected). */
  request(request: DistributiveOmit<WriterRequest, "id">): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    // Referenced while an answer is awaited, so a process waiting for a commit does not exit.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private settle(response: WriterResponse): void {
    const waiter = this.pending.get(response.id);
    if (!waiter) return;
    this.pending.delete(response.id);
    if (this.pending.size === 0) this.worker.unref();
    if ("error" in response) waiter.reject(Object.assign(new LedgerStoreError(response.error.message), response.error.code ? { code: response.error.code } : {}));
    else waiter.resolve(response.written);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(this.failure);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.failure ??= new LedgerStoreError("the ledger store is closed");
    await this.worker.terminate();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new LedgerStoreError(`the ledger database was written by a newer Portcullis (schema ${current}, this version knows ${MIGRATIONS.length})`);
  }
  // Up to date: no write lock (a reader must not wait for the gateway's writer).
  if (current === MIGRATIONS.length) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const from = db.pragma("user_version", { simple: true }) as number;
    for (let version = from; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
