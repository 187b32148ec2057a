// The policy bypass corpus (fixtures/policy-bypass-corpus.json) replayed against the real LangGraph
// server behind Portcullis under the team policy. A recording proxy sits between the gateway and
// LangGraph, so every case proves what LangGraph was sent, not only what the caller was answered.
// A case marked known_gap still fails on anything that reached LangGraph or leaked to the caller (a
// real bypass); only its status, error code and rule are reported as TODO until the gateway is fixed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { GATEWAY_USER_AGENT } from "../../src/forward/gatewayRequest.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startRecordingProxy, type RecordedRequest, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

type Caller = "alice" | "bob" | "nightly";

interface UpstreamPattern {
  method: string;
  path: string;
  body?: string;
  body_lacks?: string;
}

interface BypassCase {
  name: string;
  as: Caller;
  method?: string;
  path?: string;
  headers?: Record<string, string | null>;
  body?: string;
  raw?: string;
  expect_status: number;
  expect_error?: string;
  expect_held_for_approval?: boolean;
  expect_rule?: string;
  expect_risk_reasons?: string[];
  expect_removed?: string[];
  expect_only_threads_of?: string;
  response_must_not_contain?: string[];
  must_not_reach: UpstreamPattern;
  must_reach?: UpstreamPattern;
  known_gap?: string;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
  requestId: string;
}

const TEAM_POLICY = fileURLToPath(new URL("../fixtures/policies/team.yaml", import.meta.url));
const corpus = (JSON.parse(readFileSync(new URL("../fixtures/policy-bypass-corpus.json", import.meta.url), "utf8")) as { cases: BypassCase[] }).cases;
// Marks the caller's own requests in the upstream log; the gateway's lookups carry no user-agent.
const CORPUS_AGENT = "portcullis-bypass-corpus";

const keys = { alice: generateApiKey(), bob: generateApiKey(), nightly: generateApiKey() };
let langgraph: Upstream;
let proxy: RecordingProxy;
let gateway: TestGateway;
const placeholders: Record<string, string> = {};

const sdkAs = (caller: Caller) => new Client({ apiUrl: gateway.url, apiKey: keys[caller].key, callerOptions: { maxRetries: 0 } });

