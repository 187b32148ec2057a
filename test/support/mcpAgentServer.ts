// The Agent Server's MCP endpoint, which the pinned JS server does not have, in front of the real
// LangGraph server: /mcp serves each graph as an MCP tool with the official
// @modelcontextprotocol/sdk (streamable HTTP, stateless, JSON answers), whose call runs the graph
// on LangGraph with the tool's arguments as input (/runs/wait) and answers its output. Every other
// path is passed to the LangGraph server unchanged, so the gateway's lookups reach it.
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { Client } from "@langchain/langgraph-sdk";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { listenLocally, passToLangGraph } from "./agentServerHttp.js";
import type { Upstream } from "./stack.js";

export interface McpAgentServer {
  url: string;
  /** The tool calls that reached the server: name and arguments as received. */
  calls: Array<{ name: string; arguments: unknown }>;
  stop(): Promise<void>;
}

export async function startMcpAgentServer(upstream: Upstream, graphs: string[]): Promise<McpAgentServer> {
  const langGraph = new Client({ apiUrl: upstream.url, apiKey: upstream.key, callerOptions: { maxRetries: 0 } });
  const calls: McpAgentServer["calls"] = [];
  const mcp = async (req: IncomingMessage, res: ServerResponse) => {
    const server = new Server({ name: "langgraph-agent-server", version: "1.0.0" }, { capabilities: { tools: {} } });
    // The Agent Server derives each tool's input schema from its graph's; the server's schema
    // extraction takes seconds per graph, so here the input is any object the graph takes.
    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: graphs.map((graph) => ({ name: graph, description: `Runs the ${graph} graph.`, inputSchema: { type: "object" as const, description: `The ${graph} graph's input.` } })),
    }));
    server.setRequestHandler(CallToolRequestSchema, async (call) => {
      calls.push({ name: call.params.name, arguments: call.params.arguments });
      if (!graphs.includes(call.params.name)) return { isError: true, content: [{ type: "text", text: `Unknown tool ${call.params.name}` }] };
      const output = await langGraph.runs.wait(null, call.params.name, { input: call.params.arguments ?? {} });
      return { content: [{ type: "text", text: JSON.stringify(output) }], structuredContent: output as Record<string, unknown> };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
  const passOn = passToLangGraph(upstream);
  const http: HttpServer = createServer((req, res) => {
    if ((req.url ?? "").split("?")[0] === "/mcp") {
      // The Agent Server asks for its credential on /mcp as on every route.
      if (req.headers["x-api-key"] !== upstream.key) {
        res.writeHead(401).end();
        return;
      }
      mcp(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      return;
    }
    passOn(req, res);
  });
  const { url, stop } = await listenLocally(http);
  return { url, calls, stop };
}
