// OIDC bearer tokens from a real OpenID provider, several issuers at once, key rotation, and a
// corpus of hostile tokens: every bad token is refused with RFC 6750 errors, never forwarded,
// and recorded with its reason.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { after, before, beforeEach, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { pino } from "pino";
import { AUDIENCE, INTROSPECTION_CLIENT, OPAQUE_AUDIENCE, startTestIdp, type TestIdp } from "../support/oidcProvider.js";
import { startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

/** A second issuer whose tokens the tests sign themselves, to make every kind of bad token. */
interface CorpusIssuer {
  issuer: string;
  jwksUri: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
  server: Server;
}

async function startCorpusIssuer(): Promise<CorpusIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = "corpus-key";
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [publicJwk] })));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { issuer: "https://corpus.test", jwksUri: `${base}/jwks`, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey), server };
}

const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

async function corpusToken(corpus: CorpusIssuer, payloadOverrides: Record<string, unknown> = {}, sign = "valid"): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { iss: corpus.issuer, aud: AUDIENCE, sub: "alice", exp: now + 600, iat: now, groups: ["analysts"] };
  for (const [key, value] of Object.entries(payloadOverrides)) {
    if (value === null) delete payload[key];
    else if (key === "exp" || key === "nbf") payload[key] = now + (value as number);
    else if (value === "OVERSIZE") payload[key] = "x".repeat(9000);
    else payload[key] = value;
  }
  const header = { alg: "RS256", kid: corpus.kid, typ: "JWT" };
  switch (sign) {
    case "none":
      return `${b64({ alg: "none", typ: "JWT" })}.${b64(payload)}.`;
    case "hs256-public-key": {
      // The classic key-confusion attack: HMAC keyed with the issuer's public key.
      const input = `${b64({ alg: "HS256", kid: corpus.kid, typ: "JWT" })}.${b64(payload)}`;
      return `${input}.${createHmac("sha256", corpus.publicPem).update(input).digest("base64url")}`;
    }
    case "foreign-key":
    case "foreign-key-same-kid": {
      const { privateKey } = await generateKeyPair("RS256");
      return new SignJWT(payload).setProtectedHeader({ ...header, kid: sign === "foreign-key" ? "unknown-kid" : corpus.kid }).sign(privateKey);
    }
    case "truncate-signature": {
      const token = await new SignJWT(payload).setProtectedHeader(header).sign(corpus.privateKey);
      return token.slice(0, -20);
    }
    default:
      return new SignJWT(payload).setProtectedHeader(header).sign(corpus.privateKey);
  }
}

let idp: TestIdp;
let corpus: CorpusIssuer;
let upstream: ScriptedUpstream;
let gateway: TestGateway;
let logLines: string[];

before(async () => {
  idp = await startTestIdp();
  corpus = await startCorpusIssuer();
  upstream = await startScriptedUpstream();
  logLines = [];
  const logSink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  gateway = await startTestGateway(
    { url: upstream.url },
    {
      identity: {
        oidc: {
          issuers: [
            { id: "test-idp", issuer: idp.issuer, audiences: [AUDIENCE], jwks_cooldown_ms: 1_000 },
            { id: "corpus", issuer: corpus.issuer, audiences: [AUDIENCE], jwks_uri: corpus.jwksUri },
          ],
        },
      },
    },
    { logger: pino({ level: "debug" }, logSink) },
  );
});
after(async () => {
  await gateway?.close();
  await upstream?.close();
  await idp?.close();
  corpus?.server.closeAllConnections();
  corpus?.server.close();
});
beforeEach(() => {
  upstream.received.length = 0;
});

