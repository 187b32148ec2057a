// The masker's own behaviour: JSON leaves, operators, fail-closed limits, and masking text and
// SSE events that arrive in pieces (held back no more than needed, never leaked).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import type { EventSourceMessage } from "eventsource-parser";
import { pino } from "pino";
import { parseConfig } from "../../src/config/load.js";
import { customPatternDetector, CustomPatternError, dictionaryDetector } from "../../src/mask/detect/custom.js";
import { Scanner } from "../../src/mask/detect/scanner.js";
import { builtInDetectors, createMasker, defaultMasker, Masker, MaskingError, MaskingTally, SseStreamMasker, TextStreamMasker } from "../../src/mask/index.js";
import { maskedLogOptions } from "../../src/mask/logs.js";
import { Operators } from "../../src/mask/operators.js";

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";
const AWS = "AKIAQYLPMN5HFIQR7ABC";
const TEXT = `Contact ${EMAIL} about card ${CARD}; the key is ${AWS} and nothing else.`;

function streamInPieces(masker: Masker, text: string, size: number): { out: string; pieces: string[] } {
  const stream = new TextStreamMasker(masker, new MaskingTally());
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(stream.push(text.slice(i, i + size)));
  pieces.push(stream.end());
  return { out: pieces.join(""), pieces };
}