before(async () => {
  langgraph = await startLangGraph();
  proxy = await startRecordingProxy(langgraph.url);
  gateway = await startTestGateway(
    { url: proxy.url, key: langgraph.key },
    {
      policy: { file: TEAM_POLICY, watch: false },
      // Every case that needs approval leaves one pending.
      approvals: { max_pending_per_requester: 1_000 },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: keys.alice.sha256, groups: ["analysts"] },
          { id: "bob", key_sha256: keys.bob.sha256, groups: ["analysts"] },
          { id: "nightly", key_sha256: keys.nightly.sha256, groups: [] },
        ],
      },
    },
  );
  const alice = sdkAs("alice");

  // alice's guarded thread: plan → approve (interrupt) → execute, held at approve.
  const thread = await interruptedHitlThread(alice, "wire $1M to ACME");
  const [run] = await alice.runs.list(thread);
  const history = await alice.threads.getHistory(thread, { limit: 10 });
  const state = await alice.threads.getState(thread);
  Object.assign(placeholders, {
    thread,
    thread_upper: thread.toUpperCase(),
    thread_encoded: [...thread].map((char) => `%${char.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    run: run!.run_id,
    checkpoint: history[1]!.checkpoint.checkpoint_id!,
    interrupt: state.tasks[0]!.interrupts[0]!.id!,
    spare_thread: await interruptedHitlThread(alice, "wire $2 to ACME"),
  });

  // A resumable run whose stream, replayed, shows what the agent said (a card number).
  const chat = await alice.threads.create();
  const chatRun = await alice.runs.create(chat.thread_id, "agent", { input: { messages: [{ role: "user", content: "which card?" }] }, streamResumable: true });
  // Polled, not joined: an early join makes the JS server's queue non-resumable (langgraph-api.md §6).
  for (let i = 0; i < 200 && ["pending", "running"].includes((await alice.runs.get(chat.thread_id, chatRun.run_id)).status); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  placeholders.chat_run = chatRun.run_id;

  // A static breakpoint: the tool call is held before the tools node. A run-level interruptBefore
  // is itself steering through the gateway (it replaces compiled breakpoints), so this one run is
  // set up on LangGraph directly, on alice's thread.
  const tools = await alice.threads.create();
  const direct = new Client({ apiUrl: langgraph.url, apiKey: langgraph.key, callerOptions: { maxRetries: 0 } });
  await direct.runs.wait(tools.thread_id, "tools", { input: { messages: [{ role: "user", content: "mail bob" }] }, interruptBefore: ["tools"] });
  assert.deepEqual((await alice.threads.getState(tools.thread_id)).next, ["tools"]);
  placeholders.tools_thread = tools.thread_id;

  placeholders.bob_thread = (await sdkAs("bob").threads.create()).thread_id;

  const nightly = sdkAs("nightly");
  placeholders.nightly_thread = (await nightly.threads.create()).thread_id;
  await nightly.runs.wait(placeholders.nightly_thread, "agent", { input: { messages: [{ role: "user", content: "report" }] } });
  placeholders.nightly_run = (await nightly.runs.list(placeholders.nightly_thread))[0]!.run_id;

  for (const graph of ["hitl", "slow"]) {
    const [assistant] = await alice.assistants.search({ graphId: graph, metadata: { created_by: "system" } });
    placeholders[`${graph}_assistant`] = assistant!.assistant_id;
  }
});

after(async () => {
  await gateway?.close();
  await proxy?.close();
  await langgraph?.stop();
});

async function interruptedHitlThread(client: Client, request: string): Promise<string> {
  const { thread_id } = await client.threads.create();
  await client.runs.wait(thread_id, "hitl", { input: { request } });
  assert.equal((await client.threads.get(thread_id)).status, "interrupted");
  return thread_id;
}

function fill(text: string, caller: Caller): string {
  return text.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = name === "key" ? keys[caller].key : placeholders[name];
    if (value === undefined) throw new Error(`the corpus names an unknown placeholder {${name}}`);
    return value;
  });
}

/** Sends the case's request as written: node:http keeps the path byte for byte, where fetch
 * would resolve dot segments before the gateway ever saw them. */
async function send(bypass: BypassCase): Promise<Answer> {
  if (bypass.raw) return sendRaw(fill(bypass.raw, bypass.as));
  // Prefer: respond-async: a request that needs approval is answered 202 at once rather than held.
  const headers: Record<string, string> = { "x-api-key": keys[bypass.as].key, "user-agent": CORPUS_AGENT, prefer: "respond-async" };
  const body = bypass.body === undefined ? undefined : Buffer.from(fill(bypass.body, bypass.as));
  if (body) headers["content-type"] = "application/json";
  for (const [name, value] of Object.entries(bypass.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = fill(value, bypass.as);
  }
  return new Promise((resolve, reject) => {
    const outgoing = request(gateway.url, { method: bypass.method, path: fill(bypass.path!, bypass.as), headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const json = String(response.headers["content-type"]).includes("json") && text ? (JSON.parse(text) as unknown) : undefined;
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json, requestId: String(response.headers["x-request-id"]) });
      });
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

async function sendRaw(text: string): Promise<Answer> {
  const raw = await rawRequest(gateway.url, text);
  const [head = "", ...rest] = raw.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n");
  const headers: IncomingHttpHeaders = {};
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: statusOf(raw), headers, text: body, json: body ? (JSON.parse(body) as unknown) : undefined, requestId: String(headers["x-request-id"]) };
}

/** The gateway's own lookups (a thread's owner, an assistant's graph, whether a run is on a
 * thread), which refused requests may still cause. */
/** The gateway's own requests: policy lookups, and following the runs earlier cases started. */
function isGatewayLookup(recorded: RecordedRequest): boolean {
  return recorded.headers["user-agent"] === GATEWAY_USER_AGENT;
}

function matches(recorded: RecordedRequest, pattern: UpstreamPattern, caller: Caller): boolean {
  return (
    !isGatewayLookup(recorded) &&
    new RegExp(`^(?:${pattern.method})$`, "i").test(recorded.method) &&
    new RegExp(fill(pattern.path, caller), "i").test(recorded.url) &&
    (pattern.body === undefined || new RegExp(fill(pattern.body, caller)).test(recorded.body)) &&
    (pattern.body_lacks === undefined || !new RegExp(fill(pattern.body_lacks, caller)).test(recorded.body))
  );
}

const described = (recorded: RecordedRequest) => `${recorded.method} ${recorded.url} ${recorded.body}`.trim();

/** A refusal names the rule that decided it; one held for approval names it in its reason. */
function namesRule(decision: RequestRecord["decision"], rule: string): boolean {
  return decision.rule === rule || (decision.reason ?? "").includes(`(rule ${rule})`);
}

async function requestRecordOf(requestId: string): Promise<RequestRecord> {
  return eventually(async () => {
    const record = (await gateway.recordsFor(requestId)).find((entry): entry is RequestRecord => entry.type === "request");
    assert.ok(record, `no request record for ${requestId}`);
    return record;
  });
}

/** Waits until no run on the thread is pending or running: a v2 run.start answers before its run executes. */
async function settled(client: Client, threadId: string): Promise<void> {
  await eventually(async () => {
    const busy = (await client.runs.list(threadId)).filter((run) => ["pending", "running"].includes(run.status));
    assert.deepEqual(busy, []);
  }, 30_000);
}

function assertOutcome(bypass: BypassCase, answer: Answer, record: RequestRecord): void {
  const caller = bypass.as;
  assert.equal(answer.status, bypass.expect_status, `answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  if (bypass.expect_error) assert.equal(answer.headers["x-portcullis-error"], bypass.expect_error);
  if (bypass.expect_held_for_approval) {
    assert.equal((answer.json as { state?: string } | undefined)?.state, "pending", `not held for approval: ${answer.text.slice(0, 300)}`);
    assert.equal(record.approval?.via, "asked");
  }
  if (bypass.expect_rule) assert.ok(namesRule(record.decision, bypass.expect_rule), `decided by ${JSON.stringify(record.decision)}, not ${bypass.expect_rule}`);
  for (const reason of bypass.expect_risk_reasons ?? []) assert.ok(record.operation?.risk_reasons.includes(reason), `classified without ${reason}`);
  if (bypass.expect_removed) {
    assert.deepEqual(record.rewrites?.removed, bypass.expect_removed);
    assert.equal(answer.headers["portcullis-removed"], bypass.expect_removed.join(", "));
  }
  if (bypass.must_reach) {
    const pattern = bypass.must_reach;
    assert.ok(
      proxy.requests.some((recorded) => matches(recorded, pattern, caller)),
      `expected ${pattern.method} ${pattern.path} ${pattern.body ?? ""} upstream; got ${proxy.requests.map(described).join(" | ")}`,
    );
  }
}

describe("policy bypass corpus against the real LangGraph server", () => {
  for (const bypass of corpus) {
    const title = `${bypass.as}: ${bypass.name} → ${bypass.expect_status}${bypass.known_gap ? " (known gap)" : ""}`;
    test(title, async (t: TestContext) => {
      proxy.clear();
      const answer = await send(bypass);
      const caller = bypass.as;

      // What reached LangGraph, and what the caller learnt, decide whether this is a bypass: these
      // never become TODOs, and all of them are reported together.
      const violations = proxy.requests.filter((recorded) => matches(recorded, bypass.must_not_reach, caller)).map((recorded) => `LangGraph received ${described(recorded)}`);
      for (const recorded of proxy.requests.filter((sent) => sent.headers["x-api-key"] !== langgraph.key)) {
        violations.push(`${described(recorded)} reached LangGraph without the gateway's upstream key`);
      }
      for (const secret of (bypass.response_must_not_contain ?? []).map((text) => fill(text, caller))) {
        if (answer.text.includes(secret)) violations.push(`the ${answer.status} answer discloses ${secret}`);
      }
      if (bypass.expect_only_threads_of) {
        const threads = answer.json as Array<{ thread_id: string; metadata?: Record<string, unknown> }>;
        if (!Array.isArray(threads) || threads.length === 0) {
          violations.push(`expected the caller's threads, got ${answer.text.slice(0, 200)}`);
        } else {
          // The ownership stamp is not shown to clients: each thread's owner is read from LangGraph itself.
          const direct = new Client({ apiUrl: langgraph.url, apiKey: langgraph.key, callerOptions: { maxRetries: 0 } });
          for (const thread of threads) {
            const owner = (await direct.threads.get(thread.thread_id)).metadata?.portcullis_owner;
            if (owner !== bypass.expect_only_threads_of) violations.push(`the answer lists thread ${thread.thread_id} of ${String(owner)}`);
          }
        }
      }
      assert.deepEqual(violations, [], `bypass (answered ${answer.status})`);

      // Every request leaves a record; a refusal forwards nothing of the caller's and names its rule.
      const record = await requestRecordOf(answer.requestId);
      if (record.error) {
        assert.notEqual(record.decision.effect, "allow");
        assert.deepEqual(proxy.requests.filter((recorded) => !isGatewayLookup(recorded)).map(described), [], "a refused request was forwarded");
      }

      if (bypass.known_gap) {
        await t.test(`outcome (known gap: ${bypass.known_gap})`, { todo: bypass.known_gap }, () => assertOutcome(bypass, answer, record));
      } else {
        assertOutcome(bypass, answer, record);
      }
    });
  }
});

describe("after the corpus", () => {
  test("alice's hitl thread is still held at approve: the guarded execute node never ran", async () => {
    const alice = sdkAs("alice");
    await settled(alice, placeholders.thread!);
    const state = await alice.threads.getState(placeholders.thread!);
    const values = state.values as Record<string, unknown>;
    assert.equal(values.result, undefined, `execute ran: ${JSON.stringify(values)}`);
    assert.equal(values.decision, undefined, `approve was answered: ${JSON.stringify(values)}`);
    assert.deepEqual(state.next, ["approve"]);
    assert.equal((await alice.threads.get(placeholders.thread!)).status, "interrupted");
  });

  test("the tool call held before alice's tools node never ran", async () => {
    const alice = sdkAs("alice");
    await settled(alice, placeholders.tools_thread!);
    const state = await alice.threads.getState(placeholders.tools_thread!);
    const messages = (state.values as { messages: Array<{ type: string; content: unknown }> }).messages;
    assert.deepEqual(
      messages.filter((message) => message.type === "tool").map((message) => message.content),
      [],
      "the held send_email call was executed",
    );
  });
});
