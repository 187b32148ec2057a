// The console end to end in Debian's Chromium: people sign in through a real OIDC provider,
// the analyst runs graphs through the gateway with the official SDK, an auditor finds and
// replays the session with its ledger proof, an approver lets a held run continue from the
// inbox (the SDK's stream goes on), and an evidence bundle downloaded from the audit page passes
// the bundled verifier. Screenshots land in test/.screenshots/ to be looked at.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import type { AccessRecord } from "../../src/record/auditRecord.js";
import { launchChromium } from "../support/browser.js";
import { freePort } from "../support/ports.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const run = promisify(execFile);
const SCREENSHOTS = fileURLToPath(new URL("../.screenshots/", import.meta.url));

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create, runs:resume, runs:cancel]
  - id: agent-runs-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { graphs: [agent] }
    approval: { approver_groups: [approvers], max_window_s: 3600 }
  - id: auditors-read-everything
    effect: allow
    subjects: { groups: [auditors] }
    actions: [threads:read, state:read, runs:read]
    scope: any
`;

let publicUrl: string;
let idp: DevIdp;
let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
let gateway: TestGateway;
let browser: Browser;
let dir: string;
let analyst: Client;

before(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-console-"));
  await mkdir(SCREENSHOTS, { recursive: true });
  [idp, langgraph, browser] = await Promise.all([
    startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
    startLangGraph(),
    launchChromium(),
  ]);
  const policyFile = path.join(dir, "policy.yaml");
  await writeFile(policyFile, POLICY);
  process.env.PORTCULLIS_TEST_CONSOLE_SECRET = idp.login.clientSecret;
  gateway = await startTestGateway(langgraph, {
    listen: { host: "127.0.0.1", port },
    policy: { file: policyFile, watch: false },
    identity: {
      // One id for bearer tokens and browser sign-in: the same person, one subject (oidc:corp:<user>).
      oidc: { issuers: [{ id: "corp", issuer: idp.issuer, audiences: [idp.apiAudience] }] },
      login: {
        public_url: publicUrl,
        oidc: [{ id: "corp", display_name: "Corp", issuer: idp.issuer, client_id: idp.login.clientId, client_secret: { env: "PORTCULLIS_TEST_CONSOLE_SECRET" } }],
      },
    },
  });
  analyst = new Client({ apiUrl: gateway.url, defaultHeaders: { authorization: `Bearer ${await idp.mintUserToken("analyst")}` }, callerOptions: { maxRetries: 0 } });
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await Promise.all([idp?.close(), langgraph?.stop()]);
  await rm(dir, { recursive: true, force: true });
  delete process.env.PORTCULLIS_TEST_CONSOLE_SECRET;
});

/** A browser signed in as `user` through the IdP's login form, on `path`. */
async function signedIn(user: string, pathname: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && message.text().includes("Content Security Policy") && errors.push(message.text()));
  await page.goto(`${publicUrl}${pathname}`);
  await page.waitForURL((url) => url.origin === idp.issuer);
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', "any password");
  await page.click('button[type="submit"]');
  await page.waitForURL((url) => url.origin === publicUrl && url.pathname === pathname);
  context.on("close", () => assert.deepEqual(errors, [], "no script errors or CSP violations"));
  return { context, page };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function accessRecords(): Promise<AccessRecord[]> {
  return (await gateway.audit()).filter((record): record is AccessRecord => record.type === "access");
}

describe("the console in Chromium", () => {
  let toolsThread: string;

  test("an auditor signs in, finds the analyst's run by graph and user, and replays it node by node with its ledger proof", async () => {
    toolsThread = (await analyst.threads.create()).thread_id;
    const streamed: string[] = [];
    for await (const chunk of analyst.runs.stream(toolsThread, "tools", { input: { messages: [{ role: "user", content: "mail bob; I am alice@example.com" }] }, streamMode: ["updates"] })) streamed.push(chunk.event);
    assert.deepEqual(streamed, ["metadata", "updates", "updates", "updates"]);

    const { context, page } = await signedIn("auditor", "/console/sessions");
    assert.match((await page.getByTestId("roles").textContent())!, /auditor/);
    await page.fill('input[name="graph"]', "tools");
    await page.fill('input[name="user"]', "oidc:corp:analyst");
    await eventually(async () => {
      await page.click('form.filters button[type="submit"]');
      await page.waitForLoadState();
      assert.equal(await page.locator("tbody tr").count(), 1);
      assert.equal(await page.locator("tbody tr .badge", { hasText: "success" }).count(), 1, "the run was followed to its end");
    }, 15_000);
    assert.match(page.url(), /graph=tools/);
    await shot(page, "01-sessions-filtered");
    const sessionId = await page.locator("tbody tr").getAttribute("data-session");
    await page.locator('tbody tr a[href^="/console/sessions/"]').click();
    await page.waitForURL(`${publicUrl}/console/sessions/${sessionId}`);

    assert.match((await page.getByTestId("ledger-verification").textContent())!, /valid.*ledger records proven included in the signed checkpoint/s);
    const nodes = await page.locator('ol.timeline > li[data-kind="node"] .title').allTextContents();
    assert.deepEqual(nodes, ["Node agent", "Node tools", "Node agent"]);
    assert.match((await page.locator("ol.timeline .tool-call").first().textContent())!, /tool call → send_email\(\{"to":"\[EMAIL_ADDRESS\]"/);
    const html = await page.content();
    assert.ok(html.includes("[EMAIL_ADDRESS]") && !html.includes("alice@example.com"), "the page shows the masked recording only");

    await page.click('button[data-speed="max"]');
    await page.waitForFunction(() => document.querySelector(".playback .status")?.textContent === "Played to the end.");
    assert.match((await page.locator("#event-log").textContent())!, /event: updates/);
    assert.equal(await page.locator("ol.timeline > li.pending").count(), 0);
    // Real-time playback starts over from the beginning: the timeline is playing at once (checked
    // in the click's own task, since a short session may have played to its end by a later poll).
    // A session whose events all came within its first millisecond lasts 0 ms: it is played to
    // its end at once.
    const replay = await page.evaluate(() => {
      const end = Number(document.querySelector<HTMLInputElement>("input[data-seek]")!.max);
      document.querySelector<HTMLButtonElement>('button[data-speed="1"]')!.click();
      return { end, playing: document.querySelector("ol.timeline")!.classList.contains("playing"), status: document.querySelector(".playback .status")!.textContent };
    });
    if (replay.end > 0) assert.ok(replay.playing, `playing at 1× from the start: ${JSON.stringify(replay)}`);
    else assert.equal(replay.status, "Played to the end.");
    await shot(page, "02-session-replay");
    await page.click("button[data-stop]");
    await context.close();

    const views = (await accessRecords()).filter((r) => r.action === "session.view" && r.session === sessionId);
    assert.equal(views.length, 1);
    assert.equal(views[0]!.actor, "oidc:corp:auditor");
    assert.equal(views[0]!.via, "console");
  });

  test("a user sees only their own sessions, and neither another's session nor the audit pages", async () => {
    const other = new Client({ apiUrl: gateway.url, apiKey: gateway.key, callerOptions: { maxRetries: 0 } });
    await other.runs.wait(null, "tools", { input: { messages: [{ role: "user", content: "hi" }] } });
    const otherSession = await eventually(async () => {
      const found = (await gateway.audit()).find((r) => r.type === "request" && r.identity?.subject === "sa:tester" && r.operation?.creates_run);
      assert.ok(found && found.type === "request", "not yet: found && found.type === \"request\"");
      return found.request_id;
    });
    const { context, page } = await signedIn("analyst", "/console/sessions");
    assert.equal(await page.locator('input[name="user"]').count(), 0, "no filter by other users");
    const subjects = await page.locator("tbody tr td:nth-child(2) .mono").allTextContents();
    assert.ok(subjects.length > 0 && subjects.every((s) => s === "oidc:corp:analyst"), subjects.join(", "));
    const someoneElse = await page.goto(`${publicUrl}/console/sessions/${otherSession}`);
    assert.equal(someoneElse!.status(), 404);
    const audit = await page.goto(`${publicUrl}/console/audit`);
    assert.equal(audit!.status(), 403);
    assert.match((await page.locator("main").textContent())!, /The audit pages are for the admin and auditor roles/);
    await context.close();
  });

  test("an approver approves a held run from the inbox, which updates in place, and the SDK's stream continues", async () => {
    const { context, page } = await signedIn("approver", "/console/approvals");
    await page.getByTestId("inbox-empty").waitFor();
    const thread = (await analyst.threads.create()).thread_id;
    const events: string[] = [];
    const streaming = (async () => {
      for await (const chunk of analyst.runs.stream(thread, "agent", { input: { messages: [{ role: "user", content: "summarise, call me on +1 415 555 0100" }] }, streamMode: ["values"] })) events.push(chunk.event);
    })();
    // The card appears without a reload.
    const card = page.locator("[data-approval]");
    await card.waitFor({ timeout: 15_000 });
    assert.match((await card.textContent())!, /Demo Analyst \(oidc:corp:analyst\)/);
    assert.match((await card.textContent())!, /agent-runs-need-approval/);
    assert.deepEqual(await card.locator('select[name="window_s"] option').allTextContents(), ["Once", "For 15 minutes", "For 1 hour"]);
    assert.deepEqual(events, ["portcullis/approval"], "held: only the gateway's notice before the approval");
    await shot(page, "03-approvals-inbox");
    await card.locator('form[data-verdict="approve"] input[name="reason"]').fill("looks fine");
    await card.locator('form[data-verdict="approve"] button').click();
    await page.locator("#flash.good").waitFor();
    await page.getByTestId("inbox-empty").waitFor();
    await streaming;
    assert.ok(events.includes("metadata") && events.includes("values"), `the run's stream continued after approval: ${events.join(", ")}`);
    await shot(page, "04-approvals-approved");

    // A second run, denied with a reason: the SDK's stream ends with the gateway's error.
    const denied = (async () => {
      const seen: { event: string; data: unknown }[] = [];
      for await (const chunk of analyst.runs.stream(thread, "agent", { input: { messages: [{ role: "user", content: "again" }] } })) seen.push(chunk);
      return seen;
    })();
    await card.waitFor({ timeout: 15_000 });
    await card.locator('form[data-verdict="deny"] input[name="reason"]').fill("not during the freeze");
    await card.locator('form[data-verdict="deny"] button').click();
    await page.getByTestId("inbox-empty").waitFor();
    const ended = await denied;
    assert.ok(ended.some((e) => e.event === "error" && JSON.stringify(e.data).includes("PC_APPROVAL_DENIED")), JSON.stringify(ended));
    await page.reload();
    assert.match((await page.locator("table").textContent())!, /not during the freeze/);
    await context.close();
  });

  test("an auditor downloads an evidence bundle for a graph and the bundled verifier accepts it; the access review downloads as CSV", async () => {
    const { context, page } = await signedIn("auditor", "/console/audit");
    await page.click('button:has-text("Verify the whole ledger now")');
    await page.waitForURL(/done=verified/);
    assert.match((await page.getByTestId("ledger-verification").textContent())!, /valid/);
    await page.fill('form[action="/console/audit/export"] input[name="graph"]', "tools");
    await shot(page, "05-audit");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('button:has-text("Download evidence bundle")')]);
    assert.match(download.suggestedFilename(), /^portcullis-evidence-.*\.tar\.gz$/);
    const bundle = path.join(dir, "bundle");
    await mkdir(bundle);
    const archive = path.join(dir, "bundle.tar.gz");
    await download.saveAs(archive);
    await run("tar", ["xzf", archive, "-C", bundle]);
    const verified = await run(process.execPath, [path.join(bundle, "verify.mjs"), bundle]);
    assert.doesNotMatch(verified.stdout, /INVALID/);
    const manifest = JSON.parse(await readFile(path.join(bundle, "manifest.json"), "utf8")) as { filter: { graph: string }; exported_by: string };
    assert.deepEqual(manifest.filter, { graph: "tools" });
    assert.equal(manifest.exported_by, "oidc:corp:auditor");

    await page.goto(`${publicUrl}/console/access`);
    const row = page.locator('[data-testid="access-review"] tr', { hasText: "oidc:corp:analyst" });
    assert.match((await row.textContent())!, /callers-run-graphs/);
    await shot(page, "06-access-review");
    const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.click("text=Download CSV")]);
    const csv = await readFile((await csvDownload.path())!, "utf8");
    const lines = csv.trim().split("\r\n");
    assert.equal(lines[0], "kind,subject,name,groups,source,status,expires_at,first_seen,last_used,requests,rule,effect,actions,scope,rule_last_used,rule_uses,console_roles");
    const analystGrant = lines.find((line) => line.startsWith("person,oidc:corp:analyst,") && line.includes(",callers-run-graphs,"));
    assert.ok(analystGrant, csv);
    assert.ok(Number(analystGrant.split(",").at(-2)) >= 2, "the grant's uses are counted");
    assert.equal(analystGrant.split(",").at(-1), "user", "a person without a console group is a user");
    await context.close();

    const actions = (await accessRecords()).filter((r) => r.actor === "oidc:corp:auditor").map((r) => r.action);
    for (const action of ["ledger.verify", "evidence.export", "access-review.view", "access-review.export"]) assert.ok(actions.includes(action as AccessRecord["action"]), action);
  });

  test("console forms refuse a missing CSRF token, and every console page is a request record", async () => {
    const { context, page } = await signedIn("approver", "/console/");
    const status = await page.evaluate(async () => (await fetch("/console/audit/verify", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" })).status);
    assert.equal(status, 403, "not an auditor");
    const forged = await page.evaluate(async () => {
      const response = await fetch("/console/approvals/some-id/approve", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "reason=x" });
      return { status: response.status, body: await response.json() };
    });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.error, "PC_CSRF");
    await page.goto(`${publicUrl}/console/sessions`);
    await context.close();
    const records = await gateway.audit();
    const forgedRecord = records.find((r) => r.type === "request" && r.path === "/console/approvals/some-id/approve");
    assert.ok(forgedRecord, "the refused vote is recorded");
    assert.ok(records.some((r) => r.type === "request" && r.path === "/console/approvals/some-id/approve" && r.decision.effect === "deny" && r.identity?.subject === "oidc:corp:approver"));
    assert.ok(records.some((r) => r.type === "request" && r.path === "/console/sessions" && r.decision.rule === "gateway:console" && r.identity?.subject === "oidc:corp:approver" && r.status === 200));
    const preflight = await fetch(`${publicUrl}/console/approvals.json`, { method: "OPTIONS", headers: { origin: "https://studio.example", "access-control-request-method": "GET" } });
    assert.equal(preflight.status, 403, "the console is same-origin only");
    const asset = await fetch(`${publicUrl}/console/assets/constructor`, { redirect: "manual" });
    assert.equal(asset.status, 302, "not an asset: the sign-in redirect, not a crash");
  });
});
