// Provider streams through an egress route are masked across delta chunks: a real HTTP provider
// (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages framing) splits an email, a card
// number and an API key across 2..N deltas at every split point, and the runtime (the caller of
// /egress/..., with a run-context token) never receives a raw value, reassembles exactly the
// masked text, and gets non-sensitive text unchanged. The ledger's recording of the answer holds
// the same masked text.
import { storedPayload } from "../../src/ledger/store.js";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { RunContextTokens } from "../../src/egress/runContext.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { openLedgerStore } from "../../src/ledger/index.js";
import type { CompletionRecord } from "../../src/record/auditRecord.js";
import { eventually, startTestGateway, type TestGateway } from "../support/stack.js";

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";
const API_KEY = "ghp_R8x2Kq7LmN4vB9tZ3wY6pH1sD5fG0jCkAeUo";
const VALUES = [EMAIL, CARD, API_KEY];
const TEXT = `Contact ${EMAIL}, pay with ${CARD} and deploy with ${API_KEY} today.`;
const ARGUMENTS = JSON.stringify({ to: EMAIL, card: CARD, token: API_KEY, note: "ship today" });
const PLAIN = "The meeting moved to Thursday at 3 pm; bring the quarterly report and 12 copies.";

const POLICY = `version: 1
rules:
  - id: runtime-calls-models
    effect: allow
    subjects: { service_accounts: [runtime] }
    actions: [egress:call]
    resources: { egress_routes: [provider] }
`;

type Kind = "text" | "tool";

/** What the provider streams for one call; it falls quiet after delta `quietAfter` until `resume`. */
interface Scenario {
  pieces: string[];
  /** Sent instead of the format's framing of `pieces`, event by event. */
  events?: string[];
  kind: Kind;
  quietAfter?: number;
  resume?: Promise<void>;
}

/** One provider's stream framing: what it sends for the pieces of a text or of tool arguments,
 * and how a client reassembles the streamed text from what it receives. */
interface ProviderFormat {
  name: string;
  path: string;
  /** The SSE text before the deltas, of each delta, and after them. */
  frame(pieces: string[], kind: Kind): { before: string; deltas: string[]; after: string };
  /** The streamed text, checking the framing: nothing of the text after the block's end event,
   * and the provider's closing event last. */
  reassemble(events: EventSourceMessage[], kind: Kind): string;
}

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

