// Hostile egress on the real data path: a downstream that hands the credential back
// base64-encoded (the whole header value, or the key inside a larger encoded document, at every
// byte alignment), and egress calls refused for their route, method or path that still carry a
// valid run context, which the record must link to the run and the person who started it. The
// run context comes from a real run on the real LangGraph server, as the gateway forwarded it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startRecordingProxy, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const ROUTES = ["echo-bearer", "echo-header", "echo-basic"];

const POLICY = `version: 1
rules:
  - id: tester-does-everything
    effect: allow
    subjects: { service_accounts: [tester] }
    actions: ["*"]
    scope: any
  - id: runtime-calls-echoes
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [${ROUTES.join(", ")}] }
`;

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

/** What a careless downstream sends back: the credential header it received, base64-encoded in
 * every way a debugging endpoint or a token-introspection echo might. */
function encodedEchoes(sent: string, secret: string): Record<string, string> {
  const echoes: Record<string, string> = {
    whole: b64(sent),
    whole_unpadded: b64(sent).replace(/=+$/, ""),
    whole_url: b64url(sent),
    whole_url_padded: b64(sent).replace(/\+/g, "-").replace(/\//g, "_"),
  };
  for (let pad = 0; pad < 3; pad++) {
    // The header inside a larger document: its bytes start at each of the three alignments.
    const document = JSON.stringify({ note: "x".repeat(pad), authorization: sent });
    echoes[`inside_document_${pad}`] = b64(document);
    echoes[`inside_document_url_${pad}`] = b64url(document);
    echoes[`bare_secret_${pad}`] = b64(`${"y".repeat(pad)}:${secret}`);
  }
  return echoes;
}

/** Whether `text` hands the secret over: raw, or in any base64 run decoded at each alignment,
 * twice over (a Basic header is itself base64). */
function recoverable(text: string, secret: string, depth = 2): boolean {
  if (text.includes(secret)) return true;
  if (depth === 0) return false;
  for (const run of text.match(/[A-Za-z0-9+/_-]{8,}={0,2}/g) ?? []) {
    for (let skip = 0; skip < 4; skip++) {
      const decoded = Buffer.from(run.slice(skip).replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("latin1");
      if (recoverable(decoded, secret, depth - 1)) return true;
    }
  }
  return false;
}

describe("egress: hostile downstreams and refused calls", () => {
  let dir: string;
  let providerKey: string;
  let downstream: Server;
  let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
  let proxy: RecordingProxy;
  let gateway: TestGateway;
  const runtime = generateApiKey();

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-egress-hostile-"));
    // '+' and '/' in base64 come from these bytes: the url-safe alphabet differs from the standard.
    providerKey = `sk-${randomBytes(30).toString("base64").replace(/=/g, "")}`;
    const keyFile = path.join(dir, "provider.key");
    await writeFile(keyFile, `${providerKey}\n`, { mode: 0o600 });
    downstream = createServer((req, res) => {
      const sent = String(req.headers.authorization ?? req.headers["x-api-key"] ?? "");
      res.writeHead(200, { "content-type": "application/json", "x-debug-credential": b64(sent) });
      res.end(JSON.stringify({ path: req.url, echoes: encodedEchoes(sent, providerKey) }));
    });
    downstream.listen(0, "127.0.0.1");
    await once(downstream, "listening");
    const downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
    langgraph = await startLangGraph();
    proxy = await startRecordingProxy(langgraph.url);
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    const secret = { file: keyFile };
    const route = { url: downstreamUrl, methods: ["GET" as const], paths: ["/reflect/**"], masking: { responses: "clear" as const } };
    gateway = await startTestGateway(
      { url: proxy.url, key: langgraph.key },
      {
        policy: { file: path.join(dir, "policy.yaml"), watch: false },
        identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256, groups: ["runtime"] }] },
        egress: {
          routes: {
            "echo-bearer": { ...route, credential: { type: "bearer", secret } },
            "echo-header": { ...route, credential: { type: "header", header: "x-api-key", prefix: "Key ", secret } },
            "echo-basic": { ...route, credential: { type: "basic", username: "portcullis", secret } },
          },
        },
      },
    );
  });

  after(async () => {
    await gateway?.close();
    await proxy?.close();
    await langgraph?.stop();
    downstream?.closeAllConnections();
    downstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (pathAndQuery: string, init: RequestInit = {}) =>
    fetch(`${gateway.url}${pathAndQuery}`, { ...init, headers: { authorization: `Bearer ${runtime.key}`, ...(init.headers as Record<string, string>) } });

  const recordsOf = (requestId: string) =>
    eventually(async () => {
      const records = await gateway.recordsFor(requestId);
      const request = records.find((r): r is RequestRecord => r.type === "request");
      assert.ok(request, `a request record for ${requestId}`);
      // An admitted request's completion is committed just after its response ends; a refused
      // one is closed by its request record.
      const completion = records.find((r): r is CompletionRecord => r.type === "completion");
      assert.ok(completion || request.status !== undefined, `a completion record for ${requestId}`);
      return { request, completion };
    });

  for (const route of ROUTES) {
    it(`scrubs every base64 form of the credential a downstream hands back on ${route}: the whole header value and the bare key, standard and url-safe, padded or not, at every alignment`, async () => {
      const response = await call(`/egress/${route}/reflect/debug`);
      assert.equal(response.status, 200);
      const text = await response.text();
      const body = JSON.parse(text) as { echoes: Record<string, string> };
      const headerEcho = response.headers.get("x-debug-credential") ?? "";
      for (const [name, echo] of Object.entries(body.echoes)) {
        assert.ok(!recoverable(echo, providerKey), `${name} hands over the provider key: ${echo}`);
        assert.match(echo, /\[REDACTED:egress-credential\]/, `${name} is scrubbed`);
      }
      assert.ok(!recoverable(headerEcho, providerKey), "the header echo hands over the provider key");
      assert.ok(!recoverable(text, providerKey));
      const { completion } = await recordsOf(response.headers.get("x-request-id")!);
      assert.equal(completion?.credential_echoes, Object.keys(body.echoes).length + 1, "each echo is counted");
      for (const file of [gateway.ledgerFile, `${gateway.ledgerFile}-wal`]) {
        const bytes = await readFile(file).catch(() => Buffer.alloc(0));
        assert.ok(!recoverable(bytes.toString("latin1"), providerKey), `${path.basename(file)} holds no form of the provider key`);
      }
    });
  }

  it("links calls refused for their route, method or path to the run and the person when they carry a valid run context", async () => {
    // A real run through the gateway: the run context it adds is what LangGraph's graph code gets.
    const client = sdkThroughGateway(gateway);
    const thread = await client.threads.create();
    await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "user", content: "hello" }] } });
    const forwarded = proxy.requests.find((r) => typeof r.headers["x-portcullis-run-context"] === "string")!;
    assert.ok(forwarded, "the gateway added a run context to the run");
    const runContext = String(forwarded.headers["x-portcullis-run-context"]);
    const runRequest = (await gateway.audit()).find((r): r is RequestRecord => r.type === "request" && r.operation?.route === "runs.wait")!;
    const expectedRun = { request_id: runRequest.request_id, subject: "sa:tester", thread_id: thread.thread_id, graphs: ["echo"] };

    const host = new URL(gateway.url).host;
    const raw = async (method: string, target: string) => {
      const answer = await rawRequest(gateway.url, `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${runtime.key}\r\nPortcullis-Run-Context: ${runContext}\r\nConnection: close\r\n\r\n`);
      return { status: statusOf(answer), requestId: /^x-request-id: (\S+)$/im.exec(answer)![1]! };
    };
    const refusals: Array<{ name: string; method: string; target: string; status: number; error: string; route: string; path: RegExp }> = [
      { name: "a method the route does not allow", method: "POST", target: "/egress/echo-bearer/reflect/x", status: 405, error: "PC_EGRESS_METHOD_NOT_ALLOWED", route: "echo-bearer", path: /^\/reflect\/x$/ },
      { name: "a path the route does not allow", method: "GET", target: "/egress/echo-bearer/elsewhere", status: 403, error: "PC_EGRESS_PATH_NOT_ALLOWED", route: "echo-bearer", path: /^\/elsewhere$/ },
      { name: "a route that does not exist", method: "GET", target: "/egress/nowhere/v1/models", status: 404, error: "PC_EGRESS_UNKNOWN_ROUTE", route: "nowhere", path: /^\/v1\/models$/ },
      { name: "a segment some servers read as '..'", method: "GET", target: "/egress/echo-bearer/reflect/..;/admin", status: 400, error: "PC_BAD_PATH", route: "echo-bearer", path: /^\/reflect\/..;\/admin$/ },
      { name: "a dot segment, refused before identify", method: "GET", target: "/egress/echo-bearer/reflect/../../admin", status: 400, error: "PC_BAD_PATH", route: "echo-bearer", path: /^\/reflect\/\.\.\/\.\.\/admin$/ },
    ];
    for (const refusal of refusals) {
      const answer = await raw(refusal.method, refusal.target);
      assert.equal(answer.status, refusal.status, refusal.name);
      const { request, completion } = await recordsOf(answer.requestId);
      assert.equal(request.error, refusal.error, refusal.name);
      assert.equal(request.identity?.subject, "sa:runtime", `${refusal.name}: the caller`);
      assert.ok(request.egress, `${refusal.name}: recorded as an egress call`);
      assert.equal(request.egress.route, refusal.route, refusal.name);
      assert.match(request.egress.path, refusal.path, refusal.name);
      assert.deepEqual(request.egress.run, expectedRun, `${refusal.name}: linked to the run and the person who started it`);
      assert.deepEqual(request.resources?.graphs, ["echo"], `${refusal.name}: found by the run's graphs`);
      assert.equal(completion, undefined, `${refusal.name}: nothing was sent`);
    }

    // A run context that does not verify links nothing, and the call is still refused for its method.
    const forged = await call("/egress/echo-bearer/reflect/x", { method: "POST", headers: { "portcullis-run-context": `${runContext.slice(0, -4)}AAAA` } });
    assert.equal(forged.status, 405);
    const { request } = await recordsOf(forged.headers.get("x-request-id")!);
    assert.deepEqual(request.egress, { route: "echo-bearer", path: "/reflect/x" });
  });
});
