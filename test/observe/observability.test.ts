// Observability: a real Prometheus scrapes the gateway's metrics listener while the official SDK
// runs the SDK scenario through the gateway in front of the real LangGraph server, and a local
// OTLP receiver gets the gateway's traces. The alert rules and the exposition pass promtool.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@langchain/langgraph-sdk";
import { pino } from "pino";
import { parseConfig } from "../../src/config/load.js";
import { gatewayLogOptions } from "../../src/gateway.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { createMasker } from "../../src/mask/index.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlpReceiver.js";
import { promtool, requirePrometheus, startPrometheus, type PrometheusServer } from "../support/prometheus.js";
import { startRecordingProxy, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const ALERTS = fileURLToPath(new URL("../../deploy/observability/alerts.yaml", import.meta.url));
const DASHBOARD = fileURLToPath(new URL("../../deploy/observability/grafana-dashboard.json", import.meta.url));

let upstream: Upstream;
let proxy: RecordingProxy;
let receiver: OtlpReceiver;
let gateway: TestGateway;
let prometheus: PrometheusServer;
const logLines: Array<Record<string, unknown>> = [];
/** A service account in the group trusted for trace context (the tester's is not), and an approver. */
const trusted = generateApiKey();
const approver = generateApiKey();
let policyDir: string;
// Everything is allowed, except that runs of the slow graph wait for an approver.
const POLICY = `version: 1
rules:
  - id: test-allow-all
    effect: allow
    subjects: "*"
    actions: ["*"]
    scope: any
  - id: slow-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [slow] }
    approval: { approver_groups: [approvers], expires_after_s: 120 }
`;

before(async () => {
  requirePrometheus();
  upstream = await startLangGraph();
  proxy = await startRecordingProxy(upstream.url);
  receiver = await startOtlpReceiver();
  policyDir = await mkdtemp(path.join(tmpdir(), "portcullis-observe-policy-"));
  await writeFile(path.join(policyDir, "policy.yaml"), POLICY);
  // Spans leave in batches; a short delay keeps the test from waiting on the 5 s default.
  process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  gateway = await startTestGateway(
    { url: proxy.url, key: upstream.key },
    {
      policy: { file: path.join(policyDir, "policy.yaml"), watch: false },
      identity: {
        service_accounts: [
          { id: "traced", key_sha256: trusted.sha256, groups: ["tracing-clients"] },
          { id: "approver", key_sha256: approver.sha256, groups: ["approvers"] },
        ],
      },
      approvals: { sweep_ms: 100 },
      observability: {
        metrics: { enabled: true, listen: { host: "127.0.0.1", port: 0 } },
        tracing: { enabled: true, otlp_endpoint: receiver.url, service_name: "portcullis-test", trust_client_context_from_groups: ["tracing-clients"] },
      },
    },
    // The gateway's own log options (src/gateway.ts), written where the test can read them.
    { logger: pino(gatewayLogOptions("info", await createMasker(parseConfig({ upstream: { url: "http://127.0.0.1:1" } }).masking)), logs) },
  );
  const metricsUrl = new URL(gateway.gateway.observe.metricsUrl!);
  prometheus = await startPrometheus({ job: "portcullis", target: metricsUrl.host, metricsPath: metricsUrl.pathname, rulesFile: ALERTS });
});

after(async () => {
  await prometheus?.stop();
  await gateway?.close();
  await receiver?.close();
  await proxy?.close();
  await upstream?.stop();
  if (policyDir) await rm(policyDir, { recursive: true, force: true });
  delete process.env.OTEL_BSP_SCHEDULE_DELAY;
});

function client(key: string, headers: Record<string, string> = {}): Client {
  return new Client({ apiUrl: gateway.url, apiKey: key, defaultHeaders: headers, callerOptions: { maxRetries: 0 } });
}

/** A W3C traceparent as a client's own tracer would send it (version 00, sampled). */
function clientTraceparent(): { header: string; traceId: string; spanId: string } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { header: `00-${traceId}-${spanId}-01`, traceId, spanId };
}

