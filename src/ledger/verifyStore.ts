// `portcullis verify`: checks the live store the way the bundle verifier checks a bundle. Every
// leaf is re-hashed from its stored bytes and folded into a compact range; at each checkpoint's
// size the recomputed root must equal the signed one, which proves every checkpoint consistent
// with the entries (and so with each other) without trusting any stored hash but the signatures.
import { createHash } from "node:crypto";
import { CompactRange, leafHash } from "./merkle.js";
import type { LedgerStore, StoredCheckpoint, StoredKey } from "./store.js";
import { parseVerifierKey, SIG_COSIGNATURE_V1 } from "./note.js";
import { checkEntry, verifyCheckpointNote, VerificationReport, type KeyRecord } from "./verify.js";

export interface StoreVerifyOptions {
  receipts?: { seq: number; leafHash: string }[];
  /** Log keys trusted out of band (vkeys); the key history in the database is then not trusted. */
  trustedKeys?: string[];
  /** Also parse every leaf and require byte-exact RFC 8785 form (about 3x slower). Without it,
   * each leaf's envelope (log, seq) is checked in place; integrity rests on the hashes either way. */
  strict?: boolean;
  /** Signed checkpoints kept outside the store (a copy saved with `portcullis audit checkpoint`,
   * a bundle's, a WORM copy): the store must still hold their entries, with the same root, so
   * the newest records cannot be dropped with the checkpoints that covered them. */
  savedCheckpoints?: { source: string; note: string }[];
  /** Witnesses trusted out of band (c2sp.org/tlog-witness): the newest checkpoint that carries
   * `quorum` of their cosignatures must have been cosigned at most `maxAgeMs` ago. */
  witnesses?: { vkeys: string[]; quorum: number; maxAgeMs: number; nowMs?: number };
}

/** A stored key as keys.json and the verifiers name it. */
export function keyRecordOf(key: StoredKey): KeyRecord {
  return {
    name: key.name,
    key_id: key.keyId,
    vkey: key.vkey,
    role: key.role,
    valid_from: new Date(key.validFromMs).toISOString(),
    valid_to: key.validToMs === null ? null : new Date(key.validToMs).toISOString(),
  };
}

