// A real Prometheus server (Debian's `prometheus` package) for observability tests: its own
// config and a temporary storage directory, on a free port, scraping the targets it is given.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";

const PROMETHEUS = process.env.PORTCULLIS_PROMETHEUS ?? "/usr/bin/prometheus";
const PROMTOOL = process.env.PORTCULLIS_PROMTOOL ?? "/usr/bin/promtool";

/** Fails with what to install when the binaries are missing (CI installs them: .ci/run). */
export function requirePrometheus(): void {
  for (const binary of [PROMETHEUS, PROMTOOL]) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: the observability tests need a real Prometheus. Install it with 'apt-get install -y prometheus' (which brings promtool), or point PORTCULLIS_PROMETHEUS / PORTCULLIS_PROMTOOL at the binaries.`);
  }
}

/** Runs promtool with the arguments (and stdin); returns its exit code and output. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface PrometheusServer {
  url: string;
  /** An instant query through the HTTP API (GET /api/v1/query); the result vector. */
  query(expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { job: string; target: string; metricsPath: string; rulesFile?: string }): Promise<PrometheusServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-prom-"));
  const port = await freePort();
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    ...(options.rulesFile ? ["rule_files:", `  - ${JSON.stringify(options.rulesFile)}`] : []),
    "scrape_configs:",
    `  - job_name: ${options.job}`,
    `    metrics_path: ${options.metricsPath}`,
    "    static_configs:",
    `      - targets: [${JSON.stringify(options.target)}]`,
    "",
  ].join("\n");
  await writeFile(path.join(dir, "prometheus.yml"), config);
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready within 60 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    async query(expression) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expression })}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      if (body.status !== "success") throw new Error(`query ${expression} failed: ${body.error}`);
      return body.data!.result;
    },
    stop,
  };
}
