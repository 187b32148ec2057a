// Streaming relays: SSE is parsed per the spec and re-emitted event by event, never buffered whole.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { formatEvent } from "../../src/respond/sse.js";
import { sseHeaders, sleep, startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { eventually, startTestGateway, type TestGateway } from "../support/stack.js";

let upstream: ScriptedUpstream;
let gateway: TestGateway;

before(async () => {
  upstream = await startScriptedUpstream();
  gateway = await startTestGateway({ url: upstream.url }, { streaming: { heartbeat_ms: 150, wait_keepalive_ms: 100 } });
});
after(async () => {
  await gateway?.close();
  await upstream?.close();
});
beforeEach(() => {
  upstream.received.length = 0;
});

interface Received {
  status: number;
  headers: Headers;
  text: string;
  events: EventSourceMessage[];
  comments: string[];
  /** ms after the request at which each event arrived */
  arrivals: number[];
}

async function streamRun(body: object, path = "/threads/11111111-1111-4111-8111-111111111111/runs/stream", signal?: AbortSignal): Promise<Received> {
  const started = performance.now();
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  const received: Received = { status: response.status, headers: response.headers, text: "", events: [], comments: [], arrivals: [] };
  const parser = createParser({
    onEvent: (event) => {
      received.events.push(event);
      received.arrivals.push(performance.now() - started);
    },
    onComment: (comment) => received.comments.push(comment),
  });
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    const text = decoder.decode(chunk, { stream: true });
    received.text += text;
    parser.feed(text);
  }
  return received;
}

