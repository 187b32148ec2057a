// Service-account API keys. Keys are 256-bit random values with a recognisable prefix (so secret
// scanners and people can tell them apart); the gateway keeps only their SHA-256. Accounts come
// from the config file (reviewed like code) and from the state database (made with the CLI).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ServiceAccountConfig } from "../config/index.js";
import { ConfigError, GatewayError } from "../errors.js";
import type { ServiceAccountStore } from "../storage/index.js";
import type { Identity } from "./identity.js";

export const API_KEY_PREFIX = "pcsk_";

export function generateApiKey(): { key: string; sha256: string } {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { key, sha256: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The expiry given for a new key (--expires-at): an ISO 8601 instant still in the future, as a
 * UTC instant. A key that is expired when made would be refused on first use. */
export function keyExpiry(value: string, now = Date.now()): string {
  const instant = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(instant)) throw new ConfigError("--expires-at: an ISO 8601 instant, e.g. 2027-01-01T00:00:00Z");
  if (instant <= now) throw new ConfigError("--expires-at is in the past");
  return new Date(instant).toISOString();
}

type KnownAccount = ServiceAccountConfig & { stored: boolean; revoked_at: string | null };

export class ServiceAccountKeys {
  private readonly configuredByHash: Map<string, ServiceAccountConfig>;

  constructor(
    configured: ServiceAccountConfig[],
    private readonly store?: ServiceAccountStore,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.configuredByHash = new Map(configured.map((account) => [account.key_sha256, account]));
    this.configuredIds = new Set(configured.map((account) => account.id));
  }

  private readonly configuredIds: Set<string>;

  async identify(key: string): Promise<Identity> {
    if (!key.startsWith(API_KEY_PREFIX)) throw unauthenticated(`the credential is not a Portcullis service-account key (they start with '${API_KEY_PREFIX}')`);
    const digest = hashApiKey(key);
    const configured = this.configuredByHash.get(digest);
    const account: KnownAccount | undefined = configured ? { ...configured, stored: false, revoked_at: null } : await this.storedAccount(digest);
    // Compare digests in constant time; the lookup above only narrows to one candidate.
    if (!account || !timingSafeEqual(Buffer.from(account.key_sha256, "hex"), Buffer.from(digest, "hex"))) {
      throw unauthenticated("the key is not recognised");
    }
    if (account.revoked_at) {
      throw new GatewayError(401, "PC_CREDENTIAL_REVOKED", `Refused: the key for service account '${account.id}' was revoked at ${account.revoked_at}.`);
    }
    if (account.expires_at && Date.parse(account.expires_at) <= this.now().getTime()) {
      throw new GatewayError(401, "PC_CREDENTIAL_EXPIRED", `Refused: the key for service account '${account.id}' expired at ${account.expires_at}.`);
    }
    if (account.stored) await this.store!.markUsed(account.id, this.now());
    return {
      subject: `sa:${account.id}`,
      kind: "service-account",
      groups: account.groups,
      auth_method: "api-key",
      credential_id: digest.slice(0, 12),
      ...(account.owner ? { owner: account.owner } : {}),
      ...(account.expires_at ? { expires_at: account.expires_at } : {}),
    };
  }

  private async storedAccount(digest: string): Promise<KnownAccount | undefined> {
    const stored = await this.store?.findByKeyHash(digest);
    if (!stored) return undefined;
    // One id, one account: a stored account shadowing a configured one would make sa:<id> ambiguous.
    if (this.configuredIds.has(stored.id)) {
      throw new GatewayError(401, "PC_UNAUTHENTICATED", `Refused: service account '${stored.id}' exists both in the config file and in the state database; remove one.`);
    }
    return {
      id: stored.id,
      key_sha256: stored.key_sha256,
      groups: stored.groups,
      ...(stored.owner ? { owner: stored.owner } : {}),
      ...(stored.expires_at ? { expires_at: stored.expires_at } : {}),
      revoked_at: stored.revoked_at,
      stored: true,
    };
  }
}

function unauthenticated(why: string): GatewayError {
  return new GatewayError(401, "PC_UNAUTHENTICATED", `Refused: ${why}.`);
}
