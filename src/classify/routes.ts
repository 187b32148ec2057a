// The explicit route table: every LangGraph Server API route the gateway forwards
// (../shared/reference/langgraph-api.md §1). A request matching no row is refused; the table is
// ordered so that literal segments ("search", "batch", "crons") win over ids.
import type { Resource, ResponseKind, RiskClass } from "./operation.js";

export interface RouteSpec {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Segments; ":name" captures an id. */
  pattern: string;
  route: string;
  resource: Resource;
  action: string;
  risk: RiskClass;
  response: ResponseKind;
  /** The body is a run-create (RunCreateStateful/Stateless, or an array of them for batch). */
  runBody?: "single" | "batch";
  /** A custom route's body handling (routes.custom[].body in the gateway config). */
  body?: "forward" | "mask" | "refuse";
}

const json = "json" as const;

export const ROUTES: readonly RouteSpec[] = [
  // Server
  { method: "GET", pattern: "/info", route: "server.info", resource: "server", action: "server:read", risk: "read", response: json },
  { method: "GET", pattern: "/ok", route: "server.ok", resource: "server", action: "server:read", risk: "read", response: json },

  // Assistants
  { method: "POST", pattern: "/assistants", route: "assistants.create", resource: "assistants", action: "assistants:create", risk: "write", response: json },
  { method: "POST", pattern: "/assistants/search", route: "assistants.search", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "POST", pattern: "/assistants/count", route: "assistants.count", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/assistants/:assistant_id", route: "assistants.get", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/assistants/:assistant_id/graph", route: "assistants.graph", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/assistants/:assistant_id/subgraphs", route: "assistants.subgraphs", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/assistants/:assistant_id/subgraphs/:namespace", route: "assistants.subgraphs", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/assistants/:assistant_id/schemas", route: "assistants.schemas", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  // PATCH can replace config and drop a baked-in interrupt_before: a write that policy gates.
  { method: "PATCH", pattern: "/assistants/:assistant_id", route: "assistants.update", resource: "assistants", action: "assistants:update", risk: "write", response: json },
  { method: "DELETE", pattern: "/assistants/:assistant_id", route: "assistants.delete", resource: "assistants", action: "assistants:delete", risk: "write", response: json },
  { method: "POST", pattern: "/assistants/:assistant_id/versions", route: "assistants.versions", resource: "assistants", action: "assistants:read", risk: "read", response: json },
  { method: "POST", pattern: "/assistants/:assistant_id/latest", route: "assistants.set_latest", resource: "assistants", action: "assistants:update", risk: "write", response: json },

  // Threads
  { method: "POST", pattern: "/threads", route: "threads.create", resource: "threads", action: "threads:create", risk: "write", response: json },
  { method: "POST", pattern: "/threads/search", route: "threads.search", resource: "threads", action: "threads:read", risk: "read", response: json },
  { method: "POST", pattern: "/threads/count", route: "threads.count", resource: "threads", action: "threads:read", risk: "read", response: json },
  { method: "POST", pattern: "/threads/prune", route: "threads.prune", resource: "threads", action: "threads:delete", risk: "write", response: json },
  { method: "GET", pattern: "/threads/:thread_id", route: "threads.get", resource: "threads", action: "threads:read", risk: "read", response: json },
  { method: "PATCH", pattern: "/threads/:thread_id", route: "threads.update", resource: "threads", action: "threads:update", risk: "write", response: json },
  { method: "DELETE", pattern: "/threads/:thread_id", route: "threads.delete", resource: "threads", action: "threads:delete", risk: "write", response: json },
  // Copy forks the state, a pending interrupt included, under a new id.
  { method: "POST", pattern: "/threads/:thread_id/copy", route: "threads.copy", resource: "threads", action: "threads:copy", risk: "steer-state", response: json },
  { method: "GET", pattern: "/threads/:thread_id/stream", route: "threads.join_stream", resource: "threads", action: "threads:read", risk: "read", response: "sse" },

  // State and history
  { method: "GET", pattern: "/threads/:thread_id/state", route: "state.get", resource: "state", action: "state:read", risk: "read", response: json },
  { method: "GET", pattern: "/threads/:thread_id/state/:checkpoint_id", route: "state.get", resource: "state", action: "state:read", risk: "read", response: json },
  { method: "POST", pattern: "/threads/:thread_id/state", route: "state.update", resource: "state", action: "state:write", risk: "steer-state", response: json },
  { method: "POST", pattern: "/threads/:thread_id/state/checkpoint", route: "state.get_checkpoint", resource: "state", action: "state:read", risk: "read", response: json },
  { method: "GET", pattern: "/threads/:thread_id/history", route: "state.history", resource: "state", action: "state:read", risk: "read", response: json },
  { method: "POST", pattern: "/threads/:thread_id/history", route: "state.history", resource: "state", action: "state:read", risk: "read", response: json },

  // Runs on a thread
  { method: "GET", pattern: "/threads/:thread_id/runs", route: "runs.list", resource: "runs", action: "runs:read", risk: "read", response: json },
  { method: "POST", pattern: "/threads/:thread_id/runs", route: "runs.create", resource: "runs", action: "runs:create", risk: "execute", response: json, runBody: "single" },
  { method: "POST", pattern: "/threads/:thread_id/runs/stream", route: "runs.stream", resource: "runs", action: "runs:create", risk: "execute", response: "sse", runBody: "single" },
  { method: "POST", pattern: "/threads/:thread_id/runs/wait", route: "runs.wait", resource: "runs", action: "runs:create", risk: "execute", response: "wait", runBody: "single" },
  { method: "POST", pattern: "/threads/:thread_id/runs/crons", route: "crons.create", resource: "crons", action: "crons:create", risk: "execute", response: json, runBody: "single" },
  { method: "GET", pattern: "/threads/:thread_id/runs/:run_id", route: "runs.get", resource: "runs", action: "runs:read", risk: "read", response: json },
  { method: "DELETE", pattern: "/threads/:thread_id/runs/:run_id", route: "runs.delete", resource: "runs", action: "runs:delete", risk: "write", response: json },
  { method: "GET", pattern: "/threads/:thread_id/runs/:run_id/join", route: "runs.join", resource: "runs", action: "runs:read", risk: "read", response: json },
  { method: "GET", pattern: "/threads/:thread_id/runs/:run_id/stream", route: "runs.join_stream", resource: "runs", action: "runs:read", risk: "read", response: "sse" },
  { method: "POST", pattern: "/threads/:thread_id/runs/:run_id/cancel", route: "runs.cancel", resource: "runs", action: "runs:cancel", risk: "write", response: json },

  // Stateless runs and crons
  { method: "POST", pattern: "/runs", route: "runs.create", resource: "runs", action: "runs:create", risk: "execute", response: json, runBody: "single" },
  { method: "POST", pattern: "/runs/stream", route: "runs.stream", resource: "runs", action: "runs:create", risk: "execute", response: "sse", runBody: "single" },
  { method: "POST", pattern: "/runs/wait", route: "runs.wait", resource: "runs", action: "runs:create", risk: "execute", response: "wait", runBody: "single" },
  { method: "POST", pattern: "/runs/batch", route: "runs.batch", resource: "runs", action: "runs:create", risk: "execute", response: json, runBody: "batch" },
  { method: "POST", pattern: "/runs/cancel", route: "runs.cancel_many", resource: "runs", action: "runs:cancel", risk: "write", response: json },
  { method: "POST", pattern: "/runs/crons", route: "crons.create", resource: "crons", action: "crons:create", risk: "execute", response: json, runBody: "single" },
  { method: "POST", pattern: "/runs/crons/search", route: "crons.search", resource: "crons", action: "crons:read", risk: "read", response: json },
  { method: "POST", pattern: "/runs/crons/count", route: "crons.count", resource: "crons", action: "crons:read", risk: "read", response: json },
  { method: "PATCH", pattern: "/runs/crons/:cron_id", route: "crons.update", resource: "crons", action: "crons:update", risk: "execute", response: json },
  { method: "DELETE", pattern: "/runs/crons/:cron_id", route: "crons.delete", resource: "crons", action: "crons:delete", risk: "write", response: json },
  { method: "GET", pattern: "/runs/:run_id/stream", route: "runs.join_stream", resource: "runs", action: "runs:read", risk: "read", response: "sse" },

  // Store (long-term memory)
  { method: "PUT", pattern: "/store/items", route: "store.put", resource: "store", action: "store:put", risk: "write", response: json },
  { method: "DELETE", pattern: "/store/items", route: "store.delete", resource: "store", action: "store:delete", risk: "write", response: json },
  { method: "GET", pattern: "/store/items", route: "store.get", resource: "store", action: "store:read", risk: "read", response: json },
  { method: "POST", pattern: "/store/items/search", route: "store.search", resource: "store", action: "store:read", risk: "read", response: json },
  { method: "POST", pattern: "/store/namespaces", route: "store.list_namespaces", resource: "store", action: "store:read", risk: "read", response: json },

  // Generative UI (langgraph.json `ui`): the components a graph's runs push, read by Agent Chat UI.
  // Reading them is reading what the graph exposes, so policy sees assistants:read on the graph
  // (the graph id names its system assistant, langgraph-api.md §1); answers are masked like any.
  { method: "POST", pattern: "/ui/:graph_id", route: "ui.components", resource: "ui", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/ui/:graph_id/:file", route: "ui.asset", resource: "ui", action: "assistants:read", risk: "read", response: json },

  // MCP over streamable HTTP, as the Agent Server serves it (each assistant a tool): one JSON-RPC
  // message per request, whose method decides what it does (classify/mcp.ts). The JS server has
  // no /mcp; a deployment that adds one (langgraph.json http.app, or a Python Agent Server) gets it
  // governed.
  { method: "POST", pattern: "/mcp", route: "mcp.request", resource: "mcp", action: "assistants:read", risk: "read", response: json },

  // A2A, as the Agent Server serves it (each assistant an agent): one JSON-RPC message per
  // request (classify/a2a.ts); message/stream answers SSE, relayed event by event. The agent card
  // names the assistant in its query; its endpoint URL is rewritten to the gateway's.
  { method: "POST", pattern: "/a2a/:assistant_id", route: "a2a.request", resource: "a2a", action: "assistants:read", risk: "read", response: json },
  { method: "GET", pattern: "/.well-known/agent-card.json", route: "a2a.card", resource: "a2a", action: "assistants:read", risk: "read", response: json },

  // Protocol v2 over HTTP (over WebSocket: src/protocols/socketBridge.ts, as these two).
  { method: "POST", pattern: "/threads/:thread_id/commands", route: "protocol.command", resource: "protocol", action: "protocol:command", risk: "read", response: json },
  { method: "POST", pattern: "/threads/:thread_id/stream/events", route: "protocol.events", resource: "protocol", action: "threads:read", risk: "read", response: "sse" },
];

/** A route declared in the gateway config (routes.custom): authorised as its action, recorded as
 * custom.<id>, relayed by what the server answers (SSE or a whole document). */
export function customRouteSpec(route: { id: string; method: RouteSpec["method"]; path: string; action: string; risk: RiskClass; body: "forward" | "mask" | "refuse" }): RouteSpec {
  return { method: route.method, pattern: route.path, route: `custom.${route.id}`, resource: "custom", action: route.action, risk: route.risk, response: "json", body: route.body };
}

/** Routes that are never forwarded, with the reason given to the client. */
export const BLOCKED_PREFIXES: ReadonlyArray<{ prefix: string; reason: string }> = [
  { prefix: "/internal", reason: "LangGraph's /internal routes (e.g. /internal/truncate wipes all data) are never reachable through Portcullis" },
];
