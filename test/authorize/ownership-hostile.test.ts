// A second user against the first user's runs, threads and crons, and a user against the controls
// on their own resources, under the built-in policy (policies/default.yaml). The corpus
// (fixtures/hostile-resources.json) is replayed against the real LangGraph server through a
// recording proxy, so each case proves what reached LangGraph as well as what the caller was
// answered and what the ledger recorded. After the corpus, alice's live run and the guarded
// threads are checked to be untouched.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { decideWithFacts } from "../../src/authorize/index.js";
import { loadPolicyFile } from "../../src/authorize/compile.js";
import { DEFAULT_POLICY_FILE } from "../../src/authorize/policySource.js";
import type { RequestFacts } from "../../src/authorize/evaluate.js";
import { classifyOperation, matchRoute } from "../../src/classify/index.js";
import { GATEWAY_USER_AGENT } from "../../src/forward/gatewayRequest.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { Identity } from "../../src/identify/identity.js";
import { parseRequestTarget } from "../../src/receive/target.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

type Caller = "alice" | "bob" | "carol" | "auditor" | "approver";

interface UpstreamPattern {
  method: string;
  path: string;
  body?: string;
  body_lacks?: string;
}

interface HostileCase {
  name: string;
  as: Caller;
  method: string;
  path: string;
  body?: unknown;
  batch_of?: { count: number; run: unknown };
  expect_status: number;
  expect_error?: string;
  expect_rule?: string;
  expect_risk_reasons?: string[];
  expect_held_for_approval?: boolean;
  must_reach?: UpstreamPattern;
}

interface RateLimitStep {
  as: Caller;
  runs: number;
  expect_status: number;
  expect_error?: string;
}

interface Corpus {
  cases: HostileCase[];
  rate_limit: { policy_addition: string; sequence: RateLimitStep[] };
}

interface Answer {
  status: number;
  text: string;
  json: unknown;
  requestId: string;
  /** x-portcullis-error: the gateway's code for a refusal. */
  error: string | undefined;
}

const corpus = JSON.parse(await readFile(new URL("../fixtures/hostile-resources.json", import.meta.url), "utf8")) as Corpus;
// Marks the callers' own requests in the upstream log; the gateway's lookups carry its own user-agent.
const CORPUS_AGENT = "portcullis-hostile-resources";
// A request the gateway forwarded and LangGraph holds open (a join of a live run) gets no answer.
const NO_ANSWER_MS = 20_000;

const keys: Record<Caller, ReturnType<typeof generateApiKey>> = {
  alice: generateApiKey(),
  bob: generateApiKey(),
  carol: generateApiKey(),
  auditor: generateApiKey(),
  approver: generateApiKey(),
};
const GROUPS: Record<Caller, string[]> = { alice: [], bob: [], carol: [], auditor: ["auditors"], approver: ["approvers"] };
const serviceAccounts = (Object.keys(keys) as Caller[]).map((id) => ({ id, key_sha256: keys[id].sha256, groups: GROUPS[id] }));

let langgraph: Upstream;
let proxy: RecordingProxy;
let gateway: TestGateway;
const placeholders: Record<string, string> = { alice: "sa:alice", bob: "sa:bob" };

const sdkAs = (caller: Caller, target: TestGateway = gateway) =>
  new Client({ apiUrl: target.url, apiKey: keys[caller].key, defaultHeaders: { prefer: "respond-async" }, callerOptions: { maxRetries: 0 } });

before(async () => {
  langgraph = await startLangGraph();
  proxy = await startRecordingProxy(langgraph.url);
  gateway = await startTestGateway(
    { url: proxy.url, key: langgraph.key },
    // The built-in policy: policy.file unset.
    { policy: { watch: false }, approvals: { max_pending_per_requester: 1_000 }, identity: { service_accounts: serviceAccounts } },
  );
  const alice = sdkAs("alice");
  const bob = sdkAs("bob");
  try {

  placeholders.own_thread = (await bob.threads.create()).thread_id;
  await bob.runs.wait(placeholders.own_thread, "agent", { input: { messages: [{ role: "user", content: "hello" }] } });
  placeholders.own_run = (await bob.runs.list(placeholders.own_thread))[0]!.run_id;
  placeholders.own_other_thread = (await bob.threads.create()).thread_id;
  placeholders.own_interrupted_thread = await interruptedHitlThread(bob, "wire $1M to ACME");
  placeholders.foreign_hitl_thread = await interruptedHitlThread(alice, "wire $2M to ACME");

  // alice's live run: ticks every 50 ms for far longer than the test, streamed as custom events.
  placeholders.foreign_thread = (await alice.threads.create()).thread_id;
  const live = await alice.runs.create(placeholders.foreign_thread, "slow", { input: { count: 1_000_000, delayMs: 50 }, streamMode: ["custom"] });
  placeholders.foreign_run = live.run_id;
  await eventually(async () => assert.equal((await alice.runs.get(placeholders.foreign_thread!, live.run_id)).status, "running"), 30_000);

  placeholders.foreign_cron = randomUUID();
  const [hitl] = await alice.assistants.search({ graphId: "hitl", metadata: { created_by: "system" } });
  placeholders.hitl_assistant = hitl!.assistant_id;
  } catch (e) { console.log("SETUP", e, JSON.stringify((await gateway.audit()).slice(-2)).slice(0,2000)); throw e; }
});

