// Where sign-ins in flight live: the login transactions (between the redirect to the identity
// provider and the return), the SAML AuthnRequest ids awaiting an answer, and the SAML assertion
// ids already used. SQLite for one gateway; PostgreSQL for several, where a sign-in started on one
// instance may return to another, and an assertion used on one is a replay on every other.
import type Database from "better-sqlite3";
import type pg from "pg";
import { perDialect, type Component } from "../storage/index.js";

export interface LoginTransactionRow {
  id: string;
  provider: string;
  browser_binding_sha256: string;
  data_json: string;
  expires_at: number;
}

export interface SignInStore {
  /** Deletes transactions that ended at or before `now`. */
  purgeTransactions(now: number): Promise<void>;
  /** Transactions still live at `now`. */
  countTransactions(now: number): Promise<number>;
  insertTransaction(row: LoginTransactionRow): Promise<void>;
  getTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined>;
  updateTransaction(id: string, dataJson: string): Promise<void>;
  /** Deletes and returns a transaction in one step, so only one caller ever completes it. */
  takeTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined>;
  /** Remembers an AuthnRequest id; false when it was already outstanding. */
  saveSamlRequest(id: string, createdAt: number): Promise<boolean>;
  /** When the outstanding request was made, if it was made after `notBefore`. */
  samlRequestCreatedAt(id: string, notBefore: number): Promise<number | undefined>;
  /** Forgets an outstanding request; false when there was none. */
  removeSamlRequest(id: string): Promise<boolean>;
  purgeSamlRequests(createdBefore: number): Promise<void>;
  /** Remembers an assertion id until `forgetAfter`; false when it was already used (a replay). */
  rememberSamlAssertion(provider: string, assertionId: string, forgetAfter: number, now: number): Promise<boolean>;
}

export const SIGN_IN_TABLES: Component = {
  name: "sign_ins",
  migrations: [
    perDialect(
      ({ integer }) => `CREATE TABLE IF NOT EXISTS login_transactions (
         id TEXT PRIMARY KEY,
         provider TEXT NOT NULL,
         browser_binding_sha256 TEXT NOT NULL,
         data_json TEXT NOT NULL,
         expires_at ${integer} NOT NULL
       );
       CREATE TABLE IF NOT EXISTS saml_requests_outstanding (
         id TEXT PRIMARY KEY,
         created_at ${integer} NOT NULL
       );
       CREATE TABLE IF NOT EXISTS saml_assertions_seen (
         provider TEXT NOT NULL,
         assertion_id TEXT NOT NULL,
         forget_after ${integer} NOT NULL,
         PRIMARY KEY (provider, assertion_id)
       );`,
    ),
    // Expiry purges and the in-flight count run on every sign-in start; without these they scan.
    {
      sqlite: `CREATE INDEX IF NOT EXISTS login_transactions_expiry ON login_transactions (expires_at);
       CREATE INDEX IF NOT EXISTS saml_requests_outstanding_created ON saml_requests_outstanding (created_at);
       CREATE INDEX IF NOT EXISTS saml_assertions_seen_forget ON saml_assertions_seen (forget_after);`,
      postgres: `CREATE INDEX IF NOT EXISTS login_transactions_expiry ON login_transactions (expires_at);
       CREATE INDEX IF NOT EXISTS saml_requests_outstanding_created ON saml_requests_outstanding (created_at);
       CREATE INDEX IF NOT EXISTS saml_assertions_seen_forget ON saml_assertions_seen (forget_after);`,
    },
  ],
};

export class SqliteSignInStore implements SignInStore {
  constructor(private readonly db: Database.Database) {}

  async purgeTransactions(now: number): Promise<void> {
    this.db.prepare(`DELETE FROM login_transactions WHERE expires_at <= ?`).run(now);
  }

  async countTransactions(now: number): Promise<number> {
    return this.db.prepare<[number], { live: number }>(`SELECT COUNT(*) AS live FROM login_transactions WHERE expires_at > ?`).get(now)!.live;
  }

  async insertTransaction(row: LoginTransactionRow): Promise<void> {
    this.db.prepare(`INSERT INTO login_transactions (id, provider, browser_binding_sha256, data_json, expires_at) VALUES (@id, @provider, @browser_binding_sha256, @data_json, @expires_at)`).run(row);
  }

  async getTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined> {
    return this.db.prepare<[string, string], LoginTransactionRow>(`SELECT * FROM login_transactions WHERE id = ? AND provider = ?`).get(id, provider);
  }

  async updateTransaction(id: string, dataJson: string): Promise<void> {
    this.db.prepare(`UPDATE login_transactions SET data_json = ? WHERE id = ?`).run(dataJson, id);
  }

