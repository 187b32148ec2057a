// A2A at /a2a/{assistant_id}, as the Agent Server serves it (each assistant an agent), through the
// gateway with the official @a2a-js/sdk client under the built-in policy: the agent card names the
// gateway, a message runs its graph as runs:create on that assistant with its text masked on the
// way in and the answer masked on the way out (whole, or event by event over SSE), a task or a
// conversation on another caller's thread is refused, an unknown method is JSON-RPC's "Method not
// found" without being forwarded, and each message is recorded. The pinned JS server has no A2A:
// the server here is built with @a2a-js/sdk in front of the real LangGraph server.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { Message, MessageSendParams, Task } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, type Client } from "@a2a-js/sdk/client";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startA2aAgentServer, type A2aAgentServer } from "../support/a2aAgentServer.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";
const keys = { alice: generateApiKey(), bob: generateApiKey() };

/** fetch with the caller's key on every request the SDK makes (card and JSON-RPC alike). */
function fetchAs(key: string): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("x-api-key", key);
    return fetch(input, { ...init, headers });
  };
}

async function agentClient(baseUrl: string, assistant: string, key: string): Promise<Client> {
  const fetchImpl = fetchAs(key);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl })], cardResolver: new DefaultAgentCardResolver({ fetchImpl }) }),
  );
  return factory.createFromUrl(`${baseUrl}/.well-known/agent-card.json?assistant_id=${assistant}`, "");
}

function userMessage(text: string, contextId?: string): MessageSendParams {
  return { message: { kind: "message", role: "user", messageId: randomUUID(), parts: [{ kind: "text", text }], ...(contextId ? { contextId } : {}) } };
}

/** The agent's reply in a finished task. */
function replyOf(task: Task): string {
  return (task.status.message?.parts ?? []).map((part) => (part.kind === "text" ? part.text : "")).join("");
}