describe("masking JSON documents", () => {
  const masker = defaultMasker();

  it("changes only string leaves: keys, structure and protocol ids stay, unchanged documents stay byte for byte", () => {
    const document = {
      thread_id: "1ef3c0a2-5d6b-4f7e-9a1b-2c3d4e5f6a7b",
      run_id: "1ef3c0a2-5d6b-4f7e-9a1b-2c3d4e5f6a7c",
      "jane.doe@example.com": "the key is an email and stays",
      messages: [{ id: "msg-4111111111111111", type: "human", content: `mail ${EMAIL}` }],
      count: 4111111111111111,
    };
    const text = JSON.stringify(document, null, 2);
    const masked = masker.mask(text);
    const parsed = JSON.parse(masked.text);
    assert.equal(parsed.thread_id, document.thread_id);
    assert.equal(parsed.messages[0].id, "msg-4111111111111111");
    assert.equal(parsed.messages[0].content, "mail [EMAIL_ADDRESS]");
    assert.equal(parsed["jane.doe@example.com"], "the key is an email and stays");
    assert.equal(parsed.count, 4111111111111111);
    assert.deepEqual(masked.redactions, { EMAIL_ADDRESS: 1 });
    const clean = JSON.stringify({ thread_id: document.thread_id, values: { n: 1 } }, null, 2);
    assert.equal(masker.mask(clean).text, clean);
  });

  it("masks a value held as a JSON number under a key that names it, as a string; other numbers stay numbers", () => {
    const text = '{"ssn": 473825060, "card_number": 4111111111111111, "phone": 4155550123, "location": {"lat": 40.7128, "lng": -74.0060}, "total": 4399.50, "count": 4111111111111111}';
    const masked = masker.mask(text);
    assert.equal(
      masked.text,
      '{"ssn": "[US_SSN]", "card_number": "[CREDIT_CARD]", "phone": "[PHONE_NUMBER]", "location": {"lat": "[GEO_COORDINATE]", "lng": "[GEO_COORDINATE]"}, "total": 4399.50, "count": 4111111111111111}',
    );
    assert.deepEqual(masked.redactions, { US_SSN: 1, CREDIT_CARD: 1, PHONE_NUMBER: 1, GEO_COORDINATE: 2 });
    // The parsed path (maskValue) agrees.
    const value = masker.maskValue(JSON.parse(text) as Record<string, unknown>).value;
    assert.deepEqual(value, { ssn: "[US_SSN]", card_number: "[CREDIT_CARD]", phone: "[PHONE_NUMBER]", location: { lat: "[GEO_COORDINATE]", lng: "[GEO_COORDINATE]" }, total: 4399.5, count: 4111111111111111 });
  });

  it("finds values hidden behind JSON escapes (\\n before a key, \\u0040 for @, \\/ in a URL)", () => {
    const escaped = JSON.stringify({ a: `Key:\n${AWS}`, b: `mail ${EMAIL}`, c: "postgres://app:s3cretPassw0rd@db.example.com/x" }).replace("@", "\\u0040").replaceAll("/", "\\/");
    const masked = JSON.parse(masker.mask(escaped).text);
    assert.deepEqual(masked, { a: "Key:\n[AWS_ACCESS_KEY]", b: "mail [EMAIL_ADDRESS]", c: "postgres://app:[URL_CREDENTIALS]@db.example.com/x" });
  });

  it("recognises a secret whose keyword is only in its JSON key, without touching ordinary keys", () => {
    const masked = JSON.parse(masker.mask(JSON.stringify({ aws: { secret_access_key: "OT5jSBsI3BWDsnsOB1AlMrrWCSPYfeGh14xzl5hi" }, webhook_secret: "wra4OUiDnbbOUc0WiFdJBNvXkMnT8wFwAHU7P", api_version: "2024-01-01", key: "messages" })).text);
    assert.deepEqual(masked, { aws: { secret_access_key: "[AWS_SECRET_KEY]" }, webhook_secret: "[GENERIC_SECRET]", api_version: "2024-01-01", key: "messages" });
    assert.equal(masker.maskText("Customer phone +4916075199069 was flagged").text, "Customer phone [PHONE_NUMBER] was flagged");
  });

  it("never lets a repeated key hide a value: every copy is masked in place, the rest of the text kept", () => {
    assert.equal(masker.mask(`{"v":"${EMAIL}","v":1}`).text, `{"v":"[EMAIL_ADDRESS]","v":1}`);
    // A sensitive field hidden by a later copy of its parent key is masked too.
    assert.equal(masker.mask(`{"auth":{"password":"hunter2"},"auth":{}}`).text, `{"auth":{"password":"[SENSITIVE_FIELD]"},"auth":{}}`);
    const nested = JSON.parse(masker.mask(JSON.stringify({ content: `{"note":"card ${CARD}","note":0.50}` })).text);
    assert.equal(nested.content, `{"note":"card [CREDIT_CARD]","note":0.50}`);
  });

  it("finds sensitive keys however they are written, before anything is parsed", () => {
    // An escape, a Kelvin sign (lower-cases to k), upper case and a hyphen all name a sensitive key.
    assert.equal(masker.mask('{"pass\\u0077ord":"hunter2"}').text, '{"pass\\u0077ord":"[SENSITIVE_FIELD]"}');
    assert.equal(masker.mask('{"to\u212Aen":"abc"}').text, '{"to\u212Aen":"[SENSITIVE_FIELD]"}');
    assert.equal(masker.mask('{"X-API-KEY":"abc","thread_id":"t1"}').text, '{"X-API-KEY":"[SENSITIVE_FIELD]","thread_id":"t1"}');
    // A configured key outside ASCII is looked up whole.
    const custom = new Masker(masker.scanner, masker.operators, masker.limits, { sensitiveKeys: ["clé"] });
    assert.equal(custom.mask('{"CLÉ":"abc","cle":"d"}').text, '{"CLÉ":"[SENSITIVE_FIELD]","cle":"d"}');
    // Not JSON after all (a raw line break inside a string): masked as text, nothing thrown.
    assert.equal(masker.mask(`{"note":"mail\n${EMAIL}"}`).text, `{"note":"mail\n[EMAIL_ADDRESS]"}`);
  });

  it("scans values under protocol key names too, and real LangGraph ids never match", () => {
    const masked = JSON.parse(masker.mask(JSON.stringify({ status: "my ssn is 536-22-8714", name: EMAIL, id: AWS })).text);
    assert.deepEqual(masked, { status: "my ssn is [US_SSN]", name: "[EMAIL_ADDRESS]", id: "[AWS_ACCESS_KEY]" });
    const ids = { id: "run-01a201ea-41d7-722c-bd21-82c724d48726", thread_id: "01a201ea-40a8-7117-b722-a05fbc311847", tool_call_id: "toolu_01A09q90qw90lq917835lq9", checkpoint_ns: "echo:b8f4d737-505c-58a5-8a5e-ad069e573a28", type: "ai", name: "send_email" };
    assert.deepEqual(JSON.parse(masker.mask(JSON.stringify({ ...ids, content: EMAIL })).text), { ...ids, content: "[EMAIL_ADDRESS]" });
  });

  it("refuses documents nested too deep to scan instead of passing them on", () => {
    assert.throws(() => masker.mask(`${"[".repeat(600)}"${EMAIL}"${"]".repeat(600)}`), MaskingError);
  });

  it("masks sensitive keys at any depth whatever they hold, numbers included, and leaves empty ones", () => {
    const masked = JSON.parse(masker.mask(JSON.stringify({ config: { configurable: { "X-Api-Key": "abc", Authorization: "Bearer x", password: 1234, token: "" } } })).text);
    assert.deepEqual(masked.config.configurable, { "X-Api-Key": "[SENSITIVE_FIELD]", Authorization: "[SENSITIVE_FIELD]", password: "[SENSITIVE_FIELD]", token: "" });
  });

  it("masks JSON serialised inside a string and re-serialises it", () => {
    const masked = JSON.parse(masker.mask(JSON.stringify({ tool_calls: [{ args: JSON.stringify({ to: EMAIL, body: "hi" }) }] })).text);
    assert.deepEqual(JSON.parse(masked.tool_calls[0].args), { to: "[EMAIL_ADDRESS]", body: "hi" });
  });

  it("masks configured field paths and query values", () => {
    const custom = new Masker(masker.scanner, masker.operators, masker.limits, { fieldPaths: ["profile.nickname"] });
    assert.equal(JSON.parse(custom.mask(JSON.stringify({ a: { profile: { nickname: "Bobby" } } })).text).a.profile.nickname, "[SENSITIVE_FIELD]");
    const query = masker.maskQuery(`?email=${encodeURIComponent(EMAIL)}&limit=10&token=abc`);
    assert.equal(query.text, "?email=%5BEMAIL_ADDRESS%5D&limit=10&token=%5BSENSITIVE_FIELD%5D");
  });

  it("fails closed on a field over the size cap and on an exhausted time budget", () => {
    const small = new Masker(masker.scanner, masker.operators, { maxFieldBytes: 100, budgetMs: 1_000 });
    assert.throws(() => small.mask(JSON.stringify({ text: "x".repeat(101) })), MaskingError);
    const noTime = new Masker(masker.scanner, masker.operators, { maxFieldBytes: 1_000, budgetMs: -1 });
    assert.throws(() => noTime.maskText("hello"), /budget_ms/);
  });

  it("fails closed when a detector throws", () => {
    const broken = new Masker(new Scanner([{ id: "broken", entities: ["X"], maxLength: 1, find: () => { throw new Error("boom"); }, openCandidate: () => undefined }]), masker.operators, masker.limits);
    assert.throws(() => broken.maskText("anything"), MaskingError);
  });
});

