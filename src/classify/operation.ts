// What a request does, in LangGraph's terms. Every later stage (policy, approvals, masking,
// the ledger) reasons about an Operation, never about raw paths.

/** execute: starts, schedules or resumes graph execution. steer-state: writes graph state or
 * steers execution outside a normal run (state writes, command.goto/update, supersteps, forks).
 * write: any other change. read: no change, content may still need masking. */
export type RiskClass = "execute" | "steer-state" | "write" | "read";

export type Resource =
  | "assistants"
  | "threads"
  | "state"
  | "runs"
  | "crons"
  | "store"
  | "server"
  | "protocol"
  | "ui"
  | "mcp"
  | "a2a"
  | "custom"
  | "egress";

/** How the upstream answers: the respond stage picks a relay from this and the response type. */
export type ResponseKind = "json" | "sse" | "wait";

export interface OperationIds {
  thread_id?: string;
  run_id?: string;
  assistant_id?: string;
  /** A graph named in the path (generative UI: /ui/{graph_id}). */
  graph_id?: string;
  cron_id?: string;
  checkpoint_id?: string;
  namespace?: string;
}

export interface Operation {
  /** Stable name of the route, e.g. "runs.stream", used by policy and in the audit record. */
  route: string;
  resource: Resource;
  /** The primary policy verb in resource:verb form, e.g. "runs:create", "state:write": the
   * highest-risk thing the request does. */
  action: string;
  /** Every verb the request needs; policy must allow each (a run with command.goto is both
   * runs:create and state:write). */
  actions: string[];
  risk: RiskClass;
  response: ResponseKind;
  ids: OperationIds;
  /** Assistant ids a run body targets (several for /runs/batch). */
  assistant_ids: string[];
  /** Why the risk is higher than the route's default, e.g. "command.goto". */
  risk_reasons: string[];
  /** The request starts or resumes a run (run creates, batch, crons, v2 run.start / input.respond). */
  creates_run: boolean;
  /** How many runs the request starts: the items of a /runs/batch (each takes a rate-limit token). */
  run_count?: number;
  /** Store namespace the request reads or writes (a prefix for searches and listings). */
  namespace?: string[];
  /** A custom route whose body LangGraph always receives masked (routes.custom body: mask). */
  request_body?: "mask";
  /** For run creation: the client's on_disconnect choice (langgraph-api.md §2). */
  on_disconnect?: "cancel" | "continue";
}
