// A body the gateway refuses for a field LangGraph validates too is answered as LangGraph answers
// it: 400 with the Zod issue list, so a client that reads the issues reads the same ones through
// the gateway. An unknown protocol-v2 command method is never forwarded, and is answered with the
// protocol's own in-band error, as the server answers it. The gateway's code is in
// x-portcullis-error (exposed to browsers through CORS) and in the record.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

interface Answer {
  status: number;
  json: unknown;
  error: string | null;
  requestId: string | null;
}

describe("validation refusals in LangGraph's shape", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  let threadId: string;

  async function send(base: string, key: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
    const answer = await fetch(`${base}${path}`, { method, headers: { "x-api-key": key, "content-type": "application/json", ...headers }, ...(body !== undefined ? { body } : {}) });
    return { status: answer.status, json: await answer.json(), error: answer.headers.get("x-portcullis-error"), requestId: answer.headers.get("x-request-id") };
  }
  const direct = (method: string, path: string, body?: string) => send(upstream.url, upstream.key, method, path, body);
  const through = (method: string, path: string, body?: string) => send(gateway.url, gateway.key, method, path, body);

  before(async () => {
    upstream = await startLangGraph();
    gateway = await startTestGateway(upstream, { cors: { allow_origins: ["https://studio.example"] } });
    threadId = ((await (await fetch(`${gateway.url}/threads`, { method: "POST", headers: { "x-api-key": gateway.key, "content-type": "application/json" }, body: "{}" })).json()) as { thread_id: string }).thread_id;
  });
  after(async () => {
    await gateway?.close();
    await upstream?.stop();
  });

  const cases: Array<[string, string, string]> = [
    ["POST", "/runs/wait", '"not an object"'],
    ["POST", "/runs/wait", '{"assistant_id":"agent","command":"resume"}'],
    ["POST", "/runs/batch", "{}"],
    ["POST", "/runs/batch", '[{"assistant_id":"agent"}, 7]'],
    ["POST", "/threads", "[]"],
    ["POST", "/threads/search", '"x"'],
    ["PUT", "/store/items", '{"namespace":"a","key":"k","value":{}}'],
    ["POST", "/store/items/search", '{"namespace_prefix":["a", 1]}'],
    ["POST", "/store/namespaces", '{"prefix":1}'],
  ];
  for (const [method, path, body] of cases) {
    test(`${method} ${path} ${body} is refused with the issue LangGraph reports`, async () => {
      const [gatewayAnswer, serverAnswer] = [await through(method, path, body), await direct(method, path, body)];
      assert.equal(gatewayAnswer.status, 400);
      assert.equal(serverAnswer.status, 400);
      assert.deepEqual(gatewayAnswer.json, serverAnswer.json);
      assert.equal(gatewayAnswer.error, "PC_BAD_REQUEST");
      const record = (await gateway.recordsFor(gatewayAnswer.requestId!)).find((entry): entry is RequestRecord => entry.type === "request")!;
      assert.equal(record.status, 400);
      assert.equal(record.error, "PC_BAD_REQUEST");
    });
  }

  test("a repeated namespace query parameter is the issue LangGraph reports", async () => {
    const [gatewayAnswer, serverAnswer] = [await through("GET", "/store/items?namespace=a&namespace=b&key=k"), await direct("GET", "/store/items?namespace=a&namespace=b&key=k")];
    assert.equal(gatewayAnswer.status, serverAnswer.status);
    assert.deepEqual(gatewayAnswer.json, serverAnswer.json);
  });

  test("a protocol command that is not an object is the issue LangGraph reports", async () => {
    const path = `/threads/${threadId}/commands`;
    const [gatewayAnswer, serverAnswer] = [await through("POST", path, '"state.get"'), await direct("POST", path, '"state.get"')];
    assert.equal(gatewayAnswer.status, 400);
    assert.deepEqual(gatewayAnswer.json, serverAnswer.json);
  });

  test("an unknown protocol command method is the protocol's in-band error, recorded and never forwarded", async () => {
    const path = `/threads/${threadId}/commands`;
    // The server's answer depends on whether a run is bound to the thread (no_such_run before one
    // is); the gateway answers as a server with a session does, since it forwards nothing.
    const answer = await through("POST", path, '{"id":7,"method":"thread.destroy","params":{}}');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { type: "error", id: 7, error: "unknown_command", message: "Unknown protocol command: thread.destroy" });
    assert.equal(answer.error, "PC_BAD_REQUEST");
    const records = await gateway.recordsFor(answer.requestId!);
    const record = records.find((entry): entry is RequestRecord => entry.type === "request")!;
    assert.equal(record.status, 200);
    assert.equal(record.error, "PC_BAD_REQUEST");
    assert.equal(record.decision.effect, "deny");
    assert.equal(records.filter((entry) => entry.type === "completion").length, 0, "nothing was forwarded");

    const direct = await send(upstream.url, upstream.key, "POST", path, '{"id":7,"method":"thread.destroy","params":{}}');
    assert.equal(direct.status, 200);
    assert.equal((direct.json as { type: string }).type, "error");
  });

  test("an unknown method without a numeric id is LangGraph's issue for the id", async () => {
    const path = `/threads/${threadId}/commands`;
    const [gatewayAnswer, serverAnswer] = [await through("POST", path, '{"method":"thread.destroy"}'), await direct("POST", path, '{"method":"thread.destroy"}')];
    assert.equal(gatewayAnswer.status, 400);
    assert.deepEqual(gatewayAnswer.json, serverAnswer.json);
  });

  test("a browser on an allowed origin can read x-portcullis-error", async () => {
    const answer = await send(gateway.url, gateway.key, "POST", "/threads", "[]", { origin: "https://studio.example" });
    assert.equal(answer.status, 400);
    const response = await fetch(`${gateway.url}/threads`, { method: "POST", headers: { "x-api-key": gateway.key, origin: "https://studio.example" }, body: "[]" });
    await response.arrayBuffer();
    const exposed = (response.headers.get("access-control-expose-headers") ?? "").split(",").map((name) => name.trim());
    assert.ok(exposed.includes("x-portcullis-error"), exposed.join(", "));
    assert.equal(response.headers.get("x-portcullis-error"), "PC_BAD_REQUEST");
  });

  test("the gateway's own refusals of a command keep its JSON", async () => {
    const answer = await through("POST", "/runs/wait", '{"assistant_id":"agent","command":{"Goto":"x"}}');
    assert.equal(answer.status, 400);
    assert.equal((answer.json as { error: string }).error, "PC_BAD_REQUEST");
  });
});
