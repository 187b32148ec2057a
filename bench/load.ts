// The load the gateway benchmarks share: processes started from bench/ (upstream, gateway), and
// the small-JSON load (POST /threads/search) at a fixed rate or as fast as a set of clients can go.
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

const here = path.dirname(fileURLToPath(import.meta.url));
const SEARCH_BODY = JSON.stringify({ metadata: { owner: "bench" }, limit: 10 });

/** Starts bench/<script> in its own process and waits for its {"ready":true,"url":…} line. */
export function startChild(script: string, args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(here, script), ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve({ url: (JSON.parse(line) as { url: string }).url, child });
    });
  });
}

export interface Stats {
  n: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Gateway CPU per request, in microseconds, where a benchmark measures it. */
  cpuUs?: number;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function stats(latencies: number[], elapsedS: number): Stats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { n: sorted.length, rps: sorted.length / elapsedS, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

/** Open loop: one request every 1/rate s whatever the answers do, so queueing shows in latency. */
export async function fixedRate(url: string, headers: Record<string, string>, rps: number, durationS: number): Promise<Stats> {
  const pool = new Pool(url, { connections: 64, pipelining: 1 });
  const latencies: number[] = [];
  const total = Math.round(rps * durationS);
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i += 1) {
    const wait = started + (i * 1000) / rps - performance.now();
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
export async function maxThroughput(url: string, headers: Record<string, string>, concurrency: number, durationS: number): Promise<Stats> {
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

const CLOCK_TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux.

/** User + system CPU seconds from a /proc stat line. */
function statCpuSeconds(stat: string): number {
  // Fields after the command name (which may hold spaces) start at the state, field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds a process has used so far (user + system). */
export async function cpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(await readFile(`/proc/${pid}/stat`, "utf8"));
}

/** CPU seconds so far of each thread of a process, by thread id. */
export async function threadCpuSeconds(pid: number): Promise<Map<string, number>> {
  const threads = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, "utf8").catch(() => undefined);
    if (stat) threads.set(tid, statCpuSeconds(stat));
  }
  return threads;
}

/** CPU seconds the whole machine has been busy (every process, this benchmark's or not). */
export async function machineBusySeconds(): Promise<number> {
  const [cpu] = (await readFile("/proc/stat", "utf8")).split("\n");
  // user nice system idle iowait irq softirq steal (proc(5)): everything but idle and iowait.
  const [user, nice, system, , , irq, softirq, steal] = cpu!.trim().split(/\s+/).slice(1).map(Number) as number[];
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

/** CPU seconds this process (the load generator) has used so far. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}
