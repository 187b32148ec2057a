// Least privilege against the real LangGraph server, the official SDK and a real OpenID
// provider: two analysts with their own threads, an auditor who reads everything, a nightly
// service account, and the approval-bypass sequences of langgraph-api.md §8.
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { AUDIENCE, startTestIdp, type TestClient, type TestIdp } from "../support/oidcProvider.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const TEAM_POLICY = fileURLToPath(new URL("../fixtures/policies/team.yaml", import.meta.url));

let langgraph: Upstream & { stop(): Promise<void> };
let idp: TestIdp;
let gateway: TestGateway;
const nightly = generateApiKey();
const clients = {} as Record<TestClient | "nightly", Client>;
const subjects = {} as Record<TestClient, string>;

function sdkAs(headers: Record<string, string>): Client {
  // Prefer: respond-async: a request that needs approval is answered 202 at once rather than held.
  return new Client({ apiUrl: gateway.url, defaultHeaders: { ...headers, prefer: "respond-async" }, callerOptions: { maxRetries: 0 } });
}

async function statusOf(promise: Promise<unknown>): Promise<number | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
  } catch (error) {
    const { status, message } = error as { status?: number; message: string };
    const code = /"error":"(PC_[A-Z_]+)"/.exec(message)?.[1] ?? message;
    if (status !== undefined) return { status, code };
    throw error;
  }
  assert.fail("the request was allowed");
}

/** A request that needs approval: answered 202 with the pending approval, nothing forwarded. */
async function heldForApproval(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  // The SDK returns nothing for a 202 (and runs.wait then fails looking for __error__ in it);
  // the request's record says what happened.
  const answer = (await promise.catch((error: unknown) => {
    if (error instanceof TypeError && error.message.includes("__error__")) return undefined;
    throw error;
  })) as { state?: string } | undefined;
  if (answer !== undefined && answer.state !== "pending") assert.fail(`not held for approval: ${JSON.stringify(answer).slice(0, 300)}`);
  const record = await lastRequestRecord(() => true);
  assert.equal(record.status, 202);
  assert.equal(record.approval?.via, "asked");
  return { status: 202, code: "pending approval" };
}

