// The vault: the originals behind reversible tokens (src/mask/tokens.ts), which only the gateway
// holds. Each row is encrypted at rest with AES-256-GCM under a key derived from the vault's
// master key, bound (as additional data) to its tenant, scope and token, so a row copied to
// another place does not decrypt. Rows expire after masking.vault.ttl_days and are erased per
// subject on request (`portcullis vault erase`, GDPR Art. 17). They live with the rest of the
// gateway's state (storage): the SQLite state database, or PostgreSQL.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import type { Logger } from "pino";
import type { PortcullisConfig } from "../config/index.js";
import { migratePostgres, portable, type StateDatabase, type Component } from "../storage/index.js";
import { loadOrCreateKey } from "./index.js";
import { Masker, MaskingError } from "./masker.js";
import { RestoringOperators, TokenKeys, TokenScanner, TokenizingOperators, type TokenEntry } from "./tokens.js";

/** One original, encrypted. */
export interface VaultRow {
  tenant: string;
  scope: string;
  token: string;
  entity: string;
  subject: string;
  sealed: string;
  createdAt: number;
  expiresAt: number;
}

/** Where the rows live: SQLite (the state database) or PostgreSQL. */
export interface VaultStore {
  /** Adds rows; a token already kept in its scope keeps its row and gets the later expiry. */
  put(rows: readonly VaultRow[]): Promise<void>;
  rowsOf(tenant: string, scope: string, now: number): Promise<VaultRow[]>;
  /** The rows of a tenant that hold one of these tokens, in whatever scope. */
  rowsWithTokens(tenant: string, tokens: readonly string[], now: number): Promise<VaultRow[]>;
  /** Deletes every row of a subject; returns how many. */
  eraseSubject(subject: string): Promise<number>;
  /** Deletes expired rows; returns how many. */
  sweep(now: number): Promise<number>;
  close(): Promise<void>;
}

/** Where a request's values belong: the caller's tenant ("" without ownership.tenant), the
 * thread (or, for a stateless run, the request) and who sent them. */
export interface VaultScope {
  tenant: string;
  scope: string;
  subject: string;
}

/** The original behind a token, with who sent it. */
export interface KeptValue extends TokenEntry {
  subject: string;
}

const SWEEP_MS = 60 * 60 * 1000;
/** Tokens looked up in one query (SQLite binds at most 32,766 parameters; queries stay short). */
const TOKENS_PER_QUERY = 500;

export class Vault {
  private sweeps?: NodeJS.Timeout;

  constructor(
    readonly store: VaultStore,
    private readonly keys: TokenKeys,
    private readonly ttlMs: number,
  ) {}

  /** A masker that turns what it detects into this scope's tokens; `entries` then holds them. */
  tokenizer(masker: Masker, scope: Pick<VaultScope, "tenant" | "scope">): { masker: Masker; entries: ReadonlyMap<string, TokenEntry> } {
    const operators = new TokenizingOperators(this.keys, scope.tenant, scope.scope);
    return { masker: masker.withOperators(operators), entries: operators.entries };
  }

  async keep(scope: VaultScope, entries: Iterable<TokenEntry>): Promise<void> {
    const now = Date.now();
    const rows: VaultRow[] = [];
    for (const entry of entries) {
      rows.push({ ...scope, token: entry.token, entity: entry.entity, sealed: this.seal(scope, entry), createdAt: now, expiresAt: now + this.ttlMs });
    }
    if (rows.length > 0) await this.store.put(rows);
  }

  /** The originals kept for one scope, decrypted; a row that does not decrypt is skipped. */
  async valuesOf(tenant: string, scope: string): Promise<KeptValue[]> {
    return this.opened(await this.store.rowsOf(tenant, scope, Date.now()));
  }

  /** The originals behind these tokens in a tenant, whatever their scope (an answer with no scope
   * of its own, a search, holds tokens of many), decrypted. */
  async valuesWithTokens(tenant: string, tokens: readonly string[]): Promise<KeptValue[]> {
    const rows: VaultRow[] = [];
    for (let at = 0; at < tokens.length; at += TOKENS_PER_QUERY) rows.push(...(await this.store.rowsWithTokens(tenant, tokens.slice(at, at + TOKENS_PER_QUERY), Date.now())));
    return this.opened(rows);
  }

