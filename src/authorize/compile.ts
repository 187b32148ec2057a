// Policy file → CompiledPolicy: YAML parsed, schema-validated, every CEL condition parsed and
// type-checked up front, rules indexed by action so a decision looks only at rules that can apply.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Environment } from "@marcbachmann/cel-js";
import { parse as parseYaml } from "yaml";
import { ACTIONS } from "../classify/index.js";
import { fieldName } from "../config/index.js";
import { PolicyError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import { expandActionPattern } from "./actions.js";
import { policySchema, type PolicyDocument, type PolicyRule, type PolicySubjects, type RateLimitRule } from "./policyFile.js";

/** What a CEL expression sees (docs/policy.md lists the fields). */
export interface ConditionContext {
  identity: Record<string, unknown>;
  request: Record<string, unknown>;
  body: unknown;
  resource: Record<string, unknown>;
  now: Date;
}

export type Condition = (context: ConditionContext) => unknown;

export interface CompiledRule {
  rule: PolicyRule;
  /** Position in the file: decisions name the first matching rule of the winning effect. */
  index: number;
  appliesTo(identity: Identity): boolean;
  condition?: Condition;
}

export interface CompiledRateLimit {
  limit: RateLimitRule;
  appliesTo(identity: Identity): boolean;
}

export interface CompiledPolicy {
  document: PolicyDocument;
  /** SHA-256 of the file's bytes, recorded with every reload. */
  sha256: string;
  source: string;
  rulesByAction: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Actions some rule of which depends on the thread's owner or graph: only those look it up. */
  threadFactsFor: ReadonlySet<string>;
  /** Actions some rule of which depends on the assistants' graphs. */
  assistantFactsFor: ReadonlySet<string>;
  tenant?: Condition;
  rateLimits: CompiledRateLimit[];
  webhookDestinations: URL[];
  removedConfigurableKeys: ReadonlySet<string>;
  /** The nodes runs of a graph pause before (run_body.pause_before). */
  pauseBefore(graphs: readonly string[]): string[];
  /** Whether any graph's runs pause before chosen nodes. */
  pausesAnyGraph: boolean;
  /** Callers who see responses unmasked (policy masking.clear_responses_for). */
  seesClearResponses(identity: Identity): boolean;
  masksRequests: boolean;
  /** What LangGraph receives of detected values (policy masking.requests). */
  requestMasking: "forward" | "mask" | "tokenize";
  /** Whose tokens a caller gets back as values (policy masking.restore_for): every token of the
   * thread ("all"), those the caller sent or all of a thread the caller owns ("own"), or none. */
  restoresFor(identity: Identity): "all" | "own" | "none";
}

// Conditions are untrusted-input-facing (body fields, claims), so their size is bounded at parse time.
const celEnvironment = new Environment({ limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 } })
  .registerVariable("identity", "map")
  .registerVariable("request", "map")
  .registerVariable("body", "dyn")
  .registerVariable("resource", "map")
  .registerVariable("now", "google.protobuf.Timestamp");

export async function loadPolicyFile(path: string): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new PolicyError(`cannot read policy file ${path}: ${(error as Error).message}`);
  }
  return compilePolicy(text, path);
}