describe("A2A through the gateway", () => {
  let upstream: Upstream;
  let agentServer: A2aAgentServer;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startLangGraph();
    agentServer = await startA2aAgentServer(upstream, ["echo", "agent"]);
    gateway = await startTestGateway(
      { url: agentServer.url, key: upstream.key },
      // The built-in policy: policy.file unset.
      { policy: { watch: false }, identity: { service_accounts: [{ id: "alice", key_sha256: keys.alice.sha256, groups: [] }, { id: "bob", key_sha256: keys.bob.sha256, groups: [] }] } },
    );
  });
  after(async () => {
    await gateway?.close();
    await agentServer?.stop();
    await upstream?.stop();
  });

  test("the agent card names the gateway's endpoint, not the server's", async () => {
    const answer = await fetch(`${gateway.url}/.well-known/agent-card.json?assistant_id=echo`, { headers: { "x-api-key": keys.alice.key } });
    assert.equal(answer.status, 200);
    const card = (await answer.json()) as { url: string; name: string };
    assert.equal(card.name, "echo");
    assert.equal(card.url, `${gateway.url}/a2a/echo`);
    const direct = (await (await fetch(`${agentServer.url}/.well-known/agent-card.json?assistant_id=echo`, { headers: { "x-api-key": upstream.key } })).json()) as { url: string };
    assert.equal(direct.url, `${agentServer.url}/a2a/echo`, "direct, the card names the server");
  });

  test("a message runs its graph as runs:create on that assistant, its text masked on the way in", { timeout: 60_000 }, async () => {
    const alice = await agentClient(gateway.url, "echo", keys.alice.key);
    const before = agentServer.messages.length;
    const task = (await alice.sendMessage(userMessage(`write to ${EMAIL}`))) as Task;
    assert.equal(task.kind, "task");
    assert.equal(task.status.state, "completed");
    assert.match(replyOf(task), /write to/);
    const received = agentServer.messages.slice(before);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.assistant, "echo");
    assert.ok(!received[0]!.text.includes(EMAIL), `the server received no clear address: ${received[0]!.text}`);

    const records = (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request" && record.operation?.route === "a2a.request");
    const sent = records.at(-1);
    assert.ok(sent, "the message was recorded");
    assert.deepEqual(sent.operation!.actions, ["runs:create"]);
    assert.deepEqual(sent.operation!.assistant_ids, ["echo"]);
    assert.equal(sent.operation!.risk, "execute");
    assert.equal(sent.identity?.subject, "sa:alice");
    assert.equal(sent.decision.effect, "allow");
    assert.ok(!JSON.stringify(await gateway.audit()).includes(EMAIL), "the ledger holds no clear address");
  });

  test("a streamed answer reaches the client masked, event by event", { timeout: 60_000 }, async () => {
    const alice = await agentClient(gateway.url, "agent", keys.alice.key);
    const events: unknown[] = [];
    for await (const event of alice.sendMessageStream(userMessage("what is on file?"))) events.push(event);
    const final = events.at(-1) as { kind: string; status: { state: string; message?: Message } };
    assert.equal(final.kind, "status-update");
    assert.equal(final.status.state, "completed");
    const streamed = JSON.stringify(events);
    assert.match(streamed, /is on file/);
    assert.ok(!streamed.includes(CARD), "no clear card number");

    const direct = await agentClient(agentServer.url, "agent", upstream.key);
    const straight: unknown[] = [];
    for await (const event of direct.sendMessageStream(userMessage("what is on file?"))) straight.push(event);
    assert.ok(JSON.stringify(straight).includes(CARD), "direct, the card is there to be masked");
  });

  test("another caller can neither continue a conversation nor read a task on a thread it does not own", { timeout: 60_000 }, async () => {
    // alice's conversation: a thread she created through the LangGraph API, so it carries her stamp.
    const thread = (await (await fetch(`${gateway.url}/threads`, { method: "POST", headers: { "x-api-key": keys.alice.key, "content-type": "application/json" }, body: "{}" })).json()) as { thread_id: string };
    const alice = await agentClient(gateway.url, "echo", keys.alice.key);
    const task = (await alice.sendMessage(userMessage("hello", thread.thread_id))) as Task;
    assert.equal(task.contextId, thread.thread_id);
    assert.equal(((await alice.getTask({ id: task.id, contextId: thread.thread_id } as { id: string })) as Task).id, task.id, "alice reads her task");

    const bob = await agentClient(gateway.url, "echo", keys.bob.key);
    const before = agentServer.messages.length;
    await assert.rejects(bob.sendMessage(userMessage("me too", thread.thread_id)), /404|not found/i);
    assert.equal(agentServer.messages.length, before, "bob's message never reached the server");
    await assert.rejects(bob.getTask({ id: task.id, contextId: thread.thread_id } as { id: string }), /404|not found/i);
    // Without the thread, a task cannot be tied to its owner: refused before the server.
    await assert.rejects(bob.getTask({ id: task.id }), /400|contextId/);
    const refusals = (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request" && record.path === "/a2a/echo" && record.identity?.subject === "sa:bob");
    assert.equal(refusals.length, 3);
    assert.ok(refusals.every((record) => record.decision.effect === "deny"));
  });

  test("a conversation the server started on a thread of its own has no owner: its next message is refused under the built-in policy", { timeout: 60_000 }, async () => {
    const alice = await agentClient(gateway.url, "echo", keys.alice.key);
    const first = (await alice.sendMessage(userMessage("one"))) as Task;
    assert.equal(first.status.state, "completed");
    await assert.rejects(alice.sendMessage(userMessage("two", first.contextId)), /404/);
  });

  test("a method the gateway does not know is JSON-RPC's 'Method not found', not forwarded", async () => {
    const answer = await fetch(`${gateway.url}/a2a/echo`, {
      method: "POST",
      headers: { "x-api-key": keys.alice.key, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tasks/pushNotificationConfig/set", params: { taskId: "t", pushNotificationConfig: { url: "https://attacker.example/hook" } } }),
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("x-portcullis-error"), "PC_BAD_REQUEST");
    assert.deepEqual(await answer.json(), { jsonrpc: "2.0", id: 7, error: { code: -32601, message: "Method not found: tasks/pushNotificationConfig/set" } });
    const record = (await gateway.recordsFor(answer.headers.get("x-request-id")!)).find((entry): entry is RequestRecord => entry.type === "request");
    assert.equal(record?.decision.effect, "deny");
    assert.equal(record?.error, "PC_BAD_REQUEST");

    // Nor may a message ask the agent to post its updates to a URL of the caller's choosing.
    const before = agentServer.messages.length;
    const hooked = await fetch(`${gateway.url}/a2a/echo`, {
      method: "POST",
      headers: { "x-api-key": keys.alice.key, "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 8, method: "message/send", params: { ...userMessage("hi"), configuration: { pushNotificationConfig: { url: "https://attacker.example/hook" } } } }),
    });
    assert.equal(hooked.status, 400);
    assert.match(((await hooked.json()) as { message: string }).message, /push notifications are not forwarded/);
    assert.equal(agentServer.messages.length, before);
  });
});
