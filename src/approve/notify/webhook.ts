// Signed JSON webhooks: each receiver gets the whole (masked) notice. The signature is Stripe's
// scheme (https://docs.stripe.com/webhooks#verify-manually): HMAC-SHA256 over "<t>.<raw body>",
// sent as "t=<unix seconds>,v1=<hex>", so the timestamp is signed and old deliveries cannot be replayed.
import { createHmac, timingSafeEqual } from "node:crypto";
import { request, type Dispatcher } from "undici";
import type { ApprovalNotice } from "../notice.js";
import type { NotifyConfig } from "../../config/index.js";

type WebhookConfig = NotifyConfig["webhooks"][number];

export class WebhookChannel {
  /** What logs name: the origin only, since a receiver's path or query may carry a token. */
  readonly target: string;
  readonly events: WebhookConfig["events"];

  constructor(
    private readonly config: WebhookConfig,
    private readonly secret: string,
    private readonly dispatcher: Dispatcher,
  ) {
    this.target = `webhook ${new URL(config.url).origin}`;
    this.events = config.events;
  }

  async deliver(notice: ApprovalNotice): Promise<void> {
    const body = JSON.stringify(notice);
    // Signed at each attempt, so a delivery retried after a long backoff is not stale.
    const timestamp = Math.floor(Date.now() / 1000);
    await postJson(this.config.url, body, this.config.timeout_ms, this.dispatcher, {
      "portcullis-signature": `t=${timestamp},v1=${signature(this.secret, timestamp, body)}`,
      "portcullis-event": notice.kind,
      // The same id on every retry, so receivers can deduplicate.
      "portcullis-delivery": notice.notice_id,
    });
  }
}

/**
 * Checks a Portcullis-Signature header against the raw request body (before any JSON parsing):
 * true when one of its v1 signatures is the HMAC of "<t>.<body>" under `secret` and t is within
 * `toleranceS` seconds of `now`.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  rawBody: string | Buffer,
  toleranceS = 300,
  now: Date = new Date(),
): boolean {
  if (!header) return false;
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(",")) {
    const [key, value = ""] = part.trim().split("=", 2);
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    // Several v1 values let a sender sign with an old and a new secret while rotating.
    if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) candidates.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceS) return false;
  const expected = Buffer.from(signature(secret, timestamp, rawBody), "hex");
  return candidates.some((candidate) => timingSafeEqual(candidate, expected));
}

function signature(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
}

/**
 * POSTs JSON and settles once a 2xx answer arrived; anything else throws an error whose message
 * never contains the URL (a Slack webhook URL is a secret; a receiver's path may hold a token).
 */
export async function postJson(
  url: string,
  body: string,
  timeoutMs: number,
  dispatcher: Dispatcher,
  headers: Record<string, string> = {},
): Promise<void> {
  let response: Dispatcher.ResponseData;
  try {
    // undici's request never follows redirects (v7 moved that into an interceptor not used here):
    // a 3xx is a failed delivery, so a receiver cannot bounce notices to another host.
    response = await request(url, {
      method: "POST",
      dispatcher,
      headers: { "content-type": "application/json", "user-agent": "Portcullis", ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new Error(`not reachable: ${networkFailure(error)}`);
  }
  // Drained so the connection returns to the pool; the answer's content is not needed.
  await response.body.dump().catch(() => undefined);
  if (response.statusCode < 200 || response.statusCode > 299) {
    const redirect = response.statusCode >= 300 && response.statusCode < 400 ? " (redirects are not followed)" : "";
    throw new Error(`answered HTTP ${response.statusCode}${redirect}`);
  }
}

function networkFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
}
