// The ledger on SQLite: one file in WAL mode with synchronous=FULL, so a commit is on disk
// before an append is acknowledged. BEGIN IMMEDIATE takes the write lock up front, which makes it
// the sequencer lock too: the gateway and the CLI (retention, holds) never interleave appends.
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { mergeSessionUpdates, SESSION_COLUMNS, sessionFilter, sessionFromRow, sessionValues, parsedList, type GrantUsage, type IdentityUsage, type SessionQuery, type SessionRow, type SessionSummary, type SessionUpdate } from "./sessionIndex.js";
import type { AppendBatch, EntryFilter, LedgerStore, LegalHold, SequencerTransaction, StoredCheckpoint, StoredEntry, StoredKey, TrackedRun } from "./store.js";
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
  // The session index (sessionIndex.ts), rebuilt from the leaves when a ledger is upgraded.
  `CREATE TABLE ledger_sessions (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     started_ms INTEGER,
     ended_ms INTEGER,
     subject TEXT,
     name TEXT,
     groups TEXT,
     graphs TEXT,
     assistant_id TEXT,
     thread_id TEXT,
     run_id TEXT,
     kind TEXT,
     route TEXT,
     method TEXT,
     path TEXT,
     decision TEXT,
     rule TEXT,
     http_status INTEGER,
     outcome TEXT,
     run_status TEXT,
     approval TEXT,
     approval_id TEXT,
     parent_request_id TEXT,
     first_seq INTEGER NOT NULL,
     last_seq INTEGER NOT NULL,
     PRIMARY KEY (log, request_id)
   );
   CREATE INDEX ledger_sessions_started ON ledger_sessions (log, started_ms, request_id);
   CREATE INDEX ledger_sessions_subject ON ledger_sessions (log, subject, started_ms, request_id);
   CREATE INDEX ledger_sessions_thread ON ledger_sessions (log, thread_id, started_ms, request_id);
   CREATE INDEX ledger_sessions_parent ON ledger_sessions (log, parent_request_id, started_ms, request_id);
   CREATE TABLE ledger_session_cursor (log TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);`,
  // Instance leases: an open request belongs to the instance that admitted it.
  `ALTER TABLE ledger_open_requests ADD COLUMN instance TEXT NOT NULL DEFAULT '';
   CREATE TABLE ledger_instances (
     log TEXT NOT NULL,
     instance TEXT NOT NULL,
     started_ms INTEGER NOT NULL,
     heartbeat_ms INTEGER NOT NULL,
     PRIMARY KEY (log, instance)
   );`,
  // Run follows: a run belongs to the process following it; a restarted gateway takes it over.
  `CREATE TABLE ledger_followed_runs (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     instance TEXT NOT NULL,
     run TEXT NOT NULL,
     PRIMARY KEY (log, request_id)
   );`,
];

const UPSERT_SESSION = `INSERT INTO ledger_sessions (log, request_id, ${SESSION_COLUMNS.join(", ")}, first_seq, last_seq)
  VALUES (?, ?, ${SESSION_COLUMNS.map(() => "?").join(", ")}, ?, ?)
  ON CONFLICT (log, request_id) DO UPDATE SET
  ${SESSION_COLUMNS.map((c) => (c === "started_ms" ? "started_ms = COALESCE(started_ms, excluded.started_ms)" : `${c} = COALESCE(excluded.${c}, ${c})`)).join(",\n  ")},
  first_seq = MIN(first_seq, excluded.first_seq), last_seq = MAX(last_seq, excluded.last_seq)`;

const PAGE = 2_000;
/** Payloads are up to audit.max_recording_bytes each: a few at a time. */
const PAYLOAD_PAGE = 16;

