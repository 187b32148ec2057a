// Reversible tokens on the real data path: with masking.requests: tokenize, the real LangGraph
// server (read directly, not through the gateway) holds only typed tokens, while the thread's
// owner gets its own values back through the gateway with the official SDK, token by token in a
// stream too. Another caller sees tokens. The vault keeps the originals encrypted, and erasing a
// subject deletes them, with a ledger record, after which nothing is restored.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { defaultMasker, SseStreamMasker } from "../../src/mask/index.js";
import { TOKEN_PATTERN, TokenKeys } from "../../src/mask/tokens.js";
import { PostgresVaultStore, restoringMasker, Vault } from "../../src/mask/vault.js";
import type { CompletionRecord, LedgerEventRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { CLI_ARGS } from "../support/cli.js";
import { startPostgres } from "../support/postgres.js";
import { eventually, sdkDirect, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const EMAIL = `jane.${randomBytes(3).toString("hex")}@example.com`;
const PHONE = "+44 20 7946 0958";
const INPUT = `Please write to ${EMAIL} or call ${PHONE} today.`;

function tokensIn(text: string): string[] {
  return [...text.matchAll(TOKEN_PATTERN)].map((match) => match[0]);
}

describe("typed tokens", () => {
  const keys = new TokenKeys(randomBytes(32));

  it("gives the same value the same token within a thread, however it is written", () => {
    const first = keys.token("", "thread:a", "EMAIL_ADDRESS", "Jane@Example.com");
    assert.match(first, /^<EMAIL_ADDRESS_[0-9a-f]{8}>$/);
    assert.equal(keys.token("", "thread:a", "EMAIL_ADDRESS", "jane@example.com"), first);
  });

  it("gives two tenants, or two threads, different tokens for the same value", () => {
    const token = keys.token("acme", "thread:a", "EMAIL_ADDRESS", "jane@example.com");
    assert.notEqual(keys.token("globex", "thread:a", "EMAIL_ADDRESS", "jane@example.com"), token);
    assert.notEqual(keys.token("acme", "thread:b", "EMAIL_ADDRESS", "jane@example.com"), token);
  });

  it("never matches a detector itself, so masking leaves tokens as they are", () => {
    const masker = defaultMasker();
    for (let i = 0; i < 500; i += 1) {
      const text = `phone ${keys.token("", `thread:${i}`, i % 2 ? "PHONE_NUMBER" : "US_SSN", String(i))} and ssn=${keys.token("", `t${i}`, "US_SSN", "x")}`;
      assert.equal(masker.maskText(text).text, text);
    }
  });
});

describe("restoring a stream", () => {
  it("restores a token split across token events at every offset, and holds nothing else back", () => {
    const keys = new TokenKeys(randomBytes(32));
    const token = keys.token("", "thread:a", "EMAIL_ADDRESS", EMAIL);
    const text = `Write to ${token} <now> or <EMAIL_ADDRESS_zz> and ${token}.`;
    for (let split = 0; split <= text.length; split += 1) {
      const restorer = restoringMasker([{ token, entity: "EMAIL_ADDRESS", value: EMAIL }], defaultMasker().limits)!;
      const stream = new SseStreamMasker(restorer);
      const chunk = (content: string) => ({ event: "messages", data: JSON.stringify([{ id: "run-1", type: "AIMessageChunk", content }, { langgraph_node: "echo" }]) });
      const contents = (events: { data: string }[]) => events.map((event) => (JSON.parse(event.data) as [{ content: string }])[0].content).join("");
      const first = text.slice(0, split);
      const sentFirst = contents(stream.event(chunk(first)));
      // A piece that ends inside a token waits, whole, for the rest of it; any other goes out at once.
      assert.ok(sentFirst === "" || sentFirst === first.replaceAll(token, EMAIL), `a piece was cut at ${split}: ${sentFirst}`);
      if (!first.includes("<")) assert.equal(sentFirst, first, `held back with no token begun at ${split}`);
      const received = sentFirst + contents([...stream.event(chunk(text.slice(split))), ...stream.end()]);
      assert.equal(received, text.replaceAll(token, EMAIL), `split at ${split}`);
      assert.deepEqual(stream.tally.redactions, { EMAIL_ADDRESS: 2 });
    }
  });
});

describe("tokenised requests through the gateway", () => {
  let upstream: Upstream;
  let dir: string;
  let gateway: TestGateway;
  let owner: Client;
  let auditor: Client;
  /** Writes values of its own, so that those of the owner (sa:tester) stay the two it sent. */
  let writer: Client;
  let configFile: string;
  let threadId: string;

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-vault-"));
    const policy = path.join(dir, "policy.yaml");
    await writeFile(policy, `version: 1\nrules:\n  - id: allow-all\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\nmasking:\n  requests: tokenize\n`);
    const auditorKey = generateApiKey();
    const writerKey = generateApiKey();
    gateway = await startTestGateway(upstream, {
      policy: { file: policy, watch: false },
      identity: {
        service_accounts: [
          { id: "auditor", key_sha256: auditorKey.sha256, groups: ["auditors"] },
          { id: "writer", key_sha256: writerKey.sha256, groups: [] },
        ],
      },
    });
    owner = sdkThroughGateway(gateway);
    auditor = new Client({ apiUrl: gateway.url, apiKey: auditorKey.key, callerOptions: { maxRetries: 0 } });
    writer = new Client({ apiUrl: gateway.url, apiKey: writerKey.key, callerOptions: { maxRetries: 0 } });
    configFile = path.join(dir, "portcullis.yaml");
    await writeFile(
      configFile,
      JSON.stringify({
        upstream: { url: upstream.url },
        storage: { sqlite_file: gateway.config.storage.sqlite_file },
        audit: { store: gateway.config.audit.store, signing_key_file: gateway.config.audit.signing_key_file },
      }),
    );
    threadId = (await owner.threads.create()).thread_id;
  });
  after(async () => {
    await gateway.close();
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("returns the owner's email clear through the gateway while LangGraph's own state holds only tokens", async () => {
    const result = (await owner.runs.wait(threadId, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
    assert.equal(result.echoed, INPUT);

    const direct = sdkDirect(upstream);
    const state = JSON.stringify(await direct.threads.getState(threadId));
    const history = JSON.stringify(await direct.threads.getHistory(threadId));
    const runs = JSON.stringify(await direct.runs.list(threadId));
    const thread = JSON.stringify(await direct.threads.get(threadId));
    for (const stored of [state, history, runs, thread]) {
      assert.ok(!stored.includes(EMAIL), "LangGraph holds the clear email");
      assert.ok(!stored.includes("7946 0958"), "LangGraph holds the clear phone number");
    }
    const tokens = new Set(tokensIn(state));
    assert.equal(tokens.size, 2, `one token per value: ${[...tokens].join(", ")}`);
    assert.ok([...tokens].some((token) => token.startsWith("<EMAIL_ADDRESS_")));
    assert.ok(tokensIn(runs).length > 0, "the run's recorded input holds tokens");

    const records = await eventually(async () => {
      const all = await gateway.audit();
      const request = all.find((record): record is RequestRecord => record.type === "request" && record.method === "POST" && record.path.endsWith("/runs/wait"));
      const completion = request && all.find((record): record is CompletionRecord => record.type === "completion" && record.request_id === request.request_id);
      assert.ok(request && completion, "not yet: request && completion");
      return { request, completion };
    });
    assert.equal(records.request.masking?.request, "tokenized");
    assert.ok((records.completion.masking?.restored?.EMAIL_ADDRESS ?? 0) >= 1, JSON.stringify(records.completion.masking));
    assert.ok(!JSON.stringify(await gateway.audit()).includes(EMAIL), "the ledger holds the clear email");
  });

  it("restores a token streamed one character per event to the owner", async () => {
    let text = "";
    for await (const chunk of owner.runs.stream(threadId, "echo", { input: { messages: [{ role: "human", content: INPUT }] }, streamMode: ["messages-tuple"] })) {
      if (chunk.event !== "messages") continue;
      const [message] = chunk.data as unknown as [{ content?: unknown }];
      if (typeof message.content === "string") text += message.content;
    }
    assert.ok(text.includes(INPUT), `the owner reads its own values: ${text}`);
    assert.deepEqual(tokensIn(text), []);
    const ledger = JSON.stringify(await gateway.audit());
    assert.ok(!ledger.includes(EMAIL), "the recording holds the clear email");
  });

  it("gives the same value the same token every time in a thread", async () => {
    const state = (await sdkDirect(upstream).threads.getState(threadId)) as { values: { messages: { type: string; content: string }[] } };
    const human = state.values.messages.filter((message) => message.type === "human");
    assert.ok(human.length >= 2);
    assert.deepEqual(tokensIn(human[0]!.content), tokensIn(human[1]!.content));
  });

  it("shows another caller (an auditor with scope any) tokens, not the owner's values", async () => {
    const state = JSON.stringify(await auditor.threads.getState(threadId));
    assert.ok(!state.includes(EMAIL));
    assert.ok(tokensIn(state).some((token) => token.startsWith("<EMAIL_ADDRESS_")));
    const mine = JSON.stringify(await owner.threads.getState(threadId));
    assert.ok(mine.includes(EMAIL), "the owner reads the thread's state with its values");
    assert.deepEqual(tokensIn(mine), []);
  });

  it("restores in a search across threads and store namespaces the values the caller sent, and to nobody else", async () => {
    // Each thread and namespace has its own tokens; a search answer holds tokens of many. The
    // owner sent the values in its thread; the writer sends one to a store namespace.
    await writer.store.putItem(["contacts", "jane"], "email", { email: EMAIL });
    const searches = [
      { name: "threads", sender: owner, search: async (client: Client) => JSON.stringify(await client.threads.search({ limit: 100 })) },
      { name: "store", sender: writer, search: async (client: Client) => JSON.stringify(await client.store.searchItems(["contacts"])) },
    ];
    for (const { name, sender, search } of searches) {
      const stored = await search(sdkDirect(upstream));
      assert.ok(tokensIn(stored).some((token) => token.startsWith("<EMAIL_ADDRESS_")) && !stored.includes(EMAIL), `LangGraph holds tokens (${name})`);
      const mine = await search(sender);
      assert.ok(mine.includes(EMAIL), `the sender reads its values back in a ${name} search`);
      assert.deepEqual(tokensIn(mine).filter((token) => token.startsWith("<EMAIL_ADDRESS_")), [], name);
      const theirs = await search(auditor);
      assert.ok(!theirs.includes(EMAIL), `another caller reads tokens in a ${name} search`);
      assert.ok(tokensIn(theirs).some((token) => token.startsWith("<EMAIL_ADDRESS_")), name);
    }
  });

  it("keeps the originals encrypted at rest", async () => {
    const stateFile = gateway.config.storage.sqlite_file;
    const files = [stateFile, `${stateFile}-wal`];
    let bytes = "";
    for (const file of files) bytes += await readFile(file, "latin1").catch(() => "");
    const token = tokensIn(JSON.stringify(await sdkDirect(upstream).threads.getState(threadId)))[0]!;
    assert.ok(bytes.includes(token), "the vault's rows are in the state database");
    assert.ok(!bytes.includes(EMAIL), "the state database holds the clear email");
    assert.ok(!bytes.includes(PHONE), "the state database holds the clear phone number");
    const keyFile = path.join(path.dirname(stateFile), "vault-key");
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600, "the vault's master key is readable by the gateway's user only");
  });

  it("erases a subject's originals with a ledger record, after which its tokens stay tokens", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [...CLI_ARGS, "vault", "erase", "--subject", "sa:tester", "--config", configFile]);
    assert.match(stdout, /Erased 2 values of sa:tester/);
    const erased = (await gateway.audit()).find((record): record is LedgerEventRecord => record.type === "ledger" && record.event === "vault.erased");
    assert.deepEqual(erased?.details, { subject: "sa:tester", erased: 2 });
    const state = JSON.stringify(await owner.threads.getState(threadId));
    assert.ok(!state.includes(EMAIL));
    assert.ok(tokensIn(state).some((token) => token.startsWith("<EMAIL_ADDRESS_")));
  });
});

describe("restore_for and stateless runs", () => {
  let upstream: Upstream;
  let dir: string;

  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-vault-"));
  });
  after(async () => {
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function gatewayWith(masking: string): Promise<TestGateway> {
    const policy = path.join(dir, `policy-${randomBytes(4).toString("hex")}.yaml`);
    await writeFile(policy, `version: 1\nrules:\n  - id: allow-all\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\nmasking:\n  requests: tokenize\n${masking}`);
    return startTestGateway(upstream, { policy: { file: policy, watch: false } });
  }

  it("gives a stateless run its own scope: the caller gets its values back, LangGraph saw tokens", async () => {
    const gateway = await gatewayWith("");
    try {
      const result = (await sdkThroughGateway(gateway).runs.wait(null, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.equal(result.echoed, INPUT);
      const runs = await eventually(async () => {
        const listed = JSON.stringify(await gateway.audit());
        assert.ok(listed.includes('"restored"'), "not yet: listed.includes('\"restored\"')");
        return listed;
      });
      assert.ok(!runs.includes(EMAIL));
    } finally {
      await gateway.close();
    }
  });

  it("tokenizes under the built-in policy as it stands: LangGraph holds tokens, the owner reads its values, an auditor tokens", async () => {
    const policy = path.join(dir, `policy-${randomBytes(4).toString("hex")}.yaml`);
    await writeFile(policy, await readFile(new URL("../../policies/default.yaml", import.meta.url), "utf8"));
    const auditorKey = generateApiKey();
    const gateway = await startTestGateway(upstream, { policy: { file: policy, watch: false }, identity: { service_accounts: [{ id: "auditor", key_sha256: auditorKey.sha256, groups: ["auditors"] }] } });
    try {
      const client = sdkThroughGateway(gateway);
      const thread = await client.threads.create();
      const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.equal(result.echoed, INPUT);
      assert.ok(JSON.stringify(await client.threads.getHistory(thread.thread_id)).includes(EMAIL));
      const audited = JSON.stringify(await new Client({ apiUrl: gateway.url, apiKey: auditorKey.key, callerOptions: { maxRetries: 0 } }).threads.getState(thread.thread_id));
      assert.ok(!audited.includes(EMAIL));
      assert.ok(tokensIn(audited).length > 0);
      assert.ok(!JSON.stringify(await sdkDirect(upstream).threads.getState(thread.thread_id)).includes(EMAIL));
    } finally {
      await gateway.close();
    }
  });

  it("restores nothing with restore_for: nobody, not even to the owner", async () => {
    const gateway = await gatewayWith("  restore_for: nobody\n");
    try {
      const client = sdkThroughGateway(gateway);
      const thread = await client.threads.create();
      const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.ok(!result.echoed.includes(EMAIL));
      assert.equal(tokensIn(result.echoed).length, 2);
    } finally {
      await gateway.close();
    }
  });

  it("widens restoring to the callers restore_for names, on a thread they did not write", async () => {
    const support = generateApiKey();
    const policy = path.join(dir, `policy-${randomBytes(4).toString("hex")}.yaml`);
    await writeFile(
      policy,
      `version: 1\nrules:\n  - id: allow-all\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\nmasking:\n  requests: tokenize\n  restore_for: { subjects: { service_accounts: [support] } }\n`,
    );
    const gateway = await startTestGateway(upstream, { policy: { file: policy, watch: false }, identity: { service_accounts: [{ id: "support", key_sha256: support.sha256, groups: [] }] } });
    try {
      const client = sdkThroughGateway(gateway);
      const thread = await client.threads.create();
      await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } });
      const helper = new Client({ apiUrl: gateway.url, apiKey: support.key, callerOptions: { maxRetries: 0 } });
      const state = JSON.stringify(await helper.threads.getState(thread.thread_id));
      assert.ok(state.includes(EMAIL), "the support account reads the values");
      assert.deepEqual(tokensIn(state), []);
    } finally {
      await gateway.close();
    }
  });

  it("restores to a caller that sees clear responses, in the clear copy", async () => {
    const gateway = await gatewayWith("  clear_responses_for: \"*\"\n");
    try {
      const client = sdkThroughGateway(gateway);
      const thread = await client.threads.create();
      let text = "";
      for await (const chunk of client.runs.stream(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] }, streamMode: ["messages-tuple"] })) {
        if (chunk.event !== "messages") continue;
        const [message] = chunk.data as unknown as [{ content?: unknown }];
        if (typeof message.content === "string") text += message.content;
      }
      assert.ok(text.includes(INPUT), text);
      const state = JSON.stringify(await sdkDirect(upstream).threads.getState(thread.thread_id));
      assert.ok(!state.includes(EMAIL));
    } finally {
      await gateway.close();
    }
  });
});

