// Per-identity token buckets (policy rate_limits): the first entry whose subjects match an
// identity applies to it; a request over its bucket gets 429 with Retry-After.
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/identity.js";
import type { CompiledPolicy } from "./compile.js";

export interface BucketLimit {
  id: string;
  requests_per_second: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
  limitId: string;
}

// Buckets of identities not seen for this long are full again anyway; they are dropped.
const IDLE_DROP_MS = 10 * 60_000;
const MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepMs = 0;

  /** Takes one token from the identity's bucket, or refuses the request. */
  take(policy: CompiledPolicy, identity: Identity, nowMs = Date.now()): void {
    const applicable = policy.rateLimits.find((entry) => entry.appliesTo(identity));
    if (applicable) this.takeFrom(identity.subject, applicable.limit, identity, nowMs);
  }

  /** Takes one token from the bucket `key` (an identity, or an identity on one egress route). */
  takeFrom(key: string, limit: BucketLimit, identity: Identity, nowMs = Date.now()): void {
    const { id, requests_per_second: rate, burst } = limit;
    this.sweep(nowMs);
    let bucket = this.buckets.get(key);
    // A changed policy (another entry now applies) starts a fresh bucket.
    if (!bucket || bucket.limitId !== id) {
      bucket = { tokens: burst, updatedMs: nowMs, limitId: id };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * rate);
    bucket.updatedMs = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterS = Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
    throw new GatewayError(429, "PC_RATE_LIMITED", `Refused: over the rate limit '${id}' (${rate} requests per second, burst ${burst}); retry in ${retryAfterS} s.`, {
      identity,
      retryAfterS,
    });
  }

  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < 60_000 && this.buckets.size < MAX_BUCKETS) return;
    this.lastSweepMs = nowMs;
    for (const [subject, bucket] of this.buckets) if (nowMs - bucket.updatedMs > IDLE_DROP_MS) this.buckets.delete(subject);
    // Still full: many identities within minutes. Dropping the oldest only refills their buckets.
    for (const subject of this.buckets.keys()) {
      if (this.buckets.size < MAX_BUCKETS) break;
      this.buckets.delete(subject);
    }
  }
}