async function lastRequestRecord(match: (record: RequestRecord) => boolean): Promise<RequestRecord> {
  const records = (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request" && match(record));
  assert.ok(records.length > 0, "no matching request record");
  return records.at(-1)!;
}

before(async () => {
  [langgraph, idp] = await Promise.all([startLangGraph(), startTestIdp()]);
  gateway = await startTestGateway(langgraph, {
    policy: { file: TEAM_POLICY, watch: false },
    identity: {
      oidc: { issuers: [{ id: "corp", issuer: idp.issuer, audiences: [AUDIENCE] }] },
      service_accounts: [{ id: "nightly", key_sha256: nightly.sha256, groups: [] }],
    },
  });
  for (const who of ["alice", "bob", "carol", "reporting"] as const) {
    clients[who] = sdkAs({ authorization: `Bearer ${await idp.token(who)}` });
    subjects[who] = `oidc:corp:${who}`;
  }
  clients.nightly = sdkAs({ "x-api-key": nightly.key });
});

after(async () => {
  await gateway?.close();
  await langgraph?.stop();
  await idp?.close();
});

describe("ownership between users", () => {
  let aliceThread: string;
  let bobThread: string;

  before(async () => {
    aliceThread = (await clients.alice.threads.create({ metadata: { purpose: "alice's work" } })).thread_id;
    bobThread = (await clients.bob.threads.create()).thread_id;
    await clients.alice.runs.wait(aliceThread, "agent", { input: { messages: [{ role: "user", content: "hello" }] } });
  });

  /** The stamp as LangGraph keeps it: clients never see it (docs/compatibility.md). */
  const ownerOf = async (threadId: string) => (await new Client({ apiUrl: langgraph.url, apiKey: langgraph.key, callerOptions: { maxRetries: 0 } }).threads.get(threadId)).metadata?.portcullis_owner;

  test("a thread is stamped with its creator's subject, which the creator can neither see nor change", async () => {
    const thread = await clients.alice.threads.get(aliceThread);
    assert.equal(thread.metadata?.portcullis_owner, undefined);
    assert.equal(await ownerOf(aliceThread), subjects.alice);
    assert.equal(thread.metadata?.purpose, "alice's work");
    await clients.alice.threads.update(aliceThread, { metadata: { portcullis_owner: subjects.bob, note: "mine" } });
    const after = await clients.alice.threads.get(aliceThread);
    assert.equal(await ownerOf(aliceThread), subjects.alice);
    assert.equal(after.metadata?.note, "mine");
  });

  test("one analyst never sees or steers another's thread: every thread-scoped route answers 404", async () => {
    const bob = clients.bob;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ["get", () => bob.threads.get(aliceThread)],
      ["state", () => bob.threads.getState(aliceThread)],
      ["history", () => bob.threads.getHistory(aliceThread)],
      ["runs list", () => bob.runs.list(aliceThread)],
      ["run", () => bob.runs.wait(aliceThread, "agent", { input: { messages: [] } })],
      ["update", () => bob.threads.update(aliceThread, { metadata: { taken: true } })],
      ["delete", () => bob.threads.delete(aliceThread)],
    ];
    for (const [what, attempt] of attempts) assert.equal(await statusOf(attempt()), 404, `${what} of alice's thread by bob`);
    // Nothing happened to it.
    const thread = await clients.alice.threads.get(aliceThread);
    assert.equal(thread.metadata?.taken, undefined);
    assert.equal((await clients.alice.runs.list(aliceThread)).length, 1);
  });

  test("thread search and count show each analyst only their own threads, whatever filter they send", async () => {
    const bobSees = await clients.bob.threads.search({ limit: 100 });
    assert.deepEqual(bobSees.map((t) => t.thread_id), [bobThread]);
    const disguised = await clients.bob.threads.search({ metadata: { portcullis_owner: subjects.alice }, limit: 100 });
    assert.deepEqual(disguised.map((t) => t.thread_id), [bobThread]);
    const aliceSees = (await clients.alice.threads.search({ limit: 100 })).map((t) => t.thread_id);
    assert.ok(aliceSees.includes(aliceThread) && !aliceSees.includes(bobThread));
    assert.equal(await clients.bob.threads.count(), 1);
  });

  test("the auditor reads every thread but may not run or steer one", async () => {
    const auditor = clients.reporting;
    assert.equal((await auditor.threads.get(aliceThread)).thread_id, aliceThread);
    assert.ok((await auditor.threads.getState(aliceThread)).values);
    const seen = (await auditor.threads.search({ limit: 100 })).map((t) => t.thread_id);
    assert.ok(seen.includes(aliceThread) && seen.includes(bobThread));
    assert.deepEqual(await refusal(auditor.runs.wait(aliceThread, "agent", { input: { messages: [] } })), { status: 403, code: "PC_FORBIDDEN" });
    assert.deepEqual(await heldForApproval(auditor.threads.updateState(aliceThread, { values: {} })), { status: 202, code: "pending approval" });
  });

  test("a refusal for someone else's thread is recorded with the rule and the real owner", async () => {
    await statusOf(clients.bob.threads.getState(aliceThread));
    const record = await lastRequestRecord((r) => r.identity?.subject === subjects.bob && r.path === `/threads/${aliceThread}/state`);
    assert.equal(record.decision.effect, "deny");
    assert.equal(record.decision.rule, "ownership:not-owner");
    assert.equal(record.resources?.thread_owner, subjects.alice);
    assert.equal(record.status, 404);
    assert.match(record.decision.policy ?? "", /^[0-9a-f]{16}$/);
  });

  test("creating a thread under an id another user owns is refused, and the thread is left alone", async () => {
    assert.deepEqual(await refusal(clients.bob.threads.create({ threadId: aliceThread, ifExists: "do_nothing" })), { status: 409, code: "PC_CONFLICT" });
    assert.equal(await ownerOf(aliceThread), subjects.alice);
  });
});

