// Policy decision cost: decide() on a generated 200-rule policy, per request kind, against the
// same decisions on a 5-rule policy (the five rules that decide them) and against the classify
// stage (classifyOperation alone, and the whole request-target → Operation path), all measured
// in the same run. Inputs come from the real classify stage; the facts (graphs, thread owner) are
// what gatherFacts would have looked up. Figures are printed; the only verdict is the line about
// the 50 µs p50 target for a 200-rule policy.
import { Document, isScalar, isSeq, parse as parseYaml, visit } from "yaml";
import { compilePolicy, type CompiledPolicy } from "../src/authorize/compile.js";
import { buildConditionContext, decide, type DecisionInput, type RequestFacts, type TraceEntry } from "../src/authorize/evaluate.js";
import { classifyOperation, matchRoute } from "../src/classify/index.js";
import type { Identity } from "../src/identify/identity.js";
import { parseRequestTarget } from "../src/receive/target.js";

const ITERATIONS = Number(process.env.BENCH_DECISIONS ?? "50000");
const WARMUP = Math.max(2000, Math.round(ITERATIONS / 10));
const ROUNDS = 10;
const COMPILES = Number(process.env.BENCH_COMPILES ?? "20");
const TARGET_P50_US = 50;

// --- The policy: 19 teams × 10 rules, plus 10 organisation-wide rules. ---

type Rule = Record<string, unknown> & { id: string; effect: "allow" | "deny" | "require-approval" };

const TEAMS = ["payments", "risk", "support", "search", "growth", "legal", "hr", "infra", "data", "ml", "sales", "marketing", "security", "finance", "ops", "mobile", "web", "billing", "research"];

function teamRules(team: string, index: number): Rule[] {
  const members = { groups: [`team-${team}`] };
  const graphs = [`${team}-agent`, `${team}-rag`];
  const even = index % 2 === 0;
  return [
    {
      id: `${team}-runs-own-threads`,
      description: `Members of ${team} run the team's graphs on their own threads.`,
      effect: "allow",
      subjects: members,
      actions: ["threads:create", "threads:read", "threads:update", "state:read", "runs:read", "runs:create", "runs:resume", "runs:cancel"],
      resources: { graphs },
    },
    {
      id: `${team}-leads-read-tenant`,
      effect: "allow",
      subjects: { groups: [`team-${team}-leads`], users: [`oidc:corp:${team}-director`] },
      actions: ["threads:read", "state:read", "runs:read"],
      resources: { graphs },
      scope: "tenant",
    },
    {
      id: `${team}-steering-needs-approval`,
      effect: "require-approval",
      subjects: members,
      actions: ["state:write", "runs:continue", "threads:copy"],
      resources: { graphs },
      approval: { approver_groups: [`team-${team}-leads`, "approvers"], approvals: even ? 1 : 2 },
    },
    {
      id: `${team}-memory`,
      effect: "allow",
      subjects: members,
      actions: ["store:read", "store:put", "store:delete"],
      resources: { namespaces: [["teams", team], ["users", "{subject}", team]] },
    },
    {
      id: `${team}-ingest-service-account`,
      description: "The team's ingestion job feeds the RAG graph from inside the network.",
      effect: "allow",
      subjects: { service_accounts: [`${team}-ingest`, `${team}-backfill`] },
      actions: ["threads:create", "threads:read", "runs:create", "runs:read"],
      resources: { graphs: [`${team}-rag`] },
      scope: "any",
      when: even ? 'request.source_ip.startsWith("10.")' : 'request.source_ip.startsWith("10.") && has(body.input)',
    },
    {
      id: `${team}-contractors-no-deletes`,
      effect: "deny",
      subjects: { groups: [`contractors-${team}`] },
      actions: ["threads:delete", "runs:delete", "store:delete", "assistants:*", "crons:*"],
    },
    {
      id: `${team}-oncall-cancels-anything`,
      effect: "allow",
      subjects: { users: [`oidc:corp:oncall-${team}-1`, `oidc:corp:oncall-${team}-2`], service_accounts: [`${team}-pager`] },
      actions: ["runs:cancel", "runs:read", "threads:read", "state:read"],
      resources: { graphs },
      scope: "any",
    },
    {
      id: `${team}-admins-manage-assistants`,
      effect: "allow",
      subjects: { groups: [`team-${team}-admins`] },
      actions: ["assistants:create", "assistants:update", "assistants:delete", "assistants:configure"],
      resources: { assistants: graphs },
      scope: "any",
    },
    {
      id: `${team}-off-network-writes-denied`,
      effect: "deny",
      subjects: members,
      actions: ["state:write", "store:put", "store:delete"],
      when: '!("vpn" in identity.groups) && !request.source_ip.startsWith("10.")',
    },
    even
      ? {
          id: `${team}-long-conversations-need-approval`,
          effect: "require-approval",
          subjects: members,
          actions: ["runs:create"],
          resources: { graphs: [`${team}-agent`] },
          when: "has(body.input) && has(body.input.messages) && size(body.input.messages) > 50",
          approval: { approver_groups: [`team-${team}-leads`] },
        }
      : {
          id: `${team}-crons-need-approval`,
          effect: "require-approval",
          subjects: members,
          actions: ["crons:create", "crons:update", "crons:delete"],
          resources: { graphs },
          approval: { approver_groups: [`team-${team}-leads`], expires_after_s: 7200 },
        },
  ];
}

