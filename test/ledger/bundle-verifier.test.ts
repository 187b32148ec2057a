// The offline verifier of evidence bundles (src/ledger/bundleVerifier.ts, verify.ts and the
// standalone verify.mjs) against docs/design/003-audit-ledger.md. Bundles are written here by a
// small writer that follows the format (real Ed25519 keys, RFC 6962 trees, C2SP notes), then
// tampered with the way an operator or a DBA could; each test checks the verifier names the problem.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { verifyBundle } from "../../src/ledger/bundleVerifier.js";
import { canonicalJson, isCanonicalText } from "../../src/ledger/canonical.js";
import { CompactRange, consistencyProof, inclusionProof, leafHash, rootOf, type NodeReader } from "../../src/ledger/merkle.js";
import { addSignatures, cosignatureSigner, ed25519NoteSigner, formatCheckpoint, formatTlogProof, signNote, type NoteSigner } from "../../src/ledger/note.js";
import { main } from "../../src/ledger/standaloneVerifier.js";
import { canonicalText, checkEntry, VerificationReport, type CheckResult } from "../../src/ledger/verify.js";

const ORIGIN = "portcullis.test/audit";
const FORMAT = "portcullis-evidence/v1";
const LOG = ed25519NoteSigner(ORIGIN, generateKeyPairSync("ed25519").privateKey);
/** Same key name as the log, different key: what someone without the log's private key can sign with. */
const ATTACKER = ed25519NoteSigner(ORIGIN, generateKeyPairSync("ed25519").privateKey);
const SIZE = 50;

const workDir = await mkdtemp(path.join(tmpdir(), "bundle-verifier-"));
after(() => rm(workDir, { recursive: true, force: true }));

// --- A 50-entry log: a policy load, 23 request/completion pairs, a run, a ledger event, one request still open. ---

interface TestEntry {
  leaf: Buffer;
  subject: string | null;
}

const payloads = new Map<string, Buffer>();

function payload(text: string): { sha256: string; bytes: number; masking: string } {
  const body = Buffer.from(JSON.stringify({ masked: text }));
  const sha256 = sha256Hex(body);
  payloads.set(sha256, body);
  return { sha256, bytes: body.length, masking: "none" };
}

function buildLog(): TestEntry[] {
  const records: { record: Record<string, unknown>; subject: string | null }[] = [];
  const time = () => new Date(Date.UTC(2026, 4, 1, 10, 0, records.length)).toISOString();
  const request = (id: string, subject: string, withBody: boolean) => ({
    type: "request",
    request_id: id,
    time: time(),
    client: { address: "10.0.0.7", user_agent: "sdk" },
    method: "POST",
    path: "/threads/t-1/runs",
    query: "",
    identity: { subject },
    ...(withBody ? { body: payload(`body of ${id}`) } : {}),
  });
  records.push({ record: { type: "policy", time: time(), event: "loaded", source: "policy.yaml", sha256: "0".repeat(64), in_force: "v1" }, subject: null });
  for (let r = 0; r < 23; r++) {
    const subject = r % 3 === 0 ? "alice" : "bob";
    const id = `req-${r}`;
    records.push({ record: request(id, subject, r % 2 === 0), subject });
    const completion = { type: "completion", request_id: id, time: time(), status: 200, upstream_status: 200, outcome: "ok", duration_ms: 12, bytes_in: 40, bytes_out: 90, response: payload(`response to ${id}`) };
    records.push({ record: completion, subject });
  }
  records.push({
    record: { type: "run", request_id: "req-0", time: time(), run_id: "run-1", thread_id: "t-1", status: "success", steps: [], output: payload("final state"), followed_ms: 40 },
    subject: "alice",
  });
  records.push({ record: { type: "ledger", time: time(), event: "hold.placed", actor: "cli:auditor", details: {} }, subject: null });
  records.push({ record: request("req-open", "alice", false), subject: "alice" });
  assert.equal(records.length, SIZE);
  return records.map(({ record, subject }, seq) => ({ leaf: canonicalJson({ v: 1, log: ORIGIN, seq: String(seq), record }), subject }));
}

