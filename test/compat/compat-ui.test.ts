// Generative UI through the gateway: the real pinned LangGraph server serving the echo graph's
// UI component (langgraph.json `ui`, demo/langgraph/ui/echo.ui.tsx), as Agent Chat UI loads it:
// POST /ui/{graph} for the component HTML, then GET of the file it links.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

// alice may read every graph but echo's; bob reads everything.
const POLICY = `version: 1
rules:
  - id: everyone-reads
    effect: allow
    subjects: "*"
    actions: ["*"]
    scope: any
  - id: alice-not-echo
    effect: deny
    subjects: { service_accounts: [alice] }
    actions: [assistants:read]
    resources: { graphs: [echo] }
`;

describe("generative UI routes", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let dir: string;
  const alice = generateApiKey();
  const bob = generateApiKey();

  const components = (key: string, graph = "echo") =>
    fetch(`${gateway.url}/ui/${graph}`, { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: JSON.stringify({ name: "card" }) });

  before(async () => {
    upstream = await startLangGraph({ env: { LANGGRAPH_UI: "1" } });
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-ui-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(upstream, {
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: alice.sha256, groups: [] },
          { id: "bob", key_sha256: bob.sha256, groups: [] },
        ],
      },
    });
    // The server bundles the component after it starts listening.
    await eventually(async () => {
      const direct = await fetch(`${upstream.url}/ui/echo`, { method: "POST", headers: { "x-api-key": upstream.key, "content-type": "application/json" }, body: JSON.stringify({ name: "card" }) });
      assert.equal(direct.status, 200);
    }, 30_000);
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("POST /ui/{graph} is forwarded, classified as a read of the graph, and links the files through the gateway", async () => {
    const answer = await components(bob.key);
    assert.equal(answer.status, 200);
    const html = await answer.text();
    const gatewayOrigin = new URL(gateway.url);
    const src = /src="([^"]+)"/.exec(html)?.[1];
    assert.ok(src, `a script link in ${html}`);
    assert.equal(new URL(src).host, gatewayOrigin.host, "the component file is fetched through the gateway");
    assert.ok(!html.includes(new URL(upstream.url).host), "the upstream's address is not revealed");
    assert.match(html, /__LGUI_echo\.render\("card"/);

    const records = await gateway.recordsFor(answer.headers.get("x-request-id")!);
    const request = records.find((record): record is RequestRecord => record.type === "request")!;
    assert.equal(request.operation?.route, "ui.components");
    assert.equal(request.operation?.risk, "read");
    assert.equal(request.operation?.ids.graph_id, "echo");
    assert.equal(request.decision.effect, "allow");
  });

  test("GET /ui/{graph}/{file} relays the file unchanged, with a validator the browser revalidates with (304)", async () => {
    const html = await (await components(bob.key)).text();
    const src = /src="([^"]+)"/.exec(html)![1]!;
    const file = await fetch(src, { headers: { "x-api-key": bob.key } });
    assert.equal(file.status, 200);
    assert.match(file.headers.get("content-type") ?? "", /javascript/);
    const body = await file.text();
    const direct = await (await fetch(`${upstream.url}${new URL(src).pathname}`)).text();
    assert.equal(body, direct, "the bundle is what LangGraph built, byte for byte");
    const etag = file.headers.get("etag");
    assert.ok(etag);
    assert.equal(file.headers.get("cache-control"), "private, no-cache");

    const again = await fetch(src, { headers: { "x-api-key": bob.key, "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), "");
    const changed = await fetch(src, { headers: { "x-api-key": bob.key, "if-none-match": '"other"' } });
    assert.equal(changed.status, 200);
  });

  test("graph-scoped rules apply: a caller denied the echo graph gets neither its components nor its files", async () => {
    const refused = await components(alice.key);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, "PC_FORBIDDEN");
    const file = await fetch(`${gateway.url}/ui/echo/entrypoint.js`, { headers: { "x-api-key": alice.key } });
    assert.equal(file.status, 403);
    // Another graph is not covered by the rule: LangGraph's own answer (it has no UI) comes back.
    const other = await components(alice.key, "agent");
    assert.equal(other.status, 404);
    assert.match(await other.text(), /UI not found for agent "agent"/);
  });

  test("the UI routes need a credential like every other route, and other methods are refused", async () => {
    const anonymous = await fetch(`${gateway.url}/ui/echo/entrypoint.js`);
    assert.equal(anonymous.status, 401);
    const wrongMethod = await fetch(`${gateway.url}/ui/echo`, { method: "DELETE", headers: { "x-api-key": bob.key } });
    assert.equal(wrongMethod.status, 405);
    const missing = await fetch(`${gateway.url}/ui/echo/nothing.js`, { headers: { "x-api-key": bob.key } });
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "File not found");
  });
});