const ORGANISATION_RULES: Rule[] = [
  { id: "suspended-accounts", effect: "deny", subjects: { groups: ["suspended"] }, actions: ["*"] },
  {
    id: "everyone-basics",
    description: "Anyone identified may look around and keep their own threads.",
    effect: "allow",
    subjects: "*",
    actions: ["server:read", "assistants:read", "threads:create", "threads:read", "state:read", "runs:read", "crons:read"],
  },
  { id: "everyone-own-memory", effect: "allow", subjects: "*", actions: ["store:*"], resources: { namespaces: [["users", "{subject}"]] } },
  { id: "thread-copies-need-approval", effect: "require-approval", subjects: "*", actions: ["threads:copy"], approval: { approver_groups: ["approvers"] } },
  { id: "auditors-read-everything", effect: "allow", subjects: { groups: ["auditors", "compliance-officers"] }, actions: ["assistants:read", "threads:read", "state:read", "runs:read", "crons:read", "store:read"], scope: "any" },
  { id: "support-reads-tenant", effect: "allow", subjects: { groups: ["support-agents"] }, actions: ["threads:read", "state:read", "runs:read"], scope: "tenant" },
  { id: "platform-admins", effect: "allow", subjects: { groups: ["platform-admins"] }, actions: ["assistants:*", "crons:*"], scope: "any" },
  {
    id: "ci-runs-from-ci-network",
    effect: "allow",
    subjects: { service_accounts: ["ci-runner", "eval-harness"] },
    actions: ["threads:*", "runs:*"],
    scope: "any",
    when: 'request.source_ip.startsWith("10.") && "ci" in identity.groups',
  },
  { id: "contractors-no-batch-runs", effect: "deny", subjects: { groups: ["contractors"] }, actions: ["runs:create"], when: 'request.route == "runs.batch"' },
  { id: "break-glass-state-writes", effect: "allow", subjects: { users: ["oidc:corp:sre-break-glass"] }, actions: ["state:write", "runs:continue"], scope: "any" },
];

const rules: Rule[] = [...TEAMS.flatMap(teamRules), ...ORGANISATION_RULES];
/** Written as a person would: block mappings, lists of names in flow style ([a, b]). */
function policyYaml(selected: Rule[]): string {
  const document = new Document({ version: 1, rules: selected }, { aliasDuplicateObjects: false });
  visit(document, {
    Seq(_, node) {
      if (node.items.every((item) => isScalar(item) || (isSeq(item) && item.items.every(isScalar)))) node.flow = true;
    },
  });
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}
const bigYaml = policyYaml(rules);
const bigPolicy = compilePolicy(bigYaml, "bench:200-rules.yaml");

// --- Decision inputs, through the real classify stage. ---

const THREAD = "0f4d5a8e-6a71-4c49-9b3e-2f1f1a7c9d21";
const PAYMENTS_AGENT_UUID = "6b1a3c2e-0d4f-4e8a-9c57-3a2b1d0e9f84";
const NOW = new Date("2025-06-02T09:30:00Z");

const alice: Identity = {
  subject: "oidc:corp:alice",
  kind: "oidc",
  groups: ["team-payments", "engineering", "vpn", "all-staff"],
  auth_method: "oidc-bearer",
  credential_id: "corp",
  issuer: "https://idp.corp.example",
  name: "Alice Martin",
  claims: { email: "alice@corp.example", org_id: "acme", department: "payments", roles: ["engineer", "reviewer"] },
};
const ingestAccount: Identity = { subject: "sa:payments-ingest", kind: "service-account", groups: ["ingest", "batch-jobs"], auth_method: "api-key", credential_id: "payments-ingest" };

interface Kind {
  label: string;
  identity: Identity;
  method: string;
  url: string;
  body: unknown;
  facts: RequestFacts;
  sourceAddress: string;
  expect: { effect: string; rule: string; conditioned?: boolean };
}

