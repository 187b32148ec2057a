// One gateway instance's ledger in its own process, for tests that kill it: opens the log on a
// shared PostgreSQL store (gateway role, so it holds a lease), tracks the given runs as the run
// follower does, marks those listed as recorded (their run records written), prints that it is
// ready and waits to be killed.
// Usage: tsx test/support/followingInstance.ts <postgres url> <schema> <key file> <origin> <lease ms> <runs json> <recorded request ids json>
import { openInstanceLedger } from "./instanceLedger.js";
import type { TrackedRun } from "../../src/ledger/store.js";

const [url, schema, keyFile, origin, leaseMs, runs, recorded] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const ledger = await openInstanceLedger({ url, schema, keyFile, origin, leaseMs: Number(leaseMs) });
for (const run of JSON.parse(runs) as TrackedRun[]) await ledger.trackRun(run);
for (const requestId of JSON.parse(recorded) as string[]) await ledger.untrackRun(requestId);
process.stdout.write(`${JSON.stringify({ ready: true, instance: ledger.instance })}\n`);
setInterval(() => undefined, 60_000);
