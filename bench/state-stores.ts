// What the gateway's state costs per request on each store: the operations on the request path
// (a browser session resumed, a CLI-made key looked up, a rate-limit token taken) and a sign-in
// begun and completed, on the SQLite state file and on PostgreSQL (what several gateways share).
// Median and p99 of BENCH_STATE_OPS sequential calls each; the ratio is PostgreSQL over SQLite.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LoginTransactions } from "../src/authenticate/loginTransactions.js";
import { BrowserSessions } from "../src/authenticate/sessions.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { openStateFile, postgresStores, sqliteStores, type StateStores } from "../src/stateStores.js";
import { startPostgres } from "../test/support/postgres.js";

const OPS = Number(process.env.BENCH_STATE_OPS ?? "5000");
const LIMIT = { id: "bench", requests_per_second: 1_000_000, burst: 1_000_000 };
const PERSON = { subject: "oidc:bench:ada", kind: "oidc" as const, groups: ["analysts"], auth_method: "browser-session" as const, credential_id: "" };

interface Timing {
  median: number;
  p99: number;
}

async function time(operation: (i: number) => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < Math.min(200, OPS); i++) await operation(i);
  const samples: number[] = [];
  for (let i = 0; i < OPS; i++) {
    const started = performance.now();
    await operation(i);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, p99: samples[Math.floor(samples.length * 0.99)]! };
}

async function measure(stores: StateStores): Promise<Map<string, Timing>> {
  const results = new Map<string, Timing>();
  const sessions = new BrowserSessions(stores.sessions, { idleTimeoutS: 1800, absoluteTimeoutS: 43200 });
  const { secret } = await sessions.create(PERSON, "bench");
  results.set("browser session resumed", await time(() => sessions.resume(secret)));
  const key = generateApiKey();
  await stores.serviceAccounts.create({ id: "bench-bot", key_sha256: key.sha256, groups: ["ci"] });
  results.set("CLI-made key looked up", await time(() => stores.serviceAccounts.findByKeyHash(key.sha256)));
  results.set("rate-limit token taken", await time((i) => stores.tokenBuckets.take("sa:bench-bot", LIMIT, 1, Date.now() + i)));
  const logins = new LoginTransactions(stores.signIns);
  results.set("sign-in begun and completed", await time(async () => {
    const { id, browserBinding } = await logins.begin("bench", { returnTo: "/" });
    await logins.complete(id, "bench", browserBinding);
  }));
  return results;
}

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-state-"));
try {
  const sqlite = sqliteStores(openStateFile(path.join(dir, "state.db")));
  const local = await measure(sqlite);
  await sqlite.close();
  let shared: Map<string, Timing> | undefined;
  let postgres;
  try {
    postgres = await startPostgres();
  } catch (error) {
    console.log(`  PostgreSQL: not measured (${(error as Error).message.split(":")[0]})`);
  }
  if (postgres) {
    try {
      const stores = await postgresStores({ url: postgres.url, schema: "bench_state" });
      shared = await measure(stores);
      await stores.close();
    } finally {
      await postgres.stop();
    }
  }
  const ms = (value: number) => `${value.toFixed(3)} ms`.padStart(10);
  console.log(`  ${OPS} calls each, one at a time; median / p99`);
  console.log(`  ${"operation".padEnd(30)} ${"SQLite (memory buckets)".padEnd(24)} ${"PostgreSQL".padEnd(24)} ratio`);
  for (const [name, timing] of local) {
    const other = shared?.get(name);
    console.log(`  ${name.padEnd(30)} ${ms(timing.median)} /${ms(timing.p99)}  ${other ? `${ms(other.median)} /${ms(other.p99)}  ${(other.median / timing.median).toFixed(1)}×` : "-"}`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
