// The egress rules as a specification, without a server: which paths a route allows, how a
// credential is added and scrubbed from answers however they are split, how run-context tokens
// verify, what the config refuses, and that policy keeps egress:call deny by default.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { stringify as toYaml } from "yaml";
import { compilePolicy } from "../../src/authorize/compile.js";
import { decideWithFacts } from "../../src/authorize/index.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError, GatewayError, PolicyError } from "../../src/errors.js";
import { routeCredential } from "../../src/egress/credential.js";
import { Egress } from "../../src/egress/index.js";
import { encodePathSegment, pathMatches } from "../../src/egress/paths.js";
import { RunContextTokens } from "../../src/egress/runContext.js";
import { SCRUBBED, SecretScrubber } from "../../src/egress/scrub.js";
import type { Identity } from "../../src/identify/identity.js";
import { parseRequestTarget } from "../../src/receive/target.js";
import { seededRandom } from "../support/seededRandom.js";

const segments = (p: string) => p.split("/").slice(1);
const RUNTIME: Identity = { subject: "sa:runtime", kind: "service-account", groups: ["runtime"], auth_method: "api-key", credential_id: "key-runtime" };

describe("egress route paths", () => {
  test("literal patterns match exactly, '*' one non-empty segment, a final '**' any rest", () => {
    assert.ok(pathMatches("/v1/chat/completions", segments("/v1/chat/completions")));
    assert.ok(!pathMatches("/v1/chat/completions", segments("/v1/chat/completions/x")));
    assert.ok(!pathMatches("/v1/chat/completions", segments("/v1/chat")));
    assert.ok(!pathMatches("/v1/chat/completions", segments("/v1/chat/completions/")), "a trailing slash is another path");
    assert.ok(!pathMatches("/v1/chat/completions", segments("/V1/chat/completions")), "case matters, as in URLs");
    assert.ok(pathMatches("/v1/models/*", segments("/v1/models/gpt-4o")));
    assert.ok(!pathMatches("/v1/models/*", segments("/v1/models/")), "'*' needs a segment");
    assert.ok(!pathMatches("/v1/models/*", segments("/v1/models/a/b")));
    assert.ok(pathMatches("/v1/**", segments("/v1")));
    assert.ok(pathMatches("/v1/**", segments("/v1/a/b/c")));
    assert.ok(!pathMatches("/v1/**", segments("/v2/a")));
    assert.ok(pathMatches("/v1/models/gemini%3Agenerate", ["v1", "models", "gemini:generate"]), "patterns are compared decoded");
  });

  test("the receive stage refuses every way of climbing out of a route before patterns are matched", () => {
    for (const target of ["/egress/r/v1/../x", "/egress/r/%2e%2e/x", "/egress/r/v1%2fx", "/egress/r/v1%5cx", "/egress/r/v1\\..\\x", "/egress/r//x", "/egress/r/a%00b", "/egress/r/a%0d%0ab"]) {
      assert.throws(() => parseRequestTarget(target), (error: unknown) => error instanceof GatewayError && error.code === "PC_BAD_PATH", target);
    }
  });

  test("segments are sent encoded, keeping the characters RFC 3986 allows in a segment", () => {
    assert.equal(encodePathSegment("gemini-pro:generateContent"), "gemini-pro:generateContent");
    assert.equal(encodePathSegment("a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
    assert.equal(encodePathSegment("user@host"), "user@host");
  });
});

describe("egress credentials and scrubbing", () => {
  const secret = "sk-test-0123456789abcdef";

  test("each credential type is added as configured, with every wire form listed for scrubbing", () => {
    assert.deepEqual(routeCredential("r", { type: "bearer", secret: { env: "X" } }, secret).headers, { authorization: `Bearer ${secret}` });
    assert.deepEqual(routeCredential("r", { type: "header", header: "x-api-key", prefix: "", secret: { env: "X" } }, secret).headers, { "x-api-key": secret });
    const basic = routeCredential("r", { type: "basic", username: "svc", secret: { env: "X" } }, secret);
    const token = Buffer.from(`svc:${secret}`).toString("base64");
    assert.deepEqual(basic.headers, { authorization: `Basic ${token}` });
    assert.ok(basic.secretForms.includes(token) && basic.secretForms.includes(secret));
    const query = routeCredential("r", { type: "query", parameter: "key", secret: { env: "X" } }, "a+b/c=d&e");
    assert.deepEqual(query.query, { name: "key", value: "a+b/c=d&e" });
    assert.ok(query.secretForms.includes("a%2Bb%2Fc%3Dd%26e"), "the form URLSearchParams puts on the wire");
  });

  test("a secret too short to scrub reliably, or with a line break, stops the start", () => {
    assert.throws(() => routeCredential("r", { type: "bearer", secret: { env: "X" } }, "short"), ConfigError);
    assert.throws(() => routeCredential("r", { type: "bearer", secret: { env: "X" } }, "0123456789\nInjected: 1"), ConfigError);
  });

  test("text is scrubbed of every form, longest first", () => {
    const scrubber = new SecretScrubber([secret, Buffer.from(`u:${secret}`).toString("base64")]);
    assert.equal(scrubber.text(`a ${secret} b ${secret}`), `a ${SCRUBBED} b ${SCRUBBED}`);
    assert.equal(scrubber.found, 2);
    assert.equal(scrubber.text("nothing here"), "nothing here");
  });

  test("a stream is scrubbed however its chunks split the secret, and nothing else is held back", async () => {
    const random = seededRandom(7);
    const body = `start ${secret} middle é€ ${secret.slice(0, 10)} not a match ${secret}${secret} end`;
    const expected = body.split(secret).join(SCRUBBED);
    for (let round = 0; round < 200; round++) {
      const bytes = Buffer.from(body, "utf8");
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(random() * 12);
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      const scrubber = new SecretScrubber([secret]);
      const out: Buffer[] = [];
      for await (const chunk of scrubber.stream(Readable.from(chunks))) out.push(chunk as Buffer);
      assert.equal(Buffer.concat(out).toString("utf8"), expected, `round ${round}`);
      assert.equal(scrubber.found, 3);
    }
    // A chunk ending away from any prefix of the secret is passed on whole at once.
    const scrubber = new SecretScrubber([secret]);
    const stream = scrubber.stream(Readable.from([Buffer.from("data: {\"delta\":\"hi\"}\n\n")]));
    const [first] = await stream.toArray();
    assert.equal((first as Buffer).toString(), "data: {\"delta\":\"hi\"}\n\n");
  });
});

describe("run-context tokens", () => {
  test("a token verifies only with its gateway's key, and carries who started the run", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-rc-"));
    try {
      const tokens = await RunContextTokens.open({ ttl_s: 60 }, dir);
      const keyFile = path.join(dir, "run-context.key");
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600, "the key file is the gateway's alone");
      const again = await RunContextTokens.open({ ttl_s: 60 }, dir);
      const link = { request_id: "req-1", subject: "oidc:corp:alice", thread_id: "t-1", graphs: ["agent"] };
      const token = await tokens.issue(link);
      assert.deepEqual(await again.verify(token), link, "a restart keeps the key, so running runs stay linked");
      const other = await RunContextTokens.open({ ttl_s: 60 }, path.join(dir, "elsewhere"));
      await assert.rejects(other.verify(token), (error: unknown) => error instanceof GatewayError && error.code === "PC_EGRESS_RUN_CONTEXT_INVALID");
      const [header, payload, signature] = token.split(".");
      const altered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, "base64url").toString()), sub: "oidc:corp:mallory" })).toString("base64url");
      await assert.rejects(tokens.verify(`${header}.${altered}.${signature}`), /not issued by this gateway or was altered/);
      const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "portcullis-run-context+jwt" })).toString("base64url")}.${payload}.`;
      await assert.rejects(tokens.verify(none), /not valid/);
      await assert.rejects(tokens.verify("x".repeat(5000)), /too long/);
      assert.match(await readFile(keyFile, "utf8"), /^[A-Za-z0-9_-]{43}\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("egress config and policy", () => {
  const base = { upstream: { url: "http://127.0.0.1:1" } };
  const route = (extra: object) => ({ ...base, egress: { routes: { r: { url: "https://api.example.com", paths: ["/v1/**"], ...extra } } } });

  test("the config refuses routes that would be unsafe or ambiguous", () => {
    assert.doesNotThrow(() => parseConfig(route({})));
    for (const [bad, why] of [
      [route({ url: "https://user:pass@api.example.com" }), /may not carry credentials/],
      [route({ url: "file:///etc/passwd" }), /http\(s\) URL/],
      [route({ url: "https://api.example.com/?key=1" }), /query or fragment/],
      [route({ paths: ["/v1/**/x"] }), /'\*\*' may only be the last segment/],
      [route({ paths: ["/v1/../admin"] }), /'\.' or '\.\.' segments/],
      [route({ paths: ["/v1/gpt-*"] }), /whole segment/],
      [route({ paths: ["v1"] }), /must start with '\/'/],
      [{ ...base, egress: { routes: { "Bad Name": { url: "https://a.example", paths: ["/"] } } } }, /route names/],
    ] as const) {
      assert.throws(() => parseConfig(bad), (error: unknown) => error instanceof ConfigError && why.test(error.message), String(why));
    }
  });

  test("a missing secret stops the start, naming the route and the source, never a value", async () => {
    const config = parseConfig(route({ credential: { type: "bearer", secret: { env: "PORTCULLIS_TEST_UNSET_EGRESS_KEY" } } }));
    await assert.rejects(Egress.open(config), /egress\.routes\.r\.credential\.secret: environment variable PORTCULLIS_TEST_UNSET_EGRESS_KEY is not set/);
  });

  const decideEgress = (rules: object[], routeName: string, graphs: string[] = []) => {
    const policy = compilePolicy(toYaml({ version: 1, rules }), "inline.yaml");
    const target = parseRequestTarget(`/egress/${routeName}/v1/x`);
    const operation = { route: "egress.call", resource: "egress" as const, action: "egress:call", actions: ["egress:call"], risk: "write" as const, response: "json" as const, ids: {}, assistant_ids: [], risk_reasons: [], creates_run: false };
    return decideWithFacts(policy, { identity: RUNTIME, operation, target, method: "POST", sourceAddress: null, body: undefined }, { graphs, assistants: [], egressRoute: routeName });
  };

  test("egress:call is deny by default and must be named: '*' rules do not grant it", () => {
    assert.equal(decideEgress([{ id: "all", effect: "allow", subjects: "*", actions: ["*"], scope: "any" }], "openai").effect, "deny");
    assert.equal(decideEgress([{ id: "egress", effect: "allow", subjects: "*", actions: ["egress:*"] }], "openai").effect, "allow");
    const scoped = [{ id: "models", effect: "allow", subjects: { service_accounts: ["runtime"] }, actions: ["egress:call"], resources: { egress_routes: ["openai"] } }];
    assert.equal(decideEgress(scoped, "openai").rule, "models");
    assert.equal(decideEgress(scoped, "crm").effect, "deny", "another route is not covered");
    const byGraph = [{ id: "agent-only", effect: "allow", subjects: "*", actions: ["egress:call"], resources: { egress_routes: ["*"], graphs: ["agent"] } }];
    assert.equal(decideEgress(byGraph, "openai", ["agent"]).effect, "allow", "the linked run's graphs can be required");
    assert.equal(decideEgress(byGraph, "openai", []).effect, "deny", "a call without a run context is not from that graph");
    const denied = [...scoped, { id: "no-crm", effect: "deny", subjects: "*", actions: ["egress:call"], resources: { egress_routes: ["openai"] } }];
    assert.equal(decideEgress(denied, "openai").effect, "deny");
    const denyAll = [...scoped, { id: "frozen", effect: "deny", subjects: "*", actions: ["*"] }];
    assert.equal(decideEgress(denyAll, "openai").rule, "frozen", "a '*' deny rule does cover egress");
    const untrusted = [...scoped, { id: "no-untrusted", effect: "deny", subjects: "*", actions: ["egress:call"], resources: { graphs: ["untrusted"] } }];
    assert.equal(decideEgress(untrusted, "openai", []).rule, "no-untrusted", "a call without a run context cannot dodge a graph-scoped deny");
    assert.equal(decideEgress(untrusted, "openai", ["agent"]).rule, "models");
  });

  test("a rule cannot make egress calls wait for approval", () => {
    assert.throws(
      () => compilePolicy(toYaml({ version: 1, rules: [{ id: "ask", effect: "require-approval", subjects: "*", actions: ["egress:call"], approval: { approver_groups: ["a"] } }] }), "inline.yaml"),
      (error: unknown) => error instanceof PolicyError && /egress calls cannot wait for approval/.test(error.message),
    );
  });
});
