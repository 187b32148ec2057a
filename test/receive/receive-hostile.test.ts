// The receive stage against hostile requests: bodies nested deep enough to stall the event loop,
// bodies on methods and routes that take none, numbers JSON cannot carry, and request heads that
// Node would silently truncate or that LangGraph would refuse once the gateway adds its headers.
// Each is refused with a clear error, recorded, and never reaches LangGraph.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { JsonDepthScanner } from "../../src/receive/jsonDepth.js";
import type { AuditRecord } from "../../src/record/auditRecord.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startRecordingProxy, type RecordingProxy } from "../support/recordingProxy.js";
import { eventually, startLangGraph, startTestGateway, type TestGateway, type Upstream } from "../support/stack.js";

type Text = string | { repeat: string; times: number } | Text[];
type Header = [string, Text] | { repeat: [string, Text]; times: number };
interface HostileRequest {
  name: string;
  request: { method: string; target: string; headers?: Header[]; body?: Text };
  status: number;
  code: string;
  message?: string;
}

const corpus = JSON.parse(readFileSync(new URL("../fixtures/hostile-requests.json", import.meta.url), "utf8")) as { requests: HostileRequest[] };

function textOf(text: Text): string {
  if (typeof text === "string") return text;
  if (Array.isArray(text)) return text.map(textOf).join("");
  return text.repeat.repeat(text.times);
}

function headerLines(headers: Header[]): string[] {
  return headers.flatMap((header) => {
    const [name, value] = Array.isArray(header) ? header : header.repeat;
    const line = `${name}: ${textOf(value)}\r\n`;
    return Array.isArray(header) ? [line] : Array<string>(header.times).fill(line);
  });
}

/** The request exactly as the fixture describes it, from a caller holding a valid key. */
function rawBytesOf({ request }: HostileRequest, key: string): string {
  const headers = request.headers ?? [];
  const body = request.body === undefined ? "" : textOf(request.body);
  const framed = headers.some((header) => Array.isArray(header) && /^(content-length|transfer-encoding)$/i.test(header[0]));
  const lines = [`Host: gateway\r\n`, `Connection: close\r\n`, `Authorization: Bearer ${key}\r\n`, ...headerLines(headers)];
  if (body !== "" && !framed) lines.push(`Content-Length: ${Buffer.byteLength(body)}\r\n`);
  return `${request.method} ${request.target} HTTP/1.1\r\n${lines.join("")}\r\n${body}`;
}

function requestIdOf(raw: string): string {
  const id = /\r\nx-request-id: (\S+)/i.exec(raw)?.[1];
  assert.ok(id, `no x-request-id in: ${raw.slice(0, 200)}`);
  return id;
}

function errorBodyOf(raw: string): { error: string; message: string } | undefined {
  const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
  return body === "" ? undefined : (JSON.parse(body) as { error: string; message: string });
}

