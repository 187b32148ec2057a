// One migration runner for every store of gateway state, in both dialects. Each store declares
// its own versioned DDL beside its code (a component); the runner applies what a database has
// not seen yet, in order, in one transaction, and records each component's version in
// state_migrations. A database written by a newer Portcullis is refused rather than guessed at.
//
// Version 1 of each component uses CREATE ... IF NOT EXISTS: state databases made before
// components existed (one user_version for all tables, approvals_schema in PostgreSQL) already
// hold those tables and are adopted as they are.
import type Database from "better-sqlite3";
import type pg from "pg";
import { inTransaction } from "./postgresTransaction.js";

/** One schema change, written once per dialect (null: that dialect does not keep this state). */
export interface Migration {
  sqlite: string | null;
  postgres: string;
}

/** A schema change in the SQL both dialects read alike (TEXT, BIGINT, IF NOT EXISTS). */
export function portable(sql: string): Migration {
  return { sqlite: sql, postgres: sql };
}

/** The types the dialects name differently: a 64-bit integer, and a JSON document. */
interface DialectTypes {
  integer: "INTEGER" | "BIGINT";
  json: "TEXT" | "JSONB";
}

/** A schema change written once, with each dialect's names for the types that differ. */
export function perDialect(sql: (types: DialectTypes) => string): { sqlite: string; postgres: string } {
  return { sqlite: sql({ integer: "INTEGER", json: "TEXT" }), postgres: sql({ integer: "BIGINT", json: "JSONB" }) };
}

export interface Component {
  /** Stable name, the key in state_migrations. */
  name: string;
  /** Version n+1 is migrations[n]; never edit or reorder a released entry, append. */
  migrations: readonly Migration[];
}

export class SchemaTooNewError extends Error {
  readonly code = "PC_STATE_SCHEMA_TOO_NEW";
  constructor(component: string, found: number, known: number) {
    super(`the state database's ${component} tables were written by a newer Portcullis (schema ${found}, this version knows ${known}); upgrade this gateway or CLI`);
    this.name = "SchemaTooNewError";
  }
}

const MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS state_migrations (component TEXT PRIMARY KEY, version INTEGER NOT NULL)";

export function migrateSqlite(db: Database.Database, components: readonly Component[]): void {
  db.transaction(() => {
    db.exec(MIGRATIONS_TABLE);
    const read = db.prepare<[string], { version: number }>("SELECT version FROM state_migrations WHERE component = ?");
    const save = db.prepare("INSERT INTO state_migrations (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version");
    for (const component of components) {
      const current = read.get(component.name)?.version ?? 0;
      const known = component.migrations.length;
      if (current > known) throw new SchemaTooNewError(component.name, current, known);
      for (let version = current; version < known; version++) {
        const ddl = component.migrations[version]!.sqlite;
        if (ddl !== null) db.exec(ddl);
      }
      if (current < known) save.run(component.name, known);
    }
  }).immediate();
}

/** Migrates `schema` (created if missing) under an advisory lock, so instances starting together
 * apply each migration once. */
export async function migratePostgres(pool: pg.Pool, schema: string, components: readonly Component[]): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('portcullis-state-migrate'), hashtext($1))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET LOCAL search_path = ${schema}`);
    await client.query(MIGRATIONS_TABLE);
    for (const component of components) {
      const { rows } = await client.query<{ version: number }>("SELECT version FROM state_migrations WHERE component = $1", [component.name]);
      const current = rows[0]?.version ?? 0;
      const known = component.migrations.length;
      if (current > known) throw new SchemaTooNewError(component.name, current, known);
      for (let version = current; version < known; version++) await client.query(component.migrations[version]!.postgres);
      if (current < known) {
        await client.query("INSERT INTO state_migrations (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version", [component.name, known]);
      }
    }
  });
}
