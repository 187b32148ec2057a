// The gateway's own state: service accounts made from the CLI, browser sessions, sign-in
// transactions in flight, SAML assertion ids already used, and approvals (unless they live in
// PostgreSQL beside the ledger). SQLite in WAL mode, one file,
// shared by the gateway and the CLI (the CLI revokes a key; the gateway sees it on the next request).
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

// Each entry moves the schema one version forward; applied in order inside one transaction.
const MIGRATIONS: string[] = [
  `CREATE TABLE service_accounts (
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
   );
   CREATE TABLE browser_sessions (
     id_sha256 TEXT PRIMARY KEY,
     subject TEXT NOT NULL,
     identity_json TEXT NOT NULL,
     csrf_token TEXT NOT NULL,
     provider TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);
   CREATE TABLE login_transactions (
     id TEXT PRIMARY KEY,
     provider TEXT NOT NULL,
     browser_binding_sha256 TEXT NOT NULL,
     data_json TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE saml_requests_outstanding (
     id TEXT PRIMARY KEY,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE saml_assertions_seen (
     provider TEXT NOT NULL,
     assertion_id TEXT NOT NULL,
     forget_after INTEGER NOT NULL,
     PRIMARY KEY (provider, assertion_id)
   );`,
  // Expiry purges and the in-flight count run on every sign-in start; without these they scan.
  `CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);
   CREATE INDEX saml_requests_outstanding_created ON saml_requests_outstanding (created_at);
   CREATE INDEX saml_assertions_seen_forget ON saml_assertions_seen (forget_after);`,
  // Approvals (src/approve/): the document per approval, its state and deadline for the sweeps.
  `CREATE TABLE approvals (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     mode TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     doc TEXT NOT NULL
   );
   CREATE INDEX approvals_state ON approvals (state, expires_at);
   CREATE INDEX approvals_created ON approvals (created_at);
   CREATE TABLE approval_grants (
     id TEXT PRIMARY KEY,
     approval_id TEXT NOT NULL,
     subject TEXT NOT NULL,
     rule TEXT NOT NULL,
     graphs TEXT NOT NULL,
     actions TEXT NOT NULL,
     granted_by TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX approval_grants_lookup ON approval_grants (subject, rule, graphs, expires_at);`,
];

export type StateDatabase = Database.Database;

export function openStateDatabase(file: string): StateDatabase {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  // Sessions and key hashes: readable by the gateway's user only (SQLite gives -wal/-shm the same mode).
  if (file !== ":memory:") chmodSync(file, 0o600);
  db.pragma("journal_mode = WAL");
  // The CLI and the gateway write the same file; wait for each other rather than fail.
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
}

function migrate(db: StateDatabase): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the state database was written by a newer Portcullis (schema ${current}, this version knows ${MIGRATIONS.length})`);
  }
  db.transaction(() => {
    for (let version = current; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}
