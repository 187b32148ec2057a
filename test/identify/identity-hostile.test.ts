// Hostile credentials on the real data path. Requests that carry two credentials, or name one
// hop-by-hop in Connection, are replayed from test/fixtures/hostile-credentials.json over raw
// sockets (a client library would merge or drop repeated headers) through the gateway in front
// of the real LangGraph server, with real keys, a real OIDC provider's tokens and a real SAML
// sign-in's session. Each is refused and recorded with what was sent, never the values; requests
// refused before identify still name who sent them. Also: a JWKS endpoint that fails, and keys
// created already expired.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import corpus from "../fixtures/hostile-credentials.json" with { type: "json" };
import { AUDIENCE, startTestIdp, type TestIdp } from "../support/oidcProvider.js";
import { freePort } from "../support/ports.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startRecordingProxy, type RecordingProxy } from "../support/recordingProxy.js";
import { startTestSamlIdp, type TestSamlIdp } from "../support/samlIdp.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

interface HostileCredentialCase {
  name: string;
  method: string;
  path: string;
  body?: string;
  headers: [string, string][];
  status: number;
  error: string | null;
  /** The recorded identity's subject, or null for none. */
  identity: string | null;
  /** What the recorded decision's reason must say, and must not. */
  reason?: string;
  reasonNot?: string;
  /** Whether the request reached LangGraph. */
  forwarded: boolean;
}

const SAML_USER = { nameId: "grace@example.com", email: "grace@example.com", displayName: "Grace Hopper", groups: ["engineering"] };

/** An issuer whose tokens the tests sign, with a JWKS endpoint the tests control and count. */
interface ControlledIssuer {
  issuer: string;
  jwksUri: string;
  /** The JWKS endpoint answers 500 while this is set. */
  failing: boolean;
  fetches: number;
  /** Keys served (public), by kid. */
  keys: Map<string, { privateKey: CryptoKey; publicJwk: JWK }>;
  addKey(kid: string): Promise<void>;
  token(kid: string): Promise<string>;
  server: Server;
}

async function startControlledIssuer(issuer: string, options: { failing: boolean }): Promise<ControlledIssuer> {
  const server = createServer((_req, res) => {
    controlled.fetches += 1;
    if (controlled.failing) {
      res.writeHead(500, { "content-type": "text/plain" }).end("internal error");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [...controlled.keys.values()].map((key) => key.publicJwk) }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const controlled: ControlledIssuer = {
    issuer,
    jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    failing: options.failing,
    fetches: 0,
    keys: new Map(),
    async addKey(kid) {
      const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
      controlled.keys.set(kid, { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } });
    },
    async token(kid) {
      // A kid the issuer never published is signed with a throwaway key: it must not verify.
      const key = controlled.keys.get(kid)?.privateKey ?? (await generateKeyPair("RS256")).privateKey;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ groups: ["analysts"] }).setProtectedHeader({ alg: "RS256", kid }).setIssuer(issuer).setAudience(AUDIENCE).setSubject("alice").setJti(randomBytes(8).toString("hex")).setIssuedAt(now).setExpirationTime(now + 600).sign(key);
    },
    server,
  };
  await controlled.addKey("key-1");
  return controlled;
}

let dir: string;
let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
let proxy: RecordingProxy;
let idp: TestIdp;
let samlIdp: TestSamlIdp;
let failingIssuer: ControlledIssuer;
let flakyIssuer: ControlledIssuer;
let gateway: TestGateway;
let publicUrl: string;
const other = generateApiKey();
const expired = generateApiKey();
// Long enough that a test run never sees a second window: the count of fetches is exact.
const LONG_COOLDOWN_MS = 600_000;
const SHORT_COOLDOWN_MS = 1_000;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-identity-hostile-"));
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  [langgraph, idp, samlIdp, failingIssuer, flakyIssuer] = await Promise.all([
    startLangGraph(),
    startTestIdp(),
    startTestSamlIdp({ users: [SAML_USER] }),
    startControlledIssuer("https://failing-idp.test", { failing: true }),
    startControlledIssuer("https://flaky-idp.test", { failing: false }),
  ]);
  proxy = await startRecordingProxy(langgraph.url);
  const metadataFile = path.join(dir, "idp-metadata.xml");
  await writeFile(metadataFile, samlIdp.metadataXml);
  gateway = await startTestGateway(
    { url: proxy.url, key: langgraph.key },
    {
      listen: { host: "127.0.0.1", port },
      identity: {
        service_accounts: [
          { id: "other", key_sha256: other.sha256, groups: ["engineering"] },
          { id: "retired", key_sha256: expired.sha256, groups: ["engineering"], expires_at: "2020-01-01T00:00:00Z" },
        ],
        oidc: {
          issuers: [
            { id: "test-idp", issuer: idp.issuer, audiences: [AUDIENCE] },
            { id: "failing", issuer: failingIssuer.issuer, audiences: [AUDIENCE], jwks_uri: failingIssuer.jwksUri, jwks_cooldown_ms: LONG_COOLDOWN_MS },
            { id: "flaky", issuer: flakyIssuer.issuer, audiences: [AUDIENCE], jwks_uri: flakyIssuer.jwksUri, jwks_cooldown_ms: SHORT_COOLDOWN_MS },
          ],
        },
        login: { public_url: publicUrl, saml: [{ id: "corp-saml", display_name: "Corp SAML", idp_metadata_file: metadataFile }] },
      },
    },
  );
});

