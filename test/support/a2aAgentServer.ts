// The Agent Server's A2A endpoint, which the pinned JS server does not have, in front of the real
// LangGraph server: /a2a/{assistant_id} serves each graph as an A2A agent with the official
// @a2a-js/sdk (JSON-RPC, spec 0.3), and /.well-known/agent-card.json?assistant_id= its card, whose
// endpoint URL names the Host the request came with (as the Agent Server writes it). A message
// runs the graph on LangGraph (/runs/wait) on the thread its contextId names, as a task that is
// submitted, then completed with the graph's last message. Every other path is passed to the
// LangGraph server unchanged, so the gateway's lookups reach it.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AgentCard, Message } from "@a2a-js/sdk";
import { DefaultRequestHandler, InMemoryTaskStore, JsonRpcTransportHandler, type AgentExecutor, type ExecutionEventBus, type RequestContext } from "@a2a-js/sdk/server";
import { Client } from "@langchain/langgraph-sdk";
import { listenLocally, passToLangGraph } from "./agentServerHttp.js";
import type { Upstream } from "./stack.js";

export interface A2aAgentServer {
  url: string;
  /** The messages that reached the server: assistant, contextId and text as received. */
  messages: Array<{ assistant: string; contextId: string; text: string }>;
  stop(): Promise<void>;
}

export async function startA2aAgentServer(upstream: Upstream, graphs: string[]): Promise<A2aAgentServer> {
  const langGraph = new Client({ apiUrl: upstream.url, apiKey: upstream.key, callerOptions: { maxRetries: 0 } });
  const messages: A2aAgentServer["messages"] = [];
  const card = (assistant: string, host: string): AgentCard => ({
    name: assistant,
    description: `Runs the ${assistant} graph.`,
    url: `http://${host}/a2a/${assistant}`,
    version: "1.0.0",
    protocolVersion: "0.3.0",
    preferredTransport: "JSONRPC",
    capabilities: { streaming: true },
    defaultInputModes: ["text"],
    defaultOutputModes: ["text"],
    skills: [{ id: assistant, name: assistant, description: `The ${assistant} graph.`, tags: ["langgraph"] }],
  });
  const executor = (assistant: string): AgentExecutor => ({
    async execute(context: RequestContext, bus: ExecutionEventBus) {
      const { taskId, contextId, userMessage } = context;
      const text = userMessage.parts.map((part) => (part.kind === "text" ? part.text : "")).join("");
      messages.push({ assistant, contextId, text });
      bus.publish({ kind: "task", id: taskId, contextId, status: { state: "submitted", timestamp: new Date().toISOString() }, history: [userMessage] });
      await langGraph.threads.create({ threadId: contextId, ifExists: "do_nothing", graphId: assistant });
      const output = (await langGraph.runs.wait(contextId, assistant, { input: { messages: [{ role: "user", content: text }] } })) as { messages?: Array<{ type?: string; content?: unknown }> };
      // The graph's answer: its last AI message that says something (a tool call says nothing).
      const said = output.messages?.filter((message) => message.type === "ai" && typeof message.content === "string" && message.content !== "").at(-1)?.content;
      const reply: Message = { kind: "message", role: "agent", messageId: randomUUID(), taskId, contextId, parts: [{ kind: "text", text: typeof said === "string" ? said : JSON.stringify(output) }] };
      bus.publish({ kind: "status-update", taskId, contextId, status: { state: "completed", message: reply, timestamp: new Date().toISOString() }, final: true });
      bus.finished();
    },
    async cancelTask() {},
  });
  const handlers = new Map(graphs.map((assistant) => [assistant, (host: string) => new JsonRpcTransportHandler(new DefaultRequestHandler(card(assistant, host), tasks, executor(assistant)))]));
  const tasks = new InMemoryTaskStore();

  const a2a = async (assistant: string, req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const answer = await handlers.get(assistant)!(req.headers.host ?? "").handle(body);
    if (Symbol.asyncIterator in answer) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      for await (const event of answer) res.write(`data: ${JSON.stringify(event)}\n\n`);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  };
  const passOn = passToLangGraph(upstream);
  const http: HttpServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://agent-server");
    const assistant = url.pathname === "/.well-known/agent-card.json" ? url.searchParams.get("assistant_id") : /^\/a2a\/([^/]+)$/.exec(url.pathname)?.[1];
    if (assistant === undefined) return passOn(req, res);
    // The Agent Server asks for its credential here as on every route.
    if (req.headers["x-api-key"] !== upstream.key) return void res.writeHead(401).end();
    if (assistant === null || !handlers.has(assistant)) return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ detail: `Assistant ${assistant} not found` }));
    if (req.method === "GET") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(card(assistant, req.headers.host ?? "")));
    a2a(assistant, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const { url, stop } = await listenLocally(http);
  return { url, messages, stop };
}