describe("operators", () => {
  const key = randomBytes(32);
  const withOperator = (operator: "partial" | "pseudonym" | "drop", pseudonymKey = key) =>
    new Masker(new Scanner(builtInDetectors()), new Operators({ defaultOperator: operator, perEntity: new Map(), pseudonymKey }), { maxFieldBytes: 1e6, budgetMs: 1_000 });

  it("partial keeps the last four and the separators", () => {
    assert.equal(withOperator("partial").maskText(`card ${CARD}`).text, "card **** **** **** 1111");
  });

  it("pseudonyms are stable per key, agree across spellings, and differ between keys", () => {
    const a = withOperator("pseudonym").maskText(`${EMAIL} and ${EMAIL.toUpperCase()}`).text;
    const [first, second] = a.split(" and ");
    assert.match(first!, /^<EMAIL_ADDRESS:[a-z2-7]{8}>$/);
    assert.equal(first, second);
    const other = withOperator("pseudonym", randomBytes(32)).maskText(EMAIL).text;
    assert.notEqual(other, first);
  });

  it("secrets are always redacted, whatever the operator", () => {
    assert.equal(withOperator("partial").maskText(`key ${AWS}`).text, "key [AWS_ACCESS_KEY]");
    assert.equal(withOperator("pseudonym").maskText(`key ${AWS}`).text, "key [AWS_ACCESS_KEY]");
  });

  it("drop removes the value", () => {
    assert.equal(withOperator("drop").maskText(`mail ${EMAIL}.`).text, "mail .");
  });
});

