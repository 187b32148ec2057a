// authorize: Identity × Operation → Decision, from the policy in force (deny by default).
// Looks up what the request does not say (the assistant's graph, the thread's or cron's owner,
// the run's thread), decides, and prepares the forwarded body (ownership stamps, narrowed
// searches, hazards removed).
import type { Operation } from "../classify/index.js";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import type { RequestTarget } from "../receive/index.js";
import { buildConditionContext, decide, type Decision, type DecisionInput, type RequestFacts, type ThreadFacts, type TraceEntry } from "./evaluate.js";
import type { ResourceLookups } from "./lookups.js";
import type { PolicySource } from "./policySource.js";
import { RateLimiter } from "./rateLimit.js";
import { rewriteRequestBody, type BodyRewrites } from "./rewrite.js";
import type { CompiledPolicy } from "./compile.js";

export { loadPolicyFile, subjectMatcher, type CompiledPolicy } from "./compile.js";
export type { Decision, RequestFacts, TraceEntry } from "./evaluate.js";
export { OWNER_KEY, ResourceLookups, TENANT_KEY } from "./lookups.js";
export { policyJsonSchema } from "./policyFile.js";
export { DEFAULT_POLICY_FILE, PolicySource, type PolicyAudit, type PolicyChange } from "./policySource.js";
export { RateLimiter } from "./rateLimit.js";
export type { BodyRewrites } from "./rewrite.js";
export { MemoryTokenBuckets, PostgresTokenBuckets, RATE_LIMIT_TABLES, type TokenBuckets } from "./tokenBuckets.js";

export interface AuthorizationRequest {
  requestId: string;
  identity: Identity;
  operation: Operation;
  target: RequestTarget;
  method: string;
  sourceAddress: string | null;
  body: unknown;
}

interface Authorization {
  decision: Decision;
  facts: RequestFacts;
  policy: CompiledPolicy;
}

export class Authorizer {
  constructor(
    readonly policies: PolicySource,
    private readonly lookups: ResourceLookups,
    private readonly limiter = new RateLimiter(),
  ) {}

  /** Per-identity rate limit, checked before the body is read. */
  limitRate(identity: Identity): Promise<void> {
    return this.limiter.take(this.policies.current, identity);
  }

  /** Once the body is classified: each run of a /runs/batch after the first takes a token too. */
  limitRunRate(identity: Identity, operation: Operation): Promise<void> {
    return this.limiter.takeRuns(this.policies.current, identity, operation.run_count ?? 1);
  }

  async authorize(request: AuthorizationRequest, trace?: TraceEntry[]): Promise<Authorization> {
    // One policy decides the whole request, even if a reload lands meanwhile.
    const policy = this.policies.current;
    const facts = await gatherFacts(policy, request, this.lookups);
    const decision = decideWithFacts(policy, request, facts, trace);
    return { decision, facts, policy };
  }

  /** An egress call: policy must allow egress:call on its route (deny by default). The graphs are
   * those of the run the call is linked to, so rules can also name graphs. */
  authorizeEgress(request: Omit<AuthorizationRequest, "requestId">, route: string, graphs: string[], mcpMessage?: { tool?: string }): Authorization {
    const policy = this.policies.current;
    const facts: RequestFacts = { graphs, assistants: [], egressRoute: route, ...(mcpMessage ? { mcpMessage } : {}) };
    return { decision: decideWithFacts(policy, request, facts), facts, policy };
  }

  /** The graphs of the assistants a run names (cached lookups), for facts no rule needed. */
  async graphsOf(assistantIds: string[], requestId: string): Promise<string[]> {
    const graphs = new Set<string>();
    for (const id of new Set(assistantIds)) {
      const found = await this.lookups.assistant(id, requestId);
      if (found?.graph_id) graphs.add(found.graph_id);
    }
    return [...graphs];
  }

  /** Applies an allowed request's body changes; the caches forget what the request changes. */
  prepareBody(request: AuthorizationRequest, authorization: Authorization): BodyRewrites {
    const { operation } = request;
    const threadId = threadIdOf(operation, request.body);
    if (threadId && operation.risk !== "read") this.lookups.forgetThread(threadId);
    if (operation.ids.cron_id) this.lookups.forgetCron(operation.ids.cron_id);
    if (operation.resource === "assistants" && operation.risk !== "read") {
      for (const id of [operation.ids.assistant_id, stringField(request.body, "assistant_id")]) if (id) this.lookups.forgetAssistant(id);
    }
    return rewriteRequestBody(request.body, { operation, identity: request.identity, decision: authorization.decision, facts: authorization.facts, policy: authorization.policy });
  }
}

