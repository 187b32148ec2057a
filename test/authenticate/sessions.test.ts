// Browser sessions and sign-in transactions on both state stores (SQLite, and a real PostgreSQL),
// with a controlled clock: idle and absolute lifetimes, one-time completion, browser binding, SAML
// replay ids, and what is stored.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { cookieNames, setCookie } from "../../src/authenticate/cookies.js";
import { LoginTransactions } from "../../src/authenticate/loginTransactions.js";
import { parseConfig } from "../../src/config/load.js";
import { corsHeaders } from "../../src/receive/cors.js";
import { BrowserSessions } from "../../src/authenticate/sessions.js";
import { recordedSignInQuery, safeReturnTo } from "../../src/authenticate/signIn.js";
import { checkCsrf } from "../../src/authenticate/csrf.js";
import type { Identity } from "../../src/identify/identity.js";
import type { StateStores } from "../../src/stateStores.js";
import { postgresDialect, sqliteDialect, type StateDialect } from "../support/stateStores.js";

const person: Identity = { subject: "oidc:corp:ada", kind: "oidc", groups: ["analysts"], auth_method: "browser-session", credential_id: "", name: "Ada" };

function clock(start = Date.parse("2026-11-22T09:00:00Z")) {
  const state = { now: start };
  return { now: () => state.now, advance: (ms: number) => (state.now += ms) };
}

const dialects: StateDialect[] = [sqliteDialect()];
const opened: StateStores[] = [];
before(async () => {
  dialects.push(await postgresDialect());
});
after(async () => {
  for (const stores of opened) await stores.close();
  for (const dialect of dialects) await dialect.stop();
});

async function storesOf(dialect: StateDialect): Promise<StateStores> {
  const stores = await dialect.open();
  opened.push(stores);
  return stores;
}

