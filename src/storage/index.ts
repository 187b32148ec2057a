// storage: where the gateway's state lives. One store for all of it (config `storage`): browser
// sessions, sign-ins in flight, SAML request and assertion ids, CLI-made service accounts,
// rate-limit buckets, approvals and the token vault. SQLite for one gateway (the embedded
// default); PostgreSQL for several gateways behind a balancer, which then share every piece of it.
// Each store is an interface with both implementations beside it; this module only chooses and
// opens them. The ledger keeps its own store (audit.store).
import type Database from "better-sqlite3";
import pg from "pg";
import { PostgresApprovalStore, SqliteApprovalStore, type ApprovalStore } from "../approve/index.js";
import { PostgresBrowserSessionStore, SqliteBrowserSessionStore, PostgresSignInStore, SqliteSignInStore, type BrowserSessionStore, type SignInStore } from "../authenticate/index.js";
import { MemoryTokenBuckets, PostgresTokenBuckets, type TokenBuckets } from "../authorize/index.js";
import { readSecret, type PortcullisConfig, type SecretSource } from "../config/index.js";
import { ConfigError } from "../errors.js";
import { PostgresVaultStore, SqliteVaultStore, type VaultStore } from "../mask/index.js";
import { migratePostgres } from "./migrations.js";
import { PostgresServiceAccountStore, SqliteServiceAccountStore, type ServiceAccountStore } from "./serviceAccountStore.js";
import { openStateDatabase } from "./stateDatabase.js";
import { stateTables } from "./tables.js";

export { migratePostgres, portable, type Component } from "./migrations.js";
export { inTransaction } from "./postgresTransaction.js";
export { ServiceAccountExists, type NewServiceAccount, type ServiceAccountStore, type StoredServiceAccount } from "./serviceAccountStore.js";
export { openStateDatabase, type StateDatabase } from "./stateDatabase.js";

type StorageTarget = { kind: "sqlite"; file: string } | { kind: "postgres"; url: SecretSource; schema: string; urlField: string };

/** Where the config puts the state: storage.kind, or (unset) beside a PostgreSQL ledger, else SQLite. */
export function storageTarget(config: Pick<PortcullisConfig, "storage" | "audit">): StorageTarget {
  const { storage } = config;
  const ledger = config.audit.store;
  const kind = storage.kind ?? ledger.kind;
  if (kind === "sqlite") return { kind: "sqlite", file: storage.sqlite_file };
  if (storage.url) return { kind: "postgres", url: storage.url, schema: storage.schema ?? (ledger.kind === "postgres" ? ledger.schema : "portcullis"), urlField: "storage.url" };
  if (ledger.kind === "postgres") return { kind: "postgres", url: ledger.url, schema: storage.schema ?? ledger.schema, urlField: "audit.store.url" };
  throw new ConfigError("storage.kind is postgres but there is no storage.url (and the ledger is not on PostgreSQL to share its URL); set storage.url, e.g. { env: PORTCULLIS_STATE_DATABASE_URL }");
}

export interface StateStores {
  readonly kind: "sqlite" | "postgres";
  readonly sessions: BrowserSessionStore;
  readonly signIns: SignInStore;
  readonly serviceAccounts: ServiceAccountStore;
  readonly tokenBuckets: TokenBuckets;
  /** Approvals on PostgreSQL hold a LISTEN connection of their own; closed by their owner. */
  openApprovals(): Promise<ApprovalStore>;
  /** The token vault's rows; closed by their owner. */
  openVault(): Promise<VaultStore>;
  close(): Promise<void>;
}

/** Opens the configured store and brings every table up to date (one migration runner). */
export async function openStateStores(config: Pick<PortcullisConfig, "storage" | "audit">): Promise<StateStores> {
  const target = storageTarget(config);
  if (target.kind === "sqlite") return sqliteStores(openStateDatabase(target.file));
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
