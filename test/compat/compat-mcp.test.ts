// MCP at /mcp, as the Agent Server serves it (each assistant a tool), through the gateway with the
// official MCP client: tools/call is authorised per tool as a run of that assistant's graph, its
// arguments reach the server masked, its result reaches the client masked, each message is
// recorded, and a method the gateway does not know is answered as JSON-RPC's "Method not found"
// without being forwarded. The pinned JS server has no /mcp: the server here is built with the
// official @modelcontextprotocol/sdk in front of the real LangGraph server.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EmptyResultSchema } from "@modelcontextprotocol/sdk/types.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startMcpAgentServer, type McpAgentServer } from "../support/mcpAgentServer.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const POLICY = `version: 1
rules:
  - id: everyone-lists-tools
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read]
  - id: echo-agent-and-tools-run
    effect: allow
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [echo, agent, tools] }
run_body:
  pause_before:
    - graphs: [tools]
      nodes: [tools]
`;

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";

async function connect(url: string, key: string): Promise<McpClient> {
  const client = new McpClient({ name: "portcullis-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { "x-api-key": key } } }));
  return client;
}

function text(result: Awaited<ReturnType<McpClient["callTool"]>>): string {
  return (result.content as Array<{ type: string; text?: string }>).map((part) => part.text ?? "").join("");
}

describe("MCP through the gateway", () => {
  let upstream: Upstream;
  let agentServer: McpAgentServer;
  let gateway: TestGateway;
  let dir: string;
  let through: McpClient;
  let direct: McpClient;

  before(async () => {
    upstream = await startLangGraph();
    agentServer = await startMcpAgentServer(upstream, ["echo", "agent", "hitl", "tools"]);
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-mcp-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway({ url: agentServer.url, key: upstream.key }, { policy: { file: path.join(dir, "policy.yaml"), watch: false } });
    through = await connect(gateway.url, gateway.key);
    direct = await connect(agentServer.url, upstream.key);
  });
  after(async () => {
    await through?.close();
    await direct?.close();
    await gateway?.close();
    await agentServer?.stop();
    await upstream?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the tools are listed as they are direct", async () => {
    const [listed, straight] = [await through.listTools(), await direct.listTools()];
    assert.deepEqual(listed, straight);
    assert.deepEqual(listed.tools.map((tool) => tool.name), ["echo", "agent", "hitl", "tools"]);
  });

  test("a tool call runs its graph, with the arguments masked on the way in and recorded as a run of that graph", { timeout: 60_000 }, async () => {
    const before = agentServer.calls.length;
    const result = await through.callTool({ name: "echo", arguments: { messages: [{ role: "user", content: `write to ${EMAIL}` }] } });
    assert.equal(result.isError, undefined);
    const received = agentServer.calls.slice(before);
    assert.equal(received.length, 1);
    assert.equal(received[0]!.name, "echo");
    assert.ok(!JSON.stringify(received[0]!.arguments).includes(EMAIL), "the server received no clear address");
    assert.match(text(result), /write to/);

    const records = (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request" && record.operation?.route === "mcp.request");
    const call = records.find((record) => record.operation?.risk === "execute");
    assert.ok(call, "the tool call was recorded");
    assert.deepEqual(call.operation!.actions, ["runs:create"]);
    assert.deepEqual(call.operation!.assistant_ids, ["echo"]);
    assert.equal(call.decision.effect, "allow");
    assert.ok(!JSON.stringify(await gateway.audit()).includes(EMAIL), "the ledger holds no clear address");
  });

  test("a tool's result reaches the client masked", { timeout: 60_000 }, async () => {
    const result = await through.callTool({ name: "agent", arguments: { messages: [{ role: "user", content: "what is on file?" }] } });
    const answer = JSON.stringify(result);
    assert.match(answer, /is on file/);
    assert.ok(!answer.includes(CARD), "no clear card number");
    const straight = JSON.stringify(await direct.callTool({ name: "agent", arguments: { messages: [{ role: "user", content: "what is on file?" }] } }));
    assert.ok(straight.includes(CARD), "direct, the card is there to be masked");
  });

  test("a tool the policy does not let the caller run is refused, and never reaches the server", { timeout: 60_000 }, async () => {
    const before = agentServer.calls.length;
    const refused = await through.callTool({ name: "hitl", arguments: { request: "wire $1 to ACME" } }).then(
      () => assert.fail("the call resolved"),
      (error: Error) => error,
    );
    assert.match(refused.message, /403|PC_FORBIDDEN/);
    assert.equal(agentServer.calls.length, before);
    const record = (await gateway.audit()).find((entry): entry is RequestRecord => entry.type === "request" && entry.operation?.route === "mcp.request" && entry.decision.effect === "deny");
    assert.ok(record);
    assert.equal(record.error, "PC_FORBIDDEN");
  });

  test("a tool whose graph must pause before chosen nodes is refused: a tool call cannot carry the breakpoints", async () => {
    const before = agentServer.calls.length;
    const refused = await through.callTool({ name: "tools", arguments: {} }).then(
      () => assert.fail("the call resolved"),
      (error: Error) => error,
    );
    assert.match(refused.message, /pause_before/);
    assert.equal(agentServer.calls.length, before);
  });

  test("a method the gateway does not know is JSON-RPC's 'Method not found', not forwarded", async () => {
    const refused = await through.request({ method: "resources/list", params: {} }, EmptyResultSchema).then(
      () => assert.fail("the request resolved"),
      (error: Error & { code?: number }) => error,
    );
    assert.equal(refused.code, -32601);
    const records = (await gateway.audit()).filter((entry): entry is RequestRecord => entry.type === "request" && entry.operation === null && entry.error === "PC_BAD_REQUEST" && entry.path === "/mcp");
    assert.equal(records.at(-1)?.status, 200);
    assert.equal(records.at(-1)?.decision.effect, "deny");
  });
});
