// The listener as a platform team deploys it: HTTPS with certificates rotated in place, the client
// address behind trusted proxies, readiness that tells the truth, deliberate client timeouts,
// and the answers Node would give by itself (417, 400 without Host, CONNECT, parser errors)
// given and recorded by the gateway instead, never over an answer in flight.
import assert from "node:assert/strict";
import { writeFile, chmod, mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { connect as connectNet } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { connect as connectTls } from "node:tls";
import { pino } from "pino";
import { generate } from "selfsigned";
import { Agent, request } from "undici";
import { checkStartPrerequisites } from "../../src/cli/prerequisites.js";
import { parseConfig } from "../../src/config/load.js";
import { generateApiKey } from "../../src/identify/serviceAccounts.js";
import { createMasker } from "../../src/mask/index.js";
import { maskedLogOptions } from "../../src/mask/logs.js";
import { TrustedProxies } from "../../src/receive/clientAddress.js";
import { UpstreamClient } from "../../src/forward/upstream.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { startPostgres } from "../support/postgres.js";
import { rawRequest, statusOf } from "../support/rawHttp.js";
import { startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { eventually, startTestGateway, type TestGateway } from "../support/stack.js";

let dir: string;
let upstream: ScriptedUpstream;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-listener-"));
  upstream = await startScriptedUpstream();
});

after(async () => {
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

const requestRecords = async (gateway: TestGateway) => (await gateway.audit()).filter((record): record is RequestRecord => record.type === "request");

async function certificate(commonName: string): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: "commonName", value: commonName }], { keyType: "ec", curve: "P-256", algorithm: "sha256" } as Parameters<typeof generate>[1]);
  return { cert: pems.cert, key: pems.private };
}

/** Writes a request that never completes and resolves with what came back once the gateway closes. */
function writeThenWaitForClose(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectNet(Number(port), hostname);
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.once("close", () => resolve(received));
    socket.once("error", reject);
    socket.write(bytes);
  });
}

/** The subject CN of the certificate the listener presents now. */
function presentedName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    socket.once("error", reject);
  });
}