const ENTRIES = buildLog();
const HASHES = ENTRIES.map((entry) => leafHash(entry.leaf));
const NODES: NodeReader = { node: (level, index) => rootOf(HASHES.slice(index * 2 ** level, (index + 1) * 2 ** level)) };

function checkpointNote(size: number, signer: NoteSigner = LOG): string {
  return signNote(formatCheckpoint({ origin: ORIGIN, size, root: rootOf(HASHES.slice(0, size)) }), [signer]);
}

// --- The bundle writer (design 003, "Evidence bundle"). ---

interface BundleSpec {
  /** First exported entry of a full-range export (frontier.txt when > 0). */
  start?: number;
  /** End of a full-range export; below SIZE it is bound to the newest checkpoint by a consistency proof. */
  end?: number;
  checkpoints?: number[];
  filter?: { user?: string; from?: string; to?: string };
}

async function writeBundle(spec: BundleSpec = {}): Promise<string> {
  const dir = await mkdtemp(path.join(workDir, "bundle-"));
  const filtered = spec.filter?.user !== undefined;
  const start = filtered ? 0 : (spec.start ?? 0);
  const end = filtered ? SIZE : (spec.end ?? SIZE);
  const sizes = (spec.checkpoints ?? [10, 23, 37, SIZE]).filter((size) => filtered || size >= start);
  const files = new Map<string, Buffer | string>();

  const seqs = ENTRIES.map((_, seq) => seq).filter((seq) => (filtered ? ENTRIES[seq]?.subject === spec.filter?.user : seq >= start && seq < end));
  files.set("entries.ndjson", Buffer.concat(seqs.flatMap((seq) => [ENTRIES[seq]?.leaf as Buffer, Buffer.from("\n")])));
  if (!filtered && start > 0) {
    const frontier = CompactRange.empty();
    HASHES.slice(0, start).forEach((hash) => frontier.append(hash));
    files.set("frontier.txt", [String(start), ...frontier.frontier().map((hash) => hash.toString("base64"))].map((line) => `${line}\n`).join(""));
  }
  const notes = new Map(sizes.map((size) => [size, checkpointNote(size)]));
  for (const [size, note] of notes) files.set(`checkpoints/${String(size).padStart(6, "0")}.note`, note);
  // Consecutive tree heads, including the exported end when no checkpoint has that size.
  const heads = [...new Set([...sizes, ...(filtered ? [] : [end])])].sort((a, b) => a - b);
  for (let i = 1; i < heads.length; i++) {
    const [m, n] = [heads[i - 1] as number, heads[i] as number];
    const proof = await consistencyProof(m, n, NODES);
    files.set(`consistency/${m}-${n}.txt`, proof.map((hash) => `${hash.toString("base64")}\n`).join(""));
  }
  if (filtered) {
    for (const seq of seqs) {
      const proof = await inclusionProof(seq, SIZE, NODES);
      files.set(`proofs/${seq}.tlog-proof`, formatTlogProof({ index: seq, proof, checkpoint: notes.get(SIZE) as string }));
    }
  }
  for (const seq of seqs) {
    const record = (JSON.parse((ENTRIES[seq]?.leaf as Buffer).toString()) as { record: Record<string, { sha256?: string }> }).record;
    for (const field of ["body", "response", "output"]) {
      const hash = record[field]?.sha256;
      if (hash !== undefined) files.set(`payloads/${hash}`, payloads.get(hash) as Buffer);
    }
  }
  files.set("keys.json", JSON.stringify([logKeyRecord()], null, 2));
  files.set("summary.csv", "user,requests\nalice,9\nbob,15\n");

  for (const [name, body] of files) await put(dir, name, body);
  const manifest = { format: FORMAT, origin: ORIGIN, range: { start, end }, filter: spec.filter ?? null, exported_at: "2026-05-01T10:05:00.000Z", exported_by: "cli:test", files: [] };
  await put(dir, "manifest.json", JSON.stringify(manifest));
  await seal(dir);
  return dir;
}

function logKeyRecord() {
  return { name: ORIGIN, key_id: LOG.keyId.toString("hex"), vkey: LOG.verifierKey(), role: "log", valid_from: "2026-01-01T00:00:00.000Z", valid_to: null };
}

