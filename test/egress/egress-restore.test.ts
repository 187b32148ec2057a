// Egress restore on the real data path: under masking.requests: tokenize the real LangGraph server
// holds only tokens, and an egress route configured with `restore: [EMAIL_ADDRESS]` (a send-email
// tool) receives the original address in a call linked to the run, while a route without it (a
// model provider) receives the token. Only tokens of the run's own thread are restored; the call's
// record counts the restorations and the recording keeps the tokens. The run context is the one
// the gateway added to a real run on the real LangGraph server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { TOKEN_PATTERN } from "../../src/mask/tokens.js";
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { startRecordingProxy, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, sdkDirect, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: tester-does-everything
    effect: allow
    subjects: { service_accounts: [tester] }
    actions: ["*"]
    scope: any
  - id: runtime-calls-out
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [mailer, provider] }
masking:
  requests: tokenize
`;

const EMAIL = `jane.${randomBytes(3).toString("hex")}@example.com`;
const OTHER_EMAIL = `omar.${randomBytes(3).toString("hex")}@example.org`;
const PHONE = "+44 20 7946 0958";

describe("egress restore: a route configured for an entity type receives the run's originals", () => {
  let dir: string;
  let downstream: Server;
  const received: Array<{ url: string; body: string }> = [];
  let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
  let proxy: RecordingProxy;
  let gateway: TestGateway;
  const runtime = generateApiKey();
  let threadId: string;
  let otherThreadId: string;
  let runContext: string;
  let mailerUrl: string;

  /** The tokens LangGraph holds for a thread, read from the server directly. */
  async function tokensOf(thread: string): Promise<string[]> {
    const state = JSON.stringify(await sdkDirect(langgraph).threads.getState(thread));
    return [...new Set([...state.matchAll(TOKEN_PATTERN)].map((match) => match[0]))];
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-egress-restore-"));
    downstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        received.push({ url: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    downstream.listen(0, "127.0.0.1");
    await once(downstream, "listening");
    const downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
    mailerUrl = downstreamUrl;
    langgraph = await startLangGraph();
    proxy = await startRecordingProxy(langgraph.url);
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(
      { url: proxy.url, key: langgraph.key },
      {
        policy: { file: path.join(dir, "policy.yaml"), watch: false },
        identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256, groups: ["runtime"] }] },
        egress: {
          routes: {
            mailer: { url: `${downstreamUrl}/mail`, paths: ["/send"], restore: ["EMAIL_ADDRESS"] },
            provider: { url: `${downstreamUrl}/model`, paths: ["/v1/chat/completions"] },
          },
        },
      },
    );
    const client = sdkThroughGateway(gateway);
    const thread = await client.threads.create();
    threadId = thread.thread_id;
    proxy.clear();
    await client.runs.wait(threadId, "echo", { input: { messages: [{ role: "human", content: `Email ${EMAIL} or call ${PHONE}.` }] } });
    const forwarded = proxy.requests.find((r) => typeof r.headers["x-portcullis-run-context"] === "string");
    assert.ok(forwarded, "the gateway added a run context to the run");
    runContext = String(forwarded.headers["x-portcullis-run-context"]);
    assert.ok(!forwarded.body.includes(EMAIL), "LangGraph received a token, not the email");
    const other = await client.threads.create();
    otherThreadId = other.thread_id;
    await client.runs.wait(otherThreadId, "echo", { input: { messages: [{ role: "human", content: `Email ${OTHER_EMAIL} please.` }] } });
  });

  after(async () => {
    await gateway?.close();
    await proxy?.close();
    await langgraph?.stop();
    downstream?.closeAllConnections();
    downstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const egress = async (route: string, target: string, body: unknown, withRunContext = true) => {
    const before = received.length;
    const response = await fetch(`${gateway.url}/egress/${route}${target}`, {
      method: "POST",
      headers: { authorization: `Bearer ${runtime.key}`, "content-type": "application/json", ...(withRunContext ? { "portcullis-run-context": runContext } : {}) },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, await response.clone().text());
    await response.text();
    assert.equal(received.length, before + 1, "the call reached the downstream");
    const requestId = response.headers.get("x-request-id")!;
    const records = await eventually(async () => {
      const all = await gateway.recordsFor(requestId);
      const request = all.find((r): r is RequestRecord => r.type === "request");
      const completion = all.find((r): r is CompletionRecord => r.type === "completion");
      assert.ok(request && completion, "not yet: request && completion");
      return { request, completion };
    });
    return { sent: received.at(-1)!.body, ...records };
  };

  it("gives the send-email route the real address of the run's thread, and counts it in the call's record", async () => {
    const tokens = await tokensOf(threadId);
    const emailToken = tokens.find((token) => token.startsWith("<EMAIL_ADDRESS_"));
    const phoneToken = tokens.find((token) => token.startsWith("<PHONE_NUMBER_"));
    assert.ok(emailToken && phoneToken, `LangGraph's state holds the tokens: ${tokens.join(", ")}`);
    const { sent, request } = await egress("mailer", "/send", { to: emailToken, subject: "Hello", text: `Reply to ${emailToken}, or call ${phoneToken}.` });
    const body = JSON.parse(sent) as { to: string; text: string };
    assert.equal(body.to, EMAIL, "the tool got the real address");
    assert.equal(body.text, `Reply to ${EMAIL}, or call ${phoneToken}.`, "only the route's entity types are restored");
    assert.deepEqual(request.masking?.restored, { EMAIL_ADDRESS: 2 });
    assert.deepEqual(request.egress?.run, { request_id: request.egress!.run!.request_id, subject: "sa:tester", thread_id: threadId, graphs: ["echo"] });
    // The recording keeps the tokens: the ledger holds the token, never the address.
    const ledger = JSON.stringify(await gateway.audit());
    assert.ok(!ledger.includes(EMAIL), "the ledger holds the clear email");
    for (const file of [gateway.ledgerFile, `${gateway.ledgerFile}-wal`]) {
      const bytes = await readFile(file).catch(() => Buffer.alloc(0));
      assert.ok(!bytes.toString("latin1").includes(EMAIL), `${path.basename(file)} holds the clear email`);
    }
  });

  it("gives a model provider route without restore the token", async () => {
    const [emailToken] = (await tokensOf(threadId)).filter((token) => token.startsWith("<EMAIL_ADDRESS_"));
    const { sent, request } = await egress("provider", "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: `Draft a note to ${emailToken}` }] });
    assert.ok(sent.includes(emailToken!), "the provider got the token");
    assert.ok(!sent.includes(EMAIL), "the provider did not get the address");
    assert.equal(request.masking?.restored, undefined);
  });

  it("does not restore a token of another thread, nor one in a call not linked to a run", async () => {
    const [otherToken] = (await tokensOf(otherThreadId)).filter((token) => token.startsWith("<EMAIL_ADDRESS_"));
    assert.ok(otherToken, "the other thread holds a token");
    const foreign = await egress("mailer", "/send", { to: otherToken });
    assert.equal((JSON.parse(foreign.sent) as { to: string }).to, otherToken, "another thread's token stays a token");
    assert.ok(!foreign.sent.includes(OTHER_EMAIL));
    assert.equal(foreign.request.masking?.restored, undefined);

    const [ownToken] = (await tokensOf(threadId)).filter((token) => token.startsWith("<EMAIL_ADDRESS_"));
    const unlinked = await egress("mailer", "/send", { to: ownToken }, false);
    assert.equal((JSON.parse(unlinked.sent) as { to: string }).to, ownToken, "without a run context nothing is restored");
    assert.equal(unlinked.request.masking?.restored, undefined);
  });

  it("restores under tenants: the run context carries the run's tenant, whose originals the route receives", async () => {
    const alice = generateApiKey();
    const policy = path.join(dir, "tenants.yaml");
    await writeFile(
      policy,
      `${POLICY.replace("masking:\n  requests: tokenize\n", "")}  - id: alice-works\n    effect: allow\n    subjects: { service_accounts: [alice] }\n    actions: ["*"]\nownership:\n  tenant: identity.groups[0]\n`,
    );
    const tenanted = await startTestGateway(
      { url: proxy.url, key: langgraph.key },
      {
        policy: { file: policy, watch: false },
        identity: {
          service_accounts: [
            { id: "runtime", key_sha256: runtime.sha256, groups: ["runtime"] },
            { id: "alice", key_sha256: alice.sha256, groups: ["acme"] },
          ],
        },
        egress: { routes: { mailer: { url: `${mailerUrl}/mail`, paths: ["/send"], restore: ["EMAIL_ADDRESS"] } } },
      },
    );
    try {
      const client = new Client({ apiUrl: tenanted.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } });
      const thread = await client.threads.create();
      proxy.clear();
      await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: `Email ${EMAIL} now.` }] } });
      const context = String(proxy.requests.find((r) => typeof r.headers["x-portcullis-run-context"] === "string")!.headers["x-portcullis-run-context"]);
      const [token] = (await tokensOf(thread.thread_id)).filter((found) => found.startsWith("<EMAIL_ADDRESS_"));
      assert.ok(token, "LangGraph holds a token");
      const sent = received.length;
      const response = await fetch(`${tenanted.url}/egress/mailer/send`, {
        method: "POST",
        headers: { authorization: `Bearer ${runtime.key}`, "content-type": "application/json", "portcullis-run-context": context },
        body: JSON.stringify({ to: token }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      await response.text();
      assert.equal(received.length, sent + 1);
      assert.equal((JSON.parse(received.at(-1)!.body) as { to: string }).to, EMAIL, "the tenant's original was restored");
      const request = await eventually(async () => {
        const found = (await tenanted.recordsFor(response.headers.get("x-request-id")!)).find((r): r is RequestRecord => r.type === "request");
        assert.ok(found, "not yet: found");
        return found;
      });
      assert.equal(request.egress?.run?.tenant, "acme");
      assert.deepEqual(request.masking?.restored, { EMAIL_ADDRESS: 1 });
    } finally {
      await tenanted.close();
    }
  });

  it("refuses a run context altered to name another thread", async () => {
    const [otherToken] = (await tokensOf(otherThreadId)).filter((token) => token.startsWith("<EMAIL_ADDRESS_"));
    const [header, payload, signature] = runContext.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<string, unknown>;
    const forged = [header, Buffer.from(JSON.stringify({ ...claims, thread_id: otherThreadId })).toString("base64url"), signature].join(".");
    const before = received.length;
    const response = await fetch(`${gateway.url}/egress/mailer/send`, {
      method: "POST",
      headers: { authorization: `Bearer ${runtime.key}`, "content-type": "application/json", "portcullis-run-context": forged },
      body: JSON.stringify({ to: otherToken }),
    });
    assert.equal(response.status, 400);
    await response.text();
    assert.equal(received.length, before, "nothing was sent");
  });
});
