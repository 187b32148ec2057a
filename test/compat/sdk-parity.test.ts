// The official SDK pointed at Portcullis behaves exactly as when pointed at the LangGraph server:
// every client method the reference lists, run once each way against the real server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { Client } from "@langchain/langgraph-sdk";
import { fileURLToPath } from "node:url";
import { sdkDirect, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream, eventually } from "../support/stack.js";

let upstream: Upstream;
let gateway: TestGateway;

// Transparency is compared byte for byte, so the caller here is one the policy lets see clear
// responses; test/mask/masking-gateway.test.ts covers what everyone else receives.
const CLEAR_RESPONSES_POLICY = fileURLToPath(new URL("../fixtures/policies/allow-all-clear.yaml", import.meta.url));

before(async () => {
  upstream = await startLangGraph();
  gateway = await startTestGateway(upstream, { policy: { file: CLEAR_RESPONSES_POLICY, watch: false } });
});
after(async () => {
  await gateway?.close();
  await upstream?.stop();
});

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const parts: T[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

async function httpStatusOf(promise: Promise<unknown>): Promise<number | string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return (error as { status?: number }).status ?? String(error);
  }
}

/** Walks every SDK method once and returns what a user would observe. */
async function exercise(client: Client, tag: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};

  // Assistants
  out.systemAssistants = (await client.assistants.search({ metadata: { created_by: "system" }, limit: 10 })).map((a) => a.graph_id).sort();
  const assistant = await client.assistants.create({ graphId: "hitl", metadata: { tag }, name: `hitl-${tag}` });
  out.assistantGet = await client.assistants.get(assistant.assistant_id);
  out.graph = await client.assistants.getGraph("agent", { xray: true });
  out.schemas = await client.assistants.getSchemas("hitl");
  out.subgraphs = await client.assistants.getSubgraphs("agent");
  out.assistantUpdate = await client.assistants.update(assistant.assistant_id, { metadata: { tag, version: 2 } });
  out.versions = await client.assistants.getVersions(assistant.assistant_id);
  out.setLatest = await client.assistants.setLatest(assistant.assistant_id, 1);
  out.assistantCount = await client.assistants.count({ metadata: { tag } });
  out.assistantSearch = await client.assistants.search({ metadata: { tag } });

  // Threads
  const thread = await client.threads.create({ metadata: { tag } });
  out.threadGet = await client.threads.get(thread.thread_id);
  out.threadUpdate = await client.threads.update(thread.thread_id, { metadata: { tag, step: 1 } });
  out.threadSearch = await client.threads.search({ metadata: { tag } });
  out.threadCount = await client.threads.count({ metadata: { tag } });
  out.unknownThread = await httpStatusOf(client.threads.get("00000000-0000-0000-0000-000000000000"));

  // Streaming run: the fake model streams one `messages` event per character.
  const streamed = await collect(
    client.runs.stream(thread.thread_id, "agent", {
      input: { messages: [{ role: "user", content: "hi" }] },
      streamMode: ["values", "updates", "messages-tuple"],
    }),
  );
  out.streamEvents = streamed.map((part) => part.event);
  out.streamFinal = streamed.filter((part) => part.event === "values").at(-1)?.data;
  out.state = await client.threads.getState(thread.thread_id);
  out.history = await client.threads.getHistory(thread.thread_id, { limit: 10 });
  out.updateState = await client.threads.updateState(thread.thread_id, { values: { messages: [{ role: "user", content: "edited" }] }, asNode: "chat" });
  out.copy = await client.threads.copy(thread.thread_id);

  // Wait, interrupt and resume
  const hitlThread = await client.threads.create({ metadata: { tag } });
  out.waitInterrupted = await client.runs.wait(hitlThread.thread_id, "hitl", { input: { request: "wire $5 to ACME" } });
  out.interruptedThread = (await client.threads.get(hitlThread.thread_id)).status;
  out.waitResumed = await client.runs.wait(hitlThread.thread_id, "hitl", { command: { resume: "yes" } });

  // Background run, join, get, list
  const bgThread = await client.threads.create({ metadata: { tag } });
  const run = await client.runs.create(bgThread.thread_id, "slow", { input: { count: 3, delayMs: 20 } });
  out.join = await client.runs.join(bgThread.thread_id, run.run_id);
  out.runGet = await client.runs.get(bgThread.thread_id, run.run_id);
  out.runList = (await client.runs.list(bgThread.thread_id)).map((r) => r.status);

  // Resumable run replayed from the start with Last-Event-ID: -1
  const resumable = await client.runs.create(bgThread.thread_id, "slow", { input: { count: 3, delayMs: 20 }, streamResumable: true, streamMode: ["values", "custom"] });
  // Polled, not joined: an early join makes the JS server's queue non-resumable (langgraph-api.md §6, pitfall 1).
  for (let i = 0; i < 200 && ["pending", "running"].includes((await client.runs.get(bgThread.thread_id, resumable.run_id)).status); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  out.joinStream = (await collect(client.runs.joinStream(bgThread.thread_id, resumable.run_id, { lastEventId: "-1" }))).map((part) => part.event);

  // Cancel
  const cancelThread = await client.threads.create({ metadata: { tag } });
  const long = await client.runs.create(cancelThread.thread_id, "slow", { input: { count: 100, delayMs: 50 } });
  await client.runs.cancel(cancelThread.thread_id, long.run_id, true);
  out.cancelled = (await client.runs.get(cancelThread.thread_id, long.run_id)).status;

  // Stateless runs and batch
  out.statelessWait = await client.runs.wait(null, "slow", { input: { count: 1, delayMs: 0 } });
  out.statelessStream = (await collect(client.runs.stream(null, "slow", { input: { count: 2, delayMs: 0 }, streamMode: ["custom"] }))).map((part) => part.event);
  out.batch = (await client.runs.createBatch([{ assistantId: "slow", input: { count: 1, delayMs: 0 } }])).map((r) => r.assistant_id);

  // Store
  await client.store.putItem(["parity", tag], "k1", { value: 1 });
  out.storeGet = await client.store.getItem(["parity", tag], "k1");
  out.storeSearch = await client.store.searchItems(["parity", tag]);
  out.storeNamespaces = await client.store.listNamespaces({ prefix: ["parity", tag] });
  await client.store.deleteItem(["parity", tag], "k1");
  out.storeAfterDelete = await client.store.getItem(["parity", tag], "k1");

  // Routes the JS server does not implement (crons) or lacks (Python-only: 404) must
  // fail the same way through the gateway.
  out.cronCreate = await httpStatusOf(client.crons.create("agent", { schedule: "*/5 * * * *", input: {} }));
  out.cronSearch = await httpStatusOf(client.crons.search({ assistantId: "agent" }));
  out.threadPrune = await httpStatusOf(client.threads.prune([thread.thread_id]));
  out.cancelMany = await httpStatusOf(client.runs.cancelMany({ threadId: bgThread.thread_id, runIds: [run.run_id] }));
  out.threadJoinStream = await httpStatusOf(collect(client.threads.joinStream(thread.thread_id)));

  // Deletes
  await client.runs.delete(bgThread.thread_id, run.run_id);
  out.runAfterDelete = await httpStatusOf(client.runs.get(bgThread.thread_id, run.run_id));
  await client.threads.delete(hitlThread.thread_id);
  await client.assistants.delete(assistant.assistant_id);
  out.assistantAfterDelete = await httpStatusOf(client.assistants.get(assistant.assistant_id));
  return out;
}

