// Fail closed: bad credentials, hostile paths, broken or oversized bodies and protocol tricks get
// a clear error, never reach the upstream, and each leaves an audit record.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, beforeEach, describe, test } from "node:test";
import { pino } from "pino";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { AuditRecord, AuditSink } from "../../src/record/auditRecord.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const UPSTREAM_SECRET = "upstream-secret-never-shown-to-clients";
let upstream: ScriptedUpstream;
let gateway: TestGateway;
let logLines: string[];
const expired = generateApiKey();

before(async () => {
  upstream = await startScriptedUpstream();
  logLines = [];
  const logSink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  gateway = await startTestGateway(
    { url: upstream.url, key: UPSTREAM_SECRET },
    {
      limits: { max_body_bytes: 1024 },
      upstream: { url: upstream.url, forward_headers: ["x-tenant-id"] },
      identity: { service_accounts: [{ id: "retired-bot", key_sha256: expired.sha256, expires_at: "2020-01-01T00:00:00Z" }] },
    },
    { logger: pino({ level: "debug" }, logSink) },
  );
});
after(async () => {
  await gateway?.close();
  await upstream?.close();
});
beforeEach(() => {
  upstream.received.length = 0;
});

async function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const response = await fetch(`${gateway.url}${path}`, init);
  const text = await response.text();
  return { status: response.status, text, json: text ? JSON.parse(text) : undefined, requestId: response.headers.get("x-request-id")!, allow: response.headers.get("allow") };
}

const authed = (headers: Record<string, string> = {}) => ({ authorization: `Bearer ${gateway.key}`, ...headers });

async function refusalRecord(requestId: string): Promise<AuditRecord> {
  const records = await gateway.recordsFor(requestId);
  assert.equal(records.length, 1, "a refused request has exactly one record");
  assert.equal(records[0]!.type, "request");
  return records[0]!;
}

describe("identity until OIDC lands: service-account keys only", () => {
  test("refuses a request with no credential, records it, forwards nothing", async () => {
    const res = await call("/threads/search", { method: "POST", body: "{}" });
    assert.equal(res.status, 401);
    assert.equal(res.json.error, "PC_UNAUTHENTICATED");
    assert.equal(res.json.request_id, res.requestId);
    assert.equal(upstream.received.length, 0);
    const record = await refusalRecord(res.requestId);
    assert.equal(record.type === "request" && record.decision.effect, "deny");
    assert.equal(record.type === "request" && record.status, 401);
  });

  for (const [what, headers] of [
    ["an unknown key", { authorization: "Bearer pcsk_notARealKeyAtAll00000000000000000000000000" }],
    ["a key without the Portcullis prefix", { "x-api-key": "lsv2_pt_0123456789" }],
    ["a malformed Authorization header", { authorization: "Basic dXNlcjpwYXNz" }],
    ["a bearer token with trailing garbage", { authorization: `Bearer ${"pcsk_x"} extra` }],
  ] as const) {
    test(`refuses ${what}`, async () => {
      const res = await call("/ok", { headers });
      assert.equal(res.status, 401);
      assert.equal(upstream.received.length, 0);
      await refusalRecord(res.requestId);
    });
  }

  test("refuses an expired service-account key with a distinct error", async () => {
    const res = await call("/ok", { headers: { "x-api-key": expired.key } });
    assert.equal(res.status, 401);
    assert.equal(res.json.error, "PC_CREDENTIAL_EXPIRED");
    assert.match(res.json.message, /retired-bot/);
  });

  test("accepts the key as a bearer token and as x-api-key (the SDK's apiKey)", async () => {
    assert.equal((await call("/ok", { headers: authed() })).status, 200);
    assert.equal((await call("/ok", { headers: { "x-api-key": gateway.key } })).status, 200);
  });
});

