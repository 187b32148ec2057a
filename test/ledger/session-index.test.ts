// The session index beside the ledger, on SQLite and PostgreSQL: what each record contributes,
// every filter, keyset pages over a large history, the rebuild of a ledger written before the
// index existed, and the timeline and execution-path reading of recorded streams.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { pino } from "pino";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresLedgerStore } from "../../src/ledger/postgresStore.js";
import { isAssetRequest, runStatusOf, sessionFilter, sessionUpdateOf, type SessionSummary } from "../../src/ledger/sessionIndex.js";
import { summarise } from "../../src/ledger/summary.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { LedgerStore } from "../../src/ledger/store.js";
import type { AuditRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { parseRecording, sseText } from "../../src/replay/recording.js";
import { loadSession, type Session } from "../../src/replay/session.js";
import { buildTimeline, comparePaths, executionPath, sessionStatus } from "../../src/replay/timeline.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";

const ORIGIN = "portcullis.test/sessions";
const T0 = Date.parse("2026-03-01T10:00:00Z");

function request(id: string, overrides: Partial<RequestRecord> & { at: number; subject?: string; groups?: string[]; graph?: string; thread?: string; createsRun?: boolean }): RequestRecord {
  const { at, subject = "oidc:corp:alice", groups = ["analysts"], graph = "agent", thread, createsRun = true, ...rest } = overrides;
  return {
    type: "request",
    request_id: id,
    time: new Date(at).toISOString(),
    client: { address: "127.0.0.1", user_agent: "test" },
    method: "POST",
    path: thread ? `/threads/${thread}/runs/stream` : "/runs/stream",
    query: "",
    identity: { subject, kind: "oidc", groups, auth_method: "oidc-bearer", credential_id: "k1", name: subject.split(":").at(-1)! },
    operation: {
      route: "runs.stream",
      resource: "runs",
      action: "runs:create",
      actions: ["runs:create"],
      risk: "execute",
      response: "sse",
      ids: thread ? { thread_id: thread } : {},
      assistant_ids: [graph],
      risk_reasons: [],
      creates_run: createsRun,
    } as unknown as RequestRecord["operation"],
    decision: { effect: "allow", rule: "callers-run" },
    resources: { graphs: [graph] },
    ...rest,
  };
}

function completion(id: string, at: number, outcome: "ok" | "run_error" = "ok"): AuditRecord {
  return { type: "completion", request_id: id, time: new Date(at).toISOString(), status: 200, upstream_status: 200, outcome, duration_ms: 40, bytes_in: 10, bytes_out: 20, run_id: `run-${id}` };
}

function runRecord(id: string, at: number, status: string, thread: string | null): AuditRecord {
  return { type: "run", request_id: id, time: new Date(at).toISOString(), run_id: `run-${id}`, thread_id: thread, status, steps: [], followed_ms: 5 };
}

async function openLedger(store: LedgerStore, keyFile: string): Promise<Ledger> {
  return Ledger.open({ origin: ORIGIN, store, keyFile, log: pino({ level: "silent" }), checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 64 });
}

function conformance(name: string, open: () => Promise<{ store: LedgerStore; keyFile: string; wipeIndex: () => Promise<void>; reopen: () => Promise<LedgerStore> }>) {
  describe(`session index on ${name}`, () => {
    let ledger: Ledger;
    let setup: Awaited<ReturnType<typeof open>>;

    before(async () => {
      setup = await open();
      ledger = await openLedger(setup.store, setup.keyFile);
      // 240 sessions across three people and two graphs, in batches like concurrent requests.
      const appends: Promise<unknown>[] = [];
      for (let i = 0; i < 240; i++) {
        const id = `req-${String(i).padStart(4, "0")}`;
        const who = ["oidc:corp:alice", "oidc:corp:bob", "sa:ci-bot"][i % 3]!;
        const groups = who === "sa:ci-bot" ? ["ci"] : ["analysts", who.endsWith("bob") ? "oncall" : "staff"];
        appends.push(ledger.append(request(id, { at: T0 + i * 1000, subject: who, groups, graph: i % 2 === 0 ? "agent" : "tools", thread: `thread-${i % 10}` })));
      }
      await Promise.all(appends);
      await Promise.all(Array.from({ length: 240 }, (_, i) => ledger.append(completion(`req-${String(i).padStart(4, "0")}`, T0 + i * 1000 + 40, i % 7 === 0 ? "run_error" : "ok"))));
      await ledger.append(runRecord("req-0001", T0 + 2_000, "interrupted", "thread-1"));
      await ledger.append(request("req-denied", { at: T0 + 500_000, decision: { effect: "deny", rule: "default:deny" }, status: 403, error: "PC_FORBIDDEN" }));
      await ledger.append({ type: "approval", time: new Date(T0 + 600_000).toISOString(), approval_id: "appr-1", request_id: "req-held", event: "requested", actor: "oidc:corp:alice", requester: "oidc:corp:alice", rule: "needs-approval", graphs: ["agent"], actions: ["runs:create"], approver_groups: ["approvers"], approvals_required: 1, approvals_given: 0 });
      await ledger.append(request("req-held", { at: T0 + 601_000, decision: { effect: "require-approval", rule: "needs-approval" }, approval: { via: "approved", approval_id: "appr-1" } }));
      await ledger.append({ type: "approval", time: new Date(T0 + 601_001).toISOString(), approval_id: "appr-1", request_id: "req-held", event: "used", actor: "gateway", requester: "oidc:corp:alice", rule: "needs-approval", graphs: ["agent"], actions: ["runs:create"], approver_groups: ["approvers"], approvals_required: 1, approvals_given: 1 });
      await ledger.append(request("req-egress", { at: T0 + 602_000, subject: "sa:langgraph-runtime", groups: ["langgraph-runtime"], egress: { route: "model", path: "/v1/chat", run: { request_id: "req-held", subject: "oidc:corp:alice", graphs: ["agent"] } }, createsRun: false }));
      await ledger.append(completion("req-egress", T0 + 602_100));
      await ledger.append(completion("req-held", T0 + 603_000));
    });

    after(async () => {
      await ledger.close();
    });

    const ids = (sessions: SessionSummary[]) => sessions.map((s) => s.requestId);

    it("gathers each session's facts from its request, completion, run and approval records", async () => {
      const one = (await setup.store.session(ORIGIN, "req-0001"))!;
      assert.equal(one.subject, "oidc:corp:bob");
      assert.deepEqual(one.groups, ["analysts", "oncall"]);
      assert.deepEqual(one.graphs, ["tools"]);
      assert.equal(one.threadId, "thread-1");
      assert.equal(one.runId, "run-req-0001");
      assert.equal(one.kind, "run");
      assert.equal(one.status, "interrupted", "the run's own status wins over the exchange's outcome");
      assert.equal(one.endedMs! - one.startedMs, 1_000, "ended when the run record came");
      const held = (await setup.store.session(ORIGIN, "req-held"))!;
      assert.equal(held.decision, "require-approval");
      assert.equal(held.approval, "used", "the latest approval event");
      assert.equal(held.approvalId, "appr-1");
      assert.equal(held.startedMs, T0 + 601_000, "started when the request was recorded, not when approval was asked");
      const egress = (await setup.store.session(ORIGIN, "req-egress"))!;
      assert.equal(egress.kind, "egress");
      assert.equal(egress.parentRequestId, "req-held");
      assert.deepEqual(ids(await setup.store.sessions(ORIGIN, { parentRequestId: "req-held", limit: 10 })), ["req-egress"]);
      assert.equal((await setup.store.session(ORIGIN, "req-denied"))!.status, "refused");
      assert.equal(await setup.store.session(ORIGIN, "no-such"), undefined);
    });

    it("filters by user, group, graph, assistant, thread, status, decision, time range and kind", async () => {
      const all = { limit: 1_000 };
      const bob = await setup.store.sessions(ORIGIN, { ...all, subject: "oidc:corp:bob" });
      assert.equal(bob.length, 80);
      assert.ok(bob.every((s) => s.subject === "oidc:corp:bob"));
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, group: "oncall" })).length, 80);
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, group: "analyst" })).length, 0, "a group matches whole, not as a prefix");
      const tools = await setup.store.sessions(ORIGIN, { ...all, graph: "tools" });
      assert.ok(tools.length === 120 && tools.every((s) => s.graphs.includes("tools")));
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, assistantId: "tools" })).length, 120);
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, threadId: "thread-3" })).length, 24);
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, status: "run_error" })).length, 35);
      assert.deepEqual(ids(await setup.store.sessions(ORIGIN, { ...all, status: "interrupted" })), ["req-0001"]);
      assert.deepEqual(ids(await setup.store.sessions(ORIGIN, { ...all, decision: "deny" })), ["req-denied"]);
      const window = await setup.store.sessions(ORIGIN, { ...all, fromMs: T0 + 10_000, toMs: T0 + 20_000 });
      assert.deepEqual(ids(window), Array.from({ length: 10 }, (_, i) => `req-${String(19 - i).padStart(4, "0")}`), "from inclusive, to exclusive, newest first");
      assert.deepEqual(ids(await setup.store.sessions(ORIGIN, { ...all, kinds: ["egress"] })), ["req-egress"]);
      assert.deepEqual(ids(await setup.store.sessions(ORIGIN, { ...all, text: "EGRESS" })), ["req-egress"], "free text, case-insensitive, in the session id");
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, text: "corp:BOB" })).length, 80, "free text in the subject");
      assert.equal((await setup.store.sessions(ORIGIN, { ...all, text: "thread-3" })).length, 24, "free text in the thread");
      const combined = await setup.store.sessions(ORIGIN, { ...all, subject: "oidc:corp:alice", graph: "agent", threadId: "thread-0" });
      assert.ok(combined.length > 0 && combined.every((s) => s.subject === "oidc:corp:alice" && s.threadId === "thread-0"));
    });

    it("pages through the history newest first, each session exactly once", async () => {
      const seen: string[] = [];
      let before: { startedMs: number; requestId: string } | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await setup.store.sessions(ORIGIN, { limit: 25, kinds: ["run"], ...(before ? { before } : {}) });
        seen.push(...ids(page));
        if (page.length < 25) break;
        before = { startedMs: page.at(-1)!.startedMs, requestId: page.at(-1)!.requestId };
      }
      assert.equal(seen.length, 242);
      assert.equal(new Set(seen).size, 242);
      const times = await Promise.all(seen.slice(0, 30).map(async (id) => (await setup.store.session(ORIGIN, id))!.startedMs));
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
    });

    it("rebuilds the index from the leaves for a ledger written before it existed", async () => {
      const before = await setup.store.sessions(ORIGIN, { limit: 1_000 });
      await ledger.close();
      await setup.wipeIndex();
      setup.store = await setup.reopen();
      assert.equal((await setup.store.sessions(ORIGIN, { limit: 10 })).length, 0, "wiped");
      ledger = await openLedger(setup.store, setup.keyFile);
      const after = await setup.store.sessions(ORIGIN, { limit: 1_000 });
      assert.deepEqual(after, before);
      const usage = await setup.store.grantUsage(ORIGIN);
      assert.ok(usage.some((u) => u.subject === "oidc:corp:bob" && u.rule === "callers-run" && u.count === 80));
      const identities = await setup.store.identityUsage(ORIGIN);
      assert.deepEqual(identities.find((i) => i.subject === "oidc:corp:bob")?.groups, ["analysts", "oncall"]);
    });

    it("loads a session from its leaves with a proof against a signed checkpoint", async () => {
      const session = await loadSession({ store: setup.store, origin: ORIGIN, checkpoint: () => ledger.checkpoint() }, "req-held");
      assert.equal(session.proof.valid, true, session.proof.summary);
      assert.equal(session.proof.entries.length, 4, "request, completion and two approval records");
      assert.ok(session.proof.entries.every((e) => e.included));
      assert.deepEqual(session.egressCalls.map((c) => c.requestId), ["req-egress"]);
      assert.deepEqual(session.approvals.map((a) => a.event), ["requested", "used"]);
    });
  });
}

