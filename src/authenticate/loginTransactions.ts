// A sign-in in flight, between the redirect to the identity provider and the return. Its id is
// the OIDC `state` / SAML `RelayState`; it is bound to the browser that started it by a second
// random value kept in a short-lived cookie (so a sign-in cannot be completed in someone else's
// browser: login CSRF), and it can be completed once.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { LoginTransactionRow, SignInStore } from "./signInStore.js";

/** How long a person has to complete a sign-in at the identity provider. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;
/** Sign-ins start without credentials, so their number is capped: a flood cannot fill the database. */
const MAX_SIGN_INS_IN_FLIGHT = 10_000;
const PURGE_INTERVAL_MS = 30_000;

export class LoginTransactions {
  private lastPurge = 0;

  constructor(
    private readonly store: SignInStore,
    private readonly now: () => number = Date.now,
    private readonly maxInFlight = MAX_SIGN_INS_IN_FLIGHT,
  ) {}

  async begin<T extends object>(provider: string, data: T): Promise<{ id: string; browserBinding: string }> {
    const id = randomBytes(24).toString("base64url");
    const browserBinding = randomBytes(24).toString("base64url");
    const now = this.now();
    if (now - this.lastPurge >= PURGE_INTERVAL_MS) {
      this.lastPurge = now;
      await this.store.purgeTransactions(now);
    }
    if ((await this.store.countTransactions(now)) >= this.maxInFlight) {
      throw new GatewayError(503, "PC_SIGN_IN_BUSY", "Sign-in is busy: too many sign-ins are in progress; retry in a few minutes.");
    }
    await this.store.insertTransaction({ id, provider, browser_binding_sha256: sha256(browserBinding), data_json: JSON.stringify(data), expires_at: now + LOGIN_TRANSACTION_TTL_MS });
    return { id, browserBinding };
  }

  /** Reads a sign-in without completing it (the SAML ACS, which the browser reaches by a cross-site POST without our cookies). */
  async peek<T>(id: string, provider: string): Promise<T> {
    return JSON.parse(this.live(await this.store.getTransaction(id, provider)).data_json) as T;
  }

  async update<T extends object>(id: string, data: T): Promise<void> {
    await this.store.updateTransaction(id, JSON.stringify(data));
  }

  /** Completes a sign-in once, in the browser that started it. */
  async complete<T>(id: string, provider: string, browserBinding: string | undefined): Promise<T> {
    const row = this.live(await this.store.takeTransaction(id, provider));
    const expected = Buffer.from(row.browser_binding_sha256, "hex");
    if (!browserBinding || !timingSafeEqual(expected, Buffer.from(sha256(browserBinding), "hex"))) {
      throw loginFailed("the sign-in was started in another browser (or its cookie was lost); start again from the sign-in page");
    }
    return JSON.parse(row.data_json) as T;
  }

  private live(row: LoginTransactionRow | undefined): LoginTransactionRow {
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
