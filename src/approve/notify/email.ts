// Email over SMTP: plain text, with an escaped HTML alternative for mail clients that prefer it.
import { createTransport, type Transporter } from "nodemailer";
import type { ApprovalNotice } from "../notice.js";
import type { NotifyConfig } from "../../config/index.js";
import { noticeDetails, noticeFacts, noticeTitle } from "./summary.js";

type EmailConfig = NonNullable<NotifyConfig["email"]>;

const SUBJECT_MAX = 200;
const DETAILS_MAX = 8_000;

export class EmailChannel {
  readonly target: string;
  readonly events: EmailConfig["events"];
  private readonly transport: Transporter;

  constructor(
    private readonly config: EmailConfig,
    password: string | undefined,
  ) {
    const { smtp } = config;
    this.target = `email ${smtp.host}:${smtp.port}`;
    this.events = config.events;
    this.transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      // requireTLS refuses to send when the server does not upgrade, so a stripped STARTTLS
      // offer (a downgrade attack) fails the delivery instead of sending in clear.
      requireTLS: !smtp.secure && smtp.starttls === "required",
      tls: { rejectUnauthorized: smtp.tls_reject_unauthorized },
      auth: smtp.username !== undefined && password !== undefined ? { user: smtp.username, pass: password } : undefined,
      connectionTimeout: smtp.timeout_ms,
      greetingTimeout: smtp.timeout_ms,
      socketTimeout: smtp.timeout_ms,
      // Nothing here attaches files or fetches URLs; refuse both outright.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async deliver(notice: ApprovalNotice): Promise<void> {
    await this.transport.sendMail({
      from: this.config.from,
      to: this.config.to,
      subject: emailSubject(notice),
      text: emailText(notice),
      html: emailHtml(notice),
    });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

function emailSubject(notice: ApprovalNotice): string {
  const graphs = notice.request.graphs.length > 0 ? ` (${notice.request.graphs.join(", ")})` : "";
  // The path and graph names come from the request: a CR or LF there must not start a new
  // header (Bcc: ...), whatever the mail library does with it.
  const subject = `[Portcullis] ${noticeTitle(notice)}${graphs}`.replace(/[\u0000-\u001f\u007f]+/g, " ");
  return subject.length <= SUBJECT_MAX ? subject : `${subject.slice(0, SUBJECT_MAX - 1)}…`;
}

function emailText(notice: ApprovalNotice): string {
  const facts = noticeFacts(notice);
  const width = Math.max(...facts.map((fact) => fact.label.length)) + 2;
  const lines = [noticeTitle(notice), "", ...facts.map(({ label, value }) => `${`${label}:`.padEnd(width)}${value}`), ""];
  if (notice.console_url) lines.push(`Review in the console: ${notice.console_url}`);
  lines.push(`API: ${notice.api_url}`, `Approval: ${notice.approval_id}`, `Notice: ${notice.notice_id}`);
  const details = noticeDetails(notice, DETAILS_MAX);
  if (details) lines.push("", "Details (masked):", details);
  return `${lines.join("\n")}\n`;
}

function emailHtml(notice: ApprovalNotice): string {
  const rows = noticeFacts(notice).map(({ label, value }) => `<tr><th align="left" valign="top">${html(label)}</th><td>${html(value)}</td></tr>`);
  const parts = [`<h2>${html(noticeTitle(notice))}</h2>`, `<table cellpadding="4">${rows.join("")}</table>`];
  if (notice.console_url) parts.push(`<p><a href="${html(notice.console_url)}">Review in the console</a></p>`);
  parts.push(`<p>API: ${html(notice.api_url)}<br>Approval: ${html(notice.approval_id)}</p>`);
  const details = noticeDetails(notice, DETAILS_MAX);
  if (details) parts.push(`<h3>Details (masked)</h3><pre>${html(details)}</pre>`);
  return `<!doctype html><html><body>${parts.join("\n")}</body></html>`;
}

function html(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
