// Browser sessions after an OIDC or SAML sign-in. The cookie holds 256 random bits; the database
// holds only their SHA-256, so a copy of the database cannot be replayed as cookies. A session
// ends at whichever comes first: idle timeout, absolute lifetime, or logout. The rows live in a
// BrowserSessionStore (SQLite, or PostgreSQL shared by several gateways).
import { createHash, randomBytes } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import type { BrowserSessionStore } from "./sessionStore.js";

interface SessionSettings {
  idleTimeoutS: number;
  absoluteTimeoutS: number;
}

export interface BrowserSession {
  identity: Identity;
  csrfToken: string;
  provider: string;
  createdAt: number;
  expiresAt: number;
  idleExpiresAt: number;
}

// last_seen_at is written at most this often, so browsing does not write on every request.
const TOUCH_RESOLUTION_MS = 15_000;

export class BrowserSessions {
  constructor(
    private readonly store: BrowserSessionStore,
    readonly settings: SessionSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a session; the returned secret goes into the cookie and nowhere else. */
  async create(identity: Identity, provider: string): Promise<{ secret: string; session: BrowserSession }> {
    const secret = randomBytes(32).toString("base64url");
    const idHash = sha256(secret);
    const now = this.now();
    const session: BrowserSession = {
      identity: { ...identity, auth_method: "browser-session", credential_id: idHash.slice(0, 12) },
      csrfToken: randomBytes(32).toString("base64url"),
      provider,
      createdAt: now,
      expiresAt: now + this.settings.absoluteTimeoutS * 1000,
      idleExpiresAt: now + this.settings.idleTimeoutS * 1000,
    };
    await this.store.insert({
      id_sha256: idHash,
      subject: identity.subject,
      identity_json: JSON.stringify(session.identity),
      csrf_token: session.csrfToken,
      provider,
      created_at: now,
      last_seen_at: now,
      expires_at: session.expiresAt,
    });
    await this.store.purgeExpired(now, now - this.settings.idleTimeoutS * 1000);
    return { secret, session };
  }

  /** The live session for a cookie value, its idle timer restarted; refuses ended sessions. */
  async resume(secret: string): Promise<BrowserSession> {
    const idHash = sha256(secret);
    const row = await this.store.get(idHash);
    if (!row) throw new GatewayError(401, "PC_SESSION_EXPIRED", "Refused: the sign-in session is unknown or has ended; sign in again.");
    const now = this.now();
    const idleExpiresAt = row.last_seen_at + this.settings.idleTimeoutS * 1000;
    if (now >= row.expires_at || now >= idleExpiresAt) {
      await this.store.delete(idHash);
      const why = now >= row.expires_at ? "reached its maximum lifetime" : "was idle too long";
      throw new GatewayError(401, "PC_SESSION_EXPIRED", `Refused: the sign-in session ${why}; sign in again.`);
    }
    if (now - row.last_seen_at >= TOUCH_RESOLUTION_MS) {
      await this.store.touch(idHash, now);
    }
    return {
      identity: JSON.parse(row.identity_json) as Identity,
      csrfToken: row.csrf_token,
      provider: row.provider,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      idleExpiresAt: Math.min(row.expires_at, now + this.settings.idleTimeoutS * 1000),
    };
  }

  /** Ends a session (logout); returns it if it existed. */
  async end(secret: string): Promise<BrowserSession | undefined> {
    const session = await this.resume(secret).catch((error: unknown) => {
      if (error instanceof GatewayError) return undefined;
      throw error;
    });
    await this.store.delete(sha256(secret));
    return session;
  }
}

function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