export async function verifyStore(store: LedgerStore, origin: string, options: StoreVerifyOptions = {}): Promise<VerificationReport> {
  const report = new VerificationReport();
  const keys = (await store.keys()).map(keyRecordOf);
  if (options.trustedKeys && options.trustedKeys.length > 0) {
    // Someone who can write the database can add a key to its history; a pinned key cannot be.
    const pinned = keys.filter((key) => key.role !== "log" || options.trustedKeys!.includes(key.vkey));
    report.add("Keys", pinned.some((key) => key.role === "log"), pinned.some((key) => key.role === "log") ? "valid (log key pinned by --trusted-key)" : "none of the trusted keys is in the key history");
    keys.splice(0, keys.length, ...pinned);
  }
  const witnessPolicy = options.witnesses;
  if (witnessPolicy) {
    // Pinned witnesses replace those the database lists, as --trusted-key does for log keys.
    const pinned = witnessPolicy.vkeys.map(witnessKeyRecord);
    keys.splice(0, keys.length, ...keys.filter((key) => key.role !== "witness"), ...pinned);
  }
  /** Per checkpoint size: the trusted witnesses that cosigned it, with their newest cosignature time. */
  const cosigned = new Map<number, Map<string, number>>();
  // Signatures first: a checkpoint is evidence only if a known key signed it.
  const signed = new Map<number, StoredCheckpoint[]>();
  for (const checkpoint of await store.checkpoints(origin)) {
    const label = `Checkpoint size ${checkpoint.size} @ ${new Date(checkpoint.createdAtMs).toISOString()}`;
    try {
      const { checkpoint: parsed, signatures } = verifyCheckpointNote(checkpoint.note, origin, keys);
      if (parsed.size !== checkpoint.size || !parsed.root.equals(checkpoint.root)) throw new Error("stored size or root differs from the signed note");
      for (const signature of signatures) {
        if (signature.timestamp === undefined || !keys.some((key) => key.role === "witness" && key.name === signature.name && key.key_id === signature.keyId)) continue;
        const witnesses = cosigned.get(parsed.size) ?? new Map<string, number>();
        witnesses.set(`${signature.name}+${signature.keyId}`, Math.max(witnesses.get(`${signature.name}+${signature.keyId}`) ?? 0, signature.timestamp));
        cosigned.set(parsed.size, witnesses);
      }
      signed.set(parsed.size, [...(signed.get(parsed.size) ?? []), { ...checkpoint, root: parsed.root }]);
      report.add(label, true, "valid (signed by a key in the history)");
    } catch (error) {
      report.add(label, false, (error as Error).message);
    }
  }
  for (const saved of options.savedCheckpoints ?? []) {
    try {
      const { checkpoint: parsed } = verifyCheckpointNote(saved.note, origin, keys);
      signed.set(parsed.size, [...(signed.get(parsed.size) ?? []), { size: parsed.size, root: parsed.root, note: saved.note, createdAtMs: 0 }]);
      report.add(`Checkpoint size ${parsed.size} from ${saved.source}`, true, "valid (signed by a key in the history; kept outside the store)");
    } catch (error) {
      report.add(`Checkpoint from ${saved.source}`, false, (error as Error).message);
    }
  }
  const size = await store.size(origin);
  const newest = Math.max(0, ...signed.keys());
  if (signed.size === 0) report.add("Checkpoints", false, "no signed checkpoint: nothing binds the entries");
  if (witnessPolicy) checkWitnessed(report, cosigned, witnessPolicy);

  // Entries: contiguous, well-formed, hashed as stored; roots compared at every signed size.
  const range = CompactRange.empty();
  let failures = 0;
  let expected = 0;
  const opened = new Set<string>();
  const envelopeStart = Buffer.from(`{"log":${JSON.stringify(origin)},"record":{`);
  const receipts = new Map((options.receipts ?? []).map((receipt) => [receipt.seq, receipt.leafHash]));
  const checkRoots = () => {
    for (const checkpoint of signed.get(range.size) ?? []) {
      const ok = checkpoint.root.equals(range.root());
      report.add(range.size === 0 ? "Consistency empty log -> checkpoint 0" : `Consistency entries 0..${range.size - 1} -> checkpoint ${range.size}`, ok, ok ? "valid (root matches)" : "root mismatch: the entries differ from what the checkpoint signed");
    }
  };
  checkRoots();
  for await (const page of store.entryPages(origin, 0, size)) for (const entry of page) {
    const hash = leafHash(entry.leaf);
    if (entry.seq !== expected) {
      report.add(`Entry ${expected}`, false, `sequence gap: expected ${expected}, found ${entry.seq}`);
      failures++;
      expected = entry.seq;
    }
    if (!hash.equals(entry.leafHash)) {
      report.add(`Entry ${entry.seq}`, false, "hash value doesn't match: the stored leaf was modified");
      failures++;
    }
    try {
      const record = options.strict ? checkEntry(entry.leaf, entry.seq, origin).record : envelopeChecked(entry.leaf, entry.seq, envelopeStart);
      trackRequest(opened, record);
    } catch (error) {
      report.add(`Entry ${entry.seq}`, false, (error as Error).message);
      failures++;
    }
    const receipt = receipts.get(entry.seq);
    if (receipt !== undefined) {
      const ok = receipt === hash.toString("base64");
      report.add(`Receipt ${entry.seq}`, ok, ok ? "valid (the leaf the gateway acknowledged is in the log)" : "altered: the leaf at this index is not the one the receipt acknowledged");
      receipts.delete(entry.seq);
    }
    range.append(hash);
    expected = entry.seq + 1;
    checkRoots();
  }
  // Entry lines above count the invalid ones; this line counts the rest.
  report.add(`Entries 0..${Math.max(0, size - 1)}`, true, failures === 0 ? `valid (root ${range.root().toString("base64")})` : `${size - failures} of ${size} valid; the others are listed above`, size - failures);
  // A log shorter than a checkpoint it signed was truncated (audit-ledger.md §16).
  if (newest > range.size) report.add("Tail", false, `log truncated: entries end at ${range.size}, checkpoint says ${newest}`);
  else report.add("Tail", true, `valid (the newest checkpoint covers ${newest} of ${range.size} entries)`);
  for (const [seq] of receipts) report.add(`Receipt ${seq}`, false, `truncated: receipt for entry ${seq} but the log ends at ${range.size}`);
  await verifyPayloads(store, report);
  report.info("Requests without completion", opened.size === 0 ? "none" : `${opened.size} (in flight now, or a crash not yet recovered): ${[...opened].slice(0, 5).join(", ")}${opened.size > 5 ? ", …" : ""}`);
  return report;
}

/** The newest checkpoint with `quorum` trusted cosignatures must be fresh (audit-ledger.md §16): a
 * store whose newest records were dropped, or that was rewritten, even with the log's key, can
 * only show an older witnessed checkpoint. Checkpoints signed after it and not yet cosigned (a
 * busy log cosigns a moment later) are the residual window the bound allows. */
