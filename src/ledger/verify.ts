// Checks shared by the offline bundle verifier (bundleVerifier.ts) and the live-store verifier:
// checkpoint notes against the key history, ledger leaves, consistency between tree heads, and a
// report printed in the style of AWS CloudTrail `validate-logs` (audit-ledger.md §15).
//
// Imports only canonical.ts (the canonicalize package), merkle.ts and note.ts (node:crypto only)
// and src/jsonText.ts (no imports): esbuild bundles this file into the standalone verify.mjs that
// ships in every evidence bundle.
import { canonicalJson, isCanonicalText } from "./canonical.js";
import { CompactRange, MerkleProofError, verifyConsistency } from "./merkle.js";
import { NoteError, openNote, parseCheckpoint, parseVerifierKey, type Checkpoint, type NoteVerifier, type OpenedNote, type VerifiedSignature } from "./note.js";
import { isObject } from "../jsonText.js";

/** A check failed; the message is the reason printed after `INVALID:`. */
export class VerificationError extends Error {
  override readonly name = "VerificationError";
}

/** The reason to print for any error a check threw. */
export function reasonOf(error: unknown): string {
  if (error instanceof MerkleProofError) return error.reason;
  if (error instanceof NoteError) {
    if (error.reason === "malformed_note" || error.reason === "too_many_signatures" || error.reason === "malformed_checkpoint" || error.reason === "malformed_tlog_proof") {
      return `invalid format: ${error.message}`;
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------
// The report

export interface CheckResult {
  label: string;
  ok: boolean;
  /** For a passing check the whole verdict ("valid (root matches checkpoint 124001)"); otherwise the reason. */
  detail: string;
  /** Items the check stands for in the summary (an `Entries` range counts its entries); 0 = informational line. */
  count?: number;
}

/** How the summary names each category (the first word of a label). */
const NOUNS: Record<string, [singular: string, plural: string]> = {
  Bundle: ["bundle", "bundles"],
  Manifest: ["manifest check", "manifest checks"],
  Keys: ["key history", "key histories"],
  File: ["file", "files"],
  Checkpoint: ["checkpoint", "checkpoints"],
  Consistency: ["consistency proof", "consistency proofs"],
  Frontier: ["frontier", "frontiers"],
  Entries: ["entry", "entries"],
  Entry: ["entry", "entries"],
  Payload: ["payload", "payloads"],
  Requests: ["request", "requests"],
  Receipt: ["receipt", "receipts"],
  Report: ["report check", "report checks"],
  Proofs: ["proof check", "proof checks"],
};

export class VerificationReport {
  readonly results: CheckResult[] = [];

  add(label: string, ok: boolean, detail: string, count = 1): void {
    this.results.push({ label, ok, detail: detail === "" && ok ? "valid" : detail, count });
  }

  /** A line that is neither valid nor INVALID, e.g. the time range requested and found. */
  info(label: string, detail: string): void {
    this.results.push({ label, ok: true, detail, count: 0 });
  }

  /** Valid only if something was checked and nothing failed. */
  get valid(): boolean {
    return this.results.some((result) => result.count !== 0) && this.results.every((result) => result.ok);
  }

  /** `1/42 checkpoints INVALID, 41/42 valid; 4001/4001 entries valid; …`, categories in first-seen order. */
  summary(): string {
    const tally = new Map<string, { nouns: [string, string]; good: number; bad: number }>();
    for (const result of this.results) {
      if (result.count === 0) continue;
      const category = result.label.split(" ")[0] ?? "";
      const nouns = NOUNS[category] ?? [category.toLowerCase(), category.toLowerCase()];
      const entry = tally.get(nouns[1]) ?? { nouns, good: 0, bad: 0 };
      if (result.ok) entry.good += result.count ?? 1;
      else entry.bad += result.count ?? 1;
      tally.set(nouns[1], entry);
    }
    if (tally.size === 0) return "nothing was checked";
    return [...tally.values()]
      .map(({ nouns, good, bad }) => {
        const total = good + bad;
        const noun = total === 1 ? nouns[0] : nouns[1];
        return bad === 0 ? `${total}/${total} ${noun} valid` : `${bad}/${total} ${noun} INVALID, ${good}/${total} valid`;
      })
      .join("; ");
  }

  /** One line per check, the verdict in one column, then the summary. Control characters from a hostile bundle are escaped. */
  format(): string {
    // reduce, not Math.max(...spread): a filtered export can have more lines than a call has arguments.
    const width = Math.min(this.results.reduce((max, result) => Math.max(max, printable(result.label).length), 0), 88) + 2;
    const lines = this.results.map((result) => {
      const verdict = result.count === 0 || result.ok ? result.detail : `INVALID: ${result.detail}`;
      return `${printable(result.label).padEnd(width)}${printable(verdict)}`;
    });
    return `${[...lines, this.summary()].join("\n")}\n`;
  }
}

function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// ---------------------------------------------------------------------------------------------
// Keys and signed notes

/** One line of keys.json: every key that ever signed for the log (design 003, "Keys"). */
export interface KeyRecord {
  name: string;
  key_id: string;
  vkey: string;
  role: string;
  valid_from: string;
  valid_to: string | null;
}

/** The verifier for a key record, or the reason it cannot be used (bad vkey, name or ID not matching it). */
export function keyVerifier(key: KeyRecord): NoteVerifier {
  const verifier = parseVerifierKey(key.vkey);
  if (verifier.name !== key.name) throw new VerificationError(`key ${key.key_id}: name ${JSON.stringify(key.name)} does not match its vkey`);
  if (verifier.keyId.toString("hex") !== key.key_id) throw new VerificationError(`key ${key.key_id}: key ID does not match its vkey`);
  return verifier;
}

function verifiersFor(keys: readonly KeyRecord[], roles: readonly string[]): NoteVerifier[] {
  return keys.flatMap((key) => {
    if (!roles.includes(key.role)) return [];
    try {
      return [keyVerifier(key)];
    } catch {
      return []; // reported where keys.json is read; an unusable key verifies nothing
    }
  });
}

/**
 * Opens a signed note with the keys of the given roles (c2sp.org/signed-note: unknown keys are
 * ignored, every known signature must verify, at least one must). Errors carry the reason to print.
 */
export function openSignedNote(note: string, keys: readonly KeyRecord[], roles: readonly string[]): OpenedNote {
  const verifiers = verifiersFor(keys, roles);
  try {
    return openNote(note, verifiers);
  } catch (error) {
    if (error instanceof NoteError && error.reason === "no_trusted_signature") {
      const known = new Set(verifiers.map((v) => `${v.name}+${v.keyId.toString("hex")}`));
      throw new VerificationError(`public key not found for key ID ${describeSigners(note, known)}`);
    }
    throw new VerificationError(reasonOf(error));
  }
}

/** The key IDs (with names) of a note's signature lines that are not in `known`, for the "not found" reason. */
function describeSigners(note: string, known: ReadonlySet<string>): string {
  const block = note.slice(note.lastIndexOf("\n\n") + 2);
  const ids = block
    .split("\n")
    .map((line) => /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line))
    .flatMap((match) => {
      if (!match) return [];
      const keyId = Buffer.from(match[2] ?? "", "base64").subarray(0, 4).toString("hex");
      return known.has(`${match[1]}+${keyId}`) ? [] : [`${keyId} (${match[1]})`];
    });
  return ids.length > 0 ? ids.join(", ") : "(no signature lines)";
}

interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  /** The log's signature and any witness cosignatures that verified. */
  signatures: VerifiedSignature[];
}

/**
 * Verifies a signed checkpoint (c2sp.org/tlog-checkpoint) for `origin`. Only keys with role "log"
 * make a checkpoint valid; "witness" cosignatures are verified too and their timestamps must fall
 * in the witness key's validity window (c2sp.org/tlog-cosignature). A plain Ed25519 signature
 * carries no time, so a log key's window cannot be checked against it.
 */
export function verifyCheckpointNote(text: string, origin: string, keys: readonly KeyRecord[]): VerifiedCheckpoint {
  // Parse before verifying, so a checkpoint of another log is named as such rather than as an unknown key.
  const split = text.lastIndexOf("\n\n");
  if (split < 0) throw new VerificationError("invalid format: a signed note needs a blank line before its signatures");
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(text.slice(0, split + 1));
  } catch (error) {
    throw new VerificationError(reasonOf(error));
  }
  if (checkpoint.origin !== origin) {
    throw new VerificationError(`origin ${JSON.stringify(checkpoint.origin)} does not match ${JSON.stringify(origin)}`);
  }
  const opened = openSignedNote(text, keys, ["log", "witness"]);
  const logKeys = new Set(keys.filter((key) => key.role === "log").map((key) => `${key.name}+${key.key_id}`));
  if (!opened.verified.some((sig) => logKeys.has(`${sig.name}+${sig.keyId}`))) {
    throw new VerificationError(`public key not found for key ID ${describeSigners(text, logKeys)}: no log key signed this checkpoint`);
  }
  // A cosignature made outside its witness key's window (a retired key, a witness clock far off)
  // does not count; it does not void the log's own signature either.
  return { checkpoint, signatures: opened.verified.filter((sig) => sig.timestamp === undefined || inValidityWindow(sig, sig.timestamp * 1000, keys)) };
}