describe("header hygiene and credential isolation", () => {
  test("strips client credentials, cookies, x-auth-scheme and unlisted x-* headers; injects the upstream key", async () => {
    const res = await call("/threads/search", {
      method: "POST",
      body: "{}",
      headers: authed({
        cookie: "session=abc",
        "x-auth-scheme": "langsmith",
        "x-custom-thing": "leak",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        "x-tenant-id": "acme",
        "last-event-id": "7",
      }),
    });
    assert.equal(res.status, 200);
    const seen = upstream.received[0]!.headers;
    for (const name of ["authorization", "cookie", "x-auth-scheme", "x-custom-thing", "x-http-method-override", "proxy-authorization"]) {
      assert.equal(seen[name], undefined, `${name} reached the upstream`);
    }
    assert.equal(seen["x-api-key"], UPSTREAM_SECRET);
    assert.equal(seen["x-tenant-id"], "acme", "allow-listed header is forwarded");
    assert.equal(seen["last-event-id"], "7");
    assert.equal(upstream.received[0]!.method, "POST", "method override headers are ignored");
    // The client's own key, sent as x-api-key, is replaced by the gateway's.
    assert.equal((await call("/threads/search", { method: "POST", body: "{}", headers: { "x-api-key": gateway.key } })).status, 200);
    assert.equal(upstream.received[1]!.headers["x-api-key"], UPSTREAM_SECRET);
  });

  test("never writes a client key or the upstream secret to the logs", async () => {
    await call("/ok", { headers: authed() });
    await call("/ok", { headers: { authorization: "Bearer pcsk_wrong-key-value" } });
    const logs = logLines.join("");
    assert.ok(logs.includes("request completed"), "logging is on");
    assert.ok(!logs.includes(gateway.key), "client key logged");
    assert.ok(!logs.includes("pcsk_wrong-key-value"), "presented key logged");
    assert.ok(!logs.includes(UPSTREAM_SECRET), "upstream secret logged");
  });
});

describe("route table: deny by default", () => {
  for (const path of ["/internal/truncate", "/internal", "/internal/anything/else"]) {
    test(`blocks ${path} with 403 and forwards nothing`, async () => {
      const res = await call(path, { method: "POST", body: "{}", headers: authed() });
      assert.equal(res.status, 403);
      assert.equal(res.json.error, "PC_BLOCKED_ROUTE");
      assert.equal(upstream.received.length, 0);
      await refusalRecord(res.requestId);
    });
  }

  for (const [method, path, status] of [
    ["GET", "/docs", 404],
    ["GET", "/openapi.json", 404],
    ["GET", "/metrics", 404],
    ["POST", "/INTERNAL/truncate", 404],
    ["GET", "/threads/", 404],
    ["PUT", "/threads/abc", 405],
    // A2A is routed at /a2a/{assistant_id} (test/compat/compat-a2a.test.ts); nothing below it is.
    ["POST", "/a2a/agent/tasks", 404],
  ] as const) {
    test(`${method} ${path} is refused with ${status}`, async () => {
      const res = await call(path, { method, headers: authed(), ...(method === "GET" ? {} : { body: "{}" }) });
      assert.equal(res.status, status);
      assert.equal(res.json.error, status === 405 ? "PC_METHOD_NOT_ALLOWED" : "PC_UNKNOWN_ROUTE");
      // RFC 9110 §15.5.6: a 405 lists the methods the path takes.
      if (status === 405) assert.deepEqual(res.allow?.split(", ").sort(), ["DELETE", "GET", "PATCH"]);
      assert.equal(upstream.received.length, 0);
    });
  }

  test("hostile paths from the corpus never reach the upstream", async () => {
    const corpus = (await import("../fixtures/hostile-paths.json", { with: { type: "json" } })).default as Array<{ path: string; status: number }>;
    for (const { path, status } of corpus) {
      const raw = await rawRequest(gateway.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(raw), status, `${path} answered ${raw.split("\r\n")[0]}`);
    }
    assert.equal(upstream.received.length, 0, `forwarded: ${upstream.received.map((r) => r.url).join(", ")}`);
  });

  test("a path with encoded characters is forwarded in the one canonical form it was classified in", async () => {
    const res = await call("/threads/%61bcdef01-2345-4678-9abc-def012345678/state", { headers: authed() });
    assert.equal(res.status, 200);
    assert.equal(upstream.received[0]!.url, "/threads/abcdef01-2345-4678-9abc-def012345678/state");
  });
});