interface Manifest {
  range: { start: number; end: number };
  files: { path: string; sha256: string; bytes: number }[];
}

/**
 * Rewrites manifest.json to list the files now in `dir`, then signs manifest.note with `signer`
 * (the log key for an honest exporter, ATTACKER for a forger, null to leave the old note in place).
 */
async function seal(dir: string, options: { signer?: NoteSigner | null; edit?: (manifest: Manifest) => void } = {}): Promise<void> {
  const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8")) as Manifest;
  manifest.files = [];
  for (const name of await listFiles(dir)) {
    if (name === "manifest.json" || name === "manifest.note") continue;
    const body = await readFile(path.join(dir, name));
    manifest.files.push({ path: name, sha256: sha256Hex(body), bytes: body.length });
  }
  options.edit?.(manifest);
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, "manifest.json"), bytes);
  const signer = options.signer === undefined ? LOG : options.signer;
  if (signer !== null) await writeFile(path.join(dir, "manifest.note"), signNote(`${FORMAT}\n${ORIGIN}\n${sha256Hex(bytes)}\n`, [signer]));
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const name = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) names.push(...(await listFiles(dir, name)));
    else names.push(name);
  }
  return names.sort();
}

async function put(dir: string, name: string, body: Buffer | string): Promise<void> {
  await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
  await writeFile(path.join(dir, name), body);
}

async function editEntries(dir: string, edit: (lines: string[]) => string[]): Promise<void> {
  const file = path.join(dir, "entries.ndjson");
  const lines = (await readFile(file, "utf8")).split("\n").slice(0, -1);
  await writeFile(file, edit(lines).map((line) => `${line}\n`).join(""));
}

