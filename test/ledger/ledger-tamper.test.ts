// Tampering with a real ledger and a real evidence bundle, the way a database administrator or
// whoever holds a copy of an export could, and checking the verifiers NAME what was done.
//
// Live store (SQLite and PostgreSQL): a Ledger writes ~60 realistic records with signed
// checkpoints, then a direct database connection drops the append-only triggers and edits,
// rehashes, deletes, inserts, swaps, forges checkpoints or truncates; `verifyStore` (what
// `portcullis verify` runs) must report INVALID with the reason. Bundles (SQLite is enough): the
// exporter's own verify.mjs, run as an auditor would with plain `node`, must exit 1 and say why.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { pino } from "pino";
import type { Identity } from "../../src/identify/identity.js";
import { reportHtml } from "../../src/ledger/evidence/html.js";
import { EvidenceCollector } from "../../src/ledger/evidence/report.js";
import { BUNDLE_FORMAT, exportEvidence, type ExportRequest } from "../../src/ledger/export.js";
import { Ledger, leafBytes } from "../../src/ledger/ledger.js";
import { consistencyProof, inclusionProof, leafHash, rootOf, type NodeReader } from "../../src/ledger/merkle.js";
import { ed25519NoteSigner, formatCheckpoint, formatTlogProof, signNote } from "../../src/ledger/note.js";
import { PostgresLedgerStore } from "../../src/ledger/postgresStore.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import { storedPayload, type LedgerStore } from "../../src/ledger/store.js";
import type { VerificationReport } from "../../src/ledger/verify.js";
import { verifyStore, type StoreVerifyOptions } from "../../src/ledger/verifyStore.js";
import type { AppendContext, AuditRecord, PayloadReference, RequestRecord } from "../../src/record/auditRecord.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { CLI_ARGS } from "../support/cli.js";

const ORIGIN = "portcullis.test/tamper";
const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SILENT = pino({ level: "silent" });
/** Same key name as the log, another key: all someone without the log's private key can sign with. */
const ATTACKER = ed25519NoteSigner(ORIGIN, generateKeyPairSync("ed25519").privateKey);

const ALICE: Identity = { subject: "oidc:corp:alice", kind: "oidc", groups: ["engineering"], auth_method: "oidc-bearer", credential_id: "oidc:corp", issuer: "https://idp.corp.example" };
const CI: Identity = { subject: "sa:ci", kind: "service-account", groups: ["ci"], auth_method: "api-key", credential_id: "sa:ci#1" };

let postgres: TestPostgres;
let workDir: string;

before(async () => {
  [postgres, workDir] = await Promise.all([startPostgres(), mkdtemp(path.join(tmpdir(), "pc-ledger-tamper-"))]);
});

