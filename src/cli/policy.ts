// `portcullis policy check|explain|test|schema`: the policy engine the gateway runs, offline.
// explain and test classify a request with the gateway's own classify stage and decide with the
// gateway's own evaluator; only the facts the gateway would look up (graphs, thread owner) are
// given by hand.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadPolicyFile, decideWithFacts, graphsNamedBy, isThreadlessRunJoin, refusalFor, resumesIfInterrupted, THREADLESS_RUN, threadIdOf, policyJsonSchema, DEFAULT_POLICY_FILE, type CompiledPolicy, type RequestFacts, type TraceEntry, type Decision } from "../authorize/index.js";
import { classifyOperation, matchRoute, type Operation } from "../classify/index.js";
import { fieldName } from "../config/index.js";
import { GatewayError, PolicyError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import { parseRequestTarget } from "../receive/index.js";

const identitySchema = z.strictObject({
  subject: z.string().min(1),
  kind: z.enum(["service-account", "oidc", "saml"]).optional(),
  groups: z.array(z.string()).default([]),
  name: z.string().optional(),
  claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).optional(),
});

const requestSchema = z.strictObject({
  method: z.string().min(1),
  path: z.string().min(1),
  body: z.unknown().optional(),
  source_ip: z.string().optional(),
});

const factsSchema = z
  .strictObject({
    graphs: z.array(z.string()).optional().describe("Graphs the request touches; default: the run body's assistant_id when it is a graph name"),
    thread: z
      .strictObject({
        exists: z.boolean().default(true),
        owner: z.string().optional(),
        tenant: z.string().optional(),
        graph_id: z.string().optional(),
        status: z.enum(["idle", "busy", "interrupted", "error"]).optional(),
      })
      .optional()
      .describe("The thread a thread-scoped request names; default: an existing thread owned by the caller"),
    tenant: z.string().optional().describe("The caller's tenant, when the policy sets ownership.tenant"),
  })
  .default({});

const testFileSchema = z.strictObject({
  policy: z.string().min(1).describe("Policy file, relative to this test file"),
  cases: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        identity: identitySchema,
        request: requestSchema,
        facts: factsSchema,
        expect: z.strictObject({
          effect: z.enum(["allow", "deny", "require-approval"]),
          rule: z.string().optional(),
          status: z.number().int().optional().describe("The status the gateway would answer with (200 when allowed, 202 when held for approval)"),
        }),
      }),
    )
    .min(1),
});

type IdentityInput = z.input<typeof identitySchema>;
type RequestInput = z.input<typeof requestSchema>;
type FactsInput = z.input<typeof factsSchema>;

interface OfflineDecision {
  operation?: Operation;
  facts?: RequestFacts;
  decision: Decision;
  /** What the gateway would answer: 200 when it forwards the request. */
  status: number;
  error?: string;
  trace: TraceEntry[];
}

/** Decides one request as the gateway would, with the given facts in place of lookups. */
export function decideOffline(policy: CompiledPolicy, identityInput: IdentityInput, requestInput: RequestInput, factsInput: FactsInput = {}): OfflineDecision {
  const identity = toIdentity(identitySchema.parse(identityInput));
  const request = requestSchema.parse(requestInput);
  const given = factsSchema.parse(factsInput);
  const trace: TraceEntry[] = [];
  let operation: Operation;
  try {
    const target = parseRequestTarget(request.path);
    operation = classifyOperation(matchRoute(request.method.toUpperCase(), target), target, request.body);
    const facts: RequestFacts = {
      graphs: [],
      assistants: operation.assistant_ids.map((id) => [id]),
      ...(given.tenant !== undefined ? { callerTenant: given.tenant } : {}),
    };
    // A path's thread exists and is the caller's unless told otherwise; a new thread's id in a
    // threads.create body names an existing thread only when facts.thread says so.
    const threadId = threadIdOf(operation, request.body);
    if (operation.ids.thread_id) facts.thread = { thread_id: operation.ids.thread_id, owner: identity.subject, exists: true, ...given.thread };
    else if (threadId && given.thread) facts.thread = { thread_id: threadId, ...given.thread };
    if (isThreadlessRunJoin(operation)) facts.thread = THREADLESS_RUN;
    if (facts.thread) resumesIfInterrupted(operation, facts.thread);
    facts.graphs = given.graphs ?? [...new Set([...defaultGraphs(operation), ...graphsNamedBy(operation, request.body, facts.thread)])];
    const decision = decideWithFacts(policy, { identity, operation, target, method: request.method.toUpperCase(), sourceAddress: request.source_ip ?? "127.0.0.1", body: request.body }, facts, trace);
    const refusal = refusalFor(decision, { operation, identity });
    // A request that needs approval is held (streams, /runs/wait) or answered 202 until approved.
    const status = decision.effect === "require-approval" ? 202 : (refusal?.status ?? 200);
    return { operation, facts, decision, status, ...(refusal ? { error: refusal.code } : {}), trace };
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    // Refused before policy (unknown route, bad path, bad body): as the gateway would.
    return { decision: { effect: "deny", rule: `gateway:${error.code}`, reason: error.message }, status: error.status, error: error.code, trace };
  }
}

