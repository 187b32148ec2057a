// Protocol v2 over WebSocket from a signed-in browser: Debian's Chromium signs in with OIDC and a
// page on the gateway's origin opens the socket with nothing but its session cookie (a browser's
// WebSocket takes no headers), as the SDK's browser transport does. A command that starts a run
// is taken: the handshake's Origin, checked when the socket opened, is the CSRF defence a header
// would be elsewhere. A page on another origin gets no socket at all.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { launchChromium } from "../support/browser.js";
import { freePort } from "../support/ports.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

let idp: DevIdp;
let langgraph: Upstream;
let gateway: TestGateway;
let browser: Browser;
let publicUrl: string;

before(async () => {
  publicUrl = `http://127.0.0.1:${await freePort()}`;
  [idp, langgraph, browser] = await Promise.all([
    startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
    startLangGraph(),
    launchChromium(),
  ]);
  process.env.PORTCULLIS_TEST_WS_BROWSER_SECRET = idp.login.clientSecret;
  gateway = await startTestGateway(langgraph, {
    listen: { host: "127.0.0.1", port: Number(new URL(publicUrl).port) },
    // The built-in policy: policy.file unset.
    policy: { watch: false },
    identity: {
      login: {
        public_url: publicUrl,
        oidc: [{ id: "corp", display_name: "Corp", issuer: idp.issuer, client_id: idp.login.clientId, client_secret: { env: "PORTCULLIS_TEST_WS_BROWSER_SECRET" } }],
      },
    },
  });
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await Promise.all([idp?.close(), langgraph?.stop()]);
  delete process.env.PORTCULLIS_TEST_WS_BROWSER_SECRET;
});

async function signedInPage(user: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${publicUrl}/auth/login?return_to=/auth/me`);
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', "any password");
  await page.click('button[type="submit"]');
  await page.waitForURL((url) => url.origin === publicUrl && url.pathname === "/auth/me");
  return page;
}

/** In the page: a thread made with fetch (cookie, same-origin Origin), then a socket on it and a
 * run.start command; resolves with the first frame that answers the command. */
function startRunOverSocket(page: Page, base: string): Promise<{ thread: string; reply: { type: string; id?: number; error?: string; message?: string } }> {
  return page.evaluate(async (socketBase) => {
    const created = await fetch("/threads", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const thread = ((await created.json()) as { thread_id: string }).thread_id;
    const socket = new WebSocket(`${socketBase}/threads/${thread}/stream/events`);
    const reply = await new Promise<{ type: string; id?: number }>((resolve, reject) => {
      socket.onerror = () => reject(new Error("the socket failed"));
      socket.onopen = () => socket.send(JSON.stringify({ id: 1, method: "run.start", params: { assistant_id: "echo", input: { messages: [{ role: "user", content: "hello from the browser" }] } } }));
      socket.onmessage = (message) => {
        const frame = JSON.parse(String(message.data)) as { type: string; id?: number };
        if (frame.id === 1) resolve(frame);
      };
    });
    socket.close();
    return { thread, reply };
  }, base);
}

describe("protocol v2 over WebSocket from a signed-in browser", () => {
  test("a page on the gateway's origin starts a run over the socket with its session cookie alone", { timeout: 60_000 }, async () => {
    const page = await signedInPage("analyst");
    const { thread, reply } = await startRunOverSocket(page, publicUrl.replace("http", "ws"));
    assert.notEqual(reply.type, "error", `the command was taken: ${JSON.stringify(reply)}`);
    const command = await eventually(async () => {
      const found = (await gateway.audit()).find((record): record is RequestRecord => record.type === "request" && record.operation?.route === "protocol.command" && record.path === `/threads/${thread}/commands`);
      assert.ok(found, "the command was recorded");
      return found;
    });
    assert.equal(command.identity?.auth_method, "browser-session");
    assert.equal(command.decision.effect, "allow");
    assert.deepEqual(command.operation?.actions.includes("runs:create"), true);
  });

  test("a page on another origin gets no socket, though the browser sends the cookie", { timeout: 60_000 }, async () => {
    const page = await signedInPage("approver");
    // localhost and 127.0.0.1 are different origins; the cookie (SameSite=Lax, host 127.0.0.1)
    // still goes with a socket the localhost page opens to 127.0.0.1.
    await page.goto(`${publicUrl.replace("127.0.0.1", "localhost")}/healthz`);
    const opened = await page.evaluate(async (socketBase) => {
      const socket = new WebSocket(`${socketBase}/threads/${crypto.randomUUID()}/stream/events`);
      return new Promise<boolean>((resolve) => {
        socket.onopen = () => resolve(true);
        socket.onerror = () => resolve(false);
      });
    }, publicUrl.replace("http", "ws"));
    assert.equal(opened, false);
    const refused = await eventually(async () => {
      const found = (await gateway.audit()).find((record): record is RequestRecord => record.type === "request" && record.path.endsWith("/stream/events") && record.status === 403);
      assert.ok(found, "the refused handshake was recorded");
      return found;
    });
    assert.equal(refused.error, "PC_FORBIDDEN");
  });
});
