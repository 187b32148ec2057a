// SSE events read from the upstream at once are masked together (SseStreamMasker.events): each
// streamed text is pushed once per read instead of once per token. What reaches the client must
// be what event-by-event masking gives: the same events in the same order, the same masked text,
// each token in its own event when nothing is masked, and never a clear value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventSourceMessage } from "eventsource-parser";
import { Scanner } from "../../src/mask/detect/scanner.js";
import { builtInDetectors, defaultMasker, Masker, MaskingError, SseStreamMasker } from "../../src/mask/index.js";
import { Operators } from "../../src/mask/operators.js";

const EMAIL = "jane.doe@example.com";
const CARD = "4111 1111 1111 1111";
const AWS = "AKIAQYLPMN5HFIQR7ABC";
const TEXT = `Contact ${EMAIL} about card ${CARD}; the key is ${AWS} and nothing else.`;
const CLEAR = ["example.com", "jane.doe", "1111 1111", AWS.slice(4)];
const metadata = { langgraph_node: "echo", langgraph_step: 1, run_id: "1ef3c0a2-5d6b-4f7e-9a1b-2c3d4e5f6a7c" };

function tokenEvents(text: string, message: string, from = 0): EventSourceMessage[] {
  return [...text].map((char, i) => ({ event: "messages", id: String(from + i), data: JSON.stringify([{ type: "AIMessageChunk", id: message, content: char }, metadata]) }));
}

/** Splits `events` into consecutive reads whose sizes come from a seeded generator. */
function reads(events: EventSourceMessage[], seed: number): EventSourceMessage[][] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state;
  };
  const out: EventSourceMessage[][] = [];
  for (let i = 0; i < events.length; ) {
    const size = 1 + (next() % 40);
    out.push(events.slice(i, i + size));
    i += size;
  }
  return out;
}

const contents = (events: EventSourceMessage[], message: string) =>
  events
    .filter((event) => event.event === "messages")
    .map((event) => JSON.parse(event.data)[0])
    .filter((chunk) => chunk.id === message)
    .map((chunk) => chunk.content as string);

