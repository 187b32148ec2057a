// Where rate-limit buckets live. In memory for one gateway (a restart only refills them); in
// PostgreSQL for several, so a limit holds across every instance behind the balancer (N requests
// in total, not N per instance). A bucket holds up to `burst` tokens and refills at
// `requests_per_second`; a bucket whose limit changed starts full under the new one.
import type pg from "pg";
import type { Component } from "../storage/index.js";

export interface BucketLimit {
  id: string;
  requests_per_second: number;
  burst: number;
}

export type TakeResult = { taken: true } | { taken: false; available: number };

export interface TokenBuckets {
  /** Refills the bucket `key` to `nowMs` and takes `tokens` from it if it holds that many. */
  take(key: string, limit: BucketLimit, tokens: number, nowMs: number): Promise<TakeResult>;
}

// Buckets of identities not seen for this long are full again anyway; they are dropped.
const IDLE_DROP_MS = 10 * 60_000;
const SWEEP_MS = 60_000;
const MAX_BUCKETS = 100_000;

interface Bucket {
  tokens: number;
  updatedMs: number;
  limitId: string;
}

export class MemoryTokenBuckets implements TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepMs = 0;

  async take(key: string, limit: BucketLimit, tokens: number, nowMs: number): Promise<TakeResult> {
    this.sweep(nowMs);
    let bucket = this.buckets.get(key);
    if (!bucket || bucket.limitId !== limit.id) {
      bucket = { tokens: limit.burst, updatedMs: nowMs, limitId: limit.id };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, nowMs - bucket.updatedMs) / 1000) * limit.requests_per_second);
    bucket.updatedMs = Math.max(bucket.updatedMs, nowMs);
    if (bucket.tokens < tokens) return { taken: false, available: bucket.tokens };
    bucket.tokens -= tokens;
    return { taken: true };
  }

  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweepMs < SWEEP_MS && this.buckets.size < MAX_BUCKETS) return;
    this.lastSweepMs = nowMs;
    for (const [key, bucket] of this.buckets) if (nowMs - bucket.updatedMs > IDLE_DROP_MS) this.buckets.delete(key);
    // Still full: many identities within minutes. Dropping the oldest only refills their buckets.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < MAX_BUCKETS) break;
      this.buckets.delete(key);
    }
  }
}

export const RATE_LIMIT_TABLES: Component = {
  name: "rate_limit_buckets",
  migrations: [
    {
      // One gateway keeps its buckets in memory (MemoryTokenBuckets).
      sqlite: null,
      postgres: `CREATE TABLE IF NOT EXISTS rate_limit_buckets (
         key TEXT PRIMARY KEY,
         limit_id TEXT NOT NULL,
         tokens DOUBLE PRECISION NOT NULL,
         updated_ms BIGINT NOT NULL
       );
       CREATE INDEX IF NOT EXISTS rate_limit_buckets_updated ON rate_limit_buckets (updated_ms);`,
    },
  ],
};

// One statement per request: the upsert locks the bucket's row, so instances taking from the same
// bucket at once are serialised by PostgreSQL; the WHERE leaves the row untouched when the
// refilled bucket holds too few tokens, and then nothing is returned.
const TAKE = `
  INSERT INTO rate_limit_buckets AS b (key, limit_id, tokens, updated_ms)
  VALUES ($1, $2, $3::float8 - $4::float8, $5)
  ON CONFLICT (key) DO UPDATE SET
    limit_id = excluded.limit_id,
    tokens = (CASE WHEN b.limit_id = $2 THEN LEAST($3::float8, b.tokens + GREATEST(0, $5 - b.updated_ms) / 1000.0 * $6::float8) ELSE $3::float8 END) - $4::float8,
    updated_ms = GREATEST(b.updated_ms, $5)
  WHERE (CASE WHEN b.limit_id = $2 THEN LEAST($3::float8, b.tokens + GREATEST(0, $5 - b.updated_ms) / 1000.0 * $6::float8) ELSE $3::float8 END) >= $4::float8
  RETURNING tokens`;

export class PostgresTokenBuckets implements TokenBuckets {
  private lastSweepMs = 0;

  constructor(private readonly pool: pg.Pool) {}

  async take(key: string, limit: BucketLimit, tokens: number, nowMs: number): Promise<TakeResult> {
    await this.sweep(nowMs);
    const { rowCount } = await this.pool.query(TAKE, [key, limit.id, limit.burst, tokens, Math.trunc(nowMs), limit.requests_per_second]);
    if (rowCount === 1) return { taken: true };
    // Refused: how many tokens there are now, for Retry-After (an estimate; others may take meanwhile).
    const { rows } = await this.pool.query<{ tokens: number; updated_ms: string }>(`SELECT tokens, updated_ms FROM rate_limit_buckets WHERE key = $1`, [key]);
    const row = rows[0];
    const available = row ? Math.min(limit.burst, row.tokens + (Math.max(0, nowMs - Number(row.updated_ms)) / 1000) * limit.requests_per_second) : 0;
    return { taken: false, available };
  }

  private async sweep(nowMs: number): Promise<void> {
    if (nowMs - this.lastSweepMs < SWEEP_MS) return;
    this.lastSweepMs = nowMs;
    await this.pool.query(`DELETE FROM rate_limit_buckets WHERE updated_ms < $1`, [Math.trunc(nowMs - IDLE_DROP_MS)]);
  }
}
