// One gateway instance's ledger in its own process, for tests that kill it: opens the log on a
// shared PostgreSQL store (gateway role, so it holds a lease), admits one request that it never
// completes, prints its instance id and waits to be killed.
// Usage: tsx test/support/ledgerInstance.ts <postgres url> <schema> <key file> <origin> <request id> <lease ms>
import { openInstanceLedger } from "./instanceLedger.js";

const [url, schema, keyFile, origin, requestId, leaseMs] = process.argv.slice(2) as [string, string, string, string, string, string];
const ledger = await openInstanceLedger({ url, schema, keyFile, origin, leaseMs: Number(leaseMs) });
await ledger.append({
  type: "request",
  request_id: requestId,
  time: new Date().toISOString(),
  client: { address: "10.0.0.9", user_agent: "test" },
  query: "",
  identity: { subject: "sa:worker", kind: "service-account", groups: [], auth_method: "api-key", credential_id: "sa:worker#1" },
  method: "POST",
  path: "/threads/t-1/runs/stream",
  operation: null,
  decision: { effect: "allow", rule: "allow-all" },
});
process.stdout.write(`${JSON.stringify({ ready: true, instance: ledger.instance })}\n`);
process.once("SIGTERM", () => void ledger.close().then(() => process.exit(0)));
setInterval(() => undefined, 60_000);