/** The decision once the facts are known; shared with `portcullis policy explain` and `test`. */
export function decideWithFacts(policy: CompiledPolicy, request: Omit<AuthorizationRequest, "requestId">, facts: RequestFacts, trace?: TraceEntry[]): Decision {
  const { operation } = request;
  const thread = facts.thread;
  if (facts.runOnThread === false) {
    return { effect: "deny", rule: "ownership:run-not-on-thread", reason: "the run is not on this thread", not_found: true, policy: policy.sha256.slice(0, 16) };
  }
  if (facts.cron && !facts.cron.exists) {
    return { effect: "deny", rule: "ownership:no-such-cron", reason: "the cron was not found, so its owner cannot be checked", not_found: true, policy: policy.sha256.slice(0, 16) };
  }
  if (thread && !thread.exists && (thread.invalid || !createsThread(operation, request.body))) {
    return { effect: "deny", rule: "ownership:no-such-thread", reason: "the thread does not exist", not_found: true, policy: policy.sha256.slice(0, 16) };
  }
  const input: DecisionInput = {
    identity: request.identity,
    operation,
    facts,
    request: { method: request.method, path: request.target.path, sourceAddress: request.sourceAddress, query: request.target.query },
    body: request.body,
    now: new Date(),
  };
  return decide(policy, input, trace);
}

/** The refusal a decision calls for, or undefined when the request may go on (to approval, for
 * require-approval). */
export function refusalFor(decision: Decision, request: { operation: Operation; identity: Identity }): GatewayError | undefined {
  if (decision.effect === "allow") return undefined;
  const threadId = request.operation.ids.thread_id;
  if (decision.not_found && request.operation.route === "threads.create") {
    return new GatewayError(409, "PC_CONFLICT", "Refused: a thread with this thread_id already exists.", { identity: request.identity });
  }
  if (decision.not_found) {
    // As LangGraph answers a thread its auth filters hide: the thread's existence is not revealed.
    const { run_id: runId, cron_id: cronId } = request.operation.ids;
    const what =
      decision.rule === "ownership:run-not-on-thread" || (!threadId && !cronId) ? `Run with ID ${runId ?? ""}` : cronId ? `Cron with ID ${cronId}` : `Thread with ID ${threadId}`;
    return new GatewayError(404, "PC_NOT_FOUND", `${what} not found.`, { identity: request.identity });
  }
  // The approve stage holds the request (src/approve/).
  if (decision.effect === "require-approval") return undefined;
  return new GatewayError(403, "PC_FORBIDDEN", `Refused: ${decision.reason ?? "not allowed"} (rule ${decision.rule}).`, { identity: request.identity });
}

async function gatherFacts(policy: CompiledPolicy, request: AuthorizationRequest, lookups: ResourceLookups): Promise<RequestFacts> {
  const { operation, body, requestId } = request;
  const facts: RequestFacts = { graphs: [], assistants: [] };
  if (policy.tenant) facts.callerTenant = callerTenant(policy, request);

  // Only what some applicable rule depends on is looked up: a policy that never names graphs or
  // owners costs no upstream round trip.
  const needs = (set: ReadonlySet<string>) => operation.actions.some((action) => set.has(action));
  const assistantIds = !needs(policy.assistantFactsFor) ? [] : operation.creates_run ? operation.assistant_ids : operation.ids.assistant_id ? [operation.ids.assistant_id] : [];
  for (const id of new Set(assistantIds)) {
    const found = await lookups.assistant(id, requestId);
    facts.assistants.push(found && found.assistant_id !== id ? [id, found.assistant_id] : [id]);
    // An unknown assistant has no graph; "" matches no rule that lists graphs (except "*").
    facts.graphs.push(found?.graph_id ?? "");
  }
  const threadId = threadIdOf(operation, body);
  // v2 run.start with input on a thread with a pending interrupt resumes it.
  const startsOnThread = operation.route === "protocol.command" && operation.actions.includes("runs:create");
  if (threadId && (needs(policy.threadFactsFor) || startsOnThread)) {
    facts.thread = await lookups.thread(threadId, requestId);
    resumesIfInterrupted(operation, facts.thread);
  }
  if (isThreadlessRunJoin(operation)) facts.thread = THREADLESS_RUN;
  // Wherever the thread's owner is checked, every route that names a run on it (get, delete,
  // cancel, join, join stream): LangGraph finds a run by its id alone in places (a join reads the
  // run's queue whatever thread the path names), so the run must be on the thread checked.
  if (facts.thread?.exists && operation.ids.thread_id && operation.ids.run_id) {
    facts.runOnThread = await lookups.runIsOnThread(operation.ids.thread_id, operation.ids.run_id, requestId);
  }
  // PATCH and DELETE /runs/crons/{id}: the cron's owner, as for a thread.
  if (operation.ids.cron_id && needs(policy.threadFactsFor)) facts.cron = await lookups.cron(operation.ids.cron_id, requestId);
  facts.graphs = [...new Set([...facts.graphs, ...graphsNamedBy(operation, body, facts.thread)])];
  return facts;
}

