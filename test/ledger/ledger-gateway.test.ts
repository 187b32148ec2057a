// The ledger as the gateway writes it, against the real LangGraph server and SDK: runs followed
// to their end with or without a client, payloads stored apart by hash, receipts, a gateway
// killed mid-stream, every request of a load test accounted for, on SQLite and PostgreSQL.
import { storedPayload } from "../../src/ledger/store.js";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { stringify as toYaml } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import type { PortcullisConfig } from "../../src/config/schema.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { openLedgerStore } from "../../src/ledger/index.js";
import { verifyStore } from "../../src/ledger/verifyStore.js";
import type { AuditRecord, CompletionRecord, RequestRecord, RunRecord } from "../../src/record/auditRecord.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { ALLOW_ALL_POLICY, eventually, ledgerRecordsOf, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";
import { CLI_ARGS } from "../support/cli.js";

let langgraph: Upstream;
let postgres: TestPostgres;

before(async () => {
  [langgraph, postgres] = await Promise.all([startLangGraph(), startPostgres()]);
});

after(async () => {
  await Promise.all([langgraph?.stop(), postgres?.stop()]);
});

const completionOf = (records: AuditRecord[], requestId: string) => records.find((r): r is CompletionRecord => r.type === "completion" && r.request_id === requestId);
const runRecordOf = (records: AuditRecord[], runId: string) => records.find((r): r is RunRecord => r.type === "run" && r.run_id === runId);

