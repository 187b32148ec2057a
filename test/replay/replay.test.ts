// `portcullis sessions` and `portcullis replay` against sessions recorded from the real LangGraph
// server through the gateway with the official SDK: the replayed stream is what the client got,
// at the recorded pace or faster; served on a port, the SDK consumes it; --verify re-runs it
// through the gateway and compares the path; every replay is an access record.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { SessionSummary } from "../../src/ledger/sessionIndex.js";
import type { AccessRecord } from "../../src/record/auditRecord.js";
import { eventually, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";
import { CLI_ARGS } from "../support/cli.js";

const run = promisify(execFile);

let langgraph: Upstream;
let gateway: TestGateway;
let ledgerArgs: string[];

before(async () => {
  langgraph = await startLangGraph();
  gateway = await startTestGateway(langgraph);
  ledgerArgs = ["--ledger", gateway.ledgerFile, "--key-file", path.join(path.dirname(gateway.ledgerFile), "ledger-key.pem")];
});

after(async () => {
  await gateway?.close();
  await langgraph?.stop();
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

function parseSse(text: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(text);
  return events;
}

async function sessionOf(graph: string): Promise<SessionSummary> {
  const listed = await cli(["sessions", ...ledgerArgs, "--graph", graph, "--json", "--limit", "1"]);
  assert.equal(listed.code, 0, listed.stderr);
  const [session] = JSON.parse(listed.stdout) as SessionSummary[];
  assert.ok(session, `a ${graph} session`);
  return session;
}

describe("portcullis replay", () => {
  let original: { event: string; data: unknown }[];
  let thread: string;
  let session: SessionSummary;

  before(async () => {
    const client = sdkThroughGateway(gateway);
    thread = (await client.threads.create()).thread_id;
    original = [];
    for await (const chunk of client.runs.stream(thread, "tools", { input: { messages: [{ role: "user", content: "mail bob, I am alice@example.com" }] }, streamMode: ["updates"] })) {
      original.push({ event: chunk.event, data: chunk.data });
    }
    session = await eventually(async () => {
      const found = await sessionOf("tools");
      assert.equal(found.status, "success", "the run was followed to its end");
      return found;
    }, 15_000);
  });

  it("lists the session with its identity, graph, thread and run", async () => {
    assert.equal(session.subject, "sa:tester");
    assert.deepEqual(session.graphs, ["tools"]);
    assert.equal(session.threadId, thread);
    assert.ok(session.runId);
    const text = await cli(["sessions", ...ledgerArgs, "--user", "sa:tester"]);
    assert.match(text.stdout, new RegExp(`${session.requestId} .* sa:tester +tools +POST /threads/${thread}/runs/stream +allow +success`));
    assert.equal((await cli(["sessions", ...ledgerArgs, "--user", "sa:nobody"])).stdout, "No sessions match.\n");
  });

  it("prints the recorded stream as SSE: the events the client received, masked", async () => {
    const replayed = await cli(["replay", session.requestId, ...ledgerArgs, "--fast"]);
    assert.equal(replayed.code, 0, replayed.stderr);
    const events = parseSse(replayed.stdout);
    assert.deepEqual(events.map((e) => ({ event: e.event, data: JSON.parse(e.data) as unknown })), original);
    assert.ok(replayed.stdout.includes("[EMAIL_ADDRESS]") && !replayed.stdout.includes("alice@example.com"), "the recording is masked");
    // Who, when, which decision and the proof come first, on stderr, so stdout stays the stream.
    const header = replayed.stderr.split("\n");
    assert.equal(header[0], `Session  ${session.requestId}  POST /threads/${thread}/runs/stream`);
    assert.equal(header[1], "Who      (sa:tester) groups engineering");
    assert.match(header[2]!, /^When {5}\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ ms\)$/);
    assert.equal(header[3], "Decision allow (rule test-allow-all)");
    assert.equal(header[4], `Status   success · graph tools · thread ${thread}`);
    assert.match(header[5]!, /^Proof {4}valid: \d+ ledger records proven included in the signed checkpoint/);
  });

  it("replays at the recorded pace, and at another pace on request", async () => {
    const client = sdkThroughGateway(gateway);
    for await (const chunk of client.runs.stream(null, "slow", { input: { count: 4, delayMs: 250 }, streamMode: ["custom"] })) void chunk;
    const slow = await eventually(async () => {
      const found = await sessionOf("slow");
      assert.notEqual(found.status, "open");
      return found;
    }, 15_000);
    const started = performance.now();
    const paced = await cli(["replay", slow.requestId, ...ledgerArgs]);
    const pacedMs = performance.now() - started;
    const ticks = parseSse(paced.stdout).filter((e) => e.event === "custom");
    assert.equal(ticks.length, 4);
    // Four ticks 250 ms apart were recorded: the replay cannot be quicker than the gap between the first and last.
    assert.ok(pacedMs >= 700, `original pace took ${Math.round(pacedMs)} ms`);
    // --speed divides the recorded gaps. Only lower bounds are asserted (a timer never fires
    // early; an upper bound would depend on how busy the machine is): at half speed the same
    // ticks take at least twice as long, which an ignored --speed could not.
    const halfStarted = performance.now();
    const half = await cli(["replay", slow.requestId, ...ledgerArgs, "--speed", "0.5"]);
    assert.equal(parseSse(half.stdout).filter((e) => e.event === "custom").length, 4);
    const halfMs = performance.now() - halfStarted;
    assert.ok(halfMs >= 1_400, `half speed took ${Math.round(halfMs)} ms`);
    const fast = await cli(["replay", slow.requestId, ...ledgerArgs, "--speed", "100"]);
    assert.equal(parseSse(fast.stdout).filter((e) => e.event === "custom").length, 4);
  });

  it("serves the recording on a local port where the SDK's joinStream consumes it", async () => {
    const child = spawn(process.execPath, [...CLI_ARGS, "replay", session.requestId, ...ledgerArgs, "--serve", "--once", "--fast"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const lines = createInterface({ input: child.stdout! });
    let url = "";
    for await (const line of lines) {
      const match = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        url = match[1]!;
        break;
      }
    }
    assert.ok(url, "the replay server's address is printed");
    const replayClient = new Client({ apiUrl: url, callerOptions: { maxRetries: 0 } });
    const received: { event: string; data: unknown }[] = [];
    for await (const chunk of replayClient.runs.joinStream(thread, session.runId!, { streamMode: ["updates"] })) received.push({ event: chunk.event, data: chunk.data });
    assert.deepEqual(received, original);
    assert.equal(await exited, 0, "--once stops after the stream was served");
  });

  it("re-runs the session through the gateway and finds the same execution path", async () => {
    const verified = await cli(["replay", session.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url, "--json"], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
    const result = JSON.parse(verified.stdout) as { recorded: { nodes: string[]; tool_calls: string[]; source: string }; rerun: { nodes: string[]; tool_calls: string[] }; differences: string[]; rerunSession: string; threadId: string };
    assert.deepEqual(result.recorded.nodes, ["agent", "tools", "agent"]);
    assert.equal(result.recorded.source, "checkpoints");
    assert.deepEqual(result.recorded.tool_calls, ["send_email"]);
    assert.deepEqual(result.rerun, { ...result.recorded });
    assert.deepEqual(result.differences, []);
    assert.notEqual(result.threadId, thread, "the re-run used a new thread, leaving the user's thread alone");
    const rerun = (await gateway.recordsFor(result.rerunSession)).find((r) => r.type === "request");
    assert.ok(rerun?.type === "request" && rerun.identity?.subject === "sa:tester", "the re-run went through the gateway as the verifier and was recorded");
  });

  it("prints where a re-run's path differs from the recording", async () => {
    // A resume continues a thread's interrupted run; re-run on a fresh thread there is nothing to resume.
    const client = sdkThroughGateway(gateway);
    const hitl = (await client.threads.create()).thread_id;
    await client.runs.wait(hitl, "hitl", { input: { request: "wire $5 to ACME" } });
    await client.runs.wait(hitl, "hitl", { command: { resume: "yes" } });
    const resumed = await eventually(async () => {
      const listed = JSON.parse((await cli(["sessions", ...ledgerArgs, "--thread", hitl, "--json"])).stdout) as SessionSummary[];
      assert.equal(listed.length, 2);
      assert.ok(listed.every((s) => s.status !== "open"), "not yet: listed.every((s) => s.status !== \"open\")");
      return listed[0]!;
    }, 15_000);
    const verified = await cli(["replay", resumed.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url], { PORTCULLIS_API_KEY: gateway.key });
    assert.equal(verified.code, 1, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stdout, /Recorded path \(checkpoints\): execute\n/);
    assert.match(verified.stdout, /Re-run path {3}\(checkpoints\): \(no nodes\)\n/);
    assert.match(verified.stdout, /1 difference\(s\):\n {2}- node 1: the recording took execute; the re-run stopped before it\n/);
  });

  it("refuses what it cannot do with a clear message, and records every replay and verification", async () => {
    const unknown = await cli(["replay", "no-such-session", ...ledgerArgs]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no session no-such-session in the ledger; list sessions with portcullis sessions/);
    const noCredential = await cli(["replay", session.requestId, ...ledgerArgs, "--verify"], { PORTCULLIS_API_KEY: "", PORTCULLIS_TOKEN: "" });
    assert.equal(noCredential.code, 2);
    assert.match(noCredential.stderr, /--verify sends the request through the gateway as you/);
    const refused = await cli(["replay", session.requestId, ...ledgerArgs, "--verify", "--gateway", gateway.url], { PORTCULLIS_API_KEY: "pcsk_not_a_real_key_at_all_000000000000000" });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the gateway refused POST \/threads with 401/);
    const access = (await gateway.audit()).filter((r): r is AccessRecord => r.type === "access" && r.session === session.requestId);
    assert.ok(access.filter((r) => r.action === "session.replay").length >= 2);
    const verifications = access.filter((r) => r.action === "session.verify");
    assert.ok(verifications.some((r) => r.details?.same_path === true));
    assert.ok(verifications.some((r) => String(r.details?.error).includes("401")), "a failed verification is recorded too");
    assert.ok(access.every((r) => r.via === "cli" && r.actor.startsWith("cli:")));
  });
});
