// The ledger on PostgreSQL, for several gateway instances sharing one log. A transaction-scoped
// advisory lock per log is the sequencer (audit-ledger.md §11): whichever instance holds it
// assigns the next gapless sequence numbers, and the others wait their turn.
import pg from "pg";
import { inTransaction } from "../storage/index.js";
import { compressedPayloadAsync, storedPayloadBody } from "./payloadEncoding.js";
import { mergeSessionUpdates, parsedList, SESSION_COLUMNS, sessionFilter, sessionFromRow, sessionValues, type GrantUsage, type IdentityUsage, type SessionQuery, type SessionRow, type SessionSummary, type SessionUpdate } from "./sessionIndex.js";
import { INSTANCE_LEASE_TABLES, SESSION_INDEX_TABLES } from "./schema.js";
import type { AppendBatch, EntryFilter, LedgerStore, LegalHold, SequencerTransaction, StoredCheckpoint, StoredEntry, StoredKey, TrackedRun } from "./store.js";
import { LedgerStoreError } from "./store.js";

const MIGRATIONS: string[] = [
  `CREATE TABLE ledger_entries (
     log TEXT NOT NULL,
     seq BIGINT NOT NULL,
     leaf BYTEA NOT NULL,
     leaf_hash BYTEA NOT NULL,
     time_ms BIGINT NOT NULL,
     type TEXT NOT NULL,
     subject TEXT,
     graphs TEXT NOT NULL,
     request_id TEXT,
     PRIMARY KEY (log, seq)
   );
   CREATE INDEX ledger_entries_time ON ledger_entries (log, time_ms);
   CREATE INDEX ledger_entries_request ON ledger_entries (log, request_id);
   CREATE TABLE ledger_nodes (
     log TEXT NOT NULL,
     level INTEGER NOT NULL,
     idx BIGINT NOT NULL,
     hash BYTEA NOT NULL,
     PRIMARY KEY (log, level, idx)
   );
   CREATE TABLE ledger_open_requests (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     seq BIGINT NOT NULL,
     PRIMARY KEY (log, request_id)
   );
   CREATE TABLE ledger_checkpoints (
     id BIGSERIAL PRIMARY KEY,
     log TEXT NOT NULL,
     size BIGINT NOT NULL,
     root BYTEA NOT NULL,
     note TEXT NOT NULL,
     created_at_ms BIGINT NOT NULL
   );
   CREATE INDEX ledger_checkpoints_size ON ledger_checkpoints (log, size);
   CREATE TABLE ledger_payloads (
     sha256 TEXT PRIMARY KEY,
     body BYTEA NOT NULL,
     subject TEXT,
     time_ms BIGINT NOT NULL
   );
   CREATE INDEX ledger_payloads_time ON ledger_payloads (time_ms);
   CREATE TABLE ledger_holds (
     id TEXT PRIMARY KEY,
     subject TEXT,
     from_ms BIGINT,
     to_ms BIGINT,
     reason TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at_ms BIGINT NOT NULL,
     released_at_ms BIGINT
   );
   CREATE TABLE ledger_keys (
     key_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     vkey TEXT NOT NULL,
     role TEXT NOT NULL,
     valid_from_ms BIGINT NOT NULL,
     valid_to_ms BIGINT
   );
   -- Defence in depth only (audit-ledger.md §1): the tree, not this trigger, detects tampering.
   CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$;
   CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
     FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();`,
  SESSION_INDEX_TABLES.postgres,
  INSTANCE_LEASE_TABLES.postgres,
  // Run follows: a run belongs to the instance following it, and is taken over when its lease ends.
  `CREATE TABLE ledger_followed_runs (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     instance TEXT NOT NULL,
     run JSONB NOT NULL,
     PRIMARY KEY (log, request_id)
   );`,
  // Payloads stored compressed (payloadEncoding.ts); NULL: as recorded.
  `ALTER TABLE ledger_payloads ADD COLUMN encoding TEXT;`,
];

const SESSION_TYPES: Record<(typeof SESSION_COLUMNS)[number], string> = {
  started_ms: "bigint", ended_ms: "bigint", subject: "text", name: "text", groups: "text", graphs: "text", assistant_id: "text", thread_id: "text",
  run_id: "text", kind: "text", route: "text", method: "text", path: "text", decision: "text", rule: "text", http_status: "int", outcome: "text",
  run_status: "text", approval: "text", approval_id: "text", parent_request_id: "text",
};

