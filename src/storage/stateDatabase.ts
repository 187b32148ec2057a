// The embedded state database: one SQLite file in WAL mode, shared by the gateway and the CLI
// (the CLI revokes a key; the gateway sees it on the next request). The tables of the components
// given are brought up to date on opening (migrations.ts); src/stateStores.ts gives every store's.
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { migrateSqlite, type Component } from "./migrations.js";

export type StateDatabase = Database.Database;

export function openStateDatabase(file: string, components: readonly Component[]): StateDatabase {
  if (file !== ":memory:") mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const db = new Database(file);
  try {
    // Sessions and key hashes: readable by the gateway's user only (SQLite gives -wal/-shm the same mode).
    if (file !== ":memory:") chmodSync(file, 0o600);
    db.pragma("journal_mode = WAL");
    // The CLI and the gateway write the same file; wait for each other rather than fail.
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    migrateSqlite(db, components);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
