// Per-identity token buckets (policy rate_limits): the first entry whose subjects match an
// identity applies to it; a request over its bucket gets 429 with Retry-After. A request costs a
// token, and a /runs/batch one more for each run after its first. The buckets live in memory
// (one gateway) or in PostgreSQL (several gateways, one limit across them): tokenBuckets.ts.
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import type { CompiledPolicy } from "./compile.js";
import { MemoryTokenBuckets, type BucketLimit, type TokenBuckets } from "./tokenBuckets.js";

export class RateLimiter {
  constructor(private readonly buckets: TokenBuckets = new MemoryTokenBuckets()) {}

  /** Takes one token from the identity's bucket, or refuses the request. */
  async take(policy: CompiledPolicy, identity: Identity, nowMs = Date.now()): Promise<void> {
    const applicable = policy.rateLimits.find((entry) => entry.appliesTo(identity));
    if (applicable) await this.takeFrom(identity.subject, applicable.limit, identity, nowMs);
  }

  /** A request that starts `runs` runs (a /runs/batch) costs a token per run: take() took the
   * first, this takes the rest, all or none. */
  async takeRuns(policy: CompiledPolicy, identity: Identity, runs: number, nowMs = Date.now()): Promise<void> {
    const applicable = policy.rateLimits.find((entry) => entry.appliesTo(identity));
    if (!applicable || runs <= 1) return;
    const { id, burst } = applicable.limit;
    if (runs > burst) {
      // More than the bucket ever holds: waiting never helps, so no Retry-After.
      throw new GatewayError(429, "PC_RATE_LIMITED", `Refused: these ${runs} runs need ${runs} tokens of the rate limit '${id}', more than its burst of ${burst}; send at most ${burst} runs in one batch.`, { identity });
    }
    await this.takeFrom(identity.subject, applicable.limit, identity, nowMs, runs - 1);
  }

  /** Takes `tokens` from the bucket `key` (an identity, or an identity on one egress route). */
  async takeFrom(key: string, limit: BucketLimit, identity: Identity, nowMs = Date.now(), tokens = 1): Promise<void> {
    const result = await this.buckets.take(key, limit, tokens, nowMs);
    if (result.taken) return;
    const { id, requests_per_second: rate, burst } = limit;
    const retryAfterS = Math.max(1, Math.ceil((tokens - result.available) / rate));
    throw new GatewayError(429, "PC_RATE_LIMITED", `Refused: over the rate limit '${id}' (${rate} requests per second, burst ${burst}); retry in ${retryAfterS} s.`, {
      identity,
      retryAfterS,
    });
  }
}