describe("graphs and assistants", () => {
  test("an assistant named by graph or by UUID resolves to the same graph for policy", async () => {
    const thread = (await clients.alice.threads.create()).thread_id;
    const [slow] = await clients.reporting.assistants.search({ graphId: "slow", limit: 1 });
    const [agent] = await clients.reporting.assistants.search({ graphId: "agent", limit: 1 });
    assert.ok(slow && agent);
    assert.deepEqual(await refusal(clients.alice.runs.wait(thread, "slow", { input: {} })), { status: 403, code: "PC_FORBIDDEN" });
    assert.deepEqual(await refusal(clients.alice.runs.wait(thread, slow.assistant_id, { input: {} })), { status: 403, code: "PC_FORBIDDEN" });
    assert.ok(await clients.alice.runs.wait(thread, agent.assistant_id, { input: { messages: [{ role: "user", content: "hi" }] } }));
    const record = await lastRequestRecord((r) => r.identity?.subject === subjects.alice && r.operation?.route === "runs.wait" && r.decision.effect === "allow");
    assert.deepEqual(record.resources?.graphs, ["agent"]);
    assert.equal(record.decision.rule, "analysts-run-agent-graphs");
  });

  test("the nightly service account runs the agent graph from loopback but is denied hitl by an explicit rule", async () => {
    const thread = (await clients.nightly.threads.create()).thread_id;
    assert.ok(await clients.nightly.runs.wait(thread, "agent", { input: { messages: [{ role: "user", content: "report" }] } }));
    assert.deepEqual(await refusal(clients.nightly.runs.wait(thread, "hitl", { input: {} })), { status: 403, code: "PC_FORBIDDEN" });
    const record = await lastRequestRecord((r) => r.identity?.subject === "sa:nightly" && r.decision.effect === "deny");
    assert.equal(record.decision.rule, "nightly-never-runs-hitl");
  });

  test("a caller no rule names is refused by default, and the record says so", async () => {
    assert.deepEqual(await refusal(clients.nightly.store.putItem(["users", "sa:nightly"], "k", { v: 1 })), { status: 403, code: "PC_FORBIDDEN" });
    const record = await lastRequestRecord((r) => r.identity?.subject === "sa:nightly" && r.operation?.route === "store.put");
    assert.equal(record.decision.rule, "default:deny");
  });

  test("store namespaces: an analyst reads and writes only under their own subject", async () => {
    // LangGraph refuses ':' in namespace levels, so {subject} is the percent-encoded subject.
    const aliceLevel = "oidc%3Acorp%3Aalice";
    await clients.alice.store.putItem(["users", aliceLevel, "notes"], "n1", { text: "mine" });
    assert.equal((await clients.alice.store.getItem(["users", aliceLevel, "notes"], "n1"))?.value.text, "mine");
    assert.deepEqual(await refusal(clients.bob.store.getItem(["users", aliceLevel, "notes"], "n1")), { status: 403, code: "PC_FORBIDDEN" });
    assert.deepEqual(await refusal(clients.bob.store.putItem(["users", aliceLevel], "n2", { text: "theirs" })), { status: 403, code: "PC_FORBIDDEN" });
    assert.deepEqual(await refusal(clients.bob.store.searchItems(["users"])), { status: 403, code: "PC_FORBIDDEN" });
  });
});

