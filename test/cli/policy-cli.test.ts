// `portcullis policy check|explain|test|schema`, run as an operator runs them: the real binary,
// its exit status and what it prints.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { CLI_ARGS } from "../support/cli.js";

const run = promisify(execFile);
const cwd = path.resolve(import.meta.dirname, "../..");
const TEAM = "test/fixtures/policies/team.yaml";
const TEAM_TESTS = "test/fixtures/policies/team.policy-test.yaml";
const TID = "01a200ec-78e1-727d-931b-2889c2c332a9";

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function portcullis(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_ARGS, "policy", ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-policy-cli-"));
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

describe("portcullis policy check", () => {
  test("a valid file exits 0 and prints its rule count and SHA-256", async () => {
    const result = await portcullis("check", TEAM);
    const sha256 = createHash("sha256").update(await readFile(path.join(cwd, TEAM))).digest("hex");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${TEAM} is valid: 7 rules, 0 rate limits, sha256 ${sha256}\n`);
  });

  test("without a file it checks the built-in default policy", async () => {
    const result = await portcullis("check");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /policies\/default\.yaml is valid: 6 rules, 0 rate limits, sha256 [0-9a-f]{64}\n$/);
  });

  test("an invalid file exits 2 and names the rule and the problem", async () => {
    const file = await tempFile(
      "broken.yaml",
      ["version: 1", "rules:", "  - id: adds-strings", "    effect: allow", "    subjects: '*'", "    actions: [runs:read]", `    when: '1 + "a" == 2'`, ""].join("\n"),
    );
    const result = await portcullis("check", file);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^portcullis: .*broken\.yaml is not a valid policy:/);
    assert.match(result.stderr, /rules\[0\] \(adds-strings\)\.when: no such overload: int \+ string/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace for a policy the operator can fix");
  });

  test("an unknown action exits 2, naming where it is", async () => {
    const file = await tempFile("unknown-action.yaml", ["version: 1", "rules:", "  - id: flyers", "    effect: allow", "    subjects: '*'", "    actions: [runs:fly]", ""].join("\n"));
    const result = await portcullis("check", file);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /rules\[0\]\.actions\[0\] \(flyers\): unknown action 'runs:fly'/);
  });
});

describe("portcullis policy explain", () => {
  test("prints the deciding rule, the answer, the operation and why each rule did or did not apply", async () => {
    const result = await portcullis(
      "explain",
      "--policy",
      TEAM,
      "--subject",
      "oidc:corp:alice",
      "--groups",
      "analysts",
      "--method",
      "POST",
      "--path",
      `/threads/${TID}/runs/wait`,
      "--body",
      JSON.stringify({ assistant_id: "agent", command: { goto: "execute" } }),
    );
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "decision: require-approval (rule steering-needs-approval)");
    assert.match(result.stdout, /^answer: +202 \(held for approval: streams and \/runs\/wait are held open, other requests answered 202\)$/m);
    assert.match(result.stdout, /^operation: runs\.wait, actions runs:create, state:write, risk steer-state \(command\.goto\)$/m);
    assert.match(result.stdout, /^facts: +graphs \[agent\], thread .* owned by oidc:corp:alice$/m);
    assert.match(result.stdout, /^rules considered:$/m);
    assert.match(result.stdout, /^ +runs:create +analysts-run-agent-graphs +allow +applies$/m);
    assert.match(result.stdout, /^ +runs:create +nightly-runs-from-loopback +allow +other subject$/m);
    assert.match(result.stdout, /^ +runs:create +nightly-never-runs-hitl +deny +other subject$/m);
    assert.match(result.stdout, /^ +state:write +steering-needs-approval +require-approval +applies$/m);
  });

  test("shows another caller's thread answered 404, and the rule stopped by ownership", async () => {
    const result = await portcullis(
      "explain",
      "--policy",
      TEAM,
      "--subject",
      "oidc:corp:alice",
      "--groups",
      "analysts",
      "--method",
      "GET",
      "--path",
      `/threads/${TID}/state`,
      "--thread-owner",
      "oidc:corp:bob",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^decision: deny \(rule ownership:not-owner\)$/m);
    assert.match(result.stdout, /^answer: +404 PC_NOT_FOUND$/m);
    assert.match(result.stdout, /^ +state:read +analysts-use-their-threads +allow +not the caller's thread$/m);
  });

  test("shows a condition that is false for the request", async () => {
    const result = await portcullis(
      "explain",
      "--policy",
      TEAM,
      "--subject",
      "sa:nightly",
      "--method",
      "POST",
      "--path",
      "/runs/wait",
      "--body",
      JSON.stringify({ assistant_id: "agent", input: {} }),
      "--source-ip",
      "10.20.30.40",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^decision: deny \(rule default:deny\)$/m);
    assert.match(result.stdout, /^ +runs:create +nightly-runs-from-loopback +allow +condition false$/m);
  });
});

describe("portcullis policy test", () => {
  test("a passing test file exits 0 and reports every case", async () => {
    const result = await portcullis("test", TEAM_TESTS);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const passed = result.stdout.split("\n").filter((line) => line.startsWith("ok    "));
    assert.ok(passed.length >= 12, `expected at least 12 cases, got ${passed.length}`);
    assert.match(result.stdout, new RegExp(`\\n${passed.length} passed, 0 failed\\n$`));
    assert.doesNotMatch(result.stdout, /FAIL/);
  });

  test("a failing case exits 1 and prints FAIL with what was expected and what happened", async () => {
    const file = await tempFile(
      "failing.policy-test.yaml",
      [
        `policy: ${path.join(cwd, TEAM)}`,
        "cases:",
        "  - name: the auditor reads another caller's thread",
        "    identity: { subject: 'oidc:corp:audrey', groups: [auditors] }",
        `    request: { method: GET, path: /threads/${TID} }`,
        "    facts: { thread: { owner: 'oidc:corp:bob' } }",
        "    expect: { effect: allow, status: 200 }",
        "  - name: wrongly expects an analyst to run the slow graph",
        "    identity: { subject: 'oidc:corp:alice', groups: [analysts] }",
        "    request: { method: POST, path: /runs/wait, body: { assistant_id: slow, input: {} } }",
        "    expect: { effect: allow, rule: analysts-run-agent-graphs, status: 200 }",
        "",
      ].join("\n"),
    );
    const result = await portcullis("test", file);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^ok {4}the auditor reads another caller's thread$/m);
    assert.match(
      result.stdout,
      /^FAIL {2}wrongly expects an analyst to run the slow graph: effect deny, expected allow; rule default:deny, expected analysts-run-agent-graphs; status 403, expected 200$/m,
    );
    assert.match(result.stdout, /\n1 passed, 1 failed\n$/);
  });

  test("a malformed test file exits 2 and names the field", async () => {
    const file = await tempFile("malformed.policy-test.yaml", `policy: ${path.join(cwd, TEAM)}\ncases:\n  - name: no expectation\n    identity: { subject: x }\n    request: { method: GET, path: /info }\n`);
    const result = await portcullis("test", file);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /is not a valid policy test file:[\s\S]*cases\[0\]\.expect/);
  });
});

describe("portcullis policy schema", () => {
  test("prints the policy file's JSON Schema, the same as the published schema/portcullis.policy.schema.json", async () => {
    const result = await portcullis("schema");
    assert.equal(result.code, 0, result.stderr);
    const published = JSON.parse(await readFile(path.join(cwd, "schema/portcullis.policy.schema.json"), "utf8")) as unknown;
    assert.deepEqual(JSON.parse(result.stdout), published);
  });
});
