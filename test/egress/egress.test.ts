// Egress on the real data path: a graph on the real LangGraph server calls a model through
// LangChain's OpenAI chat model, with its base URL set to Portcullis and the runtime's own
// service-account key; Portcullis injects the provider's key (which only it holds), masks,
// scrubs, records the call and links it to the run and the person who started it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { startStandInModel, type StandInModel } from "../../demo/standInModel.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { freePort } from "../support/ports.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { eventually, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: tester-does-everything
    effect: allow
    subjects: { service_accounts: [tester] }
    actions: ["*"]
    scope: any
  - id: runtime-calls-models
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [openai, plain, search, limited, strict, tiny, down] }
# Prompts reach the runtime as sent, so what is tested here is the route's own masking; with the
# default (tokenize) the runtime and the provider see tokens: test/egress/egress-restore.test.ts.
masking:
  requests: forward
`;

describe("egress: the runtime reaches outside services through Portcullis, which holds the secrets", () => {
  let dir: string;
  let providerKey: string;
  let runtimeKey: string;
  let model: StandInModel;
  let elsewhere: Server;
  let elsewhereHits = 0;
  let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
  let gateway: TestGateway;
  const logLines: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-egress-"));
    providerKey = `sk-stand-in-${randomBytes(18).toString("hex")}`;
    const keyFile = path.join(dir, "provider.key");
    await writeFile(keyFile, `${providerKey}\n`, { mode: 0o600 });
    elsewhere = createServer((_req, res) => {
      elsewhereHits++;
      res.end("stolen");
    });
    elsewhere.listen(0, "127.0.0.1");
    await once(elsewhere, "listening");
    const elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    model = await startStandInModel({
      apiKey: providerKey,
      extra: (req, res, body) => {
        const url = new URL(req.url ?? "/", "http://stand-in");
        const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(JSON.stringify(value));
        };
        if (url.pathname === "/v1/search") {
          if (url.searchParams.getAll("key").join() !== providerKey) send(401, { error: "bad key" });
          // A careless API that quotes the URL it was called with, key included.
          else send(200, { query: url.searchParams.get("q"), called: req.url });
          return true;
        }
        if (req.headers.authorization !== `Bearer ${providerKey}`) return false;
        if (url.pathname === "/v1/echo") {
          send(200, { headers: req.headers });
          return true;
        }
        const requested = body ? (JSON.parse(body) as { model?: string }).model : undefined;
        if (requested === "redirect-away") {
          send(307, { moved: true }, { location: `${elsewhereUrl}/v1/chat/completions` });
          return true;
        }
        if (requested === "redirect-within") {
          send(307, { moved: true }, { location: "/v1/models?page=2" });
          return true;
        }
        return false;
      },
    });
    const gatewayPort = await freePort();
    const runtime = generateApiKey();
    runtimeKey = runtime.key;
    langgraph = await startLangGraph({ env: { PORTCULLIS_EGRESS_MODEL_URL: `http://127.0.0.1:${gatewayPort}/egress/openai/v1`, PORTCULLIS_WORKLOAD_KEY: runtimeKey } });
    const policyFile = path.join(dir, "policy.yaml");
    await writeFile(policyFile, POLICY);
    const secret = { file: keyFile };
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString("utf8"));
        done();
      },
    });
    gateway = await startTestGateway(
      langgraph,
      {
        listen: { host: "127.0.0.1", port: gatewayPort },
        policy: { file: policyFile, watch: false },
        identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256, groups: ["runtime"] }] },
        egress: {
          routes: {
            openai: { url: new URL(model.url).origin, credential: { type: "bearer", secret }, methods: ["POST", "GET"], paths: ["/v1/chat/completions", "/v1/models", "/v1/echo"], max_request_bytes: 64 * 1024 },
            plain: { url: model.url, credential: { type: "bearer", secret }, methods: ["GET"], paths: ["/echo"], masking: { responses: "clear" } },
            search: { url: model.url, credential: { type: "query", parameter: "key", secret }, methods: ["GET"], paths: ["/search"] },
            limited: { url: model.url, credential: { type: "bearer", secret }, methods: ["GET"], paths: ["/models"], rate_limit: { requests_per_second: 0.01, burst: 2 } },
            strict: { url: model.url, credential: { type: "bearer", secret }, methods: ["GET"], paths: ["/models"], require_run_context: true },
            tiny: { url: model.url, credential: { type: "bearer", secret }, methods: ["GET"], paths: ["/models"], max_response_bytes: 40 },
            down: { url: `http://127.0.0.1:${await freePort()}/v1`, credential: { type: "bearer", secret }, methods: ["GET"], paths: ["/**"] },
          },
        },
      },
      { logger: pino({ level: "debug" }, capture) },
    );
  });

  after(async () => {
    await gateway?.close();
    await langgraph?.stop();
    await model?.close();
    elsewhere?.closeAllConnections();
    elsewhere?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (pathAndQuery: string, init: RequestInit = {}, key = runtimeKey) =>
    fetch(`${gateway.url}${pathAndQuery}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.body ? { "content-type": "application/json" } : {}), ...(init.headers as Record<string, string>) } });

  const recordOf = async (requestId: string) => {
    const records = await eventually(async () => {
      const found = await gateway.recordsFor(requestId);
      const request = found.find((r): r is RequestRecord => r.type === "request");
      assert.ok(request, "no record yet");
      // An admitted request's completion is committed just after its response ends; a refused
      // one is closed by its request record.
      assert.ok(request.status !== undefined || found.some((r) => r.type === "completion"), "no completion record yet");
      return found;
    });
    return { request: records.find((r): r is RequestRecord => r.type === "request")!, completion: records.find((r): r is CompletionRecord => r.type === "completion") };
  };

  it("streams a LangChain OpenAI model's answer to the SDK through ingress, with the provider key injected by Portcullis and the call linked to the run", async () => {
    const client = sdkThroughGateway(gateway);
    const thread = await client.threads.create();
    const tokens: string[] = [];
    const seen: string[] = [];
    for await (const chunk of client.runs.stream(thread.thread_id, "model", {
      input: { messages: [{ role: "user", content: "Please write to alice.liddell@example.com" }] },
      streamMode: ["messages-tuple", "values"],
    })) {
      seen.push(JSON.stringify(chunk));
      if (chunk.event === "messages") {
        const [message] = chunk.data as unknown as [{ content?: unknown; type?: string }];
        if (typeof message.content === "string" && message.content !== "" && /^ai/i.test(message.type ?? "")) tokens.push(message.content);
      }
    }
    assert.ok(tokens.length >= 5, `the answer arrives token by token (got ${tokens.length} pieces: ${seen.join("\n").slice(0, 3000)})`);
    const answer = tokens.join("");
    assert.match(answer, /^Hello from the stand-in model\. You said: Please write to /);
    assert.doesNotMatch(answer, /alice\.liddell@example\.com/, "the provider never saw the address, so it cannot come back");

    // The provider got the gateway's key, and nothing of the runtime's credential or the gateway's own headers.
    const completions = model.requests.filter((r) => r.url === "/v1/chat/completions");
    assert.equal(completions.length, 1);
    const received = completions[0]!;
    assert.equal(received.headers.authorization, `Bearer ${providerKey}`);
    assert.ok(!JSON.stringify(received.headers).includes(runtimeKey), "the runtime's key is not passed on");
    assert.ok(!Object.keys(received.headers).some((name) => name.includes("portcullis")), "no Portcullis header leaves the gateway");
    assert.match(String(received.headers["user-agent"]), /OpenAI/i, "a real OpenAI client library made the call");
    assert.doesNotMatch(received.body, /alice\.liddell@example\.com/, "PII in the prompt is masked before it leaves (masking.requests: mask)");
    assert.match(received.body, /"stream":true/);

    // The ledger links the egress call to the run and to the person who started it.
    const records = await eventually(async () => {
      const all = await gateway.audit();
      assert.ok(all.some((r) => r.type === "completion" && all.some((q) => q.type === "request" && q.egress && q.request_id === r.request_id)), "not yet: all.some((r) => r.type === \"completion\" && all.some((q) => q.type === \"request\" && q.eg...");
      return all;
    });
    const runRequest = records.find((r): r is RequestRecord => r.type === "request" && r.operation?.route === "runs.stream")!;
    const egressRequest = records.find((r): r is RequestRecord => r.type === "request" && r.egress?.route === "openai")!;
    assert.equal(egressRequest.identity?.subject, "sa:runtime");
    assert.equal(egressRequest.decision.rule, "runtime-calls-models");
    assert.deepEqual(egressRequest.egress, { route: "openai", path: "/v1/chat/completions", run: { request_id: runRequest.request_id, subject: "sa:tester", thread_id: thread.thread_id, graphs: ["model"] } });
    assert.ok(Object.values(egressRequest.masking!.redactions).reduce((a, b) => a + b, 0) >= 1, "the prompt's redactions are counted");
    const egressCompletion = records.find((r): r is CompletionRecord => r.type === "completion" && r.request_id === egressRequest.request_id)!;
    assert.equal(egressCompletion.status, 200);
    assert.equal(egressCompletion.upstream_status, 200);
    assert.equal(egressCompletion.outcome, "ok");
    assert.ok(egressCompletion.bytes_in > 0 && egressCompletion.bytes_out > 0, "egressCompletion.bytes_in > 0 && egressCompletion.bytes_out > 0");
    assert.ok((egressCompletion.events?.message ?? 0) >= 5, "each streamed chunk is counted");
    assert.ok(egressCompletion.duration_ms >= 0 && egressCompletion.upstream_headers_ms !== undefined, "egressCompletion.duration_ms >= 0 && egressCompletion.upstream_headers_ms !== undefined");
    assert.ok(egressCompletion.response, "the masked stream is stored");

    // The runtime's environment has no provider key; it does have its own workload key.
    const environ = await readFile(`/proc/${langgraph.server.child.pid}/environ`, "utf8");
    assert.ok(environ.includes(runtimeKey), "read the LangGraph server's own environment");
    assert.ok(!environ.includes(providerKey), "the runtime never holds the provider key");
    // Nor does anything the gateway wrote or sent: the SDK's stream, the log, the ledger.
    assert.ok(!seen.join("\n").includes(providerKey), "!seen.join(\"\\n\").includes(providerKey)");
    assert.ok(logLines.length > 0 && !logLines.join("").includes(providerKey), "logLines.length > 0 && !logLines.join(\"\").includes(providerKey)");
    for (const file of [gateway.ledgerFile, `${gateway.ledgerFile}-wal`]) {
      const bytes = await readFile(file).catch(() => Buffer.alloc(0));
      assert.ok(!bytes.includes(providerKey), `${path.basename(file)} holds no provider key`);
    }
  });

  it("refuses paths that leave the route, methods and paths it does not allow, and sends none of them", async () => {
    const before = model.requests.length;
    const host = new URL(gateway.url).host;
    const raw = (target: string) => rawRequest(gateway.url, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${runtimeKey}\r\nConnection: close\r\n\r\n`);
    for (const target of ["/egress/openai/v1/../../admin", "/egress/openai/%2e%2e/%2e%2e/admin", "/egress/openai/v1%2f..%2fadmin", "/egress/openai/v1/chat%0d%0aHost:%20evil/completions", "/egress/openai/v1/models\\..\\..\\admin", "/egress/openai/v1/..;/admin", "/egress/openai/v1/..%3B/admin", "/egress/openai/v1/..%20/admin", "/egress/openai/v1/.../admin"]) {
      const response = await raw(target);
      assert.equal(statusOf(response), 400, `${target} is refused`);
      assert.match(response, /PC_BAD_PATH/);
    }
    const outside = await call("/egress/openai/v1/files", { method: "GET" });
    assert.equal(outside.status, 403);
    assert.equal(((await outside.json()) as { error: string }).error, "PC_EGRESS_PATH_NOT_ALLOWED");
    const deeper = await call("/egress/openai/v1/chat/completions/extra", { method: "POST", body: "{}" });
    assert.equal(deeper.status, 403, "a literal pattern does not match a longer path");
    const method = await call("/egress/openai/v1/models", { method: "DELETE" });
    assert.equal(method.status, 405);
    assert.equal(((await method.json()) as { error: string }).error, "PC_EGRESS_METHOD_NOT_ALLOWED");
    const unknown = await call("/egress/nowhere/v1/models", { method: "GET" });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: string }).error, "PC_EGRESS_UNKNOWN_ROUTE");
    assert.equal(model.requests.length, before, "nothing refused reached the provider");

    // Every refusal is recorded, with the gateway's reason.
    const id = method.headers.get("x-request-id")!;
    const { request } = await recordOf(id);
    assert.equal(request.status, 405);
    assert.equal(request.error, "PC_EGRESS_METHOD_NOT_ALLOWED");
    assert.equal(request.identity?.subject, "sa:runtime");
    const records = await gateway.audit();
    const bad = records.filter((r): r is RequestRecord => r.type === "request" && r.error === "PC_BAD_PATH" && r.path.startsWith("/egress/"));
    assert.ok(bad.length >= 9, "the hostile paths are recorded too");
  });

  it("strips credentials and gateway headers the client sends, keeps the provider's own headers, and passes no injected line", async () => {
    const response = await call("/egress/openai/v1/echo?note=%0d%0aInjected:%20yes", {
      method: "GET",
      headers: {
        // (a second identity credential such as x-api-key is refused as ambiguous: test/identify/identity-hostile.test.ts)
        "api-key": "client-supplied-key",
        cookie: "session=client",
        "proxy-authorization": "Basic Y2xpZW50OmtleQ==",
        "x-forwarded-for": "10.0.0.1",
        "x-portcullis-run-context": "forged",
        "openai-organization": "org-kept",
        "x-original-url": "/admin",
        "x-stainless-lang": "js",
        "x-custom-tracking": "internal-value",
        range: "bytes=0-10",
      },
    });
    assert.equal(response.status, 200);
    const received = model.requests.at(-1)!;
    assert.equal(received.headers.authorization, `Bearer ${providerKey}`);
    for (const name of ["x-api-key", "api-key", "cookie", "proxy-authorization", "x-forwarded-for", "x-portcullis-run-context", "x-original-url", "x-custom-tracking", "range"]) {
      assert.equal(received.headers[name], undefined, `${name} is not sent downstream`);
    }
    assert.equal(received.headers["openai-organization"], "org-kept", "the provider's own headers are on the allow-list");
    assert.equal(received.headers["x-stainless-lang"], "js");
    assert.equal(received.headers.injected, undefined, "an encoded line break stays encoded in the query");
    assert.ok(received.url.endsWith("/v1/echo?note=%0d%0aInjected:%20yes"), `the query is passed byte for byte (${received.url})`);
  });

  it("scrubs the credential from an answer that echoes it, and counts the echo in the record", async () => {
    // masking.responses: clear on this route, so only the scrubber stands between the key and the runtime.
    const response = await call("/egress/plain/echo", { method: "GET" });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.ok(!text.includes(providerKey), "the echoed key is not relayed");
    assert.match(text, /Bearer \[REDACTED:egress-credential\]/);
    const { completion } = await recordOf(response.headers.get("x-request-id")!);
    assert.equal(completion?.credential_echoes, 1);

    // A query-parameter credential: the client's own key= is replaced, and the quoted URL scrubbed.
    const search = await call("/egress/search/search?q=weather&key=client-supplied", { method: "GET" });
    const found = (await search.json()) as { query: string; called: string };
    assert.equal(search.status, 200, "the downstream got the route's key, not the client's");
    assert.equal(found.query, "weather");
    assert.ok(!found.called.includes(providerKey) && !found.called.includes(encodeURIComponent(providerKey)), "!found.called.includes(providerKey) && !found.called.includes(encodeURIComponent(provid...");
    assert.match(found.called, /key=\[REDACTED:egress-credential\]/);
    const { request } = await recordOf(search.headers.get("x-request-id")!);
    assert.equal(request.egress?.path, "/search");
    assert.ok(!JSON.stringify(request).includes(providerKey), "!JSON.stringify(request).includes(providerKey)");
  });

  it("neither follows nor relays a redirect to another host, and makes one within the route a gateway path", async () => {
    const away = await call("/egress/openai/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "redirect-away", messages: [] }) });
    assert.equal(away.status, 502);
    const refusal = (await away.json()) as { error: string; message: string };
    assert.equal(refusal.error, "PC_EGRESS_REDIRECT_REFUSED");
    assert.match(refusal.message, /redirected outside the route \(to http:\/\/127\.0\.0\.1:\d+\)/);
    assert.equal(away.headers.get("location"), null);
    assert.equal(elsewhereHits, 0, "the other host was never called, with or without the credential");
    const { completion } = await recordOf(away.headers.get("x-request-id")!);
    assert.equal(completion?.status, 502);
    assert.equal(completion?.error, "PC_EGRESS_REDIRECT_REFUSED");

    const within = await call("/egress/openai/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "redirect-within", messages: [] }), redirect: "manual" });
    assert.equal(within.status, 307);
    assert.equal(within.headers.get("location"), "/egress/openai/v1/models?page=2");
  });

  it("applies policy, the route's rate limit, body rules and run-context checks, recording each refusal", async () => {
    const before = model.requests.length;
    // The tester may do everything on LangGraph ("*"), but "*" does not include egress:call.
    const tester = await call("/egress/openai/v1/models", { method: "GET" }, gateway.key);
    assert.equal(tester.status, 403);
    assert.match(((await tester.json()) as { message: string }).message, /no rule allows egress:call.*egress route 'openai'/);
    const anonymous = await fetch(`${gateway.url}/egress/openai/v1/models`);
    assert.equal(anonymous.status, 401);

    const form = await call("/egress/openai/v1/chat/completions", { method: "POST", body: "a=1", headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(form.status, 415);
    const broken = await call("/egress/openai/v1/chat/completions", { method: "POST", body: "{not json" });
    assert.equal(broken.status, 400);
    const large = await call("/egress/openai/v1/chat/completions", { method: "POST", body: JSON.stringify({ padding: "x".repeat(70 * 1024) }) });
    assert.equal(large.status, 413);
    const forged = await call("/egress/openai/v1/models", { method: "GET", headers: { "portcullis-run-context": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl" } });
    assert.equal(forged.status, 400);
    assert.equal(((await forged.json()) as { error: string }).error, "PC_EGRESS_RUN_CONTEXT_INVALID");
    const strict = await call("/egress/strict/models", { method: "GET" });
    assert.equal(strict.status, 428);
    assert.equal(((await strict.json()) as { error: string }).error, "PC_EGRESS_RUN_CONTEXT_REQUIRED");
    assert.equal(model.requests.length, before, "no refused call reached the provider");

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call("/egress/limited/models", { method: "GET" })).status);
    assert.deepEqual(statuses, [200, 200, 429], "burst 2, then refused");

    const tiny = await call("/egress/tiny/models", { method: "GET" });
    assert.equal(tiny.status, 502);
    assert.match(((await tiny.json()) as { message: string }).message, /egress route 'tiny' sent more than the route's max_response_bytes \(40\)/);

    const down = await call("/egress/down/anything", { method: "GET" });
    assert.equal(down.status, 502);
    const failure = (await down.json()) as { error: string; message: string };
    assert.equal(failure.error, "PC_UPSTREAM_UNAVAILABLE");
    assert.match(failure.message, /egress route 'down' is unreachable/);

    for (const [response, status] of [[tester, 403], [form, 415], [forged, 400], [strict, 428]] as const) {
      const { request } = await recordOf(response.headers.get("x-request-id")!);
      assert.equal(request.status, status);
      assert.equal(request.operation?.route, "egress.call");
    }
  });
});