describe("custom detectors", () => {
  it("compiles patterns with RE2 and refuses lookaround with a clear error", () => {
    assert.throws(() => customPatternDetector({ entity: "X", pattern: "(?=a)b", maxLength: 10, caseInsensitive: false }), CustomPatternError);
    const masker = new Masker(new Scanner([customPatternDetector({ entity: "EMPLOYEE_ID", pattern: "EMP-[0-9]{6}", prefix: "EMP-", maxLength: 10, caseInsensitive: false })]), defaultMasker().operators, defaultMasker().limits);
    assert.equal(masker.maskText("badge EMP-123456 ok").text, "badge [EMPLOYEE_ID] ok");
    assert.equal(streamInPieces(masker, "badge EMP-123456 ok", 1).out, "badge [EMPLOYEE_ID] ok");
  });

  it("matches dictionary terms as whole words, case-insensitively, also when streamed", () => {
    const masker = new Masker(new Scanner([dictionaryDetector({ entity: "PROJECT", terms: ["Nightingale"] })]), defaultMasker().operators, defaultMasker().limits);
    assert.equal(masker.maskText("project NIGHTINGALE and nightingales").text, "project [PROJECT] and nightingales");
    assert.equal(streamInPieces(masker, "project NIGHTINGALE and nightingales", 1).out, "project [PROJECT] and nightingales");
  });
});

describe("masking text that arrives in pieces", () => {
  const masker = defaultMasker();

  it("gives the same text as masking it whole, at every piece size, with no clear value", () => {
    const whole = masker.maskText(TEXT).text;
    for (const size of [1, 2, 3, 5, 8, 13, 40]) {
      const { out } = streamInPieces(masker, TEXT, size);
      assert.equal(out, whole, `pieces of ${size}`);
    }
  });

  it("holds back only the word being written: prose flows", () => {
    const stream = new TextStreamMasker(masker, new MaskingTally());
    const prose = "The weather is fine today, and tomorrow it rains.";
    let sent = "";
    for (let i = 0; i < prose.length; i += 1) {
      sent += stream.push(prose[i]!);
      const received = prose.slice(0, i + 1);
      const word = /[\w.-]*$/.exec(received)![0];
      assert.ok(received.length - sent.length <= word.length, `held ${received.length - sent.length} characters after "${received}"`);
    }
    assert.equal(sent + stream.end(), prose);
  });

  it("on idle releases an ordinary word but keeps a distinctive partial until it is decided", () => {
    const stream = new TextStreamMasker(masker, new MaskingTally());
    assert.equal(stream.push("Hello wor"), "Hello ");
    assert.equal(stream.idle(), "wor");
    assert.equal(stream.push("ld, key AKIAQYLP"), "ld, key ");
    assert.equal(stream.idle(), "");
    assert.ok(stream.holding > 0);
    assert.equal(stream.push("MN5HFIQR7ABC done") + stream.end(), "[AWS_ACCESS_KEY] done");
  });
});

