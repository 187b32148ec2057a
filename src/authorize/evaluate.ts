// The decision: Identity × Operation × facts → allow, deny or require-approval, deny by default.
// Every verb the request needs is decided on its own; a matching deny wins, then
// require-approval, then allow. Scope (whose threads) limits allow rules only, so a deny or an
// approval requirement applies whoever owns the thread.
import type { Operation } from "../classify/index.js";
import type { Identity } from "../identify/index.js";
import type { CompiledPolicy, CompiledRule, ConditionContext } from "./compile.js";
import type { PolicyRule } from "./policyFile.js";

export type Scope = "own" | "tenant" | "any";

export interface ThreadFacts {
  thread_id: string;
  exists: boolean;
  /** LangGraph refused the id itself (its REST routes take UUIDs only; its v2 routes take any
   * string): such a thread can be neither looked up nor created through the gateway. */
  invalid?: boolean;
  /** LangGraph's thread status (idle, busy, interrupted, error), when it was looked up fresh. */
  status?: string;
  owner?: string;
  tenant?: string;
  graph_id?: string;
}

/** A cron, owned like a thread: stamped with its creator on create. */
export interface CronFacts {
  cron_id: string;
  /** Found upstream. A cron the gateway cannot find (or a server without crons) is not: its owner
   * cannot be proven, so it answers 404. */
  exists: boolean;
  owner?: string;
  tenant?: string;
}

/** What the gateway looked up about the request's resources before deciding. */
export interface RequestFacts {
  /** Graphs the request touches: the assistants' graphs for runs, the thread's graph otherwise. */
  graphs: string[];
  /** Assistants the request names, each in every form known (as given, and as a UUID). */
  assistants: string[][];
  /** The thread a thread-scoped request names. */
  thread?: ThreadFacts;
  /** The cron a cron-scoped request (PATCH, DELETE /runs/crons/{id}) names. */
  cron?: CronFacts;
  /** The caller's tenant, when ownership.tenant is configured. */
  callerTenant?: string;
  /** For a route naming a run on a thread: false when the run is not on that thread. */
  runOnThread?: boolean;
  /** For an egress call: the route it goes through. */
  egressRoute?: string;
  /** For a call on an MCP egress route: the message, and the tool a tools/call names. */
  mcpMessage?: { tool?: string };
}

export interface DecisionInput {
  identity: Identity;
  operation: Operation;
  facts: RequestFacts;
  request: { method: string; path: string; sourceAddress: string | null; query: URLSearchParams };
  body: unknown;
  now: Date;
}

export interface Decision {
  effect: "allow" | "deny" | "require-approval";
  /** The rule that decided, recorded with the request ("default:deny" when none applied). */
  rule: string;
  reason?: string;
  /** For allow: the widest scope granted, which filters thread searches and counts. */
  scope?: Scope;
  /** The thread exists but is not the caller's to reach: answered 404, as LangGraph does. */
  not_found?: boolean;
  /** For require-approval: who approves, from the rule. */
  approval?: NonNullable<PolicyRule["approval"]>;
  /** SHA-256 (first 16 hex) of the policy that decided. */
  policy?: string;
}

/** One rule's outcome for one action, for `portcullis policy explain`. */
export interface TraceEntry {
  action: string;
  rule: string;
  effect: PolicyRule["effect"];
  result: "applies" | "other subject" | "other resource" | "not the caller's thread" | "condition false" | `condition error: ${string}`;
}

const SCOPE_WIDTH: Record<Scope, number> = { own: 0, tenant: 1, any: 2 };