let postgres: TestPostgres;
const dirs: string[] = [];

before(async () => {
  postgres = await startPostgres();
});

after(async () => {
  await postgres?.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

conformance("SQLite", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-sessions-"));
  dirs.push(dir);
  const file = path.join(dir, "ledger.db");
  return {
    store: new SqliteLedgerStore(file),
    keyFile: path.join(dir, "key.pem"),
    wipeIndex: async () => {
      const db = new Database(file);
      db.exec("DELETE FROM ledger_sessions; DELETE FROM ledger_session_cursor;");
      db.close();
    },
    reopen: async () => new SqliteLedgerStore(file),
  };
});

conformance("PostgreSQL", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-sessions-pg-"));
  dirs.push(dir);
  const schema = `sessions_${Date.now()}`;
  return {
    store: await PostgresLedgerStore.open({ url: postgres.url, schema }),
    keyFile: path.join(dir, "key.pem"),
    wipeIndex: async () => {
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      await client.query(`DELETE FROM ${schema}.ledger_sessions; DELETE FROM ${schema}.ledger_session_cursor;`);
      await client.end();
    },
    reopen: () => PostgresLedgerStore.open({ url: postgres.url, schema }),
  };
});

describe("reading a recorded run", () => {
  const events = [
    { t: 5, event: "metadata", data: JSON.stringify({ run_id: "r1" }) },
    { t: 40, event: "updates", data: JSON.stringify({ agent: { messages: [{ type: "ai", content: "", tool_calls: [{ id: "c1", name: "send_email", args: { to: "[EMAIL_ADDRESS]" } }] }] } }) },
    { t: 90, event: "updates", data: JSON.stringify({ tools: { messages: [{ type: "tool", name: "send_email", content: "sent to [EMAIL_ADDRESS]" }] } }) },
    { t: 120, event: "updates", data: JSON.stringify({ agent: { messages: [{ type: "ai", content: "Email sent." }] } }) },
  ];
  const recordingText = events.map((e) => JSON.stringify(e)).join("\n") + "\n" + JSON.stringify({ truncated: true, limit_bytes: 10 }) + "\n";

  function sessionWith(text: string, steps: { step: number; source: string; nodes: string[] }[] = []): Session {
    const recording = parseRecording(text, true);
    return {
      summary: { requestId: "r", startedMs: T0, endedMs: T0 + 130 } as SessionSummary,
      entries: [],
      approvals: [],
      egressCalls: [],
      recording,
      ...(steps.length > 0 ? { run: runRecord("r", T0 + 200, "success", "t") as Session["run"] } : {}),
      proof: { valid: true, summary: "", entries: [], payloads: [] },
    } as Session & { run?: { steps: typeof steps } };
  }

  it("parses the recording, notes truncation, and writes SSE back in the server's format", () => {
    const recording = parseRecording(recordingText, true);
    assert.equal(recording.kind, "events");
    assert.ok(recording.kind === "events" && recording.truncated && recording.events.length === 4);
    assert.equal(sseText({ t: 0, event: "values", id: "3", data: "a\nb" }), "event: values\nid: 3\ndata: a\ndata: b\n\n");
    assert.equal(parseRecording("{not json", true).kind, "body");
    assert.equal(parseRecording('{"a":1}', false).kind, "body");
  });

  it("builds the timeline node by node with durations, messages and tool calls", () => {
    const timeline = buildTimeline(sessionWith(recordingText));
    const nodes = timeline.filter((step) => step.kind === "node");
    assert.deepEqual(nodes.map((n) => n.node), ["agent", "tools", "agent"]);
    assert.deepEqual(nodes.map((n) => n.duration_ms), [35, 50, 30]);
    assert.equal(nodes[0]!.tool_calls![0]!.name, "send_email");
    assert.equal(nodes[1]!.messages![0]!.role, "tool");
    assert.equal(nodes[2]!.messages![0]!.text, "Email sent.");
  });

  it("reads the execution path and names each difference", () => {
    const recorded = executionPath(sessionWith(recordingText));
    assert.deepEqual(recorded, { nodes: ["agent", "tools", "agent"], tool_calls: ["send_email"], source: "stream" });
    assert.deepEqual(comparePaths(recorded, recorded), []);
    const shorter = { nodes: ["agent"], tool_calls: [], source: "stream" as const };
    assert.deepEqual(comparePaths(recorded, shorter), [
      "node 2: the recording took tools; the re-run stopped before it",
      "node 3: the recording took agent; the re-run stopped before it",
      "tool call 1: the recording took send_email; the re-run stopped before it",
    ]);
    assert.deepEqual(comparePaths(shorter, { ...shorter, nodes: ["planner"] }), ["node 1: recorded agent, re-run planner"]);
  });
});