function inValidityWindow(sig: VerifiedSignature, atMs: number, keys: readonly KeyRecord[]): boolean {
  const key = keys.find((k) => k.name === sig.name && k.key_id === sig.keyId);
  const from = key ? Date.parse(key.valid_from) : NaN;
  const to = key?.valid_to == null ? Infinity : Date.parse(key.valid_to);
  return atMs >= from && atMs < to;
}

// ---------------------------------------------------------------------------------------------
// Leaves

/** A payload stored beside the ledger, committed to by its SHA-256 (auditRecord.ts PayloadReference). */
interface PayloadRef {
  sha256: string;
  [key: string]: unknown;
}

interface RecordBase {
  time: string;
  [key: string]: unknown;
}

/** The fields the verifiers rely on; the rest of each record is carried as it is. */
export type LeafRecord =
  | (RecordBase & { type: "request"; request_id: string; status?: unknown; body?: PayloadRef })
  | (RecordBase & { type: "completion"; request_id: string; response?: PayloadRef })
  | (RecordBase & { type: "run"; request_id: string; output?: PayloadRef })
  | (RecordBase & { type: "policy" | "ledger" | "approval" | "access" | "access_review" });

export interface ParsedLeaf {
  seq: number;
  record: LeafRecord;
}

const LEAF_FIELDS = ["log", "record", "seq", "v"];
/** Where each record type keeps its payload reference (design 003: bodies, responses, run outputs). */
const PAYLOAD_FIELD = { request: "body", completion: "response", run: "output" } as const;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses a leaf `{"log","record","seq","v":1}` and checks everything but its position: valid
 * UTF-8 JSON, byte-for-byte RFC 8785 canonical (which rejects duplicate keys and whitespace
 * edits, since re-serialising cannot reproduce them), version 1, `log` = origin, `seq` a decimal string.
 */
