// Sessions on a large history: what the console's sessions page and session view cost on a
// SQLite ledger of BENCH_SESSIONS sessions (request + completion each, through Ledger.append, so
// the session index is written the way the gateway writes it). Baseline: the newest page
// unfiltered; every other query is printed with its ratio to it. "Fast on large histories"
// means a deep page or a filter costs about what the first page costs.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Ledger } from "../src/ledger/ledger.js";
import type { SessionQuery } from "../src/ledger/sessionIndex.js";
import { SqliteLedgerStore } from "../src/ledger/sqliteStore.js";
import type { AuditRecord } from "../src/record/auditRecord.js";
import { loadSession } from "../src/replay/session.js";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? "100000");
const QUERIES = 200;
const PAGE = 51;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const ORIGIN = "bench.portcullis/sessions";

function records(i: number): AuditRecord[] {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
  const subject = `oidc:corp:user${i % 50}`;
  const at = T0 + i * 1_000;
  return [
    {
      type: "request",
      request_id: id,
      time: new Date(at).toISOString(),
      client: { address: "10.0.0.12", user_agent: "langgraph-sdk-js/1.15.0" },
      method: "POST",
      path: `/threads/thread-${i % 5_000}/runs/stream`,
      query: "",
      identity: { subject, kind: "oidc", groups: ["analysts", `team${i % 7}`], auth_method: "oidc-bearer", credential_id: "jti" },
      operation: { route: "runs.stream", resource: "runs", action: "runs:create", actions: ["runs:create"], risk: "execute", response: "sse", ids: { thread_id: `thread-${i % 5_000}` }, assistant_ids: [`graph${i % 5}`], risk_reasons: [], creates_run: true } as unknown as null,
      decision: { effect: "allow", rule: "analysts-run-own" },
      resources: { graphs: [`graph${i % 5}`] },
    },
    { type: "completion", request_id: id, time: new Date(at + 800).toISOString(), status: 200, upstream_status: 200, outcome: i % 50 === 0 ? "run_error" : "ok", duration_ms: 800, bytes_in: 100, bytes_out: 2_000 },
  ];
}

function p50(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-sessions-"));
try {
  const store = new SqliteLedgerStore(path.join(dir, "ledger.db"));
  const ledger = await Ledger.open({ origin: ORIGIN, store, keyFile: path.join(dir, "key.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 3_600_000, heartbeatIntervalMs: 3_600_000, maxBatch: 512 });
  const started = performance.now();
  for (let i = 0; i < SESSIONS; i += 512) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(SESSIONS, i + 512); j++) for (const record of records(j)) batch.push(ledger.append(record));
    await Promise.all(batch);
  }
  const appendS = (performance.now() - started) / 1000;
  console.log(`sessions: ${SESSIONS} sessions (${SESSIONS * 2} records) appended with the session index in ${appendS.toFixed(1)} s: ${Math.round((SESSIONS * 2) / appendS)} records/s`);

  const time = async (query: SessionQuery): Promise<{ ms: number; rows: number }> => {
    let rows = 0;
    const samples: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now();
      rows = (await store.sessions(ORIGIN, query)).length;
      samples.push(performance.now() - t);
    }
    return { ms: p50(samples), rows };
  };
  const deep = (await store.sessions(ORIGIN, { limit: 1, fromMs: T0 + Math.floor(SESSIONS * 0.1) * 1_000, toMs: T0 + Math.floor(SESSIONS * 0.1) * 1_000 + 1_000 }))[0]!;
  const cases: [string, SessionQuery][] = [
    ["newest page, no filter (baseline)", { limit: PAGE }],
    ["page 90% deep (keyset cursor)", { limit: PAGE, before: { startedMs: deep.startedMs, requestId: deep.requestId } }],
    ["one user of 50", { limit: PAGE, subject: "oidc:corp:user17" }],
    ["one graph of 5", { limit: PAGE, graph: "graph3" }],
    ["one group of 7", { limit: PAGE, group: "team4" }],
    ["status run_error (2%)", { limit: PAGE, status: "run_error" }],
    ["one thread of 5,000", { limit: PAGE, threadId: "thread-42" }],
    ["one hour", { limit: PAGE, fromMs: T0 + 3_600_000, toMs: T0 + 7_200_000 }],
    ["user + graph + status", { limit: PAGE, subject: "oidc:corp:user10", graph: "graph0", status: "run_error" }],
  ];
  let baseline = 0;
  for (const [name, query] of cases) {
    const { ms, rows } = await time({ kinds: ["run"], ...query });
    if (baseline === 0) baseline = ms;
    console.log(`sessions: ${name.padEnd(36)} p50 ${ms.toFixed(3)} ms (${rows} rows)  ×${(ms / baseline).toFixed(2)}`);
  }
  const ids = Array.from({ length: 50 }, (_, i) => `00000000-0000-4000-8000-${String(Math.floor((i * SESSIONS) / 50)).padStart(12, "0")}`);
  await ledger.checkpoint();
  const views: number[] = [];
  for (const id of ids) {
    const t = performance.now();
    const session = await loadSession({ store, origin: ORIGIN, checkpoint: () => ledger.checkpoint() }, id);
    views.push(performance.now() - t);
    if (!session.proof.valid) throw new Error(`session ${id} did not verify: ${session.proof.summary}`);
  }
  console.log(`sessions: one session with its inclusion proofs (console view) p50 ${p50(views).toFixed(3)} ms  ×${(p50(views) / baseline).toFixed(2)} of the baseline page`);
  await ledger.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
