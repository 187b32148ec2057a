// The witness (c2sp.org/tlog-witness) as its own process, `portcullis witness serve`, and a
// gateway ledger that sends it every checkpoint. The protocol's answers are checked request by
// request; then the attacks a store alone cannot reveal (the newest records dropped and the
// smaller tree re-signed with the log's own key, a rewrite, a dropped tail without the key) are
// named by `verifyStore` / `portcullis verify --trusted-witness`.
import assert from "node:assert/strict";
import { spawn, type ChildProcess, execFile } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { pino } from "pino";
import { Ledger } from "../../src/ledger/ledger.js";
import { consistencyProof, EMPTY_ROOT, rootOf } from "../../src/ledger/merkle.js";
import { exportEvidence } from "../../src/ledger/export.js";
import { cosignatureSigner, ed25519NoteSigner, formatCheckpoint, openNote, parseVerifierKey, signNote } from "../../src/ledger/note.js";
import { main as verifyMain } from "../../src/ledger/standaloneVerifier.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { StoredCheckpoint } from "../../src/ledger/store.js";
import { verifyStore } from "../../src/ledger/verifyStore.js";
import type { RequestRecord } from "../../src/record/auditRecord.js";
import { CLI_ARGS } from "../support/cli.js";

const ORIGIN = "portcullis.test/witnessed";
const STALE_ORIGIN = "portcullis.test/stale";
const WITNESS_NAME = "witness.test/w1";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "pc-witness-"));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface WitnessProcess {
  child: ChildProcess;
  url: string;
  vkey: string;
}