describe("bodies", () => {
  test("broken JSON gets a clear 400 and is not forwarded", async () => {
    const res = await call("/threads", { method: "POST", body: '{"metadata": {', headers: authed() });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, "PC_INVALID_JSON");
    assert.equal(upstream.received.length, 0);
    await refusalRecord(res.requestId);
  });

  test("a text/plain body is inspected as JSON, like the JS server reads it", async () => {
    const body = JSON.stringify({ assistant_id: "hitl", command: { goto: "execute", update: { decision: "yes" } } });
    const res = await call("/threads/11111111-1111-4111-8111-111111111111/runs/wait", { method: "POST", body, headers: authed({ "content-type": "text/plain" }) });
    assert.equal(res.status, 200);
    assert.equal(upstream.received[0]!.headers["content-type"], "application/json");
    const record = (await gateway.recordsFor(res.requestId)).find((r) => r.type === "request");
    assert.equal(record?.type === "request" && record.operation?.risk, "steer-state");
    assert.deepEqual(record?.type === "request" && record.operation?.risk_reasons, ["command.update", "command.goto"]);
  });

  test("duplicate JSON keys: the upstream receives exactly the document that was classified", async () => {
    const raw = '{"assistant_id":"hitl","command":{"goto":"execute"},"command":{"resume":"yes"}}';
    const res = await call("/threads/11111111-1111-4111-8111-111111111111/runs", { method: "POST", body: raw, headers: authed() });
    assert.equal(res.status, 200);
    // The gateway adds its ownership stamp to what it forwards, never the shadowed key.
    assert.equal(upstream.received[0]!.body, '{"assistant_id":"hitl","command":{"resume":"yes"},"metadata":{"portcullis_owner":"sa:tester"}}');
  });

  test("method-override headers are refused: LangGraph would not honour them, so the request means something else", async () => {
    for (const name of ["x-http-method-override", "x-http-method", "x-method-override"]) {
      const res = await call("/threads/11111111-1111-4111-8111-111111111111/state", { method: "GET", headers: authed({ [name]: "POST" }) });
      assert.equal(res.status, 400);
      assert.match(res.json.message, new RegExp(name));
      assert.equal((await refusalRecord(res.requestId)).type, "request");
    }
    assert.equal(upstream.received.length, 0);
  });

  test("a body nested too deeply to re-serialise is refused before it is recorded as forwarded", async () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const local = await startTestGateway({ url: upstream.url }, { limits: { max_body_bytes: 1_000_000 } });
    try {
      const res = await fetch(`${local.url}/threads`, { method: "POST", body: deep, headers: { authorization: `Bearer ${local.key}` } });
      const requestId = res.headers.get("x-request-id")!;
      assert.equal(res.status, 400);
      assert.equal(upstream.received.length, 0);
      const records = await local.recordsFor(requestId);
      assert.deepEqual(records.map((r) => r.type === "request" && r.decision.effect), ["deny"]);
    } finally {
      await local.close();
    }
  });

  test("an oversized body gets 413 and is not forwarded", async () => {
    const res = await call("/threads", { method: "POST", body: JSON.stringify({ metadata: { pad: "x".repeat(2000) } }), headers: authed() });
    assert.equal(res.status, 413);
    assert.equal(res.json.error, "PC_BODY_TOO_LARGE");
    assert.equal(upstream.received.length, 0);
  });

  test("an oversized chunked body without content-length is cut off at the limit", async () => {
    const chunk = "x".repeat(600);
    const raw = await rawRequest(
      gateway.url,
      `POST /threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `${(600).toString(16)}\r\n${chunk}\r\n${(600).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 413);
    assert.equal(upstream.received.length, 0);
  });

  test("compressed request bodies are refused with 415", async () => {
    const res = await call("/threads", { method: "POST", body: "{}", headers: authed({ "content-encoding": "gzip" }) });
    assert.equal(res.status, 415);
    assert.equal(upstream.received.length, 0);
  });

  test("a run body that is not an object is refused before the upstream", async () => {
    const res = await call("/runs/batch", { method: "POST", body: '{"assistant_id":"agent"}', headers: authed() });
    assert.equal(res.status, 400);
    assert.equal(upstream.received.length, 0);
  });
});

