// Run as its own process by test/observe/observability.test.ts: starts a gateway with observability off
// (argument "off") or metrics and tracing on ("on") and prints, as JSON, which of prom-client
// and the OpenTelemetry packages the process has loaded (they ship CommonJS, so require.cache
// lists them however they were imported).
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { parseConfig } from "../../src/config/load.js";
import { startGateway } from "../../src/gateway.js";

const enabled = process.argv[2] === "on";
const dir = await mkdtemp(path.join(tmpdir(), "portcullis-observe-modules-"));
const gateway = await startGateway(
  parseConfig({
    listen: { host: "127.0.0.1", port: 0 },
    upstream: { url: "http://127.0.0.1:9" },
    audit: { store: { kind: "sqlite", file: path.join(dir, "ledger.db") }, signing_key_file: path.join(dir, "ledger-key.pem") },
    storage: { sqlite_file: path.join(dir, "state.db") },
    ...(enabled ? { observability: { metrics: { enabled: true, listen: { port: 0 } }, tracing: { enabled: true, otlp_endpoint: "http://127.0.0.1:9/v1/traces" } } } : {}),
  }),
  { logger: pino({ level: "silent" }) },
);
const packages = new Set<string>();
for (const file of Object.keys(createRequire(import.meta.url).cache)) {
  const match = /node_modules\/((?:@opentelemetry\/)?[^/]+)\//.exec(file);
  if (match && (match[1] === "prom-client" || match[1]!.startsWith("@opentelemetry/"))) packages.add(match[1]!);
}
process.stdout.write(`${JSON.stringify([...packages].sort())}\n`);
await gateway.close();
await rm(dir, { recursive: true, force: true });
