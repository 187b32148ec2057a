// C2SP signed notes, tlog checkpoints, Ed25519 cosignatures and tlog proofs.
//
// Specs: c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature (type 0x04 only),
// c2sp.org/tlog-proof@v1. The vkey text form follows golang.org/x/mod/sumdb/note.
//
// This module imports only node:crypto: it is bundled into the standalone offline verifier, so it
// must not reach into the rest of the gateway (not even src/errors.ts).
import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

/** signed-note §Signature types: Ed25519 over the note text. */
export const SIG_ED25519 = 0x01;
/** signed-note §Signature types / tlog-cosignature: timestamped Ed25519 checkpoint cosignature. */
export const SIG_COSIGNATURE_V1 = 0x04;

/** signed-note §Format: verifiers MUST accept at least 16 signatures; we accept exactly that many. */
const MAX_SIGNATURES = 16;
/** An inclusion proof in a tree of at most 2^64 - 1 leaves has at most 64 hashes. */
const MAX_PROOF_HASHES = 64;
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const HASH_BYTES = 32;
const KEY_ID_BYTES = 4;
const TIMESTAMP_BYTES = 8;
/** tlog-cosignature §Format: the timestamp MUST NOT exceed 2^63 - 1. */
const MAX_COSIGNATURE_TIME = (1n << 63n) - 1n;
const SIGNATURE_PREFIX = "\u2014 "; // em dash, space (signed-note §Format)
const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";

export type NoteErrorReason =
  | "malformed_note"
  | "too_many_signatures"
  | "signature_verification_failed"
  | "no_trusted_signature"
  | "ambiguous_key"
  | "malformed_verifier_key"
  | "key_id_mismatch"
  | "unsupported_signature_type"
  | "invalid_key"
  | "invalid_signer"
  | "cosignature_time_out_of_range"
  | "malformed_checkpoint"
  | "malformed_tlog_proof";

/** Every refusal in this module. `reason` is stable; the message says what was wrong. */
export class NoteError extends Error {
  readonly reason: NoteErrorReason;