/** Streams one run of the echo graph on a new thread; returns the events' names. */
async function streamedRun(sdk: Client, text: string): Promise<{ events: string[]; threadId: string }> {
  const thread = await sdk.threads.create();
  const events: string[] = [];
  for await (const part of sdk.runs.stream(thread.thread_id, "echo", { input: { messages: [{ role: "user", content: text }] }, streamMode: ["values", "messages-tuple"] })) events.push(part.event);
  return { events, threadId: thread.thread_id };
}

/** The one SERVER span (an exchange) whose request targeted the thread's run stream. */
function exchangeSpanFor(threadId: string): Promise<ReceivedSpan> {
  return eventually(async () => {
    const roots = receiver.spans.filter((span) => span.kind === 2 && span.attributes["http.route"] === "runs.stream");
    const records = await gateway.audit();
    const streamRequest = records.find((record): record is RequestRecord => record.type === "request" && record.path === `/threads/${threadId}/runs/stream`);
    assert.ok(streamRequest, "the stream request was recorded");
    const root = roots.find((span) => span.attributes["portcullis.request_id"] === streamRequest.request_id);
    assert.ok(root, "the exchange's span was exported");
    return root;
  }, 20_000);
}

/** The series Prometheus returns for an expression, once it has scraped them. */
function series(expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  return eventually(async () => {
    const found = await prometheus.query(expression);
    assert.ok(found.length > 0, `no series for ${expression}`);
    return found;
  }, 30_000);
}

function spansOfTrace(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === traceId);
}

