// The SQLite ledger's writer thread and payloads at rest: appends commit on their own thread and
// stay one consistent log when another process appends between them; recorded payloads are
// stored compressed and read, proven and verified as the bytes that were hashed.
import { storedPayload } from "../../src/ledger/store.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { pino } from "pino";
import { Ledger } from "../../src/ledger/ledger.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import { verifyStore } from "../../src/ledger/verifyStore.js";
import type { CompletionRecord } from "../../src/record/auditRecord.js";

const ORIGIN = "test.example/writer";
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-writer-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function completion(requestId: string): CompletionRecord {
  return { type: "completion", request_id: requestId, time: new Date().toISOString(), status: 200, upstream_status: 200, outcome: "ok", duration_ms: 1, bytes_in: 0, bytes_out: 0 };
}

// Small batches, so that several are prepared and in flight behind one another.
function openLedger(file: string, role: "gateway" | "tool" = "gateway"): Promise<Ledger> {
  return Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile: path.join(dir, "key.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 4, role });
}

/** A recorded stream as the relay stores it: one line per token event, much alike. */
function recordedStream(events: number): Buffer {
  let text = "";
  for (let i = 0; i < events; i++) text += `${JSON.stringify({ t: i, event: "messages", id: String(i), data: JSON.stringify([{ content: "x", type: "AIMessageChunk", id: "run-0199-msg" }, { run_id: "0199", langgraph_node: "echo" }]) })}\n`;
  return Buffer.from(text);
}

describe("the SQLite ledger's writer thread", () => {
  test("appends from the gateway and from a tool between them form one log that verifies, with every receipt where it says", async () => {
    const file = path.join(dir, "interleaved.db");
    const gateway = await openLedger(file);
    const receipts = [];
    try {
      receipts.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => gateway.append(completion(`gw-${i}`))))));
      // The CLI appends beside the running gateway: the writer thread finds the log longer than
      // it expected, writes nothing, and the gateway takes the checking path.
      const tool = await openLedger(file, "tool");
      receipts.push(await tool.append(completion("tool-0")));
      await tool.close();
      receipts.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => gateway.append(completion(`gw-late-${i}`))))));
      await gateway.checkpoint();
    } finally {
      await gateway.close();
    }
    assert.deepEqual(receipts.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 81 }, (_, i) => i), "81 records, 81 distinct positions in order");
    const store = new SqliteLedgerStore(file);
    try {
      assert.equal(await store.size(ORIGIN), 81);
      const report = await verifyStore(store, ORIGIN, { receipts: receipts.map((r) => ({ seq: r.seq, leafHash: r.leafHash.toString("base64") })) });
      assert.ok(report.valid, report.format());
      const sessions = new Database(file, { readonly: true });
      // The session index was written by the same transactions as the leaves.
      assert.equal(sessions.prepare("SELECT next_seq FROM ledger_session_cursor WHERE log = ?").pluck().get(ORIGIN), 81);
      sessions.close();
    } finally {
      await store.close();
    }
  });

  test("a batch the store refuses is rejected alone: the batches prepared behind it land where the log really ends, and the log verifies", async () => {
    const file = path.join(dir, "refused.db");
    const ledger = await openLedger(file);
    const settled: PromiseSettledResult<{ seq: number; leafHash: Buffer }>[] = [];
    try {
      await ledger.append(completion("first"));
      // A store that refuses one record (as a full disk would refuse a batch).
      const raw = new Database(file);
      raw.exec("CREATE TRIGGER refuse_poison BEFORE INSERT ON ledger_entries WHEN NEW.request_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
      raw.close();
      const ids = Array.from({ length: 30 }, (_, i) => (i === 9 ? "poison" : `r-${i}`));
      settled.push(...(await Promise.allSettled(ids.map((id) => ledger.append(completion(id))))));
      const after = await ledger.append(completion("after"));
      settled.push({ status: "fulfilled", value: after });
      await ledger.checkpoint();
    } finally {
      await ledger.close();
    }
    const rejected = settled.filter((s) => s.status === "rejected");
    // The poisoned record's batch (at most maxBatch records) is refused, nothing else.
    assert.ok(rejected.length >= 1 && rejected.length <= 4, `${rejected.length} appends rejected`);
    for (const r of rejected) assert.match(String((r as PromiseRejectedResult).reason), /refused by the test/);
    const seqs = settled.filter((s) => s.status === "fulfilled").map((s) => (s as PromiseFulfilledResult<{ seq: number }>).value.seq);
    assert.equal(new Set(seqs).size, seqs.length, "no two receipts name the same position");
    const store = new SqliteLedgerStore(file);
    try {
      assert.equal(await store.size(ORIGIN), 1 + seqs.length, "every acknowledged record, and only those, is in the log");
      const report = await verifyStore(store, ORIGIN);
      assert.ok(report.valid, report.format());
    } finally {
      await store.close();
    }
  });

  test("an acknowledged append is on disk: another connection reads it as soon as the append resolves", async () => {
    const file = path.join(dir, "durable.db");
    const ledger = await openLedger(file);
    const reader = new Database(file, { readonly: true });
    try {
      for (let i = 0; i < 20; i++) {
        const receipt = await ledger.append(completion(`durable-${i}`));
        const row = reader.prepare("SELECT leaf_hash FROM ledger_entries WHERE log = ? AND seq = ?").pluck().get(ORIGIN, receipt.seq) as Buffer | undefined;
        assert.ok(row?.equals(receipt.leafHash), `entry ${receipt.seq} committed before its receipt`);
      }
    } finally {
      reader.close();
      await ledger.close();
    }
  });

  test("a file truncated behind the writer's back is refused by the checking path, not overwritten by the thread", async () => {
    const file = path.join(dir, "truncated.db");
    const ledger = await openLedger(file);
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.append(completion(`t-${i}`))));
      const raw = new Database(file);
      raw.exec("DROP TRIGGER ledger_entries_no_delete");
      raw.prepare("DELETE FROM ledger_entries WHERE log = ? AND seq >= 5").run(ORIGIN);
      raw.close();
      await assert.rejects(ledger.append(completion("after-cut")), /truncated outside Portcullis/);
    } finally {
      await ledger.close();
    }
  });
});

