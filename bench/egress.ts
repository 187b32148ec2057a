// npm run bench: what an egress route adds to a call. The same OpenAI-compatible stand-in
// provider is called directly (the baseline, in the same run) and through /egress/<route> with
// the credential injected, the body masked, the call linked and recorded. Two shapes: a JSON chat
// completion (latency per call) and a token stream (each token's delay from the moment the
// provider wrote it, so any buffering on the way shows). Figures are printed only.
// BENCH_EGRESS_DIR=/dev/shm puts the ledger on tmpfs, to separate the gateway's own work from fsync.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createParser } from "eventsource-parser";
import { Pool } from "undici";
import { startStandInModel } from "../demo/standInModel.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";

const CALLS = Number(process.env.BENCH_EGRESS_CALLS ?? "2000");
const STREAMS = Number(process.env.BENCH_EGRESS_STREAMS ?? "20");
const TOKENS = 100;
const TOKEN_INTERVAL_MS = 5;

const POLICY = `version: 1
rules:
  - id: runtime-calls-models
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [model] }
`;

const CHAT = JSON.stringify({ model: "stand-in", messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Summarise the quarterly numbers for the board in two sentences, please." }] });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(values: number[]): { p50: number; p90: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) };
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ledgerWhere = process.env.BENCH_EGRESS_DIR ? `${process.env.BENCH_EGRESS_DIR} (BENCH_EGRESS_DIR)` : "the temp directory, fsync at every commit";

/** The gateway in its own process, as deployed, so its ledger commits do not stall the client. */
function startGatewayProcess(configFile: string): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL("./egress-gateway.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), script, configFile], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the gateway exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve({ url: (JSON.parse(line) as { url: string }).url, child });
    });
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(process.env.BENCH_EGRESS_DIR ?? tmpdir(), "portcullis-bench-egress-"));
  const providerKey = `sk-bench-${randomBytes(16).toString("hex")}`;
  await writeFile(path.join(dir, "provider.key"), providerKey);
  await writeFile(path.join(dir, "policy.yaml"), POLICY);
  // Token streams carry the wall-clock time each token was written, to measure its delay.
  const model = await startStandInModel({
    apiKey: providerKey,
    extra: (req, res) => {
      if (req.url !== "/v1/chat/completions/timed" || req.headers.authorization !== `Bearer ${providerKey}`) return false;
      res.writeHead(200, { "content-type": "text/event-stream" });
      let sent = 0;
      const timer = setInterval(() => {
        if (sent === TOKENS) {
          clearInterval(timer);
          res.end("data: [DONE]\n\n");
          return;
        }
        sent++;
        res.write(`data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "token " } }], sent_at: performance.timeOrigin + performance.now() })}\n\n`);
      }, TOKEN_INTERVAL_MS);
      return true;
    },
  });
  const runtime = generateApiKey();
  const config = {
    listen: { host: "127.0.0.1", port: 0 },
    upstream: { url: "http://127.0.0.1:9" },
    audit: { store: { kind: "sqlite", file: path.join(dir, "ledger.db") }, signing_key_file: path.join(dir, "ledger-key.pem") },
    storage: { sqlite_file: path.join(dir, "state.db") },
    log: { level: "silent" },
    policy: { file: path.join(dir, "policy.yaml"), watch: false },
    identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256 }] },
    egress: { routes: { model: { url: model.url, credential: { type: "bearer", secret: { file: path.join(dir, "provider.key") } }, methods: ["POST"], paths: ["/chat/completions", "/chat/completions/timed"] } } },
  };
  await writeFile(path.join(dir, "config.json"), JSON.stringify(config));
  const gateway = await startGatewayProcess(path.join(dir, "config.json"));
  const direct = { pool: new Pool(new URL(model.url).origin, { connections: 1 }), prefix: "/v1", headers: { authorization: `Bearer ${providerKey}`, "content-type": "application/json" } };
  const viaEgress = { pool: new Pool(gateway.url, { connections: 1 }), prefix: "/egress/model", headers: { authorization: `Bearer ${runtime.key}`, "content-type": "application/json" } };
  type Target = typeof direct;

  const chat = async (target: Target) => {
    const started = performance.now();
    const res = await target.pool.request({ method: "POST", path: `${target.prefix}/chat/completions`, headers: target.headers, body: CHAT });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    return performance.now() - started;
  };
  const stream = async (target: Target) => {
    const delays: number[] = [];
    const res = await target.pool.request({ method: "POST", path: `${target.prefix}/chat/completions/timed`, headers: target.headers, body: CHAT });
    const parser = createParser({
      onEvent: (event) => {
        if (event.data === "[DONE]") return;
        delays.push(performance.timeOrigin + performance.now() - (JSON.parse(event.data) as { sent_at: number }).sent_at);
      },
    });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
    // Through the gateway, text held back at the end of the stream (a partial that could still have
    // become a match) is released in one more delta just before the end (src/mask/providerStreams.ts).
    if (delays.length < TOKENS || delays.length > TOKENS + 1) throw new Error(`${delays.length} events for ${TOKENS} tokens`);
    return delays;
  };

  try {
    // Warm both paths (connections, JIT, the masker) before measuring, interleaved so drift hits both.
    for (let i = 0; i < 200; i++) {
      await chat(direct);
      await chat(viaEgress);
    }
    // Back to back, the ledger's commit of one call's completion record (synchronous SQLite, fsync)
    // lands on the next call; spaced 5 ms apart, each call is measured on its own.
    for (const spacingMs of [0, 5]) {
      const directCalls: number[] = [];
      const egressCalls: number[] = [];
      for (let i = 0; i < CALLS; i++) {
        directCalls.push(await chat(direct));
        if (spacingMs) await sleep(spacingMs);
        egressCalls.push(await chat(viaEgress));
        if (spacingMs) await sleep(spacingMs);
      }
      const d = summary(directCalls);
      const e = summary(egressCalls);
      console.log(`egress: JSON chat completion, ${CALLS} calls each way, ${spacingMs ? `${spacingMs} ms apart` : "back to back"} (baseline: the provider called directly; ledger in ${ledgerWhere})`);
      console.log(`  direct   p50 ${fmt(d.p50)}  p90 ${fmt(d.p90)}  p99 ${fmt(d.p99)}`);
      console.log(`  egress   p50 ${fmt(e.p50)}  p90 ${fmt(e.p90)}  p99 ${fmt(e.p99)}`);
      console.log(`  added    p50 ${fmt(e.p50 - d.p50)}  p99 ${fmt(e.p99 - d.p99)}  ratio p50 ${(e.p50 / d.p50).toFixed(2)}x  (target: under 1 ms added at p50)`);
    }

    const directTokens: number[] = [];
    const egressTokens: number[] = [];
    for (let i = 0; i < STREAMS; i++) {
      directTokens.push(...(await stream(direct)));
      egressTokens.push(...(await stream(viaEgress)));
    }
    const dt = summary(directTokens);
    const et = summary(egressTokens);
    console.log(`egress: token stream, ${STREAMS} streams × ${TOKENS} tokens every ${TOKEN_INTERVAL_MS} ms; delay from the provider writing a token to the client reading it`);
    console.log(`  direct   p50 ${fmt(dt.p50)}  p90 ${fmt(dt.p90)}  p99 ${fmt(dt.p99)}`);
    console.log(`  egress   p50 ${fmt(et.p50)}  p90 ${fmt(et.p90)}  p99 ${fmt(et.p99)}`);
    console.log(`  added    p50 ${fmt(et.p50 - dt.p50)}  p99 ${fmt(et.p99 - dt.p99)}  (each token is relayed as it arrives: no batching)`);
  } finally {
    await direct.pool.close();
    await viaEgress.pool.close();
    gateway.child.kill("SIGTERM");
    await once(gateway.child, "exit");
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