after(async () => {
  await postgres?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The traffic: a policy load, 28 admitted requests with their completions (alice runs the agent
// with bodies and responses stored as payloads; sa:ci searches threads), one upstream failure,
// a run followed to its end, a request the policy denied, a legal hold. 60 records.

interface Traffic {
  record: AuditRecord;
  context: AppendContext;
  /** Names the records a test tampers with, so it does not depend on counting. */
  tag?: "upstream-error";
}

function traffic(): Traffic[] {
  const items: Traffic[] = [];
  const time = () => new Date(Date.UTC(2026, 4, 4, 9, 0, items.length)).toISOString();
  const policySha = sha256Hex(Buffer.from("rules: [engineers-run-agents, ci-reads-threads]"));
  items.push({ record: { type: "policy", time: time(), event: "loaded", source: "policy.yaml", sha256: policySha, in_force: policySha.slice(0, 16) }, context: { subject: null } });
  for (let i = 0; i < 28; i++) {
    const who = i % 2 === 0 ? ALICE : CI;
    const runs = who === ALICE;
    const requestId = `req-${String(i).padStart(3, "0")}`;
    const threadId = `thread-${i % 4}`;
    const graphs = ["agent"];
    const body = runs ? payload({ input: { messages: [{ role: "user", content: `question ${i} from alice` }] } }) : undefined;
    items.push({
      record: {
        ...requestBase(requestId, time(), who),
        method: "POST",
        path: runs ? `/threads/${threadId}/runs/wait` : "/threads/search",
        operation: runs
          ? { route: "runs.wait", resource: "runs", action: "runs:create", actions: ["runs:create"], risk: "execute", response: "wait", ids: { thread_id: threadId }, assistant_ids: ["agent"], risk_reasons: [], creates_run: true }
          : { route: "threads.search", resource: "threads", action: "threads:read", actions: ["threads:read"], risk: "read", response: "json", ids: {}, assistant_ids: [], risk_reasons: [], creates_run: false },
        decision: { effect: "allow", rule: runs ? "engineers-run-agents" : "ci-reads-threads", policy: policySha.slice(0, 16) },
        resources: { graphs, thread_owner: ALICE.subject },
        ...(body ? { body: body.reference } : {}),
      },
      context: { subject: who.subject, graphs, ...(body ? { payloads: [body.stored] } : {}) },
    });
    const failed = i === 12;
    const response = runs ? payload({ messages: [{ role: "assistant", content: failed ? "" : `answer ${i}` }] }) : undefined;
    items.push({
      record: {
        type: "completion",
        request_id: requestId,
        time: time(),
        status: failed ? 500 : 200,
        upstream_status: failed ? 500 : 200,
        outcome: failed ? "upstream_error_status" : "ok",
        duration_ms: 40 + i,
        bytes_in: 120,
        bytes_out: 800 + i,
        ...(runs ? { run_id: `run-${i}`, thread_id: threadId } : {}),
        ...(response ? { response: response.reference } : {}),
      },
      context: { subject: who.subject, graphs, ...(response ? { payloads: [response.stored] } : {}) },
      ...(failed ? { tag: "upstream-error" as const } : {}),
    });
  }
  const output = payload({ values: { messages: ["question 0 from alice", "answer 0"] } });
  items.push({
    record: { type: "run", request_id: "req-000", time: time(), run_id: "run-0", thread_id: "thread-0", status: "success", steps: [{ step: 0, source: "input", nodes: ["__start__"] }, { step: 1, source: "loop", nodes: ["chat"] }], output: output.reference, followed_ms: 75 },
    context: { subject: ALICE.subject, graphs: ["agent"], payloads: [output.stored] },
  });
  items.push({
    record: {
      ...requestBase("req-denied", time(), CI),
      method: "POST",
      path: "/threads/thread-0/state",
      operation: { route: "threads.state.update", resource: "state", action: "state:write", actions: ["state:write"], risk: "steer-state", response: "json", ids: { thread_id: "thread-0" }, assistant_ids: [], risk_reasons: [], creates_run: false },
      decision: { effect: "deny", rule: "default:deny", policy: policySha.slice(0, 16) },
      status: 403,
      error: "PC_POLICY_DENIED",
    },
    context: { subject: CI.subject, graphs: ["agent"] },
  });
  items.push({ record: { type: "ledger", time: time(), event: "hold.placed", actor: "cli:auditor", details: { id: "hold-1", user: ALICE.subject, reason: "case 4711" } }, context: {} });
  return items;
}

function requestBase(requestId: string, time: string, identity: Identity): Omit<RequestRecord, "method" | "path" | "operation" | "decision"> {
  return { type: "request", request_id: requestId, time, client: { address: "10.0.0.7", user_agent: "langgraph-sdk" }, query: "", identity };
}

function payload(value: unknown): { reference: PayloadReference; stored: { sha256: string; body: Buffer } } {
  const body = Buffer.from(JSON.stringify(value));
  const sha256 = sha256Hex(body);
  return { reference: { sha256, bytes: body.length, masking: "none" }, stored: { sha256, body } };
}

// ---------------------------------------------------------------------------------------------
// A ledger written by a real Ledger (gateway role: signs at start, on a short timer and on close)

type Backend = "sqlite" | "postgres";

interface LiveLedger {
  /** SQLite only: the ledger file, for the CLI and for exports. */
  file: string;
  keyFile: string;
  size: number;
  seqOf: (tag: NonNullable<Traffic["tag"]>) => number;
  /** A fresh store on the same database (the Ledger closed its own). */
  open(): Promise<LedgerStore>;
  /** A direct database connection, as a DBA has one. */
  dba(): Promise<Dba>;
}

/** Sizes at which the test asks for a checkpoint, besides 0 (start), the timer's, and the end (close). */
const CHECKPOINT_AT = [16, 33, 50];

async function writeLedger(backend: Backend): Promise<LiveLedger> {
  const dir = await mkdtemp(path.join(workDir, `${backend}-`));
  const file = path.join(dir, "ledger.db");
  // Beside the ledger under its default name, so `portcullis verify --ledger` needs nothing else.
  const keyFile = path.join(dir, "ledger-signing-key.pem");
  const schema = `tamper_${randomBytes(4).toString("hex")}`;
  const open = (): Promise<LedgerStore> => (backend === "sqlite" ? Promise.resolve(new SqliteLedgerStore(file)) : PostgresLedgerStore.open({ url: postgres.url, schema }));
  const items = traffic();
  const seqs = new Map<string, number>();
  const ledger = await Ledger.open({ origin: ORIGIN, store: await open(), keyFile, log: SILENT, checkpointIntervalMs: 20, heartbeatIntervalMs: 200, maxBatch: 8 });
  try {
    // Each segment is appended concurrently (group commit in batches of 8); the queue keeps call
    // order, so sequence numbers follow the traffic's order.
    for (const [from, to] of pairs([0, ...CHECKPOINT_AT, items.length])) {
      const segment = items.slice(from, to);
      const receipts = await Promise.all(segment.map(({ record, context }) => ledger.append(record, context)));
      receipts.forEach((receipt, i) => {
        assert.equal(receipt.seq, from + i);
        const tag = segment[i]!.tag;
        if (tag) seqs.set(tag, receipt.seq);
      });
      if (to < items.length) {
        // A timer checkpoint already under way may predate this segment; ask until one covers it.
        let signed = await ledger.checkpoint();
        while (signed.size < to) signed = await ledger.checkpoint();
        assert.equal(signed.size, to);
      }
    }
  } finally {
    await ledger.close(); // signs the checkpoint at the end
  }
  return {
    file,
    keyFile,
    size: items.length,
    seqOf: (tag) => seqs.get(tag)!,
    open,
    dba: () => (backend === "sqlite" ? sqliteDba(file) : postgresDba(postgres.url, schema)),
  };
}

function pairs(points: number[]): [number, number][] {
  return points.slice(1).map((to, i) => [points[i]!, to]);
}

async function verified(live: LiveLedger, options: StoreVerifyOptions = {}): Promise<VerificationReport> {
  const store = await live.open();
  try {
    return await verifyStore(store, ORIGIN, options);
  } finally {
    await store.close();
  }
}

function assertInvalid(report: VerificationReport, ...reasons: RegExp[]): void {
  const text = report.format();
  assert.equal(report.valid, false, `tampering went unnoticed:\n${text}`);
  for (const reason of reasons) assert.match(text, reason);
}

// ---------------------------------------------------------------------------------------------
// The DBA: SQL straight at the database, the Ledger and its store not involved

interface Dba {
  /** One statement with `?` placeholders; returns the rows it selects (none for writes). */
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]>;
  /** What a DBA does first: the triggers are defence in depth, not the protection. */
  dropAppendOnlyTriggers(): Promise<void>;
  close(): Promise<void>;
}

async function sqliteDba(file: string): Promise<Dba> {
  const db = new Database(file);
  return {
    async query<T>(sql: string, ...params: unknown[]) {
      const statement = db.prepare(sql);
      if (statement.reader) return statement.all(...params) as T[];
      statement.run(...params);
      return [];
    },
    async dropAppendOnlyTriggers() {
      db.exec("DROP TRIGGER ledger_entries_no_update; DROP TRIGGER ledger_entries_no_delete;");
    },
    async close() {
      db.close();
    },
  };
}

async function postgresDba(url: string, schema: string): Promise<Dba> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  return {
    async query<T>(sql: string, ...params: unknown[]) {
      let n = 0;
      return (await client.query(sql.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
    },
    async dropAppendOnlyTriggers() {
      await client.query("DROP TRIGGER ledger_entries_append_only ON ledger_entries");
    },
    async close() {
      await client.end();
    },
  };
}

/** Drops the triggers, then does what the test says. */
async function asDba(live: LiveLedger, work: (dba: Dba) => Promise<void>): Promise<void> {
  const dba = await live.dba();
  try {
    await dba.dropAppendOnlyTriggers();
    await work(dba);
  } finally {
    await dba.close();
  }
}

interface EntryRow {
  seq: number;
  leaf: Buffer;
  leaf_hash: Buffer;
}

async function entryAt(dba: Dba, seq: number): Promise<EntryRow> {
  const [row] = await dba.query<EntryRow>("SELECT seq, leaf, leaf_hash FROM ledger_entries WHERE seq = ?", seq);
  assert.ok(row, `no entry ${seq}`);
  return row;
}

/** The leaf with the first occurrence of `from` replaced: an edit that keeps the JSON well-formed. */
function edited(leaf: Buffer, from: string, to: string): Buffer {
  const text = leaf.toString("utf8");
  assert.ok(text.includes(from), `${from} is not in ${text}`);
  return Buffer.from(text.replace(from, to), "utf8");
}

/** A request record that never happened, with a correct envelope for `seq` and a correct hash. */
function forgedLeaf(seq: number): { leaf: Buffer; hash: Buffer; time: string } {
  const time = "2026-05-04T09:00:30.500Z";
  const record: AuditRecord = {
    ...requestBase("req-forged", time, ALICE),
    method: "POST",
    path: "/threads/thread-1/runs/wait",
    operation: null,
    decision: { effect: "allow", rule: "engineers-run-agents" },
  };
  const leaf = leafBytes(ORIGIN, seq, record);
  return { leaf, hash: leafHash(leaf), time };
}

async function insertEntry(dba: Dba, seq: number, leaf: Buffer, hash: Buffer, timeMs: number): Promise<void> {
  await dba.query("INSERT INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ORIGIN, seq, leaf, hash, timeMs, "request", ALICE.subject, "agent", "req-forged");
}

/** Moves every entry at or after `from` one place up. In two steps through negative numbers, as
 * both databases check the primary key row by row during an UPDATE. */
async function shiftEntriesUp(dba: Dba, from: number): Promise<void> {
  await dba.query("UPDATE ledger_entries SET seq = -seq - 1 WHERE seq >= ?", from);
  await dba.query("UPDATE ledger_entries SET seq = -seq WHERE seq < 0");
}

interface CheckpointRow {
  id: number;
  size: number;
  root: Buffer;
  note: string;
}

async function storedCheckpoint(dba: Dba, size: number): Promise<CheckpointRow> {
  const [row] = await dba.query<CheckpointRow>("SELECT id, size, root, note FROM ledger_checkpoints WHERE size = ? ORDER BY id DESC", size);
  assert.ok(row, `no checkpoint at size ${size}`);
  return row;
}

/** A checkpoint label in verifyStore's report: "Consistency entries 0..32 -> checkpoint 33". */
function rootCheck(size: number, verdict: "valid" | "INVALID: root mismatch"): RegExp {
  return new RegExp(`Consistency entries 0\\.\\.${size - 1} -> checkpoint ${size}\\s+${verdict}`);
}

// ---------------------------------------------------------------------------------------------
// The live store, on both backends

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`a tampered ledger on ${backend} is named by verifyStore`, () => {
    test("the untampered ledger verifies, also with --strict (byte-exact canonical leaves)", async () => {
      const live = await writeLedger(backend);
      for (const options of [{}, { strict: true }]) {
        const report = await verified(live, options);
        assert.ok(report.valid, report.format());
        const text = report.format();
        for (const size of CHECKPOINT_AT) assert.match(text, rootCheck(size, "valid"));
        assert.match(text, new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+valid`));
        assert.match(text, new RegExp(`Tail\\s+valid \\(the newest checkpoint covers ${live.size} of ${live.size} entries\\)`));
        assert.match(text, /Requests without completion\s+none/);
      }
      const store = await live.open();
      try {
        assert.ok((await store.checkpoints(ORIGIN)).length >= 5, "start, three asked for, and close");
        const body = traffic().find((item) => item.context.payloads)!.context.payloads![0]!;
        assert.deepEqual(await storedPayload(store, body.sha256), body.body, "payloads are stored apart from the leaves");
      } finally {
        await store.close();
      }
    });

    test("with the append-only triggers in place the database itself refuses UPDATE and DELETE of entries", async () => {
      const live = await writeLedger(backend);
      const dba = await live.dba();
      try {
        const refusals = [
          "UPDATE ledger_entries SET leaf = leaf WHERE seq = 5",
          "DELETE FROM ledger_entries WHERE seq = 5",
          // SQLite skips triggers for a DELETE without WHERE only when the table has none.
          "DELETE FROM ledger_entries",
          ...(backend === "postgres"
            ? ["TRUNCATE ledger_entries", "INSERT INTO ledger_entries SELECT * FROM ledger_entries WHERE seq = 5 ON CONFLICT (log, seq) DO UPDATE SET leaf = EXCLUDED.leaf"]
            : ["INSERT INTO ledger_entries SELECT * FROM ledger_entries WHERE seq = 5 ON CONFLICT (log, seq) DO UPDATE SET leaf = excluded.leaf"]),
        ];
        for (const sql of refusals) await assert.rejects(dba.query(sql), /ledger entries are append-only/, sql);
      } finally {
        await dba.close();
      }
      assert.ok((await verified(live)).valid, "nothing was changed");
    });

    test("a leaf edited in place (one byte, leaf_hash kept) is named: hash value doesn't match", async () => {
      const live = await writeLedger(backend);
      const seq = live.seqOf("upstream-error");
      await asDba(live, async (dba) => {
        const row = await entryAt(dba, seq);
        // Hide an upstream failure: 500 -> 200 is one byte.
        const leaf = edited(row.leaf, '"status":500', '"status":200');
        assert.equal(leaf.length, row.leaf.length);
        assert.equal(leaf.compare(row.leaf) === 0, false);
        await dba.query("UPDATE ledger_entries SET leaf = ? WHERE seq = ?", leaf, seq);
      });
      const report = await verified(live);
      // One entry named, the other 59 counted valid in the summary.
      assertInvalid(report, new RegExp(`Entry ${seq}\\s+INVALID: hash value doesn't match: the stored leaf was modified`), new RegExp(`\\b1/${live.size} entries INVALID`));
    });

    test("a leaf edited and rehashed is caught by the signed roots: root mismatch at every later checkpoint", async () => {
      const live = await writeLedger(backend);
      const seq = live.seqOf("upstream-error");
      assert.ok(seq > CHECKPOINT_AT[0]! && seq < CHECKPOINT_AT[1]!);
      await asDba(live, async (dba) => {
        const leaf = edited((await entryAt(dba, seq)).leaf, '"status":500', '"status":200');
        await dba.query("UPDATE ledger_entries SET leaf = ?, leaf_hash = ? WHERE seq = ?", leaf, leafHash(leaf), seq);
      });
      for (const strict of [false, true]) {
        const report = await verified(live, { strict });
        // Every leaf hashes to its stored hash now: only the checkpoints, which no DBA can re-sign, notice.
        assertInvalid(report, rootCheck(CHECKPOINT_AT[0]!, "valid"), rootCheck(CHECKPOINT_AT[1]!, "INVALID: root mismatch"), rootCheck(CHECKPOINT_AT[2]!, "INVALID: root mismatch"), rootCheck(live.size, "INVALID: root mismatch"));
        assert.doesNotMatch(report.format(), /hash value doesn't match/);
      }
    });

    test("a record deleted from the middle is named as a sequence gap", async () => {
      const live = await writeLedger(backend);
      await asDba(live, (dba) => dba.query("DELETE FROM ledger_entries WHERE seq = ?", 30).then(() => undefined));
      const report = await verified(live);
      assertInvalid(report, /Entry 30\s+INVALID: sequence gap: expected 30, found 31/, rootCheck(CHECKPOINT_AT[1]!, "INVALID: root mismatch"));
    });

    test("a record inserted in the middle (later rows renumbered, forged leaf with a correct hash) is named", async () => {
      const live = await writeLedger(backend);
      const forged = forgedLeaf(30);
      await asDba(live, async (dba) => {
        await shiftEntriesUp(dba, 30);
        await insertEntry(dba, 30, forged.leaf, forged.hash, Date.parse(forged.time));
      });
      // The renumbered rows still say their old seq inside the signed bytes.
      assertInvalid(await verified(live), /Entry 31\s+INVALID: sequence out of order: expected 31, found 30/, rootCheck(CHECKPOINT_AT[1]!, "INVALID: root mismatch"), rootCheck(live.size, "INVALID: root mismatch"));
      assertInvalid(await verified(live, { strict: true }), /Entry 31\s+INVALID: sequence out of order: expected 31, found 30 \(a duplicate or moved entry\)/);
    });

    test("a record inserted with every later leaf rewritten to its new seq and rehashed is caught only by the signed roots", async () => {
      const live = await writeLedger(backend);
      const forged = forgedLeaf(30);
      await asDba(live, async (dba) => {
        const later = await dba.query<EntryRow>("SELECT seq, leaf, leaf_hash FROM ledger_entries WHERE seq >= ? ORDER BY seq", 30);
        await shiftEntriesUp(dba, 30);
        for (const row of later) {
          const leaf = edited(row.leaf, `,"seq":"${row.seq}","v":1}`, `,"seq":"${row.seq + 1}","v":1}`);
          await dba.query("UPDATE ledger_entries SET leaf = ?, leaf_hash = ? WHERE seq = ?", leaf, leafHash(leaf), row.seq + 1);
        }
        await insertEntry(dba, 30, forged.leaf, forged.hash, Date.parse(forged.time));
      });
      const report = await verified(live, { strict: true });
      assertInvalid(report, rootCheck(CHECKPOINT_AT[0]!, "valid"), rootCheck(CHECKPOINT_AT[1]!, "INVALID: root mismatch"), rootCheck(CHECKPOINT_AT[2]!, "INVALID: root mismatch"));
      assert.doesNotMatch(report.format(), /Entry \d+\s+INVALID/, "every entry is well-formed and hashed as stored");
    });

    test("two records swapped (leaf and leaf_hash of seq 10 and 11) are named", async () => {
      const live = await writeLedger(backend);
      await asDba(live, async (dba) => {
        const [ten, eleven] = [await entryAt(dba, 10), await entryAt(dba, 11)];
        await dba.query("UPDATE ledger_entries SET leaf = ?, leaf_hash = ? WHERE seq = ?", eleven.leaf, eleven.leaf_hash, 10);
        await dba.query("UPDATE ledger_entries SET leaf = ?, leaf_hash = ? WHERE seq = ?", ten.leaf, ten.leaf_hash, 11);
      });
      assertInvalid(await verified(live), /Entry 10\s+INVALID: sequence gap: expected 10, found 11/, /Entry 11\s+INVALID: sequence out of order: expected 11, found 10/, rootCheck(CHECKPOINT_AT[0]!, "INVALID: root mismatch"));
      assertInvalid(await verified(live, { strict: true }), /Entry 11\s+INVALID: sequence out of order: expected 11, found 10/);
    });

    test("a checkpoint signed by another key is named: public key not found", async () => {
      const live = await writeLedger(backend);
      const attackerKeyId = ATTACKER.keyId.toString("hex");
      await asDba(live, async (dba) => {
        // The attacker signs a head for the log as they would like it to be.
        const root = createHash("sha256").update("the attacker's tree").digest();
        const note = signNote(formatCheckpoint({ origin: ORIGIN, size: live.size, root }), [ATTACKER]);
        await dba.query("INSERT INTO ledger_checkpoints (log, size, root, note, created_at_ms) VALUES (?, ?, ?, ?, ?)", ORIGIN, live.size, root, note, Date.now());
      });
      const report = await verified(live);
      assertInvalid(report, new RegExp(`Checkpoint size ${live.size} @ \\S+\\s+INVALID: public key not found for key ID ${attackerKeyId} \\(${ORIGIN}\\)`));
      // The log's own checkpoints still bind the untouched entries.
      assert.match(report.format(), rootCheck(live.size, "valid"));
    });

    test("a checkpoint whose root was altered under the log's signature is named: signature verification failed", async () => {
      const live = await writeLedger(backend);
      const other = createHash("sha256").update("another root").digest();
      await asDba(live, async (dba) => {
        // Root line in the signed text changed, signature lines kept.
        const signed = await storedCheckpoint(dba, CHECKPOINT_AT[1]!);
        const note = signed.note.replace(`\n${signed.root.toString("base64")}\n`, `\n${other.toString("base64")}\n`);
        assert.notEqual(note, signed.note);
        await dba.query("UPDATE ledger_checkpoints SET note = ?, root = ? WHERE id = ?", note, other, signed.id);
        // Only the root column changed; the signed note is intact.
        const column = await storedCheckpoint(dba, CHECKPOINT_AT[2]!);
        await dba.query("UPDATE ledger_checkpoints SET root = ? WHERE id = ?", other, column.id);
      });
      assertInvalid(
        await verified(live),
        new RegExp(`Checkpoint size ${CHECKPOINT_AT[1]} @ \\S+\\s+INVALID: signature verification failed for ${ORIGIN}`),
        new RegExp(`Checkpoint size ${CHECKPOINT_AT[2]} @ \\S+\\s+INVALID: stored size or root differs from the signed note`),
      );
    });

    test("a truncated tail (the last 5 entries and their tree nodes deleted) is named: log truncated", async () => {
      const live = await writeLedger(backend);
      const keep = live.size - 5;
      await asDba(live, async (dba) => {
        await dba.query("DELETE FROM ledger_entries WHERE seq >= ?", keep);
        // Every stored subtree that covers a deleted leaf: [idx * 2^level, (idx + 1) * 2^level).
        await dba.query("DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > ?", keep);
      });
      const report = await verified(live);
      assertInvalid(report, new RegExp(`Tail\\s+INVALID: log truncated: entries end at ${keep}, checkpoint says ${live.size}`));
      // What remains is intact: the truncation is all there is to report.
      assert.match(report.format(), new RegExp(`Entries 0\\.\\.${keep - 1}\\s+valid`));
    });

    test("a truncated tail whose checkpoints were deleted too passes on the store alone, and is named against a checkpoint saved earlier", async () => {
      const live = await writeLedger(backend);
      const saved = await (async () => {
        const store = await live.open();
        try {
          return (await store.latestCheckpoint(ORIGIN))!;
        } finally {
          await store.close();
        }
      })();
      assert.equal(saved.size, live.size);
      const keep = 33;
      await asDba(live, async (dba) => {
        await dba.query("DELETE FROM ledger_entries WHERE seq >= ?", keep);
        await dba.query("DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > ?", keep);
        await dba.query("DELETE FROM ledger_checkpoints WHERE size > ?", keep);
      });
      // Nothing in the store contradicts the shorter log: no key was needed for this.
      assert.equal((await verified(live)).valid, true);
      const report = await verified(live, { savedCheckpoints: [{ source: "saved.note", note: saved.note }] });
      assertInvalid(report, new RegExp(`Tail\\s+INVALID: log truncated: entries end at ${keep}, checkpoint says ${live.size}`));
      assert.match(report.format(), new RegExp(`Checkpoint size ${live.size} from saved.note\\s+valid`));
    });

    test("a checkpoint saved earlier that no key of the log signed is named, not trusted", async () => {
      const live = await writeLedger(backend);
      const forged = signNote(formatCheckpoint({ origin: ORIGIN, size: live.size + 5, root: randomBytes(32) }), [ATTACKER]);
      assertInvalid(await verified(live, { savedCheckpoints: [{ source: "forged.note", note: forged }] }), /Checkpoint from forged\.note\s+INVALID: .*public key not found/);
    });

    test("a stored payload edited in place is named: the payload no longer hashes to the name the leaves commit to", async () => {
      const live = await writeLedger(backend);
      let sha256 = "";
      await asDba(live, async (dba) => {
        const [row] = await dba.query<{ sha256: string }>("SELECT sha256 FROM ledger_payloads ORDER BY sha256 LIMIT 1");
        assert.ok(row, "the traffic stored payloads");
        sha256 = row.sha256;
        await dba.query("UPDATE ledger_payloads SET body = ? WHERE sha256 = ?", Buffer.from('{"messages":[{"content":"a different answer"}]}'), sha256);
      });
      const report = await verified(live);
      assertInvalid(report, new RegExp(`Payload ${sha256}\\s+INVALID: hash value doesn't match: the stored payload was modified`));
      assert.match(report.format(), /Payload store\s+\d+ of \d+ valid/);
    });

    // SQLite's REPLACE conflict resolution deletes the old row without firing DELETE triggers
    // (unless the connection enabled recursive_triggers); a BEFORE INSERT trigger refuses it.
    // PostgreSQL's ON CONFLICT DO UPDATE fires the UPDATE trigger (tested above).
    if (backend === "sqlite") {
      test(
        "with the triggers in place, INSERT OR REPLACE over an existing entry is refused by the database",
        async () => {
          const live = await writeLedger(backend);
          const dba = await live.dba();
          try {
            const forged = forgedLeaf(30);
            await assert.rejects(
              dba.query("INSERT OR REPLACE INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ORIGIN, 30, forged.leaf, forged.hash, 0, "request", ALICE.subject, "agent", "req-forged"),
              /ledger entries are append-only/,
            );
          } finally {
            await dba.close();
          }
        },
      );

      test("an entry overwritten with INSERT OR REPLACE once its trigger is dropped is still caught by the signed roots", async () => {
        const live = await writeLedger(backend);
        const dba = await live.dba();
        try {
          const forged = forgedLeaf(30);
          await dba.query("DROP TRIGGER ledger_entries_no_replace");
          await dba.query("INSERT OR REPLACE INTO ledger_entries (log, seq, leaf, leaf_hash, time_ms, type, subject, graphs, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ORIGIN, 30, forged.leaf, forged.hash, Date.parse(forged.time), "request", ALICE.subject, "agent", "req-forged");
        } finally {
          await dba.close();
        }
        assertInvalid(await verified(live), rootCheck(CHECKPOINT_AT[1]!, "INVALID: root mismatch"), rootCheck(live.size, "INVALID: root mismatch"));
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Evidence bundles and their own verify.mjs (SQLite)

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node <args>` from the repository root, as an auditor or an operator would run it. */
function node(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: REPO, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The bundle's own verifier, run from the bundle. */
const verifyMjs = (dir: string) => node([path.join(dir, "verify.mjs"), dir]);

function assertRejected(run: Run, ...reasons: RegExp[]): void {
  assert.equal(run.code, 1, `verify.mjs accepted a tampered bundle (exit ${run.code}):\n${run.stdout}${run.stderr}`);
  assert.match(run.stdout, /INVALID/);
  for (const reason of reasons) assert.match(run.stdout, reason);
}

/** The CLI's way to export: a "tool" Ledger beside the gateway's (src/cli/audit.ts openToolLedger). */
async function exportBundle(live: LiveLedger, outDir: string, filter: Pick<ExportRequest, "user"> = {}) {
  const ledger = await Ledger.open({ origin: ORIGIN, store: await live.open(), keyFile: live.keyFile, log: SILENT, checkpointIntervalMs: 1_000, heartbeatIntervalMs: 60_000, maxBatch: 64, role: "tool" });
  try {
    return await exportEvidence(ledger, { outDir, exportedBy: "test", ...filter });
  } finally {
    await ledger.close();
  }
}

async function readLines(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  assert.ok(text.endsWith("\n"));
  return text.slice(0, -1).split("\n");
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  await writeFile(file, lines.map((line) => `${line}\n`).join(""));
}

/**
 * What an attacker with the bundle but not the log key can do at most: edit the entries, then
 * recompute every checkpoint root and consistency proof, the control report and its sampled
 * records' proofs (with the exporter's own code), sign them and the manifest with their own key,
 * and add that key to keys.json as a "log" key.
 */
async function resignWholesale(dir: string, edit: (lines: string[]) => void): Promise<void> {
  const entries = path.join(dir, "entries.ndjson");
  const lines = await readLines(entries);
  edit(lines);
  await writeLines(entries, lines);
  const hashes = lines.map((line) => leafHash(Buffer.from(line)));
  const tree: NodeReader = { node: (level, index) => rootOf(hashes.slice(index * 2 ** level, (index + 1) * 2 ** level)) };
  for (const name of await readdir(path.join(dir, "checkpoints"))) {
    const size = Number(name.replace(".note", ""));
    await writeFile(path.join(dir, "checkpoints", name), signNote(formatCheckpoint({ origin: ORIGIN, size, root: rootOf(hashes.slice(0, size)) }), [ATTACKER]));
  }
  for (const name of await readdir(path.join(dir, "consistency"))) {
    const [m, n] = name.replace(".txt", "").split("-").map(Number) as [number, number];
    await writeFile(path.join(dir, "consistency", name), (await consistencyProof(m, n, tree)).map((hash) => `${hash.toString("base64")}\n`).join(""));
  }
  const manifestFile = path.join(dir, "manifest.json");
  const before = JSON.parse(await readFile(manifestFile, "utf8")) as { range: { start: number; end: number }; checkpoint_size: number; filter: Record<string, string> | null; exported_at: string };
  const end = before.checkpoint_size;
  const endNote = await readFile(path.join(dir, "checkpoints", `${String(end).padStart(12, "0")}.note`), "utf8");
  const collector = new EvidenceCollector(rootOf(hashes.slice(0, end)));
  lines.forEach((line, seq) => collector.add(seq, Buffer.from(line), (JSON.parse(line) as { record: AuditRecord }).record));
  const report = collector.report({ origin: ORIGIN, range: before.range, checkpoint: { size: end, root: rootOf(hashes.slice(0, end)).toString("base64") }, filter: before.filter });
  await writeFile(path.join(dir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  await writeFile(path.join(dir, "report.html"), reportHtml(report, before.exported_at));
  await rm(path.join(dir, "proofs"), { recursive: true, force: true });
  await mkdir(path.join(dir, "proofs"));
  for (const seq of collector.sampledSeqs()) {
    await writeFile(path.join(dir, "proofs", `${seq}.tlog-proof`), formatTlogProof({ index: seq, proof: await inclusionProof(seq, end, tree), checkpoint: endNote }));
  }
  const keysFile = path.join(dir, "keys.json");
  const keys = JSON.parse(await readFile(keysFile, "utf8")) as Record<string, unknown>[];
  keys.push({ ...keys[0], key_id: ATTACKER.keyId.toString("hex"), vkey: ATTACKER.verifierKey(), valid_to: null });
  await writeFile(keysFile, JSON.stringify(keys, null, 2) + "\n");
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { files: { path: string; sha256: string; bytes: number }[] };
  for (const listed of manifest.files) {
    const body = await readFile(path.join(dir, listed.path));
    Object.assign(listed, { sha256: sha256Hex(body), bytes: body.length });
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
  await writeFile(manifestFile, manifestBytes);
  await writeFile(path.join(dir, "manifest.note"), signNote(`${BUNDLE_FORMAT}\n${ORIGIN}\n${sha256Hex(manifestBytes)}\n`, [ATTACKER]));
}

describe("a tampered evidence bundle is named by its own verify.mjs", () => {
  let live: LiveLedger;
  /** Full range: every entry, bound to the end checkpoint by the recomputed root. */
  let bundle: string;
  let end: number;
  /** Filtered to alice: her entries only, each with an inclusion proof. */
  let aliceBundle: string;

  before(async () => {
    live = await writeLedger("sqlite");
    bundle = path.join(workDir, "bundle");
    const result = await exportBundle(live, bundle);
    assert.deepEqual([result.start, result.end, result.entries, result.filtered], [0, live.size, live.size, false]);
    end = result.checkpointSize;
    aliceBundle = path.join(workDir, "alice");
    assert.equal((await exportBundle(live, aliceBundle, { user: ALICE.subject })).filtered, true);
  });

  /** A copy to tamper with; the original stays as exported. */
  async function copyOfBundle(name: string, from = bundle): Promise<string> {
    const copy = path.join(workDir, `bundle-${name}`);
    await cp(from, copy, { recursive: true });
    return copy;
  }

  test("the untampered bundle verifies: exit 0, every check valid", async () => {
    const run = await verifyMjs(bundle);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /INVALID/);
    assert.match(run.stdout, /Manifest manifest\.note\s+valid/);
    assert.match(run.stdout, new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+valid \\(root matches checkpoint ${end}\\)`));
    assert.ok((await readdir(path.join(bundle, "payloads"))).length > 0, "the payloads travel with the bundle");
  });

  test("an edited line of entries.ndjson (an upstream failure turned into a success) is named: file hash and root mismatch", async () => {
    const dir = await copyOfBundle("edited");
    const file = path.join(dir, "entries.ndjson");
    const lines = await readLines(file);
    const at = lines.findIndex((line) => line.includes('"status":500'));
    lines[at] = lines[at]!.replace('"status":500', '"status":200');
    await writeLines(file, lines);
    assertRejected(await verifyMjs(dir), /File entries\.ndjson\s+INVALID: hash value doesn't match/, new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+INVALID: root mismatch: entries hash to \\S+, checkpoint ${end} says`));
  });

  test("a deleted line of entries.ndjson is named: sequence gap", async () => {
    const dir = await copyOfBundle("deleted");
    const file = path.join(dir, "entries.ndjson");
    const lines = await readLines(file);
    lines.splice(30, 1);
    await writeLines(file, lines);
    assertRejected(await verifyMjs(dir), /File entries\.ndjson\s+INVALID: hash value doesn't match/, /INVALID: line 31: sequence gap: expected 30, found 31/);
  });

  test("two swapped lines of entries.ndjson are named: sequence gap and out of order", async () => {
    const dir = await copyOfBundle("swapped");
    const file = path.join(dir, "entries.ndjson");
    const lines = await readLines(file);
    [lines[10], lines[11]] = [lines[11]!, lines[10]!];
    await writeLines(file, lines);
    assertRejected(await verifyMjs(dir), /line 11: sequence gap: expected 10, found 11/, /line 12: sequence out of order: expected 12, found 10/);
  });

  test("the end checkpoint replaced by one signed by another key is named: public key not found", async () => {
    const dir = await copyOfBundle("forged-checkpoint");
    const name = (await readdir(path.join(dir, "checkpoints"))).find((file) => Number(file.replace(".note", "")) === end);
    assert.ok(name, `no checkpoints/<${end}>.note`);
    const file = path.join(dir, "checkpoints", name);
    // Same origin, size and root: only the signature is the attacker's.
    const text = (await readFile(file, "utf8")).split("\n\n")[0]! + "\n";
    await writeFile(file, signNote(text, [ATTACKER]));
    assertRejected(
      await verifyMjs(dir),
      new RegExp(`Checkpoint checkpoints/${name}\\s+INVALID: public key not found for key ID ${ATTACKER.keyId.toString("hex")} \\(${ORIGIN}\\)`),
      new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+INVALID: no valid checkpoint at or after the exported end ${live.size}`),
    );
  });

  test("a truncated tail with manifest.json rewritten and manifest.note re-signed by another key is named: public key not found, log truncated", async () => {
    const dir = await copyOfBundle("truncated");
    const entries = path.join(dir, "entries.ndjson");
    await writeLines(entries, (await readLines(entries)).slice(0, -5));
    // The attacker makes the file list agree with the shortened file and signs the manifest anew.
    const manifestFile = path.join(dir, "manifest.json");
    const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { files: { path: string; sha256: string; bytes: number }[] };
    const body = await readFile(entries);
    Object.assign(manifest.files.find((f) => f.path === "entries.ndjson")!, { sha256: sha256Hex(body), bytes: body.length });
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
    await writeFile(manifestFile, manifestBytes);
    await writeFile(path.join(dir, "manifest.note"), signNote(`${BUNDLE_FORMAT}\n${ORIGIN}\n${sha256Hex(manifestBytes)}\n`, [ATTACKER]));
    assertRejected(
      await verifyMjs(dir),
      new RegExp(`Manifest manifest\\.note\\s+INVALID: public key not found for key ID ${ATTACKER.keyId.toString("hex")}`),
      new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+INVALID: log truncated: entries end at ${live.size - 5}, checkpoint says ${live.size}`),
    );
  });

  test("a filtered export for oidc:corp:alice verifies and holds only her records, each with an inclusion proof", async () => {
    const dir = aliceBundle;
    const run = await verifyMjs(dir);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /INVALID/);

    const hers = traffic().filter((item) => item.context.subject === ALICE.subject);
    const herRequests = new Set(hers.flatMap(({ record }) => (record.type === "request" ? [record.request_id] : [])));
    const leaves = (await readLines(path.join(dir, "entries.ndjson"))).map((line) => JSON.parse(line) as { seq: string; record: AuditRecord });
    assert.equal(leaves.length, hers.length);
    for (const { record } of leaves) {
      if (record.type === "request") assert.equal(record.identity?.subject, ALICE.subject);
      else if (record.type === "completion" || record.type === "run") assert.ok(herRequests.has(record.request_id), `${record.request_id} is not alice's`);
      else assert.fail(`a ${record.type} record in alice's export`);
    }
    const proofs = new Set(await readdir(path.join(dir, "proofs")));
    for (const { seq } of leaves) assert.ok(proofs.has(`${seq}.tlog-proof`), `no proofs/${seq}.tlog-proof`);
    assert.equal(proofs.size, leaves.length);
    assert.match(run.stdout, new RegExp(`Entry ${leaves[0]!.seq} proofs/${leaves[0]!.seq}\\.tlog-proof\\s+valid \\(included in checkpoint`));
  });

  test("an edited line of alice's filtered export is named: its inclusion proof leads to a different root", async () => {
    const dir = await copyOfBundle("alice-edited", aliceBundle);
    const file = path.join(dir, "entries.ndjson");
    const lines = await readLines(file);
    const at = lines.findIndex((line) => line.includes('"status":500'));
    const seq = (JSON.parse(lines[at]!) as { seq: string }).seq;
    lines[at] = lines[at]!.replace('"status":500', '"status":200');
    await writeLines(file, lines);
    assertRejected(await verifyMjs(dir), new RegExp(`Entry ${seq} proofs/${seq}\\.tlog-proof\\s+INVALID: root mismatch: the proof leads to a different root`));
  });

  test("a bundle rewritten and re-signed wholesale under an attacker key added to keys.json is named once the auditor pins the log key from `portcullis audit keys`", async () => {
    const dir = await copyOfBundle("resigned");
    await resignWholesale(dir, (lines) => {
      const at = lines.findIndex((line) => line.includes('"status":500'));
      lines[at] = lines[at]!.replace('"status":500', '"status":200');
    });
    // Unpinned, a bundle vouches for its own keys (docs/audit.md): this forgery is internally consistent.
    const unpinned = await verifyMjs(dir);
    assert.equal(unpinned.code, 0, unpinned.stdout + unpinned.stderr);

    const keys = await node([...CLI_ARGS, "audit", "keys", "--ledger", live.file]);
    assert.equal(keys.code, 0, keys.stderr);
    const vkey = /^log\s.*\s(\S+)$/m.exec(keys.stdout)?.[1];
    assert.ok(vkey !== undefined && vkey.startsWith(`${ORIGIN}+`), keys.stdout);
    const pinned = (bundleDir: string) => node([path.join(bundleDir, "verify.mjs"), bundleDir, "--trusted-key", vkey]);
    const genuine = await pinned(bundle);
    assert.equal(genuine.code, 0, genuine.stdout + genuine.stderr);
    assertRejected(
      await pinned(dir),
      new RegExp(`Manifest manifest\\.note\\s+INVALID: public key not found for key ID ${ATTACKER.keyId.toString("hex")}`),
      new RegExp(`Checkpoint checkpoints/\\d+\\.note\\s+INVALID: public key not found for key ID ${ATTACKER.keyId.toString("hex")}`),
    );
  });
});

describe("portcullis verify --ledger on the live SQLite file", () => {
  test("exits 0 on the intact ledger and 1, printing INVALID, once a record is deleted", async () => {
    const live = await writeLedger("sqlite");
    const cli = () => node([...CLI_ARGS, "verify", "--ledger", live.file]);
    const good = await cli();
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.doesNotMatch(good.stdout, /INVALID/);
    assert.match(good.stdout, new RegExp(`Entries 0\\.\\.${live.size - 1}\\s+valid`));

    await asDba(live, (dba) => dba.query("DELETE FROM ledger_entries WHERE seq = ?", 30).then(() => undefined));
    const bad = await cli();
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout, /Entry 30\s+INVALID: sequence gap: expected 30, found 31/);
  });
});

describe("checkpoints kept outside the store, and tools that never make up a key", () => {
  test("audit checkpoint prints a note that verify --checkpoint holds the log to after its tail was dropped with its checkpoints", async () => {
    const live = await writeLedger("sqlite");
    const printed = await node([...CLI_ARGS, "audit", "checkpoint", "--ledger", live.file]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, new RegExp(`^${ORIGIN.replaceAll(".", "\\.")}\n${live.size}\n`));
    const savedFile = path.join(path.dirname(live.file), "saved.note");
    await writeFile(savedFile, printed.stdout);
    await asDba(live, async (dba) => {
      await dba.query("DELETE FROM ledger_entries WHERE seq >= ?", 50);
      await dba.query("DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > ?", 50);
      await dba.query("DELETE FROM ledger_checkpoints WHERE size > ?", 50);
    });
    const alone = await node([...CLI_ARGS, "verify", "--ledger", live.file]);
    assert.equal(alone.code, 0, "the store alone cannot tell");
    const held = await node([...CLI_ARGS, "verify", "--ledger", live.file, "--checkpoint", savedFile]);
    assert.equal(held.code, 1, held.stdout);
    assert.match(held.stdout, /Tail\s+INVALID: log truncated: entries end at 50/);
  });

  test("a command that writes to a copy of the ledger without its key refuses, and neither creates nor registers one", async () => {
    const live = await writeLedger("sqlite");
    const copyDir = await mkdtemp(path.join(workDir, "copy-"));
    const copy = path.join(copyDir, "ledger.db");
    await cp(live.file, copy);
    const keysBefore = await (async () => {
      const store = new SqliteLedgerStore(copy);
      try {
        return (await store.keys()).length;
      } finally {
        await store.close();
      }
    })();
    const result = await node([...CLI_ARGS, "audit", "hold", "place", "--ledger", copy, "--user", ALICE.subject, "--reason", "case 42"]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /no ledger signing key at .*ledger-signing-key\.pem.*pass --key-file/);
    assert.deepEqual(await readdir(copyDir), ["ledger.db"], "no key file was created");
    // Reading needs no key: sessions opens the store alone.
    const listed = await node([...CLI_ARGS, "sessions", "--ledger", copy, "--kind", "all", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as unknown[]).length > 0, "the copy's sessions are listed");
    assert.deepEqual(await readdir(copyDir), ["ledger.db"], "still no key file");
    const other = path.join(copyDir, "other-key.pem");
    await writeFile(other, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
    const foreign = await node([...CLI_ARGS, "audit", "hold", "place", "--ledger", copy, "--key-file", other, "--user", ALICE.subject, "--reason", "case 42"]);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /is not in this ledger's key history/);
    const store = new SqliteLedgerStore(copy);
    try {
      assert.equal((await store.keys()).length, keysBefore, "no key was registered");
    } finally {
      await store.close();
    }
    const withKey = await node([...CLI_ARGS, "audit", "hold", "place", "--ledger", copy, "--key-file", live.keyFile, "--user", ALICE.subject, "--reason", "case 42"]);
    assert.equal(withKey.code, 0, withKey.stderr);
  });
});

function sha256Hex(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}
