// npm run bench: proxy overhead of Portcullis, measured against the same upstream called
// directly in the same run. Upstream and gateway run in their own processes; this process
// generates load. Figures are printed; nothing here asserts a threshold.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";
import { Pool } from "undici";
import { generateApiKey } from "../src/identify/serviceAccounts.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? "8");
const rate = Number(process.env.BENCH_RATE ?? "1000");
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? "3");
const sseEvents = Number(process.env.BENCH_SSE_EVENTS ?? "2000");

function startChild(script: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(here, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve({ url: (JSON.parse(line) as { url: string }).url, child });
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Stats {
  n: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function stats(latencies: number[], elapsedS: number): Stats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, rps: sorted.length / elapsedS, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

const SEARCH_BODY = JSON.stringify({ metadata: { owner: "bench" }, limit: 10 });

/** Open loop: one request every 1/rate s whatever the answers do, so queueing shows in latency. */
async function fixedRate(url: string, headers: Record<string, string>, rps: number, durationS: number): Promise<Stats> {
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  const latencies: number[] = [];
  const total = Math.round(rps * durationS);
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / rps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inflight.push(
      (async () => {
        const sent = performance.now();
        const res = await pool.request({ path: "/threads/search", method: "POST", headers, body: SEARCH_BODY });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        latencies.push(performance.now() - sent);
      })(),
    );
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return stats(latencies, elapsed);
}

/** Closed loop: `concurrency` clients back to back, for the highest sustainable rate. */
async function maxThroughput(url: string, headers: Record<string, string>, concurrency: number, durationS: number): Promise<Stats> {
  const pool = new Pool(url, { connections: concurrency });
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const res = await pool.request({ path: "/threads/search", method: "POST", headers, body: SEARCH_BODY });
        await res.body.text();
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return stats(latencies, elapsed);
}

/** Per-event latency: arrival time minus the wall-clock time the upstream wrote the event. */
async function sseEventLatency(url: string, headers: Record<string, string>, count: number, intervalMs: number): Promise<Stats & { lost: number }> {
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
  return { ...result, lost: count - latencies.length + outOfOrder };
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
function row(label: string, direct: Stats, gateway: Stats): void {
  console.log(
    `  ${label.padEnd(8)} direct p50 ${ms(direct.p50)}  p90 ${ms(direct.p90)}  p99 ${ms(direct.p99)}  | gateway p50 ${ms(gateway.p50)}  p90 ${ms(gateway.p90)}  p99 ${ms(gateway.p99)}`,
  );
  console.log(`  ${"".padEnd(8)} added    p50 ${ms(gateway.p50 - direct.p50)}  p90 ${ms(gateway.p90 - direct.p90)}  p99 ${ms(gateway.p99 - direct.p99)}   (n=${gateway.n}, ${gateway.rps.toFixed(0)}/s achieved)`);
}

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-"));
const { key, sha256 } = generateApiKey();
const upstream = await startChild("upstream.ts", []);
const gateway = await startChild("gateway.ts", [upstream.url, sha256, dir]);
const directHeaders = { "x-api-key": "bench-upstream-key", "content-type": "application/json" };
const gatewayHeaders = { authorization: `Bearer ${key}`, "content-type": "application/json" };

try {
  console.log(`Portcullis proxy overhead (node ${process.version}, ${seconds}s per phase; upstream, gateway and load generator share this machine)`);
  // Warm-up: JIT, connection pools, the audit file.
  await fixedRate(upstream.url, directHeaders, rate, warmupSeconds);
  await fixedRate(gateway.url, gatewayHeaders, rate, warmupSeconds);
  const rssBefore = await rssMiB(gateway.child.pid!);

  console.log(`\nSmall JSON (POST /threads/search), open loop at ${rate} req/s:`);
  const direct = await fixedRate(upstream.url, directHeaders, rate, seconds);
  const through = await fixedRate(gateway.url, gatewayHeaders, rate, seconds);
  row("fixed", direct, through);

  console.log("\nSmall JSON, closed loop, 32 concurrent clients (max throughput):");
  const directMax = await maxThroughput(upstream.url, directHeaders, 32, seconds / 2);
  const gatewayMax = await maxThroughput(gateway.url, gatewayHeaders, 32, seconds / 2);
  console.log(`  direct ${directMax.rps.toFixed(0)} req/s, gateway ${gatewayMax.rps.toFixed(0)} req/s, ratio ${(gatewayMax.rps / directMax.rps).toFixed(2)}`);
  row("max", directMax, gatewayMax);

  console.log(`\nSSE per-event latency (${sseEvents} one-character message events, 1 ms apart):`);
  const sseDirect = await sseEventLatency(upstream.url, directHeaders, sseEvents, 1);
  const sseGateway = await sseEventLatency(gateway.url, gatewayHeaders, sseEvents, 1);
  row("sse", sseDirect, sseGateway);
  console.log(`  events lost or out of order: direct ${sseDirect.lost}, gateway ${sseGateway.lost}`);

  const rssAfter = await rssMiB(gateway.child.pid!);
  console.log(`\nGateway RSS: ${rssBefore.toFixed(1)} MiB after warm-up, ${rssAfter.toFixed(1)} MiB after the run`);
} finally {
  gateway.child.kill("SIGTERM");
  upstream.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