describe("protocol tricks", () => {
  test("conflicting Content-Length and Transfer-Encoding is refused and recorded", async () => {
    const before = (await gateway.audit()).length;
    const raw = await rawRequest(
      gateway.url,
      `POST /threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 400);
    assert.equal(upstream.received.length, 0);
    const records = await eventually(async () => {
      const added = (await gateway.audit()).slice(before);
      assert.equal(added.length, 1);
      return added;
    });
    assert.equal(records[0]!.type === "request" && records[0]!.error, "PC_BAD_REQUEST");
  });

  test("oversized request headers get 431 and a record", async () => {
    const raw = await rawRequest(gateway.url, `GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    assert.equal(statusOf(raw), 431);
    const requestId = /x-request-id: (\S+)/.exec(raw)![1]!;
    await eventually(async () => assert.equal((await gateway.recordsFor(requestId)).length, 1));
  });

  test("an upgrade request reset at once by the client does not take the gateway down", async () => {
    const { connect } = await import("node:net");
    const { port } = new URL(gateway.url);
    for (let i = 0; i < 20; i += 1) {
      const socket = connect(Number(port), "127.0.0.1");
      socket.on("error", () => undefined);
      socket.write(`GET /threads/t/stream/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      socket.resetAndDestroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await call("/healthz")).status, 200);
  });

  // Protocol v2's own socket (GET /threads/{id}/stream/events) is bridged through the pipeline:
  // test/compat/compat-websocket.test.ts.
  test("WebSocket upgrades other than protocol v2's are refused with 501 and recorded", async () => {
    const raw = await rawRequest(
      gateway.url,
      `GET /threads/11111111-1111-4111-8111-111111111111/runs/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 501);
    assert.match(raw, /PC_UNSUPPORTED_PROTOCOL/);
    assert.equal(upstream.received.length, 0);
    const requestId = /x-request-id: (\S+)/.exec(raw)![1]!;
    await eventually(async () => assert.equal((await gateway.recordsFor(requestId)).length, 1));
  });
});

describe("fail closed on the audit record", () => {
  test("a request whose record cannot be written is refused with 503 and not forwarded", async () => {
    const failing: AuditSink = {
      append: async (record) => {
        if (record.type === "request" && record.decision.effect === "allow") throw new Error("disk full");
        return { seq: 0, leafHash: Buffer.alloc(32) };
      },
      close: async () => undefined,
    };
    const local = await startTestGateway({ url: upstream.url }, {}, { audit: failing });
    try {
      const res = await fetch(`${local.url}/threads/search`, { method: "POST", body: "{}", headers: { authorization: `Bearer ${local.key}` } });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: string }).error, "PC_AUDIT_UNAVAILABLE");
      assert.equal(upstream.received.length, 0);
    } finally {
      await local.close();
    }
  });
});

describe("against the real LangGraph server", () => {
  let langgraph: Upstream;
  let real: TestGateway;
  before(async () => {
    langgraph = await startLangGraph();
    real = await startTestGateway(langgraph);
  });
  after(async () => {
    await real?.close();
    await langgraph?.stop();
  });

  async function configurableOfRun(baseUrl: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
    const thread = (await (await fetch(`${baseUrl}/threads`, { method: "POST", headers, body: "{}" })).json()) as { thread_id: string };
    const run = (await (
      await fetch(`${baseUrl}/threads/${thread.thread_id}/runs`, {
        method: "POST",
        headers,
        body: JSON.stringify({ assistant_id: "slow", input: { count: 0, delayMs: 0 } }),
      })
    ).json()) as { kwargs: { config: { configurable: Record<string, unknown> } } };
    return run.kwargs.config.configurable;
  }

  test("client x-* headers do not reach the graph's config.configurable (they do without the gateway)", async () => {
    const leak = { "x-leak": "secret-from-client", "content-type": "application/json" };
    const direct = await configurableOfRun(langgraph.url, { ...leak, "x-api-key": langgraph.key });
    assert.equal(direct["x-leak"], "secret-from-client", "the JS server copies x-* headers (the hazard exists)");
    const through = await configurableOfRun(real.url, { ...leak, authorization: `Bearer ${real.key}` });
    assert.equal(through["x-leak"], undefined);
  });

  test("x-auth-scheme: langsmith without a key gets nothing from the gateway", async () => {
    const res = await fetch(`${real.url}/assistants/search`, { method: "POST", headers: { "x-auth-scheme": "langsmith" }, body: "{}" });
    assert.equal(res.status, 401);
  });

  test("the LangGraph server itself refuses callers without the gateway's key", async () => {
    const res = await fetch(`${langgraph.url}/assistants/search`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(res.status, 401);
  });
});