  constructor(reason: NoteErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NoteError";
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

/** 32 raw bytes of an Ed25519 public key (RFC 8032 encoding); a private key yields its public half. */
export function publicKeyRaw(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== "ed25519") {
    throw new NoteError("invalid_key", `expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  }
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const { x } = publicKey.export({ format: "jwk" });
  const raw = typeof x === "string" ? Buffer.from(x, "base64url") : Buffer.alloc(0);
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new NoteError("invalid_key", "could not export the raw Ed25519 public key");
  }
  return raw;
}

export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new NoteError("invalid_key", `an Ed25519 public key is 32 bytes, got ${raw.length}`);
  }
  const x = Buffer.from(raw).toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}

/** signed-note §Signatures: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]. */
export function keyIdFor(name: string, sigType: number, publicKeyRaw: Uint8Array): Buffer {
  if (!Number.isInteger(sigType) || sigType < 0 || sigType > 0xff) {
    throw new NoteError("unsupported_signature_type", `signature type must be one byte, got ${sigType}`);
  }
  const hash = createHash("sha256")
    .update(Buffer.from(name, "utf8"))
    .update(Uint8Array.of(0x0a, sigType))
    .update(publicKeyRaw)
    .digest();
  return hash.subarray(0, KEY_ID_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Signers and verifiers

export interface NoteSigner {
  readonly name: string;
  readonly keyId: Buffer;
  readonly type: number;
  /** The signature bytes that follow the 4-byte key ID on the signature line. */
  signatureFor(text: string): Buffer;
  verifierKey(): string;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Buffer;
  readonly type: number;
  readonly publicKey: KeyObject;
}

/** Type 0x01 signer (signed-note §Ed25519 signatures): Ed25519 over the note text itself. */
export function ed25519NoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  const raw = signerPublicKey(name, privateKey);
  return {
    name,
    keyId: keyIdFor(name, SIG_ED25519, raw),
    type: SIG_ED25519,
    signatureFor: (text) => sign(null, Buffer.from(text, "utf8"), privateKey),
    verifierKey: () => formatVerifierKey(name, SIG_ED25519, raw),
  };
}

/**
 * Type 0x04 signer (tlog-cosignature §Ed25519 signed message): signs
 * "cosignature/v1\ntime <T>\n" followed by the whole checkpoint text, and emits u64be(T) || signature.
 */
export function cosignatureSigner(
  name: string,
  privateKey: KeyObject,
  now: () => number = () => Math.floor(Date.now() / 1000),
): NoteSigner {
  const raw = signerPublicKey(name, privateKey);
  return {
    name,
    keyId: keyIdFor(name, SIG_COSIGNATURE_V1, raw),
    type: SIG_COSIGNATURE_V1,
    signatureFor: (text) => {
      // tlog-cosignature §Format: a cosignature is a note signature applied to a checkpoint.
      parseCheckpoint(text);
      const time = now();
      if (!Number.isSafeInteger(time) || time < 0) {
        throw new NoteError("cosignature_time_out_of_range", `cosignature time must be whole unix seconds, got ${time}`);
      }
      const signature = sign(null, cosignedMessage(BigInt(time), text), privateKey);
      const out = Buffer.alloc(TIMESTAMP_BYTES + signature.length);
      out.writeBigUInt64BE(BigInt(time), 0);
      signature.copy(out, TIMESTAMP_BYTES);
      return out;
    },
    verifierKey: () => formatVerifierKey(name, SIG_COSIGNATURE_V1, raw),
  };
}

function signerPublicKey(name: string, privateKey: KeyObject): Buffer {
  if (!isValidKeyName(name)) {
    throw new NoteError("invalid_signer", `key name ${JSON.stringify(name)} is empty or contains a space or "+"`);
  }
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519") {
    throw new NoteError("invalid_key", "a note signer needs an Ed25519 private key");
  }
  return publicKeyRaw(privateKey);
}

/** tlog-cosignature §Ed25519 signed message: header line, "time" line (decimal, no leading zeros), note text. */
function cosignedMessage(time: bigint, text: string): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time.toString()}\n${text}`, "utf8");
}

/** signed-note §Verifier keys: "<name>+<hex key ID>+<base64(type || public key)>". */
export function formatVerifierKey(name: string, type: number, publicKeyRaw: Uint8Array): string {
  if (!isValidKeyName(name)) {
    throw new NoteError("malformed_verifier_key", `key name ${JSON.stringify(name)} is empty or contains a space or "+"`);
  }
  assertSupportedType(type);
  if (publicKeyRaw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new NoteError("invalid_key", `an Ed25519 public key is 32 bytes, got ${publicKeyRaw.length}`);
  }
  const keyId = keyIdFor(name, type, publicKeyRaw);
  const material = Buffer.concat([Uint8Array.of(type), publicKeyRaw]).toString("base64");
  return `${name}+${keyId.toString("hex")}+${material}`;
}

export function parseVerifierKey(vkey: string): NoteVerifier {
  // The name and the key ID cannot contain "+", but base64 can: split at the first two only.
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) {
    throw new NoteError("malformed_verifier_key", "a verifier key is <name>+<key id>+<base64 key>");
  }
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  const material = decodeBase64(vkey.slice(second + 1));
  if (!isValidKeyName(name)) {
    throw new NoteError("malformed_verifier_key", "verifier key name is empty or contains a space, '+' or a control character");
  }
  // signed-note §Conventions: key IDs are fixed-length lowercase hex.
  if (!/^[0-9a-f]{8}$/.test(idHex)) {
    throw new NoteError("malformed_verifier_key", "verifier key ID must be 8 lowercase hex digits");
  }
  if (material === undefined || material.length < 1) {
    throw new NoteError("malformed_verifier_key", "verifier key material is not valid base64");
  }
  const type = material[0] as number;
  const raw = material.subarray(1);
  assertSupportedType(type);
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new NoteError("malformed_verifier_key", `an Ed25519 public key is 32 bytes, got ${raw.length}`);
  }
  const keyId = keyIdFor(name, type, raw);
  if (keyId.toString("hex") !== idHex) {
    throw new NoteError("key_id_mismatch", `verifier key ID ${idHex} does not match its name and key (${keyId.toString("hex")})`);
  }
  return { name, keyId, type, publicKey: ed25519PublicKeyFromRaw(raw) };
}

