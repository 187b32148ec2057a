// People signing in through a browser: OIDC (authorization code + PKCE, against a real
// oidc-provider) and SAML 2.0 (real signed assertions), driven in headless Chromium; the session
// then calls the real LangGraph server through the gateway, with CSRF protection. Every hostile
// SAML response is refused and recorded with its reason.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { inflateRawSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import { launchChromium } from "../support/browser.js";
import { freePort } from "../support/ports.js";
import { foreignSigningKey, startTestSamlIdp, type ResponseOptions, type TestSamlIdp } from "../support/samlIdp.js";
import { startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const SAML_USER = { nameId: "grace@example.com", email: "grace@example.com", displayName: "Grace Hopper", groups: ["approvers", "engineering"] };

let publicUrl: string;
let oidcIdp: DevIdp;
let samlIdp: TestSamlIdp;
let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
let gateway: TestGateway;
let browser: Browser;
let dir: string;

before(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-login-"));
  [oidcIdp, samlIdp, langgraph, browser] = await Promise.all([
    startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp-oidc`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
    startTestSamlIdp({ users: [SAML_USER] }),
    startLangGraph(),
    launchChromium(),
  ]);
  const metadataFile = path.join(dir, "idp-metadata.xml");
  await writeFile(metadataFile, samlIdp.metadataXml);
  process.env.PORTCULLIS_TEST_LOGIN_SECRET = oidcIdp.login.clientSecret;
  gateway = await startTestGateway(langgraph, {
    listen: { host: "127.0.0.1", port },
    identity: {
      login: {
        public_url: publicUrl,
        oidc: [
          {
            id: "corp-oidc",
            display_name: "Corp OIDC",
            issuer: oidcIdp.issuer,
            client_id: oidcIdp.login.clientId,
            client_secret: { env: "PORTCULLIS_TEST_LOGIN_SECRET" },
          },
        ],
        saml: [{ id: "corp-saml", display_name: "Corp SAML", idp_metadata_file: metadataFile }],
      },
    },
  });
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await Promise.all([oidcIdp?.close(), samlIdp?.close(), langgraph?.stop()]);
  await rm(dir, { recursive: true, force: true });
  delete process.env.PORTCULLIS_TEST_LOGIN_SECRET;
});

async function requestRecord(requestId: string) {
  const record = (await gateway.recordsFor(requestId)).find((r) => r.type === "request");
  assert.ok(record && record.type === "request", `a request record for ${requestId}`);
  return record;
}

describe("OIDC sign-in in Chromium", () => {
  let sessionCookie: string;
  let csrfToken: string;

  test("a person signs in with the authorization code flow and the console names them and their groups", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${publicUrl}/console/`);
    await page.getByRole("link", { name: "Sign in with Corp OIDC" }).click();
    await page.waitForURL((url) => url.origin === oidcIdp.issuer);
    await page.fill('input[name="login"]', "approver");
    await page.fill('input[name="password"]', "any password");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${publicUrl}/console/`);
    assert.equal(await page.getByTestId("subject").textContent(), "oidc:corp-oidc:approver");
    assert.equal(await page.getByTestId("groups").textContent(), "approvers");

    const cookie = (await context.cookies(publicUrl)).find((c) => c.name === "portcullis_session");
    assert.ok(cookie, "a session cookie was set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal((await context.cookies(publicUrl)).some((c) => c.name === "portcullis_login"), false, "the sign-in cookie is cleared");
    sessionCookie = `${cookie.name}=${cookie.value}`;

    // The page, same-origin, creates a thread on the real LangGraph server with its CSRF token.
    const created = await page.evaluate(async () => {
      const me = (await (await fetch("/auth/me")).json()) as { csrf_token: string; csrf_header: string };
      const response = await fetch("/threads", { method: "POST", headers: { "content-type": "application/json", [me.csrf_header]: me.csrf_token }, body: "{}" });
      return { status: response.status, body: (await response.json()) as { thread_id?: string }, requestId: response.headers.get("x-request-id")!, csrf: me.csrf_token };
    });
    assert.equal(created.status, 200);
    assert.ok(created.body.thread_id);
    csrfToken = created.csrf;
    const record = await requestRecord(created.requestId);
    assert.equal(record.identity?.subject, "oidc:corp-oidc:approver");
    assert.equal(record.identity?.auth_method, "browser-session");
    await context.close();
  });

  test("a cookie-authenticated write needs the CSRF token or a trusted Origin; reads do not", async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${gateway.url}/threads`, { method: "POST", headers: { cookie: sessionCookie, "content-type": "application/json", ...headers }, body: "{}" });
    const upstreamThreadsBefore = (await (await fetch(`${langgraph.url}/threads/search`, { method: "POST", headers: { "x-api-key": langgraph.key, "content-type": "application/json" }, body: "{}" })).json()) as unknown[];

    const bare = await post({});
    assert.equal(bare.status, 403);
    assert.equal(((await bare.json()) as { error: string }).error, "PC_CSRF");
    const foreign = await post({ origin: "https://evil.example" });
    assert.equal(foreign.status, 403);
    const wrongToken = await post({ "portcullis-csrf": "not-the-token" });
    assert.equal(wrongToken.status, 403);
    const upstreamThreadsAfter = (await (await fetch(`${langgraph.url}/threads/search`, { method: "POST", headers: { "x-api-key": langgraph.key, "content-type": "application/json" }, body: "{}" })).json()) as unknown[];
    assert.equal(upstreamThreadsAfter.length, upstreamThreadsBefore.length, "no refused write reached LangGraph");
    const refusal = await requestRecord(bare.headers.get("x-request-id")!);
    assert.equal(refusal.error, "PC_CSRF");
    assert.equal(refusal.identity?.subject, "oidc:corp-oidc:approver", "the refusal names whose session it was");

    // A GET that changes state (a join stream that cancels the run when the client leaves) needs the proof too.
    const cancellingJoin = await fetch(
      `${gateway.url}/threads/${crypto.randomUUID()}/runs/${crypto.randomUUID()}/stream?cancel_on_disconnect=true`,
      { headers: { cookie: sessionCookie } },
    );
    assert.equal(cancellingJoin.status, 403);
    assert.equal(((await cancellingJoin.json()) as { error: string }).error, "PC_CSRF");

    assert.equal((await post({ "portcullis-csrf": csrfToken })).status, 200);
    assert.equal((await post({ origin: publicUrl })).status, 200, "the gateway's own origin is trusted");
    const read = await fetch(`${gateway.url}/assistants/search?limit=1`, { method: "GET", headers: { cookie: sessionCookie } });
    assert.notEqual(read.status, 403);
  });

  test("signing out ends the session at the gateway and at the IdP", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${publicUrl}/auth/login/corp-oidc`);
    await page.fill('input[name="login"]', "auditor");
    await page.fill('input[name="password"]', "x");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${publicUrl}/console/`);
    const cookie = (await context.cookies(publicUrl)).find((c) => c.name === "portcullis_session")!;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${publicUrl}/auth/logout/done**`);
    assert.match((await page.textContent("h1")) ?? "", /Signed out/);
    const me = await fetch(`${gateway.url}/auth/me`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(me.status, 401, "the old cookie no longer works");
    // The IdP session ended too: signing in again asks for the login form.
    await page.goto(`${publicUrl}/auth/login/corp-oidc`);
    await page.waitForURL((url) => url.origin === oidcIdp.issuer);
    assert.equal(await page.locator('input[name="login"]').count(), 1);
    await context.close();
  });

  test("an unknown user at the IdP gets no session", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${publicUrl}/auth/login/corp-oidc`);
    await page.fill('input[name="login"]', "mallory");
    await page.fill('input[name="password"]', "x");
    await page.click('button[type="submit"]');
    assert.notEqual(new URL(page.url()).origin, publicUrl);
    assert.equal((await context.cookies(publicUrl)).some((c) => c.name === "portcullis_session"), false);
    await context.close();
  });

  test("a callback with a forged state, or in a browser that did not start the sign-in, is refused and recorded", async () => {
    const forged = await fetch(`${gateway.url}/auth/callback/corp-oidc?code=secret-code-value&state=forged`, { redirect: "manual" });
    assert.equal(forged.status, 401);
    const record = await requestRecord(forged.headers.get("x-request-id")!);
    assert.equal(record.error, "PC_LOGIN_FAILED");
    assert.equal(JSON.stringify(record).includes("secret-code-value"), false, "the authorization code is not kept in the record");

    const started = await fetch(`${gateway.url}/auth/login/corp-oidc`, { redirect: "manual" });
    const state = new URL(started.headers.get("location")!).searchParams.get("state")!;
    const elsewhere = await fetch(`${gateway.url}/auth/callback/corp-oidc?code=abc&state=${state}`, { redirect: "manual" });
    assert.equal(elsewhere.status, 401);
    assert.match(((await elsewhere.json()) as { message: string }).message, /another browser/);
  });
});