describe("payloads at rest", () => {
  test("a recorded stream is stored compressed and read back, paged and verified as the exact bytes that were hashed", async () => {
    const file = path.join(dir, "payloads.db");
    const body = recordedStream(2_000);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const small = Buffer.from("{}");
    const smallSha = createHash("sha256").update(small).digest("hex");
    const ledger = await openLedger(file);
    try {
      await ledger.append(completion("recorded"), { payloads: [{ sha256, body }, { sha256: smallSha, body: small }] });
    } finally {
      await ledger.close();
    }
    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare("SELECT sha256, length(body) AS bytes, encoding FROM ledger_payloads").all() as { sha256: string; bytes: number; encoding: string | null }[];
    raw.close();
    const stored = rows.find((r) => r.sha256 === sha256)!;
    assert.equal(stored.encoding, "br");
    assert.ok(stored.bytes * 20 < body.length, `${body.length} bytes recorded, ${stored.bytes} stored`);
    assert.equal(rows.find((r) => r.sha256 === smallSha)!.encoding, null, "a tiny payload is kept as it is");

    const store = new SqliteLedgerStore(file);
    try {
      assert.ok((await storedPayload(store, sha256))!.equals(body));
      const paged = [];
      for await (const page of store.payloadPages()) paged.push(...page);
      assert.ok(paged.find((p) => p.sha256 === sha256)!.body.equals(body));
      const report = await verifyStore(store, ORIGIN);
      assert.ok(report.valid, report.format());
    } finally {
      await store.close();
    }
  });

  test("a compressed payload altered at rest fails verification, as an altered plain one does", async () => {
    const file = path.join(dir, "altered.db");
    const body = recordedStream(500);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const ledger = await openLedger(file);
    try {
      await ledger.append(completion("altered"), { payloads: [{ sha256, body }] });
    } finally {
      await ledger.close();
    }
    const raw = new Database(file);
    const { brotliCompressSync } = await import("node:zlib");
    raw.prepare("UPDATE ledger_payloads SET body = ? WHERE sha256 = ?").run(brotliCompressSync(Buffer.from(body.toString().replace("echo", "evil"))), sha256);
    raw.close();
    const store = new SqliteLedgerStore(file);
    try {
      const report = await verifyStore(store, ORIGIN);
      assert.equal(report.valid, false);
      assert.match(report.format(), new RegExp(sha256.slice(0, 12)));
    } finally {
      await store.close();
    }
  });
});