function assertSupportedType(type: number): void {
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) {
    throw new NoteError("unsupported_signature_type", `signature type ${type} is not supported (only 0x01 and 0x04)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Signed notes

export interface VerifiedSignature {
  name: string;
  /** 8 lowercase hex digits. */
  keyId: string;
  type: number;
  /** Unix seconds a type 0x04 cosignature attests to. */
  timestamp?: number;
}

export interface OpenedNote {
  text: string;
  verified: VerifiedSignature[];
  /** Signature lines from keys the caller did not configure (ignored, signed-note §Signatures). */
  unknown: number;
}

interface SignatureLine {
  line: string;
  name: string;
  keyId: Buffer;
  signature: Buffer;
}

/** Signs `text` (which must end in a newline) and returns the signed note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  assertNoteText(text);
  if (signers.length === 0) {
    throw new NoteError("invalid_signer", "a signed note needs at least one signer");
  }
  if (signers.length > MAX_SIGNATURES) {
    throw new NoteError("too_many_signatures", `a note carries at most ${MAX_SIGNATURES} signatures`);
  }
  return `${text}\n${signatureLines(text, signers).join("")}`;
}

/**
 * Adds signature lines to an existing signed note, keeping the existing lines verbatim. A line
 * from the same key (name and key ID) is replaced. Nothing is verified here: a witness must
 * openNote the log's checkpoint before cosigning it.
 */
export function addSignatures(note: string, signers: readonly NoteSigner[]): string {
  const { text, signatures } = splitNote(note);
  if (signers.length === 0) {
    throw new NoteError("invalid_signer", "no signers given");
  }
  const added = new Set(signers.map((s) => signerKey(s.name, s.keyId)));
  const kept = signatures.filter((s) => !added.has(signerKey(s.name, s.keyId))).map((s) => `${s.line}\n`);
  if (kept.length + signers.length > MAX_SIGNATURES) {
    throw new NoteError("too_many_signatures", `a note carries at most ${MAX_SIGNATURES} signatures`);
  }
  return `${text}\n${kept.join("")}${signatureLines(text, signers).join("")}`;
}

function signatureLines(text: string, signers: readonly NoteSigner[]): string[] {
  const seen = new Set<string>();
  return signers.map((signer) => {
    if (!isValidKeyName(signer.name)) {
      throw new NoteError("invalid_signer", `signer name ${JSON.stringify(signer.name)} is empty or contains a space or "+"`);
    }
    if (signer.keyId.length !== KEY_ID_BYTES) {
      throw new NoteError("invalid_signer", `signer ${signer.name} has a key ID of ${signer.keyId.length} bytes, not 4`);
    }
    const key = signerKey(signer.name, signer.keyId);
    if (seen.has(key)) {
      throw new NoteError("invalid_signer", `signer ${signer.name} is listed twice`);
    }
    seen.add(key);
    const signature = signer.signatureFor(text);
    if (signature.length === 0) {
      throw new NoteError("invalid_signer", `signer ${signer.name} returned an empty signature`);
    }
    // signed-note §Format: "— <name> base64(key ID || signature)\n".
    return `${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([signer.keyId, signature]).toString("base64")}\n`;
  });
}

/**
 * Verifies a signed note per c2sp.org/signed-note: the text ends at the last blank line; signatures
 * from unknown keys are ignored; every signature from a known key must verify; at least one must.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = splitNote(note);
  const known = verifierIndex(verifiers);
  const textBytes = Buffer.from(text, "utf8");
  const verified: VerifiedSignature[] = [];
  const reported = new Set<string>();
  let unknown = 0;

  for (const sig of signatures) {
    const key = signerKey(sig.name, sig.keyId);
    const candidates = known.get(key);
    // signed-note §Signatures: ignore keys matching on name or ID but not both.
    if (candidates === undefined) {
      unknown++;
      continue;
    }
    if (candidates.length > 1) {
      throw new NoteError("ambiguous_key", `more than one verifier is configured for ${sig.name}+${sig.keyId.toString("hex")}`);
    }
    const verifier = candidates[0] as NoteVerifier;
    // Every signature from a known key is checked, even a repeated one (the spec says MUST verify).
    const result = verifySignature(verifier, textBytes, text, sig.signature);
    if (result === undefined) {
      throw new NoteError("signature_verification_failed", `signature verification failed for ${sig.name}`);
    }
    if (reported.has(key)) continue;
    reported.add(key);
    verified.push(result);
  }

  if (verified.length === 0) {
    throw new NoteError("no_trusted_signature", "no trusted signature verifies");
  }
  return { text, verified, unknown };
}

function verifySignature(
  verifier: NoteVerifier,
  textBytes: Buffer,
  text: string,
  signature: Buffer,
): VerifiedSignature | undefined {
  const base = { name: verifier.name, keyId: verifier.keyId.toString("hex"), type: verifier.type };
  if (verifier.type === SIG_ED25519) {
    if (signature.length !== ED25519_SIGNATURE_BYTES) return undefined;
    return verify(null, textBytes, verifier.publicKey, signature) ? base : undefined;
  }
  if (verifier.type === SIG_COSIGNATURE_V1) {
    if (signature.length !== TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES) return undefined;
    const time = signature.readBigUInt64BE(0);
    if (time > MAX_COSIGNATURE_TIME) return undefined;
    const ok = verify(null, cosignedMessage(time, text), verifier.publicKey, signature.subarray(TIMESTAMP_BYTES));
    if (!ok) return undefined;
    // tlog-cosignature §Format: verifiers MAY reject future timestamps; past 2^53 is far future.
    if (time > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NoteError("cosignature_time_out_of_range", `cosignature time from ${verifier.name} is implausibly far in the future`);
    }
    return { ...base, timestamp: Number(time) };
  }
  throw new NoteError("unsupported_signature_type", `verifier ${verifier.name} has unsupported signature type ${verifier.type}`);
}

/** Verifiers by name and key ID; identical duplicates collapse, differing ones stay ambiguous. */
function verifierIndex(verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier[]> {
  const index = new Map<string, NoteVerifier[]>();
  const material = new Map<NoteVerifier, string>();
  for (const verifier of verifiers) {
    const identity = `${verifier.type}:${publicKeyRaw(verifier.publicKey).toString("hex")}`;
    material.set(verifier, identity);
    const key = signerKey(verifier.name, verifier.keyId);
    const list = index.get(key) ?? [];
    if (!list.some((other) => material.get(other) === identity)) list.push(verifier);
    index.set(key, list);
  }
  return index;
}

function signerKey(name: string, keyId: Buffer): string {
  return `${name}+${keyId.toString("hex")}`;
}

/** Parses the structure of a signed note without verifying anything (signed-note §Format). */
function splitNote(note: string): { text: string; signatures: SignatureLine[] } {
  if (!isWellFormedText(note)) {
    throw new NoteError("malformed_note", "a signed note must be valid UTF-8 with no control characters other than newline");
  }
  // The text is separated from the signatures by the last empty line in the note.
  const split = note.lastIndexOf("\n\n");
  if (split < 0) {
    throw new NoteError("malformed_note", "a signed note needs a blank line between its text and its signatures");
  }
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === "" || !block.endsWith("\n")) {
    throw new NoteError("malformed_note", "the signature block must be one or more lines, each ending in a newline");
  }
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError("too_many_signatures", `a note carries at most ${MAX_SIGNATURES} signatures, this one has ${lines.length}`);
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

function parseSignatureLine(line: string): SignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    throw new NoteError("malformed_note", "a signature line must start with an em dash (U+2014) and a space");
  }
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const name = space < 0 ? "" : rest.slice(0, space);
  if (!isValidKeyName(name)) {
    throw new NoteError("malformed_note", "a signature line must name its key with no spaces or '+'");
  }
  const bytes = decodeBase64(rest.slice(space + 1));
  if (bytes === undefined || bytes.length <= KEY_ID_BYTES) {
    throw new NoteError("malformed_note", `the signature from ${name} is not base64 of a key ID and a signature`);
  }
  return { line, name, keyId: bytes.subarray(0, KEY_ID_BYTES), signature: bytes.subarray(KEY_ID_BYTES) };
}

function assertNoteText(text: string): void {
  if (!text.endsWith("\n")) {
    throw new NoteError("malformed_note", "note text must end with a newline");
  }
  if (!isWellFormedText(text)) {
    throw new NoteError("malformed_note", "note text must be valid UTF-8 with no control characters other than newline");
  }
}

/** signed-note §Format: key names are non-empty, with no Unicode spaces and no "+". */
function isValidKeyName(name: string): boolean {
  return name !== "" && !/[\s\u0085+]/u.test(name) && isWellFormedText(name);
}

/**
 * signed-note §Format: valid UTF-8 and no ASCII control characters other than newline. A JS
 * string is valid UTF-8 once encoded unless it holds a lone surrogate. Callers that read bytes
 * should decode with `new TextDecoder("utf-8", { fatal: true })` so invalid bytes are refused.
 */
function isWellFormedText(text: string): boolean {
  return !/[\x00-\x09\x0b-\x1f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** RFC 4648 §4 standard base64, padded and canonical (so one value has exactly one encoding). */
function decodeBase64(text: string): Buffer | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (c2sp.org/tlog-checkpoint)

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** Opaque extension lines; NOT RECOMMENDED by tlog-checkpoint §Note text. */
  extensions?: string[];
}

/** The checkpoint note text: origin, decimal size, base64 root, extension lines, each ending in "\n". */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, root, extensions = [] } = checkpoint;
  if (origin === "" || origin.includes("\n") || !isWellFormedText(origin)) {
    throw new NoteError("malformed_checkpoint", "checkpoint origin must be a non-empty line of text");
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new NoteError("malformed_checkpoint", `checkpoint size must be a non-negative integer, got ${size}`);
  }
  if (root.length !== HASH_BYTES) {
    throw new NoteError("malformed_checkpoint", `checkpoint root must be a 32-byte SHA-256 hash, got ${root.length} bytes`);
  }
  for (const line of extensions) {
    if (line === "" || line.includes("\n") || !isWellFormedText(line)) {
      throw new NoteError("malformed_checkpoint", "checkpoint extension lines must be non-empty lines of text");
    }
  }
  return [origin, String(size), root.toString("base64"), ...extensions].map((line) => `${line}\n`).join("");
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n") || !isWellFormedText(text)) {
    throw new NoteError("malformed_checkpoint", "checkpoint text must be newline-terminated lines with no control characters");
  }
  const lines = text.slice(0, -1).split("\n");
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin === undefined || sizeLine === undefined || rootLine === undefined) {
    throw new NoteError("malformed_checkpoint", "a checkpoint has at least three lines: origin, size, root hash");
  }
  if (origin === "") {
    throw new NoteError("malformed_checkpoint", "checkpoint origin must be non-empty");
  }
  const size = parseDecimal(sizeLine);
  if (size === undefined) {
    throw new NoteError("malformed_checkpoint", `checkpoint size ${JSON.stringify(sizeLine)} is not a decimal without leading zeros`);
  }
  const root = decodeBase64(rootLine);
  if (root === undefined || root.length !== HASH_BYTES) {
    throw new NoteError("malformed_checkpoint", "checkpoint root must be base64 of a 32-byte hash");
  }
  if (extensions.some((line) => line === "")) {
    throw new NoteError("malformed_checkpoint", "checkpoint extension lines must be non-empty");
  }
  return extensions.length > 0 ? { origin, size, root, extensions } : { origin, size, root };
}

/** ASCII decimal, no leading zeros unless "0"; limited to what a JS number holds exactly. */
function parseDecimal(text: string): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Proofs (c2sp.org/tlog-proof@v1)

interface TlogProof {
  /** The base64 text of the opaque, unauthenticated extra data (tlog-proof §Format), as on the wire. */
  extra?: string;
  index: number;
  /** RFC 6962 §2.1.1 inclusion proof, leaf's sibling first. */
  proof: Buffer[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

export function formatTlogProof(p: TlogProof): string {
  if (p.extra !== undefined) {
    const extra = decodeBase64(p.extra);
    if (extra === undefined || extra.length === 0) {
      throw new NoteError("malformed_tlog_proof", "extra must be non-empty canonical base64 (omit it when there is none)");
    }
  }
  if (!Number.isSafeInteger(p.index) || p.index < 0) {
    throw new NoteError("malformed_tlog_proof", `index must be a non-negative integer, got ${p.index}`);
  }
  if (p.proof.length > MAX_PROOF_HASHES || p.proof.some((hash) => hash.length !== HASH_BYTES)) {
    throw new NoteError("malformed_tlog_proof", "the inclusion proof must be at most 64 hashes of 32 bytes");
  }
  checkProofCheckpoint(p.index, p.checkpoint);
  const lines = [TLOG_PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${p.extra}`);
  lines.push(`index ${p.index}`, ...p.proof.map((hash) => hash.toString("base64")));
  return `${lines.join("\n")}\n\n${p.checkpoint}`;
}

