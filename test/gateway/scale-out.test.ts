// Several gateways, one PostgreSQL, one balancer: three gateway replicas, each its own process
// (`portcullis start`), on one real PostgreSQL (ledger and state) behind Debian's HAProxy, round
// robin with no stickiness, in front of the real LangGraph server. The SDK and a person signing in
// with Chromium (OIDC) work through the balancer; a key revoked once is refused by every replica;
// an approval decided through one replica releases a request held on another; a stream left on
// one replica is rejoined through another; a replica shut down leaves the runs it follows to a
// survivor; and a replica SIGKILLed while it relays streams costs
// its clients nothing but a reconnect (Last-Event-ID, through the balancer, to another replica):
// every event arrives once, the runs it was relaying are followed by a survivor and their run
// records written, `portcullis verify` passes, and every request sent has its record.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Client } from "@langchain/langgraph-sdk";
import type { PortcullisConfigInput } from "../../src/config/schema.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import type { AuditRecord, CompletionRecord, RequestRecord, RunRecord } from "../../src/record/auditRecord.js";
import type { Browser } from "playwright-core";
import { startDevIdp, type DevIdp } from "../../demo/devIdp.js";
import { launchChromium } from "../support/browser.js";
import { CLI_ARGS } from "../support/cli.js";
import { startGatewayProcess, type GatewayProcess } from "../support/gatewayProcess.js";
import { startHaproxy, type TestBalancer } from "../support/haproxy.js";
import { freePort } from "../support/ports.js";
import { startPostgres, type TestPostgres } from "../support/postgres.js";
import { eventually, ledgerRecordsOf, sdkDirect, startLangGraph, type Upstream } from "../support/stack.js";
import { parseConfig } from "../../src/config/load.js";

const run = promisify(execFile);

const STREAMS = 20;
const TICKS = 20;
const TICK_MS = 100;
const LEASE_MS = 3_000;

const POLICY = `version: 1
rules:
  - id: callers
    effect: allow
    subjects: "*"
    actions: ["*"]
    scope: any
  - id: alice-runs-need-approval
    effect: require-approval
    subjects: { service_accounts: [alice] }
    actions: [runs:create]
    resources: { graphs: [echo] }
    approval: { approver_groups: [approvers] }
`;

const tester = generateApiKey();
const streamer = generateApiKey();
const alice = generateApiKey();
const approver = generateApiKey();