describe("HTTPS on the listener", () => {
  test("serves TLS with the configured certificate and reloads it in place when the files change", async () => {
    const first = await certificate("portcullis-first");
    const certFile = path.join(dir, "tls.crt");
    const keyFile = path.join(dir, "tls.key");
    await writeFile(certFile, first.cert);
    await writeFile(keyFile, first.key, { mode: 0o600 });
    const gateway = await startTestGateway({ url: upstream.url }, { listen: { host: "127.0.0.1", port: 0, tls: { cert_file: certFile, key_file: keyFile } } });
    try {
      assert.match(gateway.url, /^https:\/\//);
      const trusting = new Agent({ connect: { ca: first.cert, servername: "portcullis-first", checkServerIdentity: () => undefined } });
      const health = await request(`${gateway.url}/healthz`, { dispatcher: trusting });
      assert.equal(health.statusCode, 200);
      await health.body.dump();
      await trusting.close();
      // Plain HTTP on the TLS port is not served.
      assert.equal(statusOf(await rawRequest(gateway.url.replace("https", "http"), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2_000)), 0);

      // A broken rotation keeps the last good certificate.
      await writeFile(certFile, "not a certificate");
      const second = await certificate("portcullis-second");
      assert.equal(await presentedName(gateway.url), "portcullis-first");
      await writeFile(keyFile, second.key, { mode: 0o600 });
      await writeFile(certFile, second.cert);
      await eventually(async () => assert.equal(await presentedName(gateway.url), "portcullis-second"), 15_000);
    } finally {
      await gateway.close();
    }
  });

  test("an approved request is sent through the gateway's own TLS listener", async () => {
    const own = await certificate("gateway.example.com");
    const certFile = path.join(dir, "approvals.crt");
    const keyFile = path.join(dir, "approvals.key");
    await writeFile(certFile, own.cert);
    await writeFile(keyFile, own.key, { mode: 0o600 });
    const policyFile = path.join(dir, "searches-need-approval.yaml");
    await writeFile(
      policyFile,
      'version: 1\nrules:\n  - id: everyone\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\n  - id: searches-need-approval\n    effect: require-approval\n    subjects: "*"\n    actions: [assistants:read]\n    approval: { approver_groups: [approvers] }\n',
    );
    const approver = generateApiKey();
    const gateway = await startTestGateway(
      { url: upstream.url },
      {
        listen: { host: "127.0.0.1", port: 0, tls: { cert_file: certFile, key_file: keyFile } },
        policy: { file: policyFile, watch: false },
        identity: { service_accounts: [{ id: "approver", key_sha256: approver.sha256, groups: ["approvers"] }] },
      },
    );
    const trusting = new Agent({ connect: { ca: own.cert, checkServerIdentity: () => undefined } });
    const call = async (who: string, method: string, target: string) => {
      const answer = await request(`${gateway.url}${target}`, { method: method as "GET", dispatcher: trusting, headers: { authorization: `Bearer ${who}`, "content-type": "application/json", prefer: "respond-async" }, ...(method === "POST" ? { body: "{}" } : {}) });
      return { status: answer.statusCode, json: (await answer.body.json()) as { approval_id?: string; status_url?: string; result?: { status: number } | null } };
    };
    try {
      const held = await call(gateway.key, "POST", "/assistants/search");
      assert.equal(held.status, 202);
      assert.equal((await call(approver.key, "POST", `/portcullis/approvals/${held.json.approval_id}/approve`)).status, 200);
      const done = await eventually(async () => {
        const view = await call(gateway.key, "GET", new URL(held.json.status_url!).pathname);
        assert.equal(view.json.result?.status, 200, JSON.stringify(view.json));
        return view;
      }, 15_000);
      assert.equal(done.json.result?.status, 200);
      assert.ok(upstream.received.some((r) => r.url === "/assistants/search"), "the approved request reached the upstream");
    } finally {
      await trusting.close();
      await gateway.close();
    }
  });

  test("a certificate that does not load stops the start with a clear error", async () => {
    const certFile = path.join(dir, "broken.crt");
    await writeFile(certFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    await assert.rejects(
      startTestGateway({ url: upstream.url }, { listen: { host: "127.0.0.1", port: 0, tls: { cert_file: certFile, key_file: path.join(dir, "missing.key") } } }),
      /listen\.tls\.key_file: cannot read .*missing\.key: ENOENT/,
    );
  });
});

describe("the client address behind trusted proxies", () => {
  test("believes X-Forwarded-For and Forwarded only from trusted peers, walking from the right", () => {
    const proxies = new TrustedProxies(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
    const from = (peer: string, headers: Record<string, string>, through = proxies) => through.resolve({ socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage);
    assert.deepEqual(from("127.0.0.1", { "x-forwarded-for": "198.51.100.9, 203.0.113.7, 10.1.2.3" }), { address: "203.0.113.7", forwardedAsSent: "198.51.100.9, 203.0.113.7, 10.1.2.3", forwardedBelieved: true });
    // Only the header the proxies write is believed: a client's own Forwarded passes through
    // balancers that append to X-Forwarded-For.
    assert.deepEqual(from("127.0.0.1", { forwarded: "for=10.0.0.5", "x-forwarded-for": "203.0.113.7" }).address, "203.0.113.7");
    assert.deepEqual(from("127.0.0.1", { forwarded: "for=10.0.0.5" }), { address: "127.0.0.1", forwardedAsSent: "for=10.0.0.5", forwardedBelieved: false });
    const standard = new TrustedProxies(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"], "forwarded");
    assert.equal(from("::ffff:127.0.0.1", { forwarded: 'for=192.0.2.60;proto=http, for="[fd00::1]:4711"' }, standard).address, "192.0.2.60");
    // An element without for= names no hop: the walk stops at the last trusted one.
    assert.equal(from("127.0.0.1", { forwarded: "for=192.0.2.60, proto=https;host=gw" }, standard).address, "127.0.0.1");
    assert.deepEqual(from("198.51.100.1", { "x-forwarded-for": "203.0.113.7" }), { address: "198.51.100.1", forwardedAsSent: "203.0.113.7", forwardedBelieved: false });
    // A hop that is not an address ends the walk at the last trusted hop.
    assert.equal(from("127.0.0.1", { "x-forwarded-for": "203.0.113.7, unknown" }).address, "127.0.0.1");
    assert.equal(from("127.0.0.1", {}).address, "127.0.0.1");
  });

  test("policy conditions and records use the resolved address; untrusted forwarding is recorded as sent", async () => {
    const policyFile = path.join(dir, "from-office.yaml");
    await writeFile(policyFile, 'version: 1\nrules:\n  - id: office-only\n    effect: allow\n    subjects: "*"\n    actions: ["*"]\n    scope: any\n    when: request.source_ip == "203.0.113.7"\n');
    const trusting = await startTestGateway({ url: upstream.url }, { policy: { file: policyFile, watch: false }, listen: { host: "127.0.0.1", port: 0, trusted_proxies: ["127.0.0.1"] } });
    const untrusting = await startTestGateway({ url: upstream.url }, { policy: { file: policyFile, watch: false } });
    try {
      const call = (gateway: TestGateway) =>
        request(`${gateway.url}/assistants/search`, { method: "POST", headers: { authorization: `Bearer ${gateway.key}`, "content-type": "application/json", "x-forwarded-for": "203.0.113.7" }, body: "{}" });
      const allowed = await call(trusting);
      await allowed.body.dump();
      assert.equal(allowed.statusCode, 200);
      const refused = await call(untrusting);
      await refused.body.dump();
      assert.equal(refused.statusCode, 403);

      const believed = (await requestRecords(trusting)).find((r) => r.path === "/assistants/search")!;
      assert.deepEqual(believed.client.forwarded, { as_sent: "203.0.113.7", believed: true });
      assert.equal(believed.client.address, "203.0.113.7");
      const ignored = (await requestRecords(untrusting)).find((r) => r.path === "/assistants/search")!;
      assert.equal(ignored.client.address, "127.0.0.1");
      assert.deepEqual(ignored.client.forwarded, { as_sent: "203.0.113.7", believed: false });
    } finally {
      await trusting.close();
      await untrusting.close();
    }
  });
});

describe("readiness", () => {
  test("/readyz is ready only while the upstream answers; /healthz stays live", async () => {
    const own = await startScriptedUpstream();
    const gateway = await startTestGateway({ url: own.url });
    try {
      const ready = await request(`${gateway.url}/readyz`);
      const readyBody = (await ready.body.json()) as { status: string; checks: Record<string, { ok: boolean }> };
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(Object.fromEntries(Object.entries(readyBody.checks).map(([name, check]) => [name, check.ok])), { policy: true, audit_store: true, upstream: true });
      assert.ok(own.received.some((r) => r.url === "/ok"), "readiness asks the upstream's /ok");

      await own.close();
      await eventually(async () => {
        const down = await request(`${gateway.url}/readyz`);
        const body = (await down.body.json()) as { status: string; checks: { upstream: { ok: boolean; detail: string } } };
        assert.equal(down.statusCode, 503);
        assert.equal(body.status, "not ready");
        assert.match(body.checks.upstream.detail, /unreachable \(ECONNREFUSED\)/);
      });
      const live = await request(`${gateway.url}/healthz`);
      await live.body.dump();
      assert.equal(live.statusCode, 200);
    } finally {
      await gateway.close();
    }
  });

  test("/readyz is not ready while the audit store cannot be reached", async () => {
    const postgres = await startPostgres();
    process.env.PORTCULLIS_TEST_READY_PG = postgres.url;
    const gateway = await startTestGateway(
      { url: upstream.url },
      { audit: { store: { kind: "postgres", url: { env: "PORTCULLIS_TEST_READY_PG" }, schema: "readyz" }, signing_key_file: path.join(dir, "readyz-key.pem") } },
    );
    try {
      const ready = await request(`${gateway.url}/readyz`);
      await ready.body.dump();
      assert.equal(ready.statusCode, 200);
      await postgres.stop();
      await eventually(async () => {
        const down = await request(`${gateway.url}/readyz`);
        const body = (await down.body.json()) as { checks: { audit_store: { ok: boolean } } };
        assert.equal(down.statusCode, 503);
        assert.equal(body.checks.audit_store.ok, false);
      }, 15_000);
    } finally {
      await gateway.close().catch(() => undefined);
      delete process.env.PORTCULLIS_TEST_READY_PG;
    }
  });
});

describe("answers Node would give by itself are the gateway's, and recorded", () => {
  let gateway: TestGateway;
  before(async () => {
    gateway = await startTestGateway({ url: upstream.url }, { listen: { host: "127.0.0.1", port: 0, timeouts: { headers_ms: 1_000, request_ms: 2_000, keep_alive_ms: 1_000 } } });
  });
  after(() => gateway.close());

  const recordedWith = async (status: number, method: string) =>
    eventually(async () => {
      const record = (await requestRecords(gateway)).find((r) => r.status === status && r.method === method);
      assert.ok(record, `a ${method} record with status ${status}`);
      return record;
    });

  test("an unknown Expect gets 417 and a record", async () => {
    const answer = await rawRequest(gateway.url, `POST /threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}`);
    assert.equal(statusOf(answer), 417);
    const record = await recordedWith(417, "POST");
    assert.equal(record.error, "PC_BAD_REQUEST");
    assert.ok(!upstream.received.some((r) => r.url === "/threads" && r.method === "POST"));
  });

  test("an HTTP/1.1 request without Host gets 400 and a record", async () => {
    const answer = await rawRequest(gateway.url, "GET /info HTTP/1.1\r\n\r\n");
    assert.equal(statusOf(answer), 400);
    assert.match(answer, /needs a Host header/);
    assert.ok((await requestRecords(gateway)).some((r) => r.status === 400 && r.path === "/info"));
  });

  test("CONNECT gets 405 and a record", async () => {
    const answer = await rawRequest(gateway.url, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert.equal(statusOf(answer), 405);
    const record = await recordedWith(405, "CONNECT");
    assert.equal(record.error, "PC_METHOD_NOT_ALLOWED");
  });

  test("bytes the parser rejects after a request never replace that request's answer", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    upstream.handle = async (_req, res) => {
      await held;
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"thread_id":"created-upstream"}');
    };
    try {
      const answer = rawRequest(gateway.url, `POST /threads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}\x00\x01garbage that is not HTTP\r\n\r\n`, 10_000);
      await eventually(async () => assert.ok(upstream.received.some((r) => r.url === "/threads" && r.method === "POST"), "not yet: upstream.received.some((r) => r.url === \"/threads\" && r.method === \"POST\")"));
      // The parser error is recorded while the create is still in flight.
      await eventually(async () => assert.ok((await requestRecords(gateway)).some((r) => r.status === 400 && r.method === "" && r.error === "PC_BAD_REQUEST"), "not yet: (await requestRecords(gateway)).some((r) => r.status === 400 && r.method === \"\" && r.er..."));
      release();
      const raw = await answer;
      assert.equal(statusOf(raw), 200, raw);
      assert.match(raw, /created-upstream/);
      assert.equal((raw.match(/^HTTP\/1\.1 /gm) ?? []).length, 1, "one answer on the connection");
    } finally {
      upstream.handle = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      };
    }
  });

  test("a client that stalls its body is cut off after listen.timeouts.request_ms, and its request is recorded", async () => {
    const before = (await requestRecords(gateway)).length;
    const forwardedBefore = upstream.received.length;
    const closed = await writeThenWaitForClose(gateway.url, `POST /assistants/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gateway.key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"metadata":`);
    assert.equal(closed, "", "nothing is written over the request the stalled body belongs to");
    await eventually(async () => {
      const added = (await requestRecords(gateway)).slice(before);
      assert.ok(added.some((r) => r.status === 408 && /Not sent/.test(r.decision.reason ?? "")), "the timeout is recorded");
      assert.ok(added.some((r) => r.method === "POST" && r.path === "/assistants/search"), "the stalled request is recorded");
    });
    assert.ok(!upstream.received.slice(forwardedBefore).some((r) => r.url === "/assistants/search"), "nothing was forwarded");
  });

  test("a client that never finishes its headers is cut off after listen.timeouts.headers_ms, with a record", async () => {
    const before = (await requestRecords(gateway)).length;
    const closed = await writeThenWaitForClose(gateway.url, "GET /info HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    assert.equal(statusOf(closed), 408);
    assert.ok((await requestRecords(gateway)).slice(before).some((r) => r.status === 408));
  });
});

describe("operator logs", () => {
  test("keep the address of a connection the gateway dialled, and still mask client data", async () => {
    const masker = await createMasker(parseConfig({ upstream: { url: "http://127.0.0.1:1" } }).masking);
    const lines: string[] = [];
    const log = pino({ base: null, ...maskedLogOptions(masker) }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    const closed = new UpstreamClient(new URL("http://127.0.0.1:9"), { connectTimeoutMs: 2_000, responseTimeoutMs: 2_000 });
    const failure = await closed.send({ method: "GET", pathAndQuery: "/ok", headers: {}, signal: AbortSignal.timeout(5_000) }).catch((error: unknown) => error);
    await closed.destroy();
    log.error({ err: failure, note: "client wrote alice@example.com from 198.51.100.23" }, "request failed");
    const line = lines.join("");
    assert.match(line, /"dialled":\["127\.0\.0\.1:9"\]/);
    assert.match(line, /ECONNREFUSED 127\.0\.0\.1:9/);
    assert.doesNotMatch(line, /alice@example\.com/);
    assert.doesNotMatch(line, /198\.51\.100\.23/);
  });
});

describe("start prerequisites (config check)", () => {
  test("refuse a secret file others can read, and an invalid policy, naming the field", async () => {
    const secretFile = path.join(dir, "langgraph.key");
    await writeFile(secretFile, "secret-value");
    await chmod(secretFile, 0o644);
    const config = parseConfig({
      upstream: { url: "http://127.0.0.1:1", credential: { secret: { file: secretFile } } },
      storage: { sqlite_file: path.join(dir, "prereq", "state.db") },
      audit: { store: { kind: "sqlite", file: path.join(dir, "prereq", "ledger.db") }, signing_key_file: path.join(dir, "prereq", "key.pem") },
    });
    await assert.rejects(checkStartPrerequisites(config), /upstream\.credential\.secret: .*langgraph\.key has mode 0644.*chmod 600/);
    await chmod(secretFile, 0o600);
    assert.deepEqual((await checkStartPrerequisites(config)).slice(0, 2), ["policy (built-in default)", "1 secret readable"]);

    const policyFile = path.join(dir, "bad-policy.yaml");
    await writeFile(policyFile, "version: 1\nrules:\n  - id: x\n    effect: maybe\n");
    await assert.rejects(checkStartPrerequisites({ ...config, policy: { file: policyFile, watch: false } }), /bad-policy\.yaml/);
  });
});