describe("execution steering is caught: the approval-bypass sequences of langgraph-api.md §8", () => {
  let thread: string;

  before(async () => {
    thread = (await clients.alice.threads.create()).thread_id;
    const paused = (await clients.alice.runs.wait(thread, "hitl", { input: { request: "wire $1M to ACME" } })) as Record<string, unknown>;
    assert.ok(paused.__interrupt__, "the hitl graph paused at approve");
  });

  const approvalNeeded = { status: 202, code: "pending approval" };

  test("1) a state write as_node approve, then a run with input null", async () => {
    assert.deepEqual(await heldForApproval(clients.alice.threads.updateState(thread, { values: { decision: "yes" }, asNode: "approve" })), approvalNeeded);
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl", { input: null })), approvalNeeded);
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl")), approvalNeeded);
  });

  test("2) command.update with command.goto past the interrupt", async () => {
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl", { command: { update: { decision: "yes" }, goto: "execute" } })), approvalNeeded);
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl", { command: { resume: "yes", goto: "execute" } })), approvalNeeded);
  });

  test("3) a new thread built with supersteps, then continued", async () => {
    const supersteps = [{ updates: [{ values: { request: "wire $3M" }, asNode: "plan" }] }, { updates: [{ values: { decision: "yes" }, asNode: "approve" }] }];
    assert.deepEqual(await heldForApproval(clients.alice.threads.create({ graphId: "hitl", supersteps })), approvalNeeded);
  });

  test("forks from a checkpoint, thread copies and assistant config changes need approval too", async () => {
    const history = await clients.alice.threads.getHistory(thread, { limit: 10 });
    const old = history.at(-1)!.checkpoint;
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl", { input: { request: "again" }, checkpoint: old })), approvalNeeded);
    assert.deepEqual(await heldForApproval(clients.alice.runs.wait(thread, "hitl", { input: { request: "again" }, checkpointId: old.checkpoint_id ?? undefined })), approvalNeeded);
    assert.deepEqual(await heldForApproval(clients.alice.threads.copy(thread)), approvalNeeded);
    // Changing an assistant's config is steering (assistants:configure) on top of assistants:update,
    // which analysts do not hold at all: the deny wins.
    const [hitl] = await clients.alice.assistants.search({ graphId: "hitl", limit: 1 });
    assert.deepEqual(await refusal(clients.alice.assistants.update(hitl!.assistant_id, { config: { configurable: {} } })), { status: 403, code: "PC_FORBIDDEN" });
    const patch = await lastRequestRecord((r) => r.identity?.subject === subjects.alice && r.operation?.route === "assistants.update");
    assert.deepEqual(patch.operation?.actions, ["assistants:update", "assistants:configure"]);
  });

  test("none of them ran the guarded node; the legitimate resume does", async () => {
    const state = await clients.alice.threads.getState(thread);
    assert.equal((state.values as Record<string, unknown>).result, undefined);
    assert.deepEqual(state.next, ["approve"]);
    const resumed = (await clients.alice.runs.wait(thread, "hitl", { command: { resume: "yes" } })) as Record<string, unknown>;
    assert.equal(resumed.result, "executed: wire $1M to ACME");
  });
});

