// Retention: masked payloads older than the period are deleted unless a legal hold covers them
// (by identity, by time range, or both). Leaves, checkpoints and proofs are never deleted, so
// the ledger still verifies; the purge itself is a ledger record listing what went.
import { createHash } from "node:crypto";
import type { Ledger } from "./ledger.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Hashes listed in the purge record itself; beyond this only their digest is. */
const LISTED_HASHES = 1_000;

interface PurgeResult {
  purged: number;
  before: string;
}

export async function purgeExpiredPayloads(ledger: Ledger, retentionDays: number, actor: string, now = Date.now()): Promise<PurgeResult> {
  const beforeMs = now - retentionDays * DAY_MS;
  const purged = await ledger.store.purgePayloads(beforeMs);
  const before = new Date(beforeMs).toISOString();
  if (purged.length > 0) {
    await ledger.append({
      type: "ledger",
      time: new Date(now).toISOString(),
      event: "retention.purged",
      actor,
      details: {
        before,
        retention_days: retentionDays,
        payloads: purged.length,
        // SHA-256 over the sorted hex hashes, newline-separated: lets an auditor check a long list kept elsewhere.
        hashes_sha256: createHash("sha256").update(purged.join("\n")).digest("hex"),
        ...(purged.length <= LISTED_HASHES ? { hashes: purged } : {}),
      },
    });
  }
  return { purged: purged.length, before };
}
