// The console as auditors and approvers use it, in Debian's Chromium against the real LangGraph
// server: the timeline names the graph's own nodes and shows interrupts, the sessions list finds
// things (full thread ids, quick ranges, search, counts, sorting, one identity's activity) and
// leaves console assets and browser noise out while the ledger keeps them, the inbox leads with
// what an approval lets happen and stays current over one event stream, the audit page gives
// the key for --trusted-key, and the access review covers console roles and approver rights.
// Screenshots at 1280 px and 420 px land in /tmp/screens/ to be looked at.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { launchChromium } from "../support/browser.js";
import { CLI_ARGS } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const run = promisify(execFile);
const SCREENS = process.env.PORTCULLIS_SCREENS ?? "/tmp/screens";
const DESKTOP = { width: 1280, height: 900 };
const NARROW = { width: 420, height: 900 };

const POLICY = `version: 1
rules:
  - id: callers-run-graphs
    effect: allow
    subjects: "*"
    actions: [server:read, assistants:read, threads:create, threads:read, state:read, runs:read, runs:create, runs:resume, runs:cancel]
  - id: tool-calls-need-approval
    effect: require-approval
    subjects: "*"
    actions: [runs:continue]
    resources: { graphs: [tools] }
    approval: { approver_groups: [approvers], max_window_s: 3600 }
  - id: auditors-read-everything
    effect: allow
    subjects: { groups: [auditors] }
    actions: [threads:read, state:read, runs:read]
    scope: any
run_body:
  pause_before:
    - graphs: [tools]
      nodes: [tools]
`;

let publicUrl: string;
let idp: DevIdp;
let langgraph: Awaited<ReturnType<typeof startLangGraph>>;
let gateway: TestGateway;
let browser: Browser;
let dir: string;
let analyst: Client;
let echoThread: string;
let hitlThread: string;

before(async () => {
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-console-views-"));
  await mkdir(SCREENS, { recursive: true });
  [idp, langgraph, browser] = await Promise.all([
    startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
    startLangGraph(),
    launchChromium(),
  ]);
  const policyFile = path.join(dir, "policy.yaml");
  await writeFile(policyFile, POLICY);
  process.env.PORTCULLIS_TEST_CONSOLE_VIEWS_SECRET = idp.login.clientSecret;
  gateway = await startTestGateway(langgraph, {
    listen: { host: "127.0.0.1", port },
    policy: { file: policyFile, watch: false },
    identity: {
      oidc: { issuers: [{ id: "corp", issuer: idp.issuer, audiences: [idp.apiAudience] }] },
      login: {
        public_url: publicUrl,
        oidc: [{ id: "corp", display_name: "Corp", issuer: idp.issuer, client_id: idp.login.clientId, client_secret: { env: "PORTCULLIS_TEST_CONSOLE_VIEWS_SECRET" } }],
      },
    },
  });
  analyst = new Client({ apiUrl: gateway.url, defaultHeaders: { authorization: `Bearer ${await idp.mintUserToken("analyst")}` }, callerOptions: { maxRetries: 0 } });

  // Two runs of different shapes: a values stream, and a /runs/wait that stops at interrupt().
  echoThread = (await analyst.threads.create()).thread_id;
  for await (const chunk of analyst.runs.stream(echoThread, "echo", { input: { messages: [{ role: "user", content: "hello there" }] }, streamMode: ["values"] })) void chunk;
  hitlThread = (await analyst.threads.create()).thread_id;
  await analyst.runs.wait(hitlThread, "hitl", { input: { request: "wire $5 to ACME" } });
  // What a browser asks for by itself.
  assert.notEqual((await fetch(`${publicUrl}/favicon.ico`)).status, 200);
  await eventually(async () => {
    const runs = (await gateway.audit()).filter((r) => r.type === "run");
    assert.equal(runs.length, 2, "both runs were followed to their end");
  }, 20_000);
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await Promise.all([idp?.close(), langgraph?.stop()]);
  await rm(dir, { recursive: true, force: true });
  delete process.env.PORTCULLIS_TEST_CONSOLE_VIEWS_SECRET;
});

async function signedIn(user: string, pathname: string, viewport = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
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
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
}

/** Nothing spills out of a narrow window: the page does not scroll sideways, the header keeps
 * its content inside, and wide tables scroll inside their own container. */
