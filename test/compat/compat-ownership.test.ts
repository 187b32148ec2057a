// The ownership stamp (metadata.portcullis_owner) is the gateway's: LangGraph keeps it, policy
// reads it, and no client sees it, in any read, search, history, run record or stream event,
// under the built-in policy on the real server with the official SDK.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { DEFAULT_POLICY_FILE } from "../../src/authorize/policySource.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { sdkDirect, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const STAMP = /portcullis_(owner|tenant)/;
const INPUT = { messages: [{ role: "user", content: "hello there" }] };

function assertNoStamp(value: unknown, where: string): void {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  assert.doesNotMatch(text ?? "", STAMP, `${where} shows the ownership stamp: ${text?.slice(0, 400)}`);
}

describe("the ownership stamp is invisible to clients", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let alice: Client;
  let bob: Client;
  let threadId: string;
  const aliceKey = generateApiKey();
  const bobKey = generateApiKey();

  before(async () => {
    upstream = await startLangGraph();
    gateway = await startTestGateway(upstream, {
      policy: { file: DEFAULT_POLICY_FILE, watch: false },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: aliceKey.sha256, groups: [] },
          { id: "bob", key_sha256: bobKey.sha256, groups: [] },
        ],
      },
    });
    alice = new Client({ apiUrl: gateway.url, apiKey: aliceKey.key, callerOptions: { maxRetries: 0 } });
    bob = new Client({ apiUrl: gateway.url, apiKey: bobKey.key, callerOptions: { maxRetries: 0 } });
    const thread = await alice.threads.create({ metadata: { tag: "compat" } });
    threadId = thread.thread_id;
    // As LangGraph's own thread tests do: the metadata read back is exactly what was set.
    assert.deepEqual(thread.metadata, { tag: "compat" });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
  });

  test("no stream event carries it, in any stream mode", async () => {
    const seen = new Set<string>();
    const stream = alice.runs.stream(threadId, "echo", {
      input: INPUT,
      streamMode: ["values", "updates", "messages-tuple", "debug", "events", "checkpoints", "tasks", "custom", "messages"],
    });
    for await (const part of stream) {
      seen.add(part.event.split("|")[0]!);
      assertNoStamp(part.data, `the ${part.event} event`);
    }
    // The modes that carry run metadata were all exercised.
    for (const event of ["metadata", "debug", "events", "checkpoints", "tasks", "messages", "messages/metadata"]) assert.ok(seen.has(event), `saw ${event}: ${[...seen].join(", ")}`);
  });

  test("thread reads, searches, state, history and runs do not show it", async () => {
    const thread = await alice.threads.get(threadId);
    assertNoStamp(thread, "threads.get");
    assert.equal(thread.metadata?.tag, "compat");
    assert.equal(thread.metadata?.graph_id, "echo", "LangGraph's own metadata is kept");
    const found = await alice.threads.search({ metadata: { tag: "compat" } });
    assert.deepEqual(found.map((t) => t.thread_id), [threadId]);
    assertNoStamp(found, "threads.search");
    assertNoStamp(await alice.threads.getState(threadId), "threads.getState");
    const history = await alice.threads.getHistory(threadId);
    assert.ok(history.length > 0);
    assertNoStamp(history, "threads.getHistory");
    assertNoStamp(await alice.threads.getHistory(threadId, { limit: 2, metadata: { source: "loop" } }), "threads.getHistory (POST)");
    const runs = await alice.runs.list(threadId);
    assert.ok(runs.length > 0);
    assertNoStamp(runs, "runs.list");
    assertNoStamp(await alice.runs.get(threadId, runs[0]!.run_id), "runs.get");
    const updated = await alice.threads.update(threadId, { metadata: { colour: "blue" } });
    assertNoStamp(updated, "threads.update");
    assert.equal(updated.metadata?.colour, "blue");
  });

  test("run creation and waiting answer without it", async () => {
    const run = await alice.runs.create(threadId, "echo", { input: INPUT });
    assertNoStamp(run, "runs.create");
    assertNoStamp(await alice.runs.join(threadId, run.run_id), "runs.join");
    assertNoStamp(await alice.runs.wait(threadId, "echo", { input: INPUT }), "runs.wait");
    const stateless = await alice.runs.wait(null, "echo", { input: INPUT });
    assertNoStamp(stateless, "stateless runs.wait");
  });

  test("LangGraph keeps it, and ownership still holds: another caller's reads are refused as not found", async () => {
    const direct = await sdkDirect(upstream).threads.get(threadId);
    assert.equal(direct.metadata?.portcullis_owner, "sa:alice");
    await assert.rejects(bob.threads.get(threadId), (error: { status?: number }) => error.status === 404);
    await assert.rejects(bob.threads.getState(threadId), (error: { status?: number }) => error.status === 404);
    await assert.rejects(bob.runs.list(threadId), (error: { status?: number }) => error.status === 404);
    assert.deepEqual(await bob.threads.search({ metadata: { tag: "compat" } }), []);
    // A filter on the stamp written by the client does not widen the search to another owner.
    assert.deepEqual(await bob.threads.search({ metadata: { portcullis_owner: "sa:alice" } }), []);
  });
});
