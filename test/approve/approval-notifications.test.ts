// Approval notifications against real receivers on loopback: an HTTP webhook receiver that checks
// signatures, a stand-in for Slack's incoming webhook, and an SMTP server that requires STARTTLS.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { simpleParser, type ParsedMail } from "mailparser";
import { pino, type Logger } from "pino";
import { generate } from "selfsigned";
import { SMTPServer } from "smtp-server";
import type { ApprovalNotice } from "../../src/approve/notice.js";
import { createNotifier, verifyWebhookSignature } from "../../src/approve/notify/index.js";
import { notifySchema } from "../../src/config/notify.js";
import { ConfigError } from "../../src/errors.js";

const WEBHOOK_SECRET = "whsec-test-0123456789abcdef";

function approvalNotice(overrides: Partial<ApprovalNotice> = {}): ApprovalNotice {
  return {
    kind: "approval.requested",
    notice_id: randomUUID(),
    time: "2026-11-22T09:00:00.000Z",
    approval_id: "apr_01JD6W",
    state: "pending",
    requester: { subject: "oidc:corp:alice", name: "Alice Example", groups: ["support"] },
    request: { method: "POST", path: "/threads/5b1f/runs/stream", actions: ["runs.create"], graphs: ["agent"] },
    rule: "refunds-need-a-second-pair-of-eyes",
    approver_groups: ["support-leads"],
    approvals_required: 1,
    approvals_given: 0,
    justification: "Customer [EMAIL_ADDRESS] asked for a refund",
    details: { pending_tool_calls: [{ name: "issue_refund", args: { amount: 40 } }] },
    expires_at: "2026-11-22T10:00:00.000Z",
    console_url: "https://portcullis.example.com/console/approvals/apr_01JD6W",
    api_url: "https://portcullis.example.com/approvals/apr_01JD6W",
    ...overrides,
  };
}

interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Deliveries whose answer has been sent. */
  answered(): number;
  close(): Promise<void>;
}

/** An HTTP receiver on a free loopback port; `answer` picks the status of the n-th delivery (from 1). */
async function startReceiver(
  answer: (count: number) => { status: number; headers?: Record<string, string>; delayMs?: number } = () => ({ status: 204 }),
): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  let answered = 0;
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    deliveries.push({ path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
    const { status, headers, delayMs } = answer(deliveries.length);
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    response.writeHead(status, headers).end(() => answered++);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    answered: () => answered,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function memoryLog(): { log: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const written: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => written.push(line) });
  return { log, lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>), text: () => written.join("") };
}

function webhookConfig(url: string, extra: Record<string, unknown> = {}) {
  return notifySchema.parse({ webhooks: [{ url, secret: { env: "PC_TEST_WEBHOOK_SECRET" }, ...extra }], retry_backoff_ms: 10 });
}

before(() => {
  process.env.PC_TEST_WEBHOOK_SECRET = WEBHOOK_SECRET;
});

describe("approval notification config", () => {
  test("an absent section configures no channel, and its notifier does nothing", async () => {
    const config = notifySchema.parse(undefined);
    assert.deepEqual(config.webhooks, []);
    assert.equal(config.slack, undefined);
    assert.equal(config.email, undefined);
    assert.equal(config.retries, 3);
    const notifier = await createNotifier(config, memoryLog().log);
    notifier.notify(approvalNotice());
    await notifier.close();
  });

  test("secrets cannot be written inline in the config", () => {
    assert.throws(() => notifySchema.parse({ webhooks: [{ url: "https://hooks.example.com/x", secret: "inline" }] }));
    assert.throws(() => notifySchema.parse({ slack: { webhook_url: "https://hooks.slack.com/services/T/B/X" } }));
  });

  test("email defaults to requests and break-glass alerts over STARTTLS that must succeed", () => {
    const config = notifySchema.parse({ email: { smtp: { host: "smtp.example.com" }, from: "portcullis@example.com", to: ["leads@example.com"] } });
    assert.deepEqual(config.email?.events, ["approval.requested", "approval.break_glass"]);
    assert.equal(config.email?.smtp.port, 587);
    assert.equal(config.email?.smtp.starttls, "required");
    assert.equal(config.email?.smtp.tls_reject_unauthorized, true);
  });

  test("an SMTP username without a password is refused", () => {
    assert.throws(() => notifySchema.parse({ email: { smtp: { host: "smtp.example.com", username: "u" }, from: "a@example.com", to: ["b@example.com"] } }), /username and password/);
  });

  test("a secret that cannot be read fails createNotifier with the field's name", async () => {
    const config = notifySchema.parse({ webhooks: [{ url: "https://hooks.example.com/x", secret: { env: "PC_TEST_UNSET_SECRET" } }] });
    await assert.rejects(createNotifier(config, memoryLog().log), (error: Error) => error instanceof ConfigError && /webhooks\[0\]\.secret/.test(error.message));
  });
});

