// Access-review campaigns end to end: identities reach the real LangGraph server through the
// gateway (people with IdP tokens, a config-file and a CLI-made service account), a campaign is
// started against an IdP directory export with `portcullis access-review start`, lines are
// attested and revoked with the CLI (revoking a CLI-made account's key too) and in the console in
// Chromium, every step is a ledger record, and the next evidence bundle's control report shows the
// completed reviews, recomputed by the bundle's own verify.mjs.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import type { CampaignReport } from "../../src/ledger/evidence/accessReviews.js";
import type { EvidenceReport } from "../../src/ledger/evidence/report.js";
import type { AccessReviewLine, AccessReviewRecord } from "../../src/record/auditRecord.js";
import { launchChromium } from "../support/browser.js";
import { CLI_ARGS } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const run = promisify(execFile);

const POLICY = `version: 1
rules:
  - id: everyone-reads
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read]
  - id: analysts-run
    effect: allow
    subjects: { groups: [analysts] }
    actions: [runs:create, runs:read]
  - id: ci-deploys
    effect: allow
    subjects: { groups: [deploy] }
    actions: [assistants:read]
  - id: runs-need-approval
    effect: require-approval
    subjects: { groups: [analysts] }
    actions: [state:write]
    approval: { approver_groups: [approvers] }
`;

// The IdP's export: analyst (seen), newhire (never seen), leaver (inactive, never seen); the
// approver is seen but missing from it.
const DIRECTORY = `subject,name,groups,active
oidc:corp:analyst,Demo Analyst,analysts,true
oidc:corp:newhire,"New, Hire",analysts;approvers,true
oidc:corp:leaver,Left Us,analysts,false
`;

let publicUrl: string;
let idp: DevIdp;
let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
let gateway: TestGateway;
let browser: Browser;
let dir: string;
let configFile: string;
let ciBotKey: string;

before(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-access-review-"));
  [idp, langgraph, browser] = await Promise.all([
    startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
    startLangGraph(),
    launchChromium(),
  ]);
  const policyFile = path.join(dir, "policy.yaml");
  await writeFile(policyFile, POLICY);
  process.env.PORTCULLIS_TEST_REVIEW_SECRET = idp.login.clientSecret;
  gateway = await startTestGateway(langgraph, {
    listen: { host: "127.0.0.1", port },
    policy: { file: policyFile, watch: false },
    identity: {
      oidc: { issuers: [{ id: "corp", issuer: idp.issuer, audiences: [idp.apiAudience] }] },
      login: {
        public_url: publicUrl,
        oidc: [{ id: "corp", display_name: "Corp", issuer: idp.issuer, client_id: idp.login.clientId, client_secret: { env: "PORTCULLIS_TEST_REVIEW_SECRET" } }],
      },
    },
  });
  configFile = path.join(dir, "portcullis.yaml");
  await writeFile(
    configFile,
    JSON.stringify({
      upstream: { url: langgraph.url },
      policy: { file: policyFile, watch: false },
      storage: { sqlite_file: gateway.config.storage.sqlite_file },
      audit: { store: gateway.config.audit.store, signing_key_file: gateway.config.audit.signing_key_file },
      identity: { service_accounts: gateway.config.identity.service_accounts },
    }),
  );
  const created = await cli("service-accounts", "create", "--id", "ci-bot", "--groups", "deploy", "--owner", "platform", "--expires-in-days", "30", "--config", configFile);
  ciBotKey = /API key[^\n]*\n\s+(\S+)/.exec(created)![1]!;
  // Identities seen: two people with IdP tokens, the config-file account, the CLI-made account.
  for (const user of ["analyst", "approver"]) await new Client({ apiUrl: gateway.url, defaultHeaders: { authorization: `Bearer ${await idp.mintUserToken(user)}` }, callerOptions: { maxRetries: 0 } }).assistants.search();
  await new Client({ apiUrl: gateway.url, apiKey: gateway.key, callerOptions: { maxRetries: 0 } }).assistants.search();
  await new Client({ apiUrl: gateway.url, apiKey: ciBotKey, callerOptions: { maxRetries: 0 } }).assistants.search();
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await Promise.all([idp?.close(), langgraph?.stop()]);
  await rm(dir, { recursive: true, force: true });
  delete process.env.PORTCULLIS_TEST_REVIEW_SECRET;
});