describe("three gateways on one PostgreSQL behind HAProxy", () => {
  let upstream: Upstream;
  let oidcIdp: DevIdp;
  let browser: Browser;
  let balancerPort: number;
  let publicUrl: string;
  let postgres: TestPostgres;
  let dir: string;
  let balancer: TestBalancer;
  let config: PortcullisConfigInput;
  let configFile: string;
  let env: Record<string, string>;
  const replicas: GatewayProcess[] = [];

  before(async () => {
    balancerPort = await freePort();
    publicUrl = `http://127.0.0.1:${balancerPort}`;
    [upstream, postgres, dir, oidcIdp, browser] = await Promise.all([
      startLangGraph(),
      startPostgres(),
      mkdtemp(path.join(tmpdir(), "portcullis-scale-out-")),
      startDevIdp({ redirectUris: [`${publicUrl}/auth/callback/corp-oidc`], postLogoutRedirectUris: [`${publicUrl}/auth/logout/done`] }),
      launchChromium(),
    ]);
    env = { PC_TEST_DATABASE_URL: postgres.url, PC_TEST_UPSTREAM_KEY: upstream.key, PC_TEST_LOGIN_SECRET: oidcIdp.login.clientSecret };
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    const schema = `scale_${randomBytes(4).toString("hex")}`;
    // One config for every replica, as one mounted ConfigMap and secret would give them.
    config = {
      upstream: { url: upstream.url, credential: { header: "x-api-key", secret: { env: "PC_TEST_UPSTREAM_KEY" } } },
      audit: {
        store: { kind: "postgres", url: { env: "PC_TEST_DATABASE_URL" }, schema },
        signing_key_file: path.join(dir, "ledger-key.pem"),
        instance_lease_ms: LEASE_MS,
        run_follow: { poll_ms: 100, max_poll_ms: 500 },
      },
      masking: { vault: { key_file: path.join(dir, "vault-key") } },
      log: { level: "warn" },
      policy: { file: path.join(dir, "policy.yaml"), watch: false },
      identity: {
        service_accounts: [
          { id: "tester", key_sha256: tester.sha256, groups: ["engineering"] },
          { id: "streamer", key_sha256: streamer.sha256, groups: ["engineering"] },
          { id: "alice", key_sha256: alice.sha256, groups: ["analysts"] },
          { id: "approver", key_sha256: approver.sha256, groups: ["approvers"] },
        ],
        // One public URL for every replica: the balancer's.
        login: {
          public_url: publicUrl,
          oidc: [{ id: "corp-oidc", display_name: "Corp OIDC", issuer: oidcIdp.issuer, client_id: oidcIdp.login.clientId, client_secret: { env: "PC_TEST_LOGIN_SECRET" } }],
        },
      },
    };
    configFile = path.join(dir, "portcullis.json");
    await writeFile(configFile, JSON.stringify(config));
    // The first replica creates the shared key files; the others start together.
    replicas.push(await startGatewayProcess("a", dir, config, env));
    replicas.push(...(await Promise.all([startGatewayProcess("b", dir, config, env), startGatewayProcess("c", dir, config, env)])));
    balancer = await startHaproxy(dir, "scale-out", replicas.map((replica) => ({ name: replica.name, port: replica.port })), balancerPort);
  });

  after(async () => {
    await browser?.close();
    await balancer?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await Promise.all([upstream?.stop(), oidcIdp?.close()]);
    await postgres?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => run(process.execPath, [...CLI_ARGS, ...args], { env: { ...process.env, ...env } });
  const records = async (): Promise<AuditRecord[]> => {
    Object.assign(process.env, env);
    return ledgerRecordsOf(parseConfig(config).audit);
  };
  const sdk = (url: string, key: string, onRequest?: (url: URL, init: RequestInit) => void) =>
    new Client({
      apiUrl: url,
      apiKey: key,
      callerOptions: { maxRetries: 0 },
      ...(onRequest ? { onRequest: (requestUrl: URL, init: RequestInit) => (onRequest(requestUrl, init), init) } : {}),
    });

  test("the SDK scenario passes through the balancer: assistants, threads, a run waited for, a run streamed", async () => {
    const client = sdk(balancer.url, tester.key);
    const assistants = await client.assistants.search({ graphId: "echo" });
    assert.ok(assistants.length > 0);
    const thread = await client.threads.create();
    const answer = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "user", content: "hello through the balancer" }] } })) as { messages?: { content: string }[] };
    assert.ok(answer.messages?.some((message) => message.content.includes("hello through the balancer")), JSON.stringify(answer));
    const ticks: number[] = [];
    for await (const part of client.runs.stream(thread.thread_id, "slow", { input: { count: 5, delayMs: 10 }, streamMode: ["custom"] })) {
      if (part.event === "custom") ticks.push((part.data as { tick: number }).tick);
    }
    assert.deepEqual(ticks, [0, 1, 2, 3, 4]);
    const state = await client.threads.getState(thread.thread_id);
    assert.equal((state.values as { emitted?: number }).emitted, 5);
  });

  test("a person signs in with Chromium through the balancer, each step answered by whichever replica, and uses the session", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // One provider: the console sends the browser straight to it.
      await page.goto(`${publicUrl}/console/`);
      await page.waitForURL((url) => url.origin === oidcIdp.issuer);
      await page.fill('input[name="login"]', "approver");
      await page.fill('input[name="password"]', "any password");
      await page.click('button[type="submit"]');
      await page.waitForURL(`${publicUrl}/console/`);
      assert.equal(await page.getByTestId("subject").textContent(), "oidc:corp-oidc:approver");
      // Three requests in a row, round robin: each replica in turn accepts the session and its CSRF token.
      const created = await page.evaluate(async () => {
        const answers: { status: number; requestId: string }[] = [];
        for (let i = 0; i < 3; i++) {
          const me = (await (await fetch("/auth/me")).json()) as { csrf_token: string; csrf_header: string };
          const response = await fetch("/threads", { method: "POST", headers: { "content-type": "application/json", [me.csrf_header]: me.csrf_token }, body: "{}" });
          answers.push({ status: response.status, requestId: response.headers.get("x-request-id")! });
        }
        return answers;
      });
      assert.deepEqual(created.map((answer) => answer.status), [200, 200, 200]);
      const recorded = (await records()).filter((record): record is RequestRecord => record.type === "request" && created.some((answer) => answer.requestId === record.request_id));
      assert.equal(recorded.length, 3);
      for (const record of recorded) {
        assert.equal(record.identity?.subject, "oidc:corp-oidc:approver");
        assert.equal(record.identity?.auth_method, "browser-session");
      }
    } finally {
      await context.close();
    }
  });

  test("a key revoked through one replica is refused by every replica at its next request", async () => {
    const created = await cli("service-accounts", "create", "--id", "ci-bot", "--groups", "engineering", "--config", configFile);
    const key = /(pcsk_\S+)/.exec(created.stdout)![1]!;
    for (const replica of replicas) assert.equal((await fetch(`${replica.url}/info`, { headers: { "x-api-key": key } })).status, 200, replica.name);
    await cli("service-accounts", "revoke", "--id", "ci-bot", "--config", configFile);
    for (const replica of replicas) {
      const refused = await fetch(`${replica.url}/info`, { headers: { "x-api-key": key } });
      assert.equal(refused.status, 401, replica.name);
      assert.equal(((await refused.json()) as { error: string }).error, "PC_CREDENTIAL_REVOKED");
    }
  });

  test("an approval decided through one replica releases the request held on another", async () => {
    const [held, decider] = [replicas[0]!, replicas[2]!];
    const thread = await sdk(held.url, alice.key).threads.create();
    // Held: the request waits on replica a until someone decides (no Prefer: respond-async).
    const waiting = fetch(`${held.url}/threads/${thread.thread_id}/runs/wait`, {
      method: "POST",
      headers: { "x-api-key": alice.key, "content-type": "application/json" },
      body: JSON.stringify({ assistant_id: "echo", input: { messages: [{ role: "user", content: "please approve" }] } }),
    });
    const pending = await eventually(async () => {
      const answer = await fetch(`${decider.url}/portcullis/approvals?state=pending`, { headers: { "x-api-key": approver.key } });
      assert.equal(answer.status, 200);
      const listed = (await answer.json()) as { approvals: { approval_id: string }[] };
      assert.equal(listed.approvals.length, 1, JSON.stringify(listed));
      return listed.approvals[0]!;
    }, 15_000);
    const decided = await fetch(`${decider.url}/portcullis/approvals/${pending.approval_id}/approve`, {
      method: "POST",
      headers: { "x-api-key": approver.key, "content-type": "application/json" },
      body: JSON.stringify({}),
    });
    assert.equal(decided.status, 200, await decided.clone().text());
    const released = await waiting;
    assert.equal(released.status, 200, await released.clone().text());
    const values = (await released.json()) as { messages?: { content: string }[] };
    assert.ok(values.messages?.some((message) => message.content.includes("please approve")));
  });

  test("a client that leaves its stream on one replica and rejoins through another with Last-Event-ID gets the rest of its run, nothing repeated or lost, its own values restored from the shared vault", async () => {
    const [first, second, third] = [replicas[0]!, replicas[1]!, replicas[2]!];
    const email = "jane.doe@example.com";
    const thread = await sdk(first.url, tester.key).threads.create();
    type Part = { id?: string; event: string; data: unknown };
    const seen: Part[] = [];
    const leave = new AbortController();
    let runId: string | undefined;
    try {
      const parts = sdk(first.url, tester.key).runs.stream(thread.thread_id, "echo", {
        input: { messages: [{ role: "user", content: `Please write to ${email} about the quarterly report when you can.` }] },
        streamMode: ["messages-tuple", "custom", "values"],
        streamResumable: true,
        onDisconnect: "continue",
        signal: leave.signal,
        onRunCreated: (created) => {
          runId = created.run_id;
        },
      });
      for await (const part of parts) {
        seen.push(part);
        // Leave once a few events with ids have arrived, before the end of the run's stream.
        if (seen.filter((p) => p.id).length === 3) leave.abort();
      }
    } catch (error) {
      assert.equal((error as Error).name, "AbortError", String(error));
    }
    const lastEventId = seen.filter((part) => part.id).at(-1)!.id!;
    const collect = async (parts: AsyncIterable<Part>) => {
      const out: Part[] = [];
      for await (const part of parts) out.push(part);
      return out;
    };
    const rest = await collect(sdk(second.url, tester.key).runs.joinStream(thread.thread_id, runId!, { lastEventId }));
    const whole = await collect(sdk(third.url, tester.key).runs.joinStream(thread.thread_id, runId!, { lastEventId: "-1" }));
    const ids = (parts: Part[]) => parts.flatMap((part) => (part.id ? [part.id] : []));
    assert.ok(rest.length > 0, "the rejoined stream carried the rest of the run");
    assert.deepEqual([...ids(seen), ...ids(rest)], ids(whole), "every event once: what was seen, then the rest");
    // Whole documents read the same through whichever replica relayed them; a token stream's
    // text may be cut into chunks differently (the masker holds an unsettled end for a moment).
    const byId = new Map(whole.filter((part) => part.id).map((part) => [part.id, JSON.stringify(part.data)]));
    for (const part of [...seen, ...rest]) if (part.id && part.event !== "messages") assert.equal(JSON.stringify(part.data), byId.get(part.id), `event ${part.id}`);
    const said = `Please write to ${email} about the quarterly report when you can.`;
    const text = (parts: Part[]) =>
      parts
        .filter((part) => part.event === "messages")
        .map((part) => (part.data as [{ type?: string; content?: unknown }])[0])
        .filter((chunk) => chunk.type === "ai" || chunk.type === "AIMessageChunk")
        .map((chunk) => (typeof chunk.content === "string" ? chunk.content : ""))
        .join("");
    assert.equal(text([...seen, ...rest]), said, "the streamed reply, across both connections");
    assert.equal(text(whole), said);
    // LangGraph only ever saw a token for the address (tokenised by the first replica); the
    // replicas that never saw the request restore it for the thread's owner from the shared vault.
    const upstreamState = JSON.stringify((await sdkDirect(upstream).threads.getState(thread.thread_id)).values);
    assert.ok(!upstreamState.includes(email), upstreamState);
    const echoed = whole.find((part) => part.event === "custom")?.data as { echo: string } | undefined;
    assert.equal(echoed?.echo, said);
  });

  test("a replica shut down while it follows a background run leaves the run to a survivor, which records it when it ends", async (t) => {
    const leaving = await startGatewayProcess("leaving", dir, config, env);
    t.after(() => leaving.kill());
    const client = sdk(leaving.url, tester.key);
    const thread = await client.threads.create();
    const started = await client.runs.create(thread.thread_id, "slow", { input: { count: 20, delayMs: 100 } });
    await leaving.stop();
    const recorded = await eventually(async () => {
      const found = (await records()).filter((record): record is RunRecord => record.type === "run" && record.run_id === started.run_id);
      assert.equal(found.length, 1);
      return found[0]!;
    }, LEASE_MS * 10);
    assert.equal(recorded.status, "success");
    assert.equal(recorded.error, undefined, "recorded when it ended, not as it stood at the shutdown");
    assert.ok(recorded.steps.some((step) => step.nodes.includes("tick")), JSON.stringify(recorded.steps));
  });

  test(`a replica SIGKILLed while it relays ${STREAMS} streams: clients reconnect through the balancer and finish, a survivor writes its runs' records, verify passes`, async (t) => {
    // A replica of its own, so that the others stay up for every other test.
    const victim = await startGatewayProcess("victim", dir, config, env);
    t.after(() => victim.kill());
    let sent = 0;
    let resumed = 0;
    const count = (requestUrl: URL, init: RequestInit) => {
      sent += 1;
      const headers = new Headers(init.headers);
      if (init.method === "GET" && requestUrl.pathname.endsWith("/stream") && headers.get("last-event-id")) resumed += 1;
    };
    const viaBalancer = sdk(balancer.url, streamer.key, count);
    // The streams the victim relays, as if the balancer had sent them all there. Its clients, once
    // the connection drops, reconnect through the balancer (in a deployment the SDK's own
    // reconnect goes there, since the balancer is the URL it knows).
    const viaVictim = sdk(victim.url, streamer.key, (requestUrl, init) => {
      if (new Headers(init.headers).get("last-event-id")) throw new Error("the replica is gone: rejoin through the balancer");
      count(requestUrl, init);
    });
    const threads = await Promise.all(Array.from({ length: STREAMS }, () => viaBalancer.threads.create()));
    // LangGraph runs a few runs at a time (the demo server: 4 workers); the rest wait, pending, on
    // their open streams. The victim dies once every stream is open and the first runs are midway.
    let opened = 0;
    let midRun = false;
    let allStreaming: () => void = () => undefined;
    const allStarted = new Promise<void>((resolve) => {
      allStreaming = resolve;
    });
    const streams = threads.map(async (thread) => {
      const ticks: number[] = [];
      let runId: string | undefined;
      let lastEventId: string | undefined;
      const take = (part: { event: string; data: unknown; id?: string }) => {
        if (part.id) lastEventId = part.id;
        if (part.event !== "custom") return;
        ticks.push((part.data as { tick: number }).tick);
        if (ticks.length === 3) midRun = true;
        if (opened === STREAMS && midRun) allStreaming();
      };
      let rejoined = false;
      try {
        const parts = viaVictim.runs.stream(thread.thread_id, "slow", {
          input: { count: TICKS, delayMs: TICK_MS },
          streamMode: ["custom"],
          streamResumable: true,
          onRunCreated: (created) => {
            runId = created.run_id;
            opened += 1;
          },
        });
        for await (const part of parts) take(part);
      } catch {
        // The connection to the victim is gone: join the run through the balancer from the last
        // event id seen ("-1", from the start, for a run still pending when it went).
        assert.ok(runId, "the stream was lost before its run was created");
        rejoined = true;
        for await (const part of viaBalancer.runs.joinStream(thread.thread_id, runId, { lastEventId: lastEventId ?? "-1", streamMode: ["custom"] })) take(part);
      }
      return { threadId: thread.thread_id, runId: runId!, ticks, rejoined };
    });
    await allStarted;
    await victim.kill();
    const finished = await Promise.all(streams);

    for (const stream of finished) assert.deepEqual(stream.ticks, Array.from({ length: TICKS }, (_, i) => i), `run ${stream.runId}: every event once, in order`);
    assert.deepEqual(finished.map((stream) => stream.rejoined), Array(STREAMS).fill(true), "every stream outlived the victim and was rejoined");
    assert.equal(resumed, STREAMS);

    // The killed replica's lease expires; a survivor closes its open requests and follows its runs.
    const all = await eventually(async () => {
      const found = await records();
      const requests = found.filter((record): record is RequestRecord => record.type === "request" && record.identity?.subject === "sa:streamer");
      const completed = new Set(found.filter((record): record is CompletionRecord => record.type === "completion").map((record) => record.request_id));
      assert.equal(requests.length, sent, "one request record per request sent");
      assert.deepEqual(requests.filter((record) => !completed.has(record.request_id)).map((record) => record.path), [], "every request is closed");
      const runs = found.filter((record): record is RunRecord => record.type === "run");
      for (const stream of finished) assert.equal(runs.filter((record) => record.run_id === stream.runId).length, 1, `one run record for ${stream.runId}`);
      return found;
    }, LEASE_MS * 10);
    const runs = all.filter((record): record is RunRecord => record.type === "run" && finished.some((stream) => stream.runId === record.run_id));
    assert.ok(runs.every((record) => record.status === "success"), JSON.stringify(runs.map((record) => record.status)));
    const interrupted = all.filter((record): record is CompletionRecord => record.type === "completion" && record.error === "PC_GATEWAY_RESTARTED");
    // Each stream the victim relayed is closed as interrupted, and its run was followed to its end
    // by a survivor all the same: its run record belongs to the interrupted request.
    const requestOf = new Map(all.filter((record): record is RequestRecord => record.type === "request").map((record) => [record.request_id, record]));
    const takenOver = runs.filter((record) => interrupted.some((completion) => completion.request_id === record.request_id));
    assert.equal(takenOver.length, STREAMS);
    assert.ok(takenOver.every((record) => requestOf.get(record.request_id)?.path.endsWith("/runs/stream")));

    t.diagnostic(`${resumed} reconnects with Last-Event-ID, ${interrupted.length} exchanges closed as interrupted, ${takenOver.length} runs recorded by a survivor, ${sent} requests sent`);
    const verified = await cli("verify", "--config", configFile);
    assert.match(verified.stdout, /valid/i);
  });
});