  async takeTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined> {
    return this.db.prepare<[string, string], LoginTransactionRow>(`DELETE FROM login_transactions WHERE id = ? AND provider = ? RETURNING *`).get(id, provider);
  }

  async saveSamlRequest(id: string, createdAt: number): Promise<boolean> {
    return this.db.prepare(`INSERT OR IGNORE INTO saml_requests_outstanding (id, created_at) VALUES (?, ?)`).run(id, createdAt).changes === 1;
  }

  async samlRequestCreatedAt(id: string, notBefore: number): Promise<number | undefined> {
    return this.db.prepare<[string, number], { created_at: number }>(`SELECT created_at FROM saml_requests_outstanding WHERE id = ? AND created_at > ?`).get(id, notBefore)?.created_at;
  }

  async removeSamlRequest(id: string): Promise<boolean> {
    return this.db.prepare(`DELETE FROM saml_requests_outstanding WHERE id = ?`).run(id).changes === 1;
  }

  async purgeSamlRequests(createdBefore: number): Promise<void> {
    this.db.prepare(`DELETE FROM saml_requests_outstanding WHERE created_at <= ?`).run(createdBefore);
  }

  async rememberSamlAssertion(provider: string, assertionId: string, forgetAfter: number, now: number): Promise<boolean> {
    this.db.prepare(`DELETE FROM saml_assertions_seen WHERE forget_after <= ?`).run(now);
    return this.db.prepare(`INSERT OR IGNORE INTO saml_assertions_seen (provider, assertion_id, forget_after) VALUES (?, ?, ?)`).run(provider, assertionId, forgetAfter).changes === 1;
  }
}

export class PostgresSignInStore implements SignInStore {
  constructor(private readonly pool: pg.Pool) {}

  async purgeTransactions(now: number): Promise<void> {
    await this.pool.query(`DELETE FROM login_transactions WHERE expires_at <= $1`, [now]);
  }

  async countTransactions(now: number): Promise<number> {
    const { rows } = await this.pool.query<{ live: string }>(`SELECT COUNT(*) AS live FROM login_transactions WHERE expires_at > $1`, [now]);
    return Number(rows[0]!.live);
  }

  async insertTransaction(row: LoginTransactionRow): Promise<void> {
    await this.pool.query(`INSERT INTO login_transactions (id, provider, browser_binding_sha256, data_json, expires_at) VALUES ($1, $2, $3, $4, $5)`, [
      row.id,
      row.provider,
      row.browser_binding_sha256,
      row.data_json,
      row.expires_at,
    ]);
  }

  async getTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined> {
    const { rows } = await this.pool.query<LoginTransactionRow>(`SELECT * FROM login_transactions WHERE id = $1 AND provider = $2`, [id, provider]);
    return rows[0] && { ...rows[0], expires_at: Number(rows[0].expires_at) };
  }

  async updateTransaction(id: string, dataJson: string): Promise<void> {
    await this.pool.query(`UPDATE login_transactions SET data_json = $1 WHERE id = $2`, [dataJson, id]);
  }

  async takeTransaction(id: string, provider: string): Promise<LoginTransactionRow | undefined> {
    const { rows } = await this.pool.query<LoginTransactionRow>(`DELETE FROM login_transactions WHERE id = $1 AND provider = $2 RETURNING *`, [id, provider]);
    return rows[0] && { ...rows[0], expires_at: Number(rows[0].expires_at) };
  }

  async saveSamlRequest(id: string, createdAt: number): Promise<boolean> {
    const result = await this.pool.query(`INSERT INTO saml_requests_outstanding (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [id, createdAt]);
    return result.rowCount === 1;
  }

  async samlRequestCreatedAt(id: string, notBefore: number): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ created_at: string }>(`SELECT created_at FROM saml_requests_outstanding WHERE id = $1 AND created_at > $2`, [id, notBefore]);
    return rows[0] && Number(rows[0].created_at);
  }

  async removeSamlRequest(id: string): Promise<boolean> {
    return (await this.pool.query(`DELETE FROM saml_requests_outstanding WHERE id = $1`, [id])).rowCount === 1;
  }

  async purgeSamlRequests(createdBefore: number): Promise<void> {
    await this.pool.query(`DELETE FROM saml_requests_outstanding WHERE created_at <= $1`, [createdBefore]);
  }

  async rememberSamlAssertion(provider: string, assertionId: string, forgetAfter: number, now: number): Promise<boolean> {
    await this.pool.query(`DELETE FROM saml_assertions_seen WHERE forget_after <= $1`, [now]);
    // The primary key decides between instances racing with the same assertion: one insert wins.
    const result = await this.pool.query(`INSERT INTO saml_assertions_seen (provider, assertion_id, forget_after) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [provider, assertionId, forgetAfter]);
    return result.rowCount === 1;
  }
}
