// C2SP signed notes, checkpoints, cosignatures and tlog proofs (src/ledger/note.ts). Known answers
// come from golang.org/x/mod/sumdb/note's tests and the C2SP spec examples.
import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { describe, test } from "node:test";
import {
  NoteError,
  SIG_COSIGNATURE_V1,
  SIG_ED25519,
  addSignatures,
  cosignatureSigner,
  ed25519NoteSigner,
  ed25519PublicKeyFromRaw,
  formatCheckpoint,
  formatTlogProof,
  formatVerifierKey,
  keyIdFor,
  openNote,
  parseCheckpoint,
  parseTlogProof,
  parseVerifierKey,
  publicKeyRaw,
  signNote,
  type NoteErrorReason,
  type NoteVerifier,
} from "../../src/ledger/note.js";

function refusal(fn: () => unknown, reason: NoteErrorReason, message?: RegExp): NoteError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof NoteError, `expected a NoteError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected a NoteError (${reason})`);
}

// golang.org/x/mod/sumdb/note note_test.go
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG =
  "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/** Go's skey is "PRIVATE+KEY+<name>+<id>+base64(0x01 || 32-byte seed)"; wrap the seed in PKCS#8. */
function privateKeyFromGoSkey(skey: string): KeyObject {
  const material = Buffer.from(skey.split("+").slice(4).join("+"), "base64");
  assert.equal(material[0], SIG_ED25519);
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), material.subarray(1)]);
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}

function newKey(): KeyObject {
  return generateKeyPairSync("ed25519").privateKey;
}