async function callWith(token: string) {
  const response = await fetch(`${gateway.url}/threads/search`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
  const body = (await response.json()) as { error?: string; message?: string };
  return { status: response.status, body, wwwAuthenticate: response.headers.get("www-authenticate"), requestId: response.headers.get("x-request-id")! };
}

describe("OIDC bearer tokens from a real OpenID provider", () => {
  test("a client-credentials access token is accepted and its identity recorded; the token never reaches LangGraph", async () => {
    const token = await idp.token("ci-bot");
    const res = await callWith(token);
    assert.equal(res.status, 200);
    assert.equal(upstream.received[0]!.headers.authorization, undefined);
    const [record] = await gateway.recordsFor(res.requestId);
    assert.ok(record?.type === "request");
    assert.equal(record.identity?.subject, "oidc:test-idp:ci-bot");
    assert.equal(record.identity?.auth_method, "oidc-bearer");
    assert.equal(record.identity?.issuer, idp.issuer);
    assert.deepEqual(record.identity?.groups, ["engineering", "ci"]);
    assert.ok(!logLines.join("").includes(token), "the raw token was logged");
  });

  test("caches the issuer's keys: many requests, one JWKS fetch", async () => {
    const before = idp.jwksFetches;
    for (let i = 0; i < 5; i += 1) assert.equal((await callWith(await idp.token("reporting"))).status, 200);
    assert.ok(idp.jwksFetches - before <= 1, `JWKS fetched ${idp.jwksFetches - before} times`);
  });

  test("follows a key rotation mid-run: a new kid triggers one refetch, and the retired key stops working", async () => {
    const oldToken = await idp.token();
    assert.equal((await callWith(oldToken)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1_050)); // past jwks_cooldown_ms since the last fetch
    const fetchesBefore = idp.jwksFetches;
    await idp.rotateKey();
    const newToken = await idp.token();
    assert.equal((await callWith(newToken)).status, 200);
    assert.equal(idp.jwksFetches - fetchesBefore, 1);
    const retired = await callWith(oldToken);
    assert.equal(retired.status, 401);
    assert.match(retired.body.message!, /kid/);
  });

  test("unknown kids refetch the JWKS at most once per cooldown", async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const token = await idp.token();
    const [header, payload] = token.split(".");
    const forgedHeader = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header!, "base64url").toString()), kid: "random-kid" })).toString("base64url");
    const fetchesBefore = idp.jwksFetches;
    // Sent together, well inside one cooldown window whatever the machine's load.
    const answers = await Promise.all(Array.from({ length: 10 }, () => callWith(`${forgedHeader}.${payload}.c2ln`)));
    for (const answer of answers) assert.equal(answer.status, 401);
    assert.equal(idp.jwksFetches - fetchesBefore, 1);
  });

  test("the SDK works unchanged with defaultHeaders carrying the bearer token", async () => {
    const client = new Client({ apiUrl: gateway.url, apiKey: null, defaultHeaders: { Authorization: `Bearer ${await idp.token()}` }, callerOptions: { maxRetries: 0 } });
    await client.threads.search({ limit: 1 });
    assert.equal(upstream.received.length, 1);
  });
});