for (const dialectName of ["sqlite", "postgres"] as const) {
  const dialect = () => dialects.find((candidate) => candidate.name === dialectName)!;

  describe(`browser sessions (${dialectName})`, () => {
    test("a session survives activity within the idle timeout and ends after it", async () => {
      const time = clock();
      const sessions = new BrowserSessions((await storesOf(dialect())).sessions, { idleTimeoutS: 600, absoluteTimeoutS: 3600 }, time.now);
      const { secret } = await sessions.create(person, "corp");
      time.advance(590_000);
      assert.equal((await sessions.resume(secret)).identity.subject, "oidc:corp:ada");
      time.advance(590_000); // 1180 s after sign-in, 590 s after last use
      assert.equal((await sessions.resume(secret)).identity.subject, "oidc:corp:ada");
      time.advance(601_000);
      await assert.rejects(sessions.resume(secret), /idle too long/);
      await assert.rejects(sessions.resume(secret), /unknown or has ended/, "an ended session is gone for good");
    });

    test("a session ends at its absolute lifetime however active it is", async () => {
      const time = clock();
      const sessions = new BrowserSessions((await storesOf(dialect())).sessions, { idleTimeoutS: 600, absoluteTimeoutS: 1800 }, time.now);
      const { secret } = await sessions.create(person, "corp");
      for (let i = 0; i < 5; i++) {
        time.advance(300_000);
        await sessions.resume(secret);
      }
      time.advance(300_001);
      await assert.rejects(sessions.resume(secret), /maximum lifetime/);
    });

    test("the store holds only a hash of the cookie value; each session has its own CSRF token", async () => {
      const stores = await storesOf(dialect());
      const sessions = new BrowserSessions(stores.sessions, { idleTimeoutS: 600, absoluteTimeoutS: 3600 });
      const first = await sessions.create(person, "corp");
      const second = await sessions.create(person, "corp");
      const row = await stores.sessions.get(createHash("sha256").update(first.secret).digest("hex"));
      assert.ok(row, "the row is keyed by the secret's SHA-256");
      assert.equal(JSON.stringify(row).includes(first.secret), false);
      assert.notEqual(first.session.csrfToken, second.session.csrfToken);
      assert.equal(first.session.identity.auth_method, "browser-session");
      assert.equal((await sessions.end(first.secret))?.identity.subject, "oidc:corp:ada");
      await assert.rejects(sessions.resume(first.secret), /ended/);
      assert.equal((await sessions.resume(second.secret)).identity.subject, "oidc:corp:ada", "logout ends only that session");
    });
  });

  describe(`sign-in transactions (${dialectName})`, () => {
    test("complete once, only with the browser binding, and not after ten minutes", async () => {
      const time = clock();
      const logins = new LoginTransactions((await storesOf(dialect())).signIns, time.now);
      const { id, browserBinding } = await logins.begin("corp", { returnTo: "/console/" });
      await assert.rejects(logins.complete(id, "corp", "someone-elses-cookie"), /another browser/);
      const again = await logins.begin("corp", { returnTo: "/console/" });
      await assert.rejects(logins.complete(again.id, "other-provider", again.browserBinding), /unknown/);
      assert.deepEqual(await logins.complete(again.id, "corp", again.browserBinding), { returnTo: "/console/" });
      await assert.rejects(logins.complete(again.id, "corp", again.browserBinding), /already completed/);
      await assert.rejects(logins.complete(id, "corp", browserBinding), /already completed/, "a failed attempt used it up");
      const late = await logins.begin("corp", {});
      time.advance(10 * 60_000 + 1);
      await assert.rejects(logins.complete(late.id, "corp", late.browserBinding), /expired/);
    });

    test("two completions racing for one sign-in: exactly one wins", async () => {
      const logins = new LoginTransactions((await storesOf(dialect())).signIns);
      const { id, browserBinding } = await logins.begin("corp", { returnTo: "/console/" });
      const outcomes = await Promise.allSettled([logins.complete(id, "corp", browserBinding), logins.complete(id, "corp", browserBinding)]);
      assert.deepEqual(outcomes.map((outcome) => outcome.status).sort(), ["fulfilled", "rejected"]);
    });
  });

  describe(`sign-ins in flight are capped (${dialectName})`, () => {
    test("past the cap a new sign-in gets 503 until old ones expire", async () => {
      const time = clock();
      const logins = new LoginTransactions((await storesOf(dialect())).signIns, time.now, 3);
      for (let i = 0; i < 3; i++) await logins.begin("corp", {});
      await assert.rejects(logins.begin("corp", {}), (error: { status: number; code: string }) => error.status === 503 && error.code === "PC_SIGN_IN_BUSY");
      time.advance(10 * 60_000 + 1);
      await logins.begin("corp", {});
    });
  });

  describe(`SAML assertion ids (${dialectName})`, () => {
    test("an assertion id is accepted once per provider until it may be forgotten", async () => {
      const { signIns } = await storesOf(dialect());
      const now = Date.now();
      assert.equal(await signIns.rememberSamlAssertion("corp", "_a1", now + 60_000, now), true);
      assert.equal(await signIns.rememberSamlAssertion("corp", "_a1", now + 60_000, now), false, "a replay is refused");
      assert.equal(await signIns.rememberSamlAssertion("other", "_a1", now + 60_000, now), true, "ids are per identity provider");
      assert.equal(await signIns.rememberSamlAssertion("corp", "_a1", now + 200_000, now + 60_000), true, "forgotten once it could no longer be accepted anyway");
    });
  });
}

describe("what the audit record keeps of sign-in URLs", () => {
  test("codes, states and sign-in ids are redacted; return_to and error are kept", () => {
    assert.equal(recordedSignInQuery("?code=SECRETCODE&state=SECRETSTATE&iss=x"), "?code=%5Bredacted%5D&state=%5Bredacted%5D&iss=%5Bredacted%5D");
    assert.equal(recordedSignInQuery("?return_to=%2Fconsole%2F&error=access_denied"), "?return_to=%2Fconsole%2F&error=access_denied");
    assert.equal(recordedSignInQuery(""), "");
  });
});