describe("SSE relay", () => {
  test("re-emits the 2.0.0 multi-line JSON format as single-line events with event, data and id kept", async () => {
    upstream.handle = (_req, res) => {
      sseHeaders(res, { "content-location": "/threads/11111111-1111-4111-8111-111111111111/runs/22222222-2222-4222-8222-222222222222" });
      res.write('event: metadata\ndata: {\ndata:   "run_id": "r-1",\ndata:   "attempt": 1\ndata: }\nid: 0\n\n');
      res.end('event: values\ndata: {\ndata:   "n": 1\ndata: }\nid: 1\n\n');
    };
    const got = await streamRun({ assistant_id: "agent", input: {} });
    assert.equal(got.status, 200);
    assert.equal(got.text, 'event: metadata\ndata: {"run_id":"r-1","attempt":1}\nid: 0\n\nevent: values\ndata: {"n":1}\nid: 1\n\n');
    assert.equal(got.headers.get("content-location"), "/threads/11111111-1111-4111-8111-111111111111/runs/22222222-2222-4222-8222-222222222222");
  });

  test("accepts CRLF framing, comments, retry and any field order", async () => {
    upstream.handle = (_req, res) => {
      sseHeaders(res);
      res.write(": heartbeat\r\n\r\n");
      res.write("id: 1732240000000-0\r\nevent: values\r\ndata: {\"a\":1}\r\n\r\n");
      res.write("retry: 2000\r\n\r\n");
      res.end("data: plain\r\ndata: second line\r\nevent: custom\r\n\r\n");
    };
    const got = await streamRun({ assistant_id: "agent", input: {} });
    assert.deepEqual(
      got.events.map((e) => [e.event, e.data, e.id]),
      [
        ["values", '{"a":1}', "1732240000000-0"],
        ["custom", "plain\nsecond line", undefined],
      ],
    );
    assert.match(got.text, /^retry: 2000$/m);
  });

  test("passes event: error through and records the run as failed", async () => {
    upstream.handle = (_req, res) => {
      sseHeaders(res);
      res.write('event: metadata\ndata: {"run_id":"r-err","attempt":1}\n\n');
      res.end('event: error\ndata: {"error":"GraphValueError","message":"No checkpointer set"}\n\n');
    };
    const got = await streamRun({ assistant_id: "agent", input: {} }, "/runs/stream");
    assert.deepEqual(got.events.at(-1), { event: "error", data: '{"error":"GraphValueError","message":"No checkpointer set"}', id: undefined });
    const requestId = got.headers.get("x-request-id")!;
    const completion = await eventually(async () => {
      const record = (await gateway.recordsFor(requestId)).find((r) => r.type === "completion");
      assert.ok(record, "not yet: record");
      return record;
    });
    assert.equal(completion.type === "completion" && completion.outcome, "run_error");
    assert.equal(completion.type === "completion" && completion.run_id, "r-err");
  });

  test("sends heartbeat comments while the upstream is quiet", async () => {
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      res.write('event: metadata\ndata: {"run_id":"r-q"}\n\n');
      await sleep(700);
      res.end('event: values\ndata: {"done":true}\n\n');
    };
    const got = await streamRun({ assistant_id: "slow", input: {} });
    assert.ok(got.comments.filter((c) => c.trim() === "heartbeat").length >= 2, `heartbeats: ${JSON.stringify(got.comments)}`);
    assert.equal(got.events.length, 2);
  });

  test("delivers each event as it happens, not when the stream ends", async () => {
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      for (let i = 0; i < 4; i += 1) {
        res.write(`event: custom\ndata: {"i":${i}}\n\n`);
        await sleep(200);
      }
      res.end();
    };
    const got = await streamRun({ assistant_id: "slow", input: {} });
    assert.equal(got.events.length, 4);
    // Had the relay buffered the stream, every event would arrive after ~800 ms.
    assert.ok(got.arrivals[0]! < got.arrivals[3]! - 400, `arrivals ${got.arrivals.map(Math.round).join(", ")}`);
  });

  test("keeps thousands of one-character events in order, none lost", async () => {
    const count = 5000;
    upstream.handle = (_req, res) => {
      sseHeaders(res);
      for (let i = 0; i < count; i += 1) res.write(`event: messages\ndata: [{"content":"${String.fromCharCode(97 + (i % 26))}"},{"i":${i}}]\nid: ${i}\n\n`);
      res.end();
    };
    const got = await streamRun({ assistant_id: "agent", input: {} });
    assert.equal(got.events.length, count);
    got.events.forEach((event, i) => assert.equal(event.id, String(i)));
  });

  test("a client that reconnects with Last-Event-ID while a value was held back gets it whole: nothing lost, nothing twice", async () => {
    // A LangGraph token stream, one character per event; the card number is held back while it
    // streams. The first connection dies mid-number (as an instance does when it is killed); the
    // client resumes from the last id it saw, and the upstream replays what follows.
    const text = "my card is 4111 1111 1111 1111, thanks";
    const cut = text.indexOf("1111 1111,");
    upstream.handle = async (req, res) => {
      const resumeFrom = req.headers["last-event-id"] === undefined ? 0 : Number(req.headers["last-event-id"]) + 1;
      const resumed = req.headers["last-event-id"] !== undefined;
      sseHeaders(res);
      for (let i = resumeFrom; i < text.length; i += 1) {
        if (!resumed && i === cut) {
          await sleep(50);
          res.socket?.destroy();
          return;
        }
        res.write(`event: messages\ndata: [{"content":${JSON.stringify(text[i])},"id":"msg-1","type":"AIMessageChunk"},{"langgraph_node":"echo"}]\nid: ${i}\n\n`);
      }
      res.end();
    };
    const contentOf = (events: EventSourceMessage[]) => events.filter((e) => e.event === "messages").map((e) => (JSON.parse(e.data) as [{ content: string }])[0].content).join("");
    const first = await streamRun({ assistant_id: "agent", input: {} });
    assert.equal(first.events.at(-1)!.event, "error", "the first connection broke off");
    const lastId = first.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    const response = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json", "last-event-id": lastId },
      body: JSON.stringify({ assistant_id: "agent", input: {} }),
    });
    const second: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => second.push(event) });
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) parser.feed(decoder.decode(chunk, { stream: true }));
    const resumedText = contentOf(first.events) + contentOf(second);
    assert.ok(!resumedText.includes("1111"), `no digit of the card reaches the client: ${resumedText}`);
    assert.match(resumedText, /^my card is \S.*, thanks$/);
    const ids = [...first.events, ...second].filter((e) => e.id !== undefined).map((e) => Number(e.id));
    assert.deepEqual(ids, [...new Set(ids)].sort((a, b) => a - b), "every id once, in order");
    // The same stream without the break reads the same.
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      for (let i = 0; i < text.length; i += 1) res.write(`event: messages\ndata: [{"content":${JSON.stringify(text[i])},"id":"msg-1","type":"AIMessageChunk"},{"langgraph_node":"echo"}]\nid: ${i}\n\n`);
      res.end();
    };
    assert.equal(resumedText, contentOf((await streamRun({ assistant_id: "agent", input: {} })).events));
  });

  test("ends the client's stream with event: error when the upstream dies mid-stream", async () => {
    upstream.handle = async (_req, res) => {
      sseHeaders(res);
      res.write('event: metadata\ndata: {"run_id":"r-dead"}\n\n');
      await sleep(50);
      res.socket?.destroy();
    };
    const got = await streamRun({ assistant_id: "agent", input: {} });
    assert.equal(got.events.length, 2);
    assert.equal(got.events[1]!.event, "error");
    assert.equal(JSON.parse(got.events[1]!.data).error, "UpstreamStreamError");
    const requestId = got.headers.get("x-request-id")!;
    await eventually(async () => {
      const completion = (await gateway.recordsFor(requestId)).find((r) => r.type === "completion");
      assert.equal(completion?.type === "completion" && completion.outcome, "upstream_failed");
    });
  });

  test("rewrites an absolute upstream Location to a gateway-relative path", async () => {
    upstream.handle = (_req, res) => {
      sseHeaders(res, { location: `${upstream.url}/threads/11111111-1111-4111-8111-111111111111/runs/99999999-9999-4999-8999-999999999999/stream`, "content-location": "/threads/11111111-1111-4111-8111-111111111111/runs/99999999-9999-4999-8999-999999999999" });
      res.end('event: metadata\ndata: {"run_id":"r-9"}\n\n');
    };
    const got = await streamRun({ assistant_id: "agent", input: {} });
    assert.equal(got.headers.get("location"), "/threads/11111111-1111-4111-8111-111111111111/runs/99999999-9999-4999-8999-999999999999/stream");
    assert.equal(got.headers.get("content-location"), "/threads/11111111-1111-4111-8111-111111111111/runs/99999999-9999-4999-8999-999999999999");
  });
});

