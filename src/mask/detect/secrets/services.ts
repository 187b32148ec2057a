// API keys of hosted services: Slack, Stripe, OpenAI, Anthropic, SendGrid, Telegram bots.
import { ALNUM, BASE64, CODE_COLON, DASH, isDigit, runEnd, runStartBefore, startsToken, UNDERSCORE, URLSAFE } from "../lexer.js";
import { anchor, type Rule } from "./rules.js";
import { exactly, type TokenFamily } from "./tokens.js";
import { shannonEntropy } from "./values.js";

const ALNUM_DASH = ALNUM | DASH;
const WEBHOOK_PATH = BASE64 | UNDERSCORE | DASH;

/** Slack tokens are dash-separated: a numeric team/app segment first, a random segment last. */
function hasSlackSegments(token: string): boolean {
  const parts = token.split("-").slice(1);
  const last = parts[parts.length - 1] ?? "";
  if (last.length < 8) return false;
  if (token.startsWith("xoxa-") || token.startsWith("xoxr-")) return true; // xox[ar]-(\d-)?[0-9a-zA-Z]{8,48}
  return parts.length >= 2 && /^[0-9]+$/.test(parts[0] ?? "");
}


export const SLACK_TOKENS: TokenFamily = {
  detector: "slack-token",
  entity: "SLACK_TOKEN",
  formats: [
    ...[
      { rule: "slack-bot-token", prefixes: ["xoxb-"] },
      { rule: "slack-user-token", prefixes: ["xoxp-", "xoxe-"] },
      { rule: "slack-legacy-workspace-token", prefixes: ["xoxa-", "xoxr-"] },
      { rule: "slack-legacy-token", prefixes: ["xoxs-", "xoxo-"] },
    ].map(({ rule, prefixes }) => ({
      rule, anchor: "xox", prefixes, body: [{ chars: ALNUM_DASH, min: 8, max: 250 }],
      trimEnd: DASH, minEntropy: 2.5, strongAt: 5, valid: hasSlackSegments,
    })),
    {
      rule: "slack-app-token", anchor: "xapp-", prefixes: ["xapp-"], body: [{ chars: ALNUM_DASH, min: 20, max: 250 }],
      trimEnd: DASH, minEntropy: 2.5, strongAt: 5, valid: hasSlackSegments,
    },
  ],
};

export const SLACK_WEBHOOKS: TokenFamily = {
  detector: "slack-webhook-url",
  entity: "SLACK_WEBHOOK",
  formats: [
    {
      rule: "slack-webhook-url", anchor: ".slack", prefixes: ["hooks.slack.com/"],
      body: [{ oneOf: ["services/", "workflows/", "triggers/"] }, { chars: WEBHOOK_PATH, min: 20, max: 200 }],
      strongAt: 10,
      // The documentation's T00000000/B00000000/XXXXXXXX… is low-entropy; real paths are random.
      valid: (token) => shannonEntropy(token, token.indexOf("/", 16) + 1, token.length) >= 3,
    },
  ],
};

export const STRIPE_KEYS: TokenFamily = {
  detector: "stripe-access-token",
  entity: "STRIPE_KEY",
  // Secret (sk_) and restricted (rk_) keys; publishable pk_ keys are public by design.
  formats: [
    {
      rule: "stripe-access-token", anchor: "k_", prefixes: ["sk", "rk"].flatMap((kind) => ["live", "test", "prod"].map((mode) => `${kind}_${mode}_`)),
      body: [{ chars: ALNUM, min: 10, max: 99 }], minEntropy: 3, strongAt: 8,
    },
    // Webhook signing secrets (Stripe-Signature verification).
    { rule: "stripe-webhook-secret", anchor: "whsec_", prefixes: ["whsec_"], body: [{ chars: ALNUM, min: 24, max: 99 }], minEntropy: 3, strongAt: 6 },
  ],
};

export const OPENAI_KEYS: TokenFamily = {
  detector: "openai-api-key",
  entity: "OPENAI_API_KEY",
  formats: [
    // Legacy user keys: T3BlbkFJ is base64 of "OpenAI".
    { rule: "openai-api-key", anchor: "k-", prefixes: ["sk-"], body: [exactly(ALNUM, 20), { oneOf: ["T3BlbkFJ"] }, exactly(ALNUM, 20)], minEntropy: 3, strongAt: 7 },
    // Project, service-account and admin keys: 58 or 74 characters either side of the marker
    // today; any long random tail after these prefixes is taken, the marker raises the score.
    {
      rule: "openai-api-key", anchor: "k-", prefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-"], body: [{ chars: URLSAFE, min: 40, max: 250 }],
      minEntropy: 3.5, strongAt: 9, score: (token) => (token.includes("T3BlbkFJ") ? 1 : 0.9),
    },
  ],
};

