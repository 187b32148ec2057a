// `npm start`: the demo runs the gateway, the bundled LangGraph server and the development IdP,
// and everything its banner promises works: user bearer tokens, the demo key, console sign-in.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { runDemo, type RunningDemo } from "../../demo/run.js";
import { launchChromium } from "../support/browser.js";
import { ledgerRecords } from "../support/stack.js";

let demo: RunningDemo;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-demo-"));
  demo = await runDemo({ port: 0, dataDir: dir });
});
after(async () => {
  await demo?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("the demo", () => {
  test("each demo user's bearer token works with the SDK and is recorded as that user with their groups", async () => {
    for (const [user, group] of [["analyst", "analysts"], ["admin", "admins"]] as const) {
      const token = await readFile(path.join(demo.tokenDir, `${user}.jwt`), "utf8");
      const client = new Client({ apiUrl: demo.url, defaultHeaders: { authorization: `Bearer ${token}` } });
      const assistants = await client.assistants.search({ graphId: "agent" });
      assert.ok(assistants.length >= 1);
      const records = await ledgerRecords(path.join(dir, "ledger.db"));
      const last = records.filter((r) => r.type === "request").at(-1)!;
      assert.equal(last.type, "request");
      assert.equal(last.identity?.subject, `oidc:demo-idp:${user}`);
      assert.deepEqual(last.identity?.groups, [group]);
    }
  });

  test("the demo key works with the SDK's apiKey", async () => {
    const client = new Client({ apiUrl: demo.url, apiKey: demo.demoKey });
    const thread = await client.threads.create();
    assert.ok(thread.thread_id);
  });

  test("the model graph reaches the stand-in provider through the egress route, linked to the run", async () => {
    const token = await readFile(path.join(demo.tokenDir, "analyst.jwt"), "utf8");
    const client = new Client({ apiUrl: demo.url, defaultHeaders: { authorization: `Bearer ${token}` } });
    const thread = await client.threads.create();
    const result = (await client.runs.wait(thread.thread_id, "model", { input: { messages: [{ role: "user", content: "hello" }] } })) as { messages: { content: string }[] };
    assert.equal(result.messages.at(-1)?.content, "Hello from the stand-in model. You said: hello");
    const records = await ledgerRecords(path.join(dir, "ledger.db"));
    const call = records.find((r) => r.type === "request" && r.egress?.route === "demo-model");
    assert.equal(call?.type === "request" && call.identity?.subject, "sa:langgraph-runtime");
    assert.equal(call?.type === "request" && call.egress?.run?.subject, "oidc:demo-idp:analyst");
  });

  test("a demo user signs in to the console in Chromium", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${demo.url}/console/`);
      await page.fill('input[name="login"]', "analyst");
      await page.fill('input[name="password"]', "demo");
      await page.click('button[type="submit"]');
      await page.waitForURL(`${demo.url}/console/`);
      assert.equal(await page.getByTestId("subject").textContent(), "oidc:demo-idp:analyst");
      assert.equal(await page.getByTestId("groups").textContent(), "analysts");
    } finally {
      await browser.close();
    }
  });
});
