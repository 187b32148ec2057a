// Where browser sessions live: the state database (SQLite, one gateway) or PostgreSQL (several
// gateways: a session started on one instance is valid on every other). Rows are keyed by the
// SHA-256 of the cookie's secret, never the secret itself.
import type Database from "better-sqlite3";
import type pg from "pg";
import { perDialect, type Component } from "../storage/index.js";

export interface SessionRow {
  id_sha256: string;
  subject: string;
  identity_json: string;
  csrf_token: string;
  provider: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

export interface BrowserSessionStore {
  insert(row: SessionRow): Promise<void>;
  get(idSha256: string): Promise<SessionRow | undefined>;
  touch(idSha256: string, lastSeenAt: number): Promise<void>;
  delete(idSha256: string): Promise<void>;
  /** Deletes sessions past their lifetime or idle since before `idleBefore`. */
  purgeExpired(now: number, idleBefore: number): Promise<void>;
}

export const BROWSER_SESSION_TABLES: Component = {
  name: "browser_sessions",
  migrations: [
    perDialect(
      ({ integer }) => `CREATE TABLE IF NOT EXISTS browser_sessions (
         id_sha256 TEXT PRIMARY KEY,
         subject TEXT NOT NULL,
         identity_json TEXT NOT NULL,
         csrf_token TEXT NOT NULL,
         provider TEXT NOT NULL,
         created_at ${integer} NOT NULL,
         last_seen_at ${integer} NOT NULL,
         expires_at ${integer} NOT NULL
       );
       CREATE INDEX IF NOT EXISTS browser_sessions_expiry ON browser_sessions (expires_at);`,
    ),
  ],
};

export class SqliteBrowserSessionStore implements BrowserSessionStore {
  constructor(private readonly db: Database.Database) {}

  async insert(row: SessionRow): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO browser_sessions (id_sha256, subject, identity_json, csrf_token, provider, created_at, last_seen_at, expires_at)
         VALUES (@id_sha256, @subject, @identity_json, @csrf_token, @provider, @created_at, @last_seen_at, @expires_at)`,
      )
      .run(row);
  }

  async get(idSha256: string): Promise<SessionRow | undefined> {
    return this.db.prepare<[string], SessionRow>(`SELECT * FROM browser_sessions WHERE id_sha256 = ?`).get(idSha256);
  }

  async touch(idSha256: string, lastSeenAt: number): Promise<void> {
    this.db.prepare(`UPDATE browser_sessions SET last_seen_at = ? WHERE id_sha256 = ?`).run(lastSeenAt, idSha256);
  }

  async delete(idSha256: string): Promise<void> {
    this.db.prepare(`DELETE FROM browser_sessions WHERE id_sha256 = ?`).run(idSha256);
  }

  async purgeExpired(now: number, idleBefore: number): Promise<void> {
    this.db.prepare(`DELETE FROM browser_sessions WHERE expires_at <= ? OR last_seen_at <= ?`).run(now, idleBefore);
  }
}

export class PostgresBrowserSessionStore implements BrowserSessionStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(row: SessionRow): Promise<void> {
    await this.pool.query(
      `INSERT INTO browser_sessions (id_sha256, subject, identity_json, csrf_token, provider, created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [row.id_sha256, row.subject, row.identity_json, row.csrf_token, row.provider, row.created_at, row.last_seen_at, row.expires_at],
    );
  }

  async get(idSha256: string): Promise<SessionRow | undefined> {
    const { rows } = await this.pool.query<SessionRow>(`SELECT * FROM browser_sessions WHERE id_sha256 = $1`, [idSha256]);
    const row = rows[0];
    // BIGINT arrives as a string (it may exceed 2^53); these are millisecond times, well within.
    return row && { ...row, created_at: Number(row.created_at), last_seen_at: Number(row.last_seen_at), expires_at: Number(row.expires_at) };
  }

  async touch(idSha256: string, lastSeenAt: number): Promise<void> {
    await this.pool.query(`UPDATE browser_sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_sha256 = $2`, [lastSeenAt, idSha256]);
  }

  async delete(idSha256: string): Promise<void> {
    await this.pool.query(`DELETE FROM browser_sessions WHERE id_sha256 = $1`, [idSha256]);
  }

  async purgeExpired(now: number, idleBefore: number): Promise<void> {
    await this.pool.query(`DELETE FROM browser_sessions WHERE expires_at <= $1 OR last_seen_at <= $2`, [now, idleBefore]);
  }
}
