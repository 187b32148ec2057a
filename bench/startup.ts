// npm run bench: how fast the installed CLI answers and starts, against `node -e 0` measured in
// the same run, and what the packed package costs to install. Targets (issue: a gateway a platform
// team can install): `portcullis --help` under 300 ms, `start` to listening under 1 s, the tarball
// installing at most 120 packages and 80 MB. Runs the compiled CLI (dist/, `npm run build`).
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";
import { generateApiKey } from "../src/identify/serviceAccounts.js";

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(repo, "bin/portcullis.js");
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? "10");
const TARGETS = { helpMs: 300, startMs: 1_000, packages: 120, installMiB: 80 };

if (!existsSync(path.join(repo, "dist/src/cli/main.js"))) throw new Error("dist/ is missing: run `npm run build` first (npm run bench does)");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed(args: string[]): Promise<number> {
  const started = performance.now();
  await run(process.execPath, args, { cwd: repo });
  return performance.now() - started;
}

/** Spawn to the "portcullis listening" log line. */
async function startToListening(configFile: string): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, "start", "--config", configFile], { cwd: path.dirname(configFile), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, BENCH_UPSTREAM_KEY: "bench" } });
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('"msg":"portcullis listening"')) resolve(performance.now() - started);
      });
      child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
      child.once("exit", (code) => reject(new Error(`start exited with ${code}: ${out}`)));
    });
  } finally {
    child.removeAllListeners("exit");
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

function countPackages(dir: string): number {
  let count = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const folder = path.join(dir, entry.name);
    if (entry.name.startsWith("@")) {
      count += countPackages(folder);
      continue;
    }
    if (existsSync(path.join(folder, "package.json"))) count++;
    if (existsSync(path.join(folder, "node_modules"))) count += countPackages(path.join(folder, "node_modules"));
  }
  return count;
}

const verdict = (value: number, target: number) => (value <= target ? "meets" : "MISSES");
const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-startup-"));
try {
  console.log(`Start-up of the compiled CLI (node ${process.version}, median of ${RUNS} runs each, same run)`);
  await timed(["-e", "0"]); // warms the file cache, as for every command below
  const baseline = median(await sequential(RUNS, () => timed(["-e", "0"])));
  const help = median(await sequential(RUNS, () => timed([cli, "--help"])));
  const version = median(await sequential(RUNS, () => timed([cli, "--version"])));
  console.log(`  node -e 0            ${baseline.toFixed(0)} ms`);
  console.log(`  portcullis --version ${version.toFixed(0)} ms  (${(version / baseline).toFixed(1)}× node -e 0)`);
  console.log(`  portcullis --help    ${help.toFixed(0)} ms  (${(help / baseline).toFixed(1)}× node -e 0; target < ${TARGETS.helpMs} ms: ${verdict(help, TARGETS.helpMs)})`);

  const { sha256 } = generateApiKey();
  const starts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // A fresh folder each time: the first start of a deployment creates its ledger and keys.
    const data = path.join(dir, `start-${i}`);
    const configFile = path.join(dir, `start-${i}.yaml`);
    await writeFile(
      configFile,
      toYaml({
        listen: { host: "127.0.0.1", port: 0 },
        upstream: { url: "http://127.0.0.1:9", credential: { secret: { env: "BENCH_UPSTREAM_KEY" } } },
        identity: { service_accounts: [{ id: "bench", key_sha256: sha256 }] },
        audit: { store: { kind: "sqlite", file: path.join(data, "ledger.db") }, signing_key_file: path.join(data, "ledger-key.pem") },
        storage: { sqlite_file: path.join(data, "state.db") },
        log: { level: "info" },
      }),
    );
    starts.push(await startToListening(configFile));
  }
  const start = median(starts);
  console.log(`  portcullis start     ${start.toFixed(0)} ms to listening, fresh ledger  (${(start / baseline).toFixed(1)}× node -e 0; target < ${TARGETS.startMs} ms: ${verdict(start, TARGETS.startMs)})`);

  if (process.env.BENCH_SKIP_INSTALL) {
    console.log("\nInstall size: skipped (BENCH_SKIP_INSTALL; test/package/package.test.ts installs the tarball in every test run)");
  } else {
    console.log("\nInstall of the packed tarball into an empty folder (npm pack, npm install <tarball>):");
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
    const tarball = path.join(dir, packed.stdout.trim().split("\n").pop()!);
    const app = path.join(dir, "app");
    await run("mkdir", ["-p", app]);
    await writeFile(path.join(app, "package.json"), JSON.stringify({ name: "bench-install", private: true }));
    const started = performance.now();
    await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
    const seconds = (performance.now() - started) / 1000;
    const packages = countPackages(path.join(app, "node_modules"));
    const mib = folderBytes(path.join(app, "node_modules")) / 1024 / 1024;
    console.log(`  tarball ${(statSync(tarball).size / 1024).toFixed(0)} KiB; installed ${packages} packages (target ≤ ${TARGETS.packages}: ${verdict(packages, TARGETS.packages)}), ${mib.toFixed(1)} MiB (target ≤ ${TARGETS.installMiB}: ${verdict(mib, TARGETS.installMiB)}), in ${seconds.toFixed(0)} s (better-sqlite3 builds from source here)`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

async function sequential(count: number, measure: () => Promise<number>): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(await measure());
  return values;
}
