// `portcullis replay --verify` under a policy that pauses and holds runs, against the real
// LangGraph server: the re-run never waits for a person (no approval is asked, none is left
// pending), the breakpoints the gateway injected into the recorded body are not sent back as
// steering, --timeout bounds a re-run whose answer does not end, and runs that stopped at a
// breakpoint or an interrupt() are found and shown as interrupted.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { openToolLedger } from "../../src/cli/audit.js";
import type { SessionSummary } from "../../src/ledger/sessionIndex.js";
import { loadSession } from "../../src/replay/session.js";
import { buildTimeline, sessionStatus } from "../../src/replay/timeline.js";
import { CLI_ARGS } from "../support/cli.js";
import { eventually, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const run = promisify(execFile);

const POLICY = `version: 1
rules:
  - id: run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create, runs:resume, runs:cancel]
  - id: agent-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers] }
  - id: steering-needs-approval
    effect: require-approval
    subjects: "*"
    actions: [state:write, runs:continue]
    approval: { approver_groups: [approvers] }
run_body:
  pause_before:
    - graphs: [tools]
      nodes: [tools]
`;

const approver = generateApiKey();
let langgraph: Upstream;
let gateway: TestGateway;
let dir: string;
let ledgerArgs: string[];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-replay-verify-"));
  const policyFile = path.join(dir, "policy.yaml");
  await writeFile(policyFile, POLICY);
  langgraph = await startLangGraph();
  gateway = await startTestGateway(langgraph, {
    policy: { file: policyFile, watch: false },
    identity: { service_accounts: [{ id: "approver", key_sha256: approver.sha256, groups: ["approvers"] }] },
  });
  ledgerArgs = ["--ledger", gateway.ledgerFile, "--key-file", path.join(path.dirname(gateway.ledgerFile), "ledger-key.pem")];
});