describe("runs are followed to their end by the gateway", () => {
  let gateway: TestGateway;
  let client: Client;
  before(async () => {
    gateway = await startTestGateway(langgraph, { audit: { store: { kind: "sqlite", file: path.join(await mkdtemp(path.join(tmpdir(), "pc-ledger-")), "ledger.db") }, receipts: true, run_follow: { poll_ms: 50, max_poll_ms: 200 } } });
    client = sdkThroughGateway(gateway);
  });
  after(() => gateway?.close());

  test("a background run no client watches gets a run record with the steps it took and its output", async () => {
    const thread = await client.threads.create();
    const run = await client.runs.create(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hello ledger" }] } });
    const record = await eventually(async () => {
      const found = runRecordOf(await gateway.audit(), run.run_id);
      assert.ok(found, "no run record yet");
      return found;
    }, 15_000);
    assert.equal(record.status, "success");
    assert.equal(record.thread_id, thread.thread_id);
    assert.ok(record.steps.some((step) => step.nodes.includes("chat")), `the chat node is not among the steps: ${JSON.stringify(record.steps)}`);
    assert.ok(record.output, "the final state is stored as a payload");
    const store = await openLedgerStore(gateway.config.audit);
    try {
      const output = await storedPayload(store, record.output.sha256);
      assert.ok(output, "payload stored apart from the leaf");
      assert.equal(createHash("sha256").update(output).digest("hex"), record.output.sha256);
      assert.match(output.toString("utf8"), /hello ledger/);
    } finally {
      await store.close();
    }
  });

  test("a run request names its graph in its record even when no rule looked it up, so evidence filtered by graph holds it", async () => {
    const [assistant] = await client.assistants.search({ graphId: "echo", limit: 1 });
    assert.ok(assistant, "the echo graph's system assistant");
    const thread = await client.threads.create();
    // Named by its UUID under an allow-all policy: nothing in the decision needed the graph.
    await client.runs.wait(thread.thread_id, assistant.assistant_id, { input: { messages: [{ role: "human", content: "which graph?" }] } });
    const request = (await gateway.audit()).find((r): r is RequestRecord => r.type === "request" && r.path === `/threads/${thread.thread_id}/runs/wait`);
    assert.deepEqual(request?.resources?.graphs, ["echo"]);
    const store = await openLedgerStore(gateway.config.audit);
    try {
      const seqs = await store.matchingSeqs(gateway.config.audit.origin, { graph: "echo" });
      const echoed = await Promise.all(seqs.map(async (seq) => {
        for await (const page of store.entryPages(gateway.config.audit.origin, seq, seq + 1)) return JSON.parse(page[0]!.leaf.toString("utf8")).record as AuditRecord;
        return undefined;
      }));
      assert.ok(echoed.some((r) => r?.type === "request" && r.request_id === request!.request_id), "the request record is among the graph's records");
    } finally {
      await store.close();
    }
  });

  test("a streamed run whose client leaves after the first event is still recorded to its end", async () => {
    const thread = await client.threads.create();
    const controller = new AbortController();
    let runId: string | undefined;
    const stream = client.runs.stream(thread.thread_id, "slow", { input: { count: 8, delayMs: 60 }, streamMode: ["custom"], signal: controller.signal });
    try {
      for await (const part of stream) {
        if (part.event === "metadata") runId = (part.data as { run_id: string }).run_id;
        if (part.event === "custom") break;
      }
    } catch {
      // the abort ends the iteration
    }
    controller.abort();
    assert.ok(runId);
    const { completion, run } = await eventually(async () => {
      const records = await gateway.audit();
      const run = runRecordOf(records, runId!);
      assert.ok(run, "no run record yet");
      const completion = records.find((r): r is CompletionRecord => r.type === "completion" && r.run_id === runId);
      assert.ok(completion, "not yet: completion");
      return { completion, run };
    }, 15_000);
    assert.equal(run.status, "success");
    assert.equal(completion.events?.custom, 8, "every event the run emitted after the client left was still read and recorded");
    assert.ok(completion.response, "the stream is recorded as a payload");
  });

  test("request and response bodies are stored apart, referenced by SHA-256, and a receipt names the request's leaf", async () => {
    const res = await fetch(`${gateway.url}/threads`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" },
      body: JSON.stringify({ metadata: { purpose: "payload-check" } }),
    });
    assert.equal(res.status, 200);
    const requestId = res.headers.get("x-request-id")!;
    const receipt = res.headers.get("portcullis-audit-receipt");
    assert.match(receipt ?? "", /^\d+ [A-Za-z0-9+/]{43}=$/);
    const [seq, leafHash] = receipt!.split(" ") as [string, string];
    const records = await eventually(async () => {
      const all = await gateway.audit();
      assert.ok(completionOf(all, requestId), "not yet: completionOf(all, requestId)");
      return all;
    });
    const request = records.find((r): r is RequestRecord => r.type === "request" && r.request_id === requestId)!;
    const completion = completionOf(records, requestId)!;
    assert.ok(request.body && completion.response);
    assert.equal(request.body.masking, "portcullis-mask/1");
    const store = await openLedgerStore(gateway.config.audit);
    try {
      assert.match((await storedPayload(store, request.body.sha256))!.toString(), /payload-check/);
      assert.match((await storedPayload(store, completion.response.sha256))!.toString(), /thread_id/);
      const leaves = [];
      for await (const page of store.entryPages(gateway.config.audit.origin, Number(seq), Number(seq) + 1)) leaves.push(...page);
      assert.equal(leaves[0]!.leafHash.toString("base64"), leafHash, "the receipt's hash is the request record's leaf");
      assert.match(leaves[0]!.leaf.toString(), new RegExp(requestId));
      const report = await verifyStore(store, gateway.config.audit.origin, { receipts: [{ seq: Number(seq), leafHash }] });
      assert.ok(report.valid, report.format());
      const forged = await verifyStore(store, gateway.config.audit.origin, { receipts: [{ seq: 10_000_000, leafHash }] });
      assert.equal(forged.valid, false);
      assert.match(forged.format(), /truncated: receipt for entry 10000000/);
    } finally {
      await store.close();
    }
  });
});