describe("webhook notifications", () => {
  test("a webhook receives the notice as JSON, signed with the shared secret", async () => {
    const receiver = await startReceiver();
    const notice = approvalNotice();
    const notifier = await createNotifier(webhookConfig(`${receiver.url}/hooks/approvals`), memoryLog().log);
    notifier.notify(notice);
    await notifier.close();
    await receiver.close();

    assert.equal(receiver.deliveries.length, 1);
    const [delivery] = receiver.deliveries as [Delivery];
    assert.equal(delivery.path, "/hooks/approvals");
    assert.equal(delivery.headers["content-type"], "application/json");
    assert.equal(delivery.headers["portcullis-event"], "approval.requested");
    assert.equal(delivery.headers["portcullis-delivery"], notice.notice_id);
    assert.deepEqual(JSON.parse(delivery.body), notice);

    const header = delivery.headers["portcullis-signature"] as string;
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header, delivery.body), true);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header, Buffer.from(delivery.body)), true);
    // Stripe's scheme, computed independently: HMAC-SHA256 over "<t>.<raw body>".
    const timestamp = /t=(\d+)/.exec(header)?.[1];
    assert.equal(header.split("v1=")[1], createHmac("sha256", WEBHOOK_SECRET).update(`${timestamp}.${delivery.body}`).digest("hex"));
  });

  test("a signature fails verification with a wrong secret, a stale timestamp, a tampered body or no header", async () => {
    const receiver = await startReceiver();
    const notifier = await createNotifier(webhookConfig(receiver.url), memoryLog().log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await receiver.close();

    const [delivery] = receiver.deliveries as [Delivery];
    const header = delivery.headers["portcullis-signature"] as string;
    assert.equal(verifyWebhookSignature("another-secret", header, delivery.body), false);
    const tenMinutesLater = new Date(Date.now() + 10 * 60_000);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header, delivery.body, 300, tenMinutesLater), false);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header, delivery.body, 900, tenMinutesLater), true);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header, delivery.body.replace('"runs.create"', '"runs.delete"')), false);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, undefined, delivery.body), false);
    assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, header.replace(/t=\d+/, "t=1"), delivery.body, Number.MAX_SAFE_INTEGER), false);
  });

  test("a webhook secret can be read from a file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-notify-"));
    const secretFile = path.join(dir, "webhook-secret");
    await writeFile(secretFile, "file-secret\n");
    const receiver = await startReceiver();
    const config = notifySchema.parse({ webhooks: [{ url: receiver.url, secret: { file: secretFile } }] });
    const notifier = await createNotifier(config, memoryLog().log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await receiver.close();
    const [delivery] = receiver.deliveries as [Delivery];
    assert.equal(verifyWebhookSignature("file-secret", delivery.headers["portcullis-signature"] as string, delivery.body), true);
  });

  test("a delivery answered with 500 is retried, with the same delivery id, until it succeeds", async () => {
    const receiver = await startReceiver((count) => ({ status: count <= 2 ? 500 : 200 }));
    const memory = memoryLog();
    const notice = approvalNotice();
    const notifier = await createNotifier(webhookConfig(receiver.url), memory.log);
    notifier.notify(notice);
    await notifier.close();
    await receiver.close();

    assert.equal(receiver.deliveries.length, 3);
    assert.deepEqual(new Set(receiver.deliveries.map((d) => d.headers["portcullis-delivery"])), new Set([notice.notice_id]));
    for (const delivery of receiver.deliveries) {
      assert.equal(verifyWebhookSignature(WEBHOOK_SECRET, delivery.headers["portcullis-signature"] as string, delivery.body), true);
    }
    assert.deepEqual(memory.lines().filter((line) => line.level === 40), []);
  });

  test("a receiver that keeps failing costs a warning naming its origin only, never an exception", async () => {
    const receiver = await startReceiver(() => ({ status: 503 }));
    const memory = memoryLog();
    const config = webhookConfig(`${receiver.url}/hooks/t0k3n-in-path?key=q5ecret`);
    const notifier = await createNotifier({ ...config, retries: 2 }, memory.log);
    assert.doesNotThrow(() => notifier.notify(approvalNotice()));
    await notifier.close();
    await receiver.close();

    assert.equal(receiver.deliveries.length, 3);
    const warnings = memory.lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.target, `webhook ${receiver.url}`);
    assert.equal(warnings[0]?.attempts, 3);
    assert.match(String(warnings[0]?.reason), /HTTP 503/);
    assert.doesNotMatch(memory.text(), /t0k3n|q5ecret|whsec/);
  });

  test("an unreachable receiver costs a warning, never an exception", async () => {
    const gone = await startReceiver();
    await gone.close();
    const memory = memoryLog();
    const notifier = await createNotifier({ ...webhookConfig(`${gone.url}/hooks/t0k3n`), retries: 1 }, memory.log);
    notifier.notify(approvalNotice());
    await notifier.close();
    const warnings = memory.lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]?.reason), /not reachable: .*ECONNREFUSED/);
    assert.doesNotMatch(memory.text(), /t0k3n/);
  });

  test("a redirect is not followed", async () => {
    const elsewhere = await startReceiver();
    const redirecting = await startReceiver(() => ({ status: 302, headers: { location: `${elsewhere.url}/stolen` } }));
    const memory = memoryLog();
    const notifier = await createNotifier({ ...webhookConfig(redirecting.url), retries: 0 }, memory.log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await Promise.all([elsewhere.close(), redirecting.close()]);

    assert.equal(redirecting.deliveries.length, 1);
    assert.equal(elsewhere.deliveries.length, 0);
    assert.match(String(memory.lines().find((line) => line.level === 40)?.reason), /HTTP 302 \(redirects are not followed\)/);
  });

  test("a webhook subscribed to break-glass alerts only does not receive approval requests", async () => {
    const alertsOnly = await startReceiver();
    const everything = await startReceiver();
    const config = notifySchema.parse({
      webhooks: [
        { url: alertsOnly.url, secret: { env: "PC_TEST_WEBHOOK_SECRET" }, events: ["approval.break_glass"] },
        { url: everything.url, secret: { env: "PC_TEST_WEBHOOK_SECRET" } },
      ],
    });
    const notifier = await createNotifier(config, memoryLog().log);
    notifier.notify(approvalNotice({ kind: "approval.requested" }));
    notifier.notify(approvalNotice({ kind: "approval.break_glass", state: "break-glass" }));
    await notifier.close();
    await Promise.all([alertsOnly.close(), everything.close()]);

    assert.deepEqual(alertsOnly.deliveries.map((d) => d.headers["portcullis-event"]), ["approval.break_glass"]);
    assert.deepEqual(everything.deliveries.map((d) => d.headers["portcullis-event"]).sort(), ["approval.break_glass", "approval.requested"]);
  });

  test("close() waits for a delivery in flight", async () => {
    const slow = await startReceiver(() => ({ status: 200, delayMs: 300 }));
    const notifier = await createNotifier(webhookConfig(slow.url), memoryLog().log);
    notifier.notify(approvalNotice());
    await Promise.all([notifier.close(), notifier.close()]);
    assert.equal(slow.answered(), 1);
    await slow.close();
  });

  test("a notice after close() is not sent, and says so in the log", async () => {
    const receiver = await startReceiver();
    const memory = memoryLog();
    const notifier = await createNotifier(webhookConfig(receiver.url), memory.log);
    await notifier.close();
    notifier.notify(approvalNotice());
    await receiver.close();
    assert.equal(receiver.deliveries.length, 0);
    assert.match(memory.text(), /after shutdown, not sent/);
  });

  test("close() waits for a delivery that is between retries", async () => {
    const flaky = await startReceiver((count) => ({ status: count === 1 ? 500 : 200 }));
    const memory = memoryLog();
    const notifier = await createNotifier({ ...webhookConfig(flaky.url), retry_backoff_ms: 300 }, memory.log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await flaky.close();
    assert.equal(flaky.deliveries.length, 2);
    assert.deepEqual(memory.lines().filter((line) => line.level === 40), []);
  });

  test("notify() returns before the delivery is made", async () => {
    const slow = await startReceiver(() => ({ status: 200, delayMs: 200 }));
    const notifier = await createNotifier(webhookConfig(slow.url), memoryLog().log);
    notifier.notify(approvalNotice());
    assert.equal(slow.deliveries.length, 0);
    await notifier.close();
    await slow.close();
    assert.equal(slow.deliveries.length, 1);
  });
});