async function cli(...args: string[]): Promise<string> {
  return (await run(process.execPath, [...CLI_ARGS, ...args], { cwd: dir })).stdout;
}

async function cliFails(args: string[], message: RegExp): Promise<void> {
  await assert.rejects(run(process.execPath, [...CLI_ARGS, ...args], { cwd: dir }), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 2, error.stderr);
    assert.match(error.stderr, message);
    return true;
  });
}

async function reviewRecords(campaign: string): Promise<AccessReviewRecord[]> {
  return (await gateway.audit()).filter((r): r is AccessReviewRecord => r.type === "access_review" && r.request_id === campaign);
}

type ShownCampaign = CampaignReport & { lines: (AccessReviewLine & { decision: { verdict: string; by: string; reason: string | null } | null })[] };

async function show(campaign: string): Promise<ShownCampaign> {
  return JSON.parse(await cli("access-review", "show", campaign, "--config", configFile, "--json")) as ShownCampaign;
}

describe("an access-review campaign with the CLI", () => {
  let campaign: string;

  test("starts a campaign with one line per identity, flagged against the IdP directory export", async () => {
    await writeFile(path.join(dir, "directory.csv"), DIRECTORY);
    const out = await cli("access-review", "start", "--config", configFile, "--directory", "directory.csv");
    campaign = /Campaign (ar-\S+) started: (\d+) lines, (\d+) flagged/.exec(out)![1]!;
    const shown = await show(campaign);
    const line = (subject: string) => shown.lines.find((l) => l.subject === subject)!;
    assert.deepEqual(shown.lines.map((l) => l.subject).sort(), ["oidc:corp:analyst", "oidc:corp:approver", "oidc:corp:leaver", "oidc:corp:newhire", "sa:ci-bot", "sa:tester"]);
    assert.deepEqual(line("oidc:corp:analyst").flags, []);
    assert.deepEqual(line("oidc:corp:approver").flags, ["not-in-directory"]);
    assert.deepEqual(line("oidc:corp:newhire").flags, ["never-seen"]);
    assert.deepEqual(line("oidc:corp:leaver").flags, ["never-seen", "inactive-in-directory"]);
    assert.equal(line("oidc:corp:newhire").name, "New, Hire", "a quoted CSV field keeps its comma");
    assert.deepEqual(line("oidc:corp:newhire").groups, ["analysts", "approvers"]);
    // Never seen, yet the directory groups give access: the line shows it.
    assert.equal(line("oidc:corp:newhire").source, "directory");
    assert.deepEqual(line("oidc:corp:newhire").approver_rules, ["runs-need-approval"]);
    assert.deepEqual(line("oidc:corp:newhire").grants.map((g) => [g.rule, g.last_used]), [["everyone-reads", null], ["analysts-run", null], ["runs-need-approval", null]]);
    // The analyst's grants with their last use; the approver's approver rights; the accounts' sources.
    const analyst = line("oidc:corp:analyst");
    assert.deepEqual(analyst.grants.map((g) => g.rule), ["everyone-reads", "analysts-run", "runs-need-approval"]);
    assert.ok(analyst.grants[0]!.last_used !== null && analyst.grants[0]!.uses >= 1, JSON.stringify(analyst.grants));
    assert.equal(analyst.grants[1]!.last_used, null, "never ran a graph");
    assert.ok(analyst.last_used !== null);
    assert.deepEqual(line("oidc:corp:approver").approver_rules, ["runs-need-approval"]);
    assert.ok(line("oidc:corp:approver").console_roles.includes("approver"));
    assert.equal(line("sa:ci-bot").source, "cli");
    assert.equal(line("sa:tester").source, "config");
    assert.equal(shown.pending, 6);
    assert.equal(shown.completed, null);

    const records = await reviewRecords(campaign);
    assert.deepEqual(records.map((r) => r.event), ["started", ...Array<string>(6).fill("line")]);
    assert.equal(records[0]!.lines, 6);
    assert.equal(records[0]!.directory!.identities, 3);
    assert.match(records[0]!.directory!.sha256, /^[0-9a-f]{64}$/);
    assert.match(records[0]!.actor, /^cli:/);
  });

  test("refuses a revocation without a reason, a subject the campaign does not hold, and an unknown campaign", async () => {
    await cliFails(["access-review", "revoke", campaign, "oidc:corp:approver", "--reason", " ", "--config", configFile], /a revocation needs a reason/);
    await cliFails(["access-review", "attest", campaign, "oidc:corp:nobody", "--config", configFile], /has no line for oidc:corp:nobody/);
    await cliFails(["access-review", "attest", "ar-2000-01-01-00000000", "oidc:corp:analyst", "--config", configFile], /no access-review campaign ar-2000-01-01-00000000/);
    await cliFails(["access-review", "start", "--config", configFile, "--directory", "missing.csv"], /--directory missing\.csv: no such file/);
    await writeFile(path.join(dir, "bad.csv"), "name,groups\nx,y\n");
    await cliFails(["access-review", "start", "--config", configFile, "--directory", "bad.csv"], /needs a header row with a subject column/);
    assert.deepEqual((await reviewRecords(campaign)).filter((r) => r.event !== "line" && r.event !== "started"), [], "nothing refused was recorded");
  });

  test("attests and revokes lines; revoking the CLI-made account with --revoke-key revokes its key; the last decision completes the campaign", async () => {
    await cli("access-review", "attest", campaign, "oidc:corp:analyst", "--config", configFile);
    await cliFails(["access-review", "attest", campaign, "oidc:corp:analyst", "--config", configFile], /already attested/);
    await cliFails(["access-review", "revoke", campaign, "sa:tester", "--reason", "x", "--revoke-key", "--config", configFile], /remove its entry from identity\.service_accounts/);
    const revoked = await cli("access-review", "revoke", campaign, "sa:ci-bot", "--reason", "pipeline retired", "--revoke-key", "--config", configFile);
    assert.match(revoked, /its service-account key is revoked/);
    await assert.rejects(new Client({ apiUrl: gateway.url, apiKey: ciBotKey, callerOptions: { maxRetries: 0 } }).assistants.search(), /401/);
    await cli("access-review", "revoke", campaign, "oidc:corp:leaver", "--reason", "left the company", "--config", configFile);
    await cli("access-review", "revoke", campaign, "oidc:corp:approver", "--reason", "not in the directory", "--config", configFile);
    await cli("access-review", "attest", campaign, "oidc:corp:newhire", "--reason", "starts Monday", "--config", configFile);
    const last = await cli("access-review", "attest", campaign, "sa:tester", "--config", configFile);
    assert.match(last, /Campaign ar-\S+ completed: no line is pending/);
    await cliFails(["access-review", "attest", campaign, "sa:tester", "--config", configFile], /was completed at/);

    const events = (await reviewRecords(campaign)).filter((r) => r.event !== "line");
    assert.deepEqual(events.map((r) => [r.event, r.subject ?? null]), [
      ["started", null],
      ["attested", "oidc:corp:analyst"],
      ["revoked", "sa:ci-bot"],
      ["revoked", "oidc:corp:leaver"],
      ["revoked", "oidc:corp:approver"],
      ["attested", "oidc:corp:newhire"],
      ["attested", "sa:tester"],
      ["completed", null],
    ]);
    assert.equal(events.find((r) => r.subject === "sa:ci-bot")!.key_revoked, true);
    assert.equal(events.find((r) => r.subject === "oidc:corp:leaver")!.key_revoked, undefined);
    assert.equal(events.at(-1)!.pending, 0);
    const shown = await show(campaign);
    assert.deepEqual([shown.attested, shown.revoked, shown.pending], [3, 3, 0]);
  });

  test("a campaign completed early keeps its pending lines as exceptions", async () => {
    const out = await cli("access-review", "start", "--config", configFile);
    const early = /Campaign (ar-\S+) started/.exec(out)![1]!;
    await cli("access-review", "attest", early, "oidc:corp:analyst", "--config", configFile);
    assert.match(await cli("access-review", "complete", early, "--config", configFile), /1 attested, 0 revoked, \d+ pending/);
    const shown = await show(early);
    assert.ok(shown.completed !== null && shown.pending > 0);
    assert.ok(shown.exceptions.every((e) => e.exception === "pending") && shown.exceptions.length === shown.pending);
    assert.ok(!shown.lines.some((l) => l.source === "directory"), "no directory: no directory-only lines");
    assert.match(await cli("access-review", "list", "--config", configFile), new RegExp(`${early} .* completed .* 1 attested, 0 revoked`));
  });
});

