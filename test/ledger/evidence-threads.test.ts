// A large export and its verification use a second thread: the export reads its records for the
// control report in a worker while it writes the bundle, and the verifier (the TypeScript one and
// the bundled verify.mjs) checks the entries' integrity in a worker while it reads the records.
// A ledger of just over READER_THREAD_FROM entries takes both paths at their default thresholds;
// each must reach the same verdict, naming the same problem, as the one-thread path.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { verifyBundle } from "../../src/ledger/bundleVerifier.js";
import { INTEGRITY_THREAD_FROM } from "../../src/ledger/entryIntegrity.js";
import { exportEvidence, READER_THREAD_FROM } from "../../src/ledger/export.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { AppendContext, AuditRecord } from "../../src/record/auditRecord.js";

const ORIGIN = "portcullis.test/threads";
const SILENT = pino({ level: "silent" });
const ENTRIES = Math.max(READER_THREAD_FROM, INTEGRITY_THREAD_FROM) + 500;
const ONE_THREAD = Number.POSITIVE_INFINITY;

let workDir: string;
let bundleDir: string;

/** Request, completion pairs by three users; every 500th request with its body stored. */
function item(i: number): { record: AuditRecord; context: AppendContext } {
  const subject = ["oidc:corp:alice", "oidc:corp:bob", "sa:ci"][i % 3]!;
  const requestId = `req-${Math.floor(i / 2)}`;
  const time = new Date(Date.UTC(2026, 4, 1) + i * 1000).toISOString();
  if (i % 2 === 1) {
    return { record: { type: "completion", request_id: requestId, time, status: 200, upstream_status: 200, outcome: "ok", duration_ms: 5, bytes_in: 10, bytes_out: 20 }, context: { subject, graphs: ["agent"] } };
  }
  const body = Buffer.from(`{"input":{"n":${i}}}`);
  const stored = i % 1000 === 0;
  return {
    record: {
      type: "request",
      request_id: requestId,
      time,
      client: { address: "10.0.0.7", user_agent: "langgraph-sdk" },
      method: "POST",
      path: "/runs/wait",
      operation: { route: "runs.wait", resource: "runs", action: "runs:create", actions: ["runs:create"], risk: "execute", response: "json", ids: {}, assistant_ids: ["agent"], risk_reasons: [], creates_run: false },
      query: "",
      identity: { subject, kind: subject.startsWith("sa:") ? "service-account" : "oidc", groups: ["engineering"], auth_method: "api-key", credential_id: "c1" },
      decision: { effect: "allow", rule: "run-own", policy: "p1" },
      resources: { graphs: ["agent"] },
      body: { sha256: createHash("sha256").update(body).digest("hex"), bytes: body.length, masking: "builtin", redactions: {} },
    },
    context: { subject, graphs: ["agent"], ...(stored ? { payloads: [{ sha256: createHash("sha256").update(body).digest("hex"), body }] } : {}) },
  };
}

function runVerifier(dir: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(dir, "verify.mjs"), dir], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }));
  });
}

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "portcullis-threads-"));
  const ledgerFile = path.join(workDir, "ledger.db");
  const keyFile = path.join(workDir, "ledger-key.pem");
  const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(ledgerFile), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 4096 });
  try {
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < ENTRIES; i++) {
      const { record, context } = item(i);
      const pending: Promise<unknown> = ledger.append(record, context).then(() => inFlight.delete(pending));
      inFlight.add(pending);
      if (inFlight.size >= 4096) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    bundleDir = path.join(workDir, "bundle");
    // At the default threshold: the records are read for the report in a worker.
    const result = await exportEvidence(ledger, { outDir: bundleDir, exportedBy: "test" });
    assert.ok(result.entries > READER_THREAD_FROM, `the export took the thread path (${result.entries} entries)`);
  } finally {
    await ledger.close();
  }
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("a large export and its verification, on two threads", () => {
  test("the report the export's reader thread wrote is the one the verifier recomputes; both verifier paths agree", async () => {
    const oneThread = await verifyBundle(bundleDir, { integrityThreadFrom: ONE_THREAD });
    assert.equal(oneThread.valid, true, oneThread.format());
    assert.match(oneThread.format(), /report checks valid/);
    const twoThreads = await verifyBundle(bundleDir);
    assert.equal(twoThreads.format(), oneThread.format());
    const report = JSON.parse(await readFile(path.join(bundleDir, "report.json"), "utf8")) as { counts: Record<string, number> };
    assert.equal(report.counts.requests, Math.ceil(ENTRIES / 2), "every request was read for the report");

    const standalone = await runVerifier(bundleDir);
    assert.equal(standalone.code, 0, standalone.stdout);
    assert.match(standalone.stdout, new RegExp(`^Entries 0\\.\\.\\d+ +valid \\(root matches checkpoint \\d+\\)$`, "m"));
  });

  test("a leaf altered deep in entries.ndjson is named by the integrity thread of both verifiers, as on one thread", async () => {
    const tampered = await mkdtemp(path.join(workDir, "tampered-"));
    await cp(bundleDir, tampered, { recursive: true });
    const file = path.join(tampered, "entries.ndjson");
    const lines = (await readFile(file, "utf8")).split("\n");
    // Line 90001: still JSON, no longer canonical (a space), and its hash no longer in the tree.
    lines[90_000] = lines[90_000]!.replace('"v":1', '"v": 1');
    await writeFile(file, lines.join("\n"));

    const oneThread = await verifyBundle(tampered, { integrityThreadFrom: ONE_THREAD });
    const twoThreads = await verifyBundle(tampered);
    // The same verdict and the same named problem (a leaf that is not canonical is still read for
    // its payload references when its integrity is checked apart, so those lines may differ).
    const entriesLine = (report: typeof oneThread) => report.results.find((result) => result.label.startsWith("Entries "));
    assert.equal(twoThreads.valid, false);
    assert.deepEqual(entriesLine(twoThreads), entriesLine(oneThread));
    assert.match(twoThreads.format(), /^Entries 0\.\.\d+ +INVALID: line 90001: not canonical JSON/m);

    const standalone = await runVerifier(tampered);
    assert.equal(standalone.code, 1, standalone.stdout);
    assert.match(standalone.stdout, /^Entries 0\.\.\d+ +INVALID: line 90001: not canonical JSON/m);
  });
});
