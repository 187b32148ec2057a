// Throughput of 1, 2 and 3 gateway replicas behind HAProxy (round robin), all on one PostgreSQL
// (ledger and state), in front of the no-work benchmark upstream, in the same run. Every process
// shares this machine: on 2 cores the replicas, PostgreSQL, HAProxy and the load generator compete
// for the same CPUs, so the scaling shown is bounded by the machine; the CPU each used is printed
// beside the figures so that a reader can tell where the time went.
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import type { PortcullisConfigInput } from "../src/config/schema.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { startGatewayProcess, type GatewayProcess } from "../test/support/gatewayProcess.js";
import { startHaproxy } from "../test/support/haproxy.js";
import { startPostgres } from "../test/support/postgres.js";
import { cpuSeconds, machineBusySeconds, maxThroughput, ownCpuSeconds, startChild } from "./load.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 48);
const maxReplicas = Number(process.env.BENCH_MAX_REPLICAS ?? 3);
const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-scale-"));
const postgres = await startPostgres();
const upstream = await startChild("upstream.ts", []);
const { key, sha256 } = generateApiKey();
const env = { BENCH_DATABASE_URL: postgres.url, BENCH_UPSTREAM_KEY: "bench-upstream-key" };
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
const cores = availableParallelism();

console.log(`Gateway replicas behind HAProxy on one PostgreSQL (node ${process.version}, ${cores} cores, ${seconds}s per phase, ${concurrency} concurrent clients, POST /threads/search)`);
console.log("  every process shares this machine; CPU is the share of all its cores each used during the phase\n  (what the load generator used, the replicas could not)\n");
try {
  for (let replicas = 1; replicas <= maxReplicas; replicas += 1) {
    const schema = `bench_scale_${replicas}`;
    const config: PortcullisConfigInput = {
      upstream: { url: upstream.url, credential: { secret: { env: "BENCH_UPSTREAM_KEY" } } },
      identity: { service_accounts: [{ id: "bench", key_sha256: sha256 }] },
      audit: { store: { kind: "postgres", url: { env: "BENCH_DATABASE_URL" }, schema }, signing_key_file: path.join(dir, `ledger-key-${replicas}.pem`) },
      masking: { vault: { key_file: path.join(dir, `vault-key-${replicas}`) } },
      log: { level: "error" },
    };
    const gateways: GatewayProcess[] = [await startGatewayProcess(`${replicas}-0`, dir, config, env)];
    for (let i = 1; i < replicas; i += 1) gateways.push(await startGatewayProcess(`${replicas}-${i}`, dir, config, env));
    const balancer = await startHaproxy(dir, `replicas-${replicas}`, gateways.map((gateway) => ({ name: gateway.name, port: gateway.port })));
    try {
      // Warm-up: JIT, connection pools on every replica.
      await maxThroughput(balancer.url, headers, concurrency, Math.max(0.5, seconds / 5));
      const pids = gateways.map((gateway) => gateway.child.pid!);
      const before = { own: ownCpuSeconds(), gateways: await Promise.all(pids.map(cpuSeconds)), haproxy: await cpuSeconds(balancer.pid), machine: await machineBusySeconds() };
      const started = performance.now();
      const result = await maxThroughput(balancer.url, headers, concurrency, seconds);
      const elapsed = (performance.now() - started) / 1000;
      const share = (cpu: number) => `${((cpu / (elapsed * cores)) * 100).toFixed(0)}%`;
      const gatewaysCpu = (await Promise.all(pids.map(cpuSeconds))).reduce((sum, cpu, i) => sum + cpu - before.gateways[i]!, 0);
      const haproxyCpu = (await cpuSeconds(balancer.pid)) - before.haproxy;
      const loadCpu = ownCpuSeconds() - before.own;
      const machineCpu = (await machineBusySeconds()) - before.machine;
      console.log(
        `  ${replicas} replica${replicas === 1 ? " " : "s"}: ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  (n=${result.n})` +
          `  | CPU: load generator ${share(loadCpu)}, gateways ${share(gatewaysCpu)}, HAProxy ${share(haproxyCpu)}, whole machine ${share(machineCpu)} (PostgreSQL, the upstream and anything else running)`,
      );
    } finally {
      await balancer.stop();
      await Promise.all(gateways.map((gateway) => gateway.stop()));
    }
  }
} finally {
  upstream.child.kill("SIGTERM");
  await postgres.stop();
  await rm(dir, { recursive: true, force: true });
}