export const ANTHROPIC_KEYS: TokenFamily = {
  detector: "anthropic-api-key",
  entity: "ANTHROPIC_API_KEY",
  formats: [
    { rule: "anthropic-api-key", anchor: "k-ant-", prefixes: ["sk-ant-api03-"], body: [exactly(URLSAFE, 93), { oneOf: ["AA"] }], strongAt: 7 },
    { rule: "anthropic-admin-api-key", anchor: "k-ant-", prefixes: ["sk-ant-admin01-"], body: [exactly(URLSAFE, 93), { oneOf: ["AA"] }], strongAt: 7 },
    // OAuth access and refresh tokens have no published length (gitleaks: 40 or more).
    { rule: "anthropic-oauth-token", anchor: "k-ant-", prefixes: ["sk-ant-oat01-", "sk-ant-ort01-"], body: [{ chars: URLSAFE, min: 40, max: 250 }], minEntropy: 3.5, strongAt: 7 },
  ],
};

export const SENDGRID_KEYS: TokenFamily = {
  detector: "sendgrid-api-token",
  entity: "SENDGRID_API_KEY",
  // SG.<22 base64url key id>.<43 base64url secret>, with or without a key name in front.
  formats: [
    {
      rule: "sendgrid-api-token", anchor: "SG.", prefixes: ["SG."], body: [exactly(URLSAFE, 22), { oneOf: ["."] }, exactly(URLSAFE, 43)],
      after: URLSAFE, minEntropy: 3, strongAt: 6,
    },
  ],
};

// --- Telegram bot tokens: `<bot id>:AA<33 base64url>` (gitleaks telegram-bot-api-token). ---

const TELEGRAM_ID_MIN = 5;
const TELEGRAM_ID_MAX = 16;
const TELEGRAM_SECRET = 35; // "AA" and 33 more

/** A bot id starts a token, or follows `/bot` in a Bot API URL (`api.telegram.org/bot<token>/`). */
function startsBotId(text: string, start: number): boolean {
  return startsToken(text, start, ALNUM | UNDERSCORE | DASH) || (start >= 4 && text.startsWith("/bot", start - 4));
}

export const telegramRule: Rule = {
  id: "telegram-bot-api-token",
  entity: "TELEGRAM_BOT_TOKEN",
  // "AA" after the colon: a rarer first character than ":" in JSON, so indexOf skips faster.
  anchors: [anchor("AA", 1)],
  maxLength: TELEGRAM_ID_MAX + 1 + TELEGRAM_SECRET,
  reach: 1 + TELEGRAM_SECRET + 1,
  evaluate(text, at, final, sink) {
    if (at < 0 || text.charCodeAt(at) !== CODE_COLON) return;
    const start = runStartBefore(text, at, isDigit, TELEGRAM_ID_MAX);
    if (at - start < TELEGRAM_ID_MIN || at - start > TELEGRAM_ID_MAX || !startsBotId(text, start)) return;
    const secretEnd = runEnd(text, at + 1, URLSAFE, TELEGRAM_SECRET + 1);
    if (secretEnd === text.length && !final) return sink.open(start, true);
    if (secretEnd - at - 1 !== TELEGRAM_SECRET || shannonEntropy(text, at + 1, secretEnd) < 3) return;
    sink.found({ start, end: secretEnd, entity: "TELEGRAM_BOT_TOKEN", score: 1, detector: "telegram-bot-api-token" });
  },
  trailing(text) {
    // A bot id at the very end, maybe followed by `:` or `:A`: a token would start at the id.
    let end = text.length;
    let strong = false;
    if (text.charCodeAt(end - 1) === 0x41 && text.charCodeAt(end - 2) === CODE_COLON) end -= 2;
    else if (text.charCodeAt(end - 1) === CODE_COLON) end -= 1;
    strong = end < text.length;
    const start = runStartBefore(text, end, isDigit, TELEGRAM_ID_MAX);
    // Any shorter run may still grow into a bot id.
    if (start === end || end - start > TELEGRAM_ID_MAX || !startsBotId(text, start)) return undefined;
    return { start, strong: strong && end - start >= TELEGRAM_ID_MIN };
  },
};
