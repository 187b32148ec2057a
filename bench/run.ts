// `npm run bench`: every benchmark against the current code, one after the other, each in its own
// process; figures are printed, nothing asserts a threshold. `npm run bench:smoke` runs the same
// files on small inputs so that CI fails when a benchmark breaks (a benchmark that is not run
// rots); its figures mean nothing, so it runs a few at once (each one's output printed whole when
// it ends) to stay short.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const smoke = process.argv.includes("--smoke");

/** Each benchmark with the environment that makes it small in smoke mode; the longest first, so
 * that a smoke run with several at once ends soon after its slowest. */
const BENCHMARKS: Array<{ file: string; smoke: Record<string, string> }> = [
  { file: "scale-out.ts", smoke: { BENCH_SECONDS: "0.5", BENCH_CONCURRENCY: "8", BENCH_MAX_REPLICAS: "2" } },
  { file: "masking.ts", smoke: { BENCH_MASKING_BYTES: "16384", BENCH_MASKING_ROUNDS: "1", BENCH_MASKING_STREAM_CHARS: "2000" } },
  { file: "recording.ts", smoke: { BENCH_RECORDING_RUNS: "2", BENCH_RECORDING_CHARS: "40" } },
  { file: "observability.ts", smoke: { BENCH_SECONDS: "0.5", BENCH_RATE: "100", BENCH_WARMUP_SECONDS: "0.3", BENCH_ROUNDS: "1" } },
  { file: "startup.ts", smoke: { BENCH_STARTUP_RUNS: "2", BENCH_SKIP_INSTALL: "1" } },
  { file: "proxy-overhead.ts", smoke: { BENCH_SECONDS: "0.5", BENCH_RATE: "100", BENCH_WARMUP_SECONDS: "0.3", BENCH_SSE_EVENTS: "50", BENCH_SSE_BURST_EVENTS: "200" } },
  { file: "token-verification.ts", smoke: { BENCH_TOKENS: "200" } },
  { file: "policy-evaluation.ts", smoke: { BENCH_DECISIONS: "500", BENCH_COMPILES: "2" } },
  { file: "ledger.ts", smoke: { BENCH_LEDGER_RECORDS: "500", BENCH_LEDGER_CONCURRENCY: "16", BENCH_LEDGER_PROOF_SIZE: "10000" } },
  { file: "export.ts", smoke: { BENCH_EXPORT_RECORDS: "2000" } },
  { file: "approvals.ts", smoke: { BENCH_APPROVAL_ROUNDS: "5" } },
  { file: "egress.ts", smoke: { BENCH_EGRESS_CALLS: "20", BENCH_EGRESS_STREAMS: "2" } },
  { file: "sessions.ts", smoke: { BENCH_SESSIONS: "500" } },
  { file: "state-stores.ts", smoke: { BENCH_STATE_OPS: "200" } },
];

const only = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const selected = BENCHMARKS.filter((bench) => only.length === 0 || only.some((name) => bench.file.startsWith(name)));
const SMOKE_AT_ONCE = 3;

/** Runs one benchmark; in smoke mode its output is kept and printed whole when it ends. */
async function run(bench: (typeof BENCHMARKS)[number]): Promise<boolean> {
  const header = `\n=== bench/${bench.file}${smoke ? " (smoke)" : ""} ===\n`;
  if (!smoke) process.stdout.write(header);
  const started = Date.now();
  const output: Buffer[] = [];
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), path.join(here, bench.file)], {
      stdio: smoke ? ["ignore", "pipe", "pipe"] : "inherit",
      env: { ...process.env, ...(smoke ? { ...bench.smoke, BENCH_SMOKE: "1" } : {}) },
    });
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));
    child.once("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  const footer = `=== bench/${bench.file}: ${code === 0 ? "done" : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s ===\n`;
  process.stdout.write(smoke ? `${header}${Buffer.concat(output).toString()}${footer}` : footer);
  return code === 0;
}

const failed: string[] = [];
const queue = [...selected];
await Promise.all(
  Array.from({ length: smoke ? SMOKE_AT_ONCE : 1 }, async () => {
    for (let bench = queue.shift(); bench; bench = queue.shift()) if (!(await run(bench))) failed.push(bench.file);
  }),
);
if (failed.length > 0) {
  process.stderr.write(`benchmarks failed: ${failed.join(", ")}\n`);
  process.exit(1);
}
