// Service accounts made, listed and revoked with the CLI, against the state database a running
// gateway reads: the key works at once, its use is recorded, revocation bites on the next request.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { startScriptedUpstream, type ScriptedUpstream } from "../support/scriptedUpstream.js";
import { startTestGateway, type TestGateway } from "../support/stack.js";
import { CLI_ARGS } from "../support/cli.js";

const run = promisify(execFile);

let upstream: ScriptedUpstream;
let gateway: TestGateway;
let dir: string;
let stateDb: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "portcullis-sa-"));
  stateDb = path.join(dir, "state.db");
  upstream = await startScriptedUpstream();
  gateway = await startTestGateway({ url: upstream.url }, { storage: { sqlite_file: stateDb } });
});
after(async () => {
  await gateway?.close();
  await upstream?.close();
  await rm(dir, { recursive: true, force: true });
});

const portcullis = (...args: string[]) => run(process.execPath, [...CLI_ARGS, ...args, "--state-db", stateDb]);

async function callWith(key: string, header: "authorization" | "x-api-key" = "authorization") {
  const response = await fetch(`${gateway.url}/threads/search`, {
    method: "POST",
    headers: { [header]: header === "authorization" ? `Bearer ${key}` : key, "content-type": "application/json" },
    body: "{}",
  });
  return { status: response.status, body: (await response.json()) as { error?: string; message?: string }, requestId: response.headers.get("x-request-id")! };
}

describe("service accounts from the CLI", () => {
  let key: string;

  test("`service-accounts create` prints the key once and stores only its hash", async () => {
    const { stdout } = await portcullis("service-accounts", "create", "--id", "nightly-eval", "--owner", "ml-platform", "--groups", "ci,evals", "--expires-in-days", "30");
    key = /pcsk_[A-Za-z0-9_-]{43}/.exec(stdout)![0];
    assert.equal(stdout.split(key).length, 2, "the key appears exactly once");
    const database = await readFile(stateDb);
    assert.equal(database.includes(Buffer.from(key)), false, "the key itself is nowhere in the database file");
    const db = new Database(stateDb, { readonly: true });
    const row = db.prepare("SELECT * FROM service_accounts WHERE id = 'nightly-eval'").get() as { key_sha256: string; owner: string; expires_at: string; created_by: string };
    db.close();
    assert.match(row.key_sha256, /^[0-9a-f]{64}$/);
    assert.equal(row.owner, "ml-platform");
    assert.ok(Date.parse(row.expires_at) > Date.now() + 29 * 86_400_000);
    assert.match(row.created_by, /^cli/);
  });

  test("the running gateway accepts the new key at once, as a bearer token or x-api-key, with its groups on the record", async () => {
    const viaBearer = await callWith(key);
    assert.equal(viaBearer.status, 200);
    assert.equal((await callWith(key, "x-api-key")).status, 200);
    const record = (await gateway.recordsFor(viaBearer.requestId)).find((r) => r.type === "request");
    assert.equal(record?.type === "request" && record.identity?.subject, "sa:nightly-eval");
    assert.deepEqual(record?.type === "request" && record.identity?.groups, ["ci", "evals"]);
    assert.equal(record?.type === "request" && record.identity?.owner, "ml-platform");
  });

  test("`service-accounts list` shows status and last use, never the hash", async () => {
    const { stdout } = await portcullis("service-accounts", "list", "--json");
    const [account] = JSON.parse(stdout) as Array<Record<string, unknown>>;
    assert.equal(account!.id, "nightly-eval");
    assert.equal(account!.status, "active");
    assert.ok(typeof account!.last_used_at === "string" && Date.now() - Date.parse(account!.last_used_at) < 60_000, "last use is recorded");
    assert.equal("key_sha256" in account!, false);
    const table = (await portcullis("service-accounts", "list")).stdout;
    assert.match(table, /^ID\s+STATUS\s+OWNER/m);
    assert.match(table, /nightly-eval\s+active\s+ml-platform\s+ci,evals/);
  });

  test("`service-accounts revoke` makes the next request fail with 401, recorded as revoked; nothing is forwarded", async () => {
    await portcullis("service-accounts", "revoke", "--id", "nightly-eval");
    const forwardedBefore = upstream.received.length;
    const refused = await callWith(key);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, "PC_CREDENTIAL_REVOKED");
    assert.equal(upstream.received.length, forwardedBefore);
    const record = (await gateway.recordsFor(refused.requestId)).find((r) => r.type === "request");
    assert.equal(record?.type === "request" && record.error, "PC_CREDENTIAL_REVOKED");
    const { stdout } = await portcullis("service-accounts", "list", "--json");
    assert.equal((JSON.parse(stdout) as Array<{ status: string; revoked_by: string }>)[0]!.status, "revoked");
  });

  test("mistakes are refused with clear errors and exit code 2", async () => {
    const refusals: Array<[string[], RegExp]> = [
      [["service-accounts", "create", "--id", "nightly-eval"], /already exists/],
      [["service-accounts", "create", "--id", "Bad Id"], /--id/],
      [["service-accounts", "create", "--id", "old", "--expires-at", "2001-01-01T00:00:00Z"], /in the past/],
      [["service-accounts", "create", "--id", "both", "--expires-at", "2099-01-01T00:00:00Z", "--expires-in-days", "3"], /not both/],
      [["service-accounts", "revoke", "--id", "nightly-eval"], /already revoked/],
      [["service-accounts", "revoke", "--id", "nobody"], /no service account 'nobody'/],
    ];
    for (const [args, message] of refusals) {
      await assert.rejects(portcullis(...args), (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 2, args.join(" "));
        assert.match(error.stderr, message);
        return true;
      });
    }
  });

  test("an expired key is refused as expired", async () => {
    const { stdout } = await portcullis("service-accounts", "create", "--id", "short-lived", "--expires-in-days", "1");
    const shortKey = /pcsk_[A-Za-z0-9_-]{43}/.exec(stdout)![0];
    assert.equal((await callWith(shortKey)).status, 200);
    const db = new Database(stateDb);
    db.prepare("UPDATE service_accounts SET expires_at = ? WHERE id = 'short-lived'").run(new Date(Date.now() - 1000).toISOString());
    db.close();
    const refused = await callWith(shortKey);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, "PC_CREDENTIAL_EXPIRED");
  });
});
