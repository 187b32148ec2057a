// A real stack for integration tests: the bundled LangGraph server (pinned
// @langchain/langgraph-api) as a child process, and a gateway in front of it on a free port.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@langchain/langgraph-sdk";
import { pino } from "pino";
import { startDemoLangGraph, type DemoLangGraph } from "../../demo/launch.js";
import { parseConfig } from "../../src/config/load.js";
import type { PortcullisConfig, PortcullisConfigInput } from "../../src/config/schema.js";
import { startGateway, type Gateway, type GatewayOptions } from "../../src/gateway.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { openLedgerStore, type LedgerLeaf, type LedgerStore } from "../../src/ledger/index.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { AuditRecord } from "../../src/record/auditRecord.js";

export interface Upstream {
  url: string;
  key: string;
  stop(): Promise<void>;
}

/** `env`: extra environment for the server's graphs (the egress tests give the model graph its
 * gateway URL and workload key). */
export async function startLangGraph(options: { env?: Record<string, string> } = {}): Promise<Upstream & { server: DemoLangGraph; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-lg-"));
  const key = randomBytes(24).toString("base64url");
  const server = await startDemoLangGraph({ upstreamKey: key, dataDir: dir, ...(options.env ? { env: options.env } : {}) });
  return {
    url: server.url,
    key,
    server,
    dir,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestGateway {
  gateway: Gateway;
  url: string;
  /** A valid service-account key for the gateway. */
  key: string;
  /** The SQLite ledger file (unless the test configured PostgreSQL). */
  ledgerFile: string;
  config: PortcullisConfig;
  /** The gateway's state database (CLI-made service accounts, sessions). */
  stateFile: string;
  audit(): Promise<AuditRecord[]>;
  /** Records for one request id (request + completion). */
  recordsFor(requestId: string): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export const ALLOW_ALL_POLICY = fileURLToPath(new URL("../fixtures/policies/allow-all.yaml", import.meta.url));

export async function startTestGateway(
  upstream: { url: string; key?: string },
  overrides: Partial<PortcullisConfigInput> = {},
  options: GatewayOptions = {},
): Promise<TestGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), "portcullis-gw-"));
  const ledgerFile = path.join(dir, "ledger.db");
  const { key, sha256 } = generateApiKey();
  const secretEnv = `PORTCULLIS_TEST_UPSTREAM_KEY_${randomBytes(4).toString("hex")}`;
  if (upstream.key) process.env[secretEnv] = upstream.key;
  const config = parseConfig({
    listen: { host: "127.0.0.1", port: 0 },
    audit: { store: { kind: "sqlite", file: ledgerFile }, signing_key_file: path.join(dir, "ledger-key.pem"), run_follow: { poll_ms: 50, max_poll_ms: 500 } },
    storage: { sqlite_file: path.join(dir, "state.db") },
    log: { level: "silent" },
    // Data-path tests run under allow-all; policy tests pass their own policy.file.
    policy: { file: ALLOW_ALL_POLICY, watch: false },
    ...overrides,
    upstream: {
      url: upstream.url,
      ...(upstream.key ? { credential: { header: "x-api-key", secret: { env: secretEnv } } } : {}),
      ...overrides.upstream,
    },
    identity: {
      ...overrides.identity,
      service_accounts: [{ id: "tester", key_sha256: sha256, groups: ["engineering"] }, ...(overrides.identity?.service_accounts ?? [])],
    },
  });
  const gateway = await startGateway(config, { logger: pino({ level: "silent" }), ...options });
  const audit = () => ledgerRecordsOf(config.audit);
  return {
    gateway,
    url: gateway.url,
    key,
    ledgerFile,
    config,
    stateFile: config.storage.sqlite_file,
    audit,
    async recordsFor(requestId) {
      await requestFinished(gateway, requestId);
      return (await audit()).filter((record) => "request_id" in record && record.request_id === requestId);
    },
    async close() {
      await gateway.close();
      delete process.env[secretEnv];
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The completion record is appended after the client has its answer; the exchange leaves the
 * pipeline once that record is committed. A request still streaming after a few seconds is read
 * as it stands. */
async function requestFinished(gateway: Gateway, requestId: string, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  const open = () => [...gateway.pipeline.active].some((exchange) => exchange.id === requestId);
  while (open() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Every record in a SQLite ledger file, in order. */
export function ledgerRecords(file: string): Promise<AuditRecord[]> {
  return readRecords(new SqliteLedgerStore(file), undefined);
}

/** Every record in the ledger a gateway config names (SQLite or PostgreSQL), in order. */
export async function ledgerRecordsOf(audit: PortcullisConfig["audit"]): Promise<AuditRecord[]> {
  return readRecords(await openLedgerStore(audit), audit.origin);
}

async function readRecords(store: LedgerStore, origin: string | undefined): Promise<AuditRecord[]> {
  try {
    const log = origin ?? (await store.logs())[0] ?? "";
    const records: AuditRecord[] = [];
    for await (const page of store.entryPages(log, 0, await store.size(log))) for (const entry of page) records.push((JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record);
    return records;
  } finally {
    await store.close();
  }
}

export function sdkThroughGateway(gateway: TestGateway): Client {
  return new Client({ apiUrl: gateway.url, apiKey: gateway.key, callerOptions: { maxRetries: 0 } });
}

export function sdkDirect(upstream: Upstream): Client {
  return new Client({ apiUrl: upstream.url, apiKey: upstream.key, callerOptions: { maxRetries: 0 } });
}

/** Waits until `check` passes or the time is up (for records written after a response ends). */
export async function eventually<T>(check: () => Promise<T>, withinMs = 5_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
