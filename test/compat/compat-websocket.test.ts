// Protocol v2 over WebSocket through the gateway, with the official SDK's WebSocket transport:
// the run reaches what it reaches direct, every command frame is classified, authorised and
// recorded as its HTTP twin (POST /threads/{id}/commands), every event frame is masked, and a
// handshake the pipeline refuses is answered with that refusal.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import WebSocket from "ws";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { AuditRecord, CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: everyone-reads
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read]
  - id: runners-run
    effect: allow
    subjects: { groups: [runners] }
    actions: [runs:create]
  - id: answers-need-approval
    effect: require-approval
    subjects: { groups: [runners] }
    actions: [runs:resume]
    approval: { approver_groups: [approvers] }
`;

const CARD = "4111 1111 1111 1111";

/** A client on the SDK's WebSocket transport; the key goes on the handshake, as a Node client
 * sends it (the SDK's browser transport takes no headers). `frames` collects what arrived. */
function socketClient(url: string, key: string | undefined, frames: string[] = []) {
  const client = new Client({ apiUrl: url, callerOptions: { maxRetries: 0 } });
  const webSocketFactory = (socketUrl: string) => {
    const socket = new WebSocket(socketUrl, key ? { headers: { "x-api-key": key } } : {});
    socket.on("message", (data) => frames.push(String(data)));
    return socket as unknown as globalThis.WebSocket;
  };
  return { client, frames, stream: (assistantId: string, threadId?: string) => (threadId ? client.threads.stream(threadId, { assistantId, transport: "websocket", maxReconnectAttempts: 0, webSocketFactory }) : client.threads.stream({ assistantId, transport: "websocket", maxReconnectAttempts: 0, webSocketFactory })) };
}

function requests(records: AuditRecord[]): RequestRecord[] {
  return records.filter((record): record is RequestRecord => record.type === "request");
}

/** The status of a handshake the gateway refused. */
function handshakeStatus(url: string, key?: string): Promise<{ status: number; error: string | undefined; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, key ? { headers: { "x-api-key": key } } : {});
    socket.on("unexpected-response", (_request, response) => {
      resolve({ status: response.statusCode ?? 0, error: response.headers["x-portcullis-error"] as string | undefined, requestId: response.headers["x-request-id"] as string | undefined });
      response.resume();
      socket.terminate();
    });
    socket.on("open", () => {
      socket.close();
      reject(new Error("the handshake was accepted"));
    });
    socket.on("error", () => undefined);
  });
}

describe("protocol v2 over WebSocket", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let dir: string;
  const runner = generateApiKey();
  const reader = generateApiKey();
  const other = generateApiKey();
  const approver = generateApiKey();

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-ws-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(upstream, {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      approvals: { sweep_ms: 100 },
      identity: {
        service_accounts: [
          { id: "runner", key_sha256: runner.sha256, groups: ["runners"] },
          { id: "reader", key_sha256: reader.sha256, groups: [] },
          { id: "other", key_sha256: other.sha256, groups: ["runners"] },
          { id: "approver", key_sha256: approver.sha256, groups: ["approvers"] },
        ],
      },
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the SDK's WebSocket transport reaches the same interrupt as direct", { timeout: 60_000 }, async () => {
    const interruptOf = async (url: string, key: string) => {
      const thread = socketClient(url, key).stream("hitl");
      try {
        await thread.run.start({ input: { request: "wire $7 to ACME" } });
        const output = await thread.output;
        return { output, interrupted: thread.interrupted, payloads: thread.interrupts.map((interrupt) => interrupt.payload) };
      } finally {
        await thread.close();
      }
    };
    const direct = await interruptOf(upstream.url, upstream.key);
    const through = await interruptOf(gateway.url, runner.key);
    assert.equal(direct.interrupted, true);
    assert.deepEqual(direct.payloads, [{ question: "Approve this action?", action: "wire $7 to ACME" }]);
    assert.deepEqual(through, direct);
  });

  test("each command frame is recorded as its HTTP twin, under the caller's identity, and the socket's event stream too", { timeout: 60_000 }, async () => {
    const thread = socketClient(gateway.url, runner.key).stream("hitl");
    try {
      await thread.run.start({ input: { request: "wire $8 to ACME" } });
      await thread.output;
    } finally {
      await thread.close();
    }
    const threadId = thread.threadId;
    const onThread = await eventually(async () => {
      const found = requests(await gateway.audit()).filter((record) => record.path === `/threads/${threadId}/commands` || record.path === `/threads/${threadId}/stream/events`);
      assert.ok(found.some((record) => record.operation?.route === "protocol.events" && record.decision.effect === "allow"), "not yet: found.some((record) => record.operation?.route === \"protocol.events\" && record.decision...");
      return found;
    });
    const start = onThread.find((record) => record.operation?.route === "protocol.command" && record.operation.actions.includes("runs:create"));
    assert.ok(start, "run.start was recorded as a protocol command");
    assert.equal(start.operation!.risk, "execute");
    assert.equal(start.decision.effect, "allow");
    for (const record of onThread) {
      assert.equal(record.identity?.subject, "sa:runner");
      assert.equal(record.client.address, "127.0.0.1");
    }
    // The thread did not exist at the handshake (its refusal is recorded too); the stream opened
    // once run.start had created it, and it is completed once the socket closes.
    assert.ok(onThread.some((record) => record.operation?.route === "protocol.events" && record.error === "PC_NOT_FOUND"), "onThread.some((record) => record.operation?.route === \"protocol.events\" && record.error...");
    const events = onThread.find((record) => record.operation?.route === "protocol.events" && record.decision.effect === "allow")!;
    await eventually(async () => assert.ok((await gateway.recordsFor(events.request_id)).some((record): record is CompletionRecord => record.type === "completion"), "not yet: (await gateway.recordsFor(events.request_id)).some((record): record is CompletionRecord..."));
  });

  test("run.start from a caller the policy does not let run is refused in-band, and no run starts", { timeout: 60_000 }, async () => {
    const thread = socketClient(gateway.url, reader.key).stream("hitl");
    try {
      const refused = await thread.run.start({ input: { request: "wire $9 to ACME" } }).then(
        () => assert.fail("run.start resolved"),
        (error: Error & { code?: string }) => error,
      );
      assert.equal(refused.code, "permission_denied");
      assert.match(refused.message, /PC_FORBIDDEN/);
    } finally {
      await thread.close();
    }
    const threadId = thread.threadId;
    const direct = new Client({ apiUrl: upstream.url, apiKey: upstream.key });
    assert.deepEqual(await direct.threads.getState(threadId).then((state) => state.values, () => "no such thread"), "no such thread");
    const refusal = requests(await gateway.audit()).find((record) => record.path === `/threads/${threadId}/commands` && record.decision.effect === "deny");
    assert.ok(refusal, "the refused command is recorded");
    assert.equal(refusal.error, "PC_FORBIDDEN");
  });

  test("an answer to an interrupt waits for approval on the socket, then resumes the run", { timeout: 60_000 }, async () => {
    const thread = socketClient(gateway.url, runner.key).stream("hitl");
    try {
      await thread.run.start({ input: { request: "wire $12 to ACME" } });
      await thread.output;
      const [interrupt] = thread.interrupts;
      assert.ok(interrupt, "the run stopped at its interrupt");
      let answered = false;
      const respond = thread.input.respond({ namespace: [], interrupt_id: interrupt.interruptId, response: "yes" }).then(() => (answered = true));
      const approvalId = await eventually(async () => {
        const answer = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { "x-api-key": approver.key } });
        const { approvals } = (await answer.json()) as { approvals: { approval_id: string; request: { path: string } }[] };
        const found = approvals.find((approval) => approval.request.path === `/threads/${thread.threadId}/commands`);
        assert.ok(found, "an approval is pending for the answer");
        return found.approval_id;
      }, 10_000);
      assert.equal(answered, false, "the answer is held while the approval is pending");
      const decided = await fetch(`${gateway.url}/portcullis/approvals/${approvalId}/approve`, { method: "POST", headers: { "x-api-key": approver.key, "content-type": "application/json" }, body: "{}" });
      assert.equal(decided.status, 200);
      await respond;
      await eventually(async () => {
        const latest = await new Client({ apiUrl: upstream.url, apiKey: upstream.key }).threads.getState<{ result?: string }>(thread.threadId);
        assert.equal(latest.values.result, "executed: wire $12 to ACME");
      }, 20_000);
    } finally {
      await thread.close();
    }
  });

  test("event frames are masked", { timeout: 60_000 }, async () => {
    const frames: string[] = [];
    const thread = socketClient(gateway.url, runner.key, frames).stream("agent");
    try {
      await thread.run.start({ input: { messages: [{ role: "user", content: "what is on file?" }] } });
      await thread.output;
    } finally {
      await thread.close();
    }
    const events = frames.filter((frame) => (JSON.parse(frame) as { type: string }).type === "event");
    assert.ok(events.some((frame) => frame.includes("on file")), "the model's answer came through");
    assert.ok(!frames.some((frame) => frame.includes(CARD) || frame.includes("billing@example.com")), "nothing unmasked reached the client");
    assert.ok(events.some((frame) => frame.includes("CREDIT_CARD") || frame.includes("EMAIL_ADDRESS")), "the masked placeholders are there");
  });

  test("an unknown method is the protocol's error frame and is never forwarded", { timeout: 30_000 }, async () => {
    const socket = new WebSocket(`${gateway.url.replace("http", "ws")}/threads/${crypto.randomUUID()}/stream/events`, { headers: { "x-api-key": runner.key } });
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    const reply = new Promise<string>((resolve) => socket.once("message", (data) => resolve(String(data))));
    socket.send(JSON.stringify({ id: 3, method: "thread.destroy", params: {} }));
    assert.deepEqual(JSON.parse(await reply), { type: "error", id: 3, error: "unknown_command", message: "Unknown protocol command: thread.destroy" });
    socket.close();
  });

  test("a handshake without a credential is refused with the pipeline's 401, and recorded", async () => {
    const refused = await handshakeStatus(`${gateway.url.replace("http", "ws")}/threads/${crypto.randomUUID()}/stream/events`);
    assert.equal(refused.status, 401);
    const records = await gateway.recordsFor(refused.requestId!);
    assert.equal(records.length, 1);
    assert.equal((records[0] as RequestRecord).status, 401);
  });

  test("a page on an origin that is not allowed cannot open a socket, even with a credential", async () => {
    const url = `${gateway.url.replace("http", "ws")}/threads/${crypto.randomUUID()}/stream/events`;
    const refused = await new Promise<{ status: number; requestId?: string }>((resolve) => {
      const socket = new WebSocket(url, { headers: { "x-api-key": runner.key }, origin: "https://elsewhere.example" });
      socket.on("unexpected-response", (_request, response) => {
        resolve({ status: response.statusCode ?? 0, requestId: response.headers["x-request-id"] as string | undefined });
        response.resume();
        socket.terminate();
      });
      socket.on("open", () => resolve({ status: 101 }));
      socket.on("error", () => undefined);
    });
    assert.equal(refused.status, 403);
    await eventually(async () => {
      const [record] = await gateway.recordsFor(refused.requestId!);
      assert.equal((record as RequestRecord).error, "PC_FORBIDDEN");
    });
  });

  test("a frame over limits.max_body_bytes closes the socket, and shutdown closes it as going away", { timeout: 60_000 }, async () => {
    const small = await startTestGateway(upstream, { limits: { max_body_bytes: 1024 }, shutdown: { drain_ms: 200 } });
    try {
      const url = `${small.url.replace("http", "ws")}/threads/${crypto.randomUUID()}/stream/events`;
      const open = async () => {
        const socket = new WebSocket(url, { headers: { "x-api-key": small.key } });
        await new Promise((resolve, reject) => {
          socket.once("open", resolve);
          socket.once("error", reject);
        });
        return { socket, closed: new Promise<number>((resolve) => socket.once("close", (code) => resolve(code))) };
      };
      const large = await open();
      large.socket.send(JSON.stringify({ id: 1, method: "state.get", params: { padding: "x".repeat(4096) } }));
      assert.equal(await large.closed, 1009);

      const held = await open();
      await small.close();
      assert.equal(await held.closed, 1001);
    } finally {
      await small.close();
    }
  });

  test("a socket on another caller's thread carries none of its events and none of its commands", { timeout: 60_000 }, async () => {
    const owner = socketClient(gateway.url, runner.key).stream("hitl");
    try {
      await owner.run.start({ input: { request: "wire $10 to ACME" } });
      await owner.output;
    } finally {
      await owner.close();
    }
    const threadId = owner.threadId;
    const frames: string[] = [];
    const intruder = socketClient(gateway.url, other.key, frames).stream("hitl", threadId);
    try {
      const refused = await intruder.run.start({ input: { request: "wire $11 to ACME" } }).then(
        () => assert.fail("run.start resolved"),
        (error: Error & { code?: string }) => error,
      );
      assert.equal(refused.code, "permission_denied");
      assert.match(refused.message, /PC_NOT_FOUND/);
    } finally {
      await intruder.close();
    }
    assert.ok(!frames.some((frame) => frame.includes("wire $10")), "none of the owner's events reached the other caller");
  });
});
