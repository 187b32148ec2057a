// npm run bench: what one recorded run costs the ledger. An echo run of the demo LangGraph server
// (one character per `messages` event, plus values, updates and custom events) is streamed
// through the gateway N times; printed: the recording as the relay saw it, as stored, and the
// ledger's growth per run (leaves, nodes, session index, payloads). Figures, no thresholds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { startDemoLangGraph } from "../demo/launch.js";
import { parseConfig } from "../src/config/load.js";
import { startGateway } from "../src/gateway.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";

const RUNS = Number(process.env.BENCH_RECORDING_RUNS ?? "20");
const TEXT_CHARS = Number(process.env.BENCH_RECORDING_CHARS ?? "300");

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-recording-"));
const upstreamKey = randomBytes(24).toString("base64url");
const langgraph = await startDemoLangGraph({ upstreamKey, dataDir: path.join(dir, "langgraph") });
process.env.BENCH_RECORDING_UPSTREAM_KEY = upstreamKey;
const { key, sha256 } = generateApiKey();
const ledgerFile = path.join(dir, "ledger.db");
const gateway = await startGateway(
  parseConfig({
    listen: { host: "127.0.0.1", port: 0 },
    upstream: { url: langgraph.url, credential: { header: "x-api-key", secret: { env: "BENCH_RECORDING_UPSTREAM_KEY" } } },
    identity: { service_accounts: [{ id: "bench", key_sha256: sha256 }] },
    audit: { store: { kind: "sqlite", file: ledgerFile }, signing_key_file: path.join(dir, "ledger-key.pem") },
    storage: { sqlite_file: path.join(dir, "state.db") },
    log: { level: "silent" },
  }),
  { logger: pino({ level: "silent" }) },
);

/** The ledger's pages in use, after the WAL is folded into the file (the WAL is scratch space). */
function ledgerBytes(): number {
  const db = new Database(ledgerFile);
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
    return (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number) - (db.pragma("freelist_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number);
  } finally {
    db.close();
  }
}
const text = "The quick brown fox jumps over the lazy dog. ".repeat(Math.ceil(TEXT_CHARS / 45)).slice(0, TEXT_CHARS);

try {
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const thread = (await (await fetch(`${gateway.url}/threads`, { method: "POST", headers, body: "{}" })).json()) as { thread_id: string };
  // The first run warms the server; the ledger is measured over the others.
  const run = async () => {
    const res = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/stream`, {
      method: "POST",
      headers,
      body: JSON.stringify({ assistant_id: "echo", input: { messages: [{ role: "human", content: text }] }, stream_mode: ["values", "messages-tuple", "updates", "custom"] }),
    });
    await res.text();
    return res.headers.get("x-request-id")!;
  };
  await run();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = ledgerBytes();
  const requestIds: string[] = [];
  for (let i = 0; i < RUNS; i++) requestIds.push(await run());
  // The completion and run records follow the stream's end.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const after = ledgerBytes();
  const db = new Database(ledgerFile, { readonly: true });
  let recorded = 0;
  let stored = 0;
  let events = 0;
  for (const requestId of requestIds) {
    const leaf = db.prepare("SELECT leaf FROM ledger_entries WHERE request_id = ? AND type = 'completion'").pluck().get(requestId) as Buffer | undefined;
    const completion = leaf && (JSON.parse(leaf.toString()) as { record: { response?: { sha256: string; bytes: number }; events?: Record<string, number> } }).record;
    if (!completion?.response) throw new Error(`no recorded response for ${requestId}`);
    recorded += completion.response.bytes;
    events += Object.values(completion.events ?? {}).reduce((a, b) => a + b, 0);
    stored += db.prepare("SELECT length(body) FROM ledger_payloads WHERE sha256 = ?").pluck().get(completion.response.sha256) as number;
  }
  db.close();
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`Recorded runs: ${RUNS} echo runs of ${TEXT_CHARS} characters streamed one character per event (${(events / RUNS).toFixed(0)} events per run)`);
  console.log(`  recording per run: ${kib(recorded / RUNS)} as relayed, ${kib(stored / RUNS)} stored (ratio ${(stored / recorded).toFixed(3)})`);
  console.log(`  ledger growth per run (records, proofs, session index, payloads; pages in use): ${kib((after - before) / RUNS)}`);
} finally {
  await gateway.close();
  await langgraph.stop();
  await rm(dir, { recursive: true, force: true });
}