async function startWitnessProcess(logs: string[]): Promise<WitnessProcess> {
  const store = path.join(dir, `witness-${randomBytes(4).toString("hex")}.db`);
  const args = [...CLI_ARGS, "witness", "serve", "--name", WITNESS_NAME, "--key-file", path.join(dir, "witness.pem"), "--store", store, "--listen", "127.0.0.1:0", ...logs.flatMap((log) => ["--log", log])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`portcullis witness exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith('{"ready":true')) resolve({ child, ...(JSON.parse(line) as { url: string; vkey: string }) });
    });
  });
}

function record(n: number): RequestRecord {
  return {
    type: "request",
    request_id: `req-${n}`,
    time: new Date().toISOString(),
    client: { address: "10.0.0.7", user_agent: "test" },
    query: "",
    identity: { subject: "sa:ci", kind: "service-account", groups: [], auth_method: "api-key", credential_id: "sa:ci#1" },
    method: "POST",
    path: "/threads/search",
    operation: null,
    decision: { effect: "allow", rule: "allow-all" },
    status: 200,
  } as RequestRecord;
}

interface WitnessedLedger {
  file: string;
  keyFile: string;
  ledger: Ledger;
}

/** A gateway ledger on SQLite whose checkpoints go to `witness`. */
async function openWitnessed(witness: WitnessProcess, name: string, origin = ORIGIN): Promise<WitnessedLedger> {
  const file = path.join(dir, `${name}.db`);
  const keyFile = path.join(dir, "log.pem");
  const ledger = await Ledger.open({
    origin,
    store: new SqliteLedgerStore(file),
    keyFile,
    log: pino({ level: "silent" }),
    checkpointIntervalMs: 60_000,
    heartbeatIntervalMs: 60_000,
    maxBatch: 16,
    witnesses: [{ url: witness.url, vkey: witness.vkey }],
  });
  return { file, keyFile, ledger };
}

async function verified(file: string, witness: WitnessProcess, at: { nowMs?: number; maxAgeMs?: number } = {}, origin = ORIGIN) {
  const store = new SqliteLedgerStore(file);
  try {
    return await verifyStore(store, origin, { witnesses: { vkeys: [witness.vkey], quorum: 1, maxAgeMs: at.maxAgeMs ?? 120_000, ...(at.nowMs !== undefined ? { nowMs: at.nowMs } : {}) } });
  } finally {
    await store.close();
  }
}

async function post(url: string, body: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${url}/add-checkpoint`, { method: "POST", body });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

describe("the witness protocol (portcullis witness serve)", () => {
  let logKey: ReturnType<typeof ed25519NoteSigner>;
  let store: SqliteLedgerStore;
  let ledger: Ledger;
  const witnesses: WitnessProcess[] = [];

  before(async () => {
    logKey = ed25519NoteSigner("protocol.test/log", generateKeyPairSync("ed25519").privateKey);
    // A real ledger supplies trees and consistency proofs; its own checkpoints are not used here.
    store = new SqliteLedgerStore(path.join(dir, "protocol.db"));
    ledger = await Ledger.open({ origin: "protocol.test/log", store, keyFile: path.join(dir, "protocol.pem"), log: pino({ level: "silent" }), checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 16 });
    for (let i = 0; i < 20; i++) await ledger.append(record(i));
  });
  after(async () => {
    for (const witness of witnesses) witness.child.kill("SIGTERM");
    await ledger?.close();
  });

  /** Each test gets its own witness, with its own store: no test depends on another's state. */
  const freshWitness = async () => {
    const witness = await startWitnessProcess([`protocol.test/log ${logKey.verifierKey()}`]);
    witnesses.push(witness);
    return witness;
  };
  const checkpointAt = async (size: number, signer = logKey) => {
    const hashes: Buffer[] = [];
    for await (const page of store.entryPages("protocol.test/log", 0, size)) for (const entry of page) hashes.push(entry.leafHash);
    const root = size === 0 ? EMPTY_ROOT : rootOf(hashes);
    return signNote(formatCheckpoint({ origin: "protocol.test/log", size, root }), [signer]);
  };
  const proof = async (from: number, to: number) => (await consistencyProof(from, to, store.nodes("protocol.test/log"))).map((hash) => `${hash.toString("base64")}\n`).join("");
  /** A witness that has cosigned size 8. */
  const witnessAt8 = async () => {
    const witness = await freshWitness();
    assert.equal((await post(witness.url, `old 0\n\n${await checkpointAt(8)}`)).status, 200);
    return witness;
  };

  test("cosigns a first checkpoint from old 0 with a timestamped cosignature of its key", async () => {
    const witness = await freshWitness();
    const note = await checkpointAt(8);
    const res = await post(witness.url, `old 0\n\n${note}`);
    assert.equal(res.status, 200, res.text);
    assert.match(res.text, new RegExp(`^\u2014 ${WITNESS_NAME.replace("/", "\\/")} [A-Za-z0-9+/=]+\n$`));
    const opened = openNote(`${note}${res.text}`, [parseVerifierKey(witness.vkey)]);
    assert.equal(opened.verified.length, 1);
    assert.ok(Math.abs(opened.verified[0]!.timestamp! - Date.now() / 1000) < 60, "the cosignature carries the time it was made");
  });

  test("answers 409 with its size as text/x.tlog.size when the old size is not the one it cosigned", async () => {
    const witness = await witnessAt8();
    const res = await post(witness.url, `old 0\n\n${await checkpointAt(12)}`);
    assert.equal(res.status, 409);
    assert.equal(res.contentType, "text/x.tlog.size");
    assert.equal(res.text, "8\n");
  });

  test("refuses a consistency proof that does not verify (422) and cosigns one that does", async () => {
    const witness = await witnessAt8();
    const note = await checkpointAt(12);
    const bad = await post(witness.url, `old 8\n${Buffer.alloc(32, 9).toString("base64")}\n${(await proof(8, 12)).split("\n").slice(1).join("\n")}\n${note}`);
    assert.equal(bad.status, 422, bad.text);
    const good = await post(witness.url, `old 8\n${await proof(8, 12)}\n${note}`);
    assert.equal(good.status, 200, good.text);
  });

  test("never cosigns a smaller tree (400) or another root at its size (422)", async () => {
    const witness = await witnessAt8();
    assert.equal((await post(witness.url, `old 8\n\n${await checkpointAt(6)}`)).status, 400);
    const forked = signNote(formatCheckpoint({ origin: "protocol.test/log", size: 8, root: randomBytes(32) }), [logKey]);
    assert.equal((await post(witness.url, `old 8\n\n${forked}`)).status, 422);
  });

  test("answers 404 for a log it does not witness and 403 for a checkpoint another key signed", async () => {
    const witness = await witnessAt8();
    const stranger = signNote(formatCheckpoint({ origin: "other.test/log", size: 1, root: randomBytes(32) }), [logKey]);
    assert.equal((await post(witness.url, `old 0\n\n${stranger}`)).status, 404);
    const impostor = ed25519NoteSigner("protocol.test/log", generateKeyPairSync("ed25519").privateKey);
    assert.equal((await post(witness.url, `old 8\n${await proof(8, 16)}\n${await checkpointAt(16, impostor)}`)).status, 403);
  });

  test("refuses malformed bodies with 400 and oversized ones with 413", async () => {
    const witness = await witnessAt8();
    const note = await checkpointAt(16);
    assert.equal((await post(witness.url, `old 08\n\n${note}`)).status, 400);
    assert.equal((await post(witness.url, `old 8\nnot-base64\n\n${note}`)).status, 400);
    assert.equal((await post(witness.url, "old 8\n")).status, 400);
    assert.equal((await post(witness.url, `old 8\n\n${"x".repeat(70_000)}`)).status, 413);
  });
});

describe("a ledger witnessed by a separate process", () => {
  let witness: WitnessProcess;
  before(async () => {
    // The log's key exists before the witness starts: it is the witness's configuration.
    const keyFile = path.join(dir, "log.pem");
    const probe = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(path.join(dir, "probe.db")), keyFile, log: pino({ level: "silent" }), checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 16 });
    const logVkey = probe.verifierKey;
    await probe.close();
    // The same key signs as another log under another name (its key ID follows the name).
    const staleVkey = ed25519NoteSigner(STALE_ORIGIN, createPrivateKey(await readFile(keyFile, "utf8"))).verifierKey();
    const exportedOrigin = STALE_ORIGIN.replace("stale", "exported");
    const exportedVkey = ed25519NoteSigner(exportedOrigin, createPrivateKey(await readFile(keyFile, "utf8"))).verifierKey();
    witness = await startWitnessProcess([`${ORIGIN} ${logVkey}`, `${STALE_ORIGIN} ${staleVkey}`, `${exportedOrigin} ${exportedVkey}`]);
  });
  after(() => {
    witness?.child.kill("SIGTERM");
  });

  test("every checkpoint is cosigned; a dropped tail re-signed with the log's key is left with a stale witnessed checkpoint, and the witness refuses the smaller tree and a rewrite", async () => {
    const { file, keyFile, ledger } = await openWitnessed(witness, "attacked");
    for (let i = 0; i < 30; i++) await ledger.append(record(i));
    await ledger.checkpoint();
    await ledger.witnessed();
    // Cosignature times are whole seconds: the next checkpoint is cosigned at least 3 s later.
    await new Promise((resolve) => setTimeout(resolve, 3_200));
    for (let i = 30; i < 40; i++) await ledger.append(record(i));
    const last = await ledger.checkpoint();
    await ledger.witnessed();
    await ledger.close();
    const newestCosignature = await (async () => {
      const store = new SqliteLedgerStore(file);
      try {
        const stored = (await store.checkpoints(ORIGIN, { atLeastSize: last.size, atMostSize: last.size })).at(-1)!;
        return Math.max(...openNote(stored.note, [parseVerifierKey(witness.vkey)]).verified.map((sig) => sig.timestamp!));
      } finally {
        await store.close();
      }
    })();
    // Verified half a second after the newest cosignature, with a 2 s bound: no wall clock involved.
    const at = { nowMs: newestCosignature * 1000 + 500, maxAgeMs: 2_000 };
    const intactCopy = path.join(dir, "attacked-intact.db");
    await cp(file, intactCopy);

    const intact = await verified(intactCopy, witness, at);
    assert.equal(intact.valid, true, intact.format());
    assert.match(intact.format(), new RegExp(`Witnesses on checkpoint ${last.size}\\s+valid \\(1 of 1`));
    const cli = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [...CLI_ARGS, "verify", "--ledger", file, "--trusted-witness", witness.vkey], (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout })),
    );
    assert.equal(cli.code, 0, cli.stdout);
    assert.match(cli.stdout, /Freshness\s+valid/);

    // Attack 1: drop the last 10 records and every checkpoint above 30, then sign a checkpoint of
    // the smaller tree with the log's own key. The store verifies on its own.
    const logSigner = ed25519NoteSigner(ORIGIN, createPrivateKey(await readFile(keyFile, "utf8")));
    const dba = new Database(file);
    try {
      dba.exec("DROP TRIGGER ledger_entries_no_update; DROP TRIGGER ledger_entries_no_delete;");
      const cut = 30;
      const root = dba.prepare("SELECT root FROM ledger_checkpoints WHERE log = ? AND size = ? ORDER BY id DESC LIMIT 1").pluck().get(ORIGIN, cut) as Buffer;
      dba.prepare("DELETE FROM ledger_entries WHERE seq >= ?").run(cut);
      dba.prepare("DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > ?").run(cut);
      dba.prepare("DELETE FROM ledger_checkpoints WHERE size > ?").run(cut);
      const resigned = signNote(formatCheckpoint({ origin: ORIGIN, size: cut, root }), [logSigner]);
      dba.prepare("INSERT INTO ledger_checkpoints (log, size, root, note, created_at_ms) VALUES (?, ?, ?, ?, ?)").run(ORIGIN, cut, root, resigned, Date.now());
    } finally {
      dba.close();
    }
    const plain = new SqliteLedgerStore(file);
    try {
      const alone = await verifyStore(plain, ORIGIN);
      assert.equal(alone.valid, true, `without a witness the truncation is invisible:\n${alone.format()}`);
    } finally {
      await plain.close();
    }
    // At the same moment the intact log is fresh, the truncated one's newest witnessed checkpoint is stale.
    const report = await verified(file, witness, at);
    assert.equal(report.valid, false, report.format());
    assert.match(report.format(), /Witnesses on checkpoint 30\s+valid/);
    assert.match(report.format(), /Freshness\s+INVALID: newest witnessed checkpoint cosigned [3-9] s ago, more than 2 s/);
    // And the witness will not cosign the smaller tree for the attacker, nor a rewritten one.
    const refused = await post(witness.url, `old 0\n\n${signNote(formatCheckpoint({ origin: ORIGIN, size: 30, root: randomBytes(32) }), [logSigner])}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.text, `${last.size}\n`);
    const rewritten = signNote(formatCheckpoint({ origin: ORIGIN, size: last.size, root: randomBytes(32) }), [logSigner]);
    assert.equal((await post(witness.url, `old ${last.size}\n\n${rewritten}`)).status, 422);
    // A gateway restarted on the truncated store cannot get its checkpoints witnessed either.
    const restarted = await openWitnessed(witness, "attacked");
    await restarted.ledger.witnessed();
    await restarted.ledger.close();
    const after = await verified(file, witness, at);
    assert.match(after.format(), /Freshness\s+INVALID/);
  });

  test("an evidence bundle carries the cosigned end checkpoint; verify.mjs with --trusted-witness accepts it and refuses an unknown witness", async () => {
    const { ledger } = await openWitnessed(witness, "exported", STALE_ORIGIN.replace("stale", "exported"));
    try {
      for (let i = 0; i < 12; i++) await ledger.append(record(i));
      const out = path.join(dir, "bundle");
      await exportEvidence(ledger, { outDir: out, exportedBy: "cli:auditor" });
      const run = async (...args: string[]) => {
        let text = "";
        const code = await verifyMain([out, ...args], { out: (t) => (text += t), err: (t) => (text += t) });
        return { code, text };
      };
      const pinned = await run("--trusted-witness", witness.vkey);
      assert.equal(pinned.code, 0, pinned.text);
      assert.match(pinned.text, /Witnesses on checkpoints\/\d+\.note\s+valid \(1 of 1/);
      assert.match(pinned.text, /Freshness\s+valid/);
      const other = cosignatureSigner("witness.test/other", generateKeyPairSync("ed25519").privateKey).verifierKey();
      const unknown = await run("--trusted-witness", other);
      assert.equal(unknown.code, 1);
      assert.match(unknown.text, /Witnesses\s+INVALID: no checkpoint carries 1 cosignatures from the trusted witnesses/);
    } finally {
      await ledger.close();
    }
  });

  test("a log whose newest witnessed checkpoint is older than the bound (its later records withheld) fails freshness", async () => {
    const { file, ledger } = await openWitnessed(witness, "stale", STALE_ORIGIN);
    for (let i = 0; i < 5; i++) await ledger.append(record(i));
    const checkpoint: StoredCheckpoint = await ledger.checkpoint();
    await ledger.witnessed();
    await ledger.close();
    const report = await verified(file, witness, { nowMs: checkpoint.createdAtMs + 10 * 60_000 }, STALE_ORIGIN);
    assert.equal(report.valid, false);
    assert.match(report.format(), /Freshness\s+INVALID: newest witnessed checkpoint cosigned \d+ s ago, more than 120 s/);
  });
});