export function decide(policy: CompiledPolicy, input: DecisionInput, trace?: TraceEntry[]): Decision {
  const policyId = policy.sha256.slice(0, 16);
  let context: ConditionContext | undefined;
  const conditionContext = () => (context ??= buildConditionContext(input));
  let approval: Decision | undefined;
  let allow: Decision | undefined;
  let ownershipMiss: string | undefined;
  // An allow rule for one of the request's verbs reached the thread.
  let reachedByAllow = false;

  for (const action of input.operation.actions) {
    const outcome = decideAction(policy.rulesByAction.get(action) ?? [], action, input, conditionContext, trace);
    if (outcome.allow) reachedByAllow = true;
    if (outcome.deny) return { effect: "deny", rule: outcome.deny.rule.id, reason: `rule ${outcome.deny.rule.id} denies ${action}`, policy: policyId };
    if (outcome.approval && !approval) {
      approval = { effect: "require-approval", rule: outcome.approval.rule.id, reason: `${action} needs approval (rule ${outcome.approval.rule.id})`, approval: outcome.approval.rule.approval!, policy: policyId };
    }
    if (outcome.approval) continue;
    if (!outcome.allow) {
      if (outcome.ownershipMiss) ownershipMiss ??= action;
      else return { effect: "deny", rule: "default:deny", reason: `no rule allows ${action} for this caller`, policy: policyId };
      continue;
    }
    if (action === input.operation.action || !allow) allow = { effect: "allow", rule: outcome.allow.rule.id, scope: outcome.scope, policy: policyId };
  }
  const owned = input.facts.cron ? "cron" : "thread";
  if (ownershipMiss) {
    return { effect: "deny", rule: "ownership:not-owner", reason: `the ${owned} is not the caller's, and no rule grants ${ownershipMiss} on it`, not_found: true, policy: policyId };
  }
  // Approval is asked only for a thread (or cron) the caller can see: one an allow rule for the
  // request's verbs or for threads:read (crons:read) reaches. Otherwise it answers 404, as for any
  // other request.
  if (approval && (input.facts.thread?.exists || input.facts.cron?.exists) && !reachedByAllow) {
    const readAction = input.facts.cron ? "crons:read" : "threads:read";
    const read = decideAction(policy.rulesByAction.get(readAction) ?? [], readAction, input, conditionContext, trace);
    if (!read.allow) {
      return { effect: "deny", rule: "ownership:not-owner", reason: `the ${owned} is not the caller's, so no approval can be asked for it`, not_found: true, policy: policyId };
    }
  }
  return approval ?? allow ?? { effect: "deny", rule: "default:deny", reason: "the request needs no known action", policy: policyId };
}

interface ActionOutcome {
  deny?: CompiledRule;
  approval?: CompiledRule;
  allow?: CompiledRule;
  scope: Scope;
  ownershipMiss: boolean;
}

function decideAction(rules: readonly CompiledRule[], action: string, input: DecisionInput, conditionContext: () => ConditionContext, trace?: TraceEntry[]): ActionOutcome {
  const outcome: ActionOutcome = { scope: "own", ownershipMiss: false };
  const note = (compiled: CompiledRule, result: TraceEntry["result"]) => trace?.push({ action, rule: compiled.rule.id, effect: compiled.rule.effect, result });
  for (const compiled of rules) {
    const { rule } = compiled;
    // A deny decides the action; with a trace, the remaining rules are still explained.
    if (outcome.deny && !trace) break;
    if (rule.effect === "deny" ? outcome.deny : rule.effect === "require-approval" ? outcome.approval || outcome.deny : false) continue;
    if (!compiled.appliesTo(input.identity)) {
      note(compiled, "other subject");
      continue;
    }
    if (!resourcesMatch(rule, input)) {
      note(compiled, "other resource");
      continue;
    }
    if (rule.effect === "allow" && !reachesOwned(rule.scope, input)) {
      note(compiled, "not the caller's thread");
      outcome.ownershipMiss = true;
      continue;
    }
    if (compiled.condition) {
      const result = evaluateCondition(compiled, conditionContext());
      if (result !== true) {
        // A condition that fails to evaluate makes a deny or approval rule apply and an allow
        // rule not apply: an error never opens anything.
        note(compiled, result === false ? "condition false" : `condition error: ${result.error}`);
        if (result === false || rule.effect === "allow") continue;
      }
    }
    note(compiled, "applies");
    if (rule.effect === "deny") outcome.deny ??= compiled;
    else if (rule.effect === "require-approval") outcome.approval ??= compiled;
    else {
      outcome.allow ??= compiled;
      if (SCOPE_WIDTH[rule.scope] > SCOPE_WIDTH[outcome.scope]) {
        outcome.scope = rule.scope;
        outcome.allow = compiled;
      }
    }
  }
  return outcome;
}

function evaluateCondition(compiled: CompiledRule, context: ConditionContext): boolean | { error: string } {
  try {
    const result = compiled.condition!(context);
    // A dyn expression can yield anything; only a boolean is an answer.
    if (typeof result !== "boolean") return { error: `the condition gave ${result === null ? "null" : typeof result}, not a boolean` };
    return result;
  } catch (error) {
    return { error: (error as Error).message.split("\n")[0]!.slice(0, 200) };
  }
}