const ROOT = Buffer.from("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "base64");
const CHECKPOINT_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

describe("known answers from Go's sumdb note package and the C2SP spec", () => {
  test("parses the PeterNeumann verifier key and keyIdFor reproduces its key ID c74f20a3", () => {
    const verifier = parseVerifierKey(PETER_VKEY);
    assert.equal(verifier.name, "PeterNeumann");
    assert.equal(verifier.type, SIG_ED25519);
    assert.equal(verifier.keyId.toString("hex"), "c74f20a3");
    const raw = Buffer.from("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "base64").subarray(1);
    assert.equal(keyIdFor("PeterNeumann", SIG_ED25519, raw).toString("hex"), "c74f20a3");
    assert.deepEqual(publicKeyRaw(verifier.publicKey), raw);
  });

  test("opens Go's note signed by PeterNeumann", () => {
    const opened = openNote(`${GO_TEXT}\n${PETER_SIG}`, [parseVerifierKey(PETER_VKEY)]);
    assert.equal(opened.text, GO_TEXT);
    assert.deepEqual(opened.verified, [{ name: "PeterNeumann", keyId: "c74f20a3", type: SIG_ED25519 }]);
    assert.equal(opened.unknown, 0);
  });

  test("verifies both of Go's signatures when both keys are trusted, and ignores the untrusted one otherwise", () => {
    const note = `${GO_TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const both = openNote(note, [parseVerifierKey(PETER_VKEY), parseVerifierKey(ENOCH_VKEY)]);
    assert.deepEqual(
      both.verified.map((s) => `${s.name}+${s.keyId}`),
      ["PeterNeumann+c74f20a3", "EnochRoot+af0cfe78"],
    );
    assert.equal(both.unknown, 0);
    const peterOnly = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    assert.equal(peterOnly.verified.length, 1);
    assert.equal(peterOnly.unknown, 1);
  });

  test("signing with Go's PeterNeumann private key reproduces Go's signed note byte for byte", () => {
    const signer = ed25519NoteSigner("PeterNeumann", privateKeyFromGoSkey(PETER_SKEY));
    assert.equal(signer.keyId.toString("hex"), "c74f20a3");
    assert.equal(signer.verifierKey(), PETER_VKEY);
    assert.equal(signNote(GO_TEXT, [signer]), `${GO_TEXT}\n${PETER_SIG}`);
  });

  test("opens the C2SP signed-note example with its verifier key", () => {
    const vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const note =
      "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    const opened = openNote(note, [parseVerifierKey(vkey)]);
    assert.equal(opened.text, "This is an example message.\n");
    assert.deepEqual(opened.verified, [{ name: "example.com/foo", keyId: "530d903a", type: SIG_ED25519 }]);
  });

  test("parses the C2SP tlog-checkpoint example text", () => {
    assert.deepEqual(parseCheckpoint(CHECKPOINT_TEXT), {
      origin: "example.com/behind-the-sofa",
      size: 20852163,
      root: ROOT,
    });
  });

  test("rejects every truncation and every single-character change of a verifier key (Go's mangling test)", () => {
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        assert.throws(() => parseVerifierKey(PETER_VKEY.slice(i, j)), NoteError, PETER_VKEY.slice(i, j));
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const mangled = PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      assert.throws(() => parseVerifierKey(mangled), NoteError, mangled);
    }
  });

  test("rejects Go's wrong-length key and unknown-algorithm key even with adjusted key IDs", () => {
    refusal(
      () => parseVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
      "malformed_verifier_key",
    );
    refusal(
      () => parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "unsupported_signature_type",
    );
  });

  test("rejects Go's malformed note encodings", () => {
    const peter = [parseVerifierKey(PETER_VKEY)];
    const bad = [
      GO_TEXT,
      `${GO_TEXT}\n`,
      `${GO_TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${GO_TEXT}\n${PETER_SIG}`,
      `\ud800${GO_TEXT}\n${PETER_SIG}`,
      `${GO_TEXT}\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${GO_TEXT}\n${PETER_SIG}Unexpected line.\n`,
    ];
    for (const note of bad) refusal(() => openNote(note, peter), "malformed_note");
  });
});

describe("checkpoints with timestamped cosignatures", () => {
  const logKey = newKey();
  const witnessKey = newKey();
  const log = ed25519NoteSigner("example.com/behind-the-sofa", logKey);
  const witness = cosignatureSigner("witness.example.com/w1", witnessKey, () => 1679315147);
  const logVerifier = parseVerifierKey(log.verifierKey());
  const witnessVerifier = parseVerifierKey(witness.verifierKey());
  const signed = signNote(CHECKPOINT_TEXT, [log]);
  const cosigned = addSignatures(signed, [witness]);

  test("a log-signed, witness-cosigned checkpoint opens with both keys and reports the cosignature time", () => {
    const opened = openNote(cosigned, [logVerifier, witnessVerifier]);
    assert.equal(opened.text, CHECKPOINT_TEXT);
    assert.deepEqual(opened.verified, [
      { name: log.name, keyId: log.keyId.toString("hex"), type: SIG_ED25519 },
      { name: witness.name, keyId: witness.keyId.toString("hex"), type: SIG_COSIGNATURE_V1, timestamp: 1679315147 },
    ]);
    assert.equal(opened.unknown, 0);
    assert.deepEqual(parseCheckpoint(opened.text), parseCheckpoint(CHECKPOINT_TEXT));
  });

  test("opening with only the log key verifies the log signature and counts the cosignature as unknown", () => {
    const opened = openNote(cosigned, [logVerifier]);
    assert.deepEqual(opened.verified.map((s) => s.name), [log.name]);
    assert.equal(opened.unknown, 1);
  });

  test("opening with only the witness key verifies the cosignature alone", () => {
    const opened = openNote(cosigned, [witnessVerifier]);
    assert.deepEqual(opened.verified.map((s) => s.timestamp), [1679315147]);
    assert.equal(opened.unknown, 1);
  });

  test("addSignatures keeps the existing signature line verbatim and appends the cosignature", () => {
    assert.ok(cosigned.startsWith(signed));
    assert.equal(cosigned.split("\n\u2014 ").length, 3);
  });

  test("a cosignature signs 'cosignature/v1\\ntime <T>\\n' plus the checkpoint text and carries u64be(T) first", () => {
    const line = cosigned.trimEnd().split("\n").at(-1) ?? "";
    const bytes = Buffer.from(line.split(" ")[2] ?? "", "base64");
    assert.deepEqual(bytes.subarray(0, 4), witness.keyId);
    assert.equal(bytes.readBigUInt64BE(4), 1679315147n);
    // Ed25519 is deterministic, so signing the spec's message ourselves must give the same bytes.
    const message = `cosignature/v1\ntime 1679315147\n${CHECKPOINT_TEXT}`;
    assert.deepEqual(bytes.subarray(12), sign(null, Buffer.from(message), witnessKey));
    assert.equal(bytes.length, 4 + 8 + 64);
  });

  test("the same public key has different key IDs as a note signer and as a cosigner", () => {
    const asNoteSigner = ed25519NoteSigner(witness.name, witnessKey);
    assert.notDeepEqual(asNoteSigner.keyId, witness.keyId);
    const opened = openNote(cosigned, [parseVerifierKey(asNoteSigner.verifierKey()), logVerifier]);
    assert.equal(opened.verified.length, 1);
    assert.equal(opened.unknown, 1);
  });

  test("a cosignature with its timestamp changed fails verification", () => {
    const line = cosigned.trimEnd().split("\n").at(-1) ?? "";
    const bytes = Buffer.from(line.split(" ")[2] ?? "", "base64");
    bytes.writeBigUInt64BE(1679315148n, 4);
    const forged = cosigned.replace(line, `\u2014 ${witness.name} ${bytes.toString("base64")}`);
    refusal(() => openNote(forged, [logVerifier, witnessVerifier]), "signature_verification_failed", /witness\.example\.com\/w1/);
  });

  test("a validly signed cosignature time above 2^63 - 1 fails, and one above 2^53 - 1 is refused as future", () => {
    const cosignLine = (time: bigint): string => {
      const message = Buffer.from(`cosignature/v1\ntime ${time}\n${CHECKPOINT_TEXT}`);
      const bytes = Buffer.alloc(12);
      witness.keyId.copy(bytes);
      bytes.writeBigUInt64BE(time, 4);
      return `\u2014 ${witness.name} ${Buffer.concat([bytes, sign(null, message, witnessKey)]).toString("base64")}\n`;
    };
    refusal(() => openNote(`${signed}${cosignLine(1n << 63n)}`, [witnessVerifier]), "signature_verification_failed");
    refusal(() => openNote(`${signed}${cosignLine(1n << 53n)}`, [witnessVerifier]), "cosignature_time_out_of_range");
    const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);
    assert.equal(openNote(`${signed}${cosignLine(maxSafe)}`, [witnessVerifier]).verified[0]?.timestamp, Number.MAX_SAFE_INTEGER);
  });

  test("a cosigner refuses to sign text that is not a checkpoint", () => {
    refusal(() => signNote("hello\n", [witness]), "malformed_checkpoint");
  });

  test("addSignatures replaces an earlier signature from the same key", () => {
    const later = cosignatureSigner(witness.name, witnessKey, () => 1700000000);
    const recosigned = addSignatures(cosigned, [later]);
    const opened = openNote(recosigned, [logVerifier, witnessVerifier]);
    assert.deepEqual(opened.verified.map((s) => s.timestamp), [undefined, 1700000000]);
    assert.equal(recosigned.split("\n\u2014 ").length, 3);
  });
});

describe("adversarial signed notes", () => {
  const key = newKey();
  const signer = ed25519NoteSigner("log.example/tenant-1", key);
  const verifier = parseVerifierKey(signer.verifierKey());
  const text = formatCheckpoint({ origin: "log.example/tenant-1", size: 7, root: Buffer.alloc(32, 7) });
  const note = signNote(text, [signer]);
  const sigLine = note.slice(text.length + 1);

  test("a note whose text was modified fails signature verification", () => {
    const tampered = note.replace("\n7\n", "\n8\n");
    refusal(() => openNote(tampered, [verifier]), "signature_verification_failed", /^signature verification failed for log\.example\/tenant-1$/);
  });

  test("a note whose signature was modified fails signature verification", () => {
    const bytes = Buffer.from(sigLine.trimEnd().split(" ")[2] ?? "", "base64");
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    const tampered = `${text}\n\u2014 ${signer.name} ${bytes.toString("base64")}\n`;
    refusal(() => openNote(tampered, [verifier]), "signature_verification_failed", /signature verification failed for log\.example\/tenant-1/);
  });

  test("a note signed only by an unknown key is rejected", () => {
    const stranger = ed25519NoteSigner("stranger.example", newKey());
    refusal(() => openNote(signNote(text, [stranger]), [verifier]), "no_trusted_signature", /^no trusted signature verifies$/);
  });

  test("a signature under a trusted name but another key ID is ignored, not verified", () => {
    const impostor = ed25519NoteSigner(signer.name, newKey());
    refusal(() => openNote(signNote(text, [impostor]), [verifier]), "no_trusted_signature");
    const opened = openNote(addSignatures(note, [impostor]), [verifier]);
    assert.equal(opened.verified.length, 1);
    assert.equal(opened.unknown, 1);
  });

  test("a bad signature from a trusted key rejects the note even when another trusted signature verifies", () => {
    const other = ed25519NoteSigner("other.example", newKey());
    const bytes = Buffer.from(sigLine.trimEnd().split(" ")[2] ?? "", "base64");
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    const withBad = `${signNote(text, [other])}\u2014 ${signer.name} ${bytes.toString("base64")}\n`;
    refusal(() => openNote(withBad, [parseVerifierKey(other.verifierKey()), verifier]), "signature_verification_failed");
  });

  test("accepts 16 signature lines and rejects 17", () => {
    const sixteen = `${text}\n${sigLine.repeat(16)}`;
    assert.equal(openNote(sixteen, [verifier]).verified.length, 1);
    refusal(() => openNote(`${text}\n${sigLine.repeat(17)}`, [verifier]), "too_many_signatures");
    const strangers = Array.from({ length: 17 }, (_, i) => ed25519NoteSigner(`w${i}.example`, newKey()));
    refusal(() => signNote(text, strangers), "too_many_signatures");
    refusal(() => addSignatures(note, strangers.slice(0, 16)), "too_many_signatures");
  });

  test("a note without the blank line before its signatures is rejected", () => {
    refusal(() => openNote(`${text}${sigLine}`, [verifier]), "malformed_note", /blank line/);
  });

  test("a signature line with an ASCII hyphen or an en dash instead of the em dash is rejected", () => {
    refusal(() => openNote(`${text}\n${sigLine.replace("\u2014", "-")}`, [verifier]), "malformed_note", /em dash/);
    refusal(() => openNote(`${text}\n${sigLine.replace("\u2014", "\u2013")}`, [verifier]), "malformed_note", /em dash/);
  });

  test("a signature in non-canonical or unpadded base64 is rejected", () => {
    const b64 = sigLine.trimEnd().split(" ")[2] ?? "";
    refusal(() => openNote(`${text}\n\u2014 ${signer.name} ${b64.replace(/=+$/, "")}\n`, [verifier]), "malformed_note");
    refusal(() => openNote(`${text}\n\u2014 ${signer.name} ${b64.replace(/\+/g, "-").replace(/\//g, "_")}x\n`, [verifier]), "malformed_note");
    refusal(() => openNote(`${text}\n\u2014 ${signer.name}  ${b64}\n`, [verifier]), "malformed_note");
  });

  test("a note with a carriage return, a tab or a lone surrogate is rejected", () => {
    for (const bad of ["\r", "\t", "\udc00"]) {
      refusal(() => openNote(`${bad}${note}`, [verifier]), "malformed_note");
    }
  });

  test("a signature line with no final newline is rejected", () => {
    refusal(() => openNote(note.slice(0, -1), [verifier]), "malformed_note");
  });

  test("two different verifiers for the same name and key ID are ambiguous", () => {
    const twin: NoteVerifier = { ...verifier, publicKey: ed25519PublicKeyFromRaw(Buffer.alloc(32, 9)) };
    refusal(() => openNote(note, [verifier, twin]), "ambiguous_key");
    assert.equal(openNote(note, [verifier, verifier]).verified.length, 1);
  });

  test("signNote refuses text that does not end in a newline, control characters, and bad signer names", () => {
    refusal(() => signNote("no newline", [signer]), "malformed_note");
    refusal(() => signNote("bell\x07\n", [signer]), "malformed_note");
    refusal(() => signNote(text, []), "invalid_signer");
    refusal(() => ed25519NoteSigner("has space", key), "invalid_signer");
    refusal(() => ed25519NoteSigner("has+plus", key), "invalid_signer");
    refusal(() => signNote(text, [signer, signer]), "invalid_signer");
  });

  test("note text may contain blank lines: the last blank line separates the signatures", () => {
    const multi = "first\n\nthird\n";
    const opened = openNote(signNote(multi, [signer]), [verifier]);
    assert.equal(opened.text, multi);
  });
});

describe("verifier keys", () => {
  test("formatVerifierKey and parseVerifierKey round-trip for both signature types", () => {
    const raw = publicKeyRaw(newKey());
    for (const type of [SIG_ED25519, SIG_COSIGNATURE_V1]) {
      const vkey = formatVerifierKey("log.example/k1", type, raw);
      const parsed = parseVerifierKey(vkey);
      assert.equal(parsed.name, "log.example/k1");
      assert.equal(parsed.type, type);
      assert.deepEqual(parsed.keyId, keyIdFor("log.example/k1", type, raw));
      assert.deepEqual(publicKeyRaw(parsed.publicKey), raw);
      assert.equal(formatVerifierKey(parsed.name, parsed.type, publicKeyRaw(parsed.publicKey)), vkey);
    }
  });

  test("a verifier key whose key ID does not match its name and key is rejected", () => {
    refusal(() => parseVerifierKey(PETER_VKEY.replace("c74f20a3", "c74f20a4")), "key_id_mismatch");
    refusal(() => parseVerifierKey(PETER_VKEY.replace("PeterNeumann", "PeterNeuman")), "key_id_mismatch");
  });

  test("a verifier key ID in uppercase hex is rejected", () => {
    refusal(() => parseVerifierKey(PETER_VKEY.replace("c74f20a3", "C74F20A3")), "malformed_verifier_key");
  });

  test("formatVerifierKey refuses a bad name, an unsupported type and a short key", () => {
    const raw = publicKeyRaw(newKey());
    refusal(() => formatVerifierKey("a b", SIG_ED25519, raw), "malformed_verifier_key");
    refusal(() => formatVerifierKey("ok", 0x02, raw), "unsupported_signature_type");
    refusal(() => formatVerifierKey("ok", SIG_ED25519, raw.subarray(1)), "invalid_key");
  });
});

describe("raw Ed25519 keys", () => {
  test("publicKeyRaw gives the same 32 bytes for a private key and its public key", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = publicKeyRaw(privateKey);
    assert.equal(raw.length, 32);
    assert.deepEqual(publicKeyRaw(publicKey), raw);
  });

  test("ed25519PublicKeyFromRaw round-trips through publicKeyRaw and verifies signatures", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const rebuilt = ed25519PublicKeyFromRaw(publicKeyRaw(publicKey));
    assert.ok(rebuilt.equals(publicKey));
    const signer = ed25519NoteSigner("k", privateKey);
    const verifier: NoteVerifier = { name: "k", keyId: signer.keyId, type: SIG_ED25519, publicKey: rebuilt };
    assert.equal(openNote(signNote("hi\n", [signer]), [verifier]).verified.length, 1);
  });

  test("rejects raw keys of the wrong length and keys of other algorithms", () => {
    refusal(() => ed25519PublicKeyFromRaw(new Uint8Array(31)), "invalid_key");
    refusal(() => publicKeyRaw(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey), "invalid_key");
    refusal(() => ed25519NoteSigner("k", generateKeyPairSync("ed25519").publicKey), "invalid_key");
  });
});

describe("checkpoint text", () => {
  test("formats and parses origin, size, root and extension lines", () => {
    const checkpoint = { origin: "gw.example/tenant-42", size: 123457, root: Buffer.alloc(32, 1), extensions: ["ext one"] };
    const text = formatCheckpoint(checkpoint);
    assert.equal(text, `gw.example/tenant-42\n123457\n${Buffer.alloc(32, 1).toString("base64")}\next one\n`);
    assert.deepEqual(parseCheckpoint(text), checkpoint);
    assert.deepEqual(parseCheckpoint(formatCheckpoint({ origin: "o", size: 0, root: ROOT })), { origin: "o", size: 0, root: ROOT });
  });

  test("rejects sizes with leading zeros, signs, spaces or beyond 2^53 - 1", () => {
    for (const size of ["0123", "00", "-1", "+1", "1.0", " 1", "1e3", "", "9007199254740992", "12345678901234567"]) {
      refusal(() => parseCheckpoint(`o\n${size}\n${ROOT.toString("base64")}\n`), "malformed_checkpoint");
    }
    assert.equal(parseCheckpoint(`o\n9007199254740991\n${ROOT.toString("base64")}\n`).size, Number.MAX_SAFE_INTEGER);
  });

  test("rejects a root that is not base64 of exactly 32 bytes", () => {
    refusal(() => parseCheckpoint(`o\n1\n${Buffer.alloc(31).toString("base64")}\n`), "malformed_checkpoint", /32-byte/);
    refusal(() => parseCheckpoint(`o\n1\n${Buffer.alloc(33).toString("base64")}\n`), "malformed_checkpoint");
    refusal(() => parseCheckpoint(`o\n1\n${ROOT.toString("base64url")}\n`), "malformed_checkpoint");
    refusal(() => formatCheckpoint({ origin: "o", size: 1, root: Buffer.alloc(31) }), "malformed_checkpoint");
  });

  test("rejects a missing origin, missing lines, empty extension lines and a missing final newline", () => {
    const root = ROOT.toString("base64");
    refusal(() => parseCheckpoint(`\n1\n${root}\n`), "malformed_checkpoint", /origin/);
    refusal(() => parseCheckpoint(`o\n1\n`), "malformed_checkpoint");
    refusal(() => parseCheckpoint(`o\n1\n${root}\n\nx\n`), "malformed_checkpoint");
    refusal(() => parseCheckpoint(`o\n1\n${root}`), "malformed_checkpoint");
    refusal(() => formatCheckpoint({ origin: "", size: 1, root: ROOT }), "malformed_checkpoint");
    refusal(() => formatCheckpoint({ origin: "o", size: -1, root: ROOT }), "malformed_checkpoint");
    refusal(() => formatCheckpoint({ origin: "o", size: 1, root: ROOT, extensions: [""] }), "malformed_checkpoint");
  });
});

describe("tlog proofs", () => {
  const log = ed25519NoteSigner("example.com/fancylog", newKey());
  const checkpoint = signNote(formatCheckpoint({ origin: "example.com/fancylog", size: 109482, root: ROOT }), [log]);
  const hashes = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
  const extra = Buffer.from("age-v1.2.1-darwin-arm64.tar.gz").toString("base64");
  const proofText = formatTlogProof({ extra, index: 73894, proof: hashes, checkpoint });

  test("formats the c2sp.org/tlog-proof@v1 layout: header, extra, index, hashes, blank line, checkpoint", () => {
    assert.equal(
      proofText,
      `c2sp.org/tlog-proof@v1\nextra ${extra}\nindex 73894\n${hashes[0]?.toString("base64")}\n${hashes[1]?.toString("base64")}\n\n${checkpoint}`,
    );
    assert.deepEqual(parseTlogProof(proofText), { extra, index: 73894, proof: hashes, checkpoint });
  });

  test("round-trips without extra data and with an empty inclusion proof", () => {
    const text = formatTlogProof({ index: 0, proof: [], checkpoint });
    assert.equal(text, `c2sp.org/tlog-proof@v1\nindex 0\n\n${checkpoint}`);
    assert.deepEqual(parseTlogProof(text), { index: 0, proof: [], checkpoint });
    assert.equal(openNote(parseTlogProof(text).checkpoint, [parseVerifierKey(log.verifierKey())]).verified.length, 1);
  });

  test("rejects a wrong header line", () => {
    refusal(() => parseTlogProof(proofText.replace("tlog-proof@v1", "tlog-proof@v2")), "malformed_tlog_proof", /must start/);
    refusal(() => parseTlogProof(`\n${proofText}`), "malformed_tlog_proof");
  });

  test("rejects a non-numeric, negative or zero-padded index and an index beyond the checkpoint", () => {
    for (const index of ["abc", "-1", "073894", "", "1 "]) {
      refusal(() => parseTlogProof(proofText.replace("index 73894", `index ${index}`)), "malformed_tlog_proof");
    }
    refusal(() => parseTlogProof(proofText.replace("index 73894", "index 109482")), "malformed_tlog_proof", /tree size/);
    refusal(() => formatTlogProof({ index: 109482, proof: [], checkpoint }), "malformed_tlog_proof");
  });

  test("rejects a hash line that is not base64 of 32 bytes", () => {
    const first = hashes[0]?.toString("base64") ?? "";
    refusal(() => parseTlogProof(proofText.replace(first, `${first.slice(0, -2)}!=`)), "malformed_tlog_proof", /line 1/);
    refusal(() => parseTlogProof(proofText.replace(first, Buffer.alloc(31).toString("base64"))), "malformed_tlog_proof");
    refusal(() => formatTlogProof({ index: 1, proof: [Buffer.alloc(31)], checkpoint }), "malformed_tlog_proof");
  });

  test("rejects empty or misplaced extra data", () => {
    refusal(() => parseTlogProof(proofText.replace(`extra ${extra}`, "extra ")), "malformed_tlog_proof");
    refusal(
      () => parseTlogProof(proofText.replace(`extra ${extra}\nindex 73894`, `index 73894\nextra ${extra}`)),
      "malformed_tlog_proof",
    );
    refusal(() => formatTlogProof({ extra: "not base64!", index: 1, proof: [], checkpoint }), "malformed_tlog_proof");
  });

  test("rejects a truncated proof", () => {
    refusal(() => parseTlogProof(proofText.slice(0, proofText.indexOf("\n\n"))), "malformed_tlog_proof", /blank line/);
    refusal(() => parseTlogProof(proofText.slice(0, -1)), "malformed_tlog_proof", /checkpoint/);
    refusal(() => parseTlogProof(proofText.slice(0, proofText.indexOf("\n\n") + 2)), "malformed_tlog_proof");
    refusal(() => parseTlogProof("c2sp.org/tlog-proof@v1\n\n"), "malformed_tlog_proof");
  });
});
