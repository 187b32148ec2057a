// Masking on the real data path: the real LangGraph server runs a graph that echoes planted PII
// and secrets back token by token (messages-tuple), in state (values, updates, debug), in a
// custom event, in a tool call and through /runs/wait; the official SDK is the client. The client
// sees masked values with every id intact, and the ledger never holds a clear value.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { defaultMasker } from "../../src/mask/index.js";
import type { CompletionRecord, RequestRecord } from "../../src/record/auditRecord.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { eventually, sdkDirect, sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

const GITHUB = `ghp_${randomBytes(27).toString("base64").replace(/[^A-Za-z0-9]/g, "A").slice(0, 36)}`;
const JWT = `${Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "1234567890", name: "Jane" })).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
const PLANTED = {
  EMAIL_ADDRESS: "jane.doe@example.com",
  CREDIT_CARD: "4111 1111 1111 1111",
  IBAN_CODE: "DE89 3704 0044 0532 0130 00",
  PHONE_NUMBER: "+44 20 7946 0958",
  AWS_ACCESS_KEY: "AKIAQYLPMN5HFIQR7ABC",
  GITHUB_TOKEN: GITHUB,
  JSON_WEB_TOKEN: JWT,
};
const INPUT = `Please email ${PLANTED.EMAIL_ADDRESS} or call ${PLANTED.PHONE_NUMBER}. Card ${PLANTED.CREDIT_CARD}, IBAN ${PLANTED.IBAN_CODE}. Keys: ${PLANTED.AWS_ACCESS_KEY} ${PLANTED.GITHUB_TOKEN} and ${PLANTED.JSON_WEB_TOKEN} end.`;
const MASKED_INPUT = defaultMasker().maskText(INPUT).text;

/** Any run of 8 characters of a planted value (masking.md §6: the leak criterion). */
function leaks(text: string): string[] {
  const found: string[] = [];
  for (const [entity, value] of Object.entries(PLANTED)) {
    for (let i = 0; i + 8 <= value.length; i += 1) {
      if (text.includes(value.slice(i, i + 8))) {
        found.push(`${entity}: ${value.slice(i, i + 8)}`);
        break;
      }
    }
  }
  return found;
}

async function writePolicy(dir: string, masking: string): Promise<string> {
  const file = path.join(dir, `policy-${randomBytes(4).toString("hex")}.yaml`);
  await writeFile(file, `version: 1\nrules:\n  - id: allow-all\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\n${masking}`);
  return file;
}

describe("masking through the gateway", () => {
  let upstream: Upstream;
  let dir: string;
  before(async () => {
    upstream = await startLangGraph();
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-mask-"));
  });
  after(async () => {
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe("the default: LangGraph receives tokens, the sender reads its own values", () => {
    it("tokenizes under a policy without a masking section: LangGraph's state holds no clear value, the sender gets its values back, the ledger none", async () => {
      const gateway = await startTestGateway(upstream);
      try {
        const client = sdkThroughGateway(gateway);
        const thread = await client.threads.create();
        const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
        // Secrets are redacted, never tokenised; personal data comes back to the one who sent it.
        assert.equal(result.echoed, MASKED_INPUT.replace("[EMAIL_ADDRESS]", PLANTED.EMAIL_ADDRESS).replace("[PHONE_NUMBER]", PLANTED.PHONE_NUMBER).replace("[CREDIT_CARD]", PLANTED.CREDIT_CARD).replace("[IBAN_CODE]", PLANTED.IBAN_CODE));
        const direct = await sdkDirect(upstream).threads.getState(thread.thread_id);
        assert.deepEqual(leaks(JSON.stringify(direct)), [], "LangGraph never received a clear value");
        assert.match(JSON.stringify(direct.values), /<EMAIL_ADDRESS_[0-9a-f]{8}>/);
        const request = (await gateway.audit()).find((record): record is RequestRecord => record.type === "request" && record.masking?.request === "tokenized");
        assert.ok(request, "the request record says the request was tokenized");
        const bytes = Buffer.concat(await Promise.all([gateway.ledgerFile, `${gateway.ledgerFile}-wal`].map((file) => readFile(file).catch(() => Buffer.alloc(0)))));
        assert.deepEqual(leaks(bytes.toString("latin1")), []);
      } finally {
        await gateway.close();
      }
    });
  });

  describe("requests: forward: responses masked, inputs forwarded, everything stored masked", () => {
    let gateway: TestGateway;
    let client: Client;
    before(async () => {
      gateway = await startTestGateway(upstream, { policy: { file: await writePolicy(dir, "masking:\n  requests: forward\n"), watch: false } });
      client = sdkThroughGateway(gateway);
    });
    after(() => gateway.close());

    it("masks every stream mode token by token, keeps ids, and stores no clear value", async () => {
      const thread = await client.threads.create();
      const events: { event: string; data: unknown }[] = [];
      for await (const chunk of client.runs.stream(thread.thread_id, "echo", {
        input: { messages: [{ role: "human", content: INPUT }] },
        streamMode: ["messages-tuple", "values", "updates", "debug", "custom"],
      })) {
        events.push(chunk as { event: string; data: unknown });
      }
      const names = new Set(events.map((event) => event.event));
      for (const mode of ["messages", "values", "updates", "debug", "custom"]) assert.ok(names.has(mode), `saw ${mode} events`);
      const tokenEvents = events.filter((event) => event.event === "messages") as { data: [{ id: string; content: unknown; type: string }, Record<string, unknown>] }[];
      assert.ok(tokenEvents.length > 100, `one event per character (${tokenEvents.length})`);
      // What a client puts together: each message's chunks concatenated by id.
      const streamed = new Map<string, string>();
      for (const { data: [chunk] } of tokenEvents) if (typeof chunk.content === "string") streamed.set(chunk.id, (streamed.get(chunk.id) ?? "") + chunk.content);
      assert.deepEqual(leaks(JSON.stringify(events)), []);
      assert.deepEqual(leaks([...streamed.values()].join("\n")), []);
      const replyId = [...streamed.entries()].find(([, text]) => text.length > 0)![0];
      assert.equal(streamed.get(replyId), MASKED_INPUT);
      const runId = tokenEvents[0]!.data[1].run_id as string;
      assert.match(runId, /^[0-9a-f-]{36}$/);
      assert.equal(tokenEvents[0]!.data[1].thread_id, thread.thread_id);

      const values = events.filter((event) => event.event === "values").at(-1)!.data as { messages: { id: string; content: string; tool_calls?: { args: { note: string } }[] }[]; echoed: string };
      assert.equal(values.echoed, MASKED_INPUT);
      assert.ok(values.messages.some((message) => message.id === replyId && message.content === MASKED_INPUT), "the streamed message id is the stored message's id");
      assert.equal(values.messages.find((message) => message.tool_calls?.length)!.tool_calls![0]!.args.note, MASKED_INPUT);
      assert.equal((events.find((event) => event.event === "custom")!.data as { echo: string }).echo, MASKED_INPUT);

      // What the gateway recorded, counted by type and never with a value.
      const records = await eventually(async () => {
        const all = await gateway.audit();
        assert.ok(all.some((record) => record.type === "run"), "not yet: all.some((record) => record.type === \"run\")");
        return all;
      }, 15_000);
      const completion = records.find((record): record is CompletionRecord => record.type === "completion" && record.run_id === runId)!;
      assert.equal(completion.masking?.response, "masked");
      for (const entity of Object.keys(PLANTED)) assert.ok((completion.masking?.redactions[entity] ?? 0) > 0, `${entity} counted`);
      const request = records.find((record): record is RequestRecord => record.type === "request" && record.request_id === completion.request_id)!;
      assert.equal(request.masking?.request, "forwarded");
      assert.equal(request.masking?.redactions.EMAIL_ADDRESS, 1);
      assert.equal(request.body?.masking, "portcullis-mask/1");

      // The thread as LangGraph keeps it still has the clear input (requests were forwarded)...
      const direct = await sdkDirect(upstream).threads.getState(thread.thread_id);
      assert.ok(JSON.stringify(direct.values).includes(PLANTED.EMAIL_ADDRESS));
      // ...but read through the gateway it is masked, ids intact.
      const state = await client.threads.getState(thread.thread_id);
      assert.deepEqual(leaks(JSON.stringify(state)), []);
      assert.equal(state.checkpoint.thread_id, thread.thread_id);
      assert.deepEqual((state.values as { messages: { id: string }[] }).messages.map((m) => m.id), (direct.values as { messages: { id: string }[] }).messages.map((m) => m.id));
    });

    it("masks the /runs/wait result", async () => {
      const thread = await client.threads.create();
      const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.equal(result.echoed, MASKED_INPUT);
      assert.deepEqual(leaks(JSON.stringify(result)), []);
    });

    it("leaves no clear value anywhere in the ledger's files", async () => {
      await eventually(async () => assert.ok((await gateway.audit()).filter((record) => record.type === "run").length >= 2, "not yet: (await gateway.audit()).filter((record) => record.type === \"run\").length >= 2"), 15_000);
      const bytes = Buffer.concat(await Promise.all([gateway.ledgerFile, `${gateway.ledgerFile}-wal`].map((file) => readFile(file).catch(() => Buffer.alloc(0)))));
      assert.deepEqual(leaks(bytes.toString("latin1")), []);
      assert.ok(bytes.includes("[EMAIL_ADDRESS]"), "masked payloads are stored");
    });

    it("records refusals without the clear values a client put in the path, query or body", async () => {
      const before = (await gateway.audit()).length;
      const invalid = await fetch(`${gateway.url}/threads`, { method: "POST", headers: { "x-api-key": gateway.key, "content-type": "application/json" }, body: PLANTED.EMAIL_ADDRESS });
      assert.equal(invalid.status, 400);
      const search = await fetch(`${gateway.url}/threads/${encodeURIComponent(PLANTED.EMAIL_ADDRESS)}?${encodeURIComponent(PLANTED.CREDIT_CARD)}=x`, { headers: { "x-api-key": gateway.key } });
      assert.ok(search.status >= 400);
      const upgrade = await rawRequest(gateway.url, `GET /threads/x/stream/events?access_token=${PLANTED.GITHUB_TOKEN}&email=${PLANTED.EMAIL_ADDRESS} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      assert.equal(statusOf(upgrade), 501);
      const records = await eventually(async () => {
        const all = (await gateway.audit()).slice(before);
        assert.ok(all.filter((record) => record.type === "request").length >= 3, "not yet: all.filter((record) => record.type === \"request\").length >= 3");
        return all;
      });
      assert.deepEqual(leaks(JSON.stringify(records)), []);
    });

    it("refuses a request body it cannot scan, before anything is forwarded, and records it", async () => {
      const small = await startTestGateway(upstream, { masking: { max_field_bytes: 1_000 } });
      try {
        const thread = await sdkDirect(upstream).threads.create();
        const response = await fetch(`${small.url}/threads/${thread.thread_id}/runs/wait`, {
          method: "POST",
          headers: { "x-api-key": small.key, "content-type": "application/json" },
          body: JSON.stringify({ assistant_id: "echo", input: { messages: [{ role: "human", content: "x".repeat(2_000) }] } }),
        });
        assert.equal(response.status, 422);
        assert.equal(((await response.json()) as { error: string }).error, "PC_MASKING_FAILED");
        const runs = await sdkDirect(upstream).runs.list(thread.thread_id);
        assert.equal(runs.length, 0, "nothing reached LangGraph");
        const refused = (await small.audit()).find((record): record is RequestRecord => record.type === "request" && record.error === "PC_MASKING_FAILED");
        assert.ok(refused);
      } finally {
        await small.close();
      }
    });
  });

  describe("policy: clear responses for a privileged group, masked inputs", () => {
    let gateway: TestGateway;
    let privilegedKey: string;
    before(async () => {
      const privileged = generateApiKey();
      privilegedKey = privileged.key;
      gateway = await startTestGateway(upstream, {
        // Forwarded inputs: the other caller then has no values of its own to get back.
        policy: { file: await writePolicy(dir, "masking:\n  clear_responses_for: { groups: [pii-readers] }\n  requests: forward\n"), watch: false },
        identity: { service_accounts: [{ id: "privileged", key_sha256: privileged.sha256, groups: ["pii-readers"] }] },
      });
    });
    after(() => gateway.close());

    it("sends clear values to the privileged group, records that it did, and still stores them masked", async () => {
      const client = new Client({ apiUrl: gateway.url, apiKey: privilegedKey, callerOptions: { maxRetries: 0 } });
      const thread = await client.threads.create();
      const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.equal(result.echoed, INPUT);
      // The completion is committed just after the answer is sent.
      const completion = await eventually(async () => {
        const found = (await gateway.audit()).find((record): record is CompletionRecord => record.type === "completion" && record.thread_id === thread.thread_id && record.run_id !== undefined);
        assert.ok(found, "no completion record yet");
        return found;
      });
      assert.equal(completion.masking?.response, "clear");
      assert.ok((completion.masking?.redactions.EMAIL_ADDRESS ?? 0) > 0);
      const masked = (await sdkThroughGateway(gateway).runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } })) as { echoed: string };
      assert.equal(masked.echoed, MASKED_INPUT, "other callers still see masked values");
      await eventually(async () => assert.ok((await gateway.audit()).filter((record) => record.type === "run").length >= 2, "not yet: (await gateway.audit()).filter((record) => record.type === \"run\").length >= 2"), 15_000);
      const bytes = Buffer.concat(await Promise.all([gateway.ledgerFile, `${gateway.ledgerFile}-wal`].map((file) => readFile(file).catch(() => Buffer.alloc(0)))));
      assert.deepEqual(leaks(bytes.toString("latin1")), []);
    });

    it("masks inputs before LangGraph sees them when the policy says so", async () => {
      const masking = await startTestGateway(upstream, { policy: { file: await writePolicy(dir, "masking:\n  requests: mask\n"), watch: false } });
      try {
        const client = sdkThroughGateway(masking);
        const thread = await client.threads.create();
        await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: INPUT }] } });
        const direct = await sdkDirect(upstream).threads.getState(thread.thread_id);
        assert.deepEqual(leaks(JSON.stringify(direct.values)), [], "LangGraph never received a clear value");
        assert.equal((direct.values as { echoed: string }).echoed, MASKED_INPUT);
        const request = (await masking.audit()).find((record): record is RequestRecord => record.type === "request" && record.masking?.request === "masked");
        assert.ok(request);
      } finally {
        await masking.close();
      }
    });
  });
});