const openAiChat: ProviderFormat = {
  name: "OpenAI Chat Completions",
  path: "/v1/chat/completions",
  frame(pieces, kind) {
    const chunk = (delta: object, finish: string | null) => sse({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: "stand-in", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
    const start = kind === "text" ? { role: "assistant", content: "" } : { role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "send", arguments: "" } }] };
    const deltas = pieces.map((piece) => chunk(kind === "text" ? { content: piece } : { tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
    return { before: chunk(start, null), deltas, after: chunk({}, kind === "text" ? "stop" : "tool_calls") + sse("[DONE]") };
  },
  reassemble(events, kind) {
    assert.equal(events.at(-1)?.data, "[DONE]", "the stream still ends with [DONE]");
    let text = "";
    let finished = false;
    for (const event of events.slice(0, -1)) {
      const chunk = JSON.parse(event.data) as { object: string; choices: { delta: { content?: string | null; tool_calls?: { function: { arguments: string } }[] }; finish_reason: string | null }[] };
      assert.equal(chunk.object, "chat.completion.chunk");
      const [choice] = chunk.choices;
      const piece = kind === "text" ? (choice!.delta.content ?? "") : (choice!.delta.tool_calls?.[0]?.function.arguments ?? "");
      assert.ok(!(finished && piece), "no text after the choice's finish_reason");
      text += piece;
      if (choice!.finish_reason) finished = true;
    }
    assert.ok(finished, "the finish_reason chunk is relayed");
    return text;
  },
};

const openAiResponses: ProviderFormat = {
  name: "OpenAI Responses",
  path: "/v1/responses",
  frame(pieces, kind) {
    let sequence = 0;
    const event = (type: string, fields: object) => sse({ type, ...fields, sequence_number: sequence++ }, type);
    const item = kind === "text" ? { id: "msg_1", type: "message", status: "in_progress", role: "assistant", content: [] } : { id: "fc_1", type: "function_call", status: "in_progress", call_id: "call_1", name: "send", arguments: "" };
    const whole = pieces.join("");
    let before = event("response.created", { response: { id: "resp_1", object: "response", status: "in_progress", output: [] } }) + event("response.output_item.added", { output_index: 0, item });
    let deltas: string[];
    let after: string;
    if (kind === "text") {
      before += event("response.content_part.added", { item_id: "msg_1", output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
      deltas = pieces.map((piece) => event("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: piece, logprobs: [] }));
      after = event("response.output_text.done", { item_id: "msg_1", output_index: 0, content_index: 0, text: whole, logprobs: [] });
      after += event("response.content_part.done", { item_id: "msg_1", output_index: 0, content_index: 0, part: { type: "output_text", text: whole, annotations: [] } });
    } else {
      deltas = pieces.map((piece) => event("response.function_call_arguments.delta", { item_id: "fc_1", output_index: 0, delta: piece }));
      after = event("response.function_call_arguments.done", { item_id: "fc_1", output_index: 0, arguments: whole });
    }
    after += event("response.output_item.done", { output_index: 0, item: { ...item, status: "completed" } });
    after += event("response.completed", { response: { id: "resp_1", object: "response", status: "completed", output: [] } });
    return { before, deltas, after };
  },
  reassemble(events, kind) {
    const deltaType = kind === "text" ? "response.output_text.delta" : "response.function_call_arguments.delta";
    const doneType = kind === "text" ? "response.output_text.done" : "response.function_call_arguments.done";
    assert.equal(events.at(-1)?.event, "response.completed", "the stream still ends with response.completed");
    let text = "";
    let done = false;
    for (const event of events) {
      const data = JSON.parse(event.data) as { type: string; delta?: string };
      assert.equal(data.type, event.event, "event names are kept");
      if (data.type === deltaType) {
        assert.ok(!done, `no delta after ${doneType}`);
        text += data.delta;
      }
      if (data.type === doneType) done = true;
    }
    assert.ok(done, `${doneType} is relayed`);
    return text;
  },
};

const anthropicMessages: ProviderFormat = {
  name: "Anthropic Messages",
  path: "/v1/messages",
  frame(pieces, kind) {
    const event = (type: string, fields: object) => sse({ type, ...fields }, type);
    const block = kind === "text" ? { type: "text", text: "" } : { type: "tool_use", id: "toolu_1", name: "send", input: {} };
    return {
      before:
        event("message_start", { message: { id: "msg_1", type: "message", role: "assistant", content: [], model: "stand-in", stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } }) +
        event("content_block_start", { index: 0, content_block: block }) +
        event("ping", {}),
      deltas: pieces.map((piece) => event("content_block_delta", { index: 0, delta: kind === "text" ? { type: "text_delta", text: piece } : { type: "input_json_delta", partial_json: piece } })),
      after:
        event("content_block_stop", { index: 0 }) +
        event("message_delta", { delta: { stop_reason: kind === "text" ? "end_turn" : "tool_use", stop_sequence: null }, usage: { output_tokens: pieces.length } }) +
        event("message_stop", {}),
    };
  },
  reassemble(events, kind) {
    assert.equal(events.at(-1)?.event, "message_stop", "the stream still ends with message_stop");
    let text = "";
    let stopped = false;
    for (const event of events) {
      const data = JSON.parse(event.data) as { type: string; delta?: { text?: string; partial_json?: string } };
      assert.equal(data.type, event.event, "event names are kept");
      if (data.type === "content_block_delta") {
        assert.ok(!stopped, "no delta after content_block_stop");
        text += kind === "text" ? data.delta!.text : data.delta!.partial_json;
      }
      if (data.type === "content_block_stop") stopped = true;
    }
    assert.ok(stopped, "content_block_stop is relayed");
    return text;
  },
};

const FORMATS = [openAiChat, openAiResponses, anthropicMessages];

/** Ways to cut `text` into deltas: two pieces at every point in and around each value, three
 * pieces with each value cut twice, and fixed piece sizes down to one character per delta. */
function splits(text: string): string[][] {
  const out: string[][] = [];
  const cut = (points: number[]) => {
    const pieces: string[] = [];
    let from = 0;
    for (const end of [...points, text.length]) {
      if (end > from) pieces.push(text.slice(from, end));
      from = Math.max(from, end);
    }
    return pieces;
  };
  for (const value of VALUES) {
    const start = text.indexOf(value);
    assert.ok(start >= 0);
    for (let at = start; at <= start + value.length; at++) out.push(cut([at]));
    for (let at = start + 1; at < start + value.length - 1; at++) out.push(cut([at, at + Math.max(1, Math.floor((start + value.length - at) / 2))]));
  }
  for (const size of [1, 2, 3, 4, 5, 7, 11]) out.push(Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size)));
  return out;
}

describe("egress: provider streams are masked across delta chunks", () => {
  let dir: string;
  let provider: Server;
  let gateway: TestGateway;
  let runContext: string;
  const providerKey = `sk-stand-in-${randomBytes(18).toString("hex")}`;
  const runtime = generateApiKey();
  /** What the provider streams for a call, by the model name the call asks for. */
  const scenarios = new Map<string, Scenario>();
  let scenarioIds = 0;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "portcullis-egress-streams-"));
    const keyFile = path.join(dir, "provider.key");
    await writeFile(keyFile, `${providerKey}\n`, { mode: 0o600 });
    provider = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const format = FORMATS.find((candidate) => candidate.path === req.url);
        const scenario = scenarios.get((JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { model?: string }).model ?? "");
        if (req.headers.authorization !== `Bearer ${providerKey}` || !format || !scenario) {
          res.writeHead(400, { "content-type": "application/json" });
          res.end("{}");
          return;
        }
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        if (scenario.events) {
          res.end(scenario.events.join(""));
          return;
        }
        void (async () => {
          const { before, deltas, after } = format.frame(scenario.pieces, scenario.kind);
          res.write(before);
          for (const [i, delta] of deltas.entries()) {
            res.write(delta);
            if (i === scenario.quietAfter) await scenario.resume;
          }
          res.end(after);
        })();
      });
    });
    provider.listen(0, "127.0.0.1");
    await once(provider, "listening");
    const providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    await writeFile(path.join(dir, "policy.yaml"), POLICY);
    gateway = await startTestGateway(
      // No LangGraph call is made: the run context is issued below, as the gateway issues it for a run.
      { url: "http://127.0.0.1:9" },
      {
        policy: { file: path.join(dir, "policy.yaml"), watch: false },
        identity: { service_accounts: [{ id: "runtime", key_sha256: runtime.sha256, groups: ["runtime"] }] },
        egress: {
          routes: {
            provider: { url: providerUrl, credential: { type: "bearer", secret: { file: keyFile } }, methods: ["POST"], paths: FORMATS.map((format) => format.path), require_run_context: true },
          },
        },
      },
    );
    const tokens = await RunContextTokens.open(gateway.config.egress.run_context, path.dirname(path.resolve(gateway.config.storage.sqlite_file)));
    runContext = await tokens.issue({ request_id: "run-request-1", subject: "oidc:corp:alice", thread_id: "thread-1", graphs: ["model"] });
  });

  after(async () => {
    await gateway?.close();
    provider?.closeAllConnections();
    provider?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Streams `pieces` from the provider through the gateway, as the runtime calls it. */
  const stream = async (format: ProviderFormat, pieces: string[], kind: Kind) => {
    const model = `scenario-${scenarioIds++}`;
    scenarios.set(model, { pieces, kind });
    return read(format, model);
  };

  const call = (format: ProviderFormat, model: string) =>
    fetch(`${gateway.url}/egress/provider${format.path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${runtime.key}`, "portcullis-run-context": runContext, "content-type": "application/json" },
      body: JSON.stringify({ model, stream: true }),
    });

  const read = async (format: ProviderFormat, model: string) => {
    const response = await call(format, model);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const body = await response.text();
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(body);
    return { body, events, requestId: response.headers.get("x-request-id")! };
  };

  const leaks = (text: string) => VALUES.filter((value) => text.includes(value));

  /** The text deltas of the events so far, in any of the three formats. */
  const textSoFar = (events: EventSourceMessage[]) =>
    events
      .map((event) => {
        if (event.data === "[DONE]") return "";
        const data = JSON.parse(event.data) as { type?: string; choices?: { delta?: { content?: string } }[]; delta?: unknown };
        if (data.choices) return data.choices[0]?.delta?.content ?? "";
        if (data.type === "response.output_text.delta") return data.delta as string;
        if (data.type === "content_block_delta") return (data.delta as { text: string }).text;
        return "";
      })
      .join("");

  /** The masked text and tool arguments, as one delta each in `format`. */
  const maskedWhole = async (format: ProviderFormat) => ({
    text: format.reassemble((await stream(format, [TEXT], "text")).events, "text"),
    args: format.reassemble((await stream(format, [ARGUMENTS], "tool")).events, "tool"),
  });

  it("OpenAI Chat Completions: choices streamed side by side (n=2) each hold back their own tail", async () => {
    const masked = (await maskedWhole(openAiChat)).text;
    const chunk = (index: number, delta: object, finish: string | null) => sse({ id: "chatcmpl-2", object: "chat.completion.chunk", created: 1, model: "stand-in", choices: [{ index, delta, logprobs: null, finish_reason: finish }] });
    const first = TEXT.indexOf(EMAIL) + 5;
    const second = TEXT.indexOf(CARD) + 7;
    const cuts = [[0, first, second, TEXT.length], [0, first + 3, second - 4, TEXT.length]];
    const events: string[] = [];
    for (let part = 0; part < 3; part++) for (const [index, ends] of cuts.entries()) events.push(chunk(index, { content: TEXT.slice(ends[part], ends[part + 1]) }, null));
    events.push(chunk(0, {}, "stop"), chunk(1, {}, "stop"), sse("[DONE]"));
    const model = `scenario-${scenarioIds++}`;
    scenarios.set(model, { pieces: [], kind: "text", events });
    const { body, events: received } = await read(openAiChat, model);
    assert.deepEqual(leaks(body), []);
    for (const index of [0, 1]) {
      let text = "";
      let finished = false;
      for (const event of received.slice(0, -1)) {
        const choice = (JSON.parse(event.data) as { choices: { index: number; delta: { content?: string }; finish_reason: string | null }[] }).choices[0]!;
        if (choice.index !== index) continue;
        assert.ok(!(finished && choice.delta.content), `no text of choice ${index} after its finish_reason`);
        text += choice.delta.content ?? "";
        finished ||= choice.finish_reason !== null;
      }
      assert.equal(text, masked, `choice ${index}`);
    }
  });

  it("Anthropic Messages: a text block and a tool_use block each hold back their own tail, released before their content_block_stop", async () => {
    const { text: maskedText, args: maskedArgs } = await maskedWhole(anthropicMessages);
    const event = (type: string, fields: object) => sse({ type, ...fields }, type);
    const textAt = TEXT.indexOf(API_KEY) + 10;
    const argsAt = ARGUMENTS.indexOf(EMAIL) + 4;
    const events = [
      event("message_start", { message: { id: "msg_2", type: "message", role: "assistant", content: [], model: "stand-in", stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
      event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      event("content_block_delta", { index: 0, delta: { type: "text_delta", text: TEXT.slice(0, textAt) } }),
      event("content_block_delta", { index: 0, delta: { type: "text_delta", text: TEXT.slice(textAt) } }),
      event("content_block_stop", { index: 0 }),
      event("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_2", name: "send", input: {} } }),
      event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: ARGUMENTS.slice(0, argsAt) } }),
      event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: ARGUMENTS.slice(argsAt) } }),
      event("content_block_stop", { index: 1 }),
      event("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 4 } }),
      event("message_stop", {}),
    ];
    const model = `scenario-${scenarioIds++}`;
    scenarios.set(model, { pieces: [], kind: "text", events });
    const { body, events: received } = await read(anthropicMessages, model);
    assert.deepEqual(leaks(body), []);
    const blocks = ["", ""];
    const stopped = [false, false];
    for (const { data } of received) {
      const parsed = JSON.parse(data) as { type: string; index?: number; delta?: { text?: string; partial_json?: string } };
      if (parsed.type === "content_block_stop") stopped[parsed.index!] = true;
      if (parsed.type !== "content_block_delta") continue;
      assert.ok(!stopped[parsed.index!], `no delta of block ${parsed.index} after its content_block_stop`);
      blocks[parsed.index!] += parsed.delta!.text ?? parsed.delta!.partial_json ?? "";
    }
    assert.deepEqual(blocks, [maskedText, maskedArgs]);
  });

  for (const format of FORMATS) {
    for (const kind of ["text", "tool"] as const) {
      const original = kind === "text" ? TEXT : ARGUMENTS;
      it(`${format.name}: ${kind === "text" ? "text" : "tool-call argument"} deltas never hand the runtime an email, card number or API key, at any split into 2..N chunks`, async () => {
        // The masked text: the whole text in one delta.
        const whole = await stream(format, [original], kind);
        const masked = format.reassemble(whole.events, kind);
        assert.deepEqual(leaks(whole.body), []);
        if (kind === "text") {
          assert.ok(masked.startsWith("Contact ") && masked.endsWith(" today."), masked);
          assert.ok(masked.includes(", pay with ") && masked.includes(" and deploy with "), masked);
          for (const pieces of [[...PLAIN], [PLAIN.slice(0, 40), PLAIN.slice(40)]]) {
            const plain = await stream(format, pieces, kind);
            assert.equal(format.reassemble(plain.events, kind), PLAIN, "text with nothing to mask arrives unchanged");
          }
        } else {
          assert.ok(masked.startsWith('{"to":"') && masked.endsWith('","note":"ship today"}'), masked);
        }
        const cases = splits(original);
        for (let i = 0; i < cases.length; i += 8) {
          await Promise.all(
            cases.slice(i, i + 8).map(async (pieces) => {
              const { body, events } = await stream(format, pieces, kind);
              const shown = JSON.stringify(pieces);
              const received = format.reassemble(events, kind);
              assert.deepEqual(leaks(body), [], `the runtime received a raw value in one event for ${shown}`);
              assert.deepEqual(leaks(received), [], `the runtime can put a raw value together from the deltas for ${shown}`);
              assert.equal(received, masked, `the reassembled text is the masked text for ${shown}`);
            }),
          );
        }
      });
    }

    it(`${format.name}: held text goes out when the provider falls quiet (masking.flush_ms), and a value split before the pause is still masked`, async () => {
      let resume!: () => void;
      const model = `scenario-${scenarioIds++}`;
      const pieces = ["Write to jane.doe@exa", "mple.com and see you Thurs", "day."];
      scenarios.set(model, { pieces, kind: "text", quietAfter: 1, resume: new Promise<void>((resolve) => (resume = resolve)) });
      const response = await call(format, model);
      assert.equal(response.status, 200);
      const events: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (event) => events.push(event) });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      const deadline = Date.now() + 5_000;
      while (!textSoFar(events).endsWith(" and see you Thurs")) {
        assert.ok(Date.now() < deadline, `held text was not released while the provider was quiet (got ${JSON.stringify(textSoFar(events))})`);
        const { value, done } = await reader.read();
        assert.ok(!done, "the stream ended early");
        parser.feed(decoder.decode(value, { stream: true }));
      }
      resume();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
      const received = format.reassemble(events, "text");
      assert.deepEqual(leaks(received), [], received);
      assert.ok(received.startsWith("Write to ") && received.endsWith(" and see you Thursday."), received);
      assert.notEqual(received, pieces.join(""));
    });

    it(`${format.name}: the ledger's recording of the answer holds the masked text, reassembled as the runtime got it`, async () => {
      const whole = await stream(format, [TEXT], "text");
      const masked = format.reassemble(whole.events, "text");
      const { requestId } = await stream(format, [...TEXT], "text");
      const completion = await eventually(async () => {
        const found = (await gateway.recordsFor(requestId)).find((record): record is CompletionRecord => record.type === "completion");
        assert.ok(found?.response, "the completion record references the recorded answer");
        return found;
      });
      assert.ok(Object.keys(completion.masking?.redactions ?? {}).length >= 3, `each value is counted (${JSON.stringify(completion.masking)})`);
      const store = await openLedgerStore(gateway.config.audit);
      let recorded: string;
      try {
        recorded = (await storedPayload(store, completion.response!.sha256))!.toString("utf8");
      } finally {
        await store.close();
      }
      assert.deepEqual(leaks(recorded), []);
      const events = recorded
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as { event: string; data: string })
        .map(({ event, data }) => (event === "message" ? { data } : { event, data }));
      assert.equal(format.reassemble(events, "text"), masked);
    });
  }
});