function checkWitnessed(report: VerificationReport, cosigned: Map<number, Map<string, number>>, policy: NonNullable<StoreVerifyOptions["witnesses"]>): void {
  const witnessed = [...cosigned].filter(([, witnesses]) => witnesses.size >= policy.quorum).sort(([a], [b]) => b - a)[0];
  if (!witnessed) {
    report.add("Witnesses", false, `no checkpoint carries ${policy.quorum} cosignatures from the trusted witnesses: the log was not witnessed, or not by them`);
    return;
  }
  const [size, witnesses] = witnessed;
  report.add(`Witnesses on checkpoint ${size}`, true, `valid (${witnesses.size} of ${policy.vkeys.length} trusted witnesses cosigned it, ${policy.quorum} required)`);
  const ageMs = (policy.nowMs ?? Date.now()) - Math.max(...witnesses.values()) * 1000;
  const fresh = ageMs <= policy.maxAgeMs;
  report.add("Freshness", fresh, fresh ? `valid (newest witnessed checkpoint cosigned ${Math.max(0, Math.round(ageMs / 1000))} s ago, bound ${Math.round(policy.maxAgeMs / 1000)} s)` : `newest witnessed checkpoint cosigned ${Math.round(ageMs / 1000)} s ago, more than ${Math.round(policy.maxAgeMs / 1000)} s: newer records may have been withheld or dropped`);
}

function witnessKeyRecord(vkey: string): KeyRecord {
  const verifier = parseVerifierKey(vkey);
  if (verifier.type !== SIG_COSIGNATURE_V1) throw new Error(`--trusted-witness ${vkey}: not a witness cosignature key (type 0x04)`);
  return { name: verifier.name, key_id: verifier.keyId.toString("hex"), vkey, role: "witness", valid_from: new Date(0).toISOString(), valid_to: null };
}

/** Leaves commit to payloads by SHA-256 (audit-ledger.md §10), so each stored payload must hash
 * to the name it is stored under; one that does not was edited after it was written. */
async function verifyPayloads(store: LedgerStore, report: VerificationReport): Promise<void> {
  let count = 0;
  let altered = 0;
  for await (const page of store.payloadPages()) {
    for (const payload of page) {
      count++;
      if (createHash("sha256").update(payload.body).digest("hex") === payload.sha256) continue;
      altered++;
      report.add(`Payload ${payload.sha256}`, false, "hash value doesn't match: the stored payload was modified");
    }
  }
  report.add("Payload store", true, altered === 0 ? `valid (${count} stored payloads re-hashed)` : `${count - altered} of ${count} valid; the others are listed above`, count - altered);
}

interface RequestFields {
  type: string;
  request_id?: string;
  status?: unknown;
}

/** A canonical leaf is `{"log":…,"record":{…},"seq":"N","v":1}` (keys sorted), so its envelope
 * is checked at both ends without parsing. The record's type and request id are read by search,
 * for the informational "requests without completion" line only. */
function envelopeChecked(leaf: Buffer, seq: number, start: Buffer): RequestFields {
  if (!leaf.subarray(0, start.length).equals(start)) throw new Error("invalid format: the leaf does not start with this log's envelope (wrong log or not canonical)");
  const match = /\},"seq":"(\d+)","v":1\}$/.exec(leaf.toString("latin1", Math.max(0, leaf.length - 40)));
  if (!match) throw new Error("invalid format: the leaf does not end with its seq and version");
  if (match[1] !== String(seq)) throw new Error(`${Number(match[1]) > seq ? "sequence gap" : "sequence out of order"}: expected ${seq}, found ${match[1]}`);
  // Top-level "type" is the last string-valued "type" member: nested objects sort before it or hold no such key.
  const at = leaf.lastIndexOf(TYPE);
  const type = at < 0 ? "unknown" : leaf.toString("latin1", at + TYPE.length, leaf.indexOf(QUOTE, at + TYPE.length));
  if (type !== "request" && type !== "completion") return { type };
  const id = leaf.indexOf(REQUEST_ID);
  const fields: RequestFields = { type, ...(id >= 0 ? { request_id: leaf.toString("latin1", id + REQUEST_ID.length, leaf.indexOf(QUOTE, id + REQUEST_ID.length)) } : {}) };
  if (type === "request" && leaf.indexOf(STATUS) >= 0) fields.status = true;
  return fields;
}

const TYPE = Buffer.from('"type":"');
const REQUEST_ID = Buffer.from('"request_id":"');
const STATUS = Buffer.from('"status":');
const QUOTE = 0x22;

function trackRequest(opened: Set<string>, record: RequestFields): void {
  if (!record.request_id) return;
  if (record.type === "request" && record.status === undefined) opened.add(record.request_id);
  if (record.type === "completion") opened.delete(record.request_id);
}
