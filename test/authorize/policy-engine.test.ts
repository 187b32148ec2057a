// The policy engine as a specification: compiling a policy file, deciding a request (deny by
// default; deny, then require-approval, then allow), the approval-bypass requests of
// langgraph-api.md §8 under the built-in default policy, the forwarded body's rewrites, and
// per-identity rate limits. Pure modules: no gateway, no upstream.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stringify as toYaml } from "yaml";
import { compilePolicy, loadPolicyFile, type CompiledPolicy } from "../../src/authorize/compile.js";
import { decide, type Decision, type RequestFacts, type TraceEntry } from "../../src/authorize/evaluate.js";
import { decideWithFacts, refusalFor } from "../../src/authorize/index.js";
import { DEFAULT_POLICY_FILE } from "../../src/authorize/policySource.js";
import { RateLimiter } from "../../src/authorize/rateLimit.js";
import { rewriteRequestBody } from "../../src/authorize/rewrite.js";
import { classifyOperation, matchRoute, type Operation } from "../../src/classify/index.js";
import { decideOffline } from "../../src/cli/policy.js";
import { GatewayError, PolicyError } from "../../src/errors.js";
import type { Identity } from "../../src/identify/identity.js";
import { parseRequestTarget, type RequestTarget } from "../../src/receive/target.js";

const TID = "01a200ec-78e1-727d-931b-2889c2c332a9";
const ASSISTANT_UUID = "fe096781-5601-53d2-b2f6-0d3403f7e9ca";

function person(subject: string, groups: string[] = [], claims?: Identity["claims"]): Identity {
  return { subject, kind: "oidc", groups, auth_method: "oidc-bearer", credential_id: "test", ...(claims ? { claims } : {}) };
}

function serviceAccount(id: string, groups: string[] = []): Identity {
  return { subject: `sa:${id}`, kind: "service-account", groups, auth_method: "api-key", credential_id: `key-${id}` };
}

const ALICE = person("oidc:corp:alice", ["staff"]);
const BOB = person("oidc:corp:bob", ["staff"]);

/** A policy from its rules (and any other top-level sections), through the YAML compiler. */
function policyOf(rules: object[], rest: object = {}): CompiledPolicy {
  return compilePolicy(toYaml({ version: 1, rules, ...rest }), "inline.yaml");
}

function classify(method: string, url: string, body?: unknown): { operation: Operation; target: RequestTarget } {
  const target = parseRequestTarget(url);
  return { operation: classifyOperation(matchRoute(method, target), target, body), target };
}

interface Ask {
  body?: unknown;
  facts?: Partial<RequestFacts>;
  sourceAddress?: string;
  trace?: TraceEntry[];
}

/** Classifies the request as the gateway does and decides it with the given facts. */
function decideFor(policy: CompiledPolicy, identity: Identity, method: string, url: string, ask: Ask = {}): Decision {
  const { operation, target } = classify(method, url, ask.body);
  return decide(
    policy,
    {
      identity,
      operation,
      facts: { graphs: [], assistants: [], ...ask.facts },
      request: { method, path: target.path, sourceAddress: ask.sourceAddress ?? "127.0.0.1", query: target.query },
      body: ask.body,
      now: new Date(),
    },
    ask.trace,
  );
}

function ownThread(owner: Identity, extra: Partial<NonNullable<RequestFacts["thread"]>> = {}): Partial<RequestFacts> {
  return { thread: { thread_id: TID, exists: true, owner: owner.subject, ...extra } };
}