// One statement per batch: the updates (merged per request first, since ON CONFLICT may touch a row once) as parallel arrays.
const UPSERT_SESSIONS = `INSERT INTO ledger_sessions (log, request_id, first_seq, last_seq, ${SESSION_COLUMNS.join(", ")})
  SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], ${SESSION_COLUMNS.map((c, i) => `$${i + 5}::${SESSION_TYPES[c]}[]`).join(", ")})
  ON CONFLICT (log, request_id) DO UPDATE SET
  ${SESSION_COLUMNS.map((c) => (c === "started_ms" ? "started_ms = COALESCE(ledger_sessions.started_ms, EXCLUDED.started_ms)" : `${c} = COALESCE(EXCLUDED.${c}, ledger_sessions.${c})`)).join(",\n  ")},
  first_seq = LEAST(ledger_sessions.first_seq, EXCLUDED.first_seq), last_seq = GREATEST(ledger_sessions.last_seq, EXCLUDED.last_seq)`;

// BIGINT columns come back as strings by default; ledger sizes stay below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const PAGE = 2_000;
/** Payloads are up to audit.max_recording_bytes each: a few at a time. */
const PAYLOAD_PAGE = 16;

interface PostgresLedgerOptions {
  url: string;
  /** Schema holding the ledger's tables (created if missing). */
  schema: string;
}

export class PostgresLedgerStore implements LedgerStore {
  readonly kind = "postgres" as const;
  readonly sharedByInstances = true;

  private constructor(private readonly pool: pg.Pool) {}

