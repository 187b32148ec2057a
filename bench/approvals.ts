// npm run bench: approval-to-forward latency. A stream is held for approval, an approver allows
// it through the REST API, and the time until the upstream receives the forwarded request is
// measured; the baseline, in the same run, is the same stream request allowed without approval
// (send → upstream). With PostgreSQL installed, the approval is also given on a second gateway
// sharing the database (LISTEN/NOTIFY releases the held request). Figures are printed only.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { request } from "undici";
import { parseConfig } from "../src/config/load.js";
import type { PortcullisConfigInput } from "../src/config/schema.js";
import { startGateway, type Gateway } from "../src/gateway.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";
import { startPostgres } from "../test/support/postgres.js";

const ROUNDS = Number(process.env.BENCH_APPROVAL_ROUNDS ?? "200");

const POLICY = `version: 1
rules:
  - id: allow-all
    effect: allow
    subjects: "*"
    actions: ["*"]
    scope: any
  - id: held-runs
    effect: require-approval
    subjects: "*"
    actions: [runs:create]
    resources: { assistants: [held] }
    approval: { approver_groups: [approvers] }
`;

/** A stand-in LangGraph that notes when each run request arrives and answers a short stream. */
function startUpstream(arrivals: Map<string, number>) {
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/assistants/")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ assistant_id: req.url.split("/")[2], graph_id: req.url.split("/")[2] }));
      return;
    }
    if (req.method === "GET" && req.url?.startsWith("/threads/")) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ thread_id: req.url.split("/")[2], status: "idle", metadata: {} }));
      return;
    }
    const thread = /^\/threads\/([^/]+)\/runs\/stream$/.exec(req.url ?? "")?.[1];
    if (thread) arrivals.set(thread, performance.now());
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(`event: metadata\ndata: {"run_id":"${randomUUID()}","attempt":1}\n\nevent: values\ndata: {"ok":true}\n\n`);
    });
  });
  return new Promise<{ url: string; close: () => Promise<void> }>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((done) => server.close(() => done())) })),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms  p90 ${percentile(sorted, 90).toFixed(2)} ms  p99 ${percentile(sorted, 99).toFixed(2)} ms  max ${(sorted.at(-1) ?? NaN).toFixed(2)} ms  (n=${sorted.length})`;
}

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

async function measure(holding: Gateway, approving: Gateway, requester: string, approver: string, arrivals: Map<string, number>) {
  const baseline: number[] = [];
  const approvalToForward: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    // Baseline: an allowed stream, send → upstream.
    const free = randomUUID();
    const sent = performance.now();
    const direct = await request(`${holding.url}/threads/${free}/runs/stream`, { method: "POST", headers: { "x-api-key": requester, "content-type": "application/json" }, body: JSON.stringify({ assistant_id: "free", input: {} }) });
    await direct.body.text();
    baseline.push(arrivals.get(free)! - sent);

    // Held: read the approval id from the stream's first event, approve, time until forwarded.
    const thread = randomUUID();
    const held = await request(`${holding.url}/threads/${thread}/runs/stream`, { method: "POST", headers: { "x-api-key": requester, "content-type": "application/json" }, body: JSON.stringify({ assistant_id: "held", input: {} }) });
    const iterator = (held.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let head = "";
    while (!head.includes("\n\n")) {
      const next = await iterator.next();
      if (next.done) throw new Error(`the held stream ended early (status ${held.statusCode}): ${head}`);
      head += (next.value as Buffer).toString("utf8");
    }
    const approvalId = /"approval_id":"([^"]+)"/.exec(head)![1]!;
    const approvedAt = performance.now();
    const decided = await request(`${approving.url}/portcullis/approvals/${approvalId}/approve`, { method: "POST", headers: { authorization: `Bearer ${approver}`, "content-type": "application/json" }, body: "{}" });
    await decided.body.text();
    await waitFor(() => arrivals.has(thread));
    approvalToForward.push(arrivals.get(thread)! - approvedAt);
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
  }
  return { baseline, approvalToForward };
}

async function gatewayFor(upstreamUrl: string, dir: string, name: string, keys: { requester: string; approver: string }, audit?: PortcullisConfigInput["audit"]): Promise<Gateway> {
  return startGateway(
    parseConfig({
      listen: { host: "127.0.0.1", port: 0 },
      upstream: { url: upstreamUrl },
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      storage: { sqlite_file: path.join(dir, `${name}-state.db`) },
      audit: audit ?? { store: { kind: "sqlite", file: path.join(dir, `${name}-ledger.db`) }, signing_key_file: path.join(dir, `${name}-key.pem`) },
      identity: {
        service_accounts: [
          { id: "requester", key_sha256: keys.requester, groups: [] },
          { id: "approver", key_sha256: keys.approver, groups: ["approvers"] },
        ],
      },
      log: { level: "silent" },
    }),
    { logger: pino({ level: "silent" }) },
  );
}

const dir = await mkdtemp(path.join(tmpdir(), "portcullis-bench-approvals-"));
await writeFile(path.join(dir, "policy.yaml"), POLICY);
const requester = generateApiKey();
const approver = generateApiKey();
const keys = { requester: requester.sha256, approver: approver.sha256 };
const arrivals = new Map<string, number>();
const upstream = await startUpstream(arrivals);
console.log(`approval-to-forward latency (${ROUNDS} held streams; baseline: the same stream allowed without approval)`);
try {
  const gateway = await gatewayFor(upstream.url, dir, "one", keys);
  const local = await measure(gateway, gateway, requester.key, approver.key, arrivals);
  await gateway.close();
  console.log(`  baseline, send → upstream (SQLite)            ${summary(local.baseline)}`);
  console.log(`  approve → upstream, same gateway (SQLite)     ${summary(local.approvalToForward)}`);

  let postgres;
  try {
    postgres = await startPostgres();
  } catch (error) {
    console.log(`  PostgreSQL, two gateways: not measured (${(error as Error).message.split(":")[0]})`);
  }
  if (postgres) {
    process.env.PORTCULLIS_BENCH_PG = postgres.url;
    const audit = (name: string): PortcullisConfigInput["audit"] => ({ store: { kind: "postgres", url: { env: "PORTCULLIS_BENCH_PG" }, schema: "bench" }, signing_key_file: path.join(dir, `${name}-key.pem`) });
    const holding = await gatewayFor(upstream.url, dir, "a", keys, audit("a"));
    const approving = await gatewayFor(upstream.url, dir, "b", keys, audit("b"));
    try {
      const shared = await measure(holding, approving, requester.key, approver.key, arrivals);
      console.log(`  baseline, send → upstream (PostgreSQL)        ${summary(shared.baseline)}`);
      console.log(`  approve on B → upstream from A (PostgreSQL)   ${summary(shared.approvalToForward)}`);
    } finally {
      await holding.close();
      await approving.close();
      await postgres.stop();
    }
  }
} finally {
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
}