for (const backend of ["sqlite", "postgres"] as const) {
  describe(`the ledger on ${backend}`, () => {
    let dir: string;
    let audit: PortcullisConfig["audit"];
    const secretEnv = `PC_TEST_LEDGER_PG_${randomBytes(3).toString("hex")}`;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), `pc-ledger-${backend}-`));
      process.env[secretEnv] = postgres.url;
      const store = backend === "sqlite" ? { kind: "sqlite" as const, file: path.join(dir, "ledger.db") } : { kind: "postgres" as const, url: { env: secretEnv }, schema: `t_${randomBytes(4).toString("hex")}` };
      audit = parseConfig({ upstream: { url: "http://unused.invalid" }, audit: { store, signing_key_file: path.join(dir, "key.pem"), origin: `test.example/${backend}` } }).audit;
    });
    after(async () => {
      delete process.env[secretEnv];
      await rm(dir, { recursive: true, force: true });
    });

    test("every request of a concurrent load test has its request and completion records, and the ledger verifies", { timeout: 120_000 }, async () => {
      const gateway = await startTestGateway(langgraph, { audit });
      const ids: string[] = [];
      try {
        const send = async () => {
          const res = await fetch(`${gateway.url}/threads/search`, { method: "POST", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" }, body: JSON.stringify({ limit: 1 }) });
          await res.arrayBuffer();
          assert.equal(res.status, 200);
          ids.push(res.headers.get("x-request-id")!);
        };
        for (let wave = 0; wave < 10; wave++) await Promise.all(Array.from({ length: 40 }, send));
      } finally {
        await gateway.close();
      }
      const records = await ledgerRecordsOf(audit);
      const requests = new Set(records.filter((r) => r.type === "request").map((r) => r.request_id));
      const completions = new Set(records.filter((r) => r.type === "completion").map((r) => r.request_id));
      assert.equal(ids.length, 400);
      assert.equal(ids.filter((id) => requests.has(id)).length, 400, "request records");
      assert.equal(ids.filter((id) => completions.has(id)).length, 400, "completion records");
      const store = await openLedgerStore(audit);
      try {
        const report = await verifyStore(store, audit.origin);
        assert.ok(report.valid, report.format());
        assert.ok((await store.checkpoints(audit.origin)).length >= 2, "checkpoints at start and on shutdown");
      } finally {
        await store.close();
      }
    });

    // On SQLite one gateway owns the file, so a restart closes what it finds open at once; on a
    // shared PostgreSQL log the new instance closes it once the killed instance's lease expires.
    test("a gateway killed (SIGKILL) mid-stream leaves a ledger that verifies, and on restart the interrupted request gets a closing record", { timeout: 120_000 }, async () => {
      const { key, sha256 } = generateApiKey();
      const upstreamEnv = { PC_TEST_UPSTREAM_KEY: langgraph.key, [secretEnv]: postgres.url };
      const configFile = path.join(dir, "crash.yaml");
      await writeFile(
        configFile,
        toYaml({
          listen: { host: "127.0.0.1", port: 0 },
          upstream: { url: langgraph.url, credential: { header: "x-api-key", secret: { env: "PC_TEST_UPSTREAM_KEY" } } },
          identity: { service_accounts: [{ id: "crash", key_sha256: sha256, groups: ["ops"] }] },
          policy: { file: ALLOW_ALL_POLICY, watch: false },
          storage: { sqlite_file: path.join(dir, "state.db") },
          audit: { ...audit, instance_lease_ms: 2_000, store: backend === "sqlite" ? { kind: "sqlite", file: path.join(dir, "crash-ledger.db") } : { ...audit.store, schema: `crash_${randomBytes(4).toString("hex")}` } },
          log: { level: "info" },
        }),
      );
      const first = await startGatewayProcess(configFile, upstreamEnv);
      const client = new Client({ apiUrl: first.url, apiKey: key, callerOptions: { maxRetries: 0 } });
      const thread = await client.threads.create();
      const stream = client.runs.stream(thread.thread_id, "slow", { input: { count: 200, delayMs: 50 }, streamMode: ["custom"], onRunCreated: () => undefined });
      let seen = 0;
      try {
        for await (const part of stream) {
          if (part.event === "custom" && ++seen === 3) first.child.kill("SIGKILL");
        }
      } catch {
        // the connection dies with the gateway
      }
      await first.exited;
      assert.ok(seen >= 3);
      const crashAudit = parseConfig({ upstream: { url: "http://unused.invalid" }, audit: (await readYaml(configFile)).audit }).audit;
      const before = await ledgerRecordsOf(crashAudit);
      const streamRequest = before.find((r): r is RequestRecord => r.type === "request" && r.operation?.route === "runs.stream");
      assert.ok(streamRequest, "the stream's request record was written before forwarding");
      const requestId = streamRequest.request_id;
      assert.equal(completionOf(before, requestId), undefined, "killed before it could write a completion");

      const second = await startGatewayProcess(configFile, upstreamEnv);
      let closing: CompletionRecord | undefined;
      try {
        for (let waited = 0; !closing && waited < 20_000; waited += 200) {
          closing = completionOf(await ledgerRecordsOf(crashAudit), requestId);
          if (!closing) await new Promise((resolve) => setTimeout(resolve, 200));
        }
      } finally {
        second.child.kill("SIGTERM");
        await second.exited;
      }
      assert.ok(closing, "the restart closed the interrupted request");
      assert.equal(closing.outcome, "interrupted");
      assert.equal(closing.error, "PC_GATEWAY_RESTARTED");
      const store = await openLedgerStore(crashAudit);
      try {
        const report = await verifyStore(store, crashAudit.origin);
        assert.ok(report.valid, report.format());
        assert.match(report.format(), /Requests without completion\s+none/);
      } finally {
        await store.close();
      }
    });
  });
}

