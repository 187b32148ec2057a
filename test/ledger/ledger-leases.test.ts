// Several gateway instances on one PostgreSQL log: each holds a lease (a heartbeat row), and the
// requests it admits are its own. An instance that starts leaves a live instance's open requests
// alone; once an instance stops renewing its lease (killed) or ends it (shut down), a live one
// closes its open requests as interrupted, exactly once. The instances here are real processes.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
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
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const ORIGIN = "portcullis.test/leases";
const INSTANCE_SCRIPT = fileURLToPath(new URL("../support/ledgerInstance.ts", import.meta.url));
const LEASE_MS = 3_000;

let postgres: TestPostgres;
let dir: string;
before(async () => {
  [postgres, dir] = await Promise.all([startPostgres(), mkdtemp(path.join(tmpdir(), "pc-leases-"))]);
});
after(async () => {
  await postgres?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Instance {
  child: ChildProcess;
  instance: string;
}

async function startInstance(schema: string, requestId: string): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), INSTANCE_SCRIPT, postgres.url, schema, path.join(dir, `${schema}.pem`), ORIGIN, requestId, String(LEASE_MS)], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the ledger instance exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve({ child, instance: (JSON.parse(line) as { instance: string }).instance });
    });
  });
}

async function openLedger(schema: string, heartbeatIntervalMs = 1_000): Promise<Ledger> {
  return Ledger.open({ origin: ORIGIN, store: await PostgresLedgerStore.open({ url: postgres.url, schema }), keyFile: path.join(dir, `${schema}.pem`), log: pino({ level: "silent" }), checkpointIntervalMs: 100, heartbeatIntervalMs, maxBatch: 8, leaseMs: LEASE_MS });
}

async function records(schema: string): Promise<(RequestRecord | CompletionRecord)[]> {
  const store = await PostgresLedgerStore.open({ url: postgres.url, schema });
  try {
    const out: (RequestRecord | CompletionRecord)[] = [];
    for await (const page of store.entryPages(ORIGIN, 0, await store.size(ORIGIN))) {
      for (const entry of page) out.push((JSON.parse(entry.leaf.toString("utf8")) as { record: RequestRecord | CompletionRecord }).record);
    }
    return out;
  } finally {
    await store.close();
  }
}

const completionsOf = (all: (RequestRecord | CompletionRecord)[], requestId: string) => all.filter((record): record is CompletionRecord => record.type === "completion" && record.request_id === requestId);

async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe("instance leases on a shared PostgreSQL log", () => {
  test("an instance that starts leaves a live instance's open request alone; once that instance is killed, a live one closes it as interrupted, once", async () => {
    const schema = `leases_${randomBytes(4).toString("hex")}`;
    const first = await startInstance(schema, "req-on-a");
    const second = await openLedger(schema);
    try {
      // Well past the lease: the first instance is alive and renewing, so its request stays open.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS * 2));
      assert.deepEqual(completionsOf(await records(schema), "req-on-a"), [], "a live instance's request was closed");

      first.child.kill("SIGKILL");
      const closed = await eventually(async () => {
        const found = completionsOf(await records(schema), "req-on-a");
        assert.equal(found.length, 1);
        return found[0]!;
      });
      assert.equal(closed.outcome, "interrupted");
      assert.equal(closed.error, "PC_GATEWAY_RESTARTED");
      // Later lease rounds find nothing more to close.
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
      assert.equal(completionsOf(await records(schema), "req-on-a").length, 1);
    } finally {
      first.child.kill("SIGKILL");
      await second.close();
    }
  });

  test("an instance shut down with a request still open hands it to a live instance without waiting for its lease to expire", async () => {
    const schema = `leases_${randomBytes(4).toString("hex")}`;
    const survivor = await openLedger(schema);
    const leaving = await startInstance(schema, "req-left-open");
    try {
      leaving.child.kill("SIGTERM");
      await new Promise((resolve) => leaving.child.once("exit", resolve));
      const closed = await eventually(async () => {
        const found = completionsOf(await records(schema), "req-left-open");
        assert.equal(found.length, 1);
        return found[0]!;
      });
      assert.equal(closed.outcome, "interrupted");
    } finally {
      await survivor.close();
    }
  });

  test("one instance signs the timed checkpoints of a shared log, and another takes over once it has left", async () => {
    const schema = "signer";
    // No idle heartbeats during the test: every checkpoint is one the log's growth called for.
    const first = await openLedger(schema, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await openLedger(schema, 60_000);
    const completion = (id: string): CompletionRecord => ({ type: "completion", request_id: id, time: new Date().toISOString(), status: 200, upstream_status: 200, outcome: "ok", duration_ms: 1, bytes_in: 0, bytes_out: 0 });
    const checkpointsAt = async (size: number) => {
      const store = await PostgresLedgerStore.open({ url: postgres.url, schema });
      try {
        return (await store.checkpoints(ORIGIN, { atLeastSize: size, atMostSize: size })).length;
      } finally {
        await store.close();
      }
    };
    try {
      // Only the second instance appends; the first, the longest-running, signs what it wrote.
      const receipts = await Promise.all(Array.from({ length: 5 }, (_, i) => second.append(completion(`signed-${i}`))));
      const size = Math.max(...receipts.map((r) => r.seq)) + 1;
      await eventually(async () => assert.equal(await checkpointsAt(size), 1, `a checkpoint at size ${size}`), 5_000);
      // Ten more ticks of both timers: had both signed on the cadence, the size would have two.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await checkpointsAt(size), 1, "one timed checkpoint per size on a shared log");

      await first.close();
      const later = await second.append(completion("after-the-signer-left"));
      await eventually(async () => assert.equal(await checkpointsAt(later.seq + 1), 1, "the remaining instance signs"), 5_000);
    } finally {
      await second.close();
      await first.close();
    }
  });

  test("a gateway restarted on a SQLite file closes what the previous process left open at once", async () => {
    const { SqliteLedgerStore } = await import("../../src/ledger/sqliteStore.js");
    const file = path.join(dir, "restart.db");
    const open = async () => Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile: path.join(dir, "restart.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 100, heartbeatIntervalMs: 1_000, maxBatch: 8 });
    const first = await open();
    await first.append({ type: "request", request_id: "req-before-crash", time: new Date().toISOString(), client: { address: "10.0.0.9", user_agent: "test" }, query: "", identity: null, method: "GET", path: "/ok", operation: null, decision: { effect: "allow", rule: "allow-all" } } as unknown as RequestRecord);
    await first.close();
    const second = await open();
    try {
      const store = new SqliteLedgerStore(file);
      try {
        assert.deepEqual(await store.openRequests(ORIGIN), []);
      } finally {
        await store.close();
      }
    } finally {
      await second.close();
    }
  });
});
