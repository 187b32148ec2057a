// The ledger a killable test instance opens (followingInstance.ts, ledgerInstance.ts): gateway role
// on a shared PostgreSQL store, so it holds a lease, with quick checkpoints and heartbeats.
import { pino } from "pino";
import { Ledger } from "../../src/ledger/ledger.js";
import { PostgresLedgerStore } from "../../src/ledger/postgresStore.js";

export async function openInstanceLedger(options: { url: string; schema: string; keyFile: string; origin: string; leaseMs: number }): Promise<Ledger> {
  return Ledger.open({
    origin: options.origin,
    store: await PostgresLedgerStore.open({ url: options.url, schema: options.schema }),
    keyFile: options.keyFile,
    log: pino({ level: "silent" }),
    checkpointIntervalMs: 100,
    heartbeatIntervalMs: 1_000,
    maxBatch: 8,
    leaseMs: options.leaseMs,
  });
}
