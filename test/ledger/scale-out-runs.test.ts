// Run takeover at the ledger: a gateway keeps the runs it follows in the ledger's store until their
// run records are written. A live instance takes over the runs of an instance whose lease ended
// (a SIGKILLed process on PostgreSQL, the previous process on a SQLite file), exactly once, and
// leaves a live instance's runs alone. The end-to-end proof (a real gateway killed while it relays
// streams, a survivor writing the run records) is in test/gateway/scale-out.test.ts.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresLedgerStore } from "../../src/ledger/postgresStore.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { TrackedRun } from "../../src/ledger/store.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const ORIGIN = "portcullis.test/run-takeover";
const INSTANCE_SCRIPT = fileURLToPath(new URL("../support/followingInstance.ts", import.meta.url));
const LEASE_MS = 2_000;

let postgres: TestPostgres;
let dir: string;
before(async () => {
  [postgres, dir] = await Promise.all([startPostgres(), mkdtemp(path.join(tmpdir(), "pc-run-takeover-"))]);
});
after(async () => {
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const runOf = (name: string): TrackedRun => ({
  requestId: `req-${name}`,
  runId: `run-${name}`,
  threadId: `thread-${name}`,
  subject: "sa:worker",
  graphs: ["agent"],
  assistantIds: ["agent"],
});

/** A gateway's ledger in its own process that tracks `runs`, of which `recorded` have their run
 * records written, and waits to be killed. */
async function startFollowingInstance(schema: string, runs: TrackedRun[], recorded: string[]) {
  const args = [INSTANCE_SCRIPT, postgres.url, schema, path.join(dir, `${schema}.pem`), ORIGIN, String(LEASE_MS), JSON.stringify(runs), JSON.stringify(recorded)];
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the instance exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve();
    });
  });
  return child;
}

async function openPostgresLedger(schema: string): Promise<Ledger> {
  return Ledger.open({ origin: ORIGIN, store: await PostgresLedgerStore.open({ url: postgres.url, schema }), keyFile: path.join(dir, `${schema}.pem`), log: pino({ level: "silent" }), checkpointIntervalMs: 100, heartbeatIntervalMs: 1_000, maxBatch: 8, leaseMs: LEASE_MS });
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("run takeover", () => {
  test("on PostgreSQL, a live instance's runs are left alone; once it is killed, one survivor takes over each run it had not finished, once", async () => {
    const schema = `takeover_${randomBytes(4).toString("hex")}`;
    const victim = await startFollowingInstance(schema, [runOf("open"), runOf("recorded")], [runOf("recorded").requestId]);
    const [first, second] = [await openPostgresLedger(schema), await openPostgresLedger(schema)];
    const taken: { by: string; run: TrackedRun }[] = [];
    try {
      await first.takeOverRuns((run) => taken.push({ by: "first", run }));
      await second.takeOverRuns((run) => taken.push({ by: "second", run }));
      // Well past a lease: the instance is alive and renewing, so its runs stay its own.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 2));
      assert.equal(taken.length, 0, "a live instance's run was taken over");

      victim.kill("SIGKILL");
      await until(() => taken.length > 0, LEASE_MS * 5);
      // Later lease rounds of both survivors find nothing more to take.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
      assert.deepEqual(taken.map((entry) => entry.run), [runOf("open")], "the run whose record was written is not taken over");
    } finally {
      victim.kill("SIGKILL");
      await first.close();
      await second.close();
    }
  });

  test("on a SQLite file, a restarted gateway takes over the runs the previous process was following", async () => {
    const file = path.join(dir, "restart.db");
    const open = () => Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile: path.join(dir, "restart.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 100, heartbeatIntervalMs: 1_000, maxBatch: 8 });
    const previous = await open();
    await previous.trackRun(runOf("left"));
    await previous.trackRun(runOf("done"));
    await previous.untrackRun(runOf("done").requestId);
    await previous.close();

    const restarted = await open();
    try {
      const taken: TrackedRun[] = [];
      await restarted.takeOverRuns((run) => taken.push(run));
      assert.deepEqual(taken, [runOf("left")]);
      // Its own: the next restart would take it again only if this process never wrote its record.
      const again: TrackedRun[] = [];
      await restarted.takeOverRuns((run) => again.push(run));
      assert.deepEqual(again, []);
    } finally {
      await restarted.close();
    }
  });
});