  private opened(rows: readonly VaultRow[]): KeptValue[] {
    const out: KeptValue[] = [];
    for (const row of rows) {
      const value = this.open(row);
      if (value !== undefined) out.push({ token: row.token, entity: row.entity, value, subject: row.subject });
    }
    return out;
  }

  sweep(): Promise<number> {
    return this.store.sweep(Date.now());
  }

  /** Deletes expired originals at start and hourly. */
  startSweeps(log: Logger): void {
    const sweep = () =>
      this.sweep().then(
        (deleted) => deleted > 0 && log.info({ deleted }, "expired vault values deleted"),
        (error: unknown) => log.error({ err: error }, "vault sweep failed"),
      );
    void sweep();
    this.sweeps = setInterval(() => void sweep(), SWEEP_MS);
    this.sweeps.unref();
  }

  close(): Promise<void> {
    clearInterval(this.sweeps);
    return this.store.close();
  }

  private seal(scope: Pick<VaultScope, "tenant" | "scope">, entry: TokenEntry): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.keys.encryption, iv);
    cipher.setAAD(additionalData(scope.tenant, scope.scope, entry.token));
    const sealed = Buffer.concat([cipher.update(entry.value, "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64");
  }

  private open(row: VaultRow): string | undefined {
    try {
      const bytes = Buffer.from(row.sealed, "base64");
      const decipher = createDecipheriv("aes-256-gcm", this.keys.encryption, bytes.subarray(0, 12));
      decipher.setAAD(additionalData(row.tenant, row.scope, row.token));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
  }
}

function additionalData(tenant: string, scope: string, token: string): Buffer {
  return Buffer.from(`${tenant}\0${scope}\0${token}`, "utf8");
}

/** A masker that only puts originals back in place of known tokens: no detectors, no sensitive
 * fields. Its tally counts the restorations by entity type. */
export function restoringMasker(values: Iterable<TokenEntry>, limits: Masker["limits"]): Masker | undefined {
  const known = new Map<string, TokenEntry>();
  for (const value of values) known.set(value.token, value);
  if (known.size === 0) return undefined;
  return new Masker(new TokenScanner(known), new RestoringOperators(known), limits, { defaultSensitiveKeys: false });
}

/** Restores tokens in a whole text (a JSON document or a /runs/wait result). One too large or
 * too slow to scan keeps its tokens: that withholds values, it never exposes one. */
export function restoreWhole(restorer: Masker, text: string): { text: string; restored: Record<string, number> } {
  try {
    const result = restorer.mask(text);
    return { text: result.text, restored: result.redactions };
  } catch (error) {
    if (error instanceof MaskingError) return { text, restored: {} };
    throw error;
  }
}

/** The vault in the gateway's state store (storage: SQLite, or PostgreSQL shared by several gateways). */
export async function openVault(config: PortcullisConfig, store: VaultStore): Promise<Vault> {
  const keys = new TokenKeys(await loadOrCreateKey(vaultKeyFile(config)));
  return new Vault(store, keys, config.masking.vault.ttl_days * 24 * 60 * 60 * 1000);
}

function vaultKeyFile(config: PortcullisConfig): string {
  return config.masking.vault.key_file ?? path.join(path.dirname(config.storage.sqlite_file), "vault-key");
}

export const VAULT_TABLES: Component = {
  name: "vault",
  migrations: [
    portable(`CREATE TABLE IF NOT EXISTS vault_values (
         tenant TEXT NOT NULL,
         scope TEXT NOT NULL,
         token TEXT NOT NULL,
         entity TEXT NOT NULL,
         subject TEXT NOT NULL,
         sealed TEXT NOT NULL,
         created_at BIGINT NOT NULL,
         expires_at BIGINT NOT NULL,
         PRIMARY KEY (tenant, scope, token)
       );
       CREATE INDEX IF NOT EXISTS vault_values_subject ON vault_values (subject);
       CREATE INDEX IF NOT EXISTS vault_values_expiry ON vault_values (expires_at);`),
    // Tokens looked up whatever their scope, for answers with no scope of their own (searches).
    portable(`CREATE INDEX IF NOT EXISTS vault_values_token ON vault_values (tenant, token);`),
  ],
};

/** A row as the driver reads it: snake-case times, BIGINT as text in PostgreSQL. */
interface SqlRow extends Omit<VaultRow, "createdAt" | "expiresAt"> {
  created_at: number | string;
  expires_at: number | string;
}

function fromSql(row: SqlRow): VaultRow {
  return { tenant: row.tenant, scope: row.scope, token: row.token, entity: row.entity, subject: row.subject, sealed: row.sealed, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
}

/** The vault in the gateway's SQLite state database (VAULT_TABLES, applied when it opens). */
export class SqliteVaultStore implements VaultStore {
  /** `ownsDatabase`: closing the store closes the database (the CLI's); the gateway's stays open. */
  constructor(
    private readonly db: StateDatabase,
    private readonly ownsDatabase = false,
  ) {}

  put(rows: readonly VaultRow[]): Promise<void> {
    const insert = this.db.prepare(
      `INSERT INTO vault_values (tenant, scope, token, entity, subject, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant, scope, token) DO UPDATE SET expires_at = MAX(vault_values.expires_at, excluded.expires_at)`,
    );
    this.db.transaction(() => {
      for (const row of rows) insert.run(row.tenant, row.scope, row.token, row.entity, row.subject, row.sealed, row.createdAt, row.expiresAt);
    })();
    return Promise.resolve();
  }

  rowsOf(tenant: string, scope: string, now: number): Promise<VaultRow[]> {
    const rows = this.db.prepare(`SELECT * FROM vault_values WHERE tenant = ? AND scope = ? AND expires_at > ?`).all(tenant, scope, now) as SqlRow[];
    return Promise.resolve(rows.map(fromSql));
  }

  rowsWithTokens(tenant: string, tokens: readonly string[], now: number): Promise<VaultRow[]> {
    if (tokens.length === 0) return Promise.resolve([]);
    const rows = this.db.prepare(`SELECT * FROM vault_values WHERE tenant = ? AND token IN (${tokens.map(() => "?").join(", ")}) AND expires_at > ?`).all(tenant, ...tokens, now) as SqlRow[];
    return Promise.resolve(rows.map(fromSql));
  }

  eraseSubject(subject: string): Promise<number> {
    return Promise.resolve(this.db.prepare(`DELETE FROM vault_values WHERE subject = ?`).run(subject).changes);
  }

  sweep(now: number): Promise<number> {
    return Promise.resolve(this.db.prepare(`DELETE FROM vault_values WHERE expires_at <= ?`).run(now).changes);
  }

  close(): Promise<void> {
    if (this.ownsDatabase) this.db.close();
    return Promise.resolve();
  }
}

/** The vault in PostgreSQL, in the state schema, shared by every gateway instance. */
export class PostgresVaultStore implements VaultStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(options: { url: string; schema: string }): Promise<PostgresVaultStore> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`storage.schema "${options.schema}" must be a lower-case SQL identifier`);
    const pool = new pg.Pool({ connectionString: options.url, max: 4, options: `-c search_path=${options.schema}` });
    pool.on("error", () => undefined);
    try {
      await migratePostgres(pool, options.schema, [VAULT_TABLES]);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresVaultStore(pool);
  }

  async put(rows: readonly VaultRow[]): Promise<void> {
    for (const row of rows) {
      await this.pool.query(
        `INSERT INTO vault_values (tenant, scope, token, entity, subject, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant, scope, token) DO UPDATE SET expires_at = GREATEST(vault_values.expires_at, excluded.expires_at)`,
        [row.tenant, row.scope, row.token, row.entity, row.subject, row.sealed, row.createdAt, row.expiresAt],
      );
    }
  }

  async rowsOf(tenant: string, scope: string, now: number): Promise<VaultRow[]> {
    const result = await this.pool.query<SqlRow>(`SELECT * FROM vault_values WHERE tenant = $1 AND scope = $2 AND expires_at > $3`, [tenant, scope, now]);
    return result.rows.map(fromSql);
  }

  async rowsWithTokens(tenant: string, tokens: readonly string[], now: number): Promise<VaultRow[]> {
    if (tokens.length === 0) return [];
    const result = await this.pool.query<SqlRow>(`SELECT * FROM vault_values WHERE tenant = $1 AND token = ANY($2) AND expires_at > $3`, [tenant, tokens, now]);
    return result.rows.map(fromSql);
  }

  async eraseSubject(subject: string): Promise<number> {
    return (await this.pool.query(`DELETE FROM vault_values WHERE subject = $1`, [subject])).rowCount ?? 0;
  }

  async sweep(now: number): Promise<number> {
    return (await this.pool.query(`DELETE FROM vault_values WHERE expires_at <= $1`, [now])).rowCount ?? 0;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