function resourcesMatch(rule: PolicyRule, input: DecisionInput): boolean {
  const resources = rule.resources;
  if (!resources) return true;
  const { facts, operation } = input;
  // An allow rule must cover every graph a request touches (a /runs/batch across graphs); a deny
  // or approval rule applies when any one of them is listed.
  const covers = rule.effect === "allow" ? "every" : "some";
  // A request about one thing whose graph is unknown (a thread never run): a deny or approval
  // rule naming graphs applies, so an unknown graph never escapes one.
  // An egress call without a run context is from an unknown graph too.
  const unknownGraph = facts.graphs.length === 0 && (facts.thread?.exists === true || facts.cron?.exists === true || operation.creates_run || operation.resource === "egress");
  if (resources.graphs) {
    if (facts.graphs.length === 0) return rule.effect !== "allow" && unknownGraph;
    if (!resources.graphs.includes("*") && !facts.graphs[covers]((graph) => resources.graphs!.includes(graph))) return false;
  }
  if (resources.assistants) {
    if (facts.assistants.length === 0) return false;
    if (!resources.assistants.includes("*") && !facts.assistants[covers]((forms) => forms.some((form) => resources.assistants!.includes(form)))) return false;
  }
  if (resources.egress_routes) {
    if (!facts.egressRoute) return false;
    if (!resources.egress_routes.includes("*") && !resources.egress_routes.includes(facts.egressRoute)) return false;
  }
  if (resources.tools) {
    const message = facts.mcpMessage;
    if (!message) return false;
    if (message.tool !== undefined && !resources.tools.includes("*") && !resources.tools.includes(message.tool)) return false;
  }
  if (resources.namespaces) {
    const namespace = operation.namespace;
    if (!namespace) return false;
    if (!resources.namespaces.some((pattern) => namespaceCovers(pattern, namespace, input.identity.subject))) return false;
  }
  return true;
}

/** The request's namespace lies under the pattern: every pattern level matches. */
function namespaceCovers(pattern: string[], namespace: string[], subject: string): boolean {
  if (namespace.length < pattern.length) return false;
  return pattern.every((level, index) => level === "*" || (level === "{subject}" ? storeLabel(subject) : level) === namespace[index]);
}

/** A subject as one store namespace level. LangGraph refuses ':' and '.' in levels (the
 * checkpoint store's path separators), so they are percent-encoded, reversibly:
 * "oidc:corp:alice" → "oidc%3Acorp%3Aalice". */
function storeLabel(subject: string): string {
  return encodeURIComponent(subject).replaceAll(".", "%2E");
}

/** The rule's scope reaches the thread and the cron the request names, each by its own owner
 * stamp. */
function reachesOwned(scope: Scope, input: DecisionInput): boolean {
  if (scope === "any") return true;
  return [input.facts.thread, input.facts.cron].every((owned) => {
    if (!owned?.exists) return true;
    if (scope === "tenant") return owned.tenant !== undefined && owned.tenant === input.facts.callerTenant;
    return owned.owner !== undefined && owned.owner === input.identity.subject;
  });
}

export function buildConditionContext(input: DecisionInput): ConditionContext {
  const { identity, operation, facts, request } = input;
  return {
    identity: {
      subject: identity.subject,
      kind: identity.kind,
      groups: identity.groups,
      auth_method: identity.auth_method,
      name: identity.name ?? null,
      issuer: identity.issuer ?? null,
      claims: identity.claims ?? {},
      tenant: facts.callerTenant ?? null,
    },
    request: {
      method: request.method,
      path: request.path,
      route: operation.route,
      action: operation.action,
      actions: operation.actions,
      risk: operation.risk,
      risk_reasons: operation.risk_reasons,
      source_ip: request.sourceAddress ?? "",
      query: Object.fromEntries(request.query),
    },
    body: input.body ?? null,
    resource: {
      graphs: facts.graphs,
      assistants: facts.assistants.map((forms) => forms[0]!),
      thread_id: facts.thread?.thread_id ?? null,
      thread_owner: facts.thread?.owner ?? null,
      thread_tenant: facts.thread?.tenant ?? null,
      namespace: operation.namespace ?? null,
    },
    now: input.now,
  };
}