describe("masking SSE events read together", () => {
  const masker = defaultMasker();

  it("gives the events, order and masked text of event-by-event masking, however the stream is cut into reads", () => {
    const upstream = [
      ...tokenEvents(TEXT, "m-1"),
      { event: "updates", id: "u1", data: JSON.stringify({ echo: { note: `call ${EMAIL}` } }) },
      ...tokenEvents(`second ${CARD} message`, "m-2", 1000),
      { event: "values", id: "v1", data: JSON.stringify({ messages: [{ id: "m-1", type: "ai", content: TEXT }] }) },
    ];
    const one = new SseStreamMasker(masker);
    const alone = [...upstream.flatMap((event) => one.event(event)), ...one.end()];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const batched = new SseStreamMasker(masker);
      const together = [...reads(upstream, seed).flatMap((read) => batched.events(read)), ...batched.end()];
      assert.deepEqual(together.map((event) => [event.event, event.id]), upstream.map((event) => [event.event, event.id]), `seed ${seed}`);
      for (const message of ["m-1", "m-2"]) assert.equal(contents(together, message).join(""), contents(alone, message).join(""), `seed ${seed}, ${message}`);
      assert.equal(contents(together, "m-1").join(""), masker.maskText(TEXT).text);
      assert.deepEqual(JSON.parse(together.find((event) => event.event === "updates")!.data), { echo: { note: "call [EMAIL_ADDRESS]" } });
      for (const event of together) assert.ok(!CLEAR.some((value) => event.data.includes(value)), `seed ${seed}: clear value in ${event.data}`);
      assert.deepEqual(batched.tally.redactions, one.tally.redactions, `seed ${seed}`);
    }
  });

  it("sends each token in its own event when nothing in a read is masked", () => {
    const sse = new SseStreamMasker(masker);
    const upstream = [...tokenEvents("Summarise the open items for the weekly review.", "m-1"), ...tokenEvents("Done.", "m-2", 100)];
    const out = [...sse.events(upstream), ...sse.end()];
    assert.deepEqual(out.map((event) => event.id), upstream.map((event) => event.id));
    assert.deepEqual(
      out.map((event) => JSON.parse(event.data)[0].content),
      upstream.map((event) => JSON.parse(event.data)[0].content),
    );
  });

  it("lets the whole event that completes a message release its held tail within the same read", () => {
    const upstream = [...tokenEvents(`mail ${EMAIL}`, "m-1"), { event: "values", id: "v1", data: JSON.stringify({ messages: [{ id: "m-1", type: "ai", content: `mail ${EMAIL}` }] }) }];
    const one = new SseStreamMasker(masker);
    assert.equal(upstream.flatMap((event) => one.event(event)).length, upstream.length, "event by event, nothing waits after the values event");
    const sse = new SseStreamMasker(masker);
    const out = sse.events(upstream);
    assert.deepEqual(out.map((event) => event.id), upstream.map((event) => event.id));
    assert.equal(contents(out, "m-1").join(""), "mail [EMAIL_ADDRESS]");
  });

  it("sends the events before a held value at once, each with its own text, as one by one", () => {
    const events = tokenEvents("my card is 4111 1111 ", "m-1");
    const one = new SseStreamMasker(masker);
    const alone = events.flatMap((event) => one.event(event));
    const out = new SseStreamMasker(masker).events(events);
    assert.deepEqual(contents(out, "m-1"), [..."my card is "]);
    assert.deepEqual(out, alone);
  });

  it("sends a token event with nothing masked in it byte for byte, and re-serialises one with something masked", () => {
    // Spacing and escapes as a server may write them: kept when nothing in the event changes.
    const asSent = '[ {"content": "caf\\u00e9", "type": "AIMessageChunk", "id": "m-1"}, {"langgraph_node": "echo", "langgraph_step": 1} ]';
    const withEmail = `[{"content":"hi","type":"AIMessageChunk","id":"m-1"},{"note":"${EMAIL}"}]`;
    for (const mode of ["one by one", "together"]) {
      const sse = new SseStreamMasker(masker);
      const upstream = [
        { event: "messages", id: "1", data: asSent },
        { event: "messages", id: "2", data: withEmail },
      ];
      const out = [...(mode === "together" ? sse.events(upstream) : upstream.flatMap((event) => sse.event(event))), ...sse.end()];
      assert.equal(out[0]!.data, asSent, mode);
      assert.deepEqual(JSON.parse(out[1]!.data), [{ content: "hi", type: "AIMessageChunk", id: "m-1" }, { note: "[EMAIL_ADDRESS]" }], mode);
    }
  });

  it("masks metadata that repeats in every token event in each of them, and counts it each time", () => {
    const repeated = { ...metadata, note: `owner ${EMAIL}` };
    const upstream = [..."abc"].map((char, i) => ({ event: "messages", id: String(i), data: JSON.stringify([{ type: "AIMessageChunk", id: "m-1", content: char }, repeated]) }));
    for (const mode of ["one by one", "together"]) {
      const sse = new SseStreamMasker(masker);
      const out = [...(mode === "together" ? sse.events(upstream) : upstream.flatMap((event) => sse.event(event))), ...sse.end()];
      assert.deepEqual(
        out.map((event) => JSON.parse(event.data)[1].note),
        ["owner [EMAIL_ADDRESS]", "owner [EMAIL_ADDRESS]", "owner [EMAIL_ADDRESS]"],
        mode,
      );
      assert.equal(sse.tally.redactions.EMAIL_ADDRESS, 3, mode);
    }
  });

  it("holds a value cut across two reads until it is decided", () => {
    const sse = new SseStreamMasker(masker);
    const text = `write to ${EMAIL} today`;
    const cut = text.indexOf("@") + 4;
    const events = tokenEvents(text, "m-1");
    const first = sse.events(events.slice(0, cut));
    assert.ok(first.every((event) => !event.data.includes("jane")), "the first read's events wait while the address may still grow");
    const out = [...first, ...sse.events(events.slice(cut)), ...sse.end()];
    assert.deepEqual(out.map((event) => event.id), events.map((event) => event.id));
    assert.equal(contents(out, "m-1").join(""), "write to [EMAIL_ADDRESS] today");
  });

  it("pushes a read longer than masking.max_field_bytes in parts instead of refusing it", () => {
    const small = new Masker(new Scanner(builtInDetectors()), new Operators({ defaultOperator: "redact", perEntity: new Map() }), { maxFieldBytes: 400, budgetMs: 2_000 });
    const text = `${"Nothing to see in this sentence at all. ".repeat(20)}Mail ${EMAIL} now.`;
    const events = tokenEvents(text, "m-1");
    const sse = new SseStreamMasker(small);
    const out = [...sse.events(events), ...sse.end()];
    assert.equal(contents(out, "m-1").join(""), text.replace(EMAIL, "[EMAIL_ADDRESS]"));
    // One event carrying more than the cap is still refused, as it is event by event.
    const long = new SseStreamMasker(small);
    assert.throws(() => long.events([{ event: "messages", data: JSON.stringify([{ type: "AIMessageChunk", id: "m-2", content: "x".repeat(500) }, metadata]) }]), MaskingError);
  });
});
