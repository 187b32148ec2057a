// The log's Ed25519 signing key: a PKCS#8 PEM file readable by the gateway's user only,
// created on first start. Rotation writes a new file and keeps the old public key in the key
// history, so checkpoints signed before the rotation still verify (audit-ledger.md §13).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { ed25519NoteSigner, keyIdFor, publicKeyRaw, SIG_ED25519, type NoteSigner } from "./note.js";
import { OperatorError } from "../errors.js";

export interface LogKey {
  signer: NoteSigner;
  publicKey: KeyObject;
  keyIdHex: string;
  vkey: string;
  /** mtime of the key file when it was read, to notice a rotation by the CLI. */
  loadedMtimeMs: number;
}

export async function loadOrCreateLogKey(file: string, name: string): Promise<LogKey> {
  const pem = await readFile(file, "utf8").catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
    await writeNewKeyFile(file);
    return readFile(file, "utf8");
  });
  return logKeyFrom(pem, name, (await stat(file)).mtimeMs);
}

/** The key a tool signs with: it must exist. A command run on a copy of a ledger never makes one
 * up (it would become a second active key in the log's history). */
export async function loadLogKey(file: string, name: string): Promise<LogKey> {
  const pem = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
    throw new MissingLogKeyError(`no ledger signing key at ${file}: this command writes to the ledger (its own access record or a housekeeping event) and signs with the gateway's key; pass --key-file <the gateway's audit.signing_key_file>`);
  });
  return logKeyFrom(pem, name, (await stat(file)).mtimeMs);
}

export class MissingLogKeyError extends OperatorError {
  override readonly name = "MissingLogKeyError";
}

function logKeyFrom(pem: string, name: string, mtimeMs = 0): LogKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error("the ledger signing key must be an Ed25519 private key (PKCS#8 PEM)");
  const signer = ed25519NoteSigner(name, privateKey);
  const publicKey = createPublicKey(privateKey);
  return { signer, publicKey, keyIdHex: keyIdFor(name, SIG_ED25519, publicKeyRaw(publicKey)).toString("hex"), vkey: signer.verifierKey(), loadedMtimeMs: mtimeMs };
}

/** Writes a fresh key; the previous file, if any, is kept beside it as `<file>.<time>.retired`. */
export async function writeNewKeyFile(file: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const staged = `${file}.${process.pid}.new`;
  await writeFile(staged, pem, { mode: 0o600, flag: "wx" });
  await chmod(staged, 0o600);
  await stat(file).then(
    () => rename(file, `${file}.${new Date().toISOString().replace(/[:.]/g, "-")}.retired`),
    () => undefined,
  );
  await rename(staged, file);
}

export async function keyFileChanged(file: string, key: LogKey): Promise<boolean> {
  const current = await stat(file).catch(() => undefined);
  return current !== undefined && current.mtimeMs !== key.loadedMtimeMs;
}