/** v2 run.start with input on a thread with a pending interrupt is a resume (LangGraph turns the
 * input into Command(resume)), so it needs runs:resume as well. */
export function resumesIfInterrupted(operation: Operation, thread: ThreadFacts): void {
  // LangGraph resumes whenever the thread has a pending interrupt, whatever its status says (a v2
  // run leaves it idle), so run.start with input on any existing thread needs runs:resume too.
  const startsRun = operation.route === "protocol.command" && operation.actions.includes("runs:create") && !operation.actions.includes("runs:continue");
  if (!startsRun || !thread.exists || operation.actions.includes("runs:resume")) return;
  operation.actions.push("runs:resume");
  operation.risk_reasons.push("run.start on an existing thread (resumes a pending interrupt)");
}

/** GET /runs/{run_id}/stream names no thread, so no owner can be checked (LangGraph joins any run
 * by id); /runs/cancel and /threads/prune name theirs in the body. Each is treated as a thread of
 * unknown owner: only scope any reaches it. */
export const THREADLESS_RUN: ThreadFacts = { thread_id: "", exists: true };

export function isThreadlessRunJoin(operation: Operation): boolean {
  if (operation.route === "runs.join_stream") return operation.ids.thread_id === undefined;
  // Bulk routes that name their threads in the body (or none: every thread).
  return operation.route === "runs.cancel_many" || operation.route === "threads.prune";
}

/** The thread a request names: in its path, or the new thread's id in a threads.create body. */
export function threadIdOf(operation: Operation, body: unknown): string | undefined {
  return operation.ids.thread_id ?? (operation.route === "threads.create" ? stringField(body, "thread_id") : undefined);
}

/** Graphs a request names besides its assistants: the thread's graph for requests on a thread
 * that start no run, graph_id in assistant bodies, metadata.graph_id on a new thread. */
export function graphsNamedBy(operation: Operation, body: unknown, thread: ThreadFacts | undefined): string[] {
  const graphs: string[] = [];
  // A request on a thread that names no assistant (reads, state writes, v2 input.respond) is
  // about the thread's graph.
  if (thread?.graph_id && operation.assistant_ids.length === 0) graphs.push(thread.graph_id);
  if (["assistants.create", "assistants.search", "assistants.count"].includes(operation.route)) {
    const graph = stringField(body, "graph_id");
    if (graph) graphs.push(graph);
  }
  if (operation.route === "threads.create") {
    const metadata = objectField(body, "metadata");
    if (typeof metadata?.graph_id === "string") graphs.push(metadata.graph_id);
  }
  return graphs;
}

function callerTenant(policy: CompiledPolicy, request: AuthorizationRequest): string {
  let tenant: unknown;
  try {
    tenant = policy.tenant!(buildConditionContext({ ...request, facts: { graphs: [], assistants: [] }, request: { method: request.method, path: request.target.path, sourceAddress: request.sourceAddress, query: request.target.query }, now: new Date() }));
  } catch {
    tenant = undefined;
  }
  if (typeof tenant !== "string" || tenant === "") {
    throw new GatewayError(403, "PC_NO_TENANT", "Refused: the policy assigns every caller to a tenant (ownership.tenant), and this identity has none.", { identity: request.identity });
  }
  return tenant;
}

function createsThread(operation: Operation, body: unknown): boolean {
  if (operation.route === "threads.create") return true;
  // v2 run.start creates its thread (LangGraph passes if_not_exists: "create").
  if (operation.route === "protocol.command") return operation.actions.includes("runs:create");
  return operation.creates_run && objectField({ body }, "body")?.if_not_exists === "create";
}

function stringField(body: unknown, name: string): string | undefined {
  const value = objectField({ body }, "body")?.[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function objectField(container: unknown, name: string): Record<string, unknown> | undefined {
  if (typeof container !== "object" || container === null) return undefined;
  const value = (container as Record<string, unknown>)[name];
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
