// storage: where the gateway's state lives, and what every store of it is built on. One store for
// all of it (config `storage`): browser sessions, sign-ins in flight, SAML request and assertion
// ids, CLI-made service accounts, rate-limit buckets, approvals and the token vault. SQLite for one
// gateway (the embedded default); PostgreSQL for several gateways behind a balancer, which then
// share every piece of it. Each stage's store is an interface with both implementations beside it,
// in the stage's folder; this folder holds what they share (the migration runner, the PostgreSQL
// transaction, the SQLite state database, storageTarget) and the service-account store. Choosing
// and opening every stage's store is src/stateStores.ts's job, so that no stage is imported here.
// The ledger keeps its own store (audit.store).
import type { PortcullisConfig, SecretSource } from "../config/index.js";
import { ConfigError } from "../errors.js";

export { migratePostgres, perDialect, portable, type Component } from "./migrations.js";
export { inTransaction } from "./postgresTransaction.js";
export {
  PostgresServiceAccountStore,
  SERVICE_ACCOUNT_TABLES,
  ServiceAccountExists,
  SqliteServiceAccountStore,
  type NewServiceAccount,
  type ServiceAccountStore,
  type StoredServiceAccount,
} from "./serviceAccountStore.js";
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
