// What an allowed request's body becomes before it is forwarded: ownership stamped on what the
// caller creates (threads, runs, crons), thread and cron searches narrowed to what the decision's
// scope reaches, and run-body hazards removed (langgraph-api.md §2). Every change is listed, for
// the audit record and the client (Portcullis-Removed header).
import type { Operation } from "../classify/index.js";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import type { CompiledPolicy } from "./compile.js";
import type { Decision, RequestFacts } from "./evaluate.js";
import { OWNER_KEY, TENANT_KEY } from "./lookups.js";
import { isObject } from "../jsonText.js";

export interface BodyRewrites {
  /** Stamps and filters the gateway added. */
  added: string[];
  /** Client-supplied fields removed; the client is told. */
  removed: string[];
  /** The body to forward when the request had none but needs a stamp or a filter (LangGraph
   * reads a missing body as {}: an unnarrowed search, an unowned thread). */
  created?: Record<string, unknown>;
}

const RESERVED_METADATA = [OWNER_KEY, TENANT_KEY];
// Searches whose metadata filter the gateway overwrites with the caller's owner (or tenant).
const NARROWED_SEARCHES = ["threads.search", "threads.count", "crons.search", "crons.count"];
// LangGraph sets a thread's graph_id and assistant_id itself; policy reads the graph from them.
const CLIENT_IMMUTABLE_METADATA = [...RESERVED_METADATA, "graph_id", "assistant_id"];

export function rewriteRequestBody(
  body: unknown,
  context: { operation: Operation; identity: Identity; decision: Decision; facts: RequestFacts; policy: CompiledPolicy },
): BodyRewrites {
  const rewrites: BodyRewrites = { added: [], removed: [] };
  const { operation } = context;
  const stamp = (target: Record<string, unknown>, where: string) => {
    const metadata = objectField(target, "metadata");
    removeReserved(metadata, where, rewrites);
    metadata[OWNER_KEY] = context.identity.subject;
    if (context.facts.callerTenant !== undefined) metadata[TENANT_KEY] = context.facts.callerTenant;
    rewrites.added.push(`${where}.${OWNER_KEY}`);
  };

  if (body === undefined && ["threads.create", ...NARROWED_SEARCHES].includes(operation.route)) {
    rewrites.created = {};
    body = rewrites.created;
  }
  if (!isObject(body) && !Array.isArray(body)) return rewrites;
  switch (operation.route) {
    case "threads.create":
      if (isObject(body)) stamp(body, "metadata");
      break;
    case "threads.update":
      if (isObject(body) && isObject(body.metadata)) removeReserved(body.metadata, "metadata", rewrites, CLIENT_IMMUTABLE_METADATA);
      break;
    case "assistants.create":
    case "assistants.update":
      if (isObject(body)) cleanConfigurable(body, "", context.policy, rewrites);
      break;
    case "threads.search":
    case "threads.count":
    case "crons.search":
    case "crons.count":
      // Cron searches filter on metadata from Agent Server 0.9.0 (langgraph-sdk CronsClient.search).
      if (isObject(body)) narrowSearch(body, context, rewrites);
      break;
    case "crons.update":
      // A cron's owner stamp is the gateway's, as a thread's is; its run body has the same hazards.
      if (isObject(body)) {
        if (isObject(body.metadata)) removeReserved(body.metadata, "metadata", rewrites);
        cleanRunBody(body, "", context.policy, rewrites);
        // The cron's graph is not known here, so breakpoints the policy sets at create
        // (run_body.pause_before) cannot be re-applied: changing them is refused instead.
        if (context.policy.pausesAnyGraph && ("interrupt_before" in body || "interrupt_after" in body)) {
          throw new GatewayError(403, "PC_FORBIDDEN", "Refused: a cron's interrupt_before / interrupt_after cannot be changed while the policy pauses runs before chosen nodes (run_body.pause_before); delete the cron and create it again.");
        }
      }
      break;
    case "protocol.command":
      if (isObject(body) && isObject(body.params)) {
        // Protocol v2 commands carry no interrupt_before: a graph whose runs must pause cannot be
        // started or resumed this way without losing its breakpoints.
        if ((body.method === "run.start" || body.method === "input.respond") && context.policy.pauseBefore(context.facts.graphs).length > 0) {
          throw new GatewayError(
            403,
            "PC_FORBIDDEN",
            `Refused: runs of ${context.facts.graphs.join(", ")} pause before chosen nodes for approval (run_body.pause_before), which protocol v2 ${String(body.method)} cannot carry; use the run endpoints (/threads/{id}/runs…).`,
            { identity: context.identity },
          );
        }
        cleanRunBody(body.params, "params", context.policy, rewrites);
        // run.start creates the thread with the run's metadata when it does not exist yet.
        if (body.method === "run.start") stamp(body.params, "params.metadata");
      }
      break;
    case "mcp.request":
    case "a2a.request":
      // An MCP tool call or an A2A message runs its assistant with no breakpoints.
      if (operation.actions.includes("runs:create") && context.policy.pauseBefore(context.facts.graphs).length > 0) {
        const carrier = operation.route === "mcp.request" ? "an MCP tools/call" : "an A2A message";
        throw new GatewayError(403, "PC_FORBIDDEN", `Refused: runs of ${context.facts.graphs.join(", ")} pause before chosen nodes for approval (run_body.pause_before), which ${carrier} cannot carry; use the run endpoints.`, { identity: context.identity });
      }
      break;
    default:
      if (operation.creates_run) {
        // Run metadata reaches a thread the run creates (if_not_exists: create, stateless runs).
        const runs = Array.isArray(body) ? body : [body];
        runs.forEach((run, index) => {
          if (!isObject(run)) return;
          const where = Array.isArray(body) ? `[${index}]` : "";
          cleanRunBody(run, where, context.policy, rewrites);
          pauseBefore(run, where, context.policy.pauseBefore(context.facts.graphs), rewrites);
          stamp(run, join(where, "metadata"));
        });
      }
  }
  return rewrites;
}