const ownThread = { thread_id: THREAD, exists: true, owner: alice.subject, tenant: "acme", graph_id: "payments-agent" };
const message = { role: "user", content: "Refund order 8841 and tell the customer when it lands." };

const KINDS: Kind[] = [
  {
    label: "run create, own thread",
    identity: alice,
    method: "POST",
    url: `/threads/${THREAD}/runs/stream`,
    body: { assistant_id: "payments-agent", input: { messages: [message] }, stream_mode: ["values", "messages-tuple"], config: { tags: ["web"] } },
    facts: { graphs: ["payments-agent"], assistants: [["payments-agent", PAYMENTS_AGENT_UUID]], thread: ownThread },
    sourceAddress: "10.12.4.31",
    expect: { effect: "allow", rule: "payments-runs-own-threads" },
  },
  {
    label: "state write (steering)",
    identity: alice,
    method: "POST",
    url: `/threads/${THREAD}/state`,
    body: { values: { messages: [{ role: "assistant", content: "Approved." }] }, as_node: "human_review" },
    facts: { graphs: ["payments-agent"], assistants: [], thread: ownThread },
    sourceAddress: "10.12.4.31",
    expect: { effect: "require-approval", rule: "payments-steering-needs-approval" },
  },
  {
    label: "thread search",
    identity: alice,
    method: "POST",
    url: "/threads/search?limit=10",
    body: { metadata: { graph_id: "payments-agent" }, status: "interrupted", limit: 10, offset: 0 },
    facts: { graphs: [], assistants: [] },
    sourceAddress: "10.12.4.31",
    expect: { effect: "allow", rule: "everyone-basics" },
  },
  {
    label: "store put",
    identity: alice,
    method: "PUT",
    url: "/store/items",
    body: { namespace: ["teams", "payments", "glossary"], key: "chargeback", value: { text: "A reversal initiated by the card issuer." } },
    facts: { graphs: [], assistants: [] },
    sourceAddress: "10.12.4.31",
    expect: { effect: "allow", rule: "payments-memory" },
  },
  {
    label: "no rule matches (default deny)",
    identity: alice,
    method: "POST",
    url: "/runs/wait",
    body: { assistant_id: "hr-agent", input: { messages: [message] } },
    facts: { graphs: ["hr-agent"], assistants: [["hr-agent"]] },
    sourceAddress: "10.12.4.31",
    expect: { effect: "deny", rule: "default:deny" },
  },
  {
    label: "decided by a CEL rule",
    identity: ingestAccount,
    method: "POST",
    url: `/threads/${THREAD}/runs`,
    body: { assistant_id: "payments-rag", input: { documents: [{ id: "kb-2231", text: "Chargebacks are answered within 7 days." }] } },
    facts: { graphs: ["payments-rag"], assistants: [["payments-rag"]], thread: { thread_id: THREAD, exists: true, owner: "sa:payments-ingest", tenant: "acme", graph_id: "payments-rag" } },
    sourceAddress: "10.20.0.7",
    expect: { effect: "allow", rule: "payments-ingest-service-account", conditioned: true },
  },
];

/** The request-target to an Operation, as the receive and classify stages do it. */
function targetToOperation(kind: Kind) {
  const target = parseRequestTarget(kind.url);
  return classifyOperation(matchRoute(kind.method, target), target, kind.body);
}

function inputFor(kind: Kind): DecisionInput {
  const target = parseRequestTarget(kind.url);
  return {
    identity: kind.identity,
    operation: classifyOperation(matchRoute(kind.method, target), target, kind.body),
    facts: kind.facts,
    request: { method: kind.method, path: target.path, sourceAddress: kind.sourceAddress, query: target.query },
    body: kind.body,
    now: NOW,
  };
}

const inputs = KINDS.map(inputFor);
const ruleById = new Map(rules.map((rule) => [rule.id, rule]));
for (const [i, kind] of KINDS.entries()) {
  const decision = decide(bigPolicy, inputs[i]!);
  if (decision.effect !== kind.expect.effect || decision.rule !== kind.expect.rule) {
    throw new Error(`${kind.label}: expected ${kind.expect.effect} by ${kind.expect.rule}, got ${decision.effect} by ${decision.rule}`);
  }
  if (kind.expect.conditioned && ruleById.get(decision.rule)?.when === undefined) throw new Error(`${kind.label}: the deciding rule has no CEL condition`);
}