describe("run shapes and the records people read", () => {
  function session(events: { t: number; event: string; data: unknown }[], run?: Partial<Extract<AuditRecord, { type: "run" }>>): Session {
    const text = events.map((e) => JSON.stringify({ ...e, data: JSON.stringify(e.data) })).join("\n");
    return {
      summary: { requestId: "r", startedMs: T0, endedMs: T0 + 200, status: "success" } as SessionSummary,
      entries: [],
      approvals: [],
      egressCalls: [],
      recording: parseRecording(text, true),
      ...(run ? { run: { ...(runRecord("r", T0 + 300, "success", "t") as Extract<AuditRecord, { type: "run" }>), ...run } } : {}),
      proof: { valid: true, summary: "", entries: [], payloads: [] },
    } as Session;
  }

  it("names a subgraph's nodes with the subgraph they ran in", () => {
    const timeline = buildTimeline(session([
      { t: 10, event: "updates|research:7f3c2a", data: { search: { messages: [{ type: "ai", content: "found it" }] } } },
      { t: 20, event: "updates", data: { research: { messages: [{ type: "ai", content: "done" }] } } },
    ]));
    const nodes = timeline.filter((step) => step.kind === "node");
    assert.deepEqual(nodes.map((n) => [n.title, n.node, n.detail]), [["Node search", "research › search", "in subgraph research"], ["Node research", "research", undefined]]);
  });

  it("maps each values event after the input to the checkpoint step that wrote it, skipping LangGraph JS's __start__ step 0", () => {
    const steps = [{ step: -1, source: "input", nodes: ["__start__"] }, { step: 0, source: "loop", nodes: ["__start__"] }, { step: 1, source: "loop", nodes: ["work"] }, { step: 2, source: "loop", nodes: ["echo"] }];
    const timeline = buildTimeline(session([{ t: 5, event: "values", data: { n: 0 } }, { t: 10, event: "values", data: { n: 1 } }, { t: 20, event: "values", data: { n: 2 } }], { steps }));
    assert.deepEqual(timeline.filter((step) => step.kind === "node").map((n) => n.title), ["Node work", "Node echo"]);
    assert.deepEqual(executionPath(session([], { steps })).nodes, ["work", "echo"]);
  });

  it("shows a breakpoint the stream reported and a run whose checkpoints left work pending as interrupted", () => {
    const paused = session([{ t: 10, event: "updates", data: { agent: { messages: [] } } }, { t: 11, event: "updates", data: { __interrupt__: [] } }], { steps: [{ step: 1, source: "loop", nodes: ["agent"] }], next: ["tools"], interrupts: 0 });
    assert.equal(buildTimeline(paused).find((step) => step.kind === "interrupt")!.title, "Paused at a breakpoint before tools");
    assert.equal(sessionStatus(paused), "interrupted");
    const background = session([], { steps: [{ step: 1, source: "loop", nodes: ["plan"] }], next: ["approve"], interrupts: 1 });
    assert.equal(buildTimeline(background).find((step) => step.kind === "interrupt")!.title, "Interrupted in approve: waiting for input");
    assert.equal(sessionStatus(session([], { steps: [{ step: 1, source: "loop", nodes: ["plan"] }] })), "success");
  });

  it("indexes a run that stopped with pending work as interrupted, and a stateless run by its outcome, not as ended", () => {
    const run = runRecord("r", T0, "success", "t") as Extract<AuditRecord, { type: "run" }>;
    assert.deepEqual(runStatusOf({ ...run, next: ["approve"], interrupts: 1 }), { runStatus: "interrupted" });
    assert.deepEqual(runStatusOf(run), { runStatus: "success" });
    assert.deepEqual(runStatusOf({ ...run, status: "ended", thread_id: null }), {});
    assert.deepEqual(runStatusOf({ ...run, status: "error" }), { runStatus: "error" });
  });

  it("marks console assets and browser noise as assets, keeps their records, and leaves them out of evidence reports", () => {
    for (const [method, path, asset] of [["GET", "/console/assets/console.js", true], ["GET", "/favicon.ico", true], ["HEAD", "/robots.txt", true], ["GET", "/apple-touch-icon-precomposed.png", true], ["GET", "/console/sessions", false], ["POST", "/favicon.ico", false], ["GET", "/threads/favicon.ico", false]] as const) {
      assert.equal(isAssetRequest(method, path), asset, `${method} ${path}`);
    }
    // A refused request under /console/assets/ is a probe, not noise: it stays in the views people read.
    assert.equal(isAssetRequest("GET", "/console/assets/..%2f..%2fetc", "deny"), false);
    const favicon = request("f", { at: T0, createsRun: false, method: "GET", path: "/favicon.ico", decision: { effect: "deny", rule: "default:deny" }, status: 404 });
    assert.equal(sessionUpdateOf(favicon, 1)!.kind, "asset");
    const page = request("p", { at: T0, createsRun: false, method: "GET", path: "/console/sessions", decision: { effect: "allow", rule: "gateway:console" }, status: 200 });
    assert.equal(sessionUpdateOf(page, 2)!.kind, "gateway");
    const summary = summarise([favicon, page]);
    assert.equal(summary.assets, 1);
    assert.equal(summary.records.request, 2, "the record is still counted among the records");
    assert.deepEqual(summary.denials, [], "a browser's favicon.ico is not a denial a person reads");
  });

  it("searches free text in every column a person would type, case-insensitively", () => {
    const { where, params } = sessionFilter({ limit: 10, text: "Alice" }, (column) => `instr(${column}, ?) > 0`);
    assert.match(where.at(-1)!, /^\(instr\(lower\(COALESCE\(request_id, ''\)\), \?\) > 0 OR .* OR instr\(lower\(COALESCE\(rule, ''\)\), \?\) > 0\)$/);
    assert.ok(params.every((p) => p === "alice"));
  });
});
