// Per-identity token buckets (policy rate_limits): the first entry whose subjects match an
// identity applies to it; a request over its bucket gets 429 with Retry-After. A request costs a
// token, and a /runs/batch one more for each run after its first.
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

  /** A request that starts `runs` runs (a /runs/batch) costs a token per run: take() took the
   * first, this takes the rest, all or none. */
  takeRuns(policy: CompiledPolicy, identity: Identity, runs: number, nowMs = Date.now()): void {
    const applicable = policy.rateLimits.find((entry) => entry.appliesTo(identity));
    if (!applicable || runs <= 1) return;
    const { id, burst } = applicable.limit;
    if (runs > burst) {
      // More than the bucket ever holds: waiting never helps, so no Retry-After.
      throw new GatewayError(429, "PC_RATE_LIMITED", `Refused: these ${runs} runs need ${runs} tokens of the rate limit '${id}', more than its burst of ${burst}; send at most ${burst} runs in one batch.`, { identity });
    }
    this.takeFrom(identity.subject, applicable.limit, identity, nowMs, runs - 1);
  }

  /** Takes `tokens` from the bucket `key` (an identity, or an identity on one egress route). */
  takeFrom(key: string, limit: BucketLimit, identity: Identity, nowMs = Date.now(), tokens = 1): void {
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
    if (bucket.tokens >= tokens) {
      bucket.tokens -= tokens;
      return;
    }
    const retryAfterS = Math.max(1, Math.ceil((tokens - bucket.tokens) / rate));
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