describe("JsonDepthScanner", () => {
  test("stops at the byte that goes past the limit and scans no further chunk", () => {
    const depth = 1_000_000;
    const body = Buffer.from(`${"[".repeat(depth)}${"]".repeat(depth)}`);
    const scanner = new JsonDepthScanner(512);
    let chunksScanned = 0;
    for (let offset = 0; offset < body.length; offset += 64 * 1024) {
      chunksScanned += 1;
      if (!scanner.scan(body.subarray(offset, offset + 64 * 1024))) break;
    }
    assert.equal(chunksScanned, 1);
    assert.equal(scanner.exceeded, true);
    assert.equal(scanner.scannedBytes, 513);
    assert.equal(scanner.scan(Buffer.from("]")), false, "a scanner past its limit stays refused");
  });

  test("allows exactly the limit, counting arrays and objects alike", () => {
    const atLimit = `${'{"a":['.repeat(3)}1${"]}".repeat(3)}`;
    assert.equal(new JsonDepthScanner(6).scan(Buffer.from(atLimit)), true);
    assert.equal(new JsonDepthScanner(5).scan(Buffer.from(atLimit)), false);
  });

  test("closing brackets give levels back, so siblings do not add up", () => {
    assert.equal(new JsonDepthScanner(2).scan(Buffer.from(`[${"[],".repeat(1000)}[]]`)), true);
  });

  test("brackets inside strings do not count, escaped quotes and backslashes included", () => {
    const text = String.raw`{"a":"[[[{{{\"[[[\\","b":"\\\"[[","c":[1]}`;
    assert.deepEqual(JSON.parse(text), { a: '[[[{{{"[[[\\', b: '\\"[[', c: [1] });
    assert.equal(new JsonDepthScanner(2).scan(Buffer.from(text)), true);
    assert.equal(new JsonDepthScanner(1).scan(Buffer.from(text)), false);
  });

  test("a string and its escapes split across chunk boundaries, down to single bytes", () => {
    const text = Buffer.from(String.raw`["\"]]]]\\", "é[[[\\\\\"[[", "\\\\", [[1]]]`);
    assert.equal(JSON.parse(text.toString()).length, 4);
    const scanner = new JsonDepthScanner(3);
    for (const byte of text) assert.equal(scanner.scan(Uint8Array.of(byte)), true);
    const tight = new JsonDepthScanner(2);
    assert.equal([...text].every((byte) => tight.scan(Uint8Array.of(byte))), false);
    for (let split = 0; split <= text.length; split += 1) {
      const fits = new JsonDepthScanner(3);
      assert.equal(fits.scan(text.subarray(0, split)) && fits.scan(text.subarray(split)), true, `split at ${split}`);
      const over = new JsonDepthScanner(2);
      assert.equal(over.scan(text.subarray(0, split)) && over.scan(text.subarray(split)), false, `split at ${split}`);
    }
  });
});

