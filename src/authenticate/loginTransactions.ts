// A sign-in in flight, between the redirect to the identity provider and the return. Its id is
// the OIDC `state` / SAML `RelayState`; it is bound to the browser that started it by a second
// random value kept in a short-lived cookie (so a sign-in cannot be completed in someone else's
// browser: login CSRF), and it can be completed once.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { StateDatabase } from "../storage/stateDatabase.js";

/** How long a person has to complete a sign-in at the identity provider. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;
/** Sign-ins start without credentials, so their number is capped: a flood cannot fill the database. */
export const MAX_SIGN_INS_IN_FLIGHT = 10_000;
const PURGE_INTERVAL_MS = 30_000;

export class LoginTransactions {
  private lastPurge = 0;

  constructor(
    private readonly db: StateDatabase,
    private readonly now: () => number = Date.now,
    private readonly maxInFlight = MAX_SIGN_INS_IN_FLIGHT,
  ) {}

  begin<T extends object>(provider: string, data: T): { id: string; browserBinding: string } {
    const id = randomBytes(24).toString("base64url");
    const browserBinding = randomBytes(24).toString("base64url");
    const now = this.now();
    if (now - this.lastPurge >= PURGE_INTERVAL_MS) {
      this.lastPurge = now;
      this.db.prepare(`DELETE FROM login_transactions WHERE expires_at <= ?`).run(now);
    }
    const { inFlight } = this.db.prepare(`SELECT COUNT(*) AS inFlight FROM login_transactions WHERE expires_at > ?`).get(now) as { inFlight: number };
    if (inFlight >= this.maxInFlight) {
      throw new GatewayError(503, "PC_SIGN_IN_BUSY", "Sign-in is busy: too many sign-ins are in progress; retry in a few minutes.");
    }
    this.db
      .prepare(`INSERT INTO login_transactions (id, provider, browser_binding_sha256, data_json, expires_at) VALUES (?, ?, ?, ?, ?)`)
      .run(id, provider, sha256(browserBinding), JSON.stringify(data), now + LOGIN_TRANSACTION_TTL_MS);
    return { id, browserBinding };
  }

  /** Reads a sign-in without completing it (the SAML ACS, which the browser reaches by a cross-site POST without our cookies). */
  peek<T>(id: string, provider: string): T {
    return JSON.parse(this.row(id, provider).data_json) as T;
  }

  update<T extends object>(id: string, data: T): void {
    this.db.prepare(`UPDATE login_transactions SET data_json = ? WHERE id = ?`).run(JSON.stringify(data), id);
  }

  /** Completes a sign-in once, in the browser that started it. */
  complete<T>(id: string, provider: string, browserBinding: string | undefined): T {
    const row = this.row(id, provider);
    this.db.prepare(`DELETE FROM login_transactions WHERE id = ?`).run(id);
    const expected = Buffer.from(row.browser_binding_sha256, "hex");
    if (!browserBinding || !timingSafeEqual(expected, Buffer.from(sha256(browserBinding), "hex"))) {
      throw loginFailed("the sign-in was started in another browser (or its cookie was lost); start again from the sign-in page");
    }
    return JSON.parse(row.data_json) as T;
  }

  private row(id: string, provider: string): { browser_binding_sha256: string; data_json: string } {
    const row = this.db.prepare(`SELECT * FROM login_transactions WHERE id = ? AND provider = ?`).get(id, provider) as
      | { browser_binding_sha256: string; data_json: string; expires_at: number }
      | undefined;
    if (!row || row.expires_at <= this.now()) throw loginFailed("the sign-in is unknown, already completed or expired; start again from the sign-in page");
    return row;
  }
}

export function loginFailed(why: string, cause?: unknown): GatewayError {
  return new GatewayError(401, "PC_LOGIN_FAILED", `Sign-in failed: ${why}.`, { cause });
}

function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
