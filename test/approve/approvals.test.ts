// Just-in-time approvals on the real data path: the real LangGraph server, the official SDK as
// the requester, approvers deciding through the REST API. A held stream continues as an ordinary
// stream once approved and ends with a clear error when denied or expired; nothing that needs
// approval reaches LangGraph before it is approved.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { verifyWebhookSignature } from "../../src/approve/notify/index.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { ApprovalRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { eventually, sdkDirect, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create, runs:resume, runs:cancel]
  - id: agent-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers], expires_after_s: 60, max_window_s: 120, break_glass_groups: [oncall] }
  - id: echo-runs-need-two
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [echo] }
    approval: { approver_groups: [approvers], approvals: 2 }
  - id: slow-runs-expire
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [slow] }
    approval: { approver_groups: [approvers], expires_after_s: 5, justification: required }
  - id: resumes-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:resume]
    resources: { graphs: [hitl] }
    approval: { approver_groups: [approvers] }
  - id: steering-needs-approval
    effect: require-approval
    subjects: "*"
    actions: [state:write, runs:continue, threads:copy]
    approval: { approver_groups: [approvers] }
run_body:
  pause_before:
    - graphs: [tools]
      nodes: [tools]
`;

interface Person {
  id: string;
  key: string;
  groups: string[];
}

function person(id: string, groups: string[]): Person & { entry: { id: string; key_sha256: string; groups: string[] } } {
  const { key, sha256 } = generateApiKey();
  return { id, key, groups, entry: { id, key_sha256: sha256, groups } };
}

const alice = person("alice", ["analysts"]);
const bob = person("bob", ["analysts", "approvers"]);
const carol = person("carol", ["approvers"]);
const dave = person("dave", ["oncall"]);
const PEOPLE = [alice, bob, carol, dave];

function sdkAs(gateway: TestGateway, who: Person, headers: Record<string, string> = {}): Client {
  return new Client({ apiUrl: gateway.url, apiKey: who.key, defaultHeaders: headers, callerOptions: { maxRetries: 0 } });
}

interface ApprovalView {
  approval_id: string;
  state: string;
  mode: string;
  requester: { subject: string };
  request: { method: string; path: string; actions: string[]; graphs: string[] };
  rule: string;
  approvals_given: number;
  approvals_required: number;
  justification: string | null;
  details: { body?: unknown; thread?: { next: string[]; tool_calls: { name: string; args: Record<string, string> }[]; interrupts: unknown[] } };
  grant: { grant_id: string; expires_at: string } | null;
  result: { status: number; run_id?: string; thread_id?: string; body: unknown } | null;
  status_url: string;
}

async function api(gateway: TestGateway, who: Person, method: string, apiPath: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${who.key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** The one pending approval of `requester` on `graph`, as an approver sees it. */
async function pendingApproval(gateway: TestGateway, approver: Person, requester: Person, graph: string): Promise<ApprovalView> {
  return eventually(async () => {
    const { json } = await api(gateway, approver, "GET", "/portcullis/approvals?state=pending");
    const found = (json.approvals as ApprovalView[]).filter((a) => a.requester.subject === `sa:${requester.id}` && a.request.graphs.includes(graph));
    assert.equal(found.length, 1, `pending approvals of ${requester.id} on ${graph}: ${JSON.stringify(json)}`);
    return found[0]!;
  }, 10_000);
}

function decide(gateway: TestGateway, approver: Person, id: string, verdict: "approve" | "deny", body: Record<string, unknown> = {}) {
  return api(gateway, approver, "POST", `/portcullis/approvals/${id}/${verdict}`, body);
}

type Chunk = { event: string; data: unknown };

/** Starts an SDK stream and collects it in the background. */
function collect(stream: AsyncIterable<Chunk>): Promise<Chunk[]> {
  return (async () => {
    const chunks: Chunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  })();
}

async function approvalRecords(gateway: TestGateway, id: string): Promise<ApprovalRecord[]> {
  return (await gateway.audit()).filter((r): r is ApprovalRecord => r.type === "approval" && r.approval_id === id);
}

describe("approvals", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let dir: string;
  let webhook: Server;
  const delivered: { kind: string; body: string; signature: string }[] = [];
  const SECRET = "whsec-test-0123456789";
  let smtp: ChildProcess;
  let smtpPort: number;
  const mails: { secure: boolean; to: string[]; subject: string; text: string; html: string }[] = [];

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-approvals-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    await writeFile(path.join(dir, "webhook-secret"), SECRET);
    webhook = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      req.on("end", () => {
        delivered.push({ kind: String(req.headers["portcullis-event"]), body, signature: String(req.headers["portcullis-signature"]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
    // A local mail server in its own process, STARTTLS with a self-signed certificate.
    smtp = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("../support/smtpReceiver.ts", import.meta.url))], { stdio: ["ignore", "pipe", "inherit"] });
    smtpPort = await new Promise<number>((resolve, reject) => {
      smtp.once("exit", (code) => reject(new Error(`the SMTP receiver exited with ${code}`)));
      createInterface({ input: smtp.stdout! }).on("line", (line) => {
        const message = JSON.parse(line) as { ready?: boolean; port?: number };
        if (message.ready) resolve(message.port!);
        else mails.push(message as (typeof mails)[number]);
      });
    });
    gateway = await startTestGateway(upstream, {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: { service_accounts: PEOPLE.map((p) => p.entry) },
      approvals: {
        sweep_ms: 100,
        notify: {
          webhooks: [{ url: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`, secret: { file: path.join(dir, "webhook-secret") } }],
          email: { smtp: { host: "127.0.0.1", port: smtpPort, tls_reject_unauthorized: false }, from: "portcullis@example.com", to: ["approvers@example.com"] },
          retries: 0,
        },
      },
    });
  });
  after(async () => {
    await gateway.close();
    await upstream.stop();
    smtp.kill();
    webhook.closeAllConnections();
    await new Promise((resolve) => webhook.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("holds a stream until an approver allows it, then streams the run as usual; the ledger records each step", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const streamed = collect(client.runs.stream(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "mail jane.doe@example.com" }] }, streamMode: ["values"] }) as AsyncIterable<Chunk>);
    const approval = await pendingApproval(gateway, bob, alice, "agent");
    assert.equal(approval.mode, "held");
    assert.deepEqual(approval.request.actions, ["runs:create"]);
    assert.ok(!JSON.stringify(approval.details).includes("jane.doe@example.com"), "approvers see the input masked");
    assert.match(JSON.stringify(approval.details), /\[EMAIL_ADDRESS\]/);
    // Nothing reached LangGraph while it waited.
    assert.equal((await sdkDirect(upstream).runs.list(thread.thread_id)).length, 0);

    const decided = await decide(gateway, bob, approval.approval_id, "approve", { reason: "expected run" });
    assert.equal(decided.status, 200);
    assert.equal(decided.json.state, "approved");
    const chunks = await streamed;
    assert.equal(chunks[0]!.event, "portcullis/approval");
    assert.equal((chunks[0]!.data as { approval_id: string }).approval_id, approval.approval_id);
    assert.ok(chunks.some((c) => c.event === "metadata"), "the run's own stream follows");
    const last = chunks.filter((c) => c.event === "values").at(-1)!.data as { messages: { content: string }[] };
    assert.match(last.messages.at(-1)!.content, /Your card \[CREDIT_CARD\] is on file/);

    const records = await eventually(async () => {
      const found = await approvalRecords(gateway, approval.approval_id);
      assert.deepEqual(found.map((r) => r.event), ["requested", "voted", "approved", "used"]);
      return found;
    });
    assert.equal(records[1]!.actor, "sa:bob");
    assert.equal(records[3]!.request_id, records[0]!.request_id, "the held request itself went ahead");
    const request = (await gateway.recordsFor(records[0]!.request_id)).find((r): r is RequestRecord => r.type === "request")!;
    assert.equal(request.decision.effect, "require-approval");
    assert.deepEqual(request.approval, { via: "approved", approval_id: approval.approval_id, approvers: ["sa:bob"], justification: null });
  });

  it("ends a held stream with an error event naming the approval when it is denied; LangGraph never sees the run", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const streamed = collect(client.runs.stream(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hi" }] } }) as AsyncIterable<Chunk>);
    const approval = await pendingApproval(gateway, carol, alice, "agent");
    assert.equal((await decide(gateway, carol, approval.approval_id, "deny", {})).status, 400, "a denial needs a reason");
    assert.equal((await decide(gateway, carol, approval.approval_id, "deny", { reason: "not during the freeze" })).status, 200);
    const chunks = await streamed;
    const error = chunks.find((c) => c.event === "error")!.data as { error: string; message: string; approval_id: string };
    assert.equal(error.error, "PC_APPROVAL_DENIED");
    assert.equal(error.approval_id, approval.approval_id);
    assert.match(error.message, /denied by sa:carol: not during the freeze/);
    assert.ok(!chunks.some((c) => c.event === "metadata"));
    assert.equal((await sdkDirect(upstream).runs.list(thread.thread_id)).length, 0);
  });

  it("refuses self-approval, and a vote from outside the approver groups", async () => {
    const client = sdkAs(gateway, bob);
    const thread = await client.threads.create();
    const streamed = collect(client.runs.stream(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "hi" }] } }) as AsyncIterable<Chunk>);
    const approval = await pendingApproval(gateway, carol, bob, "agent");
    const self = await decide(gateway, bob, approval.approval_id, "approve");
    assert.equal(self.status, 403);
    assert.equal(self.json.error, "PC_SELF_APPROVAL");
    const outsider = await decide(gateway, alice, approval.approval_id, "approve");
    assert.equal(outsider.status, 404, "a non-approver is not shown someone else's approval");
    assert.equal((await decide(gateway, carol, approval.approval_id, "approve")).status, 200);
    assert.ok((await streamed).some((c) => c.event === "metadata"));
  });

  it("needs two different approvers when the rule asks for two", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const streamed = collect(client.runs.stream(thread.thread_id, "echo", { input: { messages: [{ role: "user", content: "hello" }] } }) as AsyncIterable<Chunk>);
    const approval = await pendingApproval(gateway, bob, alice, "echo");
    const first = await decide(gateway, bob, approval.approval_id, "approve");
    assert.equal(first.json.state, "pending");
    assert.equal(first.json.approvals_given, 1);
    assert.equal((await decide(gateway, bob, approval.approval_id, "approve")).status, 409, "one vote per approver");
    assert.equal((await sdkDirect(upstream).runs.list(thread.thread_id)).length, 0);
    const second = await decide(gateway, carol, approval.approval_id, "approve");
    assert.equal(second.json.state, "approved");
    assert.ok((await streamed).some((c) => c.event === "metadata"));
  });

  it("expires a pending approval and tells the held client; a justification is required where the rule says so", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const refused = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json" },
      body: JSON.stringify({ assistant_id: "slow", input: { count: 1 } }),
    });
    assert.equal(refused.status, 428);
    assert.equal(((await refused.json()) as { error: string }).error, "PC_JUSTIFICATION_REQUIRED");

    const justified = sdkAs(gateway, alice, { "portcullis-justification": "nightly reconciliation for jane.doe@example.com" });
    const started = Date.now();
    // The body is LangGraph's failed-run shape ({"__error__": …}), which the SDK raises.
    const failure = await justified.runs.wait(thread.thread_id, "slow", { input: { count: 1 } }).then(
      () => assert.fail("an expired approval must not return a result"),
      (error: Error) => error,
    );
    assert.match(failure.message, /^PC_APPROVAL_EXPIRED: Refused: approval [0-9a-f-]{36} expired before it was decided/);
    assert.ok(Date.now() - started >= 4_500, "held until the approval expired");
    const approvalId = /approval ([0-9a-f-]{36})/.exec(failure.message)![1]!;
    const approval = (await api(gateway, alice, "GET", `/portcullis/approvals/${approvalId}`)).json as unknown as ApprovalView;
    assert.equal(approval.state, "expired");
    assert.equal(approval.justification, "nightly reconciliation for [EMAIL_ADDRESS]");
    assert.deepEqual((await approvalRecords(gateway, approval.approval_id)).map((r) => r.event), ["requested", "expired"]);
  });

  it("lets a time-boxed grant cover the same requester, rule and graph until it ends", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const first = client.runs.wait(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "one" }] } });
    const approval = await pendingApproval(gateway, bob, alice, "agent");
    assert.equal((await decide(gateway, bob, approval.approval_id, "approve", { window_s: 999_999 })).status, 400, "windows are bounded by max_window_s");
    const decided = await decide(gateway, bob, approval.approval_id, "approve", { window_s: 3 });
    assert.ok((decided.json.grant as { grant_id: string }).grant_id);
    assert.ok(((await first) as { messages: unknown[] }).messages.length > 0);

    const second = (await client.runs.wait(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "two" }] } })) as { messages: unknown[] };
    assert.ok(second.messages.length > 0, "within the window: no approval asked");
    const granted = (await gateway.audit()).filter((r): r is ApprovalRecord => r.type === "approval" && r.event === "grant_used");
    assert.equal(granted.at(-1)!.grant!.id, (decided.json.grant as { grant_id: string }).grant_id);
    const request = (await gateway.recordsFor(granted.at(-1)!.request_id)).find((r): r is RequestRecord => r.type === "request")!;
    assert.equal(request.approval?.via, "grant");

    await new Promise((resolve) => setTimeout(resolve, 3_200));
    const third = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json", prefer: "respond-async" },
      body: JSON.stringify({ assistant_id: "agent", input: { messages: [{ role: "user", content: "three" }] } }),
    });
    assert.equal(third.status, 202, "after the window, approval is asked again");
    const pending = (await third.json()) as ApprovalView;
    assert.equal((await decide(gateway, bob, pending.approval_id, "deny", { reason: "cleanup" })).status, 200);
  });

  it("answers a background run 202 with a status URL and starts it once approved", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const response = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json", prefer: "respond-async" },
      body: JSON.stringify({ assistant_id: "agent", input: { messages: [{ role: "user", content: "background" }] } }),
    });
    assert.equal(response.status, 202);
    const asked = (await response.json()) as ApprovalView;
    assert.equal(response.headers.get("location"), asked.status_url);
    assert.equal(asked.mode, "deferred");
    assert.equal((await sdkDirect(upstream).runs.list(thread.thread_id)).length, 0);

    await decide(gateway, carol, asked.approval_id, "approve");
    const done = await eventually(async () => {
      const view = (await api(gateway, alice, "GET", new URL(asked.status_url).pathname)).json as unknown as ApprovalView;
      assert.equal(view.result?.status, 200, JSON.stringify(view));
      return view;
    }, 10_000);
    assert.equal(done.state, "used");
    assert.equal(done.result!.thread_id, thread.thread_id);
    const run = await sdkDirect(upstream).runs.get(thread.thread_id, done.result!.run_id!);
    assert.equal(run.metadata?.portcullis_owner, "sa:alice", "sent as the requester");
  });

  it("pauses a tool graph before its tools, shows the pending call masked, and continues it once approved", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    await client.runs.wait(thread.thread_id, "tools", { input: { messages: [{ role: "user", content: "email bob" }] } });
    const state = await sdkDirect(upstream).threads.getState(thread.thread_id);
    assert.deepEqual(state.next, ["tools"], "the gateway injected interrupt_before: [tools]");

    const continued = collect(client.runs.stream(thread.thread_id, "tools", { input: null, streamMode: ["values"] }) as AsyncIterable<Chunk>);
    const approval = await pendingApproval(gateway, bob, alice, "tools");
    assert.ok(approval.request.actions.includes("runs:continue"));
    assert.deepEqual(approval.details.thread!.next, ["tools"]);
    assert.equal(approval.details.thread!.tool_calls[0]!.name, "send_email");
    assert.equal(approval.details.thread!.tool_calls[0]!.args.to, "[EMAIL_ADDRESS]", "the pending call is shown masked");
    await decide(gateway, bob, approval.approval_id, "approve");
    const last = (await continued).filter((c) => c.event === "values").at(-1)!.data as { messages: { content: string }[] };
    assert.equal(last.messages.at(-1)!.content, "Email sent.");
  });

  it("gates a resume; the bypass sequences are held too and never reach LangGraph", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const interrupted = (await client.runs.wait(thread.thread_id, "hitl", { input: { request: "wire $500 to ACME" } })) as { __interrupt__?: unknown[] };
    assert.ok(interrupted.__interrupt__, "the graph stopped at interrupt()");

    const bypasses = [
      { path: `/threads/${thread.thread_id}/state`, body: { values: { decision: "yes" }, as_node: "approve" } },
      { path: `/threads/${thread.thread_id}/runs`, body: { assistant_id: "hitl", command: { update: { decision: "yes" }, goto: "execute" } } },
      { path: `/threads/${thread.thread_id}/runs`, body: { assistant_id: "hitl", input: null } },
      { path: `/threads/${thread.thread_id}/copy`, body: {} },
    ];
    for (const bypass of bypasses) {
      const response = await fetch(`${gateway.url}${bypass.path}`, { method: "POST", headers: { "x-api-key": alice.key, "content-type": "application/json", prefer: "respond-async" }, body: JSON.stringify(bypass.body) });
      assert.equal(response.status, 202, `${bypass.path} ${JSON.stringify(bypass.body)}`);
    }
    const resumed = client.runs.wait(thread.thread_id, "hitl", { command: { resume: "yes" } });
    const approval = await eventually(async () => {
      const { json } = await api(gateway, bob, "GET", "/portcullis/approvals?state=pending");
      const found = (json.approvals as ApprovalView[]).find((a) => a.request.actions.includes("runs:resume") && a.request.path.includes(thread.thread_id));
      assert.ok(found, "not yet: found");
      return found;
    });
    assert.deepEqual((approval.details.thread!.interrupts[0] as { value: unknown }).value, { question: "Approve this action?", action: "wire $500 to ACME" });
    const direct = sdkDirect(upstream);
    assert.equal((await direct.threads.get(thread.thread_id)).status, "interrupted", "no bypass reached LangGraph");
    assert.equal((await direct.runs.list(thread.thread_id)).length, 1);
    await decide(gateway, bob, approval.approval_id, "approve");
    assert.deepEqual(await resumed, { request: "wire $500 to ACME", decision: "yes", result: "executed: wire $500 to ACME" });
  });

  it("refuses an approval once the thread's pending work changed since approvers looked", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    await client.runs.wait(thread.thread_id, "hitl", { input: { request: "wire $500 to ACME" } });
    const body = JSON.stringify({ assistant_id: "hitl", command: { resume: "yes" } });
    const send = (headers: Record<string, string>, signal?: AbortSignal) =>
      fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, { method: "POST", headers: { "x-api-key": alice.key, "content-type": "application/json", ...headers }, body, ...(signal ? { signal } : {}) });
    const left = new AbortController();
    const held = await send({}, left.signal);
    const approvalId = held.headers.get("portcullis-approval-id")!;
    left.abort();
    // Meanwhile an ordinary run puts a different action behind the same interrupt.
    await client.runs.wait(thread.thread_id, "hitl", { input: { request: "wire $1M to ACME" } });
    assert.equal((await decide(gateway, bob, approvalId, "approve")).status, 200);
    const retried = await send({ "portcullis-approval-id": approvalId });
    assert.equal(retried.status, 409);
    assert.equal(((await retried.json()) as { error: string }).error, "PC_APPROVAL_STALE");
    assert.equal((await sdkDirect(upstream).threads.getState(thread.thread_id)).next[0], "approve", "the changed interrupt was not resumed");
  });

  it("refuses protocol v2 run.start for a graph whose runs must pause before their tools", async () => {
    const thread = await sdkAs(gateway, alice).threads.create();
    const response = await fetch(`${gateway.url}/threads/${thread.thread_id}/commands`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json" },
      body: JSON.stringify({ id: 1, method: "run.start", params: { assistant_id: "tools", input: { messages: [{ role: "user", content: "email bob" }] } } }),
    });
    assert.equal(response.status, 403);
    assert.match(((await response.json()) as { message: string }).message, /pause_before/);
  });

  it("lets break-glass callers through with a justification, flags the record and alerts", async () => {
    const client = sdkAs(gateway, dave, { "portcullis-justification": "incident INC-42" });
    const thread = await client.threads.create();
    const result = (await client.runs.wait(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: "now" }] } })) as { messages: unknown[] };
    assert.ok(result.messages.length > 0);
    const record = (await gateway.audit()).filter((r): r is ApprovalRecord => r.type === "approval" && r.event === "break_glass").at(-1)!;
    assert.equal(record.requester, "sa:dave");
    assert.equal(record.justification, "incident INC-42");
    const request = (await gateway.recordsFor(record.request_id)).find((r): r is RequestRecord => r.type === "request")!;
    assert.deepEqual(request.approval, { via: "break-glass", justification: "incident INC-42" });
    const alert = await eventually(async () => {
      const found = delivered.find((d) => d.kind === "approval.break_glass");
      assert.ok(found, "not yet: found");
      return found;
    });
    assert.equal(JSON.parse(alert.body).requester.subject, "sa:dave");
  });

  it("signs every webhook notice and never sends a clear value", async () => {
    const requested = delivered.filter((d) => d.kind === "approval.requested");
    assert.ok(requested.length >= 5);
    for (const notice of delivered) {
      assert.ok(verifyWebhookSignature(SECRET, notice.signature, notice.body), `signature of ${notice.kind}`);
      assert.ok(!notice.body.includes("jane.doe@example.com") && !notice.body.includes("bob@example.com"), `clear value in ${notice.body.slice(0, 300)}`);
    }
    assert.ok(!verifyWebhookSignature("wrong-secret", requested[0]!.signature, requested[0]!.body));
  });

  it("emails approvers over SMTP (STARTTLS), masked, with the approval to act on", async () => {
    const requested = await eventually(async () => {
      const found = mails.filter((mail) => /Approval requested/.test(mail.subject));
      assert.ok(found.length >= 5, `${found.length} approval emails`);
      return found;
    });
    const toolCall = requested.find((mail) => mail.text.includes("send_email"));
    assert.ok(toolCall, "the tool approval's mail shows the pending call");
    for (const mail of mails) {
      assert.equal(mail.secure, true, "delivered over STARTTLS");
      assert.deepEqual(mail.to, ["approvers@example.com"]);
      assert.ok(!`${mail.subject} ${mail.text} ${mail.html}`.includes("jane.doe@example.com") && !mail.text.includes("bob@example.com"), "no clear value in a mail");
    }
    assert.match(toolCall.text, /\[EMAIL_ADDRESS\]/);
  });

  it("binds an approval id to its requester and its exact request", async () => {
    const client = sdkAs(gateway, alice);
    const thread = await client.threads.create();
    const body = { assistant_id: "agent", input: { messages: [{ role: "user", content: "exact" }] } };
    const asked = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, { method: "POST", headers: { "x-api-key": alice.key, "content-type": "application/json", prefer: "respond-async" }, body: JSON.stringify(body) });
    const { approval_id } = (await asked.json()) as ApprovalView;
    await decide(gateway, bob, approval_id, "approve");
    const other = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json", "portcullis-approval-id": approval_id },
      body: JSON.stringify({ ...body, input: { messages: [{ role: "user", content: "something else" }] } }),
    });
    assert.equal(other.status, 409);
    assert.equal(((await other.json()) as { error: string }).error, "PC_APPROVAL_MISMATCH");
    const stranger = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/wait`, { method: "POST", headers: { "x-api-key": carol.key, "content-type": "application/json", "portcullis-approval-id": approval_id }, body: JSON.stringify(body) });
    assert.equal(stranger.status, 404);
  });
});

describe("approvals across a restart", () => {
  it("keeps a pending approval; the client retries with its id and proceeds once approved", async () => {
    const upstream = await startLangGraph();
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-approvals-restart-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    const overrides = {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: { service_accounts: PEOPLE.map((p) => p.entry) },
      storage: { sqlite_file: path.join(dir, "state.db") },
      audit: { store: { kind: "sqlite" as const, file: path.join(dir, "ledger.db") }, signing_key_file: path.join(dir, "ledger-key.pem") },
      shutdown: { drain_ms: 100 },
      approvals: { sweep_ms: 100 },
    };
    let gateway = await startTestGateway(upstream, overrides);
    try {
      const client = sdkAs(gateway, alice);
      const thread = await client.threads.create();
      const input = { messages: [{ role: "user", content: "survive a restart" }] };
      const first = collect(client.runs.stream(thread.thread_id, "agent", { input }) as AsyncIterable<Chunk>);
      const approval = await pendingApproval(gateway, bob, alice, "agent");
      await gateway.close();
      const error = (await first).find((c) => c.event === "error")!.data as { error: string; approval_id: string };
      assert.equal(error.error, "PC_SHUTTING_DOWN");
      assert.equal(error.approval_id, approval.approval_id);

      gateway = await startTestGateway(upstream, overrides);
      assert.equal((await pendingApproval(gateway, bob, alice, "agent")).approval_id, approval.approval_id);
      await decide(gateway, bob, approval.approval_id, "approve");
      const retried = await collect(sdkAs(gateway, alice, { "portcullis-approval-id": approval.approval_id }).runs.stream(thread.thread_id, "agent", { input }) as AsyncIterable<Chunk>);
      assert.equal(retried[0]!.event, "metadata", "an approved retry is not held");
      const again = await fetch(`${gateway.url}/threads/${thread.thread_id}/runs/stream`, {
        method: "POST",
        headers: { "x-api-key": alice.key, "content-type": "application/json", "portcullis-approval-id": approval.approval_id },
        body: JSON.stringify({ assistant_id: "agent", input }),
      });
      assert.equal(again.status, 409, "an approval lets one request through");
      assert.equal(((await again.json()) as { error: string }).error, "PC_APPROVAL_USED");
    } finally {
      await gateway.close();
      await upstream.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