export function compilePolicy(text: string, source: string): CompiledPolicy {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw new PolicyError(`${source} is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = policySchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${fieldName(issue.path)}${ruleIdAt(raw, issue.path)}: ${issue.message}`);
    throw new PolicyError(`${source} is not a valid policy:\n${problems.join("\n")}`);
  }
  const document = parsed.data;
  const problems: string[] = [];
  const seen = new Set<string>();
  const rules: CompiledRule[] = document.rules.map((rule, index) => {
    if (seen.has(rule.id)) problems.push(`  - rules[${index}].id: '${rule.id}' is used by an earlier rule; rule ids must be unique`);
    seen.add(rule.id);
    const condition = rule.when === undefined ? undefined : compileCondition(rule.when, `rules[${index}] (${rule.id}).when`, "bool", problems);
    return { rule, index, appliesTo: subjectMatcher(rule.subjects), ...(condition ? { condition } : {}) };
  });
  const tenant = document.ownership.tenant === undefined ? undefined : compileCondition(document.ownership.tenant, "ownership.tenant", "string", problems);
  for (const [index, limit] of document.rate_limits.entries()) {
    if (seen.has(limit.id)) problems.push(`  - rate_limits[${index}].id: '${limit.id}' is already used`);
    seen.add(limit.id);
  }
  if (problems.length > 0) throw new PolicyError(`${source} is not a valid policy:\n${problems.join("\n")}`);

  const rulesByAction = new Map<string, CompiledRule[]>(ACTIONS.map((action) => [action, []]));
  for (const compiled of rules) {
    const actions = new Set(compiled.rule.actions.flatMap((pattern) => expandActionPattern(pattern, compiled.rule.effect)));
    for (const action of actions) rulesByAction.get(action)!.push(compiled);
  }
  const threadFactsFor = new Set<string>();
  const assistantFactsFor = new Set<string>();
  for (const [action, applicable] of rulesByAction) {
    for (const { rule, condition } of applicable) {
      const namesGraphs = rule.resources?.graphs !== undefined || rule.resources?.assistants !== undefined;
      if (namesGraphs || condition) assistantFactsFor.add(action);
      if (namesGraphs || condition) threadFactsFor.add(action);
    }
  }
  // Pausing runs before nodes of chosen graphs needs every run's graph.
  if (document.run_body.pause_before.some((entry) => entry.graphs !== undefined)) for (const action of ["runs:create", "crons:create", "crons:update"]) assistantFactsFor.add(action);
  // Any ownership-limited allow rule makes every thread-scoped request look its thread up: even a
  // request that only needs approval must be on a thread the caller can see.
  if (rules.some(({ rule }) => rule.effect === "allow" && rule.scope !== "any")) for (const action of ACTIONS) threadFactsFor.add(action);
  return {
    document,
    sha256: createHash("sha256").update(text).digest("hex"),
    source,
    rulesByAction,
    threadFactsFor,
    assistantFactsFor,
    ...(tenant ? { tenant } : {}),
    rateLimits: document.rate_limits.map((limit) => ({ limit, appliesTo: subjectMatcher(limit.subjects) })),
    webhookDestinations: document.run_body.webhook_destinations.map((url) => new URL(url)),
    removedConfigurableKeys: new Set(document.run_body.remove_configurable_keys),
    pausesAnyGraph: document.run_body.pause_before.length > 0,
    pauseBefore: (graphs) => [...new Set(document.run_body.pause_before.filter((entry) => !entry.graphs || graphs.some((graph) => entry.graphs!.includes(graph))).flatMap((entry) => entry.nodes))],
    seesClearResponses: document.masking.clear_responses_for ? subjectMatcher(document.masking.clear_responses_for) : () => false,
    masksRequests: document.masking.requests !== "forward",
    requestMasking: document.masking.requests,
    restoresFor: restoreMatcher(document.masking.restore_for),
  };
}

function compileCondition(expression: string, where: string, expected: "bool" | "string", problems: string[]): Condition | undefined {
  try {
    const parsed = celEnvironment.parse(expression);
    const checked = parsed.check();
    if (!checked.valid) {
      problems.push(`  - ${where}: ${firstLine(checked.error?.message)}`);
      return undefined;
    }
    if (checked.type !== expected && checked.type !== "dyn") {
      problems.push(`  - ${where}: must evaluate to ${expected}, not ${checked.type}`);
      return undefined;
    }
    return (context) => parsed(context);
  } catch (error) {
    problems.push(`  - ${where}: ${firstLine((error as Error).message)}`);
    return undefined;
  }
}

function restoreMatcher(setting: PolicyDocument["masking"]["restore_for"]): (identity: Identity) => "all" | "own" | "none" {
  if (setting === "owner") return () => "own";
  if (setting === "nobody") return () => "none";
  const matches = subjectMatcher(setting.subjects);
  return (identity) => (matches(identity) ? "all" : setting.owner ? "own" : "none");
}

export function subjectMatcher(subjects: PolicySubjects): (identity: Identity) => boolean {
  if (subjects === "*") return () => true;
  const users = new Set(subjects.users ?? []);
  const groups = new Set(subjects.groups ?? []);
  const serviceAccounts = new Set((subjects.service_accounts ?? []).map((id) => `sa:${id}`));
  return (identity) =>
    users.has(identity.subject) ||
    (identity.kind === "service-account" && serviceAccounts.has(identity.subject)) ||
    identity.groups.some((group) => groups.has(group));
}

/** " (rule-id)" for a problem inside a rule, so the message names the rule, not only its position. */
function ruleIdAt(raw: unknown, path: PropertyKey[]): string {
  if (path[0] !== "rules" || typeof path[1] !== "number") return "";
  const rules = (raw as { rules?: unknown }).rules;
  const id = Array.isArray(rules) ? (rules[path[1]] as { id?: unknown } | undefined)?.id : undefined;
  return typeof id === "string" ? ` (${id.slice(0, 100)})` : "";
}

function firstLine(message: string | undefined): string {
  return (message ?? "invalid expression").split("\n")[0]!;
}
