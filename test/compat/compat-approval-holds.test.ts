// A request held for approval is something the official SDK can see: without Prefer:
// respond-async it waits on the open connection, then resolves with LangGraph's own answer once
// approved, or throws (403 denied, 504 still pending after approvals.hold_max_s, naming the
// approval and its status URL). It never resolves undefined, as a 202 would make it.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { eventually, sdkDirect, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create, runs:resume]
  - id: steering-needs-approval
    effect: require-approval
    subjects: "*"
    actions: [state:write, runs:continue, threads:copy]
    approval: { approver_groups: [approvers] }
`;

interface Checkpointed {
  checkpoint: { thread_id: string; checkpoint_id: string };
}

interface HttpError {
  status?: number;
  message: string;
}

describe("approval holds the SDK surfaces", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let dir: string;
  let alice: Client;
  const aliceKey = generateApiKey();
  const carolKey = generateApiKey();

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-holds-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(upstream, {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      approvals: { sweep_ms: 100 },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: aliceKey.sha256, groups: [] },
          { id: "carol", key_sha256: carolKey.sha256, groups: ["approvers"] },
        ],
      },
    });
    alice = new Client({ apiUrl: gateway.url, apiKey: aliceKey.key, callerOptions: { maxRetries: 0 } });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The pending approval for a path on this thread, as approvers see it. */
  async function pendingFor(threadId: string): Promise<string> {
    return eventually(async () => {
      const answer = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { authorization: `Bearer ${carolKey.key}` } });
      const { approvals } = (await answer.json()) as { approvals: { approval_id: string; request: { path: string } }[] };
      const found = approvals.find((approval) => approval.request.path.includes(threadId));
      assert.ok(found, "an approval is pending");
      return found.approval_id;
    }, 10_000);
  }

  async function decide(approvalId: string, verdict: "approve" | "deny"): Promise<void> {
    const answer = await fetch(`${gateway.url}/portcullis/approvals/${approvalId}/${verdict}`, {
      method: "POST",
      headers: { authorization: `Bearer ${carolKey.key}`, "content-type": "application/json" },
      body: JSON.stringify(verdict === "deny" ? { reason: "not now" } : {}),
    });
    assert.equal(answer.status, 200);
  }

  async function interruptedThread(): Promise<string> {
    const thread = await alice.threads.create();
    await alice.runs.wait(thread.thread_id, "hitl", { input: { request: "wire $500 to ACME" } });
    return thread.thread_id;
  }

  test("threads.updateState resolves with LangGraph's answer once approved, and the write reaches the thread as sent", async () => {
    const threadId = await interruptedThread();
    const update = alice.threads.updateState(threadId, { values: { decision: "yes" }, asNode: "approve" });
    const approvalId = await pendingFor(threadId);
    assert.equal(((await sdkDirect(upstream).threads.getState(threadId)).values as { decision?: string }).decision, undefined, "nothing written before approval");
    await decide(approvalId, "approve");
    // The SDK types this as a config; LangGraph answers {checkpoint: {...}}.
    const result = (await update) as unknown as Checkpointed;
    assert.ok(result, "not undefined");
    assert.equal(result.checkpoint.thread_id, threadId);
    const state = await sdkDirect(upstream).threads.getState(threadId);
    assert.equal((state.values as { decision?: string }).decision, "yes");
    assert.equal(state.checkpoint.checkpoint_id, result.checkpoint.checkpoint_id);
  });

  test("a state write on a thread created with its graph id (never run) also reaches it", async () => {
    const thread = await alice.threads.create({ graphId: "hitl" });
    const update = alice.threads.updateState(thread.thread_id, { values: { request: "wire $7 to ACME" }, asNode: "plan" });
    await decide(await pendingFor(thread.thread_id), "approve");
    const result = (await update) as unknown as Checkpointed;
    assert.equal(result.checkpoint.thread_id, thread.thread_id);
    assert.equal(((await sdkDirect(upstream).threads.getState(thread.thread_id)).values as { request?: string }).request, "wire $7 to ACME");
  });

  test("an input: null continue resolves with the run LangGraph created once approved", async () => {
    const threadId = await interruptedThread();
    const run = alice.runs.create(threadId, "hitl", { input: null });
    await decide(await pendingFor(threadId), "approve");
    const created = await run;
    assert.ok(created?.run_id, "the run object, not undefined");
    assert.equal(created.thread_id, threadId);
  });

  test("a denied hold makes the SDK throw 403, naming the approval and where to follow it", async () => {
    const threadId = await interruptedThread();
    const update = alice.threads.updateState(threadId, { values: { decision: "yes" }, asNode: "approve" });
    const approvalId = await pendingFor(threadId);
    await decide(approvalId, "deny");
    const error = await update.then(
      () => assert.fail("resolved"),
      (caught: HttpError) => caught,
    );
    assert.equal(error.status, 403);
    assert.match(error.message, /PC_APPROVAL_DENIED/);
    assert.match(error.message, new RegExp(approvalId));
    assert.match(error.message, new RegExp(`/portcullis/approvals/${approvalId}`));
    assert.equal(((await sdkDirect(upstream).threads.getState(threadId)).values as { decision?: string }).decision, undefined);
  });

  test("a hold still pending after approvals.hold_max_s makes the SDK throw 504; the approval stays pending and can be used", async () => {
    const gate = gateway.gateway.pipeline.approvalGate;
    const bound = gate.holdMaxMs;
    gate.holdMaxMs = 1_000;
    try {
      const threadId = await interruptedThread();
      const error = await alice.threads.copy(threadId).then(
        () => assert.fail("resolved"),
        (caught: HttpError) => caught,
      );
      assert.equal(error.status, 504);
      const body = JSON.parse(error.message.replace(/^HTTP 504: /, "")) as { error: string; approval_id: string; status_url: string };
      assert.equal(body.error, "PC_APPROVAL_PENDING");
      assert.equal(await pendingFor(threadId), body.approval_id);
      assert.match(body.status_url, new RegExp(`/portcullis/approvals/${body.approval_id}$`));
      // Once approved, the same request names its approval and goes through.
      await decide(body.approval_id, "approve");
      const copy = await fetch(`${gateway.url}/threads/${threadId}/copy`, { method: "POST", headers: { "x-api-key": aliceKey.key, "portcullis-approval-id": body.approval_id } });
      assert.equal(copy.status, 200);
      assert.notEqual(((await copy.json()) as { thread_id: string }).thread_id, threadId);
    } finally {
      gate.holdMaxMs = bound;
    }
  });

  test("Prefer: respond-async keeps the deferred path: 202 with the status URL, sent by Portcullis once approved", async () => {
    const threadId = await interruptedThread();
    const asked = await fetch(`${gateway.url}/threads/${threadId}/state`, {
      method: "POST",
      headers: { "x-api-key": aliceKey.key, "content-type": "application/json", prefer: "respond-async" },
      body: JSON.stringify({ values: { decision: "yes" }, as_node: "approve" }),
    });
    assert.equal(asked.status, 202);
    const view = (await asked.json()) as { approval_id: string; status_url: string; mode: string };
    assert.equal(view.mode, "deferred");
    assert.equal(asked.headers.get("location"), view.status_url);
    await decide(view.approval_id, "approve");
    const done = await eventually(async () => {
      const status = (await (await fetch(view.status_url, { headers: { "x-api-key": aliceKey.key } })).json()) as { result?: { status: number; body: { checkpoint?: { thread_id: string } } } };
      assert.equal(status.result?.status, 200, JSON.stringify(status));
      return status.result!;
    }, 10_000);
    assert.equal(done.body.checkpoint?.thread_id, threadId);
    assert.equal(((await sdkDirect(upstream).threads.getState(threadId)).values as { decision?: string }).decision, "yes");
    const records = await gateway.audit();
    assert.ok(records.some((record) => record.type === "request" && (record as RequestRecord).approval?.approval_id === view.approval_id));
  });
});
