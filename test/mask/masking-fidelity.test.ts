// Byte fidelity and the runtime's own files. What LangGraph and the client receive is the text
// that was sent, byte for byte, when nothing in it is masked; when something is, only the masked
// strings change (number text, key order and integers past 2^53 stay as written); a repeated key
// is resolved once before anything is inspected. Under the default configuration the LangGraph
// server's own files on disk (its checkpoints and store) hold tokens, never a clear value.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { sdkThroughGateway, startLangGraph, startTestGateway, type TestGateway } from "../support/stack.js";

const EMAIL = "jane.doe@example.com";
const PHONE = "+44 20 7946 0958";
const ADDRESS = "1600 Pennsylvania Avenue NW, Washington, DC 20500";

describe("byte fidelity on the data path", () => {
  let upstream: ScriptedUpstream;
  let gateway: TestGateway;
  before(async () => {
    upstream = await startScriptedUpstream();
    gateway = await startTestGateway({ url: upstream.url });
  });
  after(async () => {
    await gateway?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.received.length = 0;
  });

  const send = (pathname: string, body: string) =>
    fetch(`${gateway.url}${pathname}`, { method: "POST", body, headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json" } });

  it("forwards a body with nothing to mask byte for byte: whitespace, number text, key order, integers past 2^53", async () => {
    const body = '{ "query" : { "total": 4399.50, "id": 12345678901234567890, "2": "b", "1": "a" },\n  "limit": 10 }';
    const res = await send("/store/items/search", body);
    assert.equal(res.status, 200);
    assert.equal(upstream.received.length, 1);
    assert.equal(upstream.received[0]!.body, body);
  });

  it("masks only the strings that hold a value and keeps every other byte", async () => {
    const body = `{ "query" : { "total": 4399.50, "id": 12345678901234567890, "note": "mail ${EMAIL}", "2": "b", "1": "a" },\n  "limit": 10 }`;
    const res = await send("/store/items/search", body);
    assert.equal(res.status, 200);
    const forwarded = upstream.received[0]!.body;
    assert.ok(!forwarded.includes(EMAIL), forwarded);
    assert.match(forwarded, /^\{ "query" : \{ "total": 4399\.50, "id": 12345678901234567890, "note": "mail <EMAIL_ADDRESS_[0-9a-f]{8}>", "2": "b", "1": "a" \},\n {2}"limit": 10 \}$/);
  });

  it("resolves a repeated key once: the upstream reads the value that was inspected, and the shadowed one is not sent", async () => {
    const body = `{"query":{"note":"mail ${EMAIL}"},"query":{"note":"nothing here"},"limit":10}`;
    const res = await send("/store/items/search", body);
    assert.equal(res.status, 200);
    assert.equal(upstream.received[0]!.body, '{"query":{"note":"nothing here"},"limit":10}');
  });

  it("masks every copy of a repeated key in a /runs/wait answer, and keeps the answer's own text", async () => {
    upstream.handle = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`{"messages":[{"content":"call ${PHONE}","total":4399.50}],"messages":[{"content":"mail ${EMAIL}","total":4399.50}]}`);
    };
    try {
      const res = await send("/runs/wait", '{"assistant_id":"echo","input":{}}');
      const text = await res.text();
      assert.equal(res.status, 200);
      assert.ok(!text.includes(PHONE) && !text.includes(EMAIL), text);
      assert.equal(text, '{"messages":[{"content":"call [PHONE_NUMBER]","total":4399.50}],"messages":[{"content":"mail [EMAIL_ADDRESS]","total":4399.50}]}');
    } finally {
      upstream.handle = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      };
    }
  });
});

/** Every file under `dir`, read whole. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    files.set(file, await readFile(file, "latin1"));
  }
  return files;
}

describe("the LangGraph server's own files under the default configuration", () => {
  it("hold tokens for every value sent in inputs, metadata and the store, never a clear value, while the sender reads its values back", async () => {
    const upstream = await startLangGraph();
    let stopped = false;
    try {
      const gateway = await startTestGateway(upstream);
      try {
        const client = sdkThroughGateway(gateway);
        const thread = await client.threads.create({ metadata: { customer_email: EMAIL } });
        const input = `My name is Jane Doe, email ${EMAIL}, phone ${PHONE}, I live at ${ADDRESS}.`;
        const result = (await client.runs.wait(thread.thread_id, "echo", { input: { messages: [{ role: "human", content: input }] } })) as { echoed: string };
        assert.equal(result.echoed, input, "the sender reads its own values back");
        await client.store.putItem(["notes"], "contact", { email: EMAIL, phone: PHONE });
        // The owner reads its own values back from every place they went: thread metadata (the
        // gateway gave the new thread its id, so the tokens belong to it) and the store item.
        assert.equal((await client.threads.get(thread.thread_id)).metadata?.customer_email, EMAIL);
        assert.deepEqual((await client.store.getItem(["notes"], "contact"))?.value, { email: EMAIL, phone: PHONE });
        // Values held as JSON numbers under a key that names them go as tokens too, and come back
        // to the owner as the text they were written in (a token is a string, so they stay strings).
        await client.store.putItem(["notes"], "numbers", { ssn: 473825060, location: { lat: 40.7128, lng: -74.006 } });
        assert.deepEqual((await client.store.getItem(["notes"], "numbers"))?.value, { ssn: "473825060", location: { lat: "40.7128", lng: "-74.006" } });
      } finally {
        await gateway.close();
      }
      // The in-memory server writes its checkpoints, threads and store to disk when it stops.
      await upstream.server.stop();
      stopped = true;
      const files = await filesUnder(upstream.dir);
      const all = [...files.values()].join("\n");
      assert.ok(files.size > 0, "the server wrote its data files");
      assert.match(all, /<EMAIL_ADDRESS_[0-9a-f]{8}>/, "the files hold the tokens");
      for (const clear of [EMAIL, PHONE, "Pennsylvania Avenue", "Jane Doe", "473825060", "40.7128", "74.006"]) {
        const holding = [...files].filter(([, bytes]) => bytes.includes(clear)).map(([file]) => path.relative(upstream.dir, file));
        assert.deepEqual(holding, [], `${clear} is in the server's files`);
      }
    } finally {
      if (!stopped) await upstream.server.stop();
      await upstream.stop();
    }
  });
});