after(async () => {
  await gateway?.close();
  await proxy?.close();
  await langgraph?.stop();
});

async function interruptedHitlThread(client: Client, asked: string): Promise<string> {
  const { thread_id } = await client.threads.create();
  await client.runs.wait(thread_id, "hitl", { input: { request: asked } });
  assert.equal((await client.threads.get(thread_id)).status, "interrupted");
  return thread_id;
}

function fill(text: string): string {
  return text.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = placeholders[name];
    if (value === undefined) throw new Error(`the corpus names an unknown placeholder {${name}}`);
    return value;
  });
}

function fillValue(value: unknown): unknown {
  if (typeof value === "string") return fill(value);
  if (Array.isArray(value)) return value.map(fillValue);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, fillValue(entry)]));
  return value;
}

function bodyOf(hostile: Pick<HostileCase, "body" | "batch_of">): string | undefined {
  if (hostile.batch_of) return JSON.stringify(Array.from({ length: hostile.batch_of.count }, () => fillValue(hostile.batch_of!.run)));
  return hostile.body === undefined ? undefined : JSON.stringify(fillValue(hostile.body));
}

/** Sends the request with node:http, so the path reaches the gateway as written. */
function send(target: TestGateway, caller: Caller, method: string, pathAndQuery: string, body: string | undefined): Promise<Answer> {
  const headers: Record<string, string> = { "x-api-key": keys[caller].key, "user-agent": CORPUS_AGENT, prefer: "respond-async" };
  if (body !== undefined) headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const outgoing = request(target.url, { method, path: pathAndQuery, headers, agent: false, timeout: NO_ANSWER_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = text ? (JSON.parse(text) as unknown) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, text, json, requestId: String(response.headers["x-request-id"]), error: response.headers["x-portcullis-error"] as string | undefined });
      });
    });
    outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer within ${NO_ANSWER_MS} ms: the request was forwarded and held open upstream`)));
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

const isGatewayLookup = (recorded: RecordedRequest) => recorded.headers["user-agent"] === GATEWAY_USER_AGENT;
const described = (recorded: RecordedRequest) => `${recorded.method} ${recorded.url} ${recorded.body.slice(0, 200)}`.trim();

function matches(recorded: RecordedRequest, pattern: UpstreamPattern): boolean {
  return (
    !isGatewayLookup(recorded) &&
    new RegExp(`^(?:${pattern.method})$`, "i").test(recorded.method) &&
    new RegExp(fill(pattern.path)).test(recorded.url) &&
    (pattern.body === undefined || new RegExp(fill(pattern.body)).test(recorded.body)) &&
    (pattern.body_lacks === undefined || !new RegExp(fill(pattern.body_lacks)).test(recorded.body))
  );
}

async function requestRecordOf(target: TestGateway, requestId: string): Promise<RequestRecord> {
  return eventually(async () => {
    const record = (await target.recordsFor(requestId)).find((entry): entry is RequestRecord => entry.type === "request");
    assert.ok(record, `no request record for ${requestId}`);
    return record;
  });
}

describe("hostile resources corpus against the real LangGraph server, under the default policy", () => {
  for (const hostile of corpus.cases) {
    test(`${hostile.as}: ${hostile.name} → ${hostile.expect_status}`, async () => {
      proxy.clear();
      const answer = await send(gateway, hostile.as, hostile.method, fill(hostile.path), bodyOf(hostile));
      assert.equal(answer.status, hostile.expect_status, `answered ${answer.status}: ${answer.text.slice(0, 300)}`);
      const record = await requestRecordOf(gateway, answer.requestId);
      const forwarded = proxy.requests.filter((recorded) => !isGatewayLookup(recorded));

      if (hostile.must_reach) {
        const pattern = hostile.must_reach;
        assert.ok(
          forwarded.some((recorded) => matches(recorded, pattern)),
          `expected ${pattern.method} ${pattern.path} ${pattern.body ?? ""} without ${pattern.body_lacks ?? "-"} upstream; got ${forwarded.map(described).join(" | ")}`,
        );
        assert.equal(record.decision.effect, "allow");
        return;
      }
      // Refused or held: nothing of the caller's reached LangGraph, and the record names the answer.
      assert.deepEqual(forwarded.map(described), [], "the request was forwarded");
      assert.notEqual(record.decision.effect, "allow");
      assert.equal(record.status, hostile.expect_status);
      if (hostile.expect_held_for_approval) {
        assert.equal((answer.json as { state?: string } | undefined)?.state, "pending", `not held for approval: ${answer.text.slice(0, 300)}`);
        assert.equal(record.decision.effect, "require-approval");
        assert.equal(record.approval?.via, "asked");
      } else {
        // A refusal is recorded with its code and answered with it in x-portcullis-error (a
        // not-found in LangGraph's own words, as the server answers a thread it does not have).
        assert.equal(answer.error, hostile.expect_error);
        // Crons keep the gateway's JSON: the JS server has no cron routes to answer in its stead.
        // A body field LangGraph validates itself is refused with LangGraph's own Zod issues.
        const zod = (answer.json as { error?: { name?: string; issues?: unknown[] } } | undefined)?.error;
        const zodIssues = typeof zod === "object" && zod?.name === "ZodError" ? zod.issues : undefined;
        if (hostile.expect_error === "PC_NOT_FOUND" && !hostile.path.includes("/crons")) assert.match(answer.text, /^(Thread with ID [0-9a-f-]+|Run) not found$/);
        else if (zodIssues) assert.ok(hostile.expect_error === "PC_BAD_REQUEST" && zodIssues.length > 0 && record.status === 400, `a LangGraph validation answer for ${hostile.expect_error}: ${answer.text.slice(0, 300)}`);
        else assert.equal((answer.json as { error?: string } | undefined)?.error, hostile.expect_error);
        assert.equal(record.error, hostile.expect_error);
        assert.equal(record.approval, undefined, "an approval was offered for a refused request");
      }
      if (hostile.expect_rule) assert.equal(record.decision.rule, hostile.expect_rule, `decided by ${JSON.stringify(record.decision)}`);
      for (const reason of hostile.expect_risk_reasons ?? []) assert.ok(record.operation?.risk_reasons.includes(reason), `classified without ${reason}: ${JSON.stringify(record.operation?.risk_reasons)}`);
    });
  }
});

describe("after the corpus: the victims' resources are untouched", () => {
  test("alice's run was neither cancelled nor deleted, and her join stream still receives its events", async () => {
    const alice = sdkAs("alice");
    assert.equal((await alice.runs.get(placeholders.foreign_thread!, placeholders.foreign_run!)).status, "running");
    const controller = new AbortController();
    const ticks: unknown[] = [];
    for await (const chunk of alice.runs.joinStream(placeholders.foreign_thread!, placeholders.foreign_run!, { signal: controller.signal })) {
      if (chunk.event === "custom") ticks.push(chunk.data);
      if (ticks.length >= 3) break;
    }
    controller.abort();
    assert.equal(ticks.length, 3);
    assert.equal((await alice.runs.get(placeholders.foreign_thread!, placeholders.foreign_run!)).status, "running");
    await alice.runs.cancel(placeholders.foreign_thread!, placeholders.foreign_run!, true);
  });

  test("the guarded threads are still held at approve: no empty command or foreign cron resumed them", async () => {
    for (const [who, thread] of [
      ["bob", placeholders.own_interrupted_thread!],
      ["alice", placeholders.foreign_hitl_thread!],
    ] as const) {
      const state = await sdkAs(who).threads.getState(thread);
      assert.deepEqual(state.next, ["approve"], `${who}'s thread moved on`);
      assert.equal((state.values as Record<string, unknown>).result, undefined, `${who}'s execute node ran`);
      assert.equal((await sdkAs(who).threads.get(thread)).status, "interrupted");
    }
  });

  test("no approval was asked for a cron on someone else's thread", async () => {
    const response = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { "x-api-key": keys.approver.key } });
    const { approvals } = (await response.json()) as { approvals: Array<{ request: { path: string } }> };
    assert.deepEqual(
      approvals.filter((approval) => approval.request.path.includes("/crons")),
      [],
    );
  });
});