interface GatewayProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

async function startGatewayProcess(configFile: string, env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...CLI_ARGS, "start", "--config", configFile], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)".*portcullis listening/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`gateway exited (${code}) before listening:\n${output}`)));
  });
  return { child, url, exited };
}

async function readYaml(file: string): Promise<{ audit: unknown }> {
  const { parse } = await import("yaml");
  return parse(await readFile(file, "utf8")) as { audit: unknown };
}

describe("records stay bounded and the writer fails closed", () => {
  test("a request with a huge client-supplied value keeps its identity, decision and body reference in a bounded leaf", async () => {
    const gateway = await startTestGateway(langgraph);
    try {
      // The namespace is recorded on the operation: a client chooses its size.
      const res = await fetch(`${gateway.url}/store/items`, {
        method: "PUT",
        headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" },
        body: JSON.stringify({ namespace: ["notes", "x".repeat(70_000)], key: "k", value: { n: 1 } }),
      });
      await res.arrayBuffer();
      const requestId = res.headers.get("x-request-id")!;
      const record = await eventually(async () => {
        const found = (await gateway.audit()).find((r): r is RequestRecord => r.type === "request" && r.request_id === requestId);
        assert.ok(found, "not yet: found");
        return found;
      });
      assert.equal(record.identity?.subject, "sa:tester");
      assert.ok(record.decision.rule);
      assert.ok(record.path.length < 5_000);
      assert.match(JSON.stringify(record), /…\[70000 chars, sha256 [0-9a-f]{64}\]/, "the long value is cut with a hash of the whole");
    } finally {
      await gateway.close();
    }
  });

  test("a store truncated behind the gateway's back stops appends instead of signing a second history", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "pc-ledger-truncate-"));
    try {
      const { Ledger, LedgerIntegrityError } = await import("../../src/ledger/ledger.js");
      const { SqliteLedgerStore } = await import("../../src/ledger/sqliteStore.js");
      const { pino } = await import("pino");
      const file = path.join(dir, "ledger.db");
      const open = () => Ledger.open({ origin: "test.example/truncate", store: new SqliteLedgerStore(file), keyFile: path.join(dir, "key.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 64 });
      const record = (i: number) => ({ type: "policy" as const, time: new Date().toISOString(), event: "loaded" as const, source: `p${i}`, sha256: null, in_force: null });
      const ledger = await open();
      for (let i = 0; i < 10; i++) await ledger.append(record(i));
      await ledger.checkpoint();
      // A DBA drops the trigger and deletes the newest entries.
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(file);
      db.exec("DROP TRIGGER ledger_entries_no_delete; DELETE FROM ledger_entries WHERE seq >= 5; DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > 5;");
      db.close();
      await assert.rejects(ledger.append(record(99)), LedgerIntegrityError);
      await assert.rejects(ledger.checkpoint(), LedgerIntegrityError);
      await ledger.close().catch(() => undefined);
      await assert.rejects(open(), /truncated outside Portcullis/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
