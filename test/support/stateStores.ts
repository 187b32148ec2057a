// The gateway's state stores in both dialects, for tests that must hold on each: SQLite in memory,
// and PostgreSQL (a real server, test/support/postgres.ts) with a fresh schema per store.
import { randomBytes } from "node:crypto";
import { openStateFile, postgresStores, sqliteStores, type StateStores } from "../../src/stateStores.js";
import { startPostgres, type TestPostgres } from "./postgres.js";

export interface StateDialect {
  name: "sqlite" | "postgres";
  open(): Promise<StateStores>;
  stop(): Promise<void>;
}

export function sqliteDialect(): StateDialect {
  return { name: "sqlite", open: async () => sqliteStores(openStateFile(":memory:")), stop: async () => undefined };
}

export async function postgresDialect(): Promise<StateDialect & { url: string; freshSchema(): string }> {
  const postgres: TestPostgres = await startPostgres();
  const freshSchema = () => `state_${randomBytes(6).toString("hex")}`;
  return {
    name: "postgres",
    url: postgres.url,
    freshSchema,
    open: () => postgresStores({ url: postgres.url, schema: freshSchema() }),
    stop: () => postgres.stop(),
  };
}
