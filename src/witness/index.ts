// A transparency-log witness (c2sp.org/tlog-witness): a separate process, with its own key and its
// own storage, that cosigns a log's checkpoints only when each is consistent with the last one it
// cosigned. Run where the gateway's operators cannot write (another account, another team): a
// ledger whose newest records were dropped, or that was rewritten with the log's own key, can no
// longer show a fresh cosigned checkpoint (audit-ledger.md §8, §16).
import { createPrivateKey, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { GatewayError, OperatorError } from "../errors.js";
import { writeNewKeyFile, EMPTY_ROOT, verifyConsistency, cosignatureSigner, NoteError, openNote, parseCheckpoint, parseVerifierKey, signNote, type NoteSigner, type NoteVerifier } from "../ledger/index.js";
import { readTextBody } from "../receive/index.js";

interface WitnessOptions {
  /** The witness's key name, e.g. "witness.example.com/portcullis". */
  name: string;
  /** Ed25519 private key (PKCS#8 PEM), created on first start with mode 0600. */
  keyFile: string;
  /** SQLite file holding the latest cosigned checkpoint of each log. */
  storeFile: string;
  /** The logs this witness cosigns: origin and the log's verifier keys. */
  logs: readonly { origin: string; vkeys: readonly string[] }[];
  host?: string;
  port?: number;
}

interface RunningWitness {
  url: string;
  /** The verifier key auditors and gateways pass as --trusted-witness / audit.witnesses[].vkey. */
  vkey: string;
  close(): Promise<void>;
}

/** tlog-witness §add-checkpoint: at most 63 proof lines; a checkpoint is a few hundred bytes. */
const MAX_PROOF_LINES = 63;
const MAX_BODY_BYTES = 64 * 1024;

class WitnessConfigError extends OperatorError {
  override readonly name = "WitnessConfigError";
}

/** The witness's cosigner, from its key file (created when absent). */
export async function witnessSigner(name: string, keyFile: string): Promise<NoteSigner> {
  const pem = await readFile(keyFile, "utf8").catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
    await writeNewKeyFile(keyFile);
    return readFile(keyFile, "utf8");
  });
  const key: KeyObject = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new WitnessConfigError(`${keyFile}: the witness key must be an Ed25519 private key (PKCS#8 PEM)`);
  return cosignatureSigner(name, key);
}