describe("the vault in PostgreSQL", () => {
  it("keeps originals encrypted, returns them per scope, erases a subject and sweeps expired rows", async () => {
    const postgres = await startPostgres();
    const schema = `vault_${randomBytes(4).toString("hex")}`;
    const store = await PostgresVaultStore.open({ url: postgres.url, schema });
    try {
      const keys = new TokenKeys(randomBytes(32));
      const vault = new Vault(store, keys, 60_000);
      const alice = { tenant: "acme", scope: "thread:1", subject: "sa:alice" };
      const token = keys.token(alice.tenant, alice.scope, "EMAIL_ADDRESS", EMAIL);
      await vault.keep(alice, [{ token, entity: "EMAIL_ADDRESS", value: EMAIL }]);
      await vault.keep({ ...alice, subject: "sa:bob" }, [{ token: "<PHONE_NUMBER_abcdefab>", entity: "PHONE_NUMBER", value: PHONE }]);
      assert.deepEqual((await vault.valuesOf("acme", "thread:1")).map((value) => [value.token, value.value, value.subject]).sort(), [
        [token, EMAIL, "sa:alice"],
        ["<PHONE_NUMBER_abcdefab>", PHONE, "sa:bob"],
      ]);
      assert.deepEqual(await vault.valuesOf("globex", "thread:1"), []);
      // By token, whatever the scope, within the tenant only.
      await vault.keep({ ...alice, scope: "thread:2" }, [{ token: "<EMAIL_ADDRESS_fedcbafe>", entity: "EMAIL_ADDRESS", value: "other@example.com" }]);
      assert.deepEqual((await vault.valuesWithTokens("acme", [token, "<EMAIL_ADDRESS_fedcbafe>", "<EMAIL_ADDRESS_00000000>"])).map((value) => value.value).sort(), [EMAIL, "other@example.com"].sort());
      assert.deepEqual(await vault.valuesWithTokens("globex", [token]), []);
      assert.equal(await store.eraseSubject("sa:alice"), 2);
      await vault.keep(alice, [{ token, entity: "EMAIL_ADDRESS", value: EMAIL }]);
      assert.ok(!JSON.stringify(await store.rowsOf("acme", "thread:1", Date.now())).includes(EMAIL), "a row holds the clear value");
      assert.equal(await store.eraseSubject("sa:alice"), 1);
      assert.deepEqual((await vault.valuesOf("acme", "thread:1")).map((value) => value.subject), ["sa:bob"]);
      assert.equal(await store.sweep(Date.now() + 120_000), 1);
      assert.deepEqual(await vault.valuesOf("acme", "thread:1"), []);
    } finally {
      await store.close();
      await postgres.stop();
    }
  });
});