export function parseTlogProof(text: string): TlogProof {
  // The proof lines are non-empty, so the first blank line ends them; the checkpoint follows verbatim.
  const split = text.indexOf("\n\n");
  if (split < 0) {
    throw new NoteError("malformed_tlog_proof", "a tlog proof needs a blank line before its checkpoint");
  }
  const lines = text.slice(0, split).split("\n");
  const checkpoint = text.slice(split + 2);
  if (lines[0] !== TLOG_PROOF_HEADER) {
    throw new NoteError("malformed_tlog_proof", `a tlog proof must start with the line ${TLOG_PROOF_HEADER}`);
  }
  let next = 1;
  let extra: string | undefined;
  const extraLine = lines[next];
  if (extraLine !== undefined && extraLine.startsWith("extra ")) {
    extra = extraLine.slice("extra ".length);
    const bytes = decodeBase64(extra);
    if (bytes === undefined || bytes.length === 0) {
      throw new NoteError("malformed_tlog_proof", "the extra line must carry non-empty canonical base64");
    }
    next++;
  }
  const indexLine = lines[next] ?? "";
  const index = indexLine.startsWith("index ") ? parseDecimal(indexLine.slice("index ".length)) : undefined;
  if (index === undefined) {
    throw new NoteError("malformed_tlog_proof", "expected an 'index <n>' line with a decimal without leading zeros");
  }
  const hashLines = lines.slice(next + 1);
  if (hashLines.length > MAX_PROOF_HASHES) {
    throw new NoteError("malformed_tlog_proof", `the inclusion proof has more than ${MAX_PROOF_HASHES} hashes`);
  }
  const proof = hashLines.map((line, i) => {
    const hash = decodeBase64(line);
    if (hash === undefined || hash.length !== HASH_BYTES) {
      throw new NoteError("malformed_tlog_proof", `inclusion proof line ${i + 1} is not base64 of a 32-byte hash`);
    }
    return hash;
  });
  checkProofCheckpoint(index, checkpoint);
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint };
}

/** The checkpoint must be a structurally valid signed checkpoint whose tree contains `index`. */
function checkProofCheckpoint(index: number, checkpoint: string): void {
  let parsed: Checkpoint;
  try {
    parsed = parseCheckpoint(splitNote(checkpoint).text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new NoteError("malformed_tlog_proof", `the proof's checkpoint is malformed: ${detail}`, { cause: error });
  }
  if (index >= parsed.size) {
    throw new NoteError("malformed_tlog_proof", `index ${index} is not below the checkpoint tree size ${parsed.size}`);
  }
}