async function assertFitsNarrowWindow(page: Page): Promise<void> {
  const layout = await page.evaluate(() => {
    const header = document.querySelector("header.top")!;
    const headerBox = header.getBoundingClientRect();
    const overflowing = [...header.querySelectorAll("*")].filter((node) => {
      const box = node.getBoundingClientRect();
      return box.width > 0 && (box.right > headerBox.right + 1 || box.left < headerBox.left - 1 || box.bottom > headerBox.bottom + 1);
    }).length;
    const scrollers = [...document.querySelectorAll(".table-scroll")].map((box) => ({ scrolls: box.scrollWidth > box.clientWidth, width: box.getBoundingClientRect().width }));
    return { page: document.documentElement.scrollWidth, window: window.innerWidth, overflowing, scrollers };
  });
  assert.ok(layout.page <= layout.window, `the page scrolls sideways: ${layout.page} px in a ${layout.window} px window`);
  assert.equal(layout.overflowing, 0, "every header item stays inside the header");
  for (const scroller of layout.scrollers) assert.ok(scroller.width <= layout.window, "each table's container fits the window");
}

async function sessionIdOf(thread: string): Promise<string> {
  const record = (await gateway.audit()).find((r): r is RequestRecord => r.type === "request" && r.path.startsWith(`/threads/${thread}/runs`));
  assert.ok(record);
  return record.request_id;
}