describe("metrics scraped by Prometheus", () => {
  test("the SDK scenario (a streamed run, a refused request) shows up as bounded series in Prometheus", async () => {
    const sdk = client(gateway.key);
    const { events } = await streamedRun(sdk, "write to ada@example.com");
    assert.ok(events.includes("values"), "the run streamed");
    await assert.rejects(client("pc_sa_not-a-real-key").threads.create(), (error: Error & { status?: number }) => error.status === 401);

    const streams = await series('portcullis_requests_total{job="portcullis",route="runs.stream",decision="allow",status="200",status_class="2xx"}');
    assert.equal(Number(streams[0]!.value[1]), 1);
    const refusals = await series('portcullis_refusals_total{code=~"PC_UNAUTHENTICATED|PC_INVALID_API_KEY|PC_INVALID_CREDENTIAL|PC_INVALID_TOKEN"}');
    assert.equal(refusals[0]!.metric.status, "401");
    for (const stage of ["receive", "identify", "classify", "authorize", "mask", "admit", "upstream_headers", "first_byte", "respond"]) {
      const observed = await series(`portcullis_stage_duration_seconds_count{stage="${stage}"}`);
      assert.ok(Number(observed[0]!.value[1]) >= 1, `stage ${stage} observed`);
    }
    assert.ok(Number((await series("portcullis_sse_events_relayed_total"))[0]!.value[1]) >= 2);
    assert.equal(Number((await series("portcullis_sse_streams_open"))[0]!.value[1]), 0);
    assert.ok(Number((await series('portcullis_masking_detections_total{entity="EMAIL_ADDRESS",direction="request"}'))[0]!.value[1]) >= 1);
    assert.ok(Number((await series("portcullis_ledger_append_duration_seconds_count"))[0]!.value[1]) >= 1);
    assert.ok(Number((await series("portcullis_ledger_group_commit_records_sum"))[0]!.value[1]) >= 4);
    // The checkpoint signed when the ledger opened is seen: the age is that of a real checkpoint.
    const age = Number((await series("portcullis_ledger_checkpoint_age_seconds"))[0]!.value[1]);
    assert.ok(age > 0 && age < 120, `checkpoint age ${age}`);
    await series('portcullis_identity_verifications_total{method="api-key",result="ok"}');
    await series('portcullis_identity_verifications_total{method="unknown",result!="ok"}');
    await series('portcullis_request_duration_seconds_count{route="threads.create"}');
    // Process metrics (collectDefaultMetrics): event-loop lag, heap, handles.
    for (const name of ["nodejs_eventloop_lag_p99_seconds", "nodejs_heap_size_used_bytes", "nodejs_active_handles_total", "process_resident_memory_bytes"]) await series(name);
    assert.equal(Number((await series('up{job="portcullis"}'))[0]!.value[1]), 1);

    // No label carries an id or a raw path: every route label is a route-table name.
    const routes = (await prometheus.query("portcullis_requests_total")).map((sample) => sample.metric.route!);
    for (const route of routes) assert.match(route, /^(unclassified|[a-z_]+(\.[a-z_]+)+)$/, `route label ${route}`);
    const labels = JSON.stringify(await prometheus.query('{__name__=~"portcullis_.*"}'));
    assert.doesNotMatch(labels, /[0-9a-f]{8}-[0-9a-f]{4}-/, "no uuid in any label");
    assert.doesNotMatch(labels, /\/threads\//, "no raw path in any label");
  });

  test("a run held for approval shows the approve stage, the pending approval and its time to decision", async () => {
    const thread = await client(gateway.key).threads.create();
    const held = fetch(`${gateway.url}/threads/${thread.thread_id}/runs/stream`, {
      method: "POST",
      headers: { "x-api-key": gateway.key, "content-type": "application/json" },
      body: JSON.stringify({ assistant_id: "slow", input: { count: 1, delayMs: 0 }, stream_mode: ["custom"] }),
    });
    const approvalId = await eventually(async () => {
      const pending = await fetch(`${gateway.url}/portcullis/approvals?state=pending`, { headers: { authorization: `Bearer ${approver.key}` } });
      const { approvals } = (await pending.json()) as { approvals: { approval_id: string }[] };
      assert.equal(approvals.length, 1);
      return approvals[0]!.approval_id;
    }, 10_000);
    assert.equal(Number((await series("portcullis_approvals_pending == 1"))[0]!.value[1]), 1);
    const approved = await fetch(`${gateway.url}/portcullis/approvals/${approvalId}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${approver.key}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "observability test" }),
    });
    assert.equal(approved.status, 200);
    const response = await held;
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^event: custom$/m);
    await series('portcullis_approval_decision_seconds_count{outcome="approved"} == 1');
    await series("portcullis_approvals_pending == 0");
    await series('portcullis_stage_duration_seconds_count{stage="approve"} >= 1');
    await series('portcullis_requests_total{route="runs.stream",decision="require-approval",status="200"}');
    // Its trace has the approve stage between mask and admit.
    const requestId = response.headers.get("x-request-id")!;
    await gateway.gateway.observe.flush();
    const root = await eventually(async () => {
      const found = receiver.spans.find((span) => span.kind === 2 && span.attributes["portcullis.request_id"] === requestId);
      assert.ok(found, "not yet: found");
      return found;
    }, 20_000);
    const approve = await eventually(async () => {
      const found = spansOfTrace(root.traceId).find((span) => span.name === "portcullis.approve");
      assert.ok(found, "not yet: found");
      return found;
    }, 20_000);
    assert.equal(approve.parentSpanId, root.spanId);
  });

  test("the exposition passes promtool check metrics, with a help text for every metric", async () => {
    const exposition = await (await fetch(gateway.gateway.observe.metricsUrl!)).text();
    // The gateway's own families lint clean.
    const own = exposition.split(/\n(?=# HELP )/).filter((family) => family.startsWith("# HELP portcullis_")).join("\n");
    const checked = promtool(["check", "metrics"], `${own}\n`);
    assert.equal(checked.status, 0, checked.output);
    // The whole exposition: the only findings are prom-client's default gauges named *_total
    // (nodejs_active_handles_total and its siblings), which Prometheus still ingests.
    const whole = promtool(["check", "metrics"], exposition);
    const findings = whole.output.split("\n").filter((line) => line.trim() !== "");
    for (const finding of findings) assert.match(finding, /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/);
    const families = [...exposition.matchAll(/^# TYPE (portcullis_\S+) /gm)].map((match) => match[1]!);
    assert.ok(families.length >= 18, `portcullis metric families: ${families.join(", ")}`);
    for (const family of families) assert.match(exposition, new RegExp(`^# HELP ${family} \\S`, "m"));
    const documented = await readFile(fileURLToPath(new URL("../../docs/observability.md", import.meta.url)), "utf8");
    for (const family of families) assert.ok(documented.includes(`\`${family}\``), `${family} is documented in docs/observability.md`);
  });

  test("the metrics listener answers GET /metrics only, and the gateway's listener does not serve metrics", async () => {
    const base = new URL(gateway.gateway.observe.metricsUrl!);
    assert.equal((await fetch(new URL("/", base))).status, 404);
    assert.equal((await fetch(base, { method: "POST" })).status, 404);
    const onGateway = await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${gateway.key}` } });
    assert.notEqual(onGateway.status, 200);
  });

  test("the alert rules pass promtool check rules and load into Prometheus", async () => {
    const checked = promtool(["check", "rules", ALERTS]);
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /SUCCESS: 5 rules found/);
    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
    const loaded = rules.data.groups.flatMap((group) => group.rules);
    assert.deepEqual(loaded.map((rule) => rule.name).sort(), ["PortcullisApprovalsWaitingTooLong", "PortcullisAuditStoreFailing", "PortcullisCheckpointTooOld", "PortcullisIdpFailures", "PortcullisUpstreamErrors"]);
    const evaluated = await eventually(async () => {
      const current = ((await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as typeof rules).data.groups.flatMap((group) => group.rules);
      assert.ok(current.every((rule) => rule.health === "ok"), JSON.stringify(current.map((rule) => [rule.name, rule.health, rule.lastError])));
      return current;
    }, 30_000);
    assert.equal(evaluated.length, 5);
  });

  test("every query of the Grafana dashboard is accepted by Prometheus", async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, "utf8")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    assert.ok(dashboard.panels.length >= 10);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const expression = target.expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*");
        await assert.doesNotReject(prometheus.query(expression), `${panel.title}: ${expression}`);
      }
    }
  });
});

describe("traces exported over OTLP", () => {
  test("one streamed run from a trusted client is one trace, continuing the client's, with a span for every stage", async () => {
    const parent = clientTraceparent();
    proxy.clear();
    const { threadId } = await streamedRun(client(trusted.key, { traceparent: parent.header, tracestate: "vendor=opaque" }), "hello");
    const root = await exchangeSpanFor(threadId);
    assert.equal(root.traceId, parent.traceId, "the gateway's span joins the client's trace");
    assert.equal(root.parentSpanId, parent.spanId);
    assert.equal(root.service, "portcullis-test");
    assert.equal(root.attributes["http.response.status_code"], 200);
    await gateway.gateway.observe.flush();
    const names = await eventually(async () => {
      const children = spansOfTrace(parent.traceId).filter((span) => span.parentSpanId === root.spanId).map((span) => span.name);
      for (const stage of ["receive", "identify", "classify", "authorize", "mask", "admit", "forward", "first_byte", "respond"]) assert.ok(children.includes(`portcullis.${stage}`), `span portcullis.${stage} in ${children.join(", ")}`);
      return children;
    }, 20_000);
    assert.equal(new Set(names).size, names.length, "one span per stage");
    // The stream request is one exchange in that trace (threads.create carried the same
    // traceparent and is its own exchange).
    const exchanges = spansOfTrace(parent.traceId).filter((span) => span.kind === 2 && span.attributes["http.route"] === "runs.stream");
    assert.equal(exchanges.length, 1);
    // LangGraph got the gateway's forward span as parent, in the client's trace.
    const forward = spansOfTrace(parent.traceId).find((span) => span.name === "portcullis.forward" && span.parentSpanId === root.spanId)!;
    const forwarded = proxy.requests.find((request) => request.url.startsWith(`/threads/${threadId}/runs/stream`));
    assert.ok(forwarded);
    assert.equal(forwarded.headers.traceparent, `00-${parent.traceId}-${forward.spanId}-01`);
    assert.equal(forwarded.headers.tracestate, "vendor=opaque");
    // The audit record leads to the trace, and the log lines name it.
    const record = (await gateway.recordsFor(String(root.attributes["portcullis.request_id"]))).find((entry): entry is RequestRecord => entry.type === "request");
    assert.deepEqual(record?.trace, { trace_id: parent.traceId, span_id: root.spanId });
    const completed = logLines.find((line) => line.msg === "request completed" && line.request_id === root.attributes["portcullis.request_id"]);
    assert.ok(completed, "the request's completion was logged");
    assert.equal(completed.trace_id, parent.traceId);
    assert.equal(completed.span_id, root.spanId);
    assert.match(String(completed.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test("a client not trusted for trace context starts a new trace; its traceparent is only a link and never reaches LangGraph", async () => {
    const parent = clientTraceparent();
    proxy.clear();
    const { threadId } = await streamedRun(client(gateway.key, { traceparent: parent.header, tracestate: "vendor=steered" }), "hello");
    const root = await exchangeSpanFor(threadId);
    assert.notEqual(root.traceId, parent.traceId);
    assert.equal(root.parentSpanId ?? "", "");
    assert.deepEqual(root.links.map((link) => [link.traceId, link.spanId]), [[parent.traceId, parent.spanId]]);
    assert.equal(spansOfTrace(parent.traceId).length, 0, "no gateway span is in the client's trace");
    // The run is one trace of its own: one exchange, its stages beneath it.
    await gateway.gateway.observe.flush();
    const own = await eventually(async () => {
      const spans = spansOfTrace(root.traceId);
      assert.ok(spans.some((span) => span.name === "portcullis.respond"), spans.map((span) => span.name).join(", "));
      return spans;
    }, 20_000);
    assert.equal(own.filter((span) => span.kind === 2).length, 1);
    assert.ok(own.every((span) => span.spanId === root.spanId || span.parentSpanId === root.spanId));
    const forwarded = proxy.requests.find((request) => request.url.startsWith(`/threads/${threadId}/runs/stream`));
    assert.ok(forwarded);
    assert.match(String(forwarded.headers.traceparent), new RegExp(`^00-${root.traceId}-[0-9a-f]{16}-0[01]$`));
    assert.equal(forwarded.headers.tracestate, undefined);
    const record = (await gateway.recordsFor(String(root.attributes["portcullis.request_id"]))).find((entry): entry is RequestRecord => entry.type === "request");
    assert.equal(record?.trace?.trace_id, root.traceId);
  });

  test("every log line of a request carries its request id and trace id", async () => {
    const refused = await fetch(`${gateway.url}/threads`, { method: "POST", headers: { authorization: "Bearer pc_sa_wrong", "content-type": "application/json" }, body: "{}" });
    assert.equal(refused.status, 401);
    const requestId = refused.headers.get("x-request-id");
    const lines = await eventually(async () => {
      const found = logLines.filter((line) => line.request_id === requestId);
      assert.ok(found.length > 0, "not yet: found.length > 0");
      return found;
    });
    for (const line of lines) {
      assert.match(String(line.trace_id), /^[0-9a-f]{32}$/, JSON.stringify(line));
      assert.equal(line.level, "info");
      assert.match(String(line.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    const record = (await gateway.recordsFor(requestId!)).find((entry): entry is RequestRecord => entry.type === "request");
    assert.equal(record?.trace?.trace_id, lines[0]!.trace_id);
  });
});

describe("start-up cost", () => {
  const loadedWith = async (setting: "on" | "off"): Promise<string[]> => {
    const script = fileURLToPath(new URL("../support/observabilityModules.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), script, setting]);
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
  };

  test("with observability off, neither prom-client nor any OpenTelemetry package is loaded", async () => {
    assert.deepEqual(await loadedWith("off"), []);
  });

  test("with metrics and tracing on, prom-client and the OpenTelemetry SDK and exporter are loaded", async () => {
    const loaded = await loadedWith("on");
    for (const name of ["prom-client", "@opentelemetry/api", "@opentelemetry/sdk-trace-base", "@opentelemetry/exporter-trace-otlp-http"]) assert.ok(loaded.includes(name), `${name} in ${loaded.join(", ")}`);
  });
});