  static async open(options: PostgresLedgerOptions): Promise<PostgresLedgerStore> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new LedgerStoreError(`audit.store.schema "${options.schema}" must be a lower-case SQL identifier`);
    const pool = new pg.Pool({ connectionString: options.url, max: 8, options: `-c search_path=${options.schema}` });
    // An idle client losing its connection must not crash the gateway; the next query reconnects.
    pool.on("error", () => undefined);
    const store = new PostgresLedgerStore(pool);
    try {
      await store.migrate(options.schema);
    } catch (error) {
      await pool.end();
      throw new LedgerStoreError(`cannot prepare the PostgreSQL ledger: ${(error as Error).message}`, { cause: error });
    }
    return store;
  }

  private async migrate(schema: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      // Serialises migrations of several instances starting together.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('portcullis-ledger-migrate'))");
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query("CREATE TABLE IF NOT EXISTS ledger_schema (version INTEGER NOT NULL)");
      const row = (await client.query<{ version: number }>("SELECT version FROM ledger_schema")).rows[0];
      const current = row?.version ?? 0;
      if (current > MIGRATIONS.length) throw new LedgerStoreError(`the ledger schema was written by a newer Portcullis (schema ${current}, this version knows ${MIGRATIONS.length})`);
      for (let version = current; version < MIGRATIONS.length; version++) await client.query(MIGRATIONS[version]!);
      if (row) await client.query("UPDATE ledger_schema SET version = $1", [MIGRATIONS.length]);
      else await client.query("INSERT INTO ledger_schema (version) VALUES ($1)", [MIGRATIONS.length]);
    });
  }

  async sequence<T>(log: string, work: (tx: SequencerTransaction) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`portcullis-ledger:${log}`]);
      return work({
        size: async () => sizeOf(client, log),
        node: (level, index) => readNode(client, log, level, index),
        insert: (batch) => insertBatch(client, log, batch),
        sessionsIndexedTo: () => sessionsIndexedTo(client, log),
        indexSessions: (updates, next) => indexSessions(client, log, updates, next),
      });
    });
  }

  nodes(log: string) {
    return { node: (level: number, index: number) => readNode(this.pool, log, level, index) };
  }

  size(log: string): Promise<number> {
    return sizeOf(this.pool, log);
  }

  async logs(): Promise<string[]> {
    const { rows } = await this.pool.query<{ log: string }>("SELECT DISTINCT log FROM ledger_entries ORDER BY log");
    return rows.map((row) => row.log);
  }

  async *entryPages(log: string, from: number, to: number): AsyncIterable<StoredEntry[]> {
    for (let next = from; next < to; ) {
      const { rows } = await this.pool.query<StoredEntry>(
        'SELECT seq, leaf, leaf_hash AS "leafHash" FROM ledger_entries WHERE log = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4',
        [log, next, to, PAGE],
      );
      if (rows.length === 0) return;
      yield rows;
      next = rows.at(-1)!.seq + 1;
    }
  }

  async matchingSeqs(log: string, filter: EntryFilter): Promise<number[]> {
    const where = ["log = $1"];
    const params: unknown[] = [log];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace("?", `$${params.length}`));
    };
    if (filter.fromMs !== undefined) add("time_ms >= ?", filter.fromMs);
    if (filter.toMs !== undefined) add("time_ms < ?", filter.toMs);
    if (filter.subject !== undefined) add("subject = ?", filter.subject);
    if (filter.graph !== undefined) add("? = ANY(string_to_array(graphs, E'\\n'))", filter.graph);
    const { rows } = await this.pool.query<{ seq: number }>(`SELECT seq FROM ledger_entries WHERE ${where.join(" AND ")} ORDER BY seq`, params);
    return rows.map((row) => row.seq);
  }

  async sessions(log: string, query: SessionQuery): Promise<SessionSummary[]> {
    const { where, params } = sessionFilter(query, (column) => `strpos(${column}, ?) > 0`);
    let n = 1;
    const clauses = where.map((clause) => clause.replace(/\?/g, () => `$${++n}`));
    const { rows } = await this.pool.query<SessionRow>(
      `SELECT * FROM ledger_sessions WHERE log = $1 AND ${clauses.join(" AND ")} ORDER BY started_ms DESC, request_id DESC LIMIT $${n + 1}`,
      [log, ...params, query.limit],
    );
    return rows.map(sessionFromRow);
  }

  async session(log: string, requestId: string): Promise<SessionSummary | undefined> {
    const { rows } = await this.pool.query<SessionRow>("SELECT * FROM ledger_sessions WHERE log = $1 AND request_id = $2 AND started_ms IS NOT NULL", [log, requestId]);
    return rows[0] && sessionFromRow(rows[0]);
  }

  async identityUsage(log: string): Promise<IdentityUsage[]> {
    const { rows } = await this.pool.query<{ subject: string; name: string | null; groups: string | null; lastMs: number; firstMs: number; count: number }>(
      `SELECT a.subject, latest.name, latest.groups, a.last_ms AS "lastMs", a.first_ms AS "firstMs", a.count
       FROM (SELECT subject, MAX(started_ms) AS last_ms, MIN(started_ms) AS first_ms, COUNT(*)::int AS count FROM ledger_sessions
             WHERE log = $1 AND subject IS NOT NULL AND started_ms IS NOT NULL GROUP BY subject) AS a
       JOIN LATERAL (SELECT name, groups FROM ledger_sessions AS s WHERE s.log = $1 AND s.subject = a.subject AND s.started_ms IS NOT NULL
                     ORDER BY s.started_ms DESC LIMIT 1) AS latest ON true
       ORDER BY a.subject`,
      [log],
    );
    return rows.map((row) => ({ ...row, groups: parsedList(row.groups) }));
  }

  async grantUsage(log: string): Promise<GrantUsage[]> {
    const { rows } = await this.pool.query<GrantUsage>(
      `SELECT subject, rule, MAX(started_ms) AS "lastMs", COUNT(*)::int AS count FROM ledger_sessions
       WHERE log = $1 AND subject IS NOT NULL AND started_ms IS NOT NULL AND decision IN ('allow', 'require-approval') AND substr(rule, 1, 8) <> 'gateway:'
       GROUP BY subject, rule ORDER BY subject, rule`,
      [log],
    );
    return rows;
  }

  async seqsForRequest(log: string, requestId: string): Promise<number[]> {
    const { rows } = await this.pool.query<{ seq: number }>("SELECT seq FROM ledger_entries WHERE log = $1 AND request_id = $2 ORDER BY seq", [log, requestId]);
    return rows.map((row) => row.seq);
  }

  async openRequests(log: string) {
    const { rows } = await this.pool.query<{ requestId: string; seq: number }>(
      'SELECT request_id AS "requestId", seq FROM ledger_open_requests WHERE log = $1 ORDER BY seq',
      [log],
    );
    return rows;
  }
  async renewLease(log: string, instance: string, nowMs: number): Promise<void> {
    await this.pool.query(
      "INSERT INTO ledger_instances (log, instance, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $3) ON CONFLICT (log, instance) DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms",
      [log, instance, nowMs],
    );
  }

  async checkpointSigner(log: string, aliveSinceMs: number): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ instance: string }>(
      "SELECT instance FROM ledger_instances WHERE log = $1 AND heartbeat_ms >= $2 ORDER BY started_ms, instance LIMIT 1",
      [log, aliveSinceMs],
    );
    return rows[0]?.instance;
  }

  async claimOrphanedRequests(log: string, instance: string, expiredBeforeMs: number): Promise<{ requestId: string; seq: number }[]> {
    return inTransaction(this.pool, async (client) => {
      // One claimant at a time per log: under READ COMMITTED two could otherwise both see a lease gone.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`portcullis-lease:${log}`]);
      await client.query("DELETE FROM ledger_instances WHERE log = $1 AND instance <> $2 AND heartbeat_ms < $3", [log, instance, expiredBeforeMs]);
      // Row locks make a second claimant wait, then see the rows as this instance's.
      const { rows } = await client.query<{ requestId: string; seq: number }>(
        `UPDATE ledger_open_requests SET instance = $2 WHERE log = $1 AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = $1)
         RETURNING request_id AS "requestId", seq`,
        [log, instance],
      );
      return rows;
    });
  }

  async endLease(log: string, instance: string): Promise<void> {
    await this.pool.query("DELETE FROM ledger_instances WHERE log = $1 AND instance = $2", [log, instance]);
  }

  async trackRun(log: string, instance: string, run: TrackedRun): Promise<void> {
    await this.pool.query(
      "INSERT INTO ledger_followed_runs (log, request_id, instance, run) VALUES ($1, $2, $3, $4) ON CONFLICT (log, request_id) DO UPDATE SET instance = EXCLUDED.instance, run = EXCLUDED.run",
      [log, run.requestId, instance, JSON.stringify(run)],
    );
  }

  async untrackRun(log: string, requestId: string): Promise<void> {
    await this.pool.query("DELETE FROM ledger_followed_runs WHERE log = $1 AND request_id = $2", [log, requestId]);
  }

  async claimOrphanedRuns(log: string, instance: string): Promise<TrackedRun[]> {
    return inTransaction(this.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`portcullis-lease:${log}`]);
      const { rows } = await client.query<{ run: TrackedRun }>(
        `UPDATE ledger_followed_runs SET instance = $2 WHERE log = $1 AND instance NOT IN (SELECT instance FROM ledger_instances WHERE log = $1)
         RETURNING run`,
        [log, instance],
      );
      return rows.map((row) => row.run);
    });
  }


  async addCheckpoint(log: string, checkpoint: StoredCheckpoint): Promise<void> {
    await this.pool.query("INSERT INTO ledger_checkpoints (log, size, root, note, created_at_ms) VALUES ($1, $2, $3, $4, $5)", [
      log,
      checkpoint.size,
      checkpoint.root,
      checkpoint.note,
      checkpoint.createdAtMs,
    ]);
  }

  async checkpoints(log: string, range: { atLeastSize?: number; atMostSize?: number } = {}): Promise<StoredCheckpoint[]> {
    const { rows } = await this.pool.query<StoredCheckpoint>(
      'SELECT size, root, note, created_at_ms AS "createdAtMs" FROM ledger_checkpoints WHERE log = $1 AND size >= $2 AND size <= $3 ORDER BY size, id',
      [log, range.atLeastSize ?? 0, range.atMostSize ?? Number.MAX_SAFE_INTEGER],
    );
    return rows;
  }

  async latestCheckpoint(log: string): Promise<StoredCheckpoint | undefined> {
    const { rows } = await this.pool.query<StoredCheckpoint>(
      'SELECT size, root, note, created_at_ms AS "createdAtMs" FROM ledger_checkpoints WHERE log = $1 ORDER BY size DESC, id DESC LIMIT 1',
      [log],
    );
    return rows[0];
  }

  async payloads(sha256s: string[]): Promise<Map<string, Buffer>> {
    if (sha256s.length === 0) return new Map();
    const { rows } = await this.pool.query<{ sha256: string; body: Buffer; encoding: string | null }>("SELECT sha256, body, encoding FROM ledger_payloads WHERE sha256 = ANY($1::text[])", [sha256s]);
    return new Map(rows.map((row) => [row.sha256, storedPayloadBody(row.body, row.encoding)]));
  }

  async *payloadPages(): AsyncIterable<{ sha256: string; body: Buffer }[]> {
    for (let after = ""; ; ) {
      const { rows } = await this.pool.query<{ sha256: string; body: Buffer; encoding: string | null }>(
        "SELECT sha256, body, encoding FROM ledger_payloads WHERE sha256 > $1 ORDER BY sha256 LIMIT $2",
        [after, PAYLOAD_PAGE],
      );
      if (rows.length === 0) return;
      yield rows.map((row) => ({ sha256: row.sha256, body: storedPayloadBody(row.body, row.encoding) }));
      after = rows.at(-1)!.sha256;
    }
  }

  async purgePayloads(beforeMs: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ sha256: string }>(
      `DELETE FROM ledger_payloads AS p WHERE p.time_ms < $1 AND NOT EXISTS (
         SELECT 1 FROM ledger_holds AS h WHERE h.released_at_ms IS NULL
           AND (h.subject IS NULL OR h.subject = p.subject)
           AND (h.from_ms IS NULL OR p.time_ms >= h.from_ms)
           AND (h.to_ms IS NULL OR p.time_ms < h.to_ms))
       RETURNING sha256`,
      [beforeMs],
    );
    return rows.map((row) => row.sha256).sort();
  }

  async addHold(hold: LegalHold): Promise<void> {
    await this.pool.query(
      "INSERT INTO ledger_holds (id, subject, from_ms, to_ms, reason, created_by, created_at_ms, released_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
      [hold.id, hold.subject, hold.fromMs, hold.toMs, hold.reason, hold.createdBy, hold.createdAtMs],
    );
  }

  async releaseHold(id: string, atMs: number): Promise<boolean> {
    const result = await this.pool.query("UPDATE ledger_holds SET released_at_ms = $1 WHERE id = $2 AND released_at_ms IS NULL", [atMs, id]);
    return (result.rowCount ?? 0) > 0;
  }

  async holds(): Promise<LegalHold[]> {
    const { rows } = await this.pool.query<LegalHold>(
      'SELECT id, subject, from_ms AS "fromMs", to_ms AS "toMs", reason, created_by AS "createdBy", created_at_ms AS "createdAtMs", released_at_ms AS "releasedAtMs" FROM ledger_holds ORDER BY created_at_ms',
    );
    return rows;
  }

  async addKey(key: StoredKey): Promise<void> {
    await this.pool.query(
      "INSERT INTO ledger_keys (key_id, name, vkey, role, valid_from_ms, valid_to_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING",
      [key.keyId, key.name, key.vkey, key.role, key.validFromMs, key.validToMs],
    );
  }

  async retireKey(keyId: string, atMs: number): Promise<void> {
    await this.pool.query("UPDATE ledger_keys SET valid_to_ms = $1 WHERE key_id = $2 AND valid_to_ms IS NULL", [atMs, keyId]);
  }

  async keys(): Promise<StoredKey[]> {
    const { rows } = await this.pool.query<StoredKey>(
      'SELECT key_id AS "keyId", name, vkey, role, valid_from_ms AS "validFromMs", valid_to_ms AS "validToMs" FROM ledger_keys ORDER BY valid_from_ms',
    );
    return rows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

type Queryable = Pick<pg.Pool, "query">;

async function sizeOf(db: Queryable, log: string): Promise<number> {
  const { rows } = await db.query<{ size: number }>("SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM ledger_entries WHERE log = $1", [log]);
  return Number(rows[0]!.size);
}

async function readNode(db: Queryable, log: string, level: number, index: number): Promise<Buffer> {
  const { rows } =
    level === 0
      ? await db.query<{ hash: Buffer }>("SELECT leaf_hash AS hash FROM ledger_entries WHERE log = $1 AND seq = $2", [log, index])
      : await db.query<{ hash: Buffer }>("SELECT hash FROM ledger_nodes WHERE log = $1 AND level = $2 AND idx = $3", [log, level, index]);
  const hash = rows[0]?.hash;
  if (!hash) throw new LedgerStoreError(`the ledger has no hash for level ${level} index ${index}; the store is incomplete or was tampered with`);
  return hash;
}

// One multi-row INSERT per table: a batch of 256 entries is a handful of round trips.
async function sessionsIndexedTo(db: Queryable, log: string): Promise<number> {
  const { rows } = await db.query<{ next_seq: number }>("SELECT next_seq FROM ledger_session_cursor WHERE log = $1", [log]);
  // A ledger created before the index existed starts unindexed at 0.
  return rows[0]?.next_seq ?? 0;
}

async function indexSessions(db: Queryable, log: string, updates: SessionUpdate[], next: number): Promise<void> {
  const merged = mergeSessionUpdates(updates);
  if (merged.length > 0) {
    const values = merged.map(sessionValues);
    await db.query(UPSERT_SESSIONS, [
      log,
      merged.map((u) => u.requestId),
      merged.map((u) => u.firstSeq ?? u.seq),
      merged.map((u) => u.seq),
      ...SESSION_COLUMNS.map((_, i) => values.map((row) => row[i])),
    ]);
  }
  await db.query("INSERT INTO ledger_session_cursor (log, next_seq) VALUES ($1, $2) ON CONFLICT (log) DO UPDATE SET next_seq = EXCLUDED.next_seq", [log, next]);
}

async function insertBatch(db: Queryable, log: string, batch: AppendBatch): Promise<void> {
  if (batch.entries.length > 0) {
    const e = batch.entries;
    await db.query(
      `INSERT INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id)
       SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])
         AS t(seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id)`,
      [
        log,
        e.map((x) => x.seq),
        e.map((x) => x.leaf),
        e.map((x) => x.leafHash),
        e.map((x) => x.index.timeMs),
        e.map((x) => x.index.type),
        e.map((x) => x.index.subject),
        e.map((x) => x.index.graphs.join("\n")),
        e.map((x) => x.index.requestId),
      ],
    );
  }
  if (batch.nodes.length > 0) {
    await db.query("INSERT INTO ledger_nodes (log, level, idx, hash) SELECT $1, * FROM unnest($2::int[], $3::bigint[], $4::bytea[])", [
      log,
      batch.nodes.map((n) => n.level),
      batch.nodes.map((n) => n.index),
      batch.nodes.map((n) => n.hash),
    ]);
  }
  if (batch.payloads.length > 0) {
    const stored = await Promise.all(batch.payloads.map((p) => compressedPayloadAsync(p.body)));
    await db.query(
      "INSERT INTO ledger_payloads (sha256, body, subject, time_ms, encoding) SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[], $5::text[]) ON CONFLICT (sha256) DO NOTHING",
      [batch.payloads.map((p) => p.sha256), stored.map((s) => s.body), batch.payloads.map((p) => p.subject), batch.payloads.map((p) => p.timeMs), stored.map((s) => s.encoding)],
    );
  }
  if (batch.opened.length > 0) {
    await db.query(
      "INSERT INTO ledger_open_requests (log, request_id, seq, instance) SELECT $1, r, s, $4 FROM unnest($2::text[], $3::bigint[]) AS t (r, s) ON CONFLICT (log, request_id) DO UPDATE SET seq = EXCLUDED.seq, instance = EXCLUDED.instance",
      [log, batch.opened.map((o) => o.requestId), batch.opened.map((o) => o.seq), batch.instance],
    );
  }
  if (batch.closed.length > 0) await db.query("DELETE FROM ledger_open_requests WHERE log = $1 AND request_id = ANY($2::text[])", [log, batch.closed]);
  if (batch.entries.length > 0) await indexSessions(db, log, batch.sessions, batch.entries.at(-1)!.seq + 1);
}
