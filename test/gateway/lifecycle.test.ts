// Upstream failures, client disconnects, health, CORS and graceful shutdown.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { pino } from "pino";
import { sseHeaders, sleep, startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { ALLOW_ALL_POLICY, eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";
import { parseConfig } from "../../src/config/load.js";
import type { PortcullisConfigInput } from "../../src/config/schema.js";
import { GATEWAY_USER_AGENT } from "../../src/forward/gatewayRequest.js";
import { startGateway } from "../../src/gateway.js";

describe("upstream failures", () => {
  test("an unreachable upstream gives a clear 502 and a completion record", async () => {
    const gateway = await startTestGateway({ url: "http://127.0.0.1:9" });
    try {
      const res = await fetch(`${gateway.url}/ok`, { headers: { authorization: `Bearer ${gateway.key}` } });
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, "PC_UPSTREAM_UNAVAILABLE");
      assert.doesNotMatch(body.message, /ECONNREFUSED|127\.0\.0\.1/, "network details stay in the log");
      const records = await gateway.recordsFor(res.headers.get("x-request-id")!);
      assert.deepEqual(records.map((r) => r.type), ["request", "completion"]);
      assert.equal(records[1]!.type === "completion" && records[1]!.outcome, "upstream_failed");
    } finally {
      await gateway.close();
    }
  });

  test("an upstream that never answers gives 504 after upstream.response_timeout_ms", async () => {
    const upstream = await startScriptedUpstream();
    upstream.handle = () => undefined; // accept, never answer
    const gateway = await startTestGateway({ url: upstream.url }, { upstream: { url: upstream.url, response_timeout_ms: 300 } });
    try {
      const res = await fetch(`${gateway.url}/ok`, { headers: { authorization: `Bearer ${gateway.key}` } });
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { error: string }).error, "PC_UPSTREAM_TIMEOUT");
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe("health, readiness and CORS", () => {
  let upstream: ScriptedUpstream;
  let gateway: TestGateway;
  before(async () => {
    upstream = await startScriptedUpstream();
    gateway = await startTestGateway({ url: upstream.url }, { cors: { allow_origins: ["https://smith.langchain.com"], allow_private_network: true } });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  /** What clients sent that reached the upstream: the gateway's own requests (readiness asks
   * the upstream's /ok as portcullis:gateway) are not forwarded client requests. */
  const forwarded = () => upstream.received.filter((r) => r.headers["user-agent"] !== GATEWAY_USER_AGENT);

  test("/healthz and /readyz answer without credentials and are never forwarded", async () => {
    for (const path of ["/healthz", "/readyz"]) {
      const res = await fetch(`${gateway.url}${path}`);
      assert.equal(res.status, 200);
    }
    assert.equal(forwarded().length, 0);
    assert.deepEqual(upstream.received.map((r) => `${r.method} ${r.url}`), ["GET /ok"], "readiness asked the upstream's /ok on its own account");
  });

  test("answers Studio's preflight for an allowed origin, including private-network access", async () => {
    const res = await fetch(`${gateway.url}/threads/search`, {
      method: "OPTIONS",
      headers: {
        origin: "https://smith.langchain.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-auth-scheme",
        "access-control-request-private-network": "true",
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://smith.langchain.com");
    assert.equal(res.headers.get("access-control-allow-private-network"), "true");
    assert.match(res.headers.get("access-control-allow-headers")!, /x-auth-scheme/);
    assert.equal(forwarded().length, 0);
  });

  test("refuses a preflight from an origin that is not allowed", async () => {
    const res = await fetch(`${gateway.url}/threads/search`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
  });

  test("exposes Content-Location to an allowed origin and drops the upstream's own CORS headers", async () => {
    upstream.handle = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*", "content-location": "/threads/11111111-1111-4111-8111-111111111111/runs/22222222-2222-4222-8222-222222222222" });
      res.end("{}");
    };
    const allowed = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs`, {
      method: "POST",
      headers: { origin: "https://smith.langchain.com", authorization: `Bearer ${gateway.key}` },
      body: '{"assistant_id":"agent"}',
    });
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://smith.langchain.com");
    assert.match(allowed.headers.get("access-control-expose-headers")!, /content-location/);
    const other = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs`, {
      method: "POST",
      headers: { origin: "https://evil.example", authorization: `Bearer ${gateway.key}` },
      body: '{"assistant_id":"agent"}',
    });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });
});

describe("graceful shutdown", () => {
  test("lets a live stream finish, refuses new requests meanwhile, then stops", async () => {
    const upstream = await startScriptedUpstream();
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      for (let i = 0; i < 5; i += 1) {
        res.write(`event: custom\ndata: {"i":${i}}\n\n`);
        await sleep(100);
      }
      res.end();
    };
    const gateway = await startTestGateway({ url: upstream.url }, { shutdown: { drain_ms: 5_000 } });
    const response = await fetch(`${gateway.url}/runs/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.key}` },
      body: '{"assistant_id":"slow"}',
    });
    const reading = response.text();
    await sleep(150);
    const closing = gateway.close();
    const readiness = await fetch(`${gateway.url}/readyz`).then((r) => r.status, () => "refused");
    assert.ok(readiness === 503 || readiness === "refused", `readiness during drain: ${readiness}`);
    const text = await reading;
    assert.equal((text.match(/event: custom/g) ?? []).length, 5, "the live stream finished");
    await closing;
    await upstream.close();
  });

  test("ends streams that outlive shutdown.drain_ms with event: error and records why", async () => {
    const upstream = await startScriptedUpstream();
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      res.write('event: metadata\ndata: {"run_id":"r-long"}\n\n');
      await sleep(10_000);
      res.end();
    };
    const gateway = await startTestGateway({ url: upstream.url }, { shutdown: { drain_ms: 200 } });
    const response = await fetch(`${gateway.url}/runs/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.key}` },
      body: '{"assistant_id":"slow"}',
    });
    const requestId = response.headers.get("x-request-id")!;
    const reading = response.text();
    await sleep(100);
    await gateway.gateway.close();
    const text = await reading;
    assert.match(text, /event: error\ndata: \{"error":"GatewayShutdown"/);
    const records = await gateway.audit();
    await gateway.close();
    const completion = records.find((r) => r.type === "completion" && r.request_id === requestId);
    assert.equal(completion?.type === "completion" && completion.outcome, "shutdown");
    await upstream.close();
  });
});

describe("client disconnects (real LangGraph server)", () => {
  let langgraph: Upstream;
  let gateway: TestGateway;
  let client: Client;
  before(async () => {
    langgraph = await startLangGraph();
    gateway = await startTestGateway(langgraph);
    client = new Client({ apiUrl: gateway.url, apiKey: gateway.key, callerOptions: { maxRetries: 0 } });
  });
  after(async () => {
    await gateway?.close();
    await langgraph?.stop();
  });

  async function disconnectAfterFirstEvent(threadId: string, onDisconnect: "cancel" | "continue"): Promise<string> {
    const abort = new AbortController();
    let runId = "";
    try {
      for await (const part of client.runs.stream(threadId, "slow", {
        input: { count: 10, delayMs: 100 },
        streamMode: ["custom"],
        onDisconnect,
        signal: abort.signal,
      })) {
        if (part.event === "metadata") runId = (part.data as { run_id: string }).run_id;
        if (part.event === "custom") abort.abort();
      }
    } catch (error) {
      if ((error as Error).name !== "AbortError") throw error;
    }
    return runId;
  }

  test("on_disconnect=cancel: the client leaving cancels the run upstream", { timeout: 30_000 }, async () => {
    const thread = await client.threads.create();
    const runId = await disconnectAfterFirstEvent(thread.thread_id, "cancel");
    const run = await eventually(async () => {
      const current = await client.runs.get(thread.thread_id, runId);
      assert.notEqual(current.status, "running");
      assert.notEqual(current.status, "pending");
      return current;
    }, 10_000);
    assert.equal(run.status, "interrupted");
  });

  test("on_disconnect=continue: the run finishes and the gateway records all of it", { timeout: 30_000 }, async () => {
    const thread = await client.threads.create();
    const runId = await disconnectAfterFirstEvent(thread.thread_id, "continue");
    // Polled, not joined: a JS join competes with the gateway for the run's events (the lossy
    // join of langgraph-api.md §6).
    await eventually(async () => assert.equal((await client.runs.get(thread.thread_id, runId)).status, "success"), 10_000);
    const completion = await eventually(async () => {
      const record = (await gateway.audit()).find((r) => r.type === "completion" && r.run_id === runId);
      assert.ok(record && record.type === "completion", "not yet: record && record.type === \"completion\"");
      return record;
    });
    assert.equal(completion.outcome, "client_aborted");
    assert.equal(completion.events?.custom, 10, "the gateway kept reading after the client left");
  });

  test("no upstream request is left open once streams end or clients leave", { timeout: 30_000 }, async () => {
    await eventually(async () => assert.equal(gateway.gateway.pipeline.active.size, 0), 10_000);
  });
});

describe("quiet streams", () => {
  test("a client leaving a quiet join stream releases the upstream connection at once", async () => {
    const upstream = await startScriptedUpstream();
    let upstreamClosed = false;
    upstream.handle = (_req, res) => {
      sseHeaders(res);
      res.write('event: metadata\ndata: {"run_id":"r-quiet"}\n\n');
      res.once("close", () => (upstreamClosed = true)); // then silence: no further events
    };
    const gateway = await startTestGateway({ url: upstream.url });
    try {
      const abort = new AbortController();
      const response = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/stream`, { headers: { authorization: `Bearer ${gateway.key}` }, signal: abort.signal });
      const reader = response.body!.getReader();
      await reader.read();
      abort.abort();
      await eventually(async () => assert.ok(upstreamClosed, "the upstream request is still open"), 2_000);
      await eventually(async () => assert.equal(gateway.gateway.pipeline.active.size, 0), 2_000);
      const completion = (await gateway.audit()).find((r) => r.type === "completion");
      assert.equal(completion?.type === "completion" && completion.outcome, "client_aborted");
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe("response limits", () => {
  test("a JSON answer larger than limits.max_response_bytes becomes a clear 502", async () => {
    const upstream = await startScriptedUpstream();
    upstream.handle = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ values: "x".repeat(5000) }));
    };
    const gateway = await startTestGateway({ url: upstream.url }, { limits: { max_response_bytes: 1000 } });
    try {
      const res = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/history`, { headers: { authorization: `Bearer ${gateway.key}` } });
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as { error: string }).error, "PC_UPSTREAM_RESPONSE_TOO_LARGE");
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  test("a client that leaves before the upstream answers releases the upstream request", async () => {
    const upstream = await startScriptedUpstream();
    let upstreamClosed = false;
    upstream.handle = (_req, res) => {
      res.once("close", () => (upstreamClosed = true)); // never answers
    };
    const gateway = await startTestGateway({ url: upstream.url });
    try {
      const abort = new AbortController();
      const pending = fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs/22222222-2222-4222-8222-222222222222/join`, { headers: { authorization: `Bearer ${gateway.key}` }, signal: abort.signal }).catch(() => "aborted");
      await eventually(async () => assert.equal(upstream.received.length, 1));
      abort.abort();
      assert.equal(await pending, "aborted");
      await eventually(async () => assert.ok(upstreamClosed, "upstream request still open"), 2_000);
      await eventually(async () => assert.equal(gateway.gateway.pipeline.active.size, 0), 2_000);
      const completion = (await gateway.audit()).find((r) => r.type === "completion");
      assert.equal(completion?.type === "completion" && completion.status, null);
      assert.equal(completion?.type === "completion" && completion.outcome, "client_aborted");
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});

describe("a start that fails part-way", () => {
  /** Descriptors this process holds on files under `dir` (Linux: /proc/self/fd). */
  async function filesHeldUnder(dir: string): Promise<string[]> {
    const held: string[] = [];
    for (const fd of await readdir("/proc/self/fd")) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
      if (target.startsWith(dir)) held.push(target);
    }
    return held;
  }

  async function failedStart(change: (config: PortcullisConfigInput, dir: string) => Promise<void>): Promise<{ error: unknown; dir: string }> {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-failed-start-"));
    const config: PortcullisConfigInput = {
      listen: { host: "127.0.0.1", port: 0 },
      upstream: { url: "http://127.0.0.1:9" },
      audit: { store: { kind: "sqlite", file: path.join(dir, "ledger.db") }, signing_key_file: path.join(dir, "ledger-key.pem"), stream: { file: path.join(dir, "siem.jsonl") }, payload_retention_days: 30 },
      storage: { sqlite_file: path.join(dir, "state.db") },
      log: { level: "silent" },
      policy: { file: ALLOW_ALL_POLICY, watch: false },
    };
    await change(config, dir);
    const error = await startGateway(parseConfig(config), { logger: pino({ level: "silent" }) }).then(
      async (gateway) => {
        await gateway.close();
        return undefined;
      },
      (failure: unknown) => failure,
    );
    return { error, dir };
  }

  test("a listener that cannot bind leaves no ledger, state or SIEM file open", async () => {
    const taken = createServer();
    taken.listen(0, "127.0.0.1");
    await once(taken, "listening");
    try {
      const port = (taken.address() as AddressInfo).port;
      const { error, dir } = await failedStart(async (config) => {
        config.listen = { host: "127.0.0.1", port };
      });
      assert.equal((error as NodeJS.ErrnoException | undefined)?.code, "EADDRINUSE");
      // The ledger, state and SIEM files were opened before the listener failed...
      assert.ok((await readdir(dir)).includes("ledger.db"));
      // ...and are all closed again.
      assert.deepEqual(await filesHeldUnder(dir), []);
      await rm(dir, { recursive: true, force: true });
    } finally {
      taken.close();
    }
  });

  test("a policy that does not load leaves nothing open either", async () => {
    const { error, dir } = await failedStart(async (config, dir) => {
      const policy = path.join(dir, "policy.yaml");
      await writeFile(policy, "rules: [ this is not a policy");
      config.policy = { file: policy, watch: false };
    });
    assert.ok(error instanceof Error, "the start failed");
    assert.ok((await readdir(dir)).includes("ledger.db"));
    assert.deepEqual(await filesHeldUnder(dir), []);
    await rm(dir, { recursive: true, force: true });
  });
});