function narrowSearch(body: Record<string, unknown>, context: { identity: Identity; decision: Decision; facts: RequestFacts }, rewrites: BodyRewrites): void {
  const scope = context.decision.scope ?? "own";
  if (scope === "any") return;
  const metadata = objectField(body, "metadata");
  if (scope === "tenant") {
    metadata[TENANT_KEY] = context.facts.callerTenant ?? null;
    rewrites.added.push(`metadata.${TENANT_KEY} filter`);
  } else {
    metadata[OWNER_KEY] = context.identity.subject;
    rewrites.added.push(`metadata.${OWNER_KEY} filter`);
  }
}

function cleanRunBody(run: Record<string, unknown>, where: string, policy: CompiledPolicy, rewrites: BodyRewrites): void {
  // webhook: the server POSTs the run's result there when it ends; "/..." reaches its own routes.
  // An allowed one is forwarded as the URL that was checked, so no other parser reads it otherwise.
  if (run.webhook !== undefined) {
    const allowed = allowedWebhook(run.webhook, policy.webhookDestinations);
    if (allowed) run.webhook = allowed;
    else {
      delete run.webhook;
      rewrites.removed.push(join(where, "webhook"));
    }
  }
  cleanConfigurable(run, where, policy, rewrites);
}

/** Tool-level approvals: the run stops before the chosen nodes whatever the client asked
 * (a client may add breakpoints, never drop these), langgraph-api.md §8 pattern A. */
function pauseBefore(run: Record<string, unknown>, where: string, nodes: string[], rewrites: BodyRewrites): void {
  if (nodes.length === 0 || run.interrupt_before === "*") return;
  const asked = Array.isArray(run.interrupt_before) ? run.interrupt_before.filter((node): node is string => typeof node === "string") : [];
  const missing = nodes.filter((node) => !asked.includes(node));
  if (missing.length === 0) return;
  run.interrupt_before = [...asked, ...missing];
  rewrites.added.push(`${join(where, "interrupt_before")} ${missing.join(",")}`);
}

/** Identity-impersonating keys (policy), LangGraph's internal "__" keys (__pregel_resuming,
 * __pregel_resume_map resume an interrupt without command.resume, and stick to the thread's
 * config) and the gateway's own x-portcullis-* keys (the egress run context, src/egress/) are
 * removed from config.configurable and context. */
function cleanConfigurable(container: Record<string, unknown>, where: string, policy: CompiledPolicy, rewrites: BodyRewrites): void {
  const config = isObject(container.config) ? container.config : undefined;
  for (const [target, path] of [
    [config && isObject(config.configurable) ? config.configurable : undefined, "config.configurable"],
    [isObject(container.context) ? container.context : undefined, "context"],
  ] as const) {
    if (!target) continue;
    for (const key of Object.keys(target)) {
      if (policy.removedConfigurableKeys.has(key) || key.startsWith("__") || key.toLowerCase().startsWith("x-portcullis-")) {
        delete target[key];
        rewrites.removed.push(`${join(where, path)}.${key}`);
      }
    }
  }
}

function allowedWebhook(webhook: unknown, destinations: URL[]): string | undefined {
  if (typeof webhook !== "string" || !/^https?:\/\//i.test(webhook)) return undefined;
  let url: URL;
  try {
    url = new URL(webhook);
  } catch {
    return undefined;
  }
  if (url.username || url.password || webhook.includes("\\")) return undefined;
  const ok = destinations.some((allowed) => url.origin === allowed.origin && (url.pathname === allowed.pathname || url.pathname.startsWith(allowed.pathname.endsWith("/") ? allowed.pathname : `${allowed.pathname}/`)));
  return ok ? url.href : undefined;
}

function removeReserved(metadata: Record<string, unknown>, where: string, rewrites: BodyRewrites, keys: readonly string[] = RESERVED_METADATA): void {
  for (const key of keys) {
    if (Object.hasOwn(metadata, key)) {
      delete metadata[key];
      rewrites.removed.push(`${where}.${key}`);
    }
  }
}

function objectField(target: Record<string, unknown>, name: string): Record<string, unknown> {
  if (!isObject(target[name])) target[name] = {};
  return target[name] as Record<string, unknown>;
}

function join(prefix: string, path: string): string {
  return prefix ? `${prefix}.${path}` : path;
}
