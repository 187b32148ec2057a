// Service accounts created from the CLI (`portcullis service-accounts create`). Only the
// SHA-256 of each key is stored; revocation takes effect on the next request.
import type { StateDatabase } from "./stateDatabase.js";

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

interface Row extends Omit<StoredServiceAccount, "groups"> {
  groups_json: string;
}

// last_used_at is written at most this often per account, so a busy key does not turn every
// request into a database write.
const LAST_USED_RESOLUTION_MS = 60_000;

export class ServiceAccountStore {
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(private readonly db: StateDatabase) {}

  create(account: { id: string; key_sha256: string; owner?: string; groups: string[]; expires_at?: string; created_by?: string }, now = new Date()): StoredServiceAccount {
    try {
      this.db
        .prepare(
          `INSERT INTO service_accounts (id, key_sha256, owner, groups_json, created_at, created_by, expires_at)
           VALUES (@id, @key_sha256, @owner, @groups_json, @created_at, @created_by, @expires_at)`,
        )
        .run({
          id: account.id,
          key_sha256: account.key_sha256,
          owner: account.owner ?? null,
          groups_json: JSON.stringify(account.groups),
          created_at: now.toISOString(),
          created_by: account.created_by ?? null,
          expires_at: account.expires_at ?? null,
        });
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
        throw new Error(`a service account with id '${account.id}' already exists (revoked accounts keep their id, so the record stays unambiguous)`);
      }
      throw error;
    }
    return this.get(account.id)!;
  }

  get(id: string): StoredServiceAccount | undefined {
    const row = this.db.prepare(`SELECT * FROM service_accounts WHERE id = ?`).get(id) as Row | undefined;
    return row && fromRow(row);
  }

  findByKeyHash(keySha256: string): StoredServiceAccount | undefined {
    const row = this.db.prepare(`SELECT * FROM service_accounts WHERE key_sha256 = ?`).get(keySha256) as Row | undefined;
    return row && fromRow(row);
  }

  list(): StoredServiceAccount[] {
    return (this.db.prepare(`SELECT * FROM service_accounts ORDER BY created_at, id`).all() as Row[]).map(fromRow);
  }

  /** Returns false when there is no such account or it was already revoked. */
  revoke(id: string, revokedBy: string | undefined, now = new Date()): boolean {
    const result = this.db
      .prepare(`UPDATE service_accounts SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`)
      .run(now.toISOString(), revokedBy ?? null, id);
    return result.changes === 1;
  }

  markUsed(id: string, now = new Date()): void {
    const previous = this.lastUsedWritten.get(id);
    if (previous !== undefined && now.getTime() - previous < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(id, now.getTime());
    this.db.prepare(`UPDATE service_accounts SET last_used_at = ? WHERE id = ?`).run(now.toISOString(), id);
  }
}

function fromRow(row: Row): StoredServiceAccount {
  const { groups_json, ...rest } = row;
  return { ...rest, groups: JSON.parse(groups_json) as string[] };
}