export class SqliteLedgerStore implements LedgerStore {
  readonly kind = "sqlite" as const;
  readonly sharedByInstances = false;
  private readonly db: Database.Database;
  private readonly statements;

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    if (file !== ":memory:") chmodSync(file, 0o600);
    this.db.pragma("journal_mode = WAL");
    // FULL: the WAL is fsynced at every commit, so an acknowledged append survives power loss.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 10000");
    migrate(this.db);
    const db = this.db;
    this.statements = {
      size: db.prepare("SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM ledger_entries WHERE log = ?"),
      leafHash: db.prepare("SELECT leaf_hash FROM ledger_entries WHERE log = ? AND seq = ?").pluck(),
      node: db.prepare("SELECT hash FROM ledger_nodes WHERE log = ? AND level = ? AND idx = ?").pluck(),
      insertEntry: db.prepare(
        "INSERT INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      insertNode: db.prepare("INSERT INTO ledger_nodes (log, level, idx, hash) VALUES (?, ?, ?, ?)"),
      insertPayload: db.prepare("INSERT OR IGNORE INTO ledger_payloads (sha256, body, subject, time_ms) VALUES (?, ?, ?, ?)"),
      open: db.prepare("INSERT OR REPLACE INTO ledger_open_requests (log, request_id, seq, instance) VALUES (?, ?, ?, ?)"),
      renewLease: db.prepare("INSERT INTO ledger_instances (log, instance, started_ms, heartbeat_ms) VALUES (?, ?, ?, ?) ON CONFLICT (log, instance) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms"),
      expireLeases: db.prepare("DELETE FROM ledger_instances WHERE log = ? AND instance <> ? AND heartbeat_ms < ?"),
      claimOrphans: db.prepare(
        `UPDATE ledger_open_requests SET instance = ? WHERE log = ? AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = ?)
         RETURNING request_id AS requestId, seq`,
      ),
      endLease: db.prepare("DELETE FROM ledger_instances WHERE log = ? AND instance = ?"),
      trackRun: db.prepare("INSERT INTO ledger_followed_runs (log, request_id, instance, run) VALUES (?, ?, ?, ?) ON CONFLICT (log, request_id) DO UPDATE SET instance = excluded.instance, run = excluded.run"),
      untrackRun: db.prepare("DELETE FROM ledger_followed_runs WHERE log = ? AND request_id = ?"),
      claimOrphanedRuns: db.prepare(
        "UPDATE ledger_followed_runs SET instance = ? WHERE log = ? AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = ?) RETURNING run",
      ).pluck(),
      close: db.prepare("DELETE FROM ledger_open_requests WHERE log = ? AND request_id = ?"),
      openRequests: db.prepare("SELECT request_id AS requestId, seq FROM ledger_open_requests WHERE log = ? ORDER BY seq"),
      entries: db.prepare("SELECT seq, leaf, leaf_hash AS leafHash FROM ledger_entries WHERE log = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?"),
      seqsForRequest: db.prepare("SELECT seq FROM ledger_entries WHERE log = ? AND request_id = ? ORDER BY seq").pluck(),
      addCheckpoint: db.prepare("INSERT INTO ledger_checkpoints (log, size, root, note, created_at_ms) VALUES (?, ?, ?, ?, ?)"),
      checkpoints: db.prepare(
        "SELECT size, root, note, created_at_ms AS createdAtMs FROM ledger_checkpoints WHERE log = ? AND size >= ? AND size <= ? ORDER BY size, id",
      ),
      latestCheckpoint: db.prepare("SELECT size, root, note, created_at_ms AS createdAtMs FROM ledger_checkpoints WHERE log = ? ORDER BY size DESC, id DESC LIMIT 1"),
      payload: db.prepare("SELECT body FROM ledger_payloads WHERE sha256 = ?").pluck(),
      payloadPage: db.prepare("SELECT sha256, body FROM ledger_payloads WHERE sha256 > ? ORDER BY sha256 LIMIT ?"),
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
      upsertSession: db.prepare(UPSERT_SESSION),
      session: db.prepare("SELECT * FROM ledger_sessions WHERE log = ? AND request_id = ?"),
      sessionCursor: db.prepare("SELECT next_seq FROM ledger_session_cursor WHERE log = ?").pluck(),
      setSessionCursor: db.prepare("INSERT INTO ledger_session_cursor (log, next_seq) VALUES (?, ?) ON CONFLICT (log) DO UPDATE SET next_seq = excluded.next_seq"),
      keys: db.prepare("SELECT key_id AS keyId, name, vkey, role, valid_from_ms AS validFromMs, valid_to_ms AS validToMs FROM ledger_keys ORDER BY valid_from_ms"),
    };
  }

