// Evidence export and offline verification at scale (issue 24): a ledger of BENCH_EXPORT_RECORDS
// realistic records (sessions of request, completion and run, with approvals, refusals and policy
// loads among them; one payload stored per BENCH_EXPORT_PAYLOAD_EVERY records, the rest purged) is
// exported to a bundle, then the bundle is verified offline (bundleVerifier, the code verify.mjs
// bundles), each in its own process so its peak memory is its own. Each child runs with a
// BENCH_EXPORT_HEAP_MB old-space limit: the run fails if the export or the verifier needs more.
// Printed: seconds, records/s, peak V8 heap (sampled every 20 ms) and peak RSS.
// Targets from the issue: under 256 MB heap at 1M records; 1M exported and verified in under 60 s.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import type { Identity } from "../src/identify/identity.js";
import { verifyBundle } from "../src/ledger/bundleVerifier.js";
import { exportEvidence } from "../src/ledger/export.js";
import { Ledger } from "../src/ledger/ledger.js";
import { SqliteLedgerStore } from "../src/ledger/sqliteStore.js";
import type { AppendContext, AuditRecord } from "../src/record/auditRecord.js";

const RECORDS = Number(process.env.BENCH_EXPORT_RECORDS ?? "1000000");
const PAYLOAD_EVERY = Number(process.env.BENCH_EXPORT_PAYLOAD_EVERY ?? "100");
const HEAP_MB = Number(process.env.BENCH_EXPORT_HEAP_MB ?? "256");
const ORIGIN = "bench/export";
const SILENT = pino({ level: "silent" });
const USERS = ["oidc:corp:alice", "oidc:corp:bob", "oidc:corp:carol", "sa:ci", "sa:nightly"];
const GRAPHS = ["agent", "tools", "research"];

/** The records of session `i`: a run request, its completion and its run; some are refused, some need approval. */
function session(i: number, time: string): { record: AuditRecord; context: AppendContext }[] {
  const subject = USERS[i % USERS.length]!;
  const graphs = [GRAPHS[i % GRAPHS.length]!];
  const requestId = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  const stored = i % Math.max(1, Math.floor(PAYLOAD_EVERY / 3)) === 0;
  const body = Buffer.from(JSON.stringify({ input: { messages: [{ role: "user", content: `question ${i} from <EMAIL_ADDRESS>` }] } }));
  const bodyRef = { sha256: createHash("sha256").update(body).digest("hex"), bytes: body.length, masking: "builtin", redactions: { EMAIL_ADDRESS: 1 } };
  const kind: Identity["kind"] = subject.startsWith("sa:") ? "service-account" : "oidc";
  const identity: Identity = { subject, kind, groups: [kind === "oidc" ? "engineering" : "ci"], auth_method: kind === "oidc" ? "oidc-bearer" : "api-key", credential_id: "c1", ...(subject === "sa:ci" ? { owner: "team-ci" } : {}) };
  const refused = i % 50 === 7;
  const approval = i % 40 === 3;
  const records: { record: AuditRecord; context: AppendContext }[] = [];
  if (i % 10_000 === 0) records.push({ record: { type: "policy", time, event: "loaded", source: "policy.yaml", sha256: createHash("sha256").update(String(i)).digest("hex"), in_force: String(i).padStart(16, "0") }, context: {} });
  records.push({
    record: {
      type: "request",
      request_id: requestId,
      time,
      client: { address: "10.0.0.12", user_agent: "langgraph-sdk-js/1.15.0" },
      method: "POST",
      path: `/threads/${requestId}/runs/stream`,
      query: "",
      identity,
      operation: { route: "runs.stream", resource: "runs", action: "runs:create", actions: ["runs:create"], risk: "execute", response: "sse", ids: { thread_id: requestId }, assistant_ids: [graphs[0]!], risk_reasons: [], creates_run: true },
      decision: refused ? { effect: "deny", rule: "default:deny", policy: "p1" } : approval ? { effect: "require-approval", rule: "tools-need-approval", policy: "p1" } : { effect: "allow", rule: "run-own", scope: "own", policy: "p1" },
      resources: { graphs, thread_owner: subject },
      body: bodyRef,
      ...(approval ? { approval: { via: "approved" as const, approval_id: `a-${i}`, justification: i % 80 === 3 ? null : "ticket" } } : {}),
      ...(refused ? { status: 403, error: "PC_FORBIDDEN" } : {}),
    },
    context: { subject, graphs, ...(stored ? { payloads: [{ sha256: bodyRef.sha256, body }] } : {}) },
  });
  if (refused) return records;
  const response = { sha256: createHash("sha256").update(`response ${i}`).digest("hex"), bytes: 900, masking: "builtin", redactions: { PHONE_NUMBER: 1 } };
  records.push({ record: { type: "completion", request_id: requestId, time, status: 200, upstream_status: 200, outcome: "ok", duration_ms: 420, bytes_in: 200, bytes_out: 900, events: { values: 3, end: 1 }, run_id: `run-${i}`, thread_id: requestId, response }, context: { subject, graphs } });
  records.push({ record: { type: "run", request_id: requestId, time, run_id: `run-${i}`, thread_id: requestId, graphs, status: "success", steps: [{ step: 0, source: "input", nodes: ["__start__"] }, { step: 1, source: "loop", nodes: ["agent"] }], followed_ms: 400 }, context: { subject, graphs } });
  return records;
}

