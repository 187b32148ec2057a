// Several gateways, one PostgreSQL: every piece of gateway state lives in the shared store, so two
// gateway instances (A and B) behave as one. A browser session started on A is valid on B; a sign-in
// begun on A may be answered through B; a SAML assertion used on A is a replay on B; a key revoked
// with the CLI against the shared database is refused by B at its next request; a rate limit and
// the per-requester approval cap hold across both. Real parts: the LangGraph server, PostgreSQL,
// a SAML IdP signing with xml-crypto, the CLI as a separate process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import Database from "better-sqlite3";
import { Client } from "@langchain/langgraph-sdk";
import { parseConfig } from "../../src/config/load.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { openStateFile, postgresStores, stateTables } from "../../src/stateStores.js";
import { storageTarget } from "../../src/storage/index.js";
import { migrateSqlite, SchemaTooNewError } from "../../src/storage/migrations.js";
import { CLI_ARGS } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { startTestSamlIdp, type TestSamlIdp } from "../support/samlIdp.js";
import { startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const run = promisify(execFile);

const SAML_USER = { nameId: "ada@example.com", email: "ada@example.com", displayName: "Ada Lovelace", groups: ["engineering"] };
const RATE_BURST = 4;
const APPROVAL_CAP = 2;

// A rate so slow that no token comes back while the test runs: the count of allowed requests is exact.
const POLICY = `version: 1
rules:
  - id: callers
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create]
  - id: alice-runs-need-approval
    effect: require-approval
    subjects: { service_accounts: [alice] }
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers] }
rate_limits:
  - id: shared-burst
    subjects: { service_accounts: [limited] }
    requests_per_second: 0.001
    burst: ${RATE_BURST}
`;

const alice = generateApiKey();
const limited = generateApiKey();

describe("two gateways sharing their state in PostgreSQL", () => {
  let upstream: Upstream;
  let postgres: TestPostgres;
  let samlIdp: TestSamlIdp;
  let dir: string;
  let a: TestGateway;
  let b: TestGateway;
  let publicUrl: string;
  let configFile: string;
  const urlEnv = `PORTCULLIS_TEST_STATE_PG_${randomBytes(4).toString("hex")}`;
  const schema = `state_${randomBytes(4).toString("hex")}`;

  before(async () => {
    [upstream, postgres, samlIdp] = await Promise.all([startLangGraph(), startPostgres(), startTestSamlIdp({ users: [SAML_USER] })]);
    process.env[urlEnv] = postgres.url;
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-scale-out-state-"));
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    const metadataFile = path.join(dir, "idp-metadata.xml");
    await writeFile(metadataFile, samlIdp.metadataXml);
    const port = await freePort();
    // Both instances answer for one public URL, as behind a balancer; A happens to listen on it.
    publicUrl = `http://127.0.0.1:${port}`;
    const storage = { kind: "postgres" as const, url: { env: urlEnv }, schema };
    const overrides = (name: string, listenPort: number) => ({
      listen: { host: "127.0.0.1", port: listenPort },
      // Each instance its own ledger: only the gateway's state is shared here.
      audit: { store: { kind: "sqlite" as const, file: path.join(dir, `ledger-${name}.db`) }, signing_key_file: path.join(dir, `key-${name}.pem`) },
      storage,
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      approvals: { max_pending_per_requester: APPROVAL_CAP },
      identity: {
        service_accounts: [
          { id: "alice", key_sha256: alice.sha256, groups: ["analysts"] },
          { id: "limited", key_sha256: limited.sha256, groups: ["analysts"] },
        ],
        login: { public_url: publicUrl, saml: [{ id: "corp-saml", idp_metadata_file: metadataFile }] },
      },
    });
    a = await startTestGateway(upstream, overrides("a", port));
    b = await startTestGateway(upstream, overrides("b", 0));
    configFile = path.join(dir, "portcullis.json");
    await writeFile(configFile, JSON.stringify({ upstream: { url: upstream.url }, storage }));
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await Promise.all([upstream?.stop(), samlIdp?.close()]);
    await postgres?.stop();
    delete process.env[urlEnv];
    await rm(dir, { recursive: true, force: true });
  });

  const acsPath = "/auth/saml/corp-saml/acs";
  const audience = () => `${publicUrl}/auth/saml/corp-saml/metadata`;

  /** Starts a SAML sign-in on `gateway`, as the browser would: its AuthnRequest id, RelayState and login cookie. */
  async function startSignIn(gateway: TestGateway): Promise<{ requestId: string; relayState: string; loginCookie: string }> {
    const started = await fetch(`${gateway.url}/auth/login/corp-saml`, { redirect: "manual" });
    assert.equal(started.status, 302);
    const location = new URL(started.headers.get("location")!);
    const request = inflateRawSync(Buffer.from(location.searchParams.get("SAMLRequest")!, "base64")).toString("utf8");
    return {
      requestId: /\bID="([^"]+)"/.exec(request)![1]!,
      relayState: location.searchParams.get("RelayState")!,
      loginCookie: started.headers.get("set-cookie")!.split(";")[0]!,
    };
  }

  async function postResponse(gateway: TestGateway, samlResponse: string, relayState: string): Promise<Response> {
    return fetch(`${gateway.url}${acsPath}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: relayState }),
      redirect: "manual",
    });
  }

  function responseFor(signIn: { requestId: string }, assertionId?: string): string {
    return samlIdp.buildResponse({ user: SAML_USER, acsUrl: `${publicUrl}${acsPath}`, audience: audience(), inResponseTo: signIn.requestId, ...(assertionId ? { assertionId } : {}) });
  }

  const me = (gateway: TestGateway, session: string) => fetch(`${gateway.url}/auth/me`, { headers: { cookie: `portcullis_session=${session}` } });

  test("a sign-in started on A, answered through B and completed on A gives a session that B honours, and a logout on B ends it on A", async () => {
    const signIn = await startSignIn(a);
    const answered = await postResponse(b, responseFor(signIn), signIn.relayState);
    assert.equal(answered.status, 303, await answered.clone().text());
    const completed = await fetch(`${a.url}${answered.headers.get("location")!}`, { redirect: "manual", headers: { cookie: signIn.loginCookie } });
    assert.equal(completed.status, 303);
    const session = completed.headers.getSetCookie().find((cookie) => cookie.startsWith("portcullis_session="))!.split(";")[0]!.slice("portcullis_session=".length);

    const onB = await me(b, session);
    assert.equal(onB.status, 200);
    const whoAmI = (await onB.json()) as { identity: { subject: string }; csrf_token: string; csrf_header: string };
    assert.equal(whoAmI.identity.subject, "saml:corp-saml:ada@example.com");

    const loggedOut = await fetch(`${b.url}/auth/logout`, { method: "POST", headers: { cookie: `portcullis_session=${session}`, [whoAmI.csrf_header]: whoAmI.csrf_token } });
    assert.equal(loggedOut.status, 200);
    const onA = await me(a, session);
    assert.equal(onA.status, 401);
    assert.equal(((await onA.json()) as { error: string }).error, "PC_SESSION_EXPIRED");
  });

  test("a SAML assertion used on A is refused as a replay on B, even inside a sign-in B started", async () => {
    const assertionId = `_shared-${randomBytes(6).toString("hex")}`;
    const first = await startSignIn(a);
    assert.equal((await postResponse(a, responseFor(first, assertionId), first.relayState)).status, 303);

    const second = await startSignIn(b);
    const replayed = await postResponse(b, responseFor(second, assertionId), second.relayState);
    assert.equal(replayed.status, 401);
    const body = (await replayed.json()) as { error: string; message: string };
    assert.equal(body.error, "PC_SAML_REJECTED");
    assert.match(body.message, /already used \(replayed\)/);
  });

  test("a key made and revoked with the CLI against the shared database is refused by both instances at their next request", async () => {
    const cli = (...args: string[]) => run(process.execPath, [...CLI_ARGS, "service-accounts", ...args, "--config", configFile]);
    const created = await cli("create", "--id", "ci-bot", "--groups", "engineering");
    const key = /(pcsk_\S+)/.exec(created.stdout)![1]!;
    const info = (gateway: TestGateway) => fetch(`${gateway.url}/info`, { headers: { "x-api-key": key } });
    assert.equal((await info(a)).status, 200);
    assert.equal((await info(b)).status, 200);

    await cli("revoke", "--id", "ci-bot");
    for (const gateway of [b, a]) {
      const refused = await info(gateway);
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { error: string }).error, "PC_CREDENTIAL_REVOKED");
    }
    const listed = JSON.parse((await cli("list", "--json")).stdout) as Array<{ id: string; status: string; last_used_at: string | null }>;
    const account = listed.find((entry) => entry.id === "ci-bot")!;
    assert.equal(account.status, "revoked");
    assert.ok(account.last_used_at, "last use is recorded in the shared store");
  });

  test(`a rate limit holds across both instances: ${RATE_BURST} requests in total, not ${RATE_BURST} per instance`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < RATE_BURST * 2; i++) {
      const gateway = i % 2 === 0 ? a : b;
      const answer = await fetch(`${gateway.url}/info`, { headers: { "x-api-key": limited.key } });
      await answer.arrayBuffer();
      statuses.push(answer.status);
    }
    assert.deepEqual(statuses, [...Array(RATE_BURST).fill(200), ...Array(RATE_BURST).fill(429)]);
  });

  test(`the per-requester approval cap (${APPROVAL_CAP}) holds across instances when requests race`, async () => {
    const thread = await new Client({ apiUrl: a.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } }).threads.create();
    const ask = (gateway: TestGateway) =>
      fetch(`${gateway.url}/threads/${thread.thread_id}/runs`, {
        method: "POST",
        headers: { "x-api-key": alice.key, "content-type": "application/json", prefer: "respond-async" },
        body: JSON.stringify({ assistant_id: "agent", input: { messages: [{ role: "user", content: "hi" }] } }),
      }).then(async (answer) => ({ status: answer.status, body: (await answer.json()) as { error?: string } }));
    const answers = await Promise.all([ask(a), ask(b), ask(a), ask(b), ask(a), ask(b)]);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [...Array(APPROVAL_CAP).fill(202), ...Array(6 - APPROVAL_CAP).fill(429)], JSON.stringify(answers));
    assert.ok(answers.filter((answer) => answer.status === 429).every((answer) => answer.body.error === "PC_RATE_LIMITED"));
  });
});

describe("choosing and migrating the state store", () => {
  const base = { upstream: { url: "http://127.0.0.1:1" } };

  test("storage follows a PostgreSQL ledger unless told otherwise, and stays SQLite beside a SQLite ledger", () => {
    const ledger = { store: { kind: "postgres" as const, url: { env: "LEDGER_URL" }, schema: "audit_log" } };
    assert.deepEqual(storageTarget(parseConfig({ ...base, audit: ledger })), { kind: "postgres", url: { env: "LEDGER_URL" }, schema: "audit_log", urlField: "audit.store.url" });
    assert.equal(storageTarget(parseConfig({ ...base, audit: ledger, storage: { kind: "sqlite", sqlite_file: "/tmp/s.db" } })).kind, "sqlite");
    assert.deepEqual(storageTarget(parseConfig({ ...base, storage: { kind: "postgres", url: { env: "STATE_URL" } } })), { kind: "postgres", url: { env: "STATE_URL" }, schema: "portcullis", urlField: "storage.url" });
    assert.deepEqual(storageTarget(parseConfig({ ...base, storage: { sqlite_file: "/tmp/s.db" } })), { kind: "sqlite", file: "/tmp/s.db" });
  });

  test("storage on PostgreSQL with no URL to use is refused with what to set", () => {
    assert.throws(() => storageTarget(parseConfig({ ...base, storage: { kind: "postgres" } })), /storage\.url/);
  });

  test("a state database written before versioned components is adopted with its rows", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-state-legacy-"));
    try {
      const file = path.join(dir, "state.db");
      const legacy = new Database(file);
      // The tables and user_version of the single migration list this replaces.
      legacy.exec(`CREATE TABLE service_accounts (id TEXT PRIMARY KEY, key_sha256 TEXT NOT NULL UNIQUE, owner TEXT, groups_json TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT, expires_at TEXT, revoked_at TEXT, revoked_by TEXT, last_used_at TEXT);
        INSERT INTO service_accounts (id, key_sha256, groups_json, created_at) VALUES ('old-bot', 'abc', '["ci"]', '2026-01-01T00:00:00.000Z');
        PRAGMA user_version = 1;`);
      legacy.close();
      const db = openStateFile(file);
      const versions = db.prepare("SELECT component, version FROM state_migrations ORDER BY component").all() as Array<{ component: string; version: number }>;
      assert.deepEqual(versions.map((row) => row.component), ["approvals", "browser_sessions", "rate_limit_buckets", "service_accounts", "sign_ins", "vault"]);
      assert.deepEqual(db.prepare("SELECT id FROM service_accounts").all(), [{ id: "old-bot" }]);
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a state database from a newer Portcullis is refused, not guessed at", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE state_migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL); INSERT INTO state_migrations VALUES ('sign_ins', 99);");
    assert.throws(() => migrateSqlite(db, stateTables()), (error: unknown) => error instanceof SchemaTooNewError && /sign_ins.*schema 99/.test(error.message));
    db.close();
  });

  test("instances migrating one PostgreSQL schema at once apply each migration once", async () => {
    const postgres = await startPostgres();
    try {
      const schema = `state_${randomBytes(4).toString("hex")}`;
      const opened = await Promise.all([0, 1, 2].map(() => postgresStores({ url: postgres.url, schema })));
      const key = generateApiKey();
      await opened[0]!.serviceAccounts.create({ id: "shared", key_sha256: key.sha256, groups: [] });
      assert.equal((await opened[2]!.serviceAccounts.findByKeyHash(key.sha256))?.id, "shared");
      await Promise.all(opened.map((stores) => stores.close()));
    } finally {
      await postgres.stop();
    }
  });
});