describe("the console, as auditors and approvers use it", () => {
  test("the timeline names the graph's own nodes, shows where a /runs/wait run stopped at interrupt(), and the player seeks", async () => {
    const { context, page } = await signedIn("auditor", `/console/sessions/${await sessionIdOf(echoThread)}`);
    assert.deepEqual(await page.locator('ol.timeline > li[data-kind="node"] .title').allTextContents(), ["Node echo"]);
    assert.ok(!(await page.locator("ol.timeline").textContent())!.includes("__start__"));
    assert.match((await page.getByTestId("session-status").textContent())!, /success/);

    // Seek to the start: every later step is still to come; to the end: all reached.
    const seek = page.getByTestId("seek");
    const max = Number(await seek.getAttribute("max"));
    assert.ok(max > 0);
    const seekTo = (t: number) => seek.evaluate((input: HTMLInputElement, value) => {
      input.value = String(value);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }, t);
    await seekTo(0);
    const total = await page.locator("ol.timeline > li").count();
    const pendingAtStart = await page.locator("ol.timeline > li.pending").count();
    assert.ok(pendingAtStart > 0 && pendingAtStart < total, `${pendingAtStart} of ${total} steps still to come at t = 0`);
    assert.doesNotMatch((await page.locator("#event-log").textContent())!, /event: values/);
    await seekTo(max);
    assert.equal(await page.locator("ol.timeline > li.pending").count(), 0);
    assert.match((await page.locator("#event-log").textContent())!, /event: values/);
    await shot(page, "desktop-session-echo");

    // One time format: UTC ISO with a relative hint.
    const times = await page.locator("dl.facts time").allTextContents();
    assert.ok(times.length > 0 && times.every((t) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(t)), times.join(" | "));
    assert.match((await page.locator("dl.facts .ago").first().textContent())!, /^(just now|\d+ min ago)$/);

    await page.goto(`${publicUrl}/console/sessions/${await sessionIdOf(hitlThread)}`);
    assert.match((await page.getByTestId("session-status").textContent())!, /interrupted/);
    assert.deepEqual(await page.locator('ol.timeline > li[data-kind="node"] .title').allTextContents(), ["Node plan"]);
    assert.equal(await page.locator('ol.timeline > li[data-kind="interrupt"] .title').textContent(), "Interrupted in approve: waiting for input");
    assert.match((await page.locator('ol.timeline > li[data-kind="interrupt"] pre').textContent())!, /Approve this action\?/);
    await shot(page, "desktop-session-interrupt");
    await page.setViewportSize(NARROW);
    await assertFitsNarrowWindow(page);
    await shot(page, "narrow-session-interrupt");
    await context.close();
  });

  test("the sessions list shows full thread ids, counts, quick ranges, search and sortable columns, and keeps assets and favicon.ico out while the ledger keeps them", async () => {
    const { context, page } = await signedIn("auditor", "/console/sessions");
    const threads = await page.getByTestId("thread").allTextContents();
    assert.ok(threads.includes(echoThread) && threads.includes(hitlThread), `full thread ids: ${threads.join(", ")}`);
    assert.match((await page.getByTestId("result-count").textContent())!, /^2 sessions match; 2 on this page/);

    await page.locator('[data-range="1h"]').click();
    await page.waitForURL(/range=1h/);
    assert.match((await page.getByTestId("result-count").textContent())!, /^2 sessions match in the last hour/);
    assert.equal(await page.locator('[data-range="1h"]').getAttribute("class"), "chip active");

    await page.getByTestId("search").fill("hitl");
    await page.click('form.filters button[type="submit"]');
    await page.waitForURL(/q=hitl/);
    assert.deepEqual(await page.getByTestId("thread").allTextContents(), [hitlThread]);
    assert.match((await page.getByTestId("result-count").textContent())!, /^1 session matches/);

    // Everything: the console's own pages are there, its assets and the browser's favicon.ico are not.
    await page.goto(`${publicUrl}/console/sessions?kind=all`);
    const paths = await page.locator('tbody tr td:nth-child(6)').allTextContents();
    assert.ok(paths.some((p) => p.includes("/console/sessions")), "console pages are listed");
    assert.ok(!paths.some((p) => p.includes("/console/assets/") || p.includes("favicon.ico")), paths.join("\n"));
    const records = (await gateway.audit()).filter((r): r is RequestRecord => r.type === "request");
    assert.ok(records.some((r) => r.path === "/console/assets/console.js"), "every asset request still has its audit record");
    assert.ok(records.some((r) => r.path === "/favicon.ico"));
    await page.goto(`${publicUrl}/console/sessions?kind=asset`);
    const assets = await page.locator('tbody tr td:nth-child(6)').allTextContents();
    assert.ok(assets.some((p) => p.includes("/console/assets/console.css")) && assets.some((p) => p.includes("/favicon.ico")), assets.join("\n"));

    // Sorting the page by who, then back.
    await page.goto(`${publicUrl}/console/sessions?kind=all`);
    const who = () => page.locator("tbody tr td:nth-child(2)").evaluateAll((cells) => cells.map((cell) => (cell as HTMLElement).dataset.sort ?? ""));
    await page.locator('th button[data-column="1"]').click();
    assert.equal(await page.locator("th").nth(1).getAttribute("aria-sort"), "ascending");
    const ascending = await who();
    assert.deepEqual(ascending, [...ascending].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    await page.locator('th button[data-column="1"]').click();
    assert.deepEqual(await who(), [...ascending].reverse());
    await shot(page, "desktop-sessions");

    await page.setViewportSize(NARROW);
    await assertFitsNarrowWindow(page);
    assert.ok((await page.evaluate(() => [...document.querySelectorAll(".table-scroll")].some((box) => box.scrollWidth > box.clientWidth))), "the wide table scrolls inside its container");
    await shot(page, "narrow-sessions");
    await context.close();
  });

  test("one identity's activity: who they are, what they may do, and their sessions", async () => {
    const { context, page } = await signedIn("auditor", "/console/sessions");
    await page.locator('tbody tr td:nth-child(2) a', { hasText: "Demo Analyst" }).first().click();
    await page.waitForURL(`${publicUrl}/console/identities/${encodeURIComponent("oidc:corp:analyst")}`);
    const facts = (await page.getByTestId("identity-facts").textContent())!;
    assert.match(facts, /oidc:corp:analyst/);
    assert.match(facts, /callers-run-graphs/);
    const subjects = await page.locator("tbody tr td:nth-child(2) .mono").allTextContents();
    assert.ok(subjects.length >= 4 && subjects.every((s) => s === "oidc:corp:analyst"), subjects.join(", "));
    assert.match((await page.getByTestId("result-count").textContent())!, new RegExp(`^${subjects.length} sessions match`));
    await page.locator('[data-filter="kind-run"]').click();
    await page.waitForURL(/kind=run/);
    assert.equal(await page.locator("tbody tr").count(), 2);
    await shot(page, "desktop-identity");
    await page.setViewportSize(NARROW);
    await assertFitsNarrowWindow(page);
    await shot(page, "narrow-identity");
    // Someone who is not an auditor sees only their own activity.
    const own = await signedIn("approver", `/console/identities/${encodeURIComponent("oidc:corp:approver")}`);
    const other = await own.page.goto(`${publicUrl}/console/identities/${encodeURIComponent("oidc:corp:analyst")}`);
    assert.equal(other!.status(), 404);
    await own.context.close();
    await context.close();
  });

  test("the inbox leads with what an approval lets happen, stays current over one event stream, and moves a decided approval to recently decided without a reload", async () => {
    const { context, page } = await signedIn("approver", "/console/approvals");
    await page.getByTestId("inbox-empty").waitFor();
    await eventually(async () => assert.match((await page.getByTestId("live-status").textContent())!, /^live/));
    let navigations = 0;
    page.on("framenavigated", (frame) => frame === page.mainFrame() && navigations++);

    // The tools graph pauses before its tool node; continuing it (the tool call) needs approval.
    const thread = (await analyst.threads.create()).thread_id;
    for await (const chunk of analyst.runs.stream(thread, "tools", { input: { messages: [{ role: "user", content: "mail bob" }] } })) void chunk;
    const continued = (async () => {
      const events: string[] = [];
      for await (const chunk of analyst.runs.stream(thread, "tools", { input: null })) events.push(chunk.event);
      return events;
    })();
    const card = page.locator("[data-approval]");
    await card.waitFor({ timeout: 15_000 });
    assert.equal(await card.getByTestId("approval-summary").textContent(), "tools → tool send_email(to=[EMAIL_ADDRESS], body=hi)");
    const facts = (await card.locator("dl.facts").textContent())!;
    for (const fact of ["tools", "tool-calls-need-approval", "Demo Analyst (oidc:corp:analyst)"]) assert.ok(facts.includes(fact), `${fact} in ${facts}`);
    assert.equal(await card.locator("details").getAttribute("open"), null, "the raw detail is below, folded");
    assert.match((await card.locator("details summary").textContent())!, /^Raw request \(masked\): POST \/threads\/.*\/runs\/stream · runs:create, runs:continue$/);
    const expires = await card.locator("dl.facts time").allTextContents();
    assert.ok(expires.every((t) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(t)), expires.join(" | "));
    await shot(page, "desktop-inbox");
    await page.setViewportSize(NARROW);
    await assertFitsNarrowWindow(page);
    await shot(page, "narrow-inbox");
    await page.setViewportSize(DESKTOP);

    await card.locator('form[data-verdict="approve"] button').click();
    await page.locator("#flash.good").waitFor();
    await page.getByTestId("inbox-empty").waitFor();
    const decided = page.getByTestId("recent").locator("tbody tr").first();
    assert.match((await decided.textContent())!, /tools → tool send_email\(to=\[EMAIL_ADDRESS\], body=hi\).*Demo Analyst.*(approved|used)/s);
    assert.equal(navigations, 0, "no reload");
    const events = await continued;
    assert.ok(events.includes("metadata"), `the continued run went ahead: ${events.join(", ")}`);
    await shot(page, "desktop-inbox-decided");
    await context.close();

    const records = (await gateway.audit()).filter((r): r is RequestRecord => r.type === "request" && r.identity?.subject === "oidc:corp:approver");
    assert.equal(records.filter((r) => r.path === "/console/approvals/events").length, 1, "one stream, one record");
    assert.equal(records.filter((r) => r.path === "/console/approvals.json").length, 0, "no polling");
  });

  test("the audit page gives the verifier key for --trusted-key, and the access review shows console roles, approver rights and recent use", async () => {
    const { context, page } = await signedIn("auditor", "/console/audit");
    const vkey = (await page.getByTestId("verifier-key").textContent())!.trim();
    assert.match(vkey, /^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/);
    const verified = await run(process.execPath, [...CLI_ARGS, "verify", "--ledger", gateway.ledgerFile, "--trusted-key", vkey]);
    assert.doesNotMatch(verified.stdout, /INVALID/);
    await shot(page, "desktop-audit");
    await page.setViewportSize(NARROW);
    await assertFitsNarrowWindow(page);
    await shot(page, "narrow-audit");
    await page.setViewportSize(DESKTOP);

    await page.goto(`${publicUrl}/console/access`);
    const approverRow = page.locator('[data-testid="access-review"] tr[data-subject="oidc:corp:approver"]');
    assert.match((await approverRow.getByTestId("console-roles").textContent())!, /approver/);
    const rights = approverRow.getByTestId("approver-rights").locator('[data-rule="tool-calls-need-approval"]');
    assert.match((await rights.textContent())!, /1 decided · last \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC (just now|\d+ min ago)/);
    const auditorRow = page.locator('[data-testid="access-review"] tr[data-subject="oidc:corp:auditor"]');
    assert.match((await auditorRow.getByTestId("console-roles").textContent())!, /auditor/);
    const analystGrant = page.locator('[data-testid="access-review"] tr[data-subject="oidc:corp:analyst"] [data-rule="callers-run-graphs"]');
    const grant = (await analystGrant.textContent())!;
    assert.doesNotMatch(grant, /never used/);
    assert.match(grant, /\d+× · last .* (just now|\d+ min ago)/);
    await shot(page, "desktop-access-review");
    await context.close();
  });
});