async function buildLedger(file: string, keyFile: string): Promise<number> {
  const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile, log: SILENT, checkpointIntervalMs: 2_000, heartbeatIntervalMs: 60_000, maxBatch: 4096 });
  let appended = 0;
  let i = 0;
  const startMs = Date.UTC(2026, 0, 1);
  try {
    // Many appends in flight so that group commit writes large batches.
    const inFlight = new Set<Promise<unknown>>();
    while (appended < RECORDS) {
      for (const { record, context } of session(i, new Date(startMs + i * 1000).toISOString())) {
        if (appended >= RECORDS) break;
        const pending: Promise<unknown> = ledger.append(record, context).then(() => inFlight.delete(pending));
        inFlight.add(pending);
        appended++;
        if (inFlight.size >= 4096) await Promise.race(inFlight);
      }
      i++;
    }
    await Promise.all(inFlight);
  } finally {
    await ledger.close();
  }
  return appended;
}

/** Runs `fn` while sampling the heap; returns its result with the peak heap and RSS. */
async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number; peakHeapMb: number; peakRssMb: number }> {
  let peak = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
  const started = performance.now();
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { result, seconds: (performance.now() - started) / 1000, peakHeapMb: peak / 2 ** 20, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  } finally {
    clearInterval(sampler);
  }
}

/** The child: `--export <ledger> <key> <out>` or `--verify <out>`, printing one JSON line. */
async function child(args: string[]): Promise<void> {
  if (args[0] === "--export") {
    const [file, keyFile, outDir] = args.slice(1) as [string, string, string];
    const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 64, role: "tool" });
    try {
      const run = await measured(() => exportEvidence(ledger, { outDir, exportedBy: "bench" }));
      process.stdout.write(`${JSON.stringify({ ...run, result: { entries: run.result.entries, payloads: run.result.payloads, sampled: run.result.sampled } })}\n`);
    } finally {
      await ledger.close();
    }
  } else {
    const run = await measured(() => verifyBundle(args[1]!));
    if (!run.result.valid) throw new Error(`the exported bundle does not verify:\n${run.result.format()}`);
    process.stdout.write(`${JSON.stringify({ ...run, result: run.result.summary() })}\n`);
  }
}

interface ChildRun {
  seconds: number;
  peakHeapMb: number;
  peakRssMb: number;
  result: unknown;
}

function runChild(args: string[]): Promise<ChildRun> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [`--max-old-space-size=${HEAP_MB}`, "--import", import.meta.resolve("tsx"), self, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${args[0]} failed (heap limit ${HEAP_MB} MB): ${stderr || error.message}`));
      else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildRun);
    });
  });
}

function line(label: string, run: ChildRun, records: number): string {
  return `  ${label.padEnd(26)} ${run.seconds.toFixed(1).padStart(6)} s  ${(records / run.seconds).toFixed(0).padStart(8)} records/s   peak main-thread heap ${run.peakHeapMb.toFixed(0)} MB, peak RSS (all threads) ${run.peakRssMb.toFixed(0)} MB`;
}

if (process.argv[2] === "--export" || process.argv[2] === "--verify") {
  await child(process.argv.slice(2));
} else {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-export-"));
  try {
    const file = path.join(dir, "ledger.db");
    const keyFile = path.join(dir, "ledger-signing-key.pem");
    let started = performance.now();
    const records = await buildLedger(file, keyFile);
    console.log(`Evidence export: ${records.toLocaleString("en-US")} records (ledger written in ${((performance.now() - started) / 1000).toFixed(1)} s; one payload stored per ${PAYLOAD_EVERY} records)\n`);
    started = performance.now();
    const exported = await runChild(["--export", file, keyFile, path.join(dir, "bundle")]);
    console.log(line("portcullis export", exported, records), JSON.stringify(exported.result));
    const verified = await runChild(["--verify", path.join(dir, "bundle")]);
    console.log(line("offline verify", verified, records));
    console.log(`  ${verified.result as string}`);
    const total = exported.seconds + verified.seconds;
    console.log(`  export + verify: ${total.toFixed(1)} s; targets (at 1M records): under ${HEAP_MB} MB heap: ${Math.max(exported.peakHeapMb, verified.peakHeapMb) < HEAP_MB ? "met" : "NOT met"} (each ran with --max-old-space-size=${HEAP_MB}); under 60 s: ${records < 1_000_000 ? "not measured (smaller ledger)" : total < 60 ? "met" : "NOT met"}`);
  } finally {
    if (process.env.BENCH_EXPORT_KEEP) console.log(`  kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}
