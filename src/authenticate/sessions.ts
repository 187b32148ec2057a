// Browser sessions after an OIDC or SAML sign-in. The cookie holds 256 random bits; the database
// holds only their SHA-256, so a copy of the database cannot be replayed as cookies. A session
// ends at whichever comes first: idle timeout, absolute lifetime, or logout.
import { createHash, randomBytes } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/identity.js";
import type { StateDatabase } from "../storage/stateDatabase.js";

export interface SessionSettings {
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

interface Row {
  identity_json: string;
  csrf_token: string;
  provider: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

// last_seen_at is written at most this often, so browsing does not write on every request.
const TOUCH_RESOLUTION_MS = 15_000;

export class BrowserSessions {
  constructor(
    private readonly db: StateDatabase,
    readonly settings: SessionSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a session; the returned secret goes into the cookie and nowhere else. */
  create(identity: Identity, provider: string): { secret: string; session: BrowserSession } {
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
    this.db
      .prepare(
        `INSERT INTO browser_sessions (id_sha256, subject, identity_json, csrf_token, provider, created_at, last_seen_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(idHash, identity.subject, JSON.stringify(session.identity), session.csrfToken, provider, now, now, session.expiresAt);
    this.purgeExpired();
    return { secret, session };
  }

  /** The live session for a cookie value, its idle timer restarted; refuses ended sessions. */
  resume(secret: string): BrowserSession {
    const idHash = sha256(secret);
    const row = this.db.prepare(`SELECT * FROM browser_sessions WHERE id_sha256 = ?`).get(idHash) as Row | undefined;
    if (!row) throw new GatewayError(401, "PC_SESSION_EXPIRED", "Refused: the sign-in session is unknown or has ended; sign in again.");
    const now = this.now();
    const idleExpiresAt = row.last_seen_at + this.settings.idleTimeoutS * 1000;
    if (now >= row.expires_at || now >= idleExpiresAt) {
      this.db.prepare(`DELETE FROM browser_sessions WHERE id_sha256 = ?`).run(idHash);
      const why = now >= row.expires_at ? "reached its maximum lifetime" : "was idle too long";
      throw new GatewayError(401, "PC_SESSION_EXPIRED", `Refused: the sign-in session ${why}; sign in again.`);
    }
    if (now - row.last_seen_at >= TOUCH_RESOLUTION_MS) {
      this.db.prepare(`UPDATE browser_sessions SET last_seen_at = ? WHERE id_sha256 = ?`).run(now, idHash);
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
  end(secret: string): BrowserSession | undefined {
    let session: BrowserSession | undefined;
    try {
      session = this.resume(secret);
    } catch {
      session = undefined;
    }
    this.db.prepare(`DELETE FROM browser_sessions WHERE id_sha256 = ?`).run(sha256(secret));
    return session;
  }

  private purgeExpired(): void {
    const now = this.now();
    this.db.prepare(`DELETE FROM browser_sessions WHERE expires_at <= ? OR last_seen_at <= ?`).run(now, now - this.settings.idleTimeoutS * 1000);
  }
}

function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
