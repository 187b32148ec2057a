// Audit ledger costs, each against a baseline measured in the same run:
// - durable appends (SQLite, synchronous=FULL, group commit) through Ledger.append, against the
//   same rows inserted by plain better-sqlite3 transactions of the same size (no canonical JSON,
//   no Merkle hashing), with append latency percentiles under concurrency;
// - the same on PostgreSQL when one is available (a throwaway cluster, as the tests start);
// - verification of the whole store (`portcullis verify`) against plain SHA-256 of the leaves;
// - inclusion and consistency proof sizes at 1,000,000 records.
// Targets from the issue: >= 10,000 appends/s durable on SQLite, >= 100,000 records/s verified,
// inclusion proofs under 1 KB at 1M records.
import { performance } from "node:perf_hooks";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { canonicalJson } from "../src/ledger/canonical.js";
import { Ledger } from "../src/ledger/ledger.js";
import { CompactRange, consistencyProof, inclusionProof, leafHash } from "../src/ledger/merkle.js";
import { formatTlogProof } from "../src/ledger/note.js";
import { PostgresLedgerStore } from "../src/ledger/postgresStore.js";
import { SqliteLedgerStore } from "../src/ledger/sqliteStore.js";
import type { LedgerStore } from "../src/ledger/store.js";
import { verifyStore } from "../src/ledger/verifyStore.js";
import type { RequestRecord } from "../src/record/auditRecord.js";
import { startPostgres } from "../test/support/postgres.js";

const RECORDS = Number(process.env.BENCH_LEDGER_RECORDS ?? "50000");
const CONCURRENCY = Number(process.env.BENCH_LEDGER_CONCURRENCY ?? "256");
/** Proof sizes are measured on a tree of this many leaves (1M; the smoke mode uses fewer). */
const PROOF_SIZE = Number(process.env.BENCH_LEDGER_PROOF_SIZE ?? "1000000");

