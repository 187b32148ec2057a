// Several gateways on one PostgreSQL: approvals live beside the ledger, so an approval given on
// one instance releases the request held on another (LISTEN/NOTIFY), and only one request ever
// uses an approval however many instances race for it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { startPostgres, type TestPostgres } from "./support/postgres.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "./support/stack.js";

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
    approval: { approver_groups: [approvers] }
`;

const alice = { ...generateApiKey(), groups: ["analysts"] };
const bob = { ...generateApiKey(), groups: ["approvers"] };

describe("approvals on PostgreSQL with two gateways", () => {
  let upstream: Upstream;
  let postgres: TestPostgres;
  let dir: string;
  let first: TestGateway;
  let second: TestGateway;
  const secretEnv = `PORTCULLIS_TEST_PG_${randomBytes(4).toString("hex")}`;

  before(async () => {
    [upstream, postgres] = await Promise.all([startLangGraph(), startPostgres()]);
    process.env[secretEnv] = postgres.url;
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-approvals-pg-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    const schema = `t_${randomBytes(4).toString("hex")}`;
    const overrides = {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: alice.sha256, groups: alice.groups },
          { id: "bob", key_sha256: bob.sha256, groups: bob.groups },
        ],
      },
      // A slow sweep: only a notification can release the held request quickly.
      approvals: { sweep_ms: 10_000 },
    };
    first = await startTestGateway(upstream, { ...overrides, audit: { store: { kind: "postgres", url: { env: secretEnv }, schema }, signing_key_file: path.join(dir, "key-1.pem") } });
    second = await startTestGateway(upstream, { ...overrides, audit: { store: { kind: "postgres", url: { env: secretEnv }, schema }, signing_key_file: path.join(dir, "key-2.pem") } });
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await upstream.stop();
    await postgres.stop();
    delete process.env[secretEnv];
    await rm(dir, { recursive: true, force: true });
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