describe("cron ownership", () => {
  test("a cron create is stamped with its owner once approved, and is never offered for approval on another user's thread", async () => {
    proxy.clear();
    const foreign = await send(gateway, "bob", "POST", "/runs/crons", JSON.stringify({ assistant_id: placeholders.hitl_assistant, thread_id: placeholders.foreign_thread, schedule: "0 0 * * *", input: {} }));
    assert.equal(foreign.status, 404);

    const own = await send(
      gateway,
      "bob",
      "POST",
      "/runs/crons",
      JSON.stringify({ assistant_id: placeholders.hitl_assistant, thread_id: placeholders.own_thread, schedule: "0 0 * * *", input: { request: "daily" }, metadata: { portcullis_owner: placeholders.alice } }),
    );
    assert.equal(own.status, 202, own.text);
    const approvalId = (own.json as { approval_id: string }).approval_id;
    const decided = await fetch(`${gateway.url}/portcullis/approvals/${approvalId}/approve`, {
      method: "POST",
      headers: { "x-api-key": keys.approver.key, "content-type": "application/json" },
      body: JSON.stringify({ reason: "daily report" }),
    });
    assert.equal(decided.status, 200);
    // The gateway sends the approved request itself; the pinned JS server answers 500 (crons are stubbed).
    const sent = await eventually(async () => {
      const found = proxy.requests.find((recorded) => !isGatewayLookup(recorded) && recorded.method === "POST" && recorded.url === "/runs/crons");
      assert.ok(found, "the approved cron was not sent");
      return found;
    }, 15_000);
    const metadata = (JSON.parse(sent.body) as { metadata: Record<string, unknown> }).metadata;
    assert.equal(metadata.portcullis_owner, placeholders.bob);
  });

  test("a cron's owner decides PATCH and DELETE as a thread's owner does; a cron that cannot be found answers 404", async () => {
    const policy = await loadPolicyFile(DEFAULT_POLICY_FILE);
    const bob: Identity = { subject: "sa:bob", kind: "service-account", groups: [], auth_method: "api-key", credential_id: "bob" };
    const auditor: Identity = { ...bob, subject: "sa:auditor", groups: ["auditors"] };
    const decideCron = (identity: Identity, method: "PATCH" | "DELETE", facts: RequestFacts) => {
      const target = parseRequestTarget(`/runs/crons/${placeholders.foreign_cron}`);
      const operation = classifyOperation(matchRoute(method, target), target, method === "PATCH" ? { schedule: "* * * * *" } : undefined);
      return decideWithFacts(policy, { identity, operation, target, method, sourceAddress: "127.0.0.1", body: undefined }, facts);
    };
    const cron = (owner?: string) => ({ cron_id: placeholders.foreign_cron!, exists: true, ...(owner ? { owner } : {}) });
    for (const method of ["PATCH", "DELETE"] as const) {
      const mine = decideCron(bob, method, { graphs: [], assistants: [], cron: cron("sa:bob") });
      assert.equal(mine.effect, "require-approval", `${method} of bob's own cron`);
      const others: Array<[string, RequestFacts["cron"]]> = [
        ["alice's cron", cron("sa:alice")],
        ["a cron without an owner", cron()],
        ["a cron the gateway cannot find", { cron_id: placeholders.foreign_cron!, exists: false }],
      ];
      for (const [what, other] of others) {
        const decision = decideCron(bob, method, { graphs: [], assistants: [], cron: other });
        assert.deepEqual([decision.effect, decision.not_found], ["deny", true], `${method} of ${what}: ${JSON.stringify(decision)}`);
      }
      // The auditor reaches every cron (crons:read, scope any), so a change is put to approvers.
      assert.equal(decideCron(auditor, method, { graphs: [], assistants: [], cron: cron("sa:alice") }).effect, "require-approval");
    }
  });
});