function sampleRecord(i: number): RequestRecord {
  return {
    type: "request",
    request_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    time: new Date().toISOString(),
    client: { address: "10.0.0.12", user_agent: "langgraph-sdk-js/1.15.0" },
    method: "POST",
    path: "/threads/0b6f1c52-5d1e-4c3e-9d3b-2f3c6a1d9e41/runs/stream",
    query: "",
    identity: { subject: "oidc:corp:alice", kind: "oidc", groups: ["analysts"], auth_method: "oidc-bearer", credential_id: "jti-123", issuer: "https://idp.example.com" },
    operation: null,
    decision: { effect: "allow", rule: "analysts-run-own", scope: "own" },
    resources: { graphs: ["agent"], thread_owner: "oidc:corp:alice" },
    body: { sha256: "9f2c".padEnd(64, "0"), bytes: 412, masking: "none" },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function durableAppends(store: LedgerStore, label: string, dir: string): Promise<number> {
  const ledger = await Ledger.open({
    origin: `bench/${label.replace(/\W+/g, "-")}`,
    store,
    keyFile: path.join(dir, `${label.replace(/\W+/g, "-")}.pem`),
    log: pino({ level: "silent" }),
    checkpointIntervalMs: 1000,
    heartbeatIntervalMs: 60_000,
    maxBatch: 512,
  });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  // How much of the time the event loop was busy: what a gateway's requests would have waited for.
  const loopBefore = performance.eventLoopUtilization();
  // CONCURRENCY requests in flight, each appending as soon as its previous append is acknowledged.
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < RECORDS) {
        const i = next++;
        const t = performance.now();
        await ledger.append(sampleRecord(i));
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const loop = performance.eventLoopUtilization(loopBefore);
  await ledger.close();
  latencies.sort((a, b) => a - b);
  const rate = RECORDS / seconds;
  console.log(
    `  ${label.padEnd(28)} ${rate.toFixed(0).padStart(8)} records/s   append latency p50 ${percentile(latencies, 50).toFixed(2)} ms  p99 ${percentile(latencies, 99).toFixed(2)} ms  (${CONCURRENCY} concurrent; event loop busy ${(loop.utilization * 100).toFixed(0)}% of the time)`,
  );
  return rate;
}

function rawSqliteBaseline(file: string): number {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE t (seq INTEGER PRIMARY KEY, leaf BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO t (seq, leaf) VALUES (?, ?)");
  const json = Buffer.from(JSON.stringify(sampleRecord(0)));
  const started = performance.now();
  for (let batchStart = 0; batchStart < RECORDS; batchStart += CONCURRENCY) {
    db.transaction(() => {
      for (let i = batchStart; i < Math.min(RECORDS, batchStart + CONCURRENCY); i++) insert.run(i, json);
    })();
  }
  const rate = RECORDS / ((performance.now() - started) / 1000);
  db.close();
  console.log(`  ${"baseline: raw SQLite inserts".padEnd(28)} ${rate.toFixed(0).padStart(8)} records/s   (same durability, batches of ${CONCURRENCY}, no canonical JSON, no hashing)`);
  return rate;
}

async function verification(store: LedgerStore, origin: string): Promise<void> {
  const size = await store.size(origin);
  let started = performance.now();
  const report = await verifyStore(store, origin);
  const verifySeconds = (performance.now() - started) / 1000;
  if (!report.valid) throw new Error(`the benchmark ledger does not verify:\n${report.format()}`);
  started = performance.now();
  const strict = await verifyStore(store, origin, { strict: true });
  const strictSeconds = (performance.now() - started) / 1000;
  if (!strict.valid) throw new Error(`the benchmark ledger does not verify strictly:\n${strict.format()}`);
  started = performance.now();
  for await (const page of store.entryPages(origin, 0, size)) for (const entry of page) leafHash(entry.leaf);
  const hashSeconds = (performance.now() - started) / 1000;
  console.log(`  ${"portcullis verify".padEnd(28)} ${(size / verifySeconds).toFixed(0).padStart(8)} records/s   (${size} records, ${verifySeconds.toFixed(2)} s)`);
  console.log(`  ${"portcullis verify --strict".padEnd(28)} ${(size / strictSeconds).toFixed(0).padStart(8)} records/s   (every leaf parsed, canonical form checked)`);
  console.log(`  ${"baseline: read + SHA-256".padEnd(28)} ${(size / hashSeconds).toFixed(0).padStart(8)} records/s   ratio verify/baseline ${(verifySeconds / hashSeconds).toFixed(2)}x time`);
  console.log(`  target >= 100,000 records/s verified: ${size / verifySeconds >= 100_000 ? "met" : "NOT met"}`);
}

async function proofSizes(): Promise<void> {
  const nodes = new Map<string, Buffer>();
  const range = CompactRange.empty();
  const leaf = canonicalJson(sampleRecord(0));
  for (let i = 0; i < PROOF_SIZE; i++) {
    const hash = leafHash(Buffer.concat([leaf, Buffer.from(String(i))]));
    nodes.set(`0/${i}`, hash);
    range.append(hash, (level, index, h) => nodes.set(`${level}/${index}`, h));
  }
  const reader = { node: (level: number, index: number) => nodes.get(`${level}/${index}`)! };
  let worst = 0;
  // Positions as fractions of the tree, so that a smaller tree (smoke mode) measures the same shape.
  const at = (fraction: number) => Math.min(PROOF_SIZE - 1, Math.floor(PROOF_SIZE * fraction));
  for (const index of [0, 1, at(0.123456), at(0.524287), PROOF_SIZE - 1]) worst = Math.max(worst, (await inclusionProof(index, PROOF_SIZE, reader)).length);
  const consistency = await consistencyProof(at(0.777777), PROOF_SIZE, reader);
  const tlogProof = formatTlogProof({
    index: at(0.123456),
    proof: await inclusionProof(at(0.123456), PROOF_SIZE, reader),
    checkpoint: `bench/proofs\n${PROOF_SIZE}\n${range.root().toString("base64")}\n\n— bench/proofs ${Buffer.alloc(68).toString("base64")}\n`,
  });
  const records = PROOF_SIZE.toLocaleString("en-US");
  console.log(`  inclusion proof at ${records} records: ${worst} hashes = ${worst * 32} bytes raw; as a tlog-proof with its checkpoint ${Buffer.byteLength(tlogProof)} bytes`);
  console.log(`  consistency proof ${at(0.777777).toLocaleString("en-US")} -> ${records}: ${consistency.length} hashes = ${consistency.length * 32} bytes`);
  console.log(`  target inclusion proof < 1 KB at 1M: ${PROOF_SIZE < 1_000_000 ? "not measured (smaller tree)" : worst * 32 < 1024 ? "met" : "NOT met"}`);
}

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-ledger-"));
try {
  console.log(`Audit ledger: ${RECORDS} records per run\n\nDurable appends`);
  const baseline = rawSqliteBaseline(path.join(dir, "raw.db"));
  const sqliteStore = new SqliteLedgerStore(path.join(dir, "ledger.db"));
  const sqliteRate = await durableAppends(sqliteStore, "ledger on SQLite", dir);
  console.log(`  ratio ledger/raw SQLite: ${(sqliteRate / baseline).toFixed(2)}; target >= 10,000 durable appends/s on SQLite: ${sqliteRate >= 10_000 ? "met" : "NOT met"}`);
  const postgres = await startPostgres().catch((error: unknown) => {
    console.log(`  PostgreSQL skipped in this run: ${(error as Error).message}`);
    return undefined;
  });
  if (postgres) {
    try {
      await durableAppends(await PostgresLedgerStore.open({ url: postgres.url, schema: "bench" }), "ledger on PostgreSQL", dir);
    } finally {
      await postgres.stop();
    }
  }
  console.log("\nVerification");
  const readStore = new SqliteLedgerStore(path.join(dir, "ledger.db"));
  await verification(readStore, "bench/ledger-on-SQLite");
  await readStore.close();
  console.log("\nProof sizes");
  await proofSizes();
} finally {
  await rm(dir, { recursive: true, force: true });
}