describe("/runs/wait relay", () => {
  test("keeps keep-alive newlines flowing while the run executes, then returns the JSON result", async () => {
    upstream.handle = async (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain; charset=UTF-8", "content-location": "/threads/11111111-1111-4111-8111-111111111111/runs/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" });
      res.flushHeaders();
      res.write("\n");
      await sleep(450); // silent upstream: the gateway adds its own keep-alives
      res.end('{"result":"done"}');
    };
    const started = performance.now();
    const response = await fetch(`${gateway.url}/threads/11111111-1111-4111-8111-111111111111/runs/wait`, {
      method: "POST",
      headers: { "x-api-key": gateway.key },
      body: JSON.stringify({ assistant_id: "agent", input: {} }),
    });
    let text = "";
    let firstByteAt = 0;
    for await (const chunk of response.body!) {
      firstByteAt ||= performance.now() - started;
      text += Buffer.from(chunk).toString();
    }
    assert.match(text, /^\n{3,}\{"result":"done"\}$/);
    assert.ok(firstByteAt < 300, `first keep-alive after ${firstByteAt} ms`);
    assert.equal(response.headers.get("content-location"), "/threads/11111111-1111-4111-8111-111111111111/runs/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa");
  });
});

describe("formatEvent", () => {
  test("keeps single-line data byte for byte", () => {
    assert.equal(formatEvent({ event: "values", data: '{"n": 1.0}', id: "3" }), 'event: values\ndata: {"n": 1.0}\nid: 3\n\n');
  });
  test("splits non-JSON multi-line data into data lines", () => {
    assert.equal(formatEvent({ data: "a\nb" }), "data: a\ndata: b\n\n");
  });
});