export function policyCommand(): Command {
  const command = new Command("policy").description("Policy tools: validate, explain a decision, run policy test cases");
  command
    .command("check")
    .description("Validate a policy file (YAML, schema and every CEL condition)")
    .argument("[file]", "policy file (default: the built-in policies/default.yaml)")
    .action(async (file?: string) => {
      const policy = await loadPolicyFile(file ?? DEFAULT_POLICY_FILE);
      process.stdout.write(`${policy.source} is valid: ${policy.document.rules.length} rules, ${policy.document.rate_limits.length} rate limits, sha256 ${policy.sha256}\n`);
    });
  command
    .command("explain")
    .description("Show which rule decides a request, and why each rule did or did not apply")
    .option("--policy <file>", "policy file (default: the built-in policies/default.yaml)")
    .requiredOption("--subject <subject>", "caller's subject, e.g. oidc:corp:alice or sa:ci-bot")
    .option("--groups <groups>", "comma-separated groups", "")
    .option("--claims <json>", "identity claims as a JSON object")
    .requiredOption("--method <method>", "HTTP method")
    .requiredOption("--path <path>", "request path, e.g. /threads/<id>/runs/stream")
    .option("--body <json>", "request body (JSON)")
    .option("--graph <graphs>", "comma-separated graphs the request touches (default: the run's assistant_id)")
    .option("--thread-owner <subject>", "owner of the thread the request names (default: the caller)")
    .option("--no-thread", "the thread the request names does not exist")
    .option("--tenant <tenant>", "the caller's tenant")
    .addOption(new Option("--source-ip <address>").default("127.0.0.1"))
    .action(async (options: ExplainOptions) => {
      const policy = await loadPolicyFile(options.policy ?? DEFAULT_POLICY_FILE);
      const result = decideOffline(
        policy,
        { subject: options.subject, groups: list(options.groups), ...(options.claims ? { claims: parseJsonOption(options.claims, "--claims") as Record<string, string> } : {}) },
        { method: options.method, path: options.path, ...(options.body ? { body: parseJsonOption(options.body, "--body") } : {}), source_ip: options.sourceIp },
        {
          ...(options.graph ? { graphs: list(options.graph) } : {}),
          thread: options.thread === false ? { exists: false } : { ...(options.threadOwner ? { owner: options.threadOwner } : {}) },
          ...(options.tenant ? { tenant: options.tenant } : {}),
        },
      );
      process.stdout.write(formatExplanation(result));
    });
  command
    .command("test")
    .description("Run YAML policy test cases; exits 1 if any fails")
    .argument("<files...>", "test files")
    .action(async (files: string[]) => {
      let failed = 0;
      let passed = 0;
      for (const file of files) {
        const suite = await loadTestFile(file);
        const policy = await loadPolicyFile(path.resolve(path.dirname(file), suite.policy));
        for (const testCase of suite.cases) {
          const result = decideOffline(policy, testCase.identity, testCase.request, testCase.facts);
          const problems = [
            result.decision.effect !== testCase.expect.effect && `effect ${result.decision.effect}, expected ${testCase.expect.effect}`,
            testCase.expect.rule !== undefined && result.decision.rule !== testCase.expect.rule && `rule ${result.decision.rule}, expected ${testCase.expect.rule}`,
            testCase.expect.status !== undefined && result.status !== testCase.expect.status && `status ${result.status}, expected ${testCase.expect.status}`,
          ].filter(Boolean);
          if (problems.length === 0) {
            passed += 1;
            process.stdout.write(`ok    ${testCase.name}\n`);
          } else {
            failed += 1;
            process.stdout.write(`FAIL  ${testCase.name}: ${problems.join("; ")}\n`);
          }
        }
      }
      process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
      if (failed > 0) process.exitCode = 1;
    });
  command
    .command("schema")
    .description("Print the policy file's JSON Schema")
    .action(() => {
      process.stdout.write(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
    });
  return command;
}

interface ExplainOptions {
  policy?: string;
  subject: string;
  groups: string;
  claims?: string;
  method: string;
  path: string;
  body?: string;
  graph?: string;
  threadOwner?: string;
  thread?: boolean;
  tenant?: string;
  sourceIp: string;
}

function formatExplanation(result: OfflineDecision): string {
  const { decision, operation, facts } = result;
  const lines = [
    `decision: ${decision.effect} (rule ${decision.rule})`,
    ...(decision.reason ? [`reason:   ${decision.reason}`] : []),
    `answer:   ${result.status}${result.error ? ` ${result.error}` : decision.effect === "require-approval" ? " (held for approval: streams and /runs/wait are held open, other requests answered 202)" : " (forwarded)"}`,
  ];
  if (decision.scope) lines.push(`scope:    ${decision.scope}`);
  if (operation) {
    lines.push(
      `operation: ${operation.route}, actions ${operation.actions.join(", ")}, risk ${operation.risk}${operation.risk_reasons.length ? ` (${operation.risk_reasons.join(", ")})` : ""}`,
    );
  }
  if (facts) {
    const thread = facts.thread ? (facts.thread.exists ? `thread ${facts.thread.thread_id} owned by ${facts.thread.owner ?? "nobody"}` : `thread ${facts.thread.thread_id} does not exist`) : "no thread";
    lines.push(`facts:    graphs [${facts.graphs.join(", ")}], ${thread}${facts.callerTenant ? `, tenant ${facts.callerTenant}` : ""}`);
  }
  if (result.trace.length > 0) {
    lines.push("rules considered:");
    for (const entry of result.trace) lines.push(`  ${entry.action.padEnd(20)} ${entry.rule.padEnd(36)} ${entry.effect.padEnd(16)} ${entry.result}`);
  } else if (operation) {
    lines.push("rules considered: none names these actions");
  }
  return `${lines.join("\n")}\n`;
}

async function loadTestFile(file: string): Promise<z.output<typeof testFileSchema>> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, "utf8"), { uniqueKeys: true });
  } catch (error) {
    throw new PolicyError(`cannot read policy test file ${file}: ${(error as Error).message}`);
  }
  const parsed = testFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PolicyError(`${file} is not a valid policy test file:\n${parsed.error.issues.map((issue) => `  - ${fieldName(issue.path)}: ${issue.message}`).join("\n")}`);
  }
  return parsed.data;
}

function toIdentity(input: z.output<typeof identitySchema>): Identity {
  const kind = input.kind ?? (input.subject.startsWith("sa:") ? "service-account" : input.subject.startsWith("saml:") ? "saml" : "oidc");
  return {
    subject: input.subject,
    kind,
    groups: input.groups,
    auth_method: kind === "service-account" ? "api-key" : "oidc-bearer",
    credential_id: "offline",
    ...(input.name ? { name: input.name } : {}),
    ...(input.claims ? { claims: input.claims } : {}),
  };
}

// A run body's assistant_id given as a graph name names that graph.
function defaultGraphs(operation: Operation): string[] {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  return [...new Set(operation.assistant_ids.filter((id) => !uuid.test(id)))];
}

function parseJsonOption(text: string, option: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new PolicyError(`${option} is not valid JSON: ${(error as Error).message}`);
  }
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

