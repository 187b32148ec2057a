// Slack, through an incoming webhook (https://api.slack.com/messaging/webhooks): Block Kit with a
// link button to the console, so Slack needs no interactivity endpoint on the gateway.
import type { Dispatcher } from "undici";
import type { ApprovalNotice } from "../notice.js";
import type { NotifyConfig } from "../../config/index.js";
import { noticeDetails, noticeFacts, noticeTitle } from "./summary.js";
import { postJson } from "./webhook.js";

type SlackConfig = NonNullable<NotifyConfig["slack"]>;

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks#section).
const SECTION_TEXT_MAX = 3_000;
const FIELD_TEXT_MAX = 2_000;
const FIELDS_PER_SECTION = 10;

export class SlackChannel {
  /** The webhook URL is a credential: logs say "slack" and nothing more. */
  readonly target = "slack";
  readonly events: SlackConfig["events"];

  constructor(
    private readonly config: SlackConfig,
    private readonly webhookUrl: string,
    private readonly dispatcher: Dispatcher,
  ) {
    this.events = config.events;
  }

  async deliver(notice: ApprovalNotice): Promise<void> {
    await postJson(this.webhookUrl, JSON.stringify(slackMessage(notice)), this.config.timeout_ms, this.dispatcher);
  }
}

function slackMessage(notice: ApprovalNotice): { text: string; blocks: object[] } {
  const title = `*${mrkdwn(noticeTitle(notice), SECTION_TEXT_MAX - 2)}*`;
  const fields = noticeFacts(notice).map(({ label, value }) => ({
    type: "mrkdwn",
    text: `*${label}*\n${mrkdwn(value, FIELD_TEXT_MAX - label.length - 3)}`,
  }));
  const blocks: object[] = [{ type: "section", text: { type: "mrkdwn", text: title } }];
  for (let start = 0; start < fields.length; start += FIELDS_PER_SECTION) {
    blocks.push({ type: "section", fields: fields.slice(start, start + FIELDS_PER_SECTION) });
  }
  const details = noticeDetails(notice, 1_500);
  if (details) blocks.push({ type: "section", text: { type: "mrkdwn", text: `*Details*\n\`\`\`${mrkdwn(details, SECTION_TEXT_MAX - 20)}\`\`\`` } });
  if (notice.console_url) {
    blocks.push(
      { type: "section", text: { type: "mrkdwn", text: `<${linkUrl(notice.console_url)}|Review in the Portcullis console>` } },
      {
        type: "actions",
        // A url button opens the console in the approver's browser; the decision is made there.
        elements: [{ type: "button", text: { type: "plain_text", text: "Review" }, url: notice.console_url }],
      },
    );
  }
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: mrkdwn(`Approval ${notice.approval_id} · API ${notice.api_url}`, SECTION_TEXT_MAX) }] });
  // text is the fallback shown in notifications; it is parsed as mrkdwn too.
  return { text: mrkdwn(noticeTitle(notice), SECTION_TEXT_MAX), blocks };
}

/**
 * Slack's escaping (https://api.slack.com/reference/surfaces/formatting#escaping): &, < and > as
 * HTML entities, so a value cannot form a link, a mention (<!channel>) or a user ping. Cut to
 * `max` characters without splitting an entity.
 */
function mrkdwn(value: string, max: number): string {
  const escaped = value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  if (escaped.length <= max) return escaped;
  return `${escaped.slice(0, max - 1).replace(/&[a-z]*$/, "")}…`;
}

// Inside <url|label>, a "|" would end the URL early.
function linkUrl(url: string): string {
  return mrkdwn(url, SECTION_TEXT_MAX - 50).replace(/\|/g, "%7C");
}