describe("SAML sign-in", () => {
  test("in Chromium: the IdP posts a signed assertion and the console names the person and their groups", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${publicUrl}/auth/login?return_to=/console/`);
    await page.getByRole("link", { name: "Sign in with Corp SAML" }).click();
    await page.waitForURL(`${publicUrl}/console/`);
    assert.equal(await page.getByTestId("subject").textContent(), "saml:corp-saml:grace@example.com");
    assert.equal(await page.getByTestId("groups").textContent(), "approvers, engineering");
    assert.equal(await page.getByTestId("name").textContent(), "Grace Hopper");
    assert.equal(samlIdp.requests.at(-1)?.issuer, `${publicUrl}/auth/saml/corp-saml/metadata`, "the AuthnRequest names this gateway");
    await context.close();
  });

  /** Starts a sign-in as a browser would, without following the redirect to the IdP. */
  async function startSamlSignIn() {
    const response = await fetch(`${gateway.url}/auth/login/corp-saml`, { redirect: "manual" });
    const location = new URL(response.headers.get("location")!);
    const requestXml = inflateRawSync(Buffer.from(location.searchParams.get("SAMLRequest")!, "base64")).toString("utf8");
    return {
      requestId: /\bID="([^"]+)"/.exec(requestXml)![1]!,
      relayState: location.searchParams.get("RelayState")!,
      loginCookie: response.headers.get("set-cookie")!.split(";")[0]!,
    };
  }

  const acsUrl = () => `${publicUrl}/auth/saml/corp-saml/acs`;
  const audience = () => `${publicUrl}/auth/saml/corp-saml/metadata`;

  async function post(samlResponse: string, relayState?: string) {
    const form = new URLSearchParams({ SAMLResponse: samlResponse, ...(relayState ? { RelayState: relayState } : {}) });
    const response = await fetch(acsUrl(), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: form, redirect: "manual" });
    const body = response.status >= 400 ? ((await response.json()) as { error: string; message: string }) : undefined;
    return { status: response.status, body, location: response.headers.get("location"), requestId: response.headers.get("x-request-id")! };
  }

  const responseFor = (signIn: { requestId: string }, overrides: Partial<ResponseOptions> = {}): ResponseOptions => ({
    user: SAML_USER,
    acsUrl: acsUrl(),
    audience: audience(),
    inResponseTo: signIn.requestId,
    ...overrides,
  });

  test("a good response completes only in the browser that started the sign-in", async () => {
    const signIn = await startSamlSignIn();
    const accepted = await post(samlIdp.buildResponse(responseFor(signIn)), signIn.relayState);
    assert.equal(accepted.status, 303);
    const elsewhere = await fetch(new URL(accepted.location!, publicUrl), { redirect: "manual" });
    assert.equal(elsewhere.status, 401, "no login cookie, no session");

    const again = await startSamlSignIn();
    const acceptedAgain = await post(samlIdp.buildResponse(responseFor(again)), again.relayState);
    const completed = await fetch(new URL(acceptedAgain.location!, publicUrl), { redirect: "manual", headers: { cookie: again.loginCookie } });
    assert.equal(completed.status, 303);
    assert.equal(completed.headers.get("location"), "/console/");
    const session = completed.headers.getSetCookie().find((c) => c.startsWith("portcullis_session="))!.split(";")[0]!;
    const me = (await (await fetch(`${gateway.url}/auth/me`, { headers: { cookie: session } })).json()) as { identity: { subject: string; groups: string[] } };
    assert.equal(me.identity.subject, "saml:corp-saml:grace@example.com");
    assert.deepEqual(me.identity.groups, ["approvers", "engineering"]);
  });

  const hostile: Array<[string, (signIn: { requestId: string }) => Promise<string> | string]> = [
    ["an unsigned assertion", (s) => samlIdp.buildResponse(responseFor(s, { sign: "none" }))],
    ["a signature by another key", async (s) => samlIdp.buildResponse(responseFor(s, { signingKey: await foreignSigningKey() }))],
    ["a signed response whose assertion is not signed", (s) => samlIdp.buildResponse(responseFor(s, { sign: "response" }))],
    ["the wrong audience", (s) => samlIdp.buildResponse(responseFor(s, { audience: "https://other-sp.example/metadata" }))],
    ["expired conditions", (s) => samlIdp.buildResponse(responseFor(s, { notOnOrAfter: new Date(Date.now() - 10 * 60_000), issueInstant: new Date(Date.now() - 15 * 60_000) }))],
    ["conditions not yet valid", (s) => samlIdp.buildResponse(responseFor(s, { notBefore: new Date(Date.now() + 10 * 60_000) }))],
    ["an assertion issued too long ago", (s) => samlIdp.buildResponse(responseFor(s, { issueInstant: new Date(Date.now() - 60 * 60_000) }))],
    ["another recipient (ACS URL)", (s) => samlIdp.buildResponse(responseFor(s, { acsUrl: "https://other-sp.example/acs" }))],
    ["another issuer, signed with the real key", (s) => samlIdp.buildResponse(responseFor(s, { issuer: "https://evil.example/idp" }))],
    ["an answer to a request this gateway never made", (s) => samlIdp.buildResponse(responseFor(s, { inResponseTo: "_never-requested" }))],
    [
      "a group added after signing",
      (s) => Buffer.from(samlIdp.buildResponseXml(responseFor(s)).replace(">engineering<", ">admins<")).toString("base64"),
    ],
    [
      // An IdP-initiated assertion (answering nothing) wrapped in an unsigned Response that claims to answer our request.
      "an unsolicited assertion wrapped in a response claiming to answer this sign-in",
      (s) =>
        Buffer.from(
          samlIdp.buildResponseXml(responseFor(s, { inResponseTo: undefined })).replace("<samlp:Response ", `<samlp:Response InResponseTo="${s.requestId}" `),
        ).toString("base64"),
    ],
    ["a failure status", (s) => samlIdp.buildResponse(responseFor(s, { status: "urn:oasis:names:tc:SAML:2.0:status:Responder" }))],
  ];
  for (const [name, build] of hostile) {
    test(`refuses ${name}, records the reason, and starts no session`, async () => {
      const signIn = await startSamlSignIn();
      const refused = await post(await build(signIn), signIn.relayState);
      assert.equal(refused.status, 401, JSON.stringify(refused.body));
      assert.equal(refused.body?.error, "PC_SAML_REJECTED");
      const record = await requestRecord(refused.requestId);
      assert.equal(record.error, "PC_SAML_REJECTED");
      assert.match(record.decision.reason ?? "", /Sign-in failed/);
      const complete = await fetch(`${publicUrl}/auth/saml/corp-saml/complete?login=${encodeURIComponent(signIn.relayState)}`, { redirect: "manual", headers: { cookie: signIn.loginCookie } });
      assert.equal(complete.status, 401, "the sign-in cannot be completed");
    });
  }

  test("a captured response replayed is refused, and so is its assertion inside a new sign-in", async () => {
    const signIn = await startSamlSignIn();
    const assertionId = `_replay-${Date.now()}`;
    const response = samlIdp.buildResponse(responseFor(signIn, { assertionId }));
    assert.equal((await post(response, signIn.relayState)).status, 303);
    const replayed = await post(response, signIn.relayState);
    assert.equal(replayed.status, 401);

    // Same assertion id answering a fresh, genuine request: only the assertion-id memory stops it.
    const fresh = await startSamlSignIn();
    const sameAssertion = await post(samlIdp.buildResponse(responseFor(fresh, { assertionId })), fresh.relayState);
    assert.equal(sameAssertion.status, 401);
    assert.match(sameAssertion.body?.message ?? "", /already used/);
  });

  test("an unsolicited (IdP-initiated) response is refused", async () => {
    const signIn = await startSamlSignIn();
    const refused = await post(samlIdp.buildResponse(responseFor(signIn)));
    assert.equal(refused.status, 401);
    assert.equal(refused.body?.error, "PC_LOGIN_FAILED");
  });

  test("a broken or oversized form is refused with a clear error", async () => {
    const signIn = await startSamlSignIn();
    assert.equal((await post("not base64 at all <xml>", signIn.relayState)).status, 401);
    const huge = await fetch(acsUrl(), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `RelayState=${signIn.relayState}&SAMLResponse=${"A".repeat(600 * 1024)}`,
    });
    assert.equal(huge.status, 413);
    const json = await fetch(acsUrl(), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(json.status, 415);
  });

  test("the service provider metadata names the ACS URL and entity id", async () => {
    const response = await fetch(`${publicUrl}/auth/saml/corp-saml/metadata`);
    assert.equal(response.status, 200);
    const xml = await response.text();
    assert.match(xml, new RegExp(`entityID="${audience().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`));
    assert.ok(xml.includes(`Location="${acsUrl()}"`));
  });
});