// The baseline policy: the five rules that decide these requests, so every decision is the same.
const baselineRules = rules.filter((rule) => KINDS.some((kind) => kind.expect.rule === rule.id));
const smallYaml = policyYaml(baselineRules);
const smallPolicy = compilePolicy(smallYaml, "bench:5-rules.yaml");
for (const [i, kind] of KINDS.entries()) {
  const decision = decide(smallPolicy, inputs[i]!);
  if (decision.effect !== kind.expect.effect || decision.rule !== kind.expect.rule) throw new Error(`${kind.label}: the 5-rule policy decides differently (${decision.rule})`);
}

// --- Measurement. ---

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Figures {
  p50: number;
  p99: number;
  opsPerSecond: number;
}

let sink = 0;

/** One measured thing: per-call latencies from individually timed calls, throughput from untimed loops. */
class Series {
  private readonly samples: number[] = [];
  private calls = 0;
  private untimedMs = 0;

  constructor(private readonly run: () => unknown) {}

  warm(): void {
    for (let i = 0; i < WARMUP; i += 1) if (this.run()) sink += 1;
  }

  round(iterations: number): void {
    const run = this.run;
    for (let i = 0; i < iterations; i += 1) {
      const started = performance.now();
      const result = run();
      this.samples.push(performance.now() - started);
      if (result) sink += 1;
    }
    const started = performance.now();
    for (let i = 0; i < iterations; i += 1) if (run()) sink += 1;
    this.untimedMs += performance.now() - started;
    this.calls += iterations;
  }

  figures(): Figures {
    const sorted = Float64Array.from(this.samples).sort();
    return { p50: percentile(sorted, 50) * 1000, p99: percentile(sorted, 99) * 1000, opsPerSecond: (this.calls / this.untimedMs) * 1000 };
  }
}

/** Rounds interleave every series, so a slow spell on a shared machine lands on baseline and subject alike. */
function measureAll(series: Series[]): Figures[] {
  for (const one of series) one.warm();
  for (let round = 0; round < ROUNDS; round += 1) for (const one of series) one.round(Math.ceil(ITERATIONS / ROUNDS));
  return series.map((one) => one.figures());
}

