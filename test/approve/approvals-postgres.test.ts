// Several gateways on one PostgreSQL: approvals live beside the ledger, so an approval given on
// one instance releases the request held on another (LISTEN/NOTIFY), and only one request ever
// uses an approval however many instances race for it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { alice, bob, startApprovalGateways, type ApprovalGateways } from "../support/approvalGateways.js";
import { eventually, type TestGateway } from "../support/stack.js";

describe("approvals on PostgreSQL with two gateways", () => {
  let pair: ApprovalGateways;
  let first: TestGateway;
  let second: TestGateway;

  before(async () => {
    pair = await startApprovalGateways();
    [first, second] = pair.gateways;
  });
  after(async () => {
    await pair?.close();
  });

  it("releases a stream held on one instance when the approval is given on the other", async () => {
    const client = new Client({ apiUrl: first.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } });
    const thread = await client.threads.create();
    const chunks: { event: string }[] = [];
    const streamed = (async () => {
      for await (const chunk of client.runs.stream(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hi" }] } })) chunks.push(chunk);
    })();
    const approvalId = await eventually(async () => {
      const answer = await fetch(`${second.url}/portcullis/approvals?state=pending`, { headers: { authorization: `Bearer ${bob.key}` } });
      const { approvals } = (await answer.json()) as { approvals: { approval_id: string }[] };
      assert.equal(approvals.length, 1);
      return approvals[0]!.approval_id;
    });
    const approvedAt = Date.now();
    const decided = await fetch(`${second.url}/portcullis/approvals/${approvalId}/approve`, { method: "POST", headers: { authorization: `Bearer ${bob.key}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(decided.status, 200);
    await eventually(async () => assert.ok(chunks.some((c) => c.event === "metadata"), "not yet: chunks.some((c) => c.event === \"metadata\")"), 5_000);
    assert.ok(Date.now() - approvedAt < 5_000, "released by the notification, not the 10 s sweep");
    await streamed;
    assert.ok(chunks.some((c) => c.event === "values"));
  });

  it("lets only one of two instances use an approval", async () => {
    const body = JSON.stringify({ assistant_id: "agent", input: { messages: [{ role: "user", content: "race" }] } });
    const thread = await new Client({ apiUrl: first.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } }).threads.create();
    // A held client that left: its approval stays pending, and any retry may use it once approved.
    const left = new AbortController();
    const asked = await fetch(`${first.url}/threads/${thread.thread_id}/runs/wait`, { method: "POST", headers: { "x-api-key": alice.key, "content-type": "application/json" }, body, signal: left.signal });
    const approval_id = asked.headers.get("portcullis-approval-id")!;
    left.abort();
    await fetch(`${second.url}/portcullis/approvals/${approval_id}/approve`, { method: "POST", headers: { authorization: `Bearer ${bob.key}`, "content-type": "application/json" }, body: "{}" });
    const retry = (gateway: TestGateway) =>
      fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, { method: "POST", headers: { "x-api-key": alice.key, "content-type": "application/json", "portcullis-approval-id": approval_id }, body }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const answers = await Promise.all([retry(first), retry(second), retry(first), retry(second)]);
    assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(answers.filter((a) => a.status === 409 && a.text.includes("PC_APPROVAL_USED")).length, 3);
  });
});