describe("masking SSE events", () => {
  const masker = defaultMasker();
  const metadata = { langgraph_node: "echo", langgraph_step: 1, run_id: "1ef3c0a2-5d6b-4f7e-9a1b-2c3d4e5f6a7c" };

  function tokenEvents(text: string, id = "run-1-msg"): EventSourceMessage[] {
    return [...text].map((char, i) => ({ event: "messages", id: String(i), data: JSON.stringify([{ type: "ai", id, content: char, tool_call_chunks: [] }, metadata]) }));
  }

  it("masks a value split one character per event, keeps event names and ids, and releases held text before the next whole event", () => {
    const sse = new SseStreamMasker(masker);
    const out: EventSourceMessage[] = [];
    const upstream = [...tokenEvents(TEXT), { event: "values", id: "v1", data: JSON.stringify({ messages: [{ id: "run-1-msg", type: "ai", content: TEXT }] }) }];
    for (const event of upstream) out.push(...sse.event(event));
    out.push(...sse.end());
    const fromUpstream = out.filter((event) => event.id !== undefined);
    assert.deepEqual(fromUpstream.map((event) => event.id), upstream.map((event) => event.id));
    const text = out.filter((event) => event.event === "messages").map((event) => JSON.parse(event.data)[0].content).join("");
    assert.equal(text, masker.maskText(TEXT).text);
    for (const event of out) {
      assert.ok(!event.data.includes("example.com") && !event.data.includes("1111 1111") && !event.data.includes(AWS.slice(4)), `no clear value in ${event.data}`);
      if (event.event === "messages") assert.equal(JSON.parse(event.data)[0].id, "run-1-msg");
    }
    const values = out.find((event) => event.event === "values")!;
    assert.equal(JSON.parse(values.data).messages[0].content, masker.maskText(TEXT).text);
    assert.ok((sse.tally.redactions.EMAIL_ADDRESS ?? 0) >= 2);
  });

  it("sends the chunks the server sent, one token each, when nothing in them is masked", () => {
    const sse = new SseStreamMasker(masker);
    const chunk = (id: string, content: string, type = "AIMessageChunk") => ({ event: "messages", id: String(Math.random()), data: JSON.stringify([{ type, id, content }, metadata]) });
    const upstream = [...[..."begin"].map((c) => chunk("m-1", c)), chunk("t-1", "tool_call__begin", "tool"), ...[..."end"].map((c) => chunk("m-2", c))];
    const out = [...upstream.flatMap((event) => sse.event(event)), ...sse.end()];
    assert.deepEqual(out.map((event) => event.id), upstream.map((event) => event.id));
    assert.deepEqual(out.map((event) => JSON.parse(event.data)[0].content), [..."begin", "tool_call__begin", ..."end"]);
  });

  it("ends legacy partials with the whole masked message before messages/complete", () => {
    const sse = new SseStreamMasker(masker);
    const partials = [..."begin"].map((_, i) => ({ event: "messages/partial", data: JSON.stringify([{ id: "m-7", type: "ai", content: "begin".slice(0, i + 1) }]) }));
    const out = [...partials.flatMap((event) => sse.event(event)), ...sse.event({ event: "messages/complete", data: JSON.stringify([{ id: "m-7", type: "ai", content: "begin" }]) })];
    const lastPartial = out.filter((event) => event.event === "messages/partial").at(-1)!;
    assert.equal(JSON.parse(lastPartial.data)[0].content, "begin");
    assert.equal(out.at(-1)!.event, "messages/complete");
  });

  it("masks tool-call argument pieces per tool-call index", () => {
    const sse = new SseStreamMasker(masker);
    const args = JSON.stringify({ to: EMAIL });
    const events = [...args].map((char) => ({ event: "messages", data: JSON.stringify([{ type: "ai", id: "m2", content: "", tool_call_chunks: [{ index: 0, id: "call_1", name: "send", args: char }] }, metadata]) }));
    const out = [...events.flatMap((event) => sse.event(event)), ...sse.end()];
    const joined = out.map((event) => JSON.parse(event.data)[0].tool_call_chunks.map((call: { args: string }) => call.args).join("")).join("");
    assert.equal(joined, JSON.stringify({ to: "[EMAIL_ADDRESS]" }));
  });

  it("streams every text of a chunk: provider argument deltas, content blocks, thinking", () => {
    const sse = new SseStreamMasker(masker);
    const chunks = [
      { additional_kwargs: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "send", arguments: `{"to":"${EMAIL.slice(0, 12)}` } }] }, content: [{ index: 0, type: "thinking", thinking: `the key is ${AWS.slice(0, 10)}` }] },
      { additional_kwargs: { tool_calls: [{ index: 0, function: { arguments: `${EMAIL.slice(12)}"}` } }] }, content: [{ index: 0, type: "thinking", thinking: `${AWS.slice(10)} ok` }] },
    ];
    const out = [...chunks.flatMap((chunk) => sse.event({ event: "messages", data: JSON.stringify([{ type: "ai", id: "m4", ...chunk }, metadata]) })), ...sse.end()];
    const parts = out.map((event) => JSON.parse(event.data)[0]);
    const args = parts.map((part) => part.additional_kwargs?.tool_calls?.[0]?.function?.arguments ?? "").join("");
    const thinking = parts.map((part) => (Array.isArray(part.content) ? part.content.map((block: { thinking?: string }) => block.thinking ?? "").join("") : "")).join("");
    assert.equal(args, `{"to":"[EMAIL_ADDRESS]"}`);
    assert.equal(thinking, "the key is [AWS_ACCESS_KEY] ok");
    assert.ok(parts.every((part) => part.id === "m4"));
  });

  it("streams protocol v2 content-block-delta text and leaves the finish event to carry the whole block", () => {
    const sse = new SseStreamMasker(masker);
    const delta = (text: string, seq: number) => ({ event: "messages", id: String(seq), data: JSON.stringify({ type: "event", event_id: String(seq), seq, method: "messages", params: { namespace: [], node: "echo", data: { event: "content-block-delta", index: 0, delta: { type: "text-delta", text } } } }) });
    const text = `mail ${EMAIL} now`;
    const out = [...text].map((char, i) => sse.event(delta(char, i))).flat();
    // The deltas still waiting for held text go out before the finish event, in order.
    out.push(...sse.event({ event: "messages", id: "99", data: JSON.stringify({ type: "event", seq: 99, method: "messages", params: { namespace: [], node: "echo", data: { event: "content-block-finish", index: 0, content: { type: "text", text } } } }) }));
    assert.deepEqual(sse.end(), []);
    assert.deepEqual(out.map((event) => event.id), [...[...text].map((_, i) => String(i)), "99"]);
    const deltas = out.slice(0, -1);
    assert.ok(deltas.every((event, i) => JSON.parse(event.data).seq === i));
    const texts = deltas.map((event) => JSON.parse(event.data).params.data.delta.text).join("");
    assert.ok(!texts.includes("example.com") && !texts.includes("jane.doe"), texts);
    // The words around the address reach the client one delta each, as the server sent them.
    assert.deepEqual(deltas.slice(0, 5).map((event) => JSON.parse(event.data).params.data.delta.text), [..."mail "]);
    assert.equal(JSON.parse(out.at(-1)!.data).params.data.content.text, "mail [EMAIL_ADDRESS] now");
  });

  it("fails closed when an upstream opens more streamed texts than it may", () => {
    const sse = new SseStreamMasker(masker);
    assert.throws(() => {
      for (let i = 0; i < 3_000; i += 1) sse.event({ event: "messages", data: JSON.stringify([{ type: "ai", id: `m${i}`, content: "eyJ" }, metadata]) });
    }, MaskingError);
  });

  it("masks legacy messages/partial events, which repeat the text so far", () => {
    const sse = new SseStreamMasker(masker);
    let last = "";
    for (let i = 1; i <= TEXT.length; i += 1) {
      const [event] = sse.event({ event: "messages/partial", data: JSON.stringify([{ id: "m3", type: "ai", content: TEXT.slice(0, i) }]) });
      last = JSON.parse(event!.data)[0].content;
      assert.ok(!last.includes("example.com") && !last.includes("1111 1111"), last);
    }
    assert.ok(masker.maskText(TEXT).text.startsWith(last));
    const [withCalls] = sse.event({ event: "messages/partial", data: JSON.stringify([{ id: "m5", type: "ai", content: "", tool_calls: [{ id: "call_9", name: "send", args: { to: "jane.doe@examp" } }] }]) });
    assert.deepEqual(JSON.parse(withCalls!.data)[0].tool_calls[0], { id: "call_9", name: "send", args: { to: "" } });
  });

  it("masks whole events leaf by leaf, including debug config and custom payloads", () => {
    const sse = new SseStreamMasker(masker);
    const [debug] = sse.event({ event: "debug", data: JSON.stringify({ type: "checkpoint", payload: { config: { configurable: { "x-api-key": "k", thread_id: "t" } }, values: { note: EMAIL } } }) });
    assert.deepEqual(JSON.parse(debug!.data).payload, { config: { configurable: { "x-api-key": "[SENSITIVE_FIELD]", thread_id: "t" } }, values: { note: "[EMAIL_ADDRESS]" } });
    const [custom] = sse.event({ event: "custom|sub:1", data: JSON.stringify({ echo: CARD }) });
    assert.equal(custom!.event, "custom|sub:1");
    assert.deepEqual(JSON.parse(custom!.data), { echo: "[CREDIT_CARD]" });
  });
});

