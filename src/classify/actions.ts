// The policy vocabulary: every verb classify can put on an Operation, as resource:verb (the
// route table's actions and those a body adds). Policy rules name them (src/authorize/actions.ts),
// and so does a custom route in the config.

export const ACTIONS = [
  "server:read",
  "assistants:read",
  "assistants:create",
  "assistants:update",
  // PATCH with config, context or graph_id: changes how future runs execute (it can drop a
  // baked-in interrupt_before), so it is steering, not an ordinary update (langgraph-api.md §1).
  "assistants:configure",
  "assistants:delete",
  "threads:read",
  "threads:create",
  "threads:update",
  "threads:delete",
  // Forks the state, a pending interrupt included, under a new id.
  "threads:copy",
  "state:read",
  // POST /threads/{id}/state, supersteps, command.update / command.goto, checkpoint forks.
  "state:write",
  "runs:read",
  "runs:create",
  // command.resume, v2 input.respond: answers an interrupt.
  "runs:resume",
  // input null (or absent) on an existing thread: continues past a breakpoint (langgraph-api.md §8).
  "runs:continue",
  "runs:cancel",
  "runs:delete",
  "crons:read",
  "crons:create",
  "crons:update",
  "crons:delete",
  "store:read",
  "store:put",
  "store:delete",
  // A call through an egress route (src/egress/): graph code reaching an outside service with a
  // credential the gateway holds. Named explicitly: "*" does not include it.
  "egress:call",
] as const;

export type Action = (typeof ACTIONS)[number];