export function parseLeaf(leaf: Buffer, origin: string, { canonical } = { canonical: true }): ParsedLeaf {
  let text: string;
  let value: unknown;
  try {
    // fatal and BOM kept: one string per byte sequence, so comparing texts compares the bytes.
    text = UTF8.decode(leaf);
    value = JSON.parse(text);
  } catch {
    throw new VerificationError("not JSON");
  }
  if (!isObject(value)) throw new VerificationError("invalid format: a leaf is a JSON object");
  if (canonical && !isCanonicalText(text, value)) throw new VerificationError("not canonical JSON (RFC 8785)");
  const extra = Object.keys(value).filter((key) => !LEAF_FIELDS.includes(key));
  if (extra.length > 0) throw new VerificationError(`invalid format: unexpected leaf field ${extra.join(", ")}`);
  if (value.v !== 1) throw new VerificationError(`unsupported leaf version ${JSON.stringify(value.v)} (expected 1)`);
  if (value.log !== origin) throw new VerificationError(`log ${JSON.stringify(value.log)} does not match origin ${JSON.stringify(origin)}`);
  // I-JSON: seq is a decimal string without leading zeros (design 003).
  const seq = typeof value.seq === "string" && /^(?:0|[1-9][0-9]{0,15})$/.test(value.seq) ? Number(value.seq) : NaN;
  if (!Number.isSafeInteger(seq)) throw new VerificationError(`invalid format: seq ${JSON.stringify(value.seq)} is not a decimal string`);
  return { seq, record: checkRecord(value.record) };
}

/** parseLeaf, and the leaf must sit at `expectedSeq` (seq equals the leaf index, gapless). */
export function checkEntry(leaf: Buffer, expectedSeq: number, origin: string): ParsedLeaf {
  const parsed = parseLeaf(leaf, origin);
  if (parsed.seq > expectedSeq) throw new VerificationError(`sequence gap: expected ${expectedSeq}, found ${parsed.seq}`);
  if (parsed.seq < expectedSeq) throw new VerificationError(`sequence out of order: expected ${expectedSeq}, found ${parsed.seq} (a duplicate or moved entry)`);
  return parsed;
}

/** The payload a record references, if any. */
export function payloadOf(record: LeafRecord): PayloadRef | undefined {
  if (record.type === "request") return record.body;
  if (record.type === "completion") return record.response;
  if (record.type === "run") return record.output;
  return undefined;
}