export async function startWitness(options: WitnessOptions): Promise<RunningWitness> {
  const signer = await witnessSigner(options.name, options.keyFile);
  const logs = new Map<string, NoteVerifier[]>();
  for (const log of options.logs) {
    try {
      logs.set(log.origin, log.vkeys.map((vkey) => parseVerifierKey(vkey)));
    } catch (error) {
      throw new WitnessConfigError(`log ${log.origin}: ${(error as Error).message}`);
    }
  }
  if (logs.size === 0) throw new WitnessConfigError("a witness needs at least one log to cosign (--log '<origin> <vkey>')");
  const store = new WitnessStore(options.storeFile);
  const server: Server = createServer((req, res) => {
    handle(req, res, { signer, logs, store }).catch(() => answer(res, 500, "internal error\n"));
  });
  server.listen(options.port ?? 0, options.host ?? "127.0.0.1");
  await new Promise<void>((resolve, reject) => server.once("listening", resolve).once("error", reject));
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(":") ? `[${address}]` : address}:${port}`,
    vkey: signer.verifierKey(),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      store.close();
    },
  };
}

interface Witness {
  signer: NoteSigner;
  logs: Map<string, NoteVerifier[]>;
  store: WitnessStore;
}

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly contentType = "text/plain; charset=utf-8",
  ) {
    super(message);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, witness: Witness): Promise<void> {
  const url = new URL(req.url ?? "/", "http://witness");
  if (url.pathname !== "/add-checkpoint") return answer(res, 404, "not found: POST /add-checkpoint\n");
  if (req.method !== "POST") return answer(res, 405, "method not allowed: POST /add-checkpoint\n");
  try {
    const body = await readBody(req);
    const cosignature = addCheckpoint(witness, body);
    answer(res, 200, cosignature);
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    answer(res, error.status, `${error.message}\n`, error.contentType);
  }
}

/** tlog-witness §add-checkpoint, every check in the order the spec gives; returns the cosignature line. */
function addCheckpoint(witness: Witness, body: string): string {
  const blank = body.indexOf("\n\n");
  if (blank < 0) throw new RequestError(400, "the body is an old size line, proof lines, an empty line and a checkpoint");
  const head = body.slice(0, blank).split("\n");
  const note = body.slice(blank + 2);
  const old = /^old (0|[1-9][0-9]{0,14})$/.exec(head[0] ?? "");
  if (!old) throw new RequestError(400, "the first line must be `old <size>`");
  const oldSize = Number(old[1]);
  const proofLines = head.slice(1);
  if (proofLines.length > MAX_PROOF_LINES) throw new RequestError(400, `at most ${MAX_PROOF_LINES} consistency proof lines`);
  const proof = proofLines.map((line) => {
    const hash = Buffer.from(line, "base64");
    if (hash.length !== 32 || hash.toString("base64") !== line) throw new RequestError(400, "each proof line is one base64 SHA-256 hash");
    return hash;
  });
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new RequestError(400, "the checkpoint is not a signed note");
  const text = note.slice(0, split + 1);
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(text);
  } catch (error) {
    throw new RequestError(400, `not a checkpoint: ${(error as Error).message}`);
  }
  const verifiers = witness.logs.get(checkpoint.origin);
  if (!verifiers) throw new RequestError(404, `unknown log ${JSON.stringify(checkpoint.origin)}`);
  try {
    openNote(note, verifiers);
  } catch (error) {
    throw new RequestError(403, `the checkpoint is not signed by this log's key (${error instanceof NoteError ? error.reason : "invalid note"})`);
  }
  if (oldSize > checkpoint.size) throw new RequestError(400, `old size ${oldSize} is larger than the checkpoint's ${checkpoint.size}`);
  // Checked and stored in one transaction: two submissions cannot roll the log back (the spec's race).
  return witness.store.advance(checkpoint.origin, (latest) => {
    if (oldSize !== latest.size) throw new RequestError(409, String(latest.size), "text/x.tlog.size");
    if (checkpoint.size === 0 && !checkpoint.root.equals(EMPTY_ROOT)) throw new RequestError(422, "a checkpoint of size 0 has the empty tree's root");
    if (oldSize === 0 && proof.length > 0) throw new RequestError(422, "no consistency proof from the empty tree");
    if (oldSize === checkpoint.size) {
      if (!checkpoint.root.equals(latest.root)) throw new RequestError(422, "same size, different root: the log forked");
    } else if (oldSize > 0) {
      try {
        verifyConsistency(oldSize, checkpoint.size, proof, latest.root, checkpoint.root);
      } catch (error) {
        throw new RequestError(422, `the consistency proof does not verify: ${(error as Error).message}`);
      }
    }
    // Only the signature lines: the client appends them to its own copy of the checkpoint.
    const cosigned = signNote(text, [witness.signer]);
    return { size: checkpoint.size, root: checkpoint.root, note, reply: cosigned.slice(text.length + 1) };
  });
}

/** The latest cosigned checkpoint of each log (tlog-witness: all a witness must keep). */
class WitnessStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    chmodSync(file, 0o600);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec("CREATE TABLE IF NOT EXISTS witness_checkpoints (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, updated_ms INTEGER NOT NULL)");
  }

  /** Runs `decide` on the stored state (size 0 when none) and stores what it returns, atomically. */
  advance(origin: string, decide: (latest: { size: number; root: Buffer }) => { size: number; root: Buffer; note: string; reply: string }): string {
    return this.db.transaction(() => {
      const row = this.db.prepare("SELECT size, root FROM witness_checkpoints WHERE origin = ?").get(origin) as { size: number; root: Buffer } | undefined;
      const next = decide(row ?? { size: 0, root: EMPTY_ROOT });
      this.db
        .prepare("INSERT INTO witness_checkpoints (origin, size, root, note, updated_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, updated_ms = excluded.updated_ms")
        .run(origin, next.size, next.root, next.note, Date.now());
      return next.reply;
    }).immediate();
  }

  close(): void {
    this.db.close();
  }
}

/** The gateway's bounded reader; its refusals (413 and the rest) answered as this witness's. */
async function readBody(req: IncomingMessage): Promise<string> {
  try {
    return (await readTextBody(req, MAX_BODY_BYTES)).text;
  } catch (error) {
    if (error instanceof GatewayError) throw new RequestError(error.status, error.message);
    throw error;
  }
}

function answer(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // An upload refused as too large may still be arriving: the connection closes after the answer.
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...(status === 413 ? { connection: "close" } : {}) });
  res.end(body);
}
