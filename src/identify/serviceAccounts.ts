// Service-account API keys. Keys are 256-bit random values with a recognisable prefix (so secret
// scanners and people can tell them apart); the gateway keeps only their SHA-256.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ServiceAccountConfig } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import type { Identity } from "./identity.js";

export const API_KEY_PREFIX = "pcsk_";

export function generateApiKey(): { key: string; sha256: string } {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { key, sha256: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export class ServiceAccountKeys {
  private readonly byHash: Map<string, ServiceAccountConfig>;

  constructor(accounts: ServiceAccountConfig[], private readonly now: () => Date = () => new Date()) {
    this.byHash = new Map(accounts.map((account) => [account.key_sha256, account]));
  }

  identify(key: string): Identity {
    if (!key.startsWith(API_KEY_PREFIX)) throw unauthenticated(`the credential is not a Portcullis service-account key (they start with '${API_KEY_PREFIX}')`);
    const digest = hashApiKey(key);
    const account = this.byHash.get(digest);
    // Compare digests in constant time; the map lookup above only narrows to one candidate.
    if (!account || !timingSafeEqual(Buffer.from(account.key_sha256, "hex"), Buffer.from(digest, "hex"))) {
      throw unauthenticated("the key is not recognised");
    }
    if (account.expires_at && Date.parse(account.expires_at) <= this.now().getTime()) {
      throw new GatewayError(401, "PC_CREDENTIAL_EXPIRED", `Refused: the key for service account '${account.id}' expired at ${account.expires_at}.`);
    }
    return {
      subject: `sa:${account.id}`,
      kind: "service-account",
      groups: account.groups,
      auth_method: "api-key",
      credential_id: digest.slice(0, 12),
      ...(account.owner ? { owner: account.owner } : {}),
    };
  }
}

function unauthenticated(why: string): GatewayError {
  return new GatewayError(401, "PC_UNAUTHENTICATED", `Refused: ${why}.`);
}
