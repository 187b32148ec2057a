// What the ledger says about a held stream whose approval is denied: the client got HTTP 200
// (the stream was held open with heartbeats) and then an SSE error event, so the records say
// 200 and the completion record names the error, on the real LangGraph server with the SDK.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { eventually, sdkDirect, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create]
  - id: agent-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers], expires_after_s: 60 }
`;

describe("a held stream whose approval is denied", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let dir: string;
  const alice = generateApiKey();
  const carol = generateApiKey();

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-held-denial-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(upstream, {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: alice.sha256, groups: ["analysts"] },
          { id: "carol", key_sha256: carol.sha256, groups: ["approvers"] },
        ],
      },
      approvals: { sweep_ms: 100 },
    });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("is recorded as the client got it: status 200, and a completion record saying the stream ended with PC_APPROVAL_DENIED", async () => {
    const client = new Client({ apiUrl: gateway.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } });
    const thread = await client.threads.create();
    const response = fetch(`${gateway.url}/threads/${thread.thread_id}/runs/stream`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json" },
      body: JSON.stringify({ assistant_id: "agent", input: { messages: [{ role: "user", content: "hi" }] } }),
    });
    const approvalId = await eventually(async () => {
      const pending = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { authorization: `Bearer ${carol.key}` } });
      const { approvals } = (await pending.json()) as { approvals: { approval_id: string }[] };
      assert.equal(approvals.length, 1);
      return approvals[0]!.approval_id;
    }, 10_000);
    const denied = await fetch(`${gateway.url}/portcullis/approvals/${approvalId}/deny`, {
      method: "POST",
      headers: { authorization: `Bearer ${carol.key}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "not during the freeze" }),
    });
    assert.equal(denied.status, 200);

    // What the client got: 200, the gateway's notice, then the error event.
    const held = await response;
    assert.equal(held.status, 200);
    const requestId = held.headers.get("x-request-id")!;
    const stream = await held.text();
    assert.match(stream, /^event: portcullis\/approval$/m);
    assert.match(stream, /^event: error\ndata: \{"error":"PC_APPROVAL_DENIED"/m);
    assert.equal((await sdkDirect(upstream).runs.list(thread.thread_id)).length, 0, "LangGraph never saw the run");

    const records = await eventually(async () => {
      const found = await gateway.recordsFor(requestId);
      assert.ok(found.some((r) => r.type === "completion"), "a completion record");
      return found;
    });
    const request = records.find((r): r is RequestRecord => r.type === "request")!;
    assert.equal(request.status, 200, "the request record says what the client got");
    assert.equal(request.error, "PC_APPROVAL_DENIED");
    assert.equal(request.decision.effect, "require-approval");
    assert.deepEqual(request.approval, { via: "asked", approval_id: approvalId });
    assert.equal(request.identity?.subject, "sa:alice");
    const completion = records.find((r): r is CompletionRecord => r.type === "completion")!;
    assert.equal(completion.status, 200);
    assert.equal(completion.error, "PC_APPROVAL_DENIED", "the stream ended with the approval-denied error");
    assert.equal(completion.upstream_status, null, "nothing was forwarded");
    assert.equal(completion.bytes_out, Buffer.byteLength(stream), "the bytes the client got, notice and error event included");
    assert.equal(records.filter((r) => r.type === "request").length, 1);
  });
});
