// The gateway under benchmark, in its own process (as deployed), pointed at bench/upstream.ts.
import path from "node:path";
import { pino } from "pino";
import { parseConfig } from "../src/config/load.js";
import { startGateway } from "../src/gateway.js";

const [upstreamUrl, keySha256, dataDir] = process.argv.slice(2) as [string, string, string];
process.env.BENCH_UPSTREAM_KEY = "bench-upstream-key";
const gateway = await startGateway(
  parseConfig({
    listen: { host: "127.0.0.1", port: 0 },
    upstream: { url: upstreamUrl, credential: { secret: { env: "BENCH_UPSTREAM_KEY" } } },
    identity: { service_accounts: [{ id: "bench", key_sha256: keySha256 }] },
    audit: { store: { kind: "sqlite", file: path.join(dataDir, "ledger.db") }, signing_key_file: path.join(dataDir, "ledger-key.pem") },
    storage: { sqlite_file: path.join(dataDir, "state.db") },
    // bench/observability.ts runs this gateway with metrics and tracing on and off.
    ...(process.env.BENCH_OBSERVABILITY ? { observability: JSON.parse(process.env.BENCH_OBSERVABILITY) as object } : {}),
  }),
  { logger: pino({ level: "silent" }) },
);
process.stdout.write(`${JSON.stringify({ ready: true, url: gateway.url })}\n`);
process.once("SIGTERM", () => void gateway.close().then(() => process.exit(0)));