function policyError(text: string): PolicyError {
  try {
    compilePolicy(text, "team-policy.yaml");
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the policy to be refused");
}

/** A policy file's text, one list of "key: value" lines per rule. */
function policyText(...rules: string[][]): string {
  const lines = rules.flatMap((fields) => fields.map((field, index) => `${index === 0 ? "  - " : "    "}${field}`));
  return ["version: 1", "rules:", ...lines, ""].join("\n");
}

describe("compiling a policy file", () => {
  test("refuses text that is not YAML, naming the file and the line", () => {
    const error = policyError("version: 1\nrules: [\n");
    assert.match(error.message, /team-policy\.yaml is not valid YAML/);
    assert.match(error.message, /line \d+/);
  });

  test("refuses duplicate YAML keys instead of letting the last one win", () => {
    const error = policyError("version: 1\nrules: []\nrules:\n  - id: sneaky\n    effect: allow\n    subjects: '*'\n    actions: ['*']\n");
    assert.match(error.message, /not valid YAML/);
    assert.match(error.message, /keys must be unique/i);
  });

  test("refuses an unknown action, naming the rule, its position and the bad value", () => {
    const error = policyError(policyText(["id: runs-fly", "effect: allow", "subjects: '*'", "actions: [runs:read, runs:fly]"]));
    assert.match(error.message, /rules\[0\]\.actions\[1\] \(runs-fly\): unknown action 'runs:fly'/);
  });

  test("refuses a resource wildcard for a resource that does not exist", () => {
    const error = policyError(policyText(["id: planes", "effect: allow", "subjects: '*'", "actions: ['planes:*']"]));
    assert.match(error.message, /rules\[0\]\.actions\[0\] \([a-z0-9-]+\): unknown action/);
  });

  test("refuses two rules with the same id, naming the id", () => {
    const error = policyError(
      policyText(["id: readers", "effect: allow", "subjects: '*'", "actions: [runs:read]"], ["id: readers", "effect: deny", "subjects: '*'", "actions: [runs:read]"]),
    );
    assert.match(error.message, /rules\[1\]\.id: 'readers' is used by an earlier rule/);
  });

  test("refuses a CEL condition that does not parse, naming the rule", () => {
    const error = policyError(policyText(["id: half-written", "effect: allow", "subjects: '*'", "actions: [runs:read]", "when: 'identity.subject == '"]));
    assert.match(error.message, /rules\[0\] \(half-written\)\.when: /);
    assert.match(error.message, /unexpected token/i);
  });

  test("refuses a CEL condition that does not type-check, naming the rule and the mismatch", () => {
    const error = policyError(policyText(["id: adds-strings", "effect: allow", "subjects: '*'", "actions: [runs:read]", `when: '1 + "a" == 2'`]));
    assert.match(error.message, /rules\[0\] \(adds-strings\)\.when: no such overload: int \+ string/);
  });

  test("refuses a CEL condition that is not a boolean", () => {
    const error = policyError(policyText(["id: counts", "effect: allow", "subjects: '*'", "actions: [runs:read]", "when: '1 + 2'"]));
    assert.match(error.message, /rules\[0\] \(counts\)\.when: must evaluate to bool, not int/);
  });

  test("refuses a CEL condition that reads a variable the engine does not provide", () => {
    const error = policyError(policyText(["id: wrong-variable", "effect: allow", "subjects: '*'", "actions: [runs:read]", `when: 'user.name == "alice"'`]));
    assert.match(error.message, /rules\[0\] \(wrong-variable\)\.when: .*user/);
  });

  test("lists every problem at once, not only the first", () => {
    const error = policyError(
      policyText(["id: one", "effect: allow", "subjects: '*'", "actions: [runs:read]", "when: '1 + 2'"], ["id: one", "effect: allow", "subjects: '*'", "actions: [runs:read]"]),
    );
    assert.match(error.message, /\(one\)\.when: must evaluate to bool/);
    assert.match(error.message, /rules\[1\]\.id: 'one' is used by an earlier rule/);
  });

  test("refuses a require-approval rule without an approval section", () => {
    const error = policyError(policyText(["id: steering", "effect: require-approval", "subjects: '*'", "actions: [state:write]"]));
    assert.match(error.message, /rules\[0\]\.approval \([a-z0-9-]+\): a require-approval rule needs 'approval'/);
  });

  test("refuses a version other than 1, and a file without a version", () => {
    assert.match(policyError("version: 2\nrules: []\n").message, /version: /);
    assert.match(policyError("rules: []\n").message, /version: /);
  });

  test("refuses a rule that names nobody", () => {
    const error = policyError(policyText(["id: nobody", "effect: allow", "subjects: {}", "actions: [runs:read]"]));
    assert.match(error.message, /rules\[0\]\.subjects/);
  });

  test("refuses a policy file that cannot be read, naming the path", async () => {
    await assert.rejects(loadPolicyFile("/nonexistent/policy.yaml"), (error: unknown) => {
      assert.ok(error instanceof PolicyError);
      assert.match(error.message, /cannot read policy file \/nonexistent\/policy\.yaml/);
      return true;
    });
  });

  for (const file of [DEFAULT_POLICY_FILE, "test/fixtures/policies/team.yaml", "test/fixtures/policies/allow-all.yaml"]) {
    test(`compiles ${file.replace(/^.*\/(policies|fixtures)\//, "$1/")}`, async () => {
      const policy = await loadPolicyFile(file);
      assert.ok(policy.document.rules.length > 0);
      assert.match(policy.sha256, /^[0-9a-f]{64}$/);
    });
  }

  test("fills in the safe defaults: scope own, no webhooks, identity keys removed from configurable", () => {
    const policy = policyOf([{ id: "reads", effect: "allow", subjects: "*", actions: ["runs:read"] }]);
    assert.equal(policy.document.rules[0]!.scope, "own");
    assert.deepEqual(policy.webhookDestinations, []);
    assert.deepEqual([...policy.removedConfigurableKeys].sort(), ["langgraph_auth_permissions", "langgraph_auth_user", "langgraph_auth_user_id"]);
  });
});

describe("deciding a request", () => {
  test("denies by default, naming default:deny and the action no rule allows", () => {
    const policy = policyOf([{ id: "bob-reads", effect: "allow", subjects: { users: [BOB.subject] }, actions: ["threads:read"] }]);
    const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: ownThread(ALICE) });
    assert.equal(decision.effect, "deny");
    assert.equal(decision.rule, "default:deny");
    assert.match(decision.reason ?? "", /threads:read/);
    assert.equal(decision.not_found, undefined);
  });

  test("an empty policy denies everything, even server info", () => {
    const decision = decideFor(policyOf([]), ALICE, "GET", "/info");
    assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
  });

  describe("deny beats require-approval beats allow, wherever the rules sit in the file", () => {
    const rules = [
      { id: "everyone-writes-state", effect: "allow", subjects: "*", actions: ["state:write"] },
      { id: "interns-never-write-state", effect: "deny", subjects: { groups: ["interns"] }, actions: ["state:write"] },
      { id: "state-writes-need-approval", effect: "require-approval", subjects: "*", actions: ["state:write"], approval: { approver_groups: ["approvers"] } },
    ];
    const body = { values: { decision: "yes" }, as_node: "approve" };

    test("require-approval wins over allow, carrying the rule's approvers", () => {
      const decision = decideFor(policyOf(rules), ALICE, "POST", `/threads/${TID}/state`, { body, facts: ownThread(ALICE) });
      assert.equal(decision.effect, "require-approval");
      assert.equal(decision.rule, "state-writes-need-approval");
      assert.deepEqual(decision.approval, { approver_groups: ["approvers"], approvals: 1, expires_after_s: 3600, justification: "optional", max_window_s: 3600, break_glass_groups: [] });
    });

    test("deny wins over require-approval and allow", () => {
      const intern = person("oidc:corp:ian", ["interns"]);
      for (const order of [rules, [...rules].reverse()]) {
        const decision = decideFor(policyOf(order), intern, "POST", `/threads/${TID}/state`, { body, facts: ownThread(intern) });
        assert.deepEqual([decision.effect, decision.rule], ["deny", "interns-never-write-state"]);
      }
    });

    test("allow applies when nothing stronger matches", () => {
      const decision = decideFor(policyOf([rules[0]!]), ALICE, "POST", `/threads/${TID}/state`, { body, facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule, decision.scope], ["allow", "everyone-writes-state", "own"]);
    });

    test("the first matching rule of the winning effect is the one named", () => {
      const twoApprovals = [...rules, { id: "second-approval-rule", effect: "require-approval", subjects: "*", actions: ["state:*"], approval: { approver_groups: ["admins"] } }];
      const decision = decideFor(policyOf(twoApprovals), ALICE, "POST", `/threads/${TID}/state`, { body, facts: ownThread(ALICE) });
      assert.equal(decision.rule, "state-writes-need-approval");
    });

    test("refusalFor leaves a require-approval decision to the approve stage, and answers 403 PC_FORBIDDEN naming the deny rule", () => {
      const intern = person("oidc:corp:ian", ["interns"]);
      const { operation } = classify("POST", `/threads/${TID}/state`, body);
      const decision = decideFor(policyOf(rules), ALICE, "POST", `/threads/${TID}/state`, { body, facts: ownThread(ALICE) });
      assert.equal(decision.effect, "require-approval");
      assert.equal(refusalFor(decision, { operation, identity: ALICE }), undefined);
      const denied = refusalFor(decideFor(policyOf(rules), intern, "POST", `/threads/${TID}/state`, { body, facts: ownThread(intern) }), { operation, identity: intern });
      assert.equal(denied?.status, 403);
      assert.equal(denied?.code, "PC_FORBIDDEN");
      assert.match(denied?.message ?? "", /interns-never-write-state/);
    });
  });

  describe("a request needing two verbs is allowed only if both are", () => {
    const url = `/threads/${TID}/runs/wait`;
    const body = { assistant_id: "hitl", command: { goto: "execute" } };

    test("a run with command.goto needs runs:create and state:write", () => {
      assert.deepEqual(classify("POST", url, body).operation.actions, ["runs:create", "state:write"]);
    });

    test("runs:create alone is not enough", () => {
      const policy = policyOf([{ id: "runs", effect: "allow", subjects: "*", actions: ["runs:create"] }]);
      const decision = decideFor(policy, ALICE, "POST", url, { body, facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
      assert.match(decision.reason ?? "", /state:write/);
    });

    test("state:write alone is not enough", () => {
      const policy = policyOf([{ id: "state", effect: "allow", subjects: "*", actions: ["state:write"] }]);
      const decision = decideFor(policy, ALICE, "POST", url, { body, facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
      assert.match(decision.reason ?? "", /runs:create/);
    });

    test("both allowed: allowed, naming the rule that allowed the riskiest verb", () => {
      const policy = policyOf([
        { id: "runs", effect: "allow", subjects: "*", actions: ["runs:create"] },
        { id: "state", effect: "allow", subjects: "*", actions: ["state:write"] },
      ]);
      const decision = decideFor(policy, ALICE, "POST", url, { body, facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule], ["allow", "state"]);
    });

    test("one verb needing approval and the other not allowed at all is denied, not held", () => {
      const policy = policyOf([{ id: "state-approval", effect: "require-approval", subjects: "*", actions: ["state:write"], approval: { approver_groups: ["approvers"] } }]);
      const decision = decideFor(policy, ALICE, "POST", url, { body, facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
    });
  });

  describe("subjects", () => {
    const policy = policyOf([
      { id: "alice-reads-threads", effect: "allow", subjects: { users: [ALICE.subject] }, actions: ["threads:read"] },
      { id: "analysts-read-state", effect: "allow", subjects: { groups: ["analysts"] }, actions: ["state:read"] },
      { id: "nightly-reads-runs", effect: "allow", subjects: { service_accounts: ["nightly"] }, actions: ["runs:read"] },
      { id: "everyone-reads-info", effect: "allow", subjects: "*", actions: ["server:read"] },
    ]);

    test("users: the rule applies to that exact subject only", () => {
      assert.equal(decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: ownThread(ALICE) }).effect, "allow");
      assert.equal(decideFor(policy, BOB, "GET", `/threads/${TID}`, { facts: ownThread(BOB) }).effect, "deny");
      assert.equal(decideFor(policy, person("oidc:corp:alice2"), "GET", `/threads/${TID}`, { facts: ownThread(person("oidc:corp:alice2")) }).effect, "deny");
    });

    test("groups: the rule applies to every member of a listed group", () => {
      const analyst = person("saml:okta:dana@example.com", ["staff", "analysts"]);
      assert.equal(decideFor(policy, analyst, "GET", `/threads/${TID}/state`, { facts: ownThread(analyst) }).rule, "analysts-read-state");
      assert.equal(decideFor(policy, ALICE, "GET", `/threads/${TID}/state`, { facts: ownThread(ALICE) }).effect, "deny");
    });

    test("service_accounts: the rule applies to the service account sa:<id>", () => {
      const nightly = serviceAccount("nightly");
      const decision = decideFor(policy, nightly, "GET", `/threads/${TID}/runs`, { facts: ownThread(nightly) });
      assert.deepEqual([decision.effect, decision.rule], ["allow", "nightly-reads-runs"]);
      assert.equal(decideFor(policy, serviceAccount("ci-bot"), "GET", `/threads/${TID}/runs`, { facts: ownThread(serviceAccount("ci-bot")) }).effect, "deny");
    });

    test("service_accounts: a person whose subject merely reads sa:<id> is not that service account", () => {
      const impostor = person("sa:nightly");
      assert.equal(decideFor(policy, impostor, "GET", `/threads/${TID}/runs`, { facts: ownThread(impostor) }).effect, "deny");
    });

    test('"*": the rule applies to every identified caller, people and service accounts alike', () => {
      for (const who of [ALICE, serviceAccount("ci-bot"), person("saml:okta:eve@example.com")]) {
        assert.deepEqual([decideFor(policy, who, "GET", "/info").effect, decideFor(policy, who, "GET", "/info").rule], ["allow", "everyone-reads-info"]);
      }
    });
  });

  describe("resources", () => {
    test("graphs: a run is allowed only on the listed graphs, and every graph it touches must be listed", () => {
      const policy = policyOf([{ id: "agent-runs", effect: "allow", subjects: "*", actions: ["runs:create"], resources: { graphs: ["agent", "tools"] } }]);
      const run = (graphs: string[]) => decideFor(policy, ALICE, "POST", "/runs/wait", { body: { assistant_id: graphs[0], input: {} }, facts: { graphs } });
      assert.equal(run(["agent"]).effect, "allow");
      assert.equal(run(["slow"]).effect, "deny");
      assert.equal(run(["agent", "slow"]).effect, "deny");
      assert.equal(run(["agent", "tools"]).effect, "allow");
    });

    test('graphs "*": any graph, but a request must touch one', () => {
      const policy = policyOf([{ id: "any-graph", effect: "allow", subjects: "*", actions: ["assistants:read"], resources: { graphs: ["*"] } }]);
      assert.equal(decideFor(policy, ALICE, "POST", "/assistants/search", { body: { graph_id: "x" }, facts: { graphs: ["x"] } }).effect, "allow");
      assert.equal(decideFor(policy, ALICE, "POST", "/assistants/search", { body: {} }).effect, "deny");
    });

    test("a search without a graph matches only rules without a graphs list", () => {
      const policy = policyOf([
        { id: "agent-assistants", effect: "allow", subjects: "*", actions: ["assistants:read"], resources: { graphs: ["agent"] } },
        { id: "hide-hitl", effect: "deny", subjects: "*", actions: ["assistants:read"], resources: { graphs: ["hitl"] } },
      ]);
      const trace: TraceEntry[] = [];
      const unscoped = decideFor(policy, ALICE, "POST", "/assistants/search", { body: {}, trace });
      assert.deepEqual([unscoped.effect, unscoped.rule], ["deny", "default:deny"]);
      assert.deepEqual(
        trace.map((entry) => [entry.rule, entry.result]),
        [
          ["agent-assistants", "other resource"],
          ["hide-hitl", "other resource"],
        ],
      );
      assert.equal(decideFor(policy, ALICE, "POST", "/assistants/search", { body: { graph_id: "agent" }, facts: { graphs: ["agent"] } }).effect, "allow");

      const withUnscopedRule = policyOf([
        { id: "agent-assistants", effect: "allow", subjects: "*", actions: ["assistants:read"], resources: { graphs: ["agent"] } },
        { id: "everyone-searches", effect: "allow", subjects: "*", actions: ["assistants:read"] },
      ]);
      assert.equal(decideFor(withUnscopedRule, ALICE, "POST", "/assistants/search", { body: {} }).rule, "everyone-searches");
    });

    test("assistants: matches an assistant named in any of its known forms (graph name or UUID)", () => {
      const policy = policyOf([{ id: "support-assistant", effect: "allow", subjects: "*", actions: ["runs:create"], resources: { assistants: [ASSISTANT_UUID] } }]);
      const body = { assistant_id: "support", input: {} };
      assert.equal(decideFor(policy, ALICE, "POST", "/runs/wait", { body, facts: { graphs: ["support"], assistants: [["support", ASSISTANT_UUID]] } }).effect, "allow");
      assert.equal(decideFor(policy, ALICE, "POST", "/runs/wait", { body, facts: { graphs: ["other"], assistants: [["other"]] } }).effect, "deny");
      assert.equal(decideFor(policy, ALICE, "POST", "/runs/wait", { body, facts: { graphs: [], assistants: [] } }).effect, "deny");
    });

    describe("namespaces", () => {
      const policy = policyOf([
        { id: "own-memory", effect: "allow", subjects: "*", actions: ["store:*"], resources: { namespaces: [["users", "{subject}"]] } },
        { id: "team-docs", effect: "allow", subjects: "*", actions: ["store:read"], resources: { namespaces: [["teams", "*", "docs"]] } },
      ]);
      const put = (who: Identity, namespace: string[]) => decideFor(policy, who, "PUT", "/store/items", { body: { namespace, key: "k", value: {} } });
      const search = (who: Identity, prefix: string[]) => decideFor(policy, who, "POST", "/store/items/search", { body: { namespace_prefix: prefix } });

      test('"{subject}" stands for the caller\'s subject as one level, \':\' and \'.\' percent-encoded as LangGraph requires', () => {
        const alicesLevel = "oidc%3Acorp%3Aalice";
        const decision = put(ALICE, ["users", alicesLevel]);
        assert.deepEqual([decision.effect, decision.rule], ["allow", "own-memory"]);
        assert.equal(put(ALICE, ["users", alicesLevel, "notes"]).effect, "allow");
        assert.equal(put(serviceAccount("ci.bot"), ["users", "sa%3Aci%2Ebot"]).effect, "allow");
      });

      test('"{subject}" reaches no other caller\'s namespace, and is no literal level', () => {
        assert.equal(put(BOB, ["users", "oidc%3Acorp%3Aalice"]).effect, "deny");
        assert.equal(put(ALICE, ["users", "oidc%3Acorp%3Aalice2"]).effect, "deny");
        assert.equal(put(ALICE, ["users", "{subject}"]).effect, "deny");
      });

      test('"*" matches any one level, and a namespace must reach every level of the pattern', () => {
        assert.equal(search(ALICE, ["teams", "red", "docs"]).effect, "allow");
        assert.equal(search(ALICE, ["teams", "blue", "docs", "2024"]).effect, "allow");
        assert.equal(search(ALICE, ["teams", "red", "secrets"]).effect, "deny");
        assert.equal(search(ALICE, ["teams", "red"]).effect, "deny");
      });

      test("a search over every namespace matches no namespaced rule", () => {
        assert.equal(search(ALICE, []).effect, "deny");
        assert.equal(decideFor(policy, ALICE, "POST", "/store/namespaces", { body: {} }).effect, "deny");
      });

      test("a namespaced rule does not apply to a request without a namespace", () => {
        assert.equal(put(ALICE, ["teams", "red", "docs"]).effect, "deny");
      });
    });
  });

  describe("scope: whose threads an allow rule reaches", () => {
    const policy = policyOf(
      [
        { id: "own-threads", effect: "allow", subjects: "*", actions: ["threads:read", "threads:create", "runs:create"] },
        { id: "tenant-state", effect: "allow", subjects: "*", actions: ["state:read"], scope: "tenant" },
        { id: "any-runs", effect: "allow", subjects: "*", actions: ["runs:read"], scope: "any" },
        { id: "no-deletes", effect: "deny", subjects: "*", actions: ["threads:delete"] },
        { id: "own-deletes", effect: "allow", subjects: "*", actions: ["threads:delete"] },
      ],
      { ownership: { tenant: "identity.claims.org" } },
    );
    const bobsThread = (tenant?: string): Partial<RequestFacts> => ({ thread: { thread_id: TID, exists: true, owner: BOB.subject, ...(tenant ? { tenant } : {}) }, callerTenant: "acme" });

    test("own (the default): the caller's own thread is allowed", () => {
      const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: ownThread(ALICE) });
      assert.deepEqual([decision.effect, decision.rule, decision.scope], ["allow", "own-threads", "own"]);
    });

    test("own: another caller's thread is not found, answered 404 PC_NOT_FOUND as LangGraph would", () => {
      const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: bobsThread() });
      assert.deepEqual([decision.effect, decision.rule, decision.not_found], ["deny", "ownership:not-owner", true]);
      const refusal = refusalFor(decision, { operation: classify("GET", `/threads/${TID}`).operation, identity: ALICE });
      assert.equal(refusal?.status, 404);
      assert.equal(refusal?.code, "PC_NOT_FOUND");
      assert.equal(refusal?.message, `Thread with ID ${TID} not found.`);
    });

    test("own: a thread nobody owns (created before the gateway) is not the caller's", () => {
      const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: { thread: { thread_id: TID, exists: true } } });
      assert.equal(decision.not_found, true);
    });

    test("own: a run on another caller's thread is not found either", () => {
      const decision = decideFor(policy, ALICE, "POST", `/threads/${TID}/runs`, { body: { assistant_id: "agent", input: {} }, facts: bobsThread() });
      assert.deepEqual([decision.rule, decision.not_found], ["ownership:not-owner", true]);
    });

    test("tenant: a thread of the caller's tenant is allowed, whoever owns it", () => {
      const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}/state`, { facts: bobsThread("acme") });
      assert.deepEqual([decision.effect, decision.rule, decision.scope], ["allow", "tenant-state", "tenant"]);
    });

    test("tenant: a thread of another tenant, or of no tenant, is not found", () => {
      assert.equal(decideFor(policy, ALICE, "GET", `/threads/${TID}/state`, { facts: bobsThread("globex") }).not_found, true);
      assert.equal(decideFor(policy, ALICE, "GET", `/threads/${TID}/state`, { facts: bobsThread() }).not_found, true);
    });

    test("any: every caller's threads are reached", () => {
      const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}/runs`, { facts: bobsThread("globex") });
      assert.deepEqual([decision.effect, decision.rule, decision.scope], ["allow", "any-runs", "any"]);
    });

    test("the widest scope granted is the decision's scope (it narrows thread searches)", () => {
      const wide = policyOf([
        { id: "own-threads", effect: "allow", subjects: "*", actions: ["threads:read"] },
        { id: "auditors-read-all", effect: "allow", subjects: { groups: ["auditors"] }, actions: ["threads:read"], scope: "any" },
      ]);
      assert.equal(decideFor(wide, ALICE, "POST", "/threads/search", { body: {} }).scope, "own");
      const auditor = person("oidc:corp:audrey", ["auditors"]);
      const decision = decideFor(wide, auditor, "POST", "/threads/search", { body: {} });
      assert.deepEqual([decision.rule, decision.scope], ["auditors-read-all", "any"]);
    });

    test("scope limits allow rules only: a deny applies to any caller's thread and is answered 403, not 404", () => {
      for (const facts of [ownThread(ALICE), bobsThread()]) {
        const decision = decideFor(policy, ALICE, "DELETE", `/threads/${TID}`, { facts });
        assert.deepEqual([decision.effect, decision.rule, decision.not_found], ["deny", "no-deletes", undefined]);
      }
    });

    test("not_found only when ownership alone stops an allow: with no rule for the action at all it is a plain deny", () => {
      const decision = decideFor(policy, ALICE, "POST", `/threads/${TID}/runs/${TID}/cancel`, { facts: bobsThread() });
      assert.deepEqual([decision.rule, decision.not_found], ["default:deny", undefined]);
    });

    describe("thread existence (decideWithFacts)", () => {
      const request = (method: string, url: string, body?: unknown) => {
        const { operation, target } = classify(method, url, body);
        return { identity: ALICE, operation, target, method, sourceAddress: "127.0.0.1", body };
      };

      test("a thread that does not exist is not found, before any rule is consulted", () => {
        const trace: TraceEntry[] = [];
        const decision = decideWithFacts(policy, request("GET", `/threads/${TID}`), { graphs: [], assistants: [], callerTenant: "acme", thread: { thread_id: TID, exists: false } }, trace);
        assert.deepEqual([decision.rule, decision.not_found], ["ownership:no-such-thread", true]);
        assert.deepEqual(trace, []);
      });

      test("threads.create with the thread_id of another caller's thread is 409 PC_CONFLICT", () => {
        const create = request("POST", "/threads", { thread_id: TID });
        const decision = decideWithFacts(policy, create, { graphs: [], assistants: [], callerTenant: "acme", thread: { thread_id: TID, exists: true, owner: BOB.subject } });
        assert.equal(decision.not_found, true);
        const refusal = refusalFor(decision, create);
        assert.equal(refusal?.status, 409);
        assert.equal(refusal?.code, "PC_CONFLICT");
      });

      test("threads.create with a new thread_id, or the caller's own, is allowed", () => {
        const fresh = decideWithFacts(policy, request("POST", "/threads", { thread_id: TID }), { graphs: [], assistants: [], callerTenant: "acme", thread: { thread_id: TID, exists: false } });
        assert.equal(fresh.effect, "allow");
        const own = decideWithFacts(policy, request("POST", "/threads", { thread_id: TID }), { graphs: [], assistants: [], callerTenant: "acme", ...ownThread(ALICE) });
        assert.equal(own.effect, "allow");
      });
    });
  });

  describe("CEL conditions", () => {
    test("a rule applies when its condition is true and not when it is false", () => {
      const policy = policyOf([
        { id: "finance-reads-state", effect: "allow", subjects: "*", actions: ["state:read"], when: 'identity.claims.department == "finance" && now < timestamp("2100-01-01T00:00:00Z")' },
      ]);
      const financier = person("oidc:corp:fay", [], { department: "finance" });
      assert.deepEqual([decideFor(policy, financier, "GET", `/threads/${TID}/state`, { facts: ownThread(financier) }).effect], ["allow"]);
      const engineer = person("oidc:corp:ed", [], { department: "engineering" });
      const trace: TraceEntry[] = [];
      const decision = decideFor(policy, engineer, "GET", `/threads/${TID}/state`, { facts: ownThread(engineer), trace });
      assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
      assert.deepEqual(trace.map((entry) => entry.result), ["condition false"]);
    });

    test("conditions see the request: source address, body and resources", () => {
      const policy = policyOf([
        { id: "loopback-agent-runs", effect: "allow", subjects: "*", actions: ["runs:create"], when: 'request.source_ip.startsWith("127.") && "agent" in resource.graphs && body.input.amount <= 100' },
      ]);
      const ask = (sourceAddress: string, amount: number) => decideFor(policy, ALICE, "POST", "/runs/wait", { body: { assistant_id: "agent", input: { amount } }, facts: { graphs: ["agent"] }, sourceAddress });
      assert.equal(ask("127.0.0.1", 50).effect, "allow");
      assert.equal(ask("10.1.2.3", 50).effect, "deny");
      assert.equal(ask("127.0.0.1", 500).effect, "deny");
    });

    describe("a condition that fails at run time fails closed", () => {
      const policy = policyOf([
        { id: "small-payments", effect: "allow", subjects: "*", actions: ["runs:create"], when: "body.input.amount <= 100" },
        { id: "no-large-payments", effect: "deny", subjects: "*", actions: ["runs:create"], when: "body.input.amount > 100" },
      ]);
      const allowOnly = policyOf([{ id: "small-payments", effect: "allow", subjects: "*", actions: ["runs:create"], when: "body.input.amount <= 100" }]);
      const withoutAmount = { assistant_id: "agent", input: { memo: "no amount" } };

      test("an allow rule whose condition errors does not apply", () => {
        const trace: TraceEntry[] = [];
        const decision = decideFor(allowOnly, ALICE, "POST", "/runs/wait", { body: withoutAmount, trace });
        assert.deepEqual([decision.effect, decision.rule], ["deny", "default:deny"]);
        assert.equal(trace.length, 1);
        assert.match(trace[0]!.result, /^condition error: .*amount/);
      });

      test("a deny rule whose condition errors applies", () => {
        const trace: TraceEntry[] = [];
        const decision = decideFor(policy, ALICE, "POST", "/runs/wait", { body: withoutAmount, trace });
        assert.deepEqual([decision.effect, decision.rule], ["deny", "no-large-payments"]);
        assert.deepEqual(
          trace.filter((entry) => entry.rule === "no-large-payments").map((entry) => entry.result.replace(/:.*/, "")),
          ["condition error", "applies"],
        );
      });

      test("a require-approval rule whose condition errors applies", () => {
        const held = policyOf([
          { id: "runs", effect: "allow", subjects: "*", actions: ["runs:create"] },
          { id: "large-payments-need-approval", effect: "require-approval", subjects: "*", actions: ["runs:create"], when: "body.input.amount > 100", approval: { approver_groups: ["finance"] } },
        ]);
        const decision = decideFor(held, ALICE, "POST", "/runs/wait", { body: withoutAmount });
        assert.deepEqual([decision.effect, decision.rule], ["require-approval", "large-payments-need-approval"]);
      });

      test("with the field present, the conditions decide as written", () => {
        assert.equal(decideFor(policy, ALICE, "POST", "/runs/wait", { body: { assistant_id: "agent", input: { amount: 5 } } }).effect, "allow");
        assert.equal(decideFor(policy, ALICE, "POST", "/runs/wait", { body: { assistant_id: "agent", input: { amount: 500 } } }).rule, "no-large-payments");
      });
    });
  });

  test("the trace explains, for each rule of each action, why it did or did not apply", () => {
    const policy = policyOf([
      { id: "bob-only", effect: "allow", subjects: { users: [BOB.subject] }, actions: ["state:read"], scope: "any" },
      { id: "slow-graph-only", effect: "allow", subjects: "*", actions: ["state:read"], resources: { graphs: ["slow"] }, scope: "any" },
      { id: "own-state", effect: "allow", subjects: "*", actions: ["state:read"] },
      { id: "nobody-matches", effect: "allow", subjects: "*", actions: ["state:read"], scope: "any", when: 'identity.subject == "nobody"' },
      { id: "reads-missing-field", effect: "allow", subjects: "*", actions: ["state:read"], scope: "any", when: "body.missing == 1" },
      { id: "staff-read-any-state", effect: "allow", subjects: { groups: ["staff"] }, actions: ["state:read"], scope: "any" },
      { id: "unrelated", effect: "allow", subjects: "*", actions: ["runs:read"] },
    ]);
    const trace: TraceEntry[] = [];
    const decision = decideFor(policy, ALICE, "GET", `/threads/${TID}/state`, { facts: { graphs: ["agent"], thread: { thread_id: TID, exists: true, owner: BOB.subject } }, trace });
    assert.deepEqual([decision.effect, decision.rule, decision.scope], ["allow", "staff-read-any-state", "any"]);
    assert.deepEqual(
      trace.map(({ action, rule: id, effect, result }) => [action, id, effect, result.replace(/^(condition error): .*/, "$1")]),
      [
        ["state:read", "bob-only", "allow", "other subject"],
        ["state:read", "slow-graph-only", "allow", "other resource"],
        ["state:read", "own-state", "allow", "not the caller's thread"],
        ["state:read", "nobody-matches", "allow", "condition false"],
        ["state:read", "reads-missing-field", "allow", "condition error"],
        ["state:read", "staff-read-any-state", "allow", "applies"],
      ],
    );
  });

  test("every decision names the policy that made it", () => {
    const policy = policyOf([{ id: "info", effect: "allow", subjects: "*", actions: ["server:read"] }]);
    assert.equal(decideFor(policy, ALICE, "GET", "/info").policy, policy.sha256.slice(0, 16));
    assert.equal(decideFor(policy, ALICE, "GET", `/threads/${TID}`, { facts: ownThread(ALICE) }).policy, policy.sha256.slice(0, 16));
  });
});