function checkRecord(record: unknown): LeafRecord {
  if (!isObject(record)) throw new VerificationError("invalid format: record must be an object");
  const { type } = record;
  if (type !== "request" && type !== "completion" && type !== "run" && type !== "policy" && type !== "ledger" && type !== "approval" && type !== "access" && type !== "access_review") {
    throw new VerificationError(`invalid format: unknown record type ${JSON.stringify(type)}`);
  }
  if (typeof record.time !== "string") throw new VerificationError(`invalid format: ${type} record without a time`);
  if (type === "policy" || type === "ledger" || type === "approval" || type === "access" || type === "access_review") return record as LeafRecord;
  if (typeof record.request_id !== "string") throw new VerificationError(`invalid format: ${type} record without a request_id`);
  const field = PAYLOAD_FIELD[type];
  const ref = record[field];
  if (ref !== undefined && !(isObject(ref) && typeof ref.sha256 === "string" && /^[0-9a-f]{64}$/.test(ref.sha256))) {
    throw new VerificationError(`invalid format: record.${field}.sha256 is not a SHA-256 hex digest`);
  }
  return record as LeafRecord;
}

/** RFC 8785 (JCS) serialisation of a value from JSON.parse: the writer's own (canonical.ts), which
 * the release bundles into verify.mjs, so the standalone verifier still needs no package. */
export function canonicalText(value: unknown): string {
  return canonicalJson(value).toString("utf8");
}

// ---------------------------------------------------------------------------------------------
// Tree heads, frontiers and consistency

/** A tree size and root: a verified checkpoint, or the root recomputed from exported entries. */
export interface TreeHead {
  size: number;
  root: Buffer;
}

/** The replayed entries must reach exactly the head's size and hash to its root. */
export function checkRoot(range: CompactRange, head: TreeHead): void {
  if (range.size < head.size) throw new VerificationError(`log truncated: entries end at ${range.size}, checkpoint says ${head.size}`);
  if (range.size > head.size) throw new VerificationError(`entries run past the checkpoint: entries end at ${range.size}, checkpoint says ${head.size}`);
  if (!range.root().equals(head.root)) {
    throw new VerificationError(`root mismatch: entries hash to ${range.root().toString("base64")}, checkpoint ${head.size} says ${head.root.toString("base64")}`);
  }
}

/**
 * Verifies consecutive tree heads (sorted by size) with RFC 9162 §2.1.4.2 consistency proofs;
 * one result per pair, labelled `Consistency <m> -> <n>`. `proofFor` returns the proof from m to n
 * or throws the reason it has none; it is not asked for pairs that need no proof (m = 0 or m = n:
 * equal sizes must simply have equal roots).
 */
export async function verifyHeadChain(
  heads: readonly TreeHead[],
  proofFor: (oldSize: number, newSize: number) => Promise<Buffer[]> | Buffer[],
): Promise<CheckResult[]> {
  const sorted = [...heads].sort((a, b) => a.size - b.size);
  const results: CheckResult[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const older = sorted[i - 1] as TreeHead;
    const newer = sorted[i] as TreeHead;
    const label = `Consistency ${older.size} -> ${newer.size}`;
    try {
      const proof = older.size === 0 || older.size === newer.size ? [] : await proofFor(older.size, newer.size);
      verifyConsistency(older.size, newer.size, proof, older.root, newer.root);
      results.push({ label, ok: true, detail: "valid" });
    } catch (error) {
      results.push({ label, ok: false, detail: reasonOf(error) });
    }
  }
  return results;
}

/** A `consistency/<m>-<n>.txt` file: one base64 hash per line, each line ending in "\n"; empty for no hashes. */
export function parseConsistencyProof(text: string): Buffer[] {
  return parseHashLines(text, "consistency proof");
}

/**
 * `frontier.txt`: the size (which must be `start`), then the roots of the perfect subtrees of
 * [0, start), largest first, one base64 hash per line. Returns the compact range to append to.
 */
export function parseFrontier(text: string, start: number): CompactRange {
  const newline = text.indexOf("\n");
  const sizeLine = newline < 0 ? text : text.slice(0, newline);
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new VerificationError("invalid format: the first line of frontier.txt is the tree size");
  const size = Number(sizeLine);
  if (size !== start) throw new VerificationError(`frontier size ${size} does not match the export's start ${start}`);
  return CompactRange.fromFrontier(size, parseHashLines(newline < 0 ? "" : text.slice(newline + 1), "frontier"));
}

function parseHashLines(text: string, what: string): Buffer[] {
  if (text === "") return [];
  if (!text.endsWith("\n")) throw new VerificationError(`invalid format: ${what} lines must end with a newline`);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line, i) => {
      const hash = Buffer.from(line, "base64");
      // Canonical base64 only, so one hash has one encoding.
      if (hash.length !== 32 || hash.toString("base64") !== line) {
        throw new VerificationError(`invalid format: ${what} line ${i + 1} is not base64 of a 32-byte hash`);
      }
      return hash;
    });
}
