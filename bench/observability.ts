// npm run bench -- observability: what metrics and tracing cost on the small-JSON path. Three
// gateways in their own processes (bench/gateway.ts) in front of the same upstream
// (bench/upstream.ts): observability off, metrics on, metrics and tracing on (every exchange
// sampled, exported over OTLP/HTTP to a sink in this process that accepts and drops the spans).
// They are measured in the same run, in turn, for several rounds; each figure is the median over
// the rounds, so a burst of load from elsewhere on the machine moves one round, not the result.
// Figures only, no thresholds.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { fixedRate, maxThroughput, startChild, type Stats } from "./load.js";

const seconds = Number(process.env.BENCH_SECONDS ?? "4");
const rounds = Number(process.env.BENCH_ROUNDS ?? "3");
const rate = Number(process.env.BENCH_RATE ?? "200");
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? "2");

/** CPU time (user + system, ms) a process has used so far: /proc/<pid>/stat fields 14 and 15, in
 * clock ticks (100 per second on Linux). Less disturbed by other load than latency is. */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Each figure's median over the rounds. */
function median(results: Stats[]): Stats {
  const of = (pick: (s: Stats) => number) => [...results.map(pick)].sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  return { n: results.reduce((sum, s) => sum + s.n, 0), rps: of((s) => s.rps), p50: of((s) => s.p50), p90: of((s) => s.p90), p99: of((s) => s.p99), max: of((s) => s.max), cpuUs: of((s) => s.cpuUs ?? NaN) };
}

// The OTLP sink: accepts every export, keeps a count of spans' requests and bytes.
let exports = 0;
let exportedBytes = 0;
const sink = createServer((req, res) => {
  req.on("data", (chunk: Buffer) => (exportedBytes += chunk.length));
  req.on("end", () => {
    exports += 1;
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
sink.listen(0, "127.0.0.1");
await once(sink, "listening");
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;

const { key, sha256 } = generateApiKey();
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const upstream = await startChild("upstream.ts", []);
const variants = [
  { label: "off", observability: undefined },
  { label: "metrics", observability: { metrics: { enabled: true, listen: { port: 0 } } } },
  { label: "metrics+traces", observability: { metrics: { enabled: true, listen: { port: 0 } }, tracing: { enabled: true, otlp_endpoint: sinkUrl, sample_ratio: 1 } } },
];
const dirs: string[] = [];
const gateways: Array<{ label: string; url: string; child: ChildProcess }> = [];
try {
  for (const variant of variants) {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-obs-"));
    dirs.push(dir);
    const started = await startChild("gateway.ts", [upstream.url, sha256, dir], variant.observability ? { BENCH_OBSERVABILITY: JSON.stringify(variant.observability) } : {});
    gateways.push({ label: variant.label, ...started });
  }
  console.log(`Cost of observability on the small-JSON path (node ${process.version}, ${seconds}s per phase, median of ${rounds} interleaved rounds; upstream, gateways and load generator share this machine)`);
  for (const gateway of gateways) await fixedRate(gateway.url, headers, rate, warmupSeconds);

  const ms = (v: number) => `${v.toFixed(3)} ms`;
  const report = (title: string, results: Stats[]) => {
    console.log(`\n${title}`);
    const off = results[0]!;
    results.forEach((result, i) => {
      const added = i === 0 ? "" : `  | added p50 ${ms(result.p50 - off.p50)}  p99 ${ms(result.p99 - off.p99)}  CPU ${(result.cpuUs! - off.cpuUs!).toFixed(0)} µs/req  throughput ${((result.rps / off.rps - 1) * 100).toFixed(1)}%`;
      console.log(`  ${gateways[i]!.label.padEnd(15)} p50 ${ms(result.p50)}  p90 ${ms(result.p90)}  p99 ${ms(result.p99)}  CPU ${result.cpuUs!.toFixed(0)} µs/req  ${result.rps.toFixed(0)} req/s (n=${result.n})${added}`);
    });
  };
  const fixed: Stats[][] = gateways.map(() => []);
  const max: Stats[][] = gateways.map(() => []);
  const measured = async (gateway: (typeof gateways)[number], phase: () => Promise<Stats>): Promise<Stats> => {
    const before = await cpuMs(gateway.child.pid!);
    const result = await phase();
    return { ...result, cpuUs: ((await cpuMs(gateway.child.pid!)) - before) * 1000 / result.n };
  };
  for (let round = 0; round < rounds; round += 1) {
    for (const [i, gateway] of gateways.entries()) fixed[i]!.push(await measured(gateway, () => fixedRate(gateway.url, headers, rate, seconds)));
    for (const [i, gateway] of gateways.entries()) max[i]!.push(await measured(gateway, () => maxThroughput(gateway.url, headers, 32, seconds / 2)));
  }
  report(`POST /threads/search, open loop at ${rate} req/s:`, fixed.map(median));
  report("POST /threads/search, closed loop, 32 concurrent clients:", max.map(median));
  console.log(`\nOTLP sink: ${exports} export requests, ${(exportedBytes / 1024).toFixed(0)} KiB of spans received`);
} finally {
  // The gateways export their last spans on the way out: the sink stays until they have gone.
  await Promise.all(gateways.map((gateway) => new Promise((resolve) => gateway.child.once("exit", resolve).kill("SIGTERM"))));
  upstream.child.kill("SIGTERM");
  sink.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}