describe("masking configuration, keys and logs", () => {
  it("refuses the pseudonym operator without a key file, and a custom pattern RE2 cannot run", async () => {
    assert.throws(() => parseConfig({ upstream: { url: "http://127.0.0.1:1" }, masking: { operator: "pseudonym" } }), /pseudonym_key_file/);
    const settings = parseConfig({ upstream: { url: "http://127.0.0.1:1" }, masking: { custom: [{ entity: "X_ID", pattern: "(a)\\1" }] } }).masking;
    await assert.rejects(createMasker(settings), CustomPatternError);
  });

  it("creates the pseudonym key once, private to its owner, and keeps pseudonyms stable across restarts", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "portcullis-mask-key-"));
    try {
      const settings = parseConfig({ upstream: { url: "http://127.0.0.1:1" }, masking: { operator: "pseudonym", pseudonym_key_file: path.join(dir, "masking-key") } }).masking;
      const first = (await createMasker(settings)).maskText(EMAIL).text;
      assert.equal((await stat(path.join(dir, "masking-key"))).mode & 0o777, 0o600);
      assert.equal((await createMasker(settings)).maskText(EMAIL).text, first);
      assert.match(first, /^<EMAIL_ADDRESS:[a-z2-7]{8}>$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("masks every log field and logged errors' messages and stacks", () => {
    const lines: string[] = [];
    const log = pino({ level: "info", ...maskedLogOptions(defaultMasker()) }, { write: (line: string) => lines.push(line) });
    log.warn({ user: EMAIL, nested: { card: CARD }, err: new Error(`upstream said ${EMAIL}`) }, "request failed");
    const line = lines.join("");
    assert.ok(!line.includes(EMAIL) && !line.includes(CARD), line);
    const parsed = JSON.parse(line);
    assert.equal(parsed.user, "[EMAIL_ADDRESS]");
    assert.equal(parsed.nested.card, "[CREDIT_CARD]");
    assert.equal(parsed.err.message, "upstream said [EMAIL_ADDRESS]");
  });
});