describe("cookies and CORS for cross-site sessions (LangGraph Studio)", () => {
  test("over https the session cookie is __Host-, Secure; SameSite=None only when cross_site is on", () => {
    const sameSite = cookieNames("https://gw.example");
    assert.match(setCookie(sameSite, sameSite.session, "v", 60), /^__Host-portcullis_session=v; Max-Age=60; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    const crossSite = cookieNames("https://gw.example", true);
    assert.match(setCookie(crossSite, crossSite.session, "v", 60), /SameSite=None/);
    assert.match(setCookie(crossSite, crossSite.login, "v", 60), /SameSite=Lax/, "the sign-in cookie stays Lax");
    assert.match(setCookie(cookieNames("http://127.0.0.1:8080", true), "portcullis_session", "v", 60), /SameSite=Lax/, "never None without Secure");
  });

  test("credentialed CORS only for allowed origins and only when cross_site is on", () => {
    const req = (origin: string) => ({ headers: { origin } }) as never;
    const settings = { allowOrigins: ["https://smith.langchain.com"], allowPrivateNetwork: false, maxAgeS: 600 };
    assert.equal(corsHeaders(req("https://smith.langchain.com"), settings)["access-control-allow-credentials"], undefined);
    assert.equal(corsHeaders(req("https://smith.langchain.com"), { ...settings, allowCredentials: true })["access-control-allow-credentials"], "true");
    assert.deepEqual(corsHeaders(req("https://evil.example"), { ...settings, allowCredentials: true }), {});
  });

  test("cross_site needs an https public_url", () => {
    const login = (publicUrl: string) => ({
      upstream: { url: "http://x" },
      identity: { login: { public_url: publicUrl, session: { cross_site: true }, oidc: [{ id: "corp", issuer: "https://idp.example", client_id: "c" }] } },
    });
    assert.throws(() => parseConfig(login("http://gw.example")), /cross_site needs an https public_url/);
    assert.equal(parseConfig(login("https://gw.example")).identity.login?.session.cross_site, true);
  });
});

describe("redirects after sign-in", () => {
  test("only paths on the gateway are followed; anything else goes to the console", () => {
    const base = "https://gw.example";
    assert.equal(safeReturnTo("/threads?x=1", base), "/threads?x=1");
    for (const hostile of ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "", null, "/%2F%2Fevil.example", "/.//evil.example", "/..//evil.example", "/%2e//evil.example", "/./%2e//evil.example"]) {
      const target = safeReturnTo(hostile, base);
      assert.ok(target.startsWith("/") && !target.startsWith("//"), `${String(hostile)} -> ${target}`);
      assert.equal(new URL(target, base).origin, base);
    }
  });
});

describe("CSRF check for cookie-authenticated requests", () => {
  const request = (method: string, headers: Record<string, string> = {}) => ({ method, headers });
  test("safe methods pass; unsafe ones need the token or a trusted origin", () => {
    assert.doesNotThrow(() => checkCsrf(request("GET"), "tok", []));
    assert.throws(() => checkCsrf(request("POST"), "tok", ["https://gw.example"]), /CSRF/);
    assert.throws(() => checkCsrf(request("DELETE", { origin: "https://evil.example" }), "tok", ["https://gw.example"]), /CSRF/);
    assert.throws(() => checkCsrf(request("PATCH", { "portcullis-csrf": "tok2" }), "tok", []), /CSRF/);
    assert.throws(() => checkCsrf(request("POST", { origin: "null" }), "tok", ["https://gw.example"]), /CSRF/);
    assert.doesNotThrow(() => checkCsrf(request("POST", { "portcullis-csrf": "tok" }), "tok", []));
    assert.doesNotThrow(() => checkCsrf(request("PUT", { origin: "https://gw.example" }), "tok", ["https://gw.example"]));
  });
});