  async sequence<T>(log: string, work: (tx: SequencerTransaction) => Promise<T>): Promise<T> {
    const s = this.statements;
    const tx: SequencerTransaction = {
      size: async () => (s.size.get(log) as { size: number }).size,
      node: (level, index) => this.readNode(log, level, index),
      insert: async (batch: AppendBatch) => {
        for (const entry of batch.entries) {
          const i = entry.index;
          s.insertEntry.run(log, entry.seq, entry.leaf, entry.leafHash, i.timeMs, i.type, i.subject, i.graphs.join("\n"), i.requestId);
        }
        for (const node of batch.nodes) s.insertNode.run(log, node.level, node.index, node.hash);
        for (const payload of batch.payloads) s.insertPayload.run(payload.sha256, payload.body, payload.subject, payload.timeMs);
        for (const open of batch.opened) s.open.run(log, open.requestId, open.seq, batch.instance);
        for (const requestId of batch.closed) s.close.run(log, requestId);
        if (batch.entries.length > 0) this.indexSessions(log, batch.sessions, batch.entries.at(-1)!.seq + 1);
      },
      sessionsIndexedTo: async () => this.sessionsIndexedTo(log),
      indexSessions: async (updates, next) => this.indexSessions(log, updates, next),
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

  private sessionsIndexedTo(log: string): number {
    const next = this.statements.sessionCursor.get(log) as number | undefined;
    // A ledger created before the index existed starts unindexed at 0.
    return next ?? 0;
  }

  private indexSessions(log: string, updates: SessionUpdate[], next: number): void {
    for (const update of mergeSessionUpdates(updates)) {
      this.statements.upsertSession.run(log, update.requestId, ...sessionValues(update), update.firstSeq ?? update.seq, update.seq);
    }
    this.statements.setSessionCursor.run(log, next);
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
    return (this.statements.size.get(log) as { size: number }).size;
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

  async trackRun(log: string, instance: string, run: TrackedRun): Promise<void> {
    this.statements.trackRun.run(log, run.requestId, instance, JSON.stringify(run));
  }

  async untrackRun(log: string, requestId: string): Promise<void> {
    this.statements.untrackRun.run(log, requestId);
  }

  async claimOrphanedRuns(log: string, instance: string): Promise<TrackedRun[]> {
    return (this.statements.claimOrphanedRuns.all(instance, log, log) as string[]).map((run) => JSON.parse(run) as TrackedRun);
  }

  async addCheckpoint(log: string, checkpoint: StoredCheckpoint): Promise<void> {
    this.statements.addCheckpoint.run(log, checkpoint.size, checkpoint.root, checkpoint.note, checkpoint.createdAtMs);
  }

  async checkpoints(log: string, range: { atLeastSize?: number; atMostSize?: number } = {}): Promise<StoredCheckpoint[]> {
    return this.statements.checkpoints.all(log, range.atLeastSize ?? 0, range.atMostSize ?? Number.MAX_SAFE_INTEGER) as StoredCheckpoint[];
  }

  async latestCheckpoint(log: string): Promise<StoredCheckpoint | undefined> {
    return this.statements.latestCheckpoint.get(log) as StoredCheckpoint | undefined;
  }

  async payload(sha256: string): Promise<Buffer | undefined> {
    return this.statements.payload.get(sha256) as Buffer | undefined;
  }

  async *payloadPages(): AsyncIterable<{ sha256: string; body: Buffer }[]> {
    for (let after = ""; ; ) {
      const rows = this.statements.payloadPage.all(after, PAYLOAD_PAGE) as { sha256: string; body: Buffer }[];
      if (rows.length === 0) return;
      yield rows;
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
    this.db.close();
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new LedgerStoreError(`the ledger database was written by a newer Portcullis (schema ${current}, this version knows ${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (let version = current; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}