/** Ids, timestamps and the per-run tag differ between two runs by design; nothing else may. */
function normalize(value: unknown, tag: string): unknown {
  const text = JSON.stringify(value)
    .replaceAll(tag, "<tag>")
    // The gateway stamps the caller as owner on what it creates (metadata); the rest is identical.
    .replace(/"portcullis_owner":"sa:tester",?/g, "")
    .replace(/,}/g, "}")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g, "<time>")
    .replace(/"[0-9a-f]{32}"/g, '"<interrupt-id>"');
  return JSON.parse(text);
}

describe("the LangGraph SDK through Portcullis", () => {
  test("every client method gives the same result as against the LangGraph server directly", { timeout: 180_000 }, async () => {
    const directTag = randomBytes(6).toString("hex");
    const gatewayTag = randomBytes(6).toString("hex");
    const direct = normalize(await exercise(sdkDirect(upstream), directTag), directTag) as Record<string, unknown>;
    const through = normalize(await exercise(sdkThroughGateway(gateway), gatewayTag), gatewayTag) as Record<string, unknown>;
    for (const key of Object.keys(direct)) {
      assert.deepEqual(through[key], direct[key], `${key} differs through the gateway`);
    }
    assert.deepEqual(Object.keys(through), Object.keys(direct));
    // The walk must have exercised real behaviour, not two identical failures.
    assert.deepEqual(direct.systemAssistants, ["agent", "echo", "hitl", "model", "slow", "tools"]);
    assert.equal(direct.interruptedThread, "interrupted");
    assert.deepEqual(direct.waitResumed, { request: "wire $5 to ACME", decision: "yes", result: "executed: wire $5 to ACME" });
    assert.equal(direct.cancelled, "interrupted");
    assert.equal(direct.unknownThread, 404);
    // JS 1.5.1 rejects cron bodies before its "Not implemented" stub, and lacks the Python-only routes.
    assert.deepEqual([direct.cronCreate, direct.cronSearch, direct.threadPrune, direct.cancelMany, direct.threadJoinStream], [400, 400, 404, 404, 404]);
    assert.ok((direct.streamEvents as string[]).filter((e) => e === "messages").length > 40);
  });

  test("protocol v2 over SSE (threads.stream) reaches the same interrupt as directly, classified per command", { timeout: 60_000 }, async () => {
    const interruptOf = async (client: Client) => {
      const thread = client.threads.stream({ assistantId: "hitl", transport: "sse" });
      try {
        await thread.run.start({ input: { request: "wire $7 to ACME" } });
        const output = await thread.output;
        return { output, interrupted: thread.interrupted, payloads: thread.interrupts.map((i) => i.payload) };
      } finally {
        await thread.close();
      }
    };
    const direct = await interruptOf(sdkDirect(upstream));
    const through = await interruptOf(sdkThroughGateway(gateway));
    assert.deepEqual(through, direct);
    assert.equal(direct.interrupted, true);
    assert.deepEqual(direct.payloads, [{ question: "Approve this action?", action: "wire $7 to ACME" }]);
    const commands = (await gateway.audit()).filter((r) => r.type === "request" && r.operation?.resource === "protocol");
    assert.ok(commands.some((r) => r.type === "request" && r.operation?.route === "protocol.command" && r.operation.risk === "execute"));
    assert.ok(commands.some((r) => r.type === "request" && r.operation?.route === "protocol.events" && r.operation.risk === "read"));
  });

  test("every SDK request through the gateway left a request and a completion record", { timeout: 30_000 }, async () => {
    // A stream the SDK just closed is completed when the gateway sees the close: allow a moment.
    const records = await eventually(async () => {
      const all = await gateway.audit();
      const completed = new Set(all.filter((r) => r.type === "completion").map((r) => r.request_id));
      for (const request of all.filter((r) => r.type === "request")) assert.ok(completed.has(request.request_id), `no completion for ${request.method} ${request.path}`);
      return all;
    });
    const requests = records.filter((r) => r.type === "request");
    assert.ok(requests.length >= 40, `expected the walk's requests, got ${requests.length}`);
    for (const request of requests) assert.equal(request.identity?.subject, "sa:tester");
    const routes = new Set(requests.map((r) => r.operation?.route));
    for (const route of ["assistants.create", "threads.copy", "state.update", "runs.stream", "runs.wait", "runs.join", "runs.join_stream", "runs.cancel", "runs.batch", "store.put"]) {
      assert.ok(routes.has(route), `route ${route} was not exercised`);
    }
  });
});
