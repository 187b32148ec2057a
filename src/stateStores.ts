// The gateway's state stores, chosen and opened: every stage's store on the one configured
// database (config `storage`), SQLite for one gateway or PostgreSQL shared by several, with every
// stage's tables brought up to date by storage's one migration runner. A composition root like
// gateway.ts: it imports the stages, and only gateway.ts and the CLI import it, so storage/ keeps
// the primitives every store uses and depends on no stage (docs/architecture.md, Stage boundaries).
import type Database from "better-sqlite3";
import pg from "pg";
import { APPROVAL_TABLES, PostgresApprovalStore, SqliteApprovalStore, type ApprovalStore } from "./approve/index.js";
import { BROWSER_SESSION_TABLES, PostgresBrowserSessionStore, PostgresSignInStore, SIGN_IN_TABLES, SqliteBrowserSessionStore, SqliteSignInStore, type SignInStores } from "./authenticate/index.js";
import { MemoryTokenBuckets, PostgresTokenBuckets, RATE_LIMIT_TABLES, type TokenBuckets } from "./authorize/index.js";
import { readSecret, type PortcullisConfig } from "./config/index.js";
import { ConfigError } from "./errors.js";
import { PostgresVaultStore, SqliteVaultStore, VAULT_TABLES, type VaultStore } from "./mask/index.js";
import {
  migratePostgres,
  openStateDatabase,
  PostgresServiceAccountStore,
  SERVICE_ACCOUNT_TABLES,
  SqliteServiceAccountStore,
  storageTarget,
  type Component,
  type ServiceAccountStore,
  type StateDatabase,
} from "./storage/index.js";

/** Every component of gateway state, in the order the migration runner applies them. Each
 * component's DDL lives beside the store that uses it. */
export function stateTables(): readonly Component[] {
  return [SERVICE_ACCOUNT_TABLES, BROWSER_SESSION_TABLES, SIGN_IN_TABLES, APPROVAL_TABLES, RATE_LIMIT_TABLES, VAULT_TABLES];
}

export interface StateStores extends SignInStores {
  readonly kind: "sqlite" | "postgres";
  readonly serviceAccounts: ServiceAccountStore;
  readonly tokenBuckets: TokenBuckets;
  /** Approvals on PostgreSQL hold a LISTEN connection of their own; closed by their owner. */
  openApprovals(): Promise<ApprovalStore>;
  /** The token vault's rows; closed by their owner. */
  openVault(): Promise<VaultStore>;
  close(): Promise<void>;
}

/** The embedded state database (one SQLite file, or ":memory:") with every stage's tables up to date. */
export function openStateFile(file: string): StateDatabase {
  return openStateDatabase(file, stateTables());
}

/** Opens the configured store and brings every table up to date (one migration runner). */
export async function openStateStores(config: Pick<PortcullisConfig, "storage" | "audit">): Promise<StateStores> {
  const target = storageTarget(config);
  if (target.kind === "sqlite") return sqliteStores(openStateFile(target.file));
  return postgresStores({ url: await readSecret(target.url, target.urlField), schema: target.schema });
}

export function sqliteStores(db: Database.Database): StateStores {
  return {
    kind: "sqlite",
    sessions: new SqliteBrowserSessionStore(db),
    signIns: new SqliteSignInStore(db),
    serviceAccounts: new SqliteServiceAccountStore(db),
    // One gateway: its buckets in memory are the only ones.
    tokenBuckets: new MemoryTokenBuckets(),
    openApprovals: async () => new SqliteApprovalStore(db),
    openVault: async () => new SqliteVaultStore(db),
    close: async () => {
      db.close();
    },
  };
}

export async function postgresStores(options: { url: string; schema: string }): Promise<StateStores> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new ConfigError(`the state schema "${options.schema}" must be a lower-case SQL identifier`);
  const pool = new pg.Pool({ connectionString: options.url, max: 8, options: `-c search_path=${options.schema}` });
  // An idle connection that breaks is replaced on next use; the query that needs it fails loudly.
  pool.on("error", () => undefined);
  try {
    await migratePostgres(pool, options.schema, stateTables());
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot prepare the gateway's state in PostgreSQL (schema ${options.schema}): ${(error as Error).message}`, { cause: error });
  }
  return {
    kind: "postgres",
    sessions: new PostgresBrowserSessionStore(pool),
    signIns: new PostgresSignInStore(pool),
    serviceAccounts: new PostgresServiceAccountStore(pool),
    tokenBuckets: new PostgresTokenBuckets(pool),
    openApprovals: () => PostgresApprovalStore.open(options),
    openVault: () => PostgresVaultStore.open(options),
    close: () => pool.end(),
  };
}