const us = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} µs`.padStart(10);
const ops = (v: number) => `${Math.round(v).toLocaleString("en-US")}/s`.padStart(11);
const times = (v: number) => `${v.toFixed(1)}×`.padStart(6);

function candidates(policy: CompiledPolicy, input: DecisionInput): number {
  return input.operation.actions.reduce((sum, action) => sum + (policy.rulesByAction.get(action)?.length ?? 0), 0);
}

function conditionsEvaluated(policy: CompiledPolicy, input: DecisionInput): number {
  const trace: TraceEntry[] = [];
  decide(policy, input, trace);
  const conditioned = new Set([...policy.rulesByAction.values()].flat().filter((rule) => rule.condition).map((rule) => rule.rule.id));
  return trace.filter((entry) => conditioned.has(entry.rule) && (entry.result === "applies" || entry.result.startsWith("condition"))).length;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function compileTimes(text: string): { first: number; median: number } {
  const times: number[] = [];
  for (let i = 0; i < COMPILES; i += 1) {
    const started = performance.now();
    compilePolicy(text, "bench");
    times.push(performance.now() - started);
  }
  return { first: times[0]!, median: median(times.slice(1)) };
}

const counts = { allow: 0, deny: 0, "require-approval": 0 };
for (const rule of rules) counts[rule.effect] += 1;
const withWhen = rules.filter((rule) => rule.when !== undefined).length;

console.log(`Policy evaluation, decide() per request kind (node ${process.version}; ${ITERATIONS} timed decisions each after ${WARMUP} warm-up)`);
console.log(
  `Policy: ${rules.length} rules (${counts.allow} allow, ${counts.deny} deny, ${counts["require-approval"]} require-approval; ${withWhen} with a CEL 'when'), ${(Buffer.byteLength(bigYaml) / 1024).toFixed(1)} KiB of YAML`,
);
console.log(`Baselines, same run: the ${baselineRules.length} rules that decide these requests, alone (every decision identical); classifyOperation alone; the whole target→Operation path`);

// compilePolicy: the first call in this process pays for the JIT as a gateway's start does.
const bigCompile = compileTimes(bigYaml);
const smallCompile = compileTimes(smallYaml);
const yamlParse = median(
  Array.from({ length: COMPILES }, () => {
    const started = performance.now();
    parseYaml(bigYaml, { uniqueKeys: true });
    return performance.now() - started;
  }),
);
console.log(
  `\ncompilePolicy, ${rules.length} rules: first (cold) ${bigCompile.first.toFixed(1)} ms, median ${bigCompile.median.toFixed(2)} ms of ${COMPILES - 1} more (YAML parse alone ${yamlParse.toFixed(2)} ms); ${baselineRules.length} rules: median ${smallCompile.median.toFixed(2)} ms → ${(bigCompile.median / smallCompile.median).toFixed(1)}×`,
);

const SERIES_PER_KIND = 4;
const perKind = KINDS.map((kind, i) => {
  const input = inputs[i]!;
  const target = parseRequestTarget(kind.url);
  const match = matchRoute(kind.method, target);
  return [
    new Series(() => decide(bigPolicy, input).effect),
    new Series(() => decide(smallPolicy, input).effect),
    new Series(() => classifyOperation(match, target, kind.body).actions.length),
    new Series(() => targetToOperation(kind).actions.length),
  ];
});
// Where the time goes in a conditioned decision: the context built once per decision, one condition.
const celInput = inputs[KINDS.findIndex((kind) => kind.expect.conditioned)]!;
const celRule = bigPolicy.rulesByAction.get("runs:create")!.find((rule) => rule.rule.id === "payments-ingest-service-account")!;
const context = buildConditionContext(celInput);
const extras = [new Series(() => sink), new Series(() => buildConditionContext(celInput)), new Series(() => celRule.condition!(context))];
const measured = measureAll([...perKind.flat(), ...extras]);
const [floor, contextCost, conditionCost] = measured.slice(-3) as [Figures, Figures, Figures];

console.log(`Timer floor (an empty call through the same harness): p50 ${us(floor.p50).trim()}, p99 ${us(floor.p99).trim()}; figures below include it`);
const group = (title: string, width: number) => `| ${title.padStart(Math.floor((width + title.length) / 2)).padEnd(width)}`;
console.log(`\n${"".padEnd(99)}${group(`${rules.length}-rule policy`, 34)}${group(`${baselineRules.length}-rule policy`, 18)}${group("classifyOperation", 18)}${group("target→Operation", 17).trimEnd()}`);
console.log(`${"kind".padEnd(31)} ${"decision".padEnd(55)} rules  CEL | ${"p50".padStart(10)} ${"p99".padStart(10)} ${"ops/s".padStart(11)} ${`| ${"p50".padStart(10)} ${"ratio".padStart(6)} `.repeat(3).trimEnd()}`);
const results: { label: string; big: Figures }[] = [];
for (const [i, kind] of KINDS.entries()) {
  const input = inputs[i]!;
  const [big, small, classified, whole] = measured.slice(i * SERIES_PER_KIND, (i + 1) * SERIES_PER_KIND) as [Figures, Figures, Figures, Figures];
  results.push({ label: kind.label, big });
  const decision = decide(bigPolicy, input);
  console.log(
    `${kind.label.padEnd(31)} ${`${decision.effect} (${decision.rule})`.padEnd(55)} ${String(candidates(bigPolicy, input)).padStart(5)} ${String(conditionsEvaluated(bigPolicy, input)).padStart(4)} | ${us(big.p50)} ${us(big.p99)} ${ops(big.opsPerSecond)} | ${us(small.p50)} ${times(big.p50 / small.p50)} | ${us(classified.p50)} ${times(big.p50 / classified.p50)} | ${us(whole.p50).padStart(9)} ${times(big.p50 / whole.p50)}`,
  );
}
console.log(`  rules: candidate rules indexed under the request's actions; CEL: conditions evaluated in one decision; ratio: the ${rules.length}-rule`);
console.log(`  p50 over that baseline's p50; target→Operation: parseRequestTarget + matchRoute + classifyOperation. Samples interleaved over ${ROUNDS} rounds.`);
console.log(`\nBreakdown: buildConditionContext p50 ${us(contextCost.p50).trim()}; one CEL condition (${celRule.rule.when}) p50 ${us(conditionCost.p50).trim()}, p99 ${us(conditionCost.p99).trim()}`);

const worst = results.reduce((a, b) => (b.big.p50 > a.big.p50 ? b : a));
const met = worst.big.p50 < TARGET_P50_US;
console.log(
  met
    ? `\nTarget: p50 under ${TARGET_P50_US} µs per decision with a ${rules.length}-rule policy: MET for every kind (slowest p50 ${us(worst.big.p50).trim()}, ${worst.label}; ${(TARGET_P50_US / worst.big.p50).toFixed(1)}× headroom)`
    : `\nTarget: p50 under ${TARGET_P50_US} µs per decision with a ${rules.length}-rule policy: NOT MET (${results.filter((r) => r.big.p50 >= TARGET_P50_US).map((r) => `${r.label} p50 ${us(r.big.p50).trim()}`).join("; ")})`,
);
if (sink < 0) console.log(sink); // keeps the measured calls observable