describe("an access-review campaign in the console, in Chromium", () => {
  async function signedIn(user: string, pathname: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
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

  const submitIn = (page: Page, button: ReturnType<Page["locator"]>) => Promise.all([page.waitForNavigation(), button.click()]);

  test("an admin starts a campaign, attests one line, revokes another with a reason, and the campaign completes", async () => {
    const { context, page } = await signedIn("admin", "/console/access-reviews");
    await page.getByTestId("start-campaign").click();
    await page.waitForURL(/\/console\/access-reviews\/ar-/);
    const campaign = page.url().split("/").at(-1)!;
    const row = (subject: string) => page.locator(`tr[data-subject="${subject}"]`);
    // Each decision posts the form and loads the campaign page again with its flash.
    const submit = (button: ReturnType<Page["locator"]>) => submitIn(page, button);

    await submit(row("oidc:corp:analyst").locator('form[data-verdict="attest"] button'));
    await page.locator("#flash.good").waitFor();
    assert.equal(await row("oidc:corp:analyst").getAttribute("data-state"), "attested");

    // The form needs a reason: the browser does not send it empty.
    await row("oidc:corp:approver").locator('form[data-verdict="revoke"] button').click();
    assert.equal(await row("oidc:corp:approver").getAttribute("data-state"), "pending");
    await row("oidc:corp:approver").locator('form[data-verdict="revoke"] input[name="reason"]').fill("moved teams");
    await submit(row("oidc:corp:approver").locator('form[data-verdict="revoke"] button'));
    await page.locator("#flash.good").waitFor();
    assert.equal(await row("oidc:corp:approver").getAttribute("data-state"), "revoked");
    assert.match((await row("oidc:corp:approver").getByTestId("decision").textContent())!, /revoked.*by oidc:corp:admin: moved teams/s);

    // Nobody decides their own access: the admin's own line (seen since signing in) has no buttons.
    const own = row("oidc:corp:admin");
    assert.equal(await own.count(), 1, "the admin signed in before the campaign started: a line");
    assert.equal(await own.locator("form").count(), 0);
    assert.match((await own.getByTestId("decision").textContent())!, /your own access: another reviewer decides/);
    // Attest the rest the admin may decide.
    for (;;) {
      const next = page.locator('tr[data-state="pending"] form[data-verdict="attest"] button').first();
      if ((await next.count()) === 0) break;
      await submit(next);
      await page.locator("#flash.good").waitFor();
    }
    // A forged post on one's own line is refused too (the campaign is still open, only that line pending).
    assert.match((await page.getByTestId("campaign-state").textContent())!, /open.* 1 pending/s);
    const token = await page.locator('input[name="csrf_token"]').first().getAttribute("value");
    const refused = await page.request.post(`${publicUrl}/console/access-reviews/${campaign}/attest`, { form: { csrf_token: token!, subject: "oidc:corp:admin" }, maxRedirects: 0 });
    assert.equal(refused.status(), 303);
    assert.match(decodeURIComponent(refused.headers().location!), /may not attest or revoke their own access/);
    // Without the CSRF token the post is refused before anything is read.
    const forged = await page.request.post(`${publicUrl}/console/access-reviews/${campaign}/attest`, { form: { subject: "oidc:corp:tester" }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    await context.close();

    // The admin's own line is decided by the auditor.
    const auditor = await signedIn("auditor", `/console/access-reviews/${campaign}`);
    await submitIn(auditor.page, auditor.page.locator('tr[data-subject="oidc:corp:admin"] form[data-verdict="attest"] button'));
    await auditor.page.locator("#flash.good").waitFor();
    await auditor.context.close();

    const check = await signedIn("auditor", `/console/access-reviews/${campaign}`);
    assert.match((await check.page.getByTestId("campaign-state").textContent())!, /completed.* 1 revoked · 0 pending/s);
    assert.equal(await check.page.locator("form[data-verdict]").count(), 0, "a completed campaign has no buttons");
    await check.context.close();

    const records = await reviewRecords(campaign);
    assert.equal(records[0]!.event, "started");
    assert.equal(records[0]!.via, "console");
    const revoke = records.find((r) => r.event === "revoked")!;
    assert.deepEqual([revoke.subject, revoke.actor, revoke.reason, revoke.via], ["oidc:corp:approver", "oidc:corp:admin", "moved teams", "console"]);
    assert.equal(records.filter((r) => r.event === "completed").length, 1);
  });

  test("a user without a reviewing role sees no campaign and cannot post a decision", async () => {
    const { context, page } = await signedIn("analyst", "/console/");
    const listing = await page.goto(`${publicUrl}/console/access-reviews`);
    assert.equal(listing!.status(), 403);
    const posted = await page.request.post(`${publicUrl}/console/access-reviews/start`, { form: { csrf_token: "x" }, maxRedirects: 0 });
    assert.equal(posted.status(), 403);
    await context.close();
  });
});

describe("the evidence bundle after the reviews", () => {
  test("the control report lists the campaigns under CC6.2, A.9.2.5 and A.5.18, and verify.mjs recomputes it", async () => {
    const out = path.join(dir, "bundle");
    await cli("export", "--config", configFile, "-o", out);
    const verified = await run(process.execPath, [path.join(out, "verify.mjs"), out]).catch((error: { stdout: string }) => assert.fail(error.stdout));
    assert.match(verified.stdout, /Report report\.json\s+valid \(recomputed from the records/);
    const report = JSON.parse(await readFile(path.join(out, "report.json"), "utf8")) as EvidenceReport;
    const full = report.access_reviews.find((c) => c.lines === 6 && c.revoked === 3)!;
    assert.ok(full, JSON.stringify(report.access_reviews.map((c) => [c.id, c.lines, c.revoked])));
    assert.ok(full.completed !== null && full.pending === 0 && full.listing_complete);
    assert.match(full.directory!, /^directory\.csv \(sha256 [0-9a-f]{64}\)$/);
    assert.deepEqual(full.exceptions.map((e) => [e.subject, e.exception, e.reason]).sort(), [
      ["oidc:corp:approver", "revoked", "not in the directory"],
      ["oidc:corp:leaver", "revoked", "left the company"],
      ["sa:ci-bot", "revoked", "pipeline retired"],
    ]);
    assert.ok(report.access_reviews.some((c) => c.exceptions.some((e) => e.exception === "pending")), "the campaign completed early shows its pending lines");
    assert.ok(report.access_reviews.some((c) => c.reviewers.includes("oidc:corp:admin")), "the console campaign names its reviewer");
    for (const id of ["CC6.2", "A.9.2.5", "A.5.18"]) {
      const control = report.controls.find((c) => c.id === id)!;
      assert.equal(control.access_reviews!.length, report.access_reviews.length, id);
      assert.equal(control.evidence.access_reviews_completed, report.access_reviews.filter((c) => c.completed).length, id);
      assert.equal(control.evidence.access_review_revoked, report.access_reviews.reduce((n, c) => n + c.revoked, 0), id);
    }
    const a925 = report.controls.find((c) => c.id === "A.9.2.5")!;
    assert.equal(a925.population.name, "access-reviews");
    assert.ok(a925.sample.length > 0 && a925.sample.every((s) => s.type === "access_review"));
    const html = await readFile(path.join(out, "report.html"), "utf8");
    assert.ok(html.includes(full.id) && html.includes("pipeline retired"), "report.html shows the campaign and its revocations");
  });

  test("verify.mjs fails when report.json hides a revocation", async () => {
    const out = path.join(dir, "bundle");
    const file = path.join(out, "report.json");
    const report = JSON.parse(await readFile(file, "utf8")) as EvidenceReport;
    const full = report.access_reviews.find((c) => c.revoked === 3)!;
    full.revoked = 0;
    full.exceptions = [];
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    await assert.rejects(run(process.execPath, [path.join(out, "verify.mjs"), out]), (error: { code: number; stdout: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stdout, /Report report\.json\s+INVALID: differs from the report recomputed from the records: access_reviews/);
      return true;
    });
  });
});
