// The approvals.notify config section: where approval notices go. An absent section sends nothing.
import { z } from "zod";
import { secretSource } from "./secrets.js";

const ALL_NOTICE_KINDS = ["approval.requested", "approval.decided", "approval.expired", "approval.break_glass"] as const;

const noticeKinds = z
  .array(z.enum(ALL_NOTICE_KINDS))
  .min(1)
  .describe("Notices sent: approval.requested, approval.decided, approval.expired, approval.break_glass");

const timeoutMs = z
  .number()
  .int()
  .positive()
  .max(60_000)
  .describe("Longest a single delivery attempt may take, connection included");

// A CR or LF in an address would let the config add mail headers.
const mailbox = z
  .string()
  .min(3)
  .regex(/^[^\r\n]+$/, "must be one line")
  .describe('An address, optionally with a display name: "Portcullis <portcullis@example.com>"');

const webhook = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).describe("Receiver that gets each notice as a JSON POST; redirects are not followed"),
  secret: secretSource.describe(
    "HMAC-SHA256 key signing each delivery (Portcullis-Signature: t=<unix seconds>,v1=<hex>); receivers check it with verifyWebhookSignature",
  ),
  events: noticeKinds.default([...ALL_NOTICE_KINDS]),
  timeout_ms: timeoutMs.default(5_000),
});

const slack = z.strictObject({
  webhook_url: secretSource.describe("Slack incoming-webhook URL; it is itself a credential, so it is read like a secret and never logged"),
  events: noticeKinds.default([...ALL_NOTICE_KINDS]),
  timeout_ms: timeoutMs.default(5_000),
});

const email = z.strictObject({
  smtp: z
    .strictObject({
      host: z.string().min(1).describe("SMTP submission server"),
      port: z.number().int().min(1).max(65_535).default(587).describe("587 for STARTTLS submission, 465 with secure: true"),
      secure: z.boolean().default(false).describe("Implicit TLS from the first byte (port 465); false starts in clear and upgrades with STARTTLS"),
      starttls: z
        .enum(["required", "opportunistic"])
        .default("required")
        .describe("With secure: false, 'required' refuses to send unless the server upgrades to TLS; 'opportunistic' upgrades only when the server offers it"),
      username: z.string().min(1).optional().describe("SMTP AUTH user; no authentication when absent"),
      password: secretSource.optional().describe("SMTP AUTH password"),
      tls_reject_unauthorized: z.boolean().default(true).describe("Refuse a server certificate that does not verify; false only for a test server"),
      timeout_ms: z.number().int().positive().max(120_000).default(10_000).describe("Longest wait for the connection, the greeting and each server reply"),
    })
    .refine((smtp) => (smtp.username === undefined) === (smtp.password === undefined), {
      message: "give both username and password, or neither",
    })
    .describe("How mail is submitted"),
  from: mailbox.describe('Sender, e.g. "Portcullis <portcullis@example.com>"'),
  to: z.array(mailbox).min(1).describe("Recipients, usually the approvers' group mailbox"),
  events: noticeKinds.default(["approval.requested", "approval.break_glass"]),
});

export const notifySchema = z
  .strictObject({
    webhooks: z.array(webhook).default([]).describe("Signed JSON webhooks, each receiving the full masked notice"),
    slack: slack.optional().describe("A Slack channel, through an incoming webhook"),
    email: email.optional().describe("Plain-text email (with an HTML alternative) over SMTP"),
    retries: z.number().int().min(0).max(10).default(3).describe("Attempts after the first when a delivery fails"),
    retry_backoff_ms: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(500)
      .describe("Wait before the first retry; doubled before each further one"),
  })
  .prefault({})
  .describe("Where approval notices go (masked values only); an absent section sends none");

export type NotifyConfig = z.output<typeof notifySchema>;
