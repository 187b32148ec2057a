// A refusal the server would answer itself reads the same through the gateway: another caller's
// thread, or one that does not exist, is LangGraph's own 404 "Thread with ID … not found", so the
// official SDK throws the same error as direct. The gateway's code is in x-portcullis-error and
// in the record.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { DEFAULT_POLICY_FILE } from "../../src/authorize/policySource.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { sdkDirect, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

async function sdkError(promise: Promise<unknown>): Promise<{ status?: number; message: string }> {
  return promise.then(
    () => assert.fail("resolved"),
    (error: { status?: number; message: string }) => error,
  );
}

describe("LangGraph-shaped refusals", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let alice: Client;
  let bob: Client;
  let direct: Client;
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
    direct = sdkDirect(upstream);
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
  });

  test("a thread that does not exist throws exactly what the server throws direct", async () => {
    const missing = randomUUID();
    for (const read of [(client: Client) => client.threads.get(missing), (client: Client) => client.threads.getState(missing), (client: Client) => client.threads.getHistory(missing), (client: Client) => client.runs.list(missing)]) {
      const [through, straight] = [await sdkError(read(alice)), await sdkError(read(direct))];
      assert.equal(through.status, 404);
      assert.equal(through.message, straight.message);
    }
  });

  test("a thread, run, checkpoint or cron id in the path that is not a UUID gets LangGraph's own 400 and Zod issue, before any lookup", async () => {
    const thread = randomUUID();
    const cases: Array<[string, string]> = [
      ["GET", "/threads/not-a-uuid"],
      ["GET", "/threads/not-a-uuid/state"],
      ["POST", "/threads/not-a-uuid/runs/wait"],
      ["DELETE", "/threads/xyz"],
      ["GET", `/threads/${thread}/runs/nope`],
      ["GET", `/threads/${thread}/state/not-a-checkpoint`],
      ["GET", "/runs/nope/stream"],
      ["DELETE", "/runs/crons/nope"],
    ];
    for (const [method, path] of cases) {
      const init = (key: string): RequestInit => ({ method, headers: { "x-api-key": key, "content-type": "application/json" }, ...(method === "POST" ? { body: JSON.stringify({ assistant_id: "echo", input: {} }) } : {}) });
      const [through, straight] = [await fetch(`${gateway.url}${path}`, init(aliceKey.key)), await fetch(`${upstream.url}${path}`, init(upstream.key))];
      assert.equal(through.status, straight.status, `${method} ${path}`);
      assert.equal(through.status, 400, `${method} ${path}`);
      assert.deepEqual(await through.json(), await straight.json(), `${method} ${path}`);
      assert.equal(through.headers.get("x-portcullis-error"), "PC_BAD_REQUEST");
      const record = (await gateway.recordsFor(through.headers.get("x-request-id")!)).find((entry): entry is RequestRecord => entry.type === "request");
      assert.equal(record?.status, 400);
    }
  });

  test("another caller's thread reads as a thread LangGraph does not have, with the gateway's code in a header and the record", async () => {
    const thread = await alice.threads.create();
    const error = await sdkError(bob.threads.get(thread.thread_id));
    assert.equal(error.status, 404);
    assert.equal(error.message, `HTTP 404: Thread with ID ${thread.thread_id} not found`);

    const answer = await fetch(`${gateway.url}/threads/${thread.thread_id}/state`, { headers: { "x-api-key": bobKey.key } });
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.get("x-portcullis-error"), "PC_NOT_FOUND");
    assert.match(answer.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(await answer.text(), `Thread with ID ${thread.thread_id} not found`);
    const record = (await gateway.recordsFor(answer.headers.get("x-request-id")!)).find((entry): entry is RequestRecord => entry.type === "request")!;
    assert.equal(record.error, "PC_NOT_FOUND");
    assert.equal(record.status, 404);
  });

  test("a run that is not on the named thread is LangGraph's 'Run not found'", async () => {
    const alicesThread = await alice.threads.create();
    const run = await alice.runs.create(alicesThread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hi" }] } });
    const bobsThread = await bob.threads.create();
    const through = await sdkError(bob.runs.get(bobsThread.thread_id, run.run_id));
    const straight = await sdkError(direct.runs.get(bobsThread.thread_id, randomUUID()));
    assert.equal(through.status, 404);
    assert.equal(through.message, straight.message);
  });

  test("updating another caller's thread throws what updating a missing thread throws direct", async () => {
    const thread = await alice.threads.create();
    const through = await sdkError(bob.threads.update(thread.thread_id, { metadata: { tag: "x" } }));
    const straight = await sdkError(direct.threads.update(randomUUID(), { metadata: { tag: "x" } }));
    assert.equal(through.status, 404);
    assert.equal(through.message, straight.message);
  });

  test("a new thread whose id is not a UUID is LangGraph's validation error, not a conflict", async () => {
    for (const threadId of ["not-a-uuid", 5]) {
      const send = (base: string, key: string) => fetch(`${base}/threads`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify({ thread_id: threadId }) });
      const [through, straight] = [await send(gateway.url, aliceKey.key), await send(upstream.url, upstream.key)];
      assert.equal(through.status, 400);
      assert.equal(straight.status, 400);
      assert.equal(through.headers.get("x-portcullis-error"), "PC_BAD_REQUEST");
      assert.deepEqual(await through.json(), await straight.json());
    }
  });

  test("the gateway's own refusals keep its JSON, with the code in the header too", async () => {
    const answer = await fetch(`${gateway.url}/not-a-route`, { headers: { "x-api-key": bobKey.key } });
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.get("x-portcullis-error"), "PC_UNKNOWN_ROUTE");
    assert.equal(((await answer.json()) as { error: string }).error, "PC_UNKNOWN_ROUTE");
  });
});
