// Service accounts created from the CLI (`portcullis service-accounts create`). Only the
// SHA-256 of each key is stored; revocation takes effect on the next request, on every gateway
// that reads the same store (the SQLite state file, or PostgreSQL shared by several gateways).
import type Database from "better-sqlite3";
import pg from "pg";
import { portable, type Component } from "./migrations.js";

export interface StoredServiceAccount {
  id: string;
  key_sha256: string;
  owner: string | null;
  groups: string[];
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

export interface NewServiceAccount {
  id: string;
  key_sha256: string;
  owner?: string;
  groups: string[];
  expires_at?: string;
  created_by?: string;
}

export interface ServiceAccountStore {
  /** Throws ServiceAccountExists when the id is taken (revoked accounts keep theirs). */
  create(account: NewServiceAccount, now?: Date): Promise<StoredServiceAccount>;
  get(id: string): Promise<StoredServiceAccount | undefined>;
  findByKeyHash(keySha256: string): Promise<StoredServiceAccount | undefined>;
  list(): Promise<StoredServiceAccount[]>;
  /** Returns false when there is no such account or it was already revoked. */
  revoke(id: string, revokedBy: string | undefined, now?: Date): Promise<boolean>;
  markUsed(id: string, now?: Date): Promise<void>;
}

export class ServiceAccountExists extends Error {
  readonly code = "PC_SERVICE_ACCOUNT_EXISTS";
  constructor(id: string) {
    super(`a service account with id '${id}' already exists (revoked accounts keep their id, so the record stays unambiguous)`);
    this.name = "ServiceAccountExists";
  }
}

export const SERVICE_ACCOUNT_TABLES: Component = {
  name: "service_accounts",
  migrations: [
    portable(`CREATE TABLE IF NOT EXISTS service_accounts (
         id TEXT PRIMARY KEY,
         key_sha256 TEXT NOT NULL UNIQUE,
         owner TEXT,
         groups_json TEXT NOT NULL,
         created_at TEXT NOT NULL,
         created_by TEXT,
         expires_at TEXT,
         revoked_at TEXT,
         revoked_by TEXT,
         last_used_at TEXT
       );`),
  ],
};

interface Row extends Omit<StoredServiceAccount, "groups"> {
  groups_json: string;
}

// last_used_at is written at most this often per account, so a busy key does not turn every
// request into a database write.
const LAST_USED_RESOLUTION_MS = 60_000;

/** Per process: whether last_used_at was written recently enough to skip this write. */
class LastUseThrottle {
  private readonly written = new Map<string, number>();

  due(id: string, now: Date): boolean {
    const previous = this.written.get(id);
    if (previous !== undefined && now.getTime() - previous < LAST_USED_RESOLUTION_MS) return false;
    this.written.set(id, now.getTime());
    return true;
  }
}

export class SqliteServiceAccountStore implements ServiceAccountStore {
  private readonly lastUse = new LastUseThrottle();

  constructor(private readonly db: Database.Database) {}

  async create(account: NewServiceAccount, now = new Date()): Promise<StoredServiceAccount> {
    try {
      this.db
        .prepare(
          `INSERT INTO service_accounts (id, key_sha256, owner, groups_json, created_at, created_by, expires_at)
           VALUES (@id, @key_sha256, @owner, @groups_json, @created_at, @created_by, @expires_at)`,
        )
        .run(rowOf(account, now));
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new ServiceAccountExists(account.id);
      throw error;
    }
    return (await this.get(account.id))!;
  }

  async get(id: string): Promise<StoredServiceAccount | undefined> {
    const row = this.db.prepare<[string], Row>(`SELECT * FROM service_accounts WHERE id = ?`).get(id);
    return row && fromRow(row);
  }

  async findByKeyHash(keySha256: string): Promise<StoredServiceAccount | undefined> {
    const row = this.db.prepare<[string], Row>(`SELECT * FROM service_accounts WHERE key_sha256 = ?`).get(keySha256);
    return row && fromRow(row);
  }

  async list(): Promise<StoredServiceAccount[]> {
    return this.db.prepare<[], Row>(`SELECT * FROM service_accounts ORDER BY created_at, id`).all().map(fromRow);
  }

  async revoke(id: string, revokedBy: string | undefined, now = new Date()): Promise<boolean> {
    const result = this.db.prepare(`UPDATE service_accounts SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`).run(now.toISOString(), revokedBy ?? null, id);
    return result.changes === 1;
  }

  async markUsed(id: string, now = new Date()): Promise<void> {
    if (this.lastUse.due(id, now)) this.db.prepare(`UPDATE service_accounts SET last_used_at = ? WHERE id = ?`).run(now.toISOString(), id);
  }
}

export class PostgresServiceAccountStore implements ServiceAccountStore {
  private readonly lastUse = new LastUseThrottle();

  constructor(private readonly pool: pg.Pool) {}

  async create(account: NewServiceAccount, now = new Date()): Promise<StoredServiceAccount> {
    const row = rowOf(account, now);
    try {
      await this.pool.query(
        `INSERT INTO service_accounts (id, key_sha256, owner, groups_json, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [row.id, row.key_sha256, row.owner, row.groups_json, row.created_at, row.created_by, row.expires_at],
      );
    } catch (error) {
      // 23505 unique_violation on the primary key (a key hash collision would name the other constraint).
      if (error instanceof pg.DatabaseError && error.code === "23505" && error.constraint === "service_accounts_pkey") throw new ServiceAccountExists(account.id);
      throw error;
    }
    return (await this.get(account.id))!;
  }

  async get(id: string): Promise<StoredServiceAccount | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM service_accounts WHERE id = $1`, [id]);
    return rows[0] && fromRow(rows[0]);
  }

  async findByKeyHash(keySha256: string): Promise<StoredServiceAccount | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM service_accounts WHERE key_sha256 = $1`, [keySha256]);
    return rows[0] && fromRow(rows[0]);
  }

  async list(): Promise<StoredServiceAccount[]> {
    return (await this.pool.query<Row>(`SELECT * FROM service_accounts ORDER BY created_at, id`)).rows.map(fromRow);
  }

  async revoke(id: string, revokedBy: string | undefined, now = new Date()): Promise<boolean> {
    const result = await this.pool.query(`UPDATE service_accounts SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL`, [now.toISOString(), revokedBy ?? null, id]);
    return result.rowCount === 1;
  }

  async markUsed(id: string, now = new Date()): Promise<void> {
    if (this.lastUse.due(id, now)) await this.pool.query(`UPDATE service_accounts SET last_used_at = $1 WHERE id = $2`, [now.toISOString(), id]);
  }
}

function rowOf(account: NewServiceAccount, now: Date): Omit<Row, "revoked_at" | "revoked_by" | "last_used_at"> {
  return {
    id: account.id,
    key_sha256: account.key_sha256,
    owner: account.owner ?? null,
    groups_json: JSON.stringify(account.groups),
    created_at: now.toISOString(),
    created_by: account.created_by ?? null,
    expires_at: account.expires_at ?? null,
  };
}

function fromRow(row: Row): StoredServiceAccount {
  const { groups_json, ...rest } = row;
  return { ...rest, groups: JSON.parse(groups_json) as string[] };
}