after(async () => {
  await gateway?.close();
  await langgraph?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_ARGS, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function sessions(...filters: string[]): Promise<SessionSummary[]> {
  const listed = await cli(["sessions", ...ledgerArgs, "--json", ...filters]);
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as SessionSummary[];
}

/** A followed session of `graph` on `thread` (its run record written). */
function followed(thread: string): Promise<SessionSummary> {
  return eventually(async () => {
    const [found] = await sessions("--thread", thread);
    assert.ok(found && found.status !== "open" && found.runId, "not yet: found && found.status !== \"open\" && found.runId");
    assert.ok((await gateway.recordsFor(found.requestId)).some((r) => r.type === "run"), "the run was followed to its end");
    return found;
  }, 20_000);
}

async function pendingApprovals(): Promise<unknown[]> {
  const response = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { "x-api-key": approver.key } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { approvals: unknown[] }).approvals;
}

/** The session read back from the ledger and proven, as the console shows it. */
async function timelineOf(requestId: string) {
  const ledger = await openToolLedger({ ledger: gateway.ledgerFile, keyFile: path.join(path.dirname(gateway.ledgerFile), "ledger-key.pem") });
  try {
    const session = await loadSession({ store: ledger.store, origin: ledger.origin, checkpoint: () => ledger.checkpoint() }, requestId);
    assert.ok(session.proof.valid, session.proof.summary);
    return { steps: buildTimeline(session), status: sessionStatus(session) };
  } finally {
    await ledger.close();
  }
}

describe("portcullis replay --verify never waits for a person", () => {
  it("re-runs a run the gateway paused at a breakpoint without sending the injected interrupt_before back, and asks no approval", async () => {
    const client = sdkThroughGateway(gateway);
    const thread = (await client.threads.create()).thread_id;
    for await (const chunk of client.runs.stream(thread, "tools", { input: { messages: [{ role: "user", content: "mail bob" }] }, streamMode: ["updates"] })) void chunk;
    const session = await followed(thread);
    assert.equal(session.status, "interrupted", "a run stopped at a breakpoint is interrupted, not success");
    const request = (await gateway.recordsFor(session.requestId)).find((r) => r.type === "request");
    assert.ok(request?.type === "request" && request.rewrites?.added.some((added) => added.startsWith("interrupt_before")), "the gateway injected the breakpoint into the recorded body");

    const verified = await cli(["replay", session.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url, "--timeout", "60", "--json"], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
    const result = JSON.parse(verified.stdout) as { recorded: { nodes: string[] }; rerun: { nodes: string[] }; runStatus: string; session: { who: string; decision: string; proof: string } };
    assert.deepEqual(result.recorded.nodes, ["agent"]);
    assert.deepEqual(result.rerun.nodes, ["agent"], "the gateway paused the re-run before tools again, by policy");
    assert.equal(result.runStatus, "interrupted");
    assert.match(result.session.who, /sa:tester/);
    assert.match(result.session.decision, /allow \(rule run-graphs\)/);
    assert.match(result.session.proof, /^valid: /);
    assert.deepEqual(await pendingApprovals(), [], "the verification left nothing in approvers' inboxes");
  });

  it("refuses at once, with no approval asked, when policy would hold the re-run for approval", async () => {
    const client = sdkThroughGateway(gateway);
    const thread = (await client.threads.create()).thread_id;
    // The original run was approved by a person.
    const streaming = (async () => {
      for await (const chunk of client.runs.stream(thread, "agent", { input: { messages: [{ role: "user", content: "summarise" }] } })) void chunk;
    })();
    const approval = await eventually(async () => {
      const [pending] = (await pendingApprovals()) as { approval_id: string }[];
      assert.ok(pending, "not yet: pending");
      return pending;
    }, 15_000);
    const approved = await fetch(`${gateway.url}/portcullis/approvals/${approval.approval_id}/approve`, { method: "POST", headers: { "x-api-key": approver.key, "content-type": "application/json" }, body: "{}" });
    assert.equal(approved.status, 200);
    await streaming;
    const session = await followed(thread);

    const verified = await cli(["replay", session.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url, "--timeout", "60"], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 2, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stderr, /needs approval by approvers \(rule agent-runs-need-approval\).*no approval was asked/s);
    assert.match(verified.stdout, /^Session {2}\S+ {2}POST \/threads\/.*\nWho {6}.*sa:tester.*\nWhen {5}\d{4}-\d\d-\d\dT.*\nDecision require-approval \(rule agent-runs-need-approval\), approved by sa:approver\n/m);
    assert.deepEqual(await pendingApprovals(), [], "no approval is left pending");
    const refused = (await gateway.audit()).filter((r) => r.type === "request" && r.decision.rule === "agent-runs-need-approval" && r.status === 403);
    assert.equal(refused.length, 1, "the refused re-run is recorded");
  });

  it("gives up after --timeout when the re-run's answer does not end", async () => {
    const client = sdkThroughGateway(gateway);
    // 16 ticks 250 ms apart: four seconds of stream, longer than the one-second budget below.
    for await (const chunk of client.runs.stream(null, "slow", { input: { count: 16, delayMs: 250 }, streamMode: ["custom"] })) void chunk;
    const [session] = await eventually(async () => {
      const found = await sessions("--graph", "slow");
      assert.ok(found[0] && found[0].status !== "open", "not yet: found[0] && found[0].status !== \"open\"");
      return found;
    }, 20_000);
    const verified = await cli(["replay", session!.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url, "--timeout", "1"], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 2, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stderr, /did not answer POST \/runs\/stream within 1 s \(--timeout\)/);
  });

  it("refuses a recorded continue (input null): on a new thread there is nothing to continue", async () => {
    const client = sdkThroughGateway(gateway);
    const thread = (await client.threads.create()).thread_id;
    for await (const chunk of client.runs.stream(thread, "tools", { input: { messages: [{ role: "user", content: "mail bob" }] } })) void chunk;
    const continuing = (async () => {
      for await (const chunk of client.runs.stream(thread, "tools", { input: null })) void chunk;
    })();
    const approval = await eventually(async () => {
      const [pending] = (await pendingApprovals()) as { approval_id: string }[];
      assert.ok(pending, "not yet: pending");
      return pending;
    }, 15_000);
    await fetch(`${gateway.url}/portcullis/approvals/${approval.approval_id}/approve`, { method: "POST", headers: { "x-api-key": approver.key, "content-type": "application/json" }, body: "{}" });
    await continuing;
    const session = await eventually(async () => {
      const [latest] = await sessions("--thread", thread);
      assert.ok(latest && latest.status !== "open" && latest.approval === "used", "not yet: latest && latest.status !== \"open\" && latest.approval === \"used\"");
      return latest;
    }, 20_000);
    const verified = await cli(["replay", session.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url, "--timeout", "30"], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 2, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stderr, /continued a paused thread \(input null\)/);
    assert.deepEqual(await pendingApprovals(), []);
  });
});

describe("interrupted runs", () => {
  it("a /runs/wait run that stops at interrupt() is interrupted, with an interrupt step, and --status interrupted finds it", async () => {
    const client = new Client({ apiUrl: gateway.url, apiKey: gateway.key, callerOptions: { maxRetries: 0 } });
    const thread = (await client.threads.create()).thread_id;
    await client.runs.wait(thread, "hitl", { input: { request: "wire $5 to ACME" } });
    const session = await followed(thread);
    assert.equal(session.status, "interrupted");
    const found = await sessions("--status", "interrupted", "--graph", "hitl");
    assert.deepEqual(found.map((s) => s.requestId), [session.requestId]);
    const { steps, status } = await timelineOf(session.requestId);
    assert.equal(status, "interrupted");
    const nodes = steps.filter((s) => s.kind === "node").map((s) => s.title);
    assert.deepEqual(nodes, ["Node plan"], "the graph's own node, not __start__");
    const interrupt = steps.find((s) => s.kind === "interrupt");
    assert.ok(interrupt, JSON.stringify(steps));
    assert.equal(interrupt.title, "Interrupted in approve: waiting for input");
    assert.match(JSON.stringify(interrupt.data), /Approve this action\?/);
    assert.equal(steps.at(-1)!.title, "Run interrupted");
  });

  it("a values stream names each step's node from the checkpoints (echo, not __start__)", async () => {
    const client = sdkThroughGateway(gateway);
    const thread = (await client.threads.create()).thread_id;
    for await (const chunk of client.runs.stream(thread, "echo", { input: { messages: [{ role: "user", content: "hello" }] }, streamMode: ["values"] })) void chunk;
    const session = await followed(thread);
    assert.equal(session.status, "success");
    const { steps } = await timelineOf(session.requestId);
    assert.deepEqual(steps.filter((s) => s.kind === "node").map((s) => s.title), ["Node echo"]);
    assert.ok(!JSON.stringify(steps).includes("__start__"));
  });

  it("a stateless streamed run shows the steps it took, not an empty run", async () => {
    const client = sdkThroughGateway(gateway);
    for await (const chunk of client.runs.stream(null, "echo", { input: { messages: [{ role: "user", content: "stateless" }] }, streamMode: ["updates"] })) void chunk;
    const session = await eventually(async () => {
      const [found] = await sessions("--graph", "echo", "--limit", "1");
      assert.ok(found && found.threadId === null && found.status !== "open", "not yet: found && found.threadId === null && found.status !== \"open\"");
      assert.ok((await gateway.recordsFor(found.requestId)).some((r) => r.type === "run"), "the run was followed to its end");
      return found;
    }, 20_000);
    assert.notEqual(session.status, "ended");
    const { steps } = await timelineOf(session.requestId);
    assert.deepEqual(steps.filter((s) => s.kind === "node").map((s) => s.title), ["Node echo"]);
    assert.match(steps.at(-1)!.detail ?? "", /^1 step · /);
  });
});