function sha256Hex(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

// --- Assertions on reports. ---

function result(report: VerificationReport, label: string): CheckResult {
  const found = report.results.find((r) => r.label === label);
  assert.ok(found, `no line "${label}" in\n${report.format()}`);
  return found;
}

function assertValidLine(report: VerificationReport, label: string, detail?: RegExp): void {
  const found = result(report, label);
  assert.equal(found.ok, true, `"${label}" should be valid:\n${report.format()}`);
  if (detail) assert.match(found.detail, detail);
}

function assertInvalid(report: VerificationReport, label: string, reason: RegExp): void {
  const found = result(report, label);
  assert.equal(found.ok, false, `"${label}" should be INVALID:\n${report.format()}`);
  assert.match(found.detail, reason, report.format());
  assert.equal(report.valid, false);
  assert.match(report.format(), new RegExp(`INVALID: .*${reason.source}`));
}

function firstPayload(record: "body" | "response" | "output", seq: number): string {
  const leaf = JSON.parse((ENTRIES[seq]?.leaf as Buffer).toString()) as { record: Record<string, { sha256: string }> };
  return (leaf.record[record] as { sha256: string }).sha256;
}

// --- Tests. ---

describe("a bundle written to the format verifies", () => {
  test("a full-range bundle is valid, with one line per check and a summary", async () => {
    const dir = await writeBundle({ filter: { from: "2026-05-01T00:00:00.000Z", to: "2026-05-02T00:00:00.000Z" } });
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    assertValidLine(report, "Manifest manifest.note", /signed by portcullis\.test\/audit/);
    assertValidLine(report, "File entries.ndjson");
    assertValidLine(report, "Checkpoint checkpoints/000037.note", /size 37/);
    for (const pair of ["10 -> 23", "23 -> 37", "37 -> 50"]) assertValidLine(report, `Consistency ${pair}`);
    assertValidLine(report, "Entries 0..49", /root matches checkpoint 50/);
    assertValidLine(report, `Payload payloads/${firstPayload("output", 47)}`);
    assertValidLine(report, "Requests without completion", /1 in flight.*req-open \(entry 49\)/);
    assert.match(result(report, "Results requested for").detail, /2026-05-01T00:00:00.000Z to 2026-05-02T00:00:00.000Z/);
    assert.match(result(report, "Results found for").detail, /2026-05-01T10:00:00.000Z to 2026-05-01T10:00:49.000Z/);
    const text = report.format();
    assert.match(text, /^Checkpoint checkpoints\/000010\.note +valid \(size 10/m);
    assert.match(text, /4\/4 checkpoints valid; 3\/3 consistency proofs valid; 50\/50 entries valid; \d+\/\d+ payloads valid; 24\/24 requests valid\n$/);
  });

  test("a bundle that starts after entry 0 is valid, its compact range seeded from frontier.txt", async () => {
    const dir = await writeBundle({ start: 20, checkpoints: [20, 37, SIZE] });
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    assertValidLine(report, "Frontier frontier.txt", /size 20, root matches checkpoint 20/);
    assertValidLine(report, "Entries 20..49", /root matches checkpoint 50/);
  });

  test("a filtered bundle is valid when every entry's tlog-proof verifies against the end checkpoint", async () => {
    const dir = await writeBundle({ filter: { user: "alice" }, checkpoints: [23, SIZE] });
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    const entries = report.results.filter((r) => r.label.startsWith("Entry "));
    assert.equal(entries.length, ENTRIES.filter((e) => e.subject === "alice").length);
    assertValidLine(report, "Entry 49 proofs/49.tlog-proof", /included in checkpoint 50/);
    assertValidLine(report, "Consistency 23 -> 50");
  });

  test("a full-range export ending before the newest checkpoint is bound to it by a consistency proof", async () => {
    const dir = await writeBundle({ end: 40, checkpoints: [23, SIZE] });
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    assertValidLine(report, "Consistency 23 -> 40");
    assertValidLine(report, "Consistency 40 -> 50");
    assertValidLine(report, "Entries 0..39", /root proven consistent with checkpoint 50/);
  });

  test("a referenced payload missing from the bundle is reported as purged, not INVALID", async () => {
    const dir = await writeBundle();
    const purged = firstPayload("body", 1);
    await unlink(path.join(dir, "payloads", purged));
    await seal(dir);
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    assertValidLine(report, `Payload payloads/${purged}`, /purged or not exported/);
  });
});

describe("a tampered bundle is INVALID and the verifier names the problem", () => {
  // Entry 5 is a request by bob: changing one letter of his name keeps the line canonical JSON.
  const alterEntry5 = (lines: string[]) => lines.map((line, i) => (i === 5 ? line.replace('"subject":"bob"', '"subject":"bot"') : line));

  test("an entry changed by one byte, manifest untouched: the file hash and the root both fail", async () => {
    const dir = await writeBundle();
    await editEntries(dir, alterEntry5);
    const report = await verifyBundle(dir);
    assertInvalid(report, "File entries.ndjson", /hash value doesn't match/);
    assertInvalid(report, "Entries 0..49", /root mismatch/);
  });

  test("an entry changed by one byte and manifest.json updated to match: the manifest signature no longer covers it", async () => {
    const dir = await writeBundle();
    await editEntries(dir, alterEntry5);
    await seal(dir, { signer: null });
    const report = await verifyBundle(dir);
    assertValidLine(report, "File entries.ndjson");
    assertInvalid(report, "Manifest manifest.note", /hash value doesn't match manifest\.json/);
    assertInvalid(report, "Entries 0..49", /root mismatch/);
  });

  test("a deleted entry is a sequence gap", async () => {
    const dir = await writeBundle();
    await editEntries(dir, (lines) => lines.filter((_, i) => i !== 20));
    await seal(dir, { signer: null });
    assertInvalid(await verifyBundle(dir), "Entries 0..49", /line 21: sequence gap: expected 20, found 21/);
  });

  test("an inserted entry puts the next one out of order", async () => {
    const dir = await writeBundle();
    const forged = canonicalJson({ v: 1, log: ORIGIN, seq: "25", record: { type: "ledger", time: "2026-05-01T10:00:25.000Z", event: "hold.released", actor: "cli:dba", details: {} } });
    await editEntries(dir, (lines) => [...lines.slice(0, 25), forged.toString(), ...lines.slice(25)]);
    await seal(dir, { signer: null });
    assertInvalid(await verifyBundle(dir), "Entries 0..49", /sequence out of order: expected 26, found 25/);
  });

  test("two swapped entries are named as a gap and an out-of-order entry", async () => {
    const dir = await writeBundle();
    await editEntries(dir, (lines) => [...lines.slice(0, 10), lines[11] as string, lines[10] as string, ...lines.slice(12)]);
    const report = await verifyBundle(dir);
    assertInvalid(report, "Entries 0..49", /sequence gap: expected 10, found 11; line 12: sequence out of order: expected 12, found 10/);
  });

  test("a checkpoint signed by a key that is not in keys.json: public key not found", async () => {
    const dir = await writeBundle();
    await writeFile(path.join(dir, "checkpoints/000037.note"), checkpointNote(37, ATTACKER));
    await seal(dir, { signer: null });
    const report = await verifyBundle(dir);
    assertInvalid(report, "Checkpoint checkpoints/000037.note", new RegExp(`public key not found for key ID ${ATTACKER.keyId.toString("hex")}`));
    assertInvalid(report, "Consistency 23 -> 50", /not found: consistency\/23-50\.txt/);
  });

  test("with --trusted-key the bundle's own key history cannot vouch for a key the auditor did not pin", async () => {
    const dir = await writeBundle();
    assert.equal((await verifyBundle(dir, { trustedKeys: [LOG.verifierKey()] })).valid, true);
    const pinnedElsewhere = await verifyBundle(dir, { trustedKeys: [ATTACKER.verifierKey()] });
    assertInvalid(pinnedElsewhere, "Keys keys.json", /trusted key .* is not in the bundle's key history/);
    // An attacker who adds their own "log" key to keys.json and signs a checkpoint with it.
    const keys = JSON.parse(await readFile(path.join(dir, "keys.json"), "utf8")) as Record<string, unknown>[];
    keys.push({ ...keys[0], key_id: ATTACKER.keyId.toString("hex"), vkey: ATTACKER.verifierKey() });
    await writeFile(path.join(dir, "keys.json"), JSON.stringify(keys));
    await writeFile(path.join(dir, "checkpoints/000037.note"), checkpointNote(37, ATTACKER));
    await seal(dir);
    assert.equal((await verifyBundle(dir)).valid, true, "unpinned, the bundle vouches for its own keys");
    assertInvalid(await verifyBundle(dir, { trustedKeys: [LOG.verifierKey()] }), "Checkpoint checkpoints/000037.note", /public key not found/);
  });

  test("a checkpoint whose root was altered under the log's signature: signature verification failed", async () => {
    const dir = await writeBundle();
    const file = path.join(dir, "checkpoints/000037.note");
    const note = await readFile(file, "utf8");
    await writeFile(file, note.replace(rootOf(HASHES.slice(0, 37)).toString("base64"), rootOf(HASHES.slice(0, 36)).toString("base64")));
    assertInvalid(await verifyBundle(dir), "Checkpoint checkpoints/000037.note", /signature verification failed/);
  });

  test("a checkpoint file renamed to another size: moved from original location", async () => {
    const dir = await writeBundle();
    await rename(path.join(dir, "checkpoints/000037.note"), path.join(dir, "checkpoints/000036.note"));
    await seal(dir);
    assertInvalid(await verifyBundle(dir), "Checkpoint checkpoints/000036.note", /moved from original location/);
  });

  test("a witness cosignature made outside the witness key's validity window does not count, and does not void the log's signature", async () => {
    const dir = await writeBundle();
    const witnessKey = generateKeyPairSync("ed25519").privateKey;
    const cosignedAt = Date.UTC(2026, 4, 1, 10, 5) / 1000;
    const witness = cosignatureSigner("witness.test", witnessKey, () => cosignedAt);
    const file = path.join(dir, "checkpoints/000050.note");
    await writeFile(file, addSignatures(await readFile(file, "utf8"), [witness]));
    const retired = { name: "witness.test", key_id: witness.keyId.toString("hex"), vkey: witness.verifierKey(), role: "witness", valid_from: "2026-01-01T00:00:00.000Z", valid_to: "2026-04-01T00:00:00.000Z" };
    await writeFile(path.join(dir, "keys.json"), JSON.stringify([logKeyRecord(), retired]));
    await seal(dir);
    const report = await verifyBundle(dir);
    assert.equal(report.valid, true, report.format());
    const line = report.format().split("\n").find((text) => text.startsWith("Checkpoint checkpoints/000050.note"));
    assert.ok(line && !line.includes("witness.test"), `the retired witness key is not counted: ${line}`);
  });

  test("the tail truncated and the manifest re-signed without the log key: the manifest signature fails", async () => {
    const dir = await writeBundle();
    await editEntries(dir, (lines) => lines.slice(0, 37));
    await rm(path.join(dir, "checkpoints/000050.note"));
    await rm(path.join(dir, "consistency/37-50.txt"));
    await seal(dir, { signer: ATTACKER, edit: (manifest) => (manifest.range.end = 37) });
    const report = await verifyBundle(dir);
    // Everything else is self-consistent: only the signature over the manifest gives it away.
    assertValidLine(report, "Entries 0..36", /root matches checkpoint 37/);
    assertInvalid(report, "Manifest manifest.note", new RegExp(`public key not found for key ID ${ATTACKER.keyId.toString("hex")}`));
  });

  test("entries removed from the end with the end checkpoint kept: log truncated", async () => {
    const dir = await writeBundle();
    await editEntries(dir, (lines) => lines.slice(0, 45));
    const report = await verifyBundle(dir);
    assertInvalid(report, "Entries 0..49", /log truncated: entries end at 45, checkpoint says 50/);
  });

  test("receipts: one past the exported end or for a different leaf proves truncation or rewriting", async () => {
    const dir = await writeBundle();
    const receipts = [
      { seq: 7, leafHash: (HASHES[7] as Buffer).toString("base64") },
      { seq: 8, leafHash: (HASHES[7] as Buffer).toString("base64") },
      { seq: 55, leafHash: (HASHES[7] as Buffer).toString("base64") },
    ];
    const report = await verifyBundle(dir, { receipts });
    assertValidLine(report, "Receipt 7", /leaf hash matches entry 7/);
    assertInvalid(report, "Receipt 8", /truncated or altered: receipt for entry 8 acknowledged leaf hash/);
    assertInvalid(report, "Receipt 55", /truncated or altered: receipt for entry 55, but the exported log ends at 50/);
  });

  test("a modified payload file no longer hashes to its name", async () => {
    const dir = await writeBundle();
    const hash = firstPayload("response", 2);
    await writeFile(path.join(dir, "payloads", hash), '{"masked":"something else"}');
    const report = await verifyBundle(dir);
    assertInvalid(report, `Payload payloads/${hash}`, /hash value doesn't match/);
    assertInvalid(report, `File payloads/${hash}`, /hash value doesn't match/);
  });

  test("a file added after the export was signed is named as not in the manifest", async () => {
    const dir = await writeBundle();
    await writeFile(path.join(dir, "notes.txt"), "nothing to see");
    assertInvalid(await verifyBundle(dir), "File notes.txt", /not in the manifest/);
  });

  test("a manifest path containing '..' is INVALID and never read", async () => {
    const dir = await writeBundle();
    await writeFile(path.join(dir, "..", "outside.txt"), "outside");
    await seal(dir, { edit: (manifest) => manifest.files.push({ path: "../outside.txt", sha256: sha256Hex("outside"), bytes: 7 }) });
    assertInvalid(await verifyBundle(dir), "File ../outside.txt", /'\.\.' leads outside the bundle/);
  });

  test("a filtered bundle whose proof is against another checkpoint, or missing, is INVALID", async () => {
    const dir = await writeBundle({ filter: { user: "alice" }, checkpoints: [23, SIZE] });
    // Alice's first request is entry 1 and her second entry 7.
    const other = formatTlogProof({ index: 1, proof: await inclusionProof(1, 23, NODES), checkpoint: checkpointNote(23) });
    await writeFile(path.join(dir, "proofs/1.tlog-proof"), other);
    await rm(path.join(dir, "proofs/7.tlog-proof"));
    await seal(dir);
    const report = await verifyBundle(dir);
    assertInvalid(report, "Entry 1 proofs/1.tlog-proof", /not the end checkpoint/);
    assertInvalid(report, "Entry 7 proofs/7.tlog-proof", /not found: proofs\/7\.tlog-proof/);
  });
});

describe("a hostile bundle gets INVALID lines, never an exception", () => {
  test("a line of entries.ndjson that is not JSON, or not canonical JSON", async () => {
    const dir = await writeBundle();
    await editEntries(dir, (lines) => lines.map((line, i) => (i === 4 ? "this is not json" : i === 9 ? line.replace(/,/, ", ") : line)));
    const report = await verifyBundle(dir);
    assertInvalid(report, "Entries 0..49", /line 5: not JSON; line 10: not canonical JSON/);
  });

  test("missing, empty, binary and symbolic-link bundles are reported, not thrown", async () => {
    const missing = await verifyBundle(path.join(workDir, "no-such-bundle"));
    assert.match(missing.format(), /^Bundle .*no-such-bundle +INVALID: not found/m);

    const empty = await mkdtemp(path.join(workDir, "empty-"));
    assertInvalid(await verifyBundle(empty), "Manifest manifest.json", /not found: manifest\.json/);

    const junk = await writeBundle();
    for (const name of ["manifest.note", "keys.json", "checkpoints/000037.note", "consistency/23-37.txt", "entries.ndjson"]) {
      await writeFile(path.join(junk, name), Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x80, 0x0a]));
    }
    await symlink("/etc/hostname", path.join(junk, "payloads", "0".repeat(64)));
    const report = await verifyBundle(junk);
    assert.equal(report.valid, false);
    assertInvalid(report, "Keys keys.json", /not UTF-8/);
    assertInvalid(report, "Manifest manifest.note", /not UTF-8/);
    assertInvalid(report, `Payload payloads/${"0".repeat(64)}`, /not a regular file/);
    assertInvalid(report, "Entries 0..49", /line 1: not JSON/);

    await writeFile(path.join(junk, "manifest.json"), "{ not json");
    assertInvalid(await verifyBundle(junk), "Manifest manifest.json", /invalid format: not JSON/);
  });
});

describe("verify.ts", () => {
  const leaf = (fields: Record<string, unknown>) =>
    Buffer.from(canonicalText({ v: 1, log: ORIGIN, seq: "3", record: { type: "ledger", time: "2026-05-01T10:00:00.000Z", event: "hold.placed", actor: "x", details: {} }, ...fields }));

  test("checkEntry accepts a canonical leaf at its index and names every way a leaf can be wrong", () => {
    assert.equal(checkEntry(leaf({}), 3, ORIGIN).seq, 3);
    const text = leaf({}).toString();
    const cases: [Buffer, RegExp][] = [
      [Buffer.from(text.replace('"seq":"3"', '"seq":"3","seq":"3"')), /not canonical JSON/],
      [Buffer.from(text.replace('"v":1', '"v": 1')), /not canonical JSON/],
      [Buffer.from(`${text}\r`), /not JSON|not canonical/],
      [leaf({ v: 2 }), /unsupported leaf version 2/],
      [leaf({ log: "other.example/log" }), /log "other\.example\/log" does not match origin/],
      [leaf({ seq: "03" }), /seq "03" is not a decimal string/],
      [leaf({ seq: "4" }), /sequence gap: expected 3, found 4/],
      [leaf({ extra: true }), /unexpected leaf field extra/],
      [Buffer.from([0x7b, 0xff, 0x7d]), /not JSON/],
    ];
    for (const [bytes, reason] of cases) assert.throws(() => checkEntry(bytes, 3, ORIGIN), reason, bytes.toString());
  });

  test("canonicalText sorts members by UTF-16 code units as RFC 8785 §3.2.3 does, like the canonicalize package", () => {
    const value = { "\u20ac": 1, "\r": 2, "\ud83d\ude00": 3, "\u0080": 4, "1": [1e21, 0.1, -0, "\u2028"], a: { c: null, b: true } };
    assert.equal(canonicalText(value), canonicalJson(value).toString());
  });

  test("isCanonicalText agrees with the canonicalize package on canonical texts, integer-like keys and every non-canonical edit", () => {
    const agrees = (text: string) => {
      const value: unknown = JSON.parse(text);
      assert.equal(isCanonicalText(text, value), canonicalJson(value).toString() === text, text);
      return isCanonicalText(text, value);
    };
    for (const text of ['{"10":1,"9":2}', '{"a":[{"b":1,"c":{"d":"\u2028"}}],"b":1e+21}', '{"\\r":2,"1":0.1,"a":-0.5}', "[]", '{"a":"\\u001f"}']) {
      assert.equal(agrees(text), true, `${text} is canonical`);
    }
    const notCanonical = ['{"9":2,"10":1}', '{"b":1,"a":2}', '{"a":{"c":1,"b":2}}', '{"a":1.0}', '{"a":"\\u0041"}', '{"a":1,"a":1}', '{ "a":1}', '{"a":1e21}', '{"a":-0}', '{"a":"\\/"}'];
    for (const text of notCanonical) assert.equal(agrees(text), false, `${text} is not canonical`);
  });

  test("the report prints one aligned line per check, INVALID reasons, and counts per category", () => {
    const report = new VerificationReport();
    report.add("Checkpoint checkpoints/000010.note", true, "valid (size 10)");
    report.add("Checkpoint checkpoints/000020.note", false, "signature verification failed");
    report.add("Entries 0..19", true, "valid (root matches checkpoint 20)", 20);
    report.add("Payload payloads/ab", false, "hash value doesn't match");
    report.info("Results found for", "a to b");
    assert.equal(report.valid, false);
    assert.equal(
      report.format(),
      [
        "Checkpoint checkpoints/000010.note  valid (size 10)",
        "Checkpoint checkpoints/000020.note  INVALID: signature verification failed",
        "Entries 0..19                       valid (root matches checkpoint 20)",
        "Payload payloads/ab                 INVALID: hash value doesn't match",
        "Results found for                   a to b",
        "1/2 checkpoints INVALID, 1/2 valid; 20/20 entries valid; 1/1 payload INVALID, 0/1 valid",
        "",
      ].join("\n"),
    );
    assert.equal(new VerificationReport().valid, false, "a report that checked nothing is not valid");
  });
});

describe("the standalone verify.mjs", () => {
  const execNode = (args: string[], cwd: string) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, args, { cwd }, (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }));
    });

  test("bundled with esbuild, it needs only Node: exit 0 and valid for a good bundle, exit 1 and INVALID for a tampered one", async () => {
    const dir = await writeBundle();
    await build({
      entryPoints: [fileURLToPath(new URL("../../src/ledger/standaloneVerifier.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: path.join(dir, "verify.mjs"),
      logLevel: "silent",
    });
    await seal(dir);
    const good = await execNode(["verify.mjs"], dir);
    assert.equal(good.code, 0, good.stdout);
    assert.match(good.stdout, /^File verify\.mjs +valid$/m);
    assert.match(good.stdout, /^Entries 0\.\.49 +valid \(root matches checkpoint 50\)$/m);

    const tampered = await mkdtemp(path.join(workDir, "tampered-"));
    await cp(dir, tampered, { recursive: true });
    await editEntries(tampered, (lines) => lines.filter((_, i) => i !== 30));
    const bad = await execNode([path.join(tampered, "verify.mjs"), tampered], workDir);
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stdout, /^Entries 0\.\.49 +INVALID: line 31: sequence gap: expected 30, found 31$/m);
  });

  test("main exits 2 on a usage error and prints JSON with --json", async () => {
    let out = "";
    let err = "";
    const io = { out: (text: string) => (out += text), err: (text: string) => (err += text) };
    assert.equal(await main(["--receipt", "not-a-receipt"], io), 2);
    assert.match(err, /--receipt "not-a-receipt": expected <seq>:<base64 leaf hash>\nusage: node verify\.mjs/);
    assert.equal(await main(["a", "b"], io), 2);
    assert.equal(out, "");
    const dir = await writeBundle();
    const leafHash7 = (HASHES[7] as Buffer).toString("base64");
    assert.equal(await main([dir, "--json", "--receipt", `7:${leafHash7}`], io), 0);
    const parsed = JSON.parse(out) as { valid: boolean; results: CheckResult[] };
    assert.equal(parsed.valid, true);
    assert.ok(parsed.results.some((r) => r.label === "Receipt 7" && r.ok));
  });
});
