// Routes the Agent Server adds (langgraph.json http.app) are refused until the gateway config
// declares them under routes.custom, then forwarded with the declared action, risk and body
// handling. The upstream here is a stand-in that records what reached it: a custom route is the
// deployment's own code, which the pinned demo server does not have.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startTestGateway, type TestGateway } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: everyone
    effect: allow
    subjects: "*"
    actions: ["*"]
    scope: any
  - id: alice-no-memory-writes
    effect: deny
    subjects: { service_accounts: [alice] }
    actions: [store:put]
`;

const CUSTOM = [
  { id: "report", method: "GET" as const, path: "/reports/:report_id", action: "threads:read" as const, risk: "read" as const },
  { id: "feedback", method: "POST" as const, path: "/feedback", action: "store:put" as const, risk: "write" as const, body: "mask" as const },
  { id: "ping", method: "POST" as const, path: "/custom/ping", action: "server:read" as const, risk: "read" as const, body: "refuse" as const },
];

function configWith(custom: unknown[]): () => unknown {
  return () => parseConfig({ upstream: { url: "http://127.0.0.1:1" }, audit: { store: { kind: "sqlite", file: "/tmp/x.db" } }, routes: { custom } });
}

describe("routes.custom in the gateway config", () => {
  test("a route that overlaps one of LangGraph's, /internal, a repeated id or an unknown action is refused at load", () => {
    assert.throws(configWith([{ id: "x", method: "GET", path: "/threads/:id", action: "threads:read", risk: "read" }]), (error: unknown) => error instanceof ConfigError && /overlaps LangGraph's GET \/threads\/:thread_id/.test(error.message));
    assert.throws(configWith([{ id: "x", method: "POST", path: "/internal/x", action: "server:read", risk: "read" }]), /never forwarded/);
    assert.throws(configWith([CUSTOM[0], { ...CUSTOM[0], path: "/other" }]), /used twice/);
    assert.throws(configWith([{ ...CUSTOM[0], action: "reports:read" }]), ConfigError);
    assert.throws(configWith([{ ...CUSTOM[0], path: "reports" }]), ConfigError);
    // Another method on a LangGraph path is not an overlap.
    assert.doesNotThrow(configWith([{ id: "x", method: "DELETE", path: "/threads/:id/state", action: "state:write", risk: "steer-state" }]));
  });
});

describe("custom routes through the gateway", () => {
  let upstream: Server;
  let gateway: TestGateway;
  let dir: string;
  const received: Array<{ method: string; url: string; body: string }> = [];
  const alice = generateApiKey();
  const bob = generateApiKey();

  before(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        received.push({ method: req.method ?? "", url: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true, path: req.url }));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-custom-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(
      { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` },
      {
        policy: { file: path.join(dir, "policy.yaml"), watch: false },
        routes: { custom: CUSTOM },
        identity: {
          service_accounts: [
            { id: "alice", key_sha256: alice.sha256, groups: [] },
            { id: "bob", key_sha256: bob.sha256, groups: [] },
          ],
        },
      },
    );
  });
  after(async () => {
    await gateway?.close();
    await new Promise((resolve) => upstream?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const send = (key: string, method: string, url: string, body?: unknown) =>
    fetch(`${gateway.url}${url}`, { method, headers: { "x-api-key": key, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });

  test("an undeclared route is refused with 404 PC_UNKNOWN_ROUTE naming routes.custom, and nothing reaches the server", async () => {
    const before = received.length;
    const answer = await send(bob.key, "GET", "/not-declared/1");
    assert.equal(answer.status, 404);
    const body = (await answer.json()) as { error: string; message: string };
    assert.equal(body.error, "PC_UNKNOWN_ROUTE");
    assert.match(body.message, /routes\.custom/);
    assert.equal(received.length, before);
  });

  test("a declared route is forwarded and recorded as custom.<id> with its action and risk", async () => {
    const answer = await send(bob.key, "GET", "/reports/r-17?format=csv");
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { ok: true, path: "/reports/r-17?format=csv" });
    const request = (await gateway.recordsFor(answer.headers.get("x-request-id")!)).find((record): record is RequestRecord => record.type === "request")!;
    assert.equal(request.operation?.route, "custom.report");
    assert.equal(request.operation?.action, "threads:read");
    assert.equal(request.operation?.risk, "read");
    assert.equal(request.operation?.resource, "custom");
    // The declared method only.
    assert.equal((await send(bob.key, "DELETE", "/reports/r-17")).status, 405);
  });

  test("body: mask sends LangGraph the masked body whatever masking.requests says; policy decides on the declared action", async () => {
    const answer = await send(bob.key, "POST", "/feedback", { note: "call me at jane.doe@example.com" });
    assert.equal(answer.status, 200);
    const forwarded = received.at(-1)!;
    assert.equal(forwarded.url, "/feedback");
    assert.ok(!forwarded.body.includes("jane.doe@example.com"), forwarded.body);
    assert.match(forwarded.body, /EMAIL/);
    const refused = await send(alice.key, "POST", "/feedback", { note: "hello" });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, "PC_FORBIDDEN");
  });

  test("body: refuse refuses a request with a body and forwards one without", async () => {
    const withBody = await send(bob.key, "POST", "/custom/ping", { a: 1 });
    assert.equal(withBody.status, 400);
    assert.match(((await withBody.json()) as { message: string }).message, /takes no body/);
    const without = await send(bob.key, "POST", "/custom/ping");
    assert.equal(without.status, 200);
  });
});
