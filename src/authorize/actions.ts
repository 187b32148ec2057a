// The policy vocabulary: every verb classify can put on an Operation, as resource:verb.
// Rules may name these, a resource wildcard ("threads:*") or "*".

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

const KNOWN = new Set<string>(ACTIONS);
const RESOURCES = new Set(ACTIONS.map((action) => action.split(":")[0]!));

/** A rule's action pattern: an action, "resource:*", or "*". */
export function isActionPattern(pattern: string): boolean {
  if (pattern === "*" || KNOWN.has(pattern)) return true;
  const [resource, verb] = pattern.split(":");
  return verb === "*" && RESOURCES.has(resource!);
}

/** Actions an allow rule must name (or "egress:*"): an existing "*" allow rule does not start
 * letting its subjects spend the credentials the gateway holds for outside services. A "*" deny
 * or require-approval rule does cover them. */
const EXPLICIT_ONLY = new Set<string>(["egress:call"]);

/** The actions a pattern stands for in a rule with this effect. */
export function expandActionPattern(pattern: string, effect: "allow" | "deny" | "require-approval" = "allow"): Action[] {
  if (pattern === "*") return effect === "allow" ? ACTIONS.filter((action) => !EXPLICIT_ONLY.has(action)) : [...ACTIONS];
  if (pattern.endsWith(":*")) {
    const resource = pattern.slice(0, -2);
    return ACTIONS.filter((action) => action.startsWith(`${resource}:`));
  }
  return ACTIONS.filter((action) => action === pattern);
}
