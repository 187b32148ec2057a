// The gateway under benchmark, in its own process and from the compiled release in dist/ (as
// deployed: tsx's keep-names helpers cost a quarter of the relay's CPU), pointed at bench/upstream.ts.
import { existsSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";

const dist = (file: string) => new URL(`../dist/src/${file}`, import.meta.url);
if (!existsSync(dist("gateway.js"))) throw new Error("bench/gateway.ts runs the compiled gateway: run `npm run build` first (npm run bench does)");
// Typed by the sources they were compiled from.
const { parseConfig } = (await import(dist("config/load.js").href)) as typeof import("../src/config/load.js");
const { startGateway } = (await import(dist("gateway.js").href)) as typeof import("../src/gateway.js");

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