describe("batches are bounded and charged per run", () => {
  let dir: string;
  let limited: TestGateway;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-batch-"));
    const policyFile = path.join(dir, "policy.yaml");
    await writeFile(policyFile, `${await readFile(DEFAULT_POLICY_FILE, "utf8")}\n${corpus.rate_limit.policy_addition}`);
    limited = await startTestGateway(langgraph, { policy: { file: policyFile, watch: false }, identity: { service_accounts: serviceAccounts } });
  });
  after(async () => {
    await limited?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test("each run of a batch takes a token of the caller's rate limit, and the refusal is recorded", async () => {
    for (const [index, step] of corpus.rate_limit.sequence.entries()) {
      const run = { assistant_id: "agent", input: { messages: [{ role: "user", content: `batch ${index}` }] } };
      const answer = await send(limited, step.as, "POST", "/runs/batch", bodyOf({ batch_of: { count: step.runs, run } }));
      assert.equal(answer.status, step.expect_status, `step ${index} (${step.as}, ${step.runs} runs) answered ${answer.status}: ${answer.text.slice(0, 300)}`);
      const record = await requestRecordOf(limited, answer.requestId);
      if (step.expect_error) {
        assert.equal((answer.json as { error?: string }).error, step.expect_error);
        assert.equal(record.error, step.expect_error);
        assert.equal(record.status, step.expect_status);
      } else {
        assert.equal((answer.json as unknown[]).length, step.runs);
      }
    }
  });
});