describe("the approval-bypass requests of langgraph-api.md §8 under the default policy", async () => {
  const policy = await loadPolicyFile(DEFAULT_POLICY_FILE);
  const caller = { subject: "oidc:corp:alice", groups: ["staff"] };
  const bypasses: Array<[string, string, string, unknown]> = [
    ["a state write as_node", "POST", `/threads/${TID}/state`, { values: { decision: "yes" }, as_node: "approve" }],
    ["a run with input null, continuing past the interrupt", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", input: null }],
    ["a run with no input and no command", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl" }],
    ["a run with command.update and command.goto", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", command: { update: { decision: "yes" }, goto: "execute" } }],
    ["a run with command.goto alone", "POST", `/threads/${TID}/runs/stream`, { assistant_id: "hitl", command: { goto: "execute" } }],
    [
      "a thread created with supersteps",
      "POST",
      "/threads",
      {
        metadata: { graph_id: "hitl" },
        supersteps: [{ updates: [{ values: { request: "wire $3M" }, as_node: "plan" }] }, { updates: [{ values: { decision: "yes" }, as_node: "approve" }] }],
      },
    ],
    ["a checkpoint fork via checkpoint_id", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", input: {}, checkpoint_id: "1f0-ckpt" }],
    ["a checkpoint fork via checkpoint", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", input: {}, checkpoint: { checkpoint_id: "1f0-ckpt" } }],
    ["a checkpoint fork via config.configurable.checkpoint_id", "POST", `/threads/${TID}/runs/wait`, { assistant_id: "hitl", input: {}, config: { configurable: { checkpoint_id: "1f0-ckpt" } } }],
    ["a thread copy", "POST", `/threads/${TID}/copy`, {}],
    ["a cron", "POST", "/runs/crons", { assistant_id: "hitl", schedule: "*/5 * * * *", input: {} }],
    ["a cron on a thread", "POST", `/threads/${TID}/runs/crons`, { assistant_id: "hitl", schedule: "*/5 * * * *", input: {} }],
    ["a v2 input.respond with update", "POST", `/threads/${TID}/commands`, { id: 1, method: "input.respond", params: { interrupt_id: "i-1", response: "yes", update: { decision: "yes" } } }],
    ["a v2 input.respond with goto", "POST", `/threads/${TID}/commands`, { id: 2, method: "input.respond", params: { interrupt_id: "i-1", response: "yes", goto: "execute" } }],
  ];
  for (const [name, method, path, body] of bypasses) {
    test(`${name} needs approval (held, or 202), even on the caller's own thread`, () => {
      const result = decideOffline(policy, caller, { method, path, body });
      assert.deepEqual([result.decision.effect, result.decision.rule], ["require-approval", "steering-needs-approval"]);
      assert.deepEqual(result.decision.approval?.approver_groups, ["approvers"]);
      assert.deepEqual([result.status, result.error], [202, undefined]);
    });
  }

  test("a PATCH of an assistant's config is never allowed: refused to an ordinary caller, held for an admin", () => {
    const body = { config: { configurable: { interrupt_before: [] } } };
    const ordinary = decideOffline(policy, caller, { method: "PATCH", path: "/assistants/hitl", body });
    assert.equal(ordinary.decision.effect, "deny");
    assert.equal(ordinary.status, 403);
    const admin = decideOffline(policy, { subject: "oidc:corp:root", groups: ["admins"] }, { method: "PATCH", path: "/assistants/hitl", body });
    assert.deepEqual([admin.decision.effect, admin.decision.rule], ["require-approval", "steering-needs-approval"]);
    const rename = decideOffline(policy, { subject: "oidc:corp:root", groups: ["admins"] }, { method: "PATCH", path: "/assistants/hitl", body: { name: "renamed" } });
    assert.deepEqual([rename.decision.effect, rename.decision.rule], ["allow", "admins-manage-assistants"]);
  });

  test("an ordinary run on the caller's own thread is allowed", () => {
    const result = decideOffline(policy, caller, { method: "POST", path: `/threads/${TID}/runs/stream`, body: { assistant_id: "hitl", input: { request: "wire $500" } } });
    assert.deepEqual([result.decision.effect, result.decision.rule, result.status], ["allow", "callers-use-their-own-threads", 200]);
  });

  test("a command.resume on the caller's own thread is allowed", () => {
    const result = decideOffline(policy, caller, { method: "POST", path: `/threads/${TID}/runs/wait`, body: { assistant_id: "hitl", command: { resume: "yes" } } });
    assert.deepEqual(result.operation?.actions, ["runs:create", "runs:resume"]);
    assert.deepEqual([result.decision.effect, result.status], ["allow", 200]);
  });

  test("a v2 input.respond without update or goto on the caller's own thread is allowed", () => {
    const result = decideOffline(policy, caller, { method: "POST", path: `/threads/${TID}/commands`, body: { id: 3, method: "input.respond", params: { interrupt_id: "i-1", response: "yes" } } });
    assert.deepEqual([result.decision.effect, result.status], ["allow", 200]);
  });

  test("input null stays runs:continue even on a run that would create its thread (a concurrent request may create it first)", () => {
    const result = decideOffline(policy, caller, { method: "POST", path: `/threads/${TID}/runs/wait`, body: { assistant_id: "hitl", input: null, if_not_exists: "create" } }, { thread: { exists: false } });
    assert.deepEqual([result.decision.effect, result.status], ["require-approval", 202]);
  });

  test("a command.resume on another caller's thread is not found", () => {
    const result = decideOffline(policy, caller, { method: "POST", path: `/threads/${TID}/runs/wait`, body: { assistant_id: "hitl", command: { resume: "yes" } } }, { thread: { owner: "oidc:corp:bob" } });
    assert.deepEqual([result.decision.rule, result.status, result.error], ["ownership:not-owner", 404, "PC_NOT_FOUND"]);
  });
});

describe("rewriting the forwarded body", () => {
  const policy = policyOf([{ id: "all", effect: "allow", subjects: "*", actions: ["*"] }], { run_body: { webhook_destinations: ["https://hooks.example.com/langgraph"] } });

  function rewrite(method: string, url: string, body: unknown, options: { decision?: Partial<Decision>; facts?: Partial<RequestFacts>; identity?: Identity } = {}) {
    const { operation } = classify(method, url, body);
    return rewriteRequestBody(body, {
      operation,
      identity: options.identity ?? ALICE,
      decision: { effect: "allow", rule: "all", scope: "own", ...options.decision },
      facts: { graphs: [], assistants: [], ...options.facts },
      policy,
    });
  }

  describe("ownership stamps", () => {
    test("thread create stamps the caller as portcullis_owner, keeping the client's other metadata", () => {
      const body: Record<string, Record<string, unknown>> = { metadata: { project: "apollo" } };
      const rewrites = rewrite("POST", "/threads", body);
      assert.deepEqual(body.metadata, { project: "apollo", portcullis_owner: ALICE.subject });
      assert.deepEqual(rewrites, { added: ["metadata.portcullis_owner"], removed: [] });
    });

    test("thread create without metadata gets some", () => {
      const body: Record<string, unknown> = {};
      rewrite("POST", "/threads", body);
      assert.deepEqual(body, { metadata: { portcullis_owner: ALICE.subject } });
    });

    test("thread create stamps portcullis_tenant when the caller has a tenant", () => {
      const body: Record<string, Record<string, unknown>> = { metadata: {} };
      rewrite("POST", "/threads", body, { facts: { callerTenant: "acme" } });
      assert.deepEqual(body.metadata, { portcullis_owner: ALICE.subject, portcullis_tenant: "acme" });
    });

    test("a client-supplied portcullis_owner or portcullis_tenant is removed, and the removal listed", () => {
      const body: Record<string, Record<string, unknown>> = { metadata: { portcullis_owner: BOB.subject, portcullis_tenant: "globex" } };
      const rewrites = rewrite("POST", "/threads", body);
      assert.deepEqual(body.metadata, { portcullis_owner: ALICE.subject });
      assert.deepEqual(rewrites.removed, ["metadata.portcullis_owner", "metadata.portcullis_tenant"]);
    });

    test("a run stamps its metadata (it reaches a thread the run creates)", () => {
      const body: Record<string, unknown> = { assistant_id: "agent", input: {}, if_not_exists: "create", metadata: { portcullis_owner: BOB.subject } };
      const rewrites = rewrite("POST", `/threads/${TID}/runs`, body);
      assert.deepEqual(body.metadata, { portcullis_owner: ALICE.subject });
      assert.deepEqual(rewrites, { added: ["metadata.portcullis_owner"], removed: ["metadata.portcullis_owner"] });
    });

    test("a thread PATCH cannot set the reserved metadata keys, and nothing is stamped", () => {
      const body: Record<string, Record<string, unknown>> = { metadata: { portcullis_owner: ALICE.subject, portcullis_tenant: "acme", topic: "q3" } };
      const rewrites = rewrite("PATCH", `/threads/${TID}`, body);
      assert.deepEqual(body.metadata, { topic: "q3" });
      assert.deepEqual(rewrites, { added: [], removed: ["metadata.portcullis_owner", "metadata.portcullis_tenant"] });
    });
  });

  describe("thread search narrowing", () => {
    test("scope own: the search is filtered to the caller's threads, replacing any owner the client asked for", () => {
      const body: Record<string, Record<string, unknown>> = { metadata: { portcullis_owner: BOB.subject, project: "apollo" } };
      const rewrites = rewrite("POST", "/threads/search", body, { decision: { scope: "own" } });
      assert.deepEqual(body.metadata, { portcullis_owner: ALICE.subject, project: "apollo" });
      assert.deepEqual(rewrites.added, ["metadata.portcullis_owner filter"]);
    });

    test("scope tenant: the search is filtered to the caller's tenant", () => {
      const body: Record<string, unknown> = { limit: 10 };
      rewrite("POST", "/threads/search", body, { decision: { scope: "tenant" }, facts: { callerTenant: "acme" } });
      assert.deepEqual(body, { limit: 10, metadata: { portcullis_tenant: "acme" } });
    });

    test("scope any: the search is left as the client sent it", () => {
      const body = { metadata: { project: "apollo" } };
      const rewrites = rewrite("POST", "/threads/search", body, { decision: { scope: "any" } });
      assert.deepEqual(body, { metadata: { project: "apollo" } });
      assert.deepEqual(rewrites, { added: [], removed: [] });
    });

    test("a thread count is narrowed like a search", () => {
      const body: Record<string, unknown> = {};
      rewrite("POST", "/threads/count", body, { decision: { scope: "own" } });
      assert.deepEqual(body, { metadata: { portcullis_owner: ALICE.subject } });
    });
  });

  describe("webhooks", () => {
    const refused: Array<[string, string]> = [
      ["a relative webhook, which reaches the server's own routes", "/threads"],
      ["another host", "https://evil.example.net/langgraph/done"],
      ["credentials in the URL", "https://user:secret@hooks.example.com/langgraph/done"],
      ["the allowed host used as userinfo", "https://hooks.example.com@evil.example.net/langgraph/done"],
      ["a host that merely starts with the allowed one", "https://hooks.example.com.evil.com/langgraph/done"],
      ["a path that merely starts with the allowed one", "https://hooks.example.com/langgraphX"],
      ["a dot segment climbing out of the allowed path", "https://hooks.example.com/langgraph/../admin"],
      ["an encoded dot segment climbing out of the allowed path", "https://hooks.example.com/langgraph/%2e%2e/admin"],
      ["another port", "https://hooks.example.com:8443/langgraph/done"],
      ["another scheme", "http://hooks.example.com/langgraph/done"],
      ["a non-HTTP scheme", "file:///etc/passwd"],
      ["a webhook that is not a string", "42"],
    ];
    for (const [name, webhook] of refused) {
      test(`removes ${name}: ${webhook}`, () => {
        const body: Record<string, unknown> = { assistant_id: "agent", input: {}, webhook: webhook === "42" ? 42 : webhook };
        const rewrites = rewrite("POST", "/runs", body);
        assert.equal(Object.hasOwn(body, "webhook"), false);
        assert.deepEqual(rewrites.removed, ["webhook"]);
      });
    }

    test("a webhook with a backslash is removed (parsers disagree on where its host ends)", () => {
      const body: Record<string, unknown> = { assistant_id: "agent", input: {}, webhook: "https://hooks.example.com\\langgraph\\@evil.test/x" };
      assert.deepEqual(rewrite("POST", "/runs", body).removed, ["webhook"]);
    });

    test("LangGraph's internal __ configurable keys (__pregel_resuming, __pregel_resume_map) are removed", () => {
      const body: Record<string, unknown> = { assistant_id: "agent", input: {}, config: { configurable: { __pregel_resuming: true, __pregel_resume_map: { i: "yes" }, model: "fast" } } };
      assert.deepEqual(rewrite("POST", "/runs", body).removed, ["config.configurable.__pregel_resuming", "config.configurable.__pregel_resume_map"]);
      assert.deepEqual(body.config, { configurable: { model: "fast" } });
    });

    for (const webhook of ["https://hooks.example.com/langgraph", "https://hooks.example.com/langgraph/done?run=1", "HTTPS://HOOKS.EXAMPLE.COM/langgraph/done"]) {
      test(`keeps a webhook to the allowed destination: ${webhook}`, () => {
        const body: Record<string, unknown> = { assistant_id: "agent", input: {}, webhook };
        const rewrites = rewrite("POST", "/runs", body);
        // Forwarded as the URL that was checked (WHATWG-serialised), so no other parser reads it otherwise.
        assert.equal(body.webhook, new URL(webhook).href);
        assert.deepEqual(rewrites.removed, []);
      });
    }

    test("with no destinations allowed (the default), every webhook is removed", () => {
      const strict = policyOf([{ id: "all", effect: "allow", subjects: "*", actions: ["*"] }]);
      const body: Record<string, unknown> = { assistant_id: "agent", input: {}, webhook: "https://hooks.example.com/langgraph/done" };
      const { operation } = classify("POST", "/runs", body);
      const rewrites = rewriteRequestBody(body, { operation, identity: ALICE, decision: { effect: "allow", rule: "all" }, facts: { graphs: [], assistants: [] }, policy: strict });
      assert.equal(Object.hasOwn(body, "webhook"), false);
      assert.deepEqual(rewrites.removed, ["webhook"]);
    });
  });

  describe("identity keys in config.configurable and context", () => {
    test("langgraph_auth_user* keys are removed from a run's config.configurable and context, other keys kept", () => {
      const body = {
        assistant_id: "agent",
        input: {},
        config: { configurable: { langgraph_auth_user: { identity: "admin" }, langgraph_auth_user_id: "admin", model: "small" } },
        context: { langgraph_auth_permissions: ["*"], locale: "en" },
      };
      const rewrites = rewrite("POST", `/threads/${TID}/runs/stream`, body);
      assert.deepEqual(body.config.configurable, { model: "small" });
      assert.deepEqual(body.context, { locale: "en" });
      assert.deepEqual(rewrites.removed, [
        "config.configurable.langgraph_auth_user",
        "config.configurable.langgraph_auth_user_id",
        "context.langgraph_auth_permissions",
      ]);
    });

    test("every item of /runs/batch is cleaned and stamped, each removal named by its index", () => {
      const body = [
        { assistant_id: "agent", input: {}, config: { configurable: { langgraph_auth_user_id: "admin" } } },
        { assistant_id: "agent", input: {}, context: { langgraph_auth_user: "admin" }, webhook: "https://evil.example.net/" },
      ];
      const rewrites = rewrite("POST", "/runs/batch", body);
      assert.deepEqual(body[0]!.config?.configurable, {});
      assert.deepEqual(body[1]!.context, {});
      assert.equal(Object.hasOwn(body[1]!, "webhook"), false);
      assert.deepEqual(rewrites.removed, ["[0].config.configurable.langgraph_auth_user_id", "[1].webhook", "[1].context.langgraph_auth_user"]);
      assert.deepEqual(rewrites.added, ["[0].metadata.portcullis_owner", "[1].metadata.portcullis_owner"]);
    });

    test("a v2 run.start's params are cleaned too", () => {
      const body = { id: 1, method: "run.start", params: { assistant_id: "agent", input: {}, config: { configurable: { langgraph_auth_user: "admin" } } } };
      const rewrites = rewrite("POST", `/threads/${TID}/commands`, body);
      assert.deepEqual(body.params.config.configurable, {});
      assert.deepEqual(rewrites.removed, ["params.config.configurable.langgraph_auth_user"]);
    });

    test("the policy decides which keys are removed", () => {
      const custom = policyOf([{ id: "all", effect: "allow", subjects: "*", actions: ["*"] }], { run_body: { remove_configurable_keys: ["tenant_override"] } });
      const body = { assistant_id: "agent", input: {}, config: { configurable: { tenant_override: "globex", langgraph_auth_user: "kept" } } };
      const { operation } = classify("POST", "/runs", body);
      rewriteRequestBody(body, { operation, identity: ALICE, decision: { effect: "allow", rule: "all" }, facts: { graphs: [], assistants: [] }, policy: custom });
      assert.deepEqual(body.config.configurable, { langgraph_auth_user: "kept" });
    });
  });
});

describe("rate limits", () => {
  const policy = policyOf([{ id: "info", effect: "allow", subjects: "*", actions: ["server:read"] }], {
    rate_limits: [
      { id: "nightly", subjects: { service_accounts: ["nightly"] }, requests_per_second: 0.25, burst: 2 },
      { id: "staff", subjects: { groups: ["staff"] }, requests_per_second: 1, burst: 3 },
    ],
  });
  const T0 = 1_700_000_000_000;

  async function refusal(taking: Promise<void>): Promise<GatewayError> {
    try {
      await taking;
    } catch (error) {
      assert.ok(error instanceof GatewayError, `expected a GatewayError, got ${String(error)}`);
      return error;
    }
    assert.fail("expected a 429");
  }

  test("allows a burst, then refuses with 429 PC_RATE_LIMITED and a Retry-After of at least one second", async () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i += 1) await limiter.take(policy, ALICE, T0);
    const error = await refusal(limiter.take(policy, ALICE, T0));
    assert.equal(error.status, 429);
    assert.equal(error.code, "PC_RATE_LIMITED");
    assert.equal(error.retryAfterS, 1);
    assert.match(error.message, /'staff'/);
    assert.equal(error.identity, ALICE);
  });

  test("Retry-After is the whole seconds until a token is back", async () => {
    const limiter = new RateLimiter();
    const nightly = serviceAccount("nightly", ["staff"]);
    await limiter.take(policy, nightly, T0);
    await limiter.take(policy, nightly, T0);
    const error = await refusal(limiter.take(policy, nightly, T0));
    assert.equal(error.retryAfterS, 4);
    assert.match(error.message, /'nightly'/, "the first entry whose subjects match applies");
  });

  test("refills at the configured rate as time passes", async () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i += 1) await limiter.take(policy, ALICE, T0);
    await refusal(limiter.take(policy, ALICE, T0 + 999));
    await limiter.take(policy, ALICE, T0 + 1_000);
    await refusal(limiter.take(policy, ALICE, T0 + 1_000));
    for (let i = 0; i < 3; i += 1) await limiter.take(policy, ALICE, T0 + 60_000);
    await refusal(limiter.take(policy, ALICE, T0 + 60_000));
  });

  test("each identity has its own bucket", async () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i += 1) await limiter.take(policy, ALICE, T0);
    await refusal(limiter.take(policy, ALICE, T0));
    for (let i = 0; i < 3; i += 1) await limiter.take(policy, BOB, T0);
    await refusal(limiter.take(policy, BOB, T0));
  });

  test("an identity that matches no rate_limits entry is not limited", async () => {
    const limiter = new RateLimiter();
    const contractor = person("oidc:corp:carl", ["contractors"]);
    for (let i = 0; i < 1_000; i += 1) await limiter.take(policy, contractor, T0);
  });

  test("a policy without rate_limits limits nobody", async () => {
    const limiter = new RateLimiter();
    const unlimited = policyOf([{ id: "info", effect: "allow", subjects: "*", actions: ["server:read"] }]);
    for (let i = 0; i < 1_000; i += 1) await limiter.take(unlimited, ALICE, T0);
  });
});