describe("hostile tokens", () => {
  test("every token in the corpus is refused with 401, an RFC 6750 challenge and a record, and never forwarded", async () => {
    const corpusCases = (await import("../fixtures/hostile-tokens.json", { with: { type: "json" } })).default as Array<{
      name: string;
      sign?: string;
      raw?: string;
      payload?: Record<string, unknown>;
      error: string;
      message?: string;
    }>;
    for (const testCase of corpusCases) {
      const token = testCase.raw ?? (await corpusToken(corpus, testCase.payload, testCase.sign));
      const res = await callWith(token);
      assert.equal(res.status, 401, `${testCase.name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, testCase.error, testCase.name);
      if (testCase.message) assert.match(res.body.message!, new RegExp(testCase.message), `${testCase.name}: ${res.body.message}`);
      assert.match(res.wwwAuthenticate!, /^Bearer realm="portcullis", error="invalid_token", error_description="/, testCase.name);
      const [record] = await gateway.recordsFor(res.requestId);
      assert.ok(record?.type === "request" && record.decision.effect === "deny" && record.decision.reason, testCase.name);
    }
    assert.equal(upstream.received.length, 0, "a hostile token reached the upstream");
  });

  test("a well-formed token from the corpus issuer is accepted, with its groups (the corpus is not failing for another reason)", async () => {
    const res = await callWith(await corpusToken(corpus));
    assert.equal(res.status, 200);
    const [record] = await gateway.recordsFor(res.requestId);
    assert.equal(record?.type === "request" && record.identity?.subject, "oidc:corpus:alice");
  });

  test("a malformed Authorization header is invalid_request", async () => {
    const response = await fetch(`${gateway.url}/ok`, { headers: { authorization: "Bearer two tokens" } });
    assert.equal(response.status, 401);
    assert.match(response.headers.get("www-authenticate")!, /error="invalid_request"/);
  });

  test("no credential at all gets a bare challenge (RFC 6750 §3.1)", async () => {
    const response = await fetch(`${gateway.url}/ok`);
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="portcullis"');
  });
});

describe("opaque tokens, checked by RFC 7662 introspection", () => {
  let introspecting: TestGateway;
  before(async () => {
    process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET = INTROSPECTION_CLIENT.secret;
    introspecting = await startTestGateway(
      { url: upstream.url },
      {
        identity: {
          oidc: {
            issuers: [
              {
                id: "test-idp",
                issuer: idp.issuer,
                audiences: [OPAQUE_AUDIENCE],
                // cache_ttl_s 0: every request asks the IdP, so a revocation is seen at once
                introspection: { client_id: INTROSPECTION_CLIENT.id, client_secret: { env: "PORTCULLIS_TEST_INTROSPECTION_SECRET" }, cache_ttl_s: 0 },
              },
            ],
          },
        },
      },
    );
  });
  after(async () => {
    await introspecting?.close();
    delete process.env.PORTCULLIS_TEST_INTROSPECTION_SECRET;
  });

  const call = async (token: string) => {
    const response = await fetch(`${introspecting.url}/threads/search`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
    return { status: response.status, body: (await response.json()) as { error?: string; message?: string }, requestId: response.headers.get("x-request-id")! };
  };

  test("an active opaque token is accepted with the identity the IdP reports, and recorded as introspected", async () => {
    const token = await idp.opaqueToken("reporting");
    assert.equal(token.includes("."), false, "the IdP issued an opaque token");
    const result = await call(token);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    const [record] = await introspecting.recordsFor(result.requestId);
    assert.equal(record?.type === "request" && record.identity?.subject, "oidc:test-idp:client:reporting");
    assert.equal(record?.type === "request" && record.identity?.auth_method, "oidc-introspection");
    assert.equal(upstream.received.at(-1)?.headers.authorization, undefined, "the token is not forwarded");
  });

  test("a token revoked at the IdP is refused on the next request", async () => {
    const token = await idp.opaqueToken("ci-bot");
    assert.equal((await call(token)).status, 200);
    await idp.revoke(token, "ci-bot");
    const refused = await call(token);
    assert.equal(refused.status, 401);
    assert.match(refused.body.message ?? "", /not active/);
  });

  test("an opaque token the IdP never issued is refused and recorded; nothing is forwarded", async () => {
    const before = upstream.received.length;
    const refused = await call("opaque-but-unknown-token-value-0123456789");
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, "PC_INVALID_TOKEN");
    assert.equal(upstream.received.length, before);
    const [record] = await introspecting.recordsFor(refused.requestId);
    assert.equal(record?.type === "request" && record.error, "PC_INVALID_TOKEN");
  });

  test("a gateway with no introspection configured refuses opaque tokens outright", async () => {
    const result = await callWith(await idp.opaqueToken("ci-bot"));
    assert.equal(result.status, 401);
    assert.match(result.body.message ?? "", /not a well-formed JWT/);
  });
});

describe("issuer availability", () => {
  test("an unreachable issuer fails closed with 503, not forwarded", async () => {
    const local = await startTestGateway(
      { url: upstream.url },
      { identity: { oidc: { issuers: [{ id: "down", issuer: "http://127.0.0.1:9", audiences: [AUDIENCE] }], fetch_timeout_ms: 500 } } },
    );
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ iss: "http://127.0.0.1:9", aud: AUDIENCE, sub: "x", exp: now + 60 }).setProtectedHeader({ alg: "RS256", kid: "k" }).sign(corpus.privateKey);
      const response = await fetch(`${local.url}/ok`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { error: string }).error, "PC_IDP_UNAVAILABLE");
      assert.equal(upstream.received.length, 0);
    } finally {
      await local.close();
    }
  });

  test("without any issuer configured, bearer tokens are refused with a pointer to service-account keys", async () => {
    const local = await startTestGateway({ url: upstream.url });
    try {
      const response = await fetch(`${local.url}/ok`, { headers: { authorization: `Bearer ${await corpusToken(corpus)}` } });
      assert.equal(response.status, 401);
      assert.match(((await response.json()) as { message: string }).message, /no OIDC issuer is configured/);
    } finally {
      await local.close();
    }
  });
});

describe("against the real LangGraph server", () => {
  let langgraph: Upstream;
  let real: TestGateway;
  before(async () => {
    langgraph = await startLangGraph();
    real = await startTestGateway(langgraph, { identity: { oidc: { issuers: [{ id: "test-idp", issuer: idp.issuer, audiences: [AUDIENCE] }] } } });
  });
  after(async () => {
    await real?.close();
    await langgraph?.stop();
  });

  test("a token holder runs a graph through the gateway with the SDK", async () => {
    const client = new Client({ apiUrl: real.url, apiKey: null, defaultHeaders: { Authorization: `Bearer ${await idp.token()}` }, callerOptions: { maxRetries: 0 } });
    const result = await client.runs.wait(null, "slow", { input: { count: 1, delayMs: 0 } });
    assert.deepEqual(result, { count: 1, delayMs: 0, emitted: 1 });
  });
});
