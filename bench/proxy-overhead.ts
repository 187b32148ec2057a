// npm run bench: proxy overhead of Portcullis, measured against the same upstream called
// directly and through nginx (a plain reverse proxy, one worker) in the same run. Upstream,
// nginx and gateway run in their own processes; this process generates load. Figures are
// printed; nothing here asserts a threshold.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createParser } from "eventsource-parser";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { fixedRate, maxThroughput, startChild, stats, type Stats } from "./load.js";
import { hasNginx, startNginx } from "./nginx.js";

const seconds = Number(process.env.BENCH_SECONDS ?? "8");
const rate = Number(process.env.BENCH_RATE ?? "1000");
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? "3");
const sseEvents = Number(process.env.BENCH_SSE_EVENTS ?? "2000");

/** Per-event latency: arrival time minus the wall-clock time the upstream wrote the event. */
async function sseEventLatency(url: string, headers: Record<string, string>, count: number, intervalMs: number): Promise<Stats & { lost: number; requestId: string | null }> {
  const latencies: number[] = [];
  let lastId = 0;
  let outOfOrder = 0;
  const started = performance.now();
  const res = await fetch(`${url}/runs/stream`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ assistant_id: "bench", input: { count, intervalMs } }),
  });
  const parser = createParser({
    onEvent: (event) => {
      if (event.event !== "messages") return;
      const arrived = performance.timeOrigin + performance.now();
      latencies.push(arrived - (JSON.parse(event.data) as [unknown, { sent_at: number }])[1].sent_at);
      const id = Number(event.id);
      if (id !== lastId + 1) outOfOrder += 1;
      lastId = id;
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) parser.feed(decoder.decode(chunk, { stream: true }));
  const result = stats(latencies, (performance.now() - started) / 1000);
  return { ...result, lost: count - latencies.length + outOfOrder, requestId: res.headers.get("x-request-id") };
}

/** What the gateway's ledger holds for one request's recorded response: as recorded, as stored. */
function recordingBytes(ledgerFile: string, requestId: string): { recorded: number; stored: number } | undefined {
  const db = new Database(ledgerFile, { readonly: true });
  try {
    const leaf = db.prepare("SELECT leaf FROM ledger_entries WHERE request_id = ? AND type = 'completion'").pluck().get(requestId) as Buffer | undefined;
    const response = leaf && (JSON.parse(leaf.toString()) as { record: { response?: { sha256: string; bytes: number } } }).record.response;
    if (!response) return undefined;
    const stored = db.prepare("SELECT length(body) FROM ledger_payloads WHERE sha256 = ?").pluck().get(response.sha256) as number;
    return { recorded: response.bytes, stored };
  } finally {
    db.close();
  }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** The completion record is written just after the stream ends. */
async function recordingAfterCompletion(ledgerFile: string, requestId: string): Promise<{ recorded: number; stored: number } | undefined> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const found = recordingBytes(ledgerFile, requestId);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log("  recording: the stream's completion record was not found in the ledger");
  return undefined;
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
function row(label: string, direct: Stats, gateway: Stats): void {
  console.log(
    `  ${label.padEnd(8)} direct p50 ${ms(direct.p50)}  p90 ${ms(direct.p90)}  p99 ${ms(direct.p99)}  | gateway p50 ${ms(gateway.p50)}  p90 ${ms(gateway.p90)}  p99 ${ms(gateway.p99)}`,
  );
  console.log(`  ${"".padEnd(8)} added    p50 ${ms(gateway.p50 - direct.p50)}  p90 ${ms(gateway.p90 - direct.p90)}  p99 ${ms(gateway.p99 - direct.p99)}   (n=${gateway.n}, ${gateway.rps.toFixed(0)}/s achieved)`);
}

if (!(await hasNginx())) throw new Error("bench/proxy-overhead.ts compares with nginx: install Debian's nginx (apt-get install nginx; .ci/run does)");
const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-"));
const { key, sha256 } = generateApiKey();
const upstream = await startChild("upstream.ts", []);
const gateway = await startChild("gateway.ts", [upstream.url, sha256, dir]);
const nginx = await startNginx(upstream.url, dir);
const directHeaders = { "x-api-key": "bench-upstream-key", "content-type": "application/json" };
const gatewayHeaders = { authorization: `Bearer ${key}`, "content-type": "application/json" };

try {
  console.log(`Portcullis proxy overhead (node ${process.version}, ${seconds}s per phase; upstream, gateway and load generator share this machine)`);
  // Warm-up: JIT, connection pools, the audit file.
  await fixedRate(upstream.url, directHeaders, rate, warmupSeconds);
  await fixedRate(nginx.url, directHeaders, rate, warmupSeconds);
  await fixedRate(gateway.url, gatewayHeaders, rate, warmupSeconds);
  const rssBefore = await rssMiB(gateway.child.pid!);

  console.log(`\nSmall JSON (POST /threads/search), open loop at ${rate} req/s:`);
  const direct = await fixedRate(upstream.url, directHeaders, rate, seconds);
  const viaNginx = await fixedRate(nginx.url, directHeaders, rate, seconds);
  const through = await fixedRate(gateway.url, gatewayHeaders, rate, seconds);
  row("fixed", direct, through);
  console.log(`  ${"nginx".padEnd(8)} p50 ${ms(viaNginx.p50)}  p90 ${ms(viaNginx.p90)}  p99 ${ms(viaNginx.p99)}   (n=${viaNginx.n}, ${viaNginx.rps.toFixed(0)}/s achieved)`);

  console.log("\nSmall JSON, closed loop, 32 concurrent clients (max throughput):");
  const directMax = await maxThroughput(upstream.url, directHeaders, 32, seconds / 2);
  const nginxMax = await maxThroughput(nginx.url, directHeaders, 32, seconds / 2);
  const gatewayMax = await maxThroughput(gateway.url, gatewayHeaders, 32, seconds / 2);
  console.log(`  direct ${directMax.rps.toFixed(0)} req/s, nginx ${nginxMax.rps.toFixed(0)} req/s, gateway ${gatewayMax.rps.toFixed(0)} req/s`);
  console.log(`  ratios: gateway/nginx ${(gatewayMax.rps / nginxMax.rps).toFixed(3)}, gateway/direct ${(gatewayMax.rps / directMax.rps).toFixed(3)}, nginx/direct ${(nginxMax.rps / directMax.rps).toFixed(3)}`);
  row("max", directMax, gatewayMax);

  console.log(`\nSSE per-event latency (${sseEvents} one-character message events, 1 ms apart):`);
  const sseDirect = await sseEventLatency(upstream.url, directHeaders, sseEvents, 1);
  const sseNginx = await sseEventLatency(nginx.url, directHeaders, sseEvents, 1);
  const sseGateway = await sseEventLatency(gateway.url, gatewayHeaders, sseEvents, 1);
  row("sse", sseDirect, sseGateway);
  console.log(`  ${"nginx".padEnd(8)} p50 ${ms(sseNginx.p50)}  p90 ${ms(sseNginx.p90)}  p99 ${ms(sseNginx.p99)}`);
  console.log(`  events lost or out of order: direct ${sseDirect.lost}, nginx ${sseNginx.lost}, gateway ${sseGateway.lost}`);
  const recording = sseGateway.requestId ? await recordingAfterCompletion(path.join(dir, "ledger.db"), sseGateway.requestId) : undefined;
  if (recording) {
    console.log(`  recording of that stream in the ledger: ${(recording.recorded / 1024).toFixed(1)} KiB as recorded, ${(recording.stored / 1024).toFixed(1)} KiB stored (${(recording.stored / sseEvents).toFixed(1)} bytes per event)`);
  }

  const rssAfter = await rssMiB(gateway.child.pid!);
  console.log(`\nGateway RSS: ${rssBefore.toFixed(1)} MiB after warm-up, ${rssAfter.toFixed(1)} MiB after the run`);
} finally {
  gateway.child.kill("SIGTERM");
  await nginx.stop();
  upstream.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