describe("run-body hazards", () => {
  test("a webhook to an unlisted destination and identity-impersonating configurable keys are removed, and the client is told", async () => {
    const thread = (await clients.alice.threads.create()).thread_id;
    const response = await fetch(`${gateway.url}/threads/${thread}/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${await idp.token("alice")}`, "content-type": "application/json" },
      body: JSON.stringify({
        assistant_id: "agent",
        input: { messages: [{ role: "user", content: "hi" }] },
        webhook: "http://169.254.169.254/latest/meta-data",
        config: { configurable: { langgraph_auth_user_id: "admin", model: "fast" } },
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("portcullis-removed"), "webhook, config.configurable.langgraph_auth_user_id");
    const run = (await response.json()) as { run_id: string };
    const stored = (await clients.alice.runs.get(thread, run.run_id)) as unknown as { kwargs: { webhook?: string; config: { configurable: Record<string, unknown> } } };
    assert.equal(stored.kwargs.webhook, undefined);
    // LangGraph sets this key itself from its own Auth handler's identity; the client's value is gone.
    assert.notEqual(stored.kwargs.config.configurable.langgraph_auth_user_id, "admin");
    assert.equal(stored.kwargs.config.configurable.model, "fast");
    const record = await lastRequestRecord((r) => r.identity?.subject === subjects.alice && r.operation?.route === "runs.create");
    assert.deepEqual(record.rewrites?.removed, ["webhook", "config.configurable.langgraph_auth_user_id"]);
  });
});

describe("operating the policy", () => {
  let dir: string;
  let policyFile: string;
  let live: TestGateway;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-policy-"));
    policyFile = path.join(dir, "policy.yaml");
    await copyFile(TEAM_POLICY, policyFile);
    live = await startTestGateway(langgraph, {
      policy: { file: policyFile, watch: true },
      identity: { service_accounts: [{ id: "nightly", key_sha256: nightly.sha256, groups: [] }] },
    });
  });
  after(async () => {
    await live?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const nightlyReadsInfo = async () => (await fetch(`${live.url}/info`, { headers: { "x-api-key": nightly.key } })).status;

  async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail(`timed out waiting for: ${what}`);
  }

  test("a valid change takes effect without a restart; an invalid one is rejected and the last good policy stays in force", async () => {
    assert.equal(await nightlyReadsInfo(), 200);
    const team = await readFile(TEAM_POLICY, "utf8");
    await writeFile(policyFile, team.replace("actions: [server:read, threads:create, threads:read, state:read, runs:create, runs:read]", "actions: [threads:read]"));
    await eventually(async () => (await nightlyReadsInfo()) === 403, "the narrowed policy to refuse /info");

    const narrowed = await readFile(policyFile, "utf8");
    await writeFile(policyFile, narrowed.replace("rules:\n", 'rules:\n  - id: broken\n    effect: allow\n    subjects: "*"\n    actions: [runs:teleport]\n'));
    await eventually(async () => (await live.audit()).some((r) => r.type === "policy" && r.event === "rejected"), "the rejection record");
    assert.equal(await nightlyReadsInfo(), 403, "the last good policy (narrowed) stays in force");
    const rejected = (await live.audit()).find((r) => r.type === "policy" && r.event === "rejected");
    assert.ok(rejected?.type === "policy" && /runs:teleport|unknown action/.test(rejected.error ?? ""));

    await writeFile(policyFile, "version: 1\nrules: [");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(await nightlyReadsInfo(), 403, "unparseable YAML never opens anything");

    await writeFile(policyFile, team);
    await eventually(async () => (await nightlyReadsInfo()) === 200, "the restored policy");
    const loads = (await live.audit()).filter((r) => r.type === "policy" && r.event === "loaded");
    assert.ok(loads.length >= 3, "each policy that came into force is recorded");
    const ready = (await (await fetch(`${live.url}/readyz`)).json()) as { policy: { sha256: string } };
    const latest = loads.at(-1);
    assert.equal(ready.policy.sha256, latest?.type === "policy" ? latest.sha256 : undefined);
  });

  test("per-identity rate limits answer 429 with Retry-After, and the refusal is recorded", async () => {
    const team = await readFile(TEAM_POLICY, "utf8");
    await writeFile(policyFile, `${team}\nrate_limits:\n  - id: nightly-slow\n    subjects: { service_accounts: [nightly] }\n    requests_per_second: 0.2\n    burst: 3\n`);
    await eventually(async () => (await nightlyReadsInfo()) === 429, "the rate limit to apply after its burst of 3");
    const response = await fetch(`${live.url}/info`, { headers: { "x-api-key": nightly.key } });
    assert.equal(response.status, 429);
    assert.ok(Number(response.headers.get("retry-after")) >= 1);
    assert.equal(((await response.json()) as { error: string }).error, "PC_RATE_LIMITED");
    // Another identity has its own bucket (here: none applies to it).
    assert.equal((await fetch(`${live.url}/info`, { headers: { "x-api-key": live.key } })).status, 403);
    const record = (await live.audit()).filter((r): r is RequestRecord => r.type === "request" && r.error === "PC_RATE_LIMITED").at(-1);
    assert.equal(record?.identity?.subject, "sa:nightly");
    assert.equal(record?.status, 429);
  });
});