after(async () => {
  await gateway?.close();
  await proxy?.close();
  await Promise.all([langgraph?.stop(), idp?.close(), samlIdp?.close()]);
  for (const issuer of [failingIssuer, flakyIssuer]) {
    issuer?.server.closeAllConnections();
    issuer?.server.close();
  }
  await rm(dir, { recursive: true, force: true });
});

/** A real SAML sign-in, driven as the browser would: the session cookie's value. */
async function signInWithSaml(): Promise<string> {
  const started = await fetch(`${gateway.url}/auth/login/corp-saml`, { redirect: "manual" });
  const location = new URL(started.headers.get("location")!);
  const requestXml = inflateRawSync(Buffer.from(location.searchParams.get("SAMLRequest")!, "base64")).toString("utf8");
  const loginCookie = started.headers.get("set-cookie")!.split(";")[0]!;
  const acsUrl = `${publicUrl}/auth/saml/corp-saml/acs`;
  const samlResponse = samlIdp.buildResponse({ user: SAML_USER, acsUrl, audience: `${publicUrl}/auth/saml/corp-saml/metadata`, inResponseTo: /\bID="([^"]+)"/.exec(requestXml)![1]! });
  const accepted = await fetch(acsUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: location.searchParams.get("RelayState")! }),
    redirect: "manual",
  });
  assert.equal(accepted.status, 303);
  const completed = await fetch(new URL(accepted.headers.get("location")!, publicUrl), { redirect: "manual", headers: { cookie: loginCookie } });
  const cookie = completed.headers.getSetCookie().find((c) => c.startsWith("portcullis_session="));
  assert.ok(cookie, "the sign-in started a session");
  return cookie.split(";")[0]!.slice("portcullis_session=".length);
}

interface RawAnswer {
  status: number;
  requestId: string;
  error: string | undefined;
  headers: string;
}

async function sendRaw(method: string, target: string, headers: [string, string][], body = ""): Promise<RawAnswer> {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1`, ...headers.map(([name, value]) => `${name}: ${value}`)];
  if (body !== "") lines.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`);
  lines.push("Connection: close");
  const raw = await rawRequest(gateway.url, `${lines.join("\r\n")}\r\n\r\n${body}`);
  const [head = "", payload = ""] = raw.split("\r\n\r\n");
  let error: string | undefined;
  try {
    error = (JSON.parse(payload) as { error?: string }).error;
  } catch {
    error = undefined;
  }
  return { status: statusOf(raw), requestId: /^x-request-id: (\S+)$/im.exec(head)?.[1] ?? "", error, headers: head };
}

async function requestRecordOf(requestId: string): Promise<RequestRecord> {
  return eventually(async () => {
    const record = (await gateway.recordsFor(requestId)).find((r): r is RequestRecord => r.type === "request");
    assert.ok(record, `a request record for ${requestId}`);
    return record;
  });
}

describe("ambiguous and hostile credentials, replayed from the corpus", () => {
  test("each request is answered and recorded as the corpus says, naming credential kinds and never their values", async () => {
    const session = await signInWithSaml();
    const token = await idp.token("ci-bot");
    const unknown = generateApiKey().key;
    const values: Record<string, string> = { "key:tester": gateway.key, "key:other": other.key, "key:expired": expired.key, "key:unknown": unknown, token, session };
    const secrets = Object.values(values);
    const cases = corpus as HostileCredentialCase[];
    assert.ok(cases.length >= 25, "the corpus is loaded");
    for (const entry of cases) {
      const headers = entry.headers.map(([name, value]): [string, string] => [name, value.replace(/\{\{([a-z:]+)\}\}/g, (_, placeholder: string) => values[placeholder]!)]);
      const forwardedBefore = proxy.requests.length;
      const answer = await sendRaw(entry.method, entry.path, headers, entry.body);
      assert.equal(answer.status, entry.status, `${entry.name}: answered ${answer.status} ${answer.error ?? ""}`);
      if (entry.error) assert.equal(answer.error, entry.error, entry.name);
      assert.equal(proxy.requests.length > forwardedBefore, entry.forwarded, `${entry.name}: forwarded to LangGraph`);
      assert.ok(answer.requestId, `${entry.name}: has a request id`);

      const record = await requestRecordOf(answer.requestId);
      assert.equal(record.identity?.subject ?? null, entry.identity, `${entry.name}: recorded identity`);
      if (entry.error) {
        assert.equal(record.status, entry.status, `${entry.name}: recorded status`);
        assert.equal(record.error, entry.error, `${entry.name}: recorded error`);
      }
      if (entry.reason) assert.match(record.decision.reason ?? "", new RegExp(entry.reason), `${entry.name}: recorded reason`);
      if (entry.reasonNot) assert.doesNotMatch(record.decision.reason ?? "", new RegExp(entry.reasonNot), `${entry.name}: recorded reason`);
      const recorded = JSON.stringify(await gateway.recordsFor(answer.requestId));
      for (const secret of secrets) assert.ok(!recorded.includes(secret), `${entry.name}: a credential value is in the record`);
    }
  });
});

