// Approval notifications: one Notifier fanning each notice out to the configured channels
// (signed webhooks, Slack, email), in the background, with retries.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { Agent } from "undici";
import { readSecret, type NotifyConfig } from "../../config/index.js";
import { ConfigError } from "../../errors.js";
import type { ApprovalNotice, NoticeKind, Notifier } from "../notice.js";
import { SlackChannel } from "./slack.js";
import { WebhookChannel } from "./webhook.js";

export { verifyWebhookSignature } from "./webhook.js";

/** One destination. deliver makes a single attempt and throws on failure, with a message safe to log. */
interface NotificationChannel {
  /** Names the destination in logs; never a secret. */
  readonly target: string;
  readonly events: readonly NoticeKind[];
  deliver(notice: ApprovalNotice): Promise<void>;
  close?(): Promise<void>;
}

export async function createNotifier(config: NotifyConfig, log: Logger): Promise<Notifier> {
  // Our own connection pool, so close() can end it without touching undici's global dispatcher.
  const http = new Agent({ keepAliveTimeout: 10_000 });
  let channels: NotificationChannel[];
  try {
    channels = await configuredChannels(config, http);
  } catch (error) {
    await http.close();
    throw error;
  }
  if (channels.length === 0) {
    await http.close();
    return { notify() {}, async close() {} };
  }
  return new ChannelNotifier(channels, config, log, async () => {
    await Promise.all(channels.map((channel) => channel.close?.()));
    await http.close();
  });
}

/** Reads each channel's secrets; a missing or unreadable one fails startup (ConfigError naming the field). */
async function configuredChannels(config: NotifyConfig, http: Agent): Promise<NotificationChannel[]> {
  const channels: NotificationChannel[] = [];
  for (const [index, webhook] of config.webhooks.entries()) {
    const secret = await readSecret(webhook.secret, `approvals.notify.webhooks[${index}].secret`);
    channels.push(new WebhookChannel(webhook, secret, http));
  }
  if (config.slack) {
    const url = await readSecret(config.slack.webhook_url, "approvals.notify.slack.webhook_url");
    // The message names the field, never the value: the URL is the credential.
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
      throw new ConfigError("approvals.notify.slack.webhook_url: the secret is not an http(s) URL");
    }
    channels.push(new SlackChannel(config.slack, url, http));
  }
  if (config.email) {
    const { password } = config.email.smtp;
    const pass = password ? await readSecret(password, "approvals.notify.email.smtp.password") : undefined;
    // nodemailer is loaded only when email notices are configured.
    const { EmailChannel } = await import("./email.js");
    channels.push(new EmailChannel(config.email, pass));
  }
  return channels;
}

class ChannelNotifier implements Notifier {
  private readonly inFlight = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly channels: NotificationChannel[],
    private readonly retry: Pick<NotifyConfig, "retries" | "retry_backoff_ms">,
    private readonly log: Logger,
    private readonly releaseConnections: () => Promise<void>,
  ) {}

  notify(notice: ApprovalNotice): void {
    if (this.closing) {
      this.log.warn({ notice_id: notice.notice_id, kind: notice.kind }, "approval notice after shutdown, not sent");
      return;
    }
    for (const channel of this.channels) {
      if (!channel.events.includes(notice.kind)) continue;
      const delivery = this.deliver(channel, notice).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.inFlight.size > 0) await Promise.all(this.inFlight);
      await this.releaseConnections();
    })();
    return this.closing;
  }

  /** Settles, never rejects: a lost notice is logged, and the request that caused it goes on. */
  private async deliver(channel: NotificationChannel, notice: ApprovalNotice): Promise<void> {
    const attempts = this.retry.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        await channel.deliver(notice);
        return;
      } catch (error) {
        if (attempt >= attempts) {
          this.log.warn(
            { target: channel.target, notice_id: notice.notice_id, kind: notice.kind, approval_id: notice.approval_id, attempts, reason: error instanceof Error ? error.message : String(error) },
            "approval notice not delivered",
          );
          return;
        }
        await sleep(this.retry.retry_backoff_ms * 2 ** (attempt - 1));
      }
    }
  }
}