describe("conditions that do not give a boolean, and offline facts", () => {
  const flagged = policyOf([
    { id: "everyone-runs", effect: "allow", subjects: "*", actions: ["runs:create"] },
    { id: "no-flagged-runs", effect: "deny", subjects: "*", actions: ["runs:create"], when: "body.input.flagged" },
  ]);

  test("a deny condition that yields a non-boolean value counts as an error, so the deny applies", () => {
    const result = decideOffline(flagged, { subject: "oidc:corp:alice" }, { method: "POST", path: "/runs/wait", body: { assistant_id: "agent", input: { flagged: "yes" } } });
    assert.equal(result.decision.effect, "deny");
    assert.equal(result.decision.rule, "no-flagged-runs");
    assert.ok(result.trace.some((entry) => entry.rule === "no-flagged-runs" && entry.result.startsWith("condition error")));
  });

  test("a boolean false leaves the deny out", () => {
    const result = decideOffline(flagged, { subject: "oidc:corp:alice" }, { method: "POST", path: "/runs/wait", body: { assistant_id: "agent", input: { flagged: false } } });
    assert.equal(result.decision.effect, "allow");
  });

  test("policy explain and test see a new thread's id in the body, and the thread's graph, as the gateway does", async () => {
    const team = await loadPolicyFile("test/fixtures/policies/team.yaml");
    const conflict = decideOffline(
      team,
      { subject: "oidc:corp:bob", groups: ["analysts"] },
      { method: "POST", path: "/threads", body: { thread_id: TID } },
      { thread: { owner: "oidc:corp:alice" } },
    );
    assert.equal(conflict.status, 409);
    const denyHitl = policyOf([
      { id: "read-threads", effect: "allow", subjects: "*", actions: ["state:read"] },
      { id: "never-hitl", effect: "deny", subjects: "*", actions: ["state:read"], resources: { graphs: ["hitl"] } },
    ]);
    const onHitl = decideOffline(denyHitl, { subject: "oidc:corp:alice" }, { method: "GET", path: `/threads/${TID}/state` }, { thread: { graph_id: "hitl" } });
    assert.equal(onHitl.decision.rule, "never-hitl");
  });
});