describe("Slack notifications", () => {
  const hostile = approvalNotice({
    requester: { subject: "oidc:corp:mallory", name: "Mallory <!channel>", groups: [] },
    justification: "Urgent & important: <https://evil.example|click here> <@U0123>",
  });

  test("Slack receives blocks with every notice value escaped and a button to the console", async () => {
    const slack = await startReceiver(() => ({ status: 200 }));
    process.env.PC_TEST_SLACK_URL = `${slack.url}/services/T000/B000/sl4ck-t0ken`;
    const config = notifySchema.parse({ slack: { webhook_url: { env: "PC_TEST_SLACK_URL" } } });
    const notifier = await createNotifier(config, memoryLog().log);
    notifier.notify(hostile);
    await notifier.close();
    await slack.close();

    assert.equal(slack.deliveries.length, 1);
    const [delivery] = slack.deliveries as [Delivery];
    assert.equal(delivery.path, "/services/T000/B000/sl4ck-t0ken");
    assert.equal(delivery.headers["content-type"], "application/json");
    const message = JSON.parse(delivery.body) as { text: string; blocks: Array<Record<string, unknown>> };
    assert.equal(message.text, "Approval requested: POST /threads/5b1f/runs/stream");

    const blocksText = JSON.stringify(message.blocks);
    assert.match(blocksText, /Approval requested: POST \/threads\/5b1f\/runs\/stream/);
    assert.match(blocksText, /Mallory &lt;!channel&gt;/);
    assert.match(blocksText, /Urgent &amp; important: &lt;https:\/\/evil.example\|click here&gt; &lt;@U0123&gt;/);
    assert.doesNotMatch(blocksText, /<!channel>|<@U0123>|<https:\/\/evil/);
    for (const fact of ["refunds-need-a-second-pair-of-eyes", "runs.create", "agent", "0 of 1 given", "2026-11-22T10:00:00.000Z"]) {
      assert.ok(blocksText.includes(fact), fact);
    }

    const actions = message.blocks.find((block) => block.type === "actions") as { elements: Array<{ type: string; url: string }> };
    assert.deepEqual(actions.elements.map((e) => [e.type, e.url]), [["button", hostile.console_url]]);
    assert.ok(blocksText.includes(`<${hostile.console_url}|`), "the console link is also in a mrkdwn section");
  });

  test("a notice without a console URL has no button", async () => {
    const slack = await startReceiver(() => ({ status: 200 }));
    process.env.PC_TEST_SLACK_URL = `${slack.url}/services/T000/B000/sl4ck-t0ken`;
    const notifier = await createNotifier(notifySchema.parse({ slack: { webhook_url: { env: "PC_TEST_SLACK_URL" } } }), memoryLog().log);
    notifier.notify(approvalNotice({ console_url: undefined, kind: "approval.decided", state: "denied", decided_by: ["oidc:corp:bob"], reason: "not today" }));
    await notifier.close();
    await slack.close();
    const message = JSON.parse((slack.deliveries[0] as Delivery).body) as { text: string; blocks: Array<{ type: string }> };
    assert.equal(message.text, "Denied: POST /threads/5b1f/runs/stream");
    assert.equal(message.blocks.some((block) => block.type === "actions"), false);
    assert.match(JSON.stringify(message.blocks), /not today/);
  });

  test("a failing Slack webhook is logged as \"slack\", never by its URL", async () => {
    const slack = await startReceiver(() => ({ status: 404 }));
    process.env.PC_TEST_SLACK_URL = `${slack.url}/services/T000/B000/sl4ck-t0ken`;
    const memory = memoryLog();
    const config = notifySchema.parse({ slack: { webhook_url: { env: "PC_TEST_SLACK_URL" } }, retries: 1, retry_backoff_ms: 10 });
    const notifier = await createNotifier(config, memory.log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await slack.close();
    assert.equal(slack.deliveries.length, 2);
    const warnings = memory.lines().filter((line) => line.level === 40);
    assert.equal(warnings[0]?.target, "slack");
    assert.doesNotMatch(memory.text(), /sl4ck-t0ken|127\.0\.0\.1/);
  });

  test("a Slack webhook URL secret that is not a URL is refused without echoing it", async () => {
    process.env.PC_TEST_SLACK_URL = "xoxb-not-a-url";
    const config = notifySchema.parse({ slack: { webhook_url: { env: "PC_TEST_SLACK_URL" } } });
    await assert.rejects(createNotifier(config, memoryLog().log), (error: Error) => error instanceof ConfigError && !error.message.includes("xoxb"));
  });
});

describe("email notifications", () => {
  interface ReceivedMail {
    /** The SMTP session was upgraded to TLS (STARTTLS). */
    secure: boolean;
    recipients: string[];
    mail: ParsedMail;
  }
  const received: ReceivedMail[] = [];
  const logins: string[] = [];
  let smtp: SMTPServer;
  let port: number;

  before(async () => {
    const pems = await generate([{ name: "commonName", value: "localhost" }], { keyType: "rsa", keySize: 2048, algorithm: "sha256" });
    smtp = new SMTPServer({
      secure: false,
      key: pems.private,
      cert: pems.cert,
      authOptional: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === "portcullis" && auth.password === "smtp-pa55") {
          logins.push(auth.username);
          callback(null, { user: auth.username });
        } else {
          callback(new Error("Invalid username or password"));
        }
      },
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((mail) => {
            received.push({ secure: session.secure, recipients: session.envelope.rcptTo.map((rcpt) => rcpt.address), mail });
            callback();
          })
          .catch(callback);
      },
    });
    smtp.listen(0, "127.0.0.1");
    await once(smtp.server, "listening");
    port = (smtp.server.address() as { port: number }).port;
    process.env.PC_TEST_SMTP_PASSWORD = "smtp-pa55";
  });

  after(async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  function emailConfig(extra: Record<string, unknown> = {}) {
    return notifySchema.parse({
      email: {
        smtp: {
          host: "127.0.0.1",
          port,
          starttls: "required",
          tls_reject_unauthorized: false,
          username: "portcullis",
          password: { env: "PC_TEST_SMTP_PASSWORD" },
        },
        from: "Portcullis <portcullis@example.com>",
        to: ["support-leads@example.com"],
        ...extra,
      },
      retry_backoff_ms: 10,
    });
  }

  test("an approval request is mailed over STARTTLS to the approvers, with the facts in the text", async () => {
    received.length = 0;
    const notice = approvalNotice();
    const notifier = await createNotifier(emailConfig(), memoryLog().log);
    notifier.notify(notice);
    await notifier.close();

    assert.equal(received.length, 1);
    const { secure, mail } = received[0] as ReceivedMail;
    assert.equal(secure, true, "the session was upgraded with STARTTLS");
    assert.deepEqual(logins, ["portcullis"]);
    assert.equal(mail.from?.text, '"Portcullis" <portcullis@example.com>');
    assert.equal((Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text, "support-leads@example.com");
    assert.equal(mail.subject, "[Portcullis] Approval requested: POST /threads/5b1f/runs/stream (agent)");
    for (const fact of ["Alice Example (oidc:corp:alice)", "refunds-need-a-second-pair-of-eyes", "runs.create", "support-leads", "Customer [EMAIL_ADDRESS] asked for a refund", "2026-11-22T10:00:00.000Z", notice.console_url!, "issue_refund"]) {
      assert.ok(mail.text?.includes(fact), `text contains ${fact}`);
    }
    assert.ok(typeof mail.html === "string" && mail.html.includes(`href="${notice.console_url}"`));
  });

  test("HTML in a notice value is escaped in the HTML alternative", async () => {
    received.length = 0;
    const notifier = await createNotifier(emailConfig(), memoryLog().log);
    notifier.notify(approvalNotice({ justification: '<img src=x onerror="alert(1)">' }));
    await notifier.close();
    const { mail } = received[0] as ReceivedMail;
    assert.ok(typeof mail.html === "string" && !mail.html.includes("<img"));
    assert.ok(mail.text?.includes('<img src=x onerror="alert(1)">'), "the plain text keeps the value as written");
  });

  test("a CR LF in the request path cannot add a Bcc header", async () => {
    received.length = 0;
    const notifier = await createNotifier(emailConfig(), memoryLog().log);
    notifier.notify(approvalNotice({ request: { method: "POST", path: "/threads/x\r\nBcc: evil@example.com", actions: ["runs.create"], graphs: ["agent\r\nX-Injected: 1"] } }));
    await notifier.close();

    assert.equal(received.length, 1);
    const { recipients, mail } = received[0] as ReceivedMail;
    assert.equal(mail.headers.has("bcc"), false);
    assert.equal(mail.headers.has("x-injected"), false);
    assert.equal(mail.bcc, undefined);
    assert.deepEqual(recipients, ["support-leads@example.com"]);
    assert.doesNotMatch(mail.subject ?? "", /[\r\n]/);
  });

  test("email is sent only for the configured events", async () => {
    received.length = 0;
    const notifier = await createNotifier(emailConfig(), memoryLog().log);
    notifier.notify(approvalNotice({ kind: "approval.decided", state: "approved", approvals_given: 1 }));
    notifier.notify(approvalNotice({ kind: "approval.break_glass", state: "break-glass" }));
    await notifier.close();
    assert.deepEqual(received.map((r) => r.mail.subject), ["[Portcullis] Break-glass: POST /threads/5b1f/runs/stream (agent)"]);
  });

  test("with STARTTLS required, a server that does not offer it gets no mail and a warning", async () => {
    let delivered = 0;
    const plain = new SMTPServer({
      secure: false,
      disabledCommands: ["STARTTLS"],
      authOptional: true,
      logger: false,
      onData: (stream, _session, callback) => stream.resume().on("end", () => callback(null, String(++delivered))),
    });
    plain.listen(0, "127.0.0.1");
    await once(plain.server, "listening");
    const memory = memoryLog();
    const config = notifySchema.parse({
      email: { smtp: { host: "127.0.0.1", port: (plain.server.address() as { port: number }).port }, from: "portcullis@example.com", to: ["a@example.com"] },
      retries: 0,
    });
    const notifier = await createNotifier(config, memory.log);
    notifier.notify(approvalNotice());
    await notifier.close();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
    assert.equal(delivered, 0);
    const warnings = memory.lines().filter((line) => line.level === 40);
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]?.target), /^email 127\.0\.0\.1:\d+$/);
    assert.match(String(warnings[0]?.reason), /STARTTLS/i);
  });
});

after(() => {
  delete process.env.PC_TEST_WEBHOOK_SECRET;
  delete process.env.PC_TEST_SLACK_URL;
  delete process.env.PC_TEST_SMTP_PASSWORD;
});