describe("a JWKS endpoint that fails", () => {
  test("answering 500, it makes tokens with random kids 503 PC_IDP_UNAVAILABLE, and is asked once per cooldown, not once per token", async () => {
    const before = failingIssuer.fetches;
    const forwardedBefore = proxy.requests.length;
    for (let i = 0; i < 20; i++) {
      const answer = await sendRaw("GET", "/ok", [["Authorization", `Bearer ${await failingIssuer.token(`random-${randomBytes(6).toString("hex")}`)}`]]);
      assert.equal(answer.status, 503, `token ${i}: ${answer.error}`);
      assert.equal(answer.error, "PC_IDP_UNAVAILABLE");
      assert.match(answer.headers, /^retry-after: \d+$/im, "a 503 says when to retry");
      if (i === 0) assert.equal((await requestRecordOf(answer.requestId)).error, "PC_IDP_UNAVAILABLE", "the refusal is recorded");
    }
    // Even a token signed with the issuer's real key cannot be verified while its keys cannot be fetched.
    assert.equal((await sendRaw("GET", "/ok", [["Authorization", `Bearer ${await failingIssuer.token("key-1")}`]])).status, 503);
    assert.equal(failingIssuer.fetches - before, 1, "one JWKS fetch for 21 tokens within one cooldown");
    assert.equal(proxy.requests.length, forwardedBefore, "nothing was forwarded");
  });

  test("keys fetched before the IdP failed keep verifying their tokens; an unknown kid is 503, not a malformed token; the IdP is asked again only after the cooldown", async () => {
    const known = await flakyIssuer.token("key-1");
    assert.equal((await sendRaw("GET", "/ok", [["Authorization", `Bearer ${known}`]])).status, 200);
    assert.equal(flakyIssuer.fetches, 1);

    flakyIssuer.failing = true;
    await new Promise((resolve) => setTimeout(resolve, SHORT_COOLDOWN_MS + 100)); // past the cooldown of the successful fetch
    const started = Date.now();
    for (let i = 0; i < 10; i++) {
      const answer = await sendRaw("GET", "/ok", [["Authorization", `Bearer ${await flakyIssuer.token(`random-${i}`)}`]]);
      assert.equal(answer.status, 503, `unknown kid ${i}: ${answer.error}`);
      assert.equal(answer.error, "PC_IDP_UNAVAILABLE");
    }
    const failedFetches = flakyIssuer.fetches - 1;
    assert.ok(failedFetches >= 1 && failedFetches <= 1 + Math.floor((Date.now() - started) / SHORT_COOLDOWN_MS), `${failedFetches} fetches of a failing JWKS endpoint in ${Date.now() - started} ms`);
    const cached = await sendRaw("GET", "/ok", [["Authorization", `Bearer ${known}`]]);
    assert.equal(cached.status, 200, "a kid from the keys already fetched still verifies");

    // The IdP recovers with a new key: after the cooldown, its first token is verified.
    await flakyIssuer.addKey("key-2");
    flakyIssuer.failing = false;
    await new Promise((resolve) => setTimeout(resolve, SHORT_COOLDOWN_MS + 100));
    const recovered = await sendRaw("GET", "/ok", [["Authorization", `Bearer ${await flakyIssuer.token("key-2")}`]]);
    assert.equal(recovered.status, 200, `after the cooldown: ${recovered.error}`);
    assert.equal((await requestRecordOf(recovered.requestId)).identity?.subject, "oidc:flaky:alice");
  });
});

describe("portcullis keys create", () => {
  const portcullis = (...args: string[]) =>
    promisify(execFile)(process.execPath, ["--import", import.meta.resolve("tsx"), path.resolve("src/cli/main.ts"), "keys", "create", "--id", "ci-bot", ...args]).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: "" }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  test("refuses an --expires-at in the past, as service-accounts create does, and prints no key", async () => {
    const past = await portcullis("--expires-at", "2020-01-01T00:00:00Z");
    assert.equal(past.code, 2, past.stderr);
    assert.match(past.stderr, /--expires-at is in the past/);
    assert.doesNotMatch(past.stdout, /pcsk_/);
    const malformed = await portcullis("--expires-at", "next tuesday");
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /--expires-at: an ISO 8601 instant/);
  });

  test("accepts a future --expires-at and writes it as a UTC instant", async () => {
    const future = await portcullis("--expires-at", "2099-01-01T01:00:00+01:00");
    assert.equal(future.code, 0, future.stderr);
    assert.match(future.stdout, /pcsk_[A-Za-z0-9_-]{43}/);
    assert.match(future.stdout, /expires_at: 2099-01-01T00:00:00\.000Z/);
  });
});
