// Identity forwarding: the real LangGraph server runs examples/langgraph-auth/auth.mts, which
// trusts only Portcullis's signed assertion and enforces thread ownership on its own.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateKeyPair, SignJWT } from "jose";
import { startDemoLangGraph, type DemoLangGraph } from "../../demo/launch.js";
import { parseConfig } from "../../src/config/load.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { startTestGateway, type TestGateway } from "../support/stack.js";

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as { port: number };
  probe.close();
  return port;
}

let langgraph: DemoLangGraph;
let dataDir: string;
let gateway: TestGateway;
const bob = generateApiKey();
const auditor = generateApiKey();

before(async () => {
  const port = await freePort();
  dataDir = await mkdtemp(path.join(tmpdir(), "portcullis-lg-auth-"));
  langgraph = await startDemoLangGraph({
    upstreamKey: randomBytes(16).toString("hex"),
    dataDir,
    authModule: path.resolve("examples/langgraph-auth/auth.mts"),
    env: { PORTCULLIS_JWKS_URL: `http://127.0.0.1:${port}/.well-known/portcullis/jwks.json` },
  });
  gateway = await startTestGateway(
    { url: langgraph.url },
    {
      listen: { host: "127.0.0.1", port },
      upstream: { url: langgraph.url, identity_assertion: {} },
      // The built-in default policy: callers reach their own threads, auditors everyone's.
      policy: { watch: false },
      identity: {
        service_accounts: [
          { id: "bob", key_sha256: bob.sha256, groups: ["sales"] },
          { id: "audit", key_sha256: auditor.sha256, groups: ["auditors"] },
        ],
      },
    },
  );
});
after(async () => {
  await gateway?.close();
  await langgraph?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const client = (key: string) => new Client({ apiUrl: gateway.url, apiKey: key, callerOptions: { maxRetries: 0 } });

describe("signed identity assertion to LangGraph", () => {
  test("LangGraph's own Auth filters threads by the owner too, and lets the gateway's ownership lookups through", async () => {
    const alice = client(gateway.key);
    const thread = await alice.threads.create({ metadata: { purpose: "demo" } });
    // Both layers agree on the owner (the gateway's lookup, as portcullis:gateway, found it); the
    // stamp stays on LangGraph and is not shown to the client.
    const mine = await alice.threads.get(thread.thread_id);
    assert.equal(mine.thread_id, thread.thread_id);
    assert.equal(mine.metadata?.portcullis_owner, undefined);
    await assert.rejects(client(bob.key).threads.get(thread.thread_id), (error: { status?: number }) => error.status === 404);
    const bobsView = await client(bob.key).threads.search({ limit: 100 });
    assert.ok(!bobsView.some((t) => t.thread_id === thread.thread_id));
    const result = await alice.runs.wait(thread.thread_id, "slow", { input: { count: 1, delayMs: 0 } });
    assert.deepEqual(result, { count: 1, delayMs: 0, emitted: 1 });
  });

  test("a decision that reaches every thread (auditors) is honoured by LangGraph's Auth through the assertion's scope", async () => {
    const thread = await client(gateway.key).threads.create();
    const seen = await client(auditor.key).threads.get(thread.thread_id);
    assert.equal(seen.thread_id, thread.thread_id);
    assert.ok((await client(auditor.key).threads.search({ limit: 100 })).some((t) => t.thread_id === thread.thread_id));
  });

  test("the gateway serves its public key set without credentials", async () => {
    const response = await fetch(`${gateway.url}/.well-known/portcullis/jwks.json`);
    assert.equal(response.status, 200);
    const jwks = (await response.json()) as { keys: Array<{ kty: string; crv: string; d?: string; alg: string }> };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.alg, "ES256");
    assert.equal(jwks.keys[0]!.d, undefined, "the private key must never be published");
  });

  test("LangGraph refuses callers without an assertion or with one the gateway did not sign", async () => {
    const none = await fetch(`${langgraph.url}/threads/search`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(none.status, 401);
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ groups: ["admins"] })
      .setProtectedHeader({ alg: "ES256", kid: "forged" })
      .setIssuer("portcullis")
      .setAudience("langgraph")
      .setSubject("sa:tester")
      .setExpirationTime("1m")
      .sign(privateKey);
    const forgedResponse = await fetch(`${langgraph.url}/threads/search`, { method: "POST", headers: { "content-type": "application/json", "portcullis-identity": forged }, body: "{}" });
    assert.equal(forgedResponse.status, 401);
  });

  test("a client cannot smuggle its own assertion header through the gateway", async () => {
    const thread = await client(bob.key).threads.create();
    const response = await fetch(`${gateway.url}/threads/${thread.thread_id}`, { headers: { "x-api-key": gateway.key, "portcullis-identity": "forged" } });
    assert.equal(response.status, 404, "alice must not see bob's thread by sending her own header");
  });
});

describe("identity assertion configuration", () => {
  test("refuses an x-* header name, which the JS server would copy into graph config", () => {
    assert.throws(() => parseConfig({ upstream: { url: "http://x", identity_assertion: { header: "x-portcullis-identity" } } }), /identity_assertion\.header/);
  });
});