describe("hostile requests against the real LangGraph server", () => {
  let langgraph: Upstream;
  let proxy: RecordingProxy;
  let gateway: TestGateway;
  before(async () => {
    langgraph = await startLangGraph();
    proxy = await startRecordingProxy(langgraph.url);
    gateway = await startTestGateway({ url: proxy.url, key: langgraph.key });
  });
  after(async () => {
    await gateway?.close();
    await proxy?.close();
    await langgraph?.stop();
  });
  beforeEach(() => proxy.clear());

  async function assertRefusalRecorded(requestId: string, status: number, code: string): Promise<void> {
    const records = await eventually(async () => {
      const found = await gateway.recordsFor(requestId);
      assert.equal(found.length, 1, "a refused request has exactly one record");
      return found;
    });
    const record = records[0] as AuditRecord & { type: "request" };
    assert.equal(record.type, "request");
    assert.equal(record.status, status);
    assert.equal(record.error, code);
    assert.equal(record.decision.effect, "deny");
    assert.equal(record.decision.rule, `gateway:${code}`);
  }

  for (const entry of corpus.requests) {
    test(`refuses ${entry.name} with ${entry.status} ${entry.code}, records it, forwards nothing`, async () => {
      const raw = await rawRequest(gateway.url, rawBytesOf(entry, gateway.key));
      assert.equal(statusOf(raw), entry.status, `answered: ${raw.slice(0, 300) || "(nothing)"}`);
      const requestId = requestIdOf(raw);
      // A HEAD answer carries no body (RFC 9110 §9.3.2): its code is read from the record alone.
      const body = errorBodyOf(raw);
      if (entry.request.method !== "HEAD") {
        assert.equal(body?.error, entry.code);
        if (entry.message) assert.match(body!.message, new RegExp(entry.message));
      }
      await assertRefusalRecorded(requestId, entry.status, entry.code);
      assert.deepEqual(proxy.requests, [], "nothing reached LangGraph");
    });
  }

  test("a GET may declare Content-Length: 0 and is forwarded without a body; one byte of body is refused", async () => {
    const get = (length: number) =>
      rawRequest(gateway.url, `GET /ok HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nAuthorization: Bearer ${gateway.key}\r\nContent-Length: ${length}\r\n\r\n${" ".repeat(length)}`);
    assert.equal(statusOf(await get(0)), 200);
    assert.deepEqual(
      proxy.requests.map((request) => [request.method, request.url, request.body]),
      [["GET", "/ok", ""]],
    );
    proxy.clear();
    assert.equal(statusOf(await get(1)), 400);
    assert.deepEqual(proxy.requests, []);
  });

  test("DELETE /store/items keeps its body (LangGraph reads namespace and key from it); DELETE of a thread may not have one", async () => {
    const item = { namespace: ["receive-hostile"], key: "k1" };
    const put = await fetch(`${gateway.url}/store/items`, { method: "PUT", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" }, body: JSON.stringify({ ...item, value: { n: 1 } }) });
    assert.equal(put.status, 204);
    const deleted = await fetch(`${gateway.url}/store/items`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" }, body: JSON.stringify(item) });
    assert.equal(deleted.status, 204);
    assert.deepEqual(JSON.parse(proxy.requests.find((request) => request.method === "DELETE")!.body), item);

    proxy.clear();
    const thread = await fetch(`${gateway.url}/threads/6f1c1a4e-3c52-4c2e-9f4a-1d2b3c4d5e6f`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(thread.status, 400);
    assert.equal(((await thread.json()) as { error: string }).error, "PC_BAD_REQUEST");
    assert.deepEqual(proxy.requests, []);
  });

  test("accepts a body nested exactly limits.max_json_depth deep and refuses one level more", async () => {
    const nested = (depth: number) => `{"metadata":{"deep":${"[".repeat(depth - 2)}${"]".repeat(depth - 2)}}}`;
    const send = (body: string) => fetch(`${gateway.url}/threads/search`, { method: "POST", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" }, body });
    const atLimit = await send(nested(512));
    assert.equal(atLimit.status, 200, await atLimit.text());
    assert.equal(proxy.requests.length, 1, "the body at the limit was forwarded");
    proxy.clear();
    const over = await send(nested(513));
    assert.equal(over.status, 400);
    assert.match(((await over.json()) as { message: string }).message, /more than 512 levels/);
    assert.deepEqual(proxy.requests, []);
  });

  test("accepts exactly limits.max_headers header fields and refuses one more", async () => {
    const withFields = (count: number) =>
      `GET /ok HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nAuthorization: Bearer ${gateway.key}\r\n${"X-Pad: 1\r\n".repeat(count - 3)}\r\n`;
    assert.equal(statusOf(await rawRequest(gateway.url, withFields(100))), 200);
    assert.equal(proxy.requests.length, 1);
    proxy.clear();
    assert.equal(statusOf(await rawRequest(gateway.url, withFields(101))), 431);
    assert.deepEqual(proxy.requests, []);
  });

  test("accepts a head of exactly limits.max_header_bytes and refuses one byte more", async () => {
    const limit = gateway.config.limits.max_header_bytes;
    assert.equal(limit, 16 * 1024 - 2 * 1024, "the default leaves 2 KiB of Node's 16 KiB for the gateway's own headers");
    const headOf = (userAgent: string) => `GET /ok HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nAuthorization: Bearer ${gateway.key}\r\nUser-Agent: ${userAgent}\r\n\r\n`;
    const exact = headOf("a".repeat(limit - headOf("").length));
    assert.equal(exact.length, limit);
    assert.equal(statusOf(await rawRequest(gateway.url, exact)), 200);
    assert.equal(proxy.requests.length, 1);
    proxy.clear();
    const over = await rawRequest(gateway.url, headOf("a".repeat(limit - headOf("").length + 1)));
    assert.equal(statusOf(over), 431);
    assert.match(errorBodyOf(over)!.message, new RegExp(`are ${limit + 1} bytes, over the ${limit}-byte limit`));
    assert.deepEqual(proxy.requests, []);
  });
});
