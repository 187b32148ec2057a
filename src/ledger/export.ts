// Evidence bundles (docs/design/003-audit-ledger.md): the records of a period, the proofs that
// bind them to signed checkpoints, the key history, the masked payloads, a summary an auditor
// reads, and a verifier that needs only Node. The export itself becomes a ledger record.
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { BUILT_VERIFIER_FILE, packageVersion } from "../config/packageFiles.js";
import type { AuditRecord } from "../record/auditRecord.js";
import { rangeFromStore, type Ledger, type LedgerLeaf } from "./ledger.js";
import { consistencyProof, inclusionProof } from "./merkle.js";
import { formatTlogProof, signNote } from "./note.js";
import type { StoredCheckpoint, StoredEntry } from "./store.js";
import { summarise, summaryCsv, summaryHtml } from "./summary.js";
import { keyRecordOf } from "./verifyStore.js";

export const BUNDLE_FORMAT = "portcullis-evidence/v1";
/** Checkpoints carried between start and end; more are thinned evenly (each pair still proven consistent). */
const MAX_CHECKPOINTS = 256;

export interface ExportRequest {
  outDir: string;
  fromMs?: number;
  toMs?: number;
  user?: string;
  graph?: string;
  exportedBy: string;
}

export interface ExportResult {
  dir: string;
  start: number;
  end: number;
  checkpointSize: number;
  entries: number;
  filtered: boolean;
  payloads: number;
}

export class ExportError extends Error {
  override readonly name = "ExportError";
}

export async function exportEvidence(ledger: Ledger, request: ExportRequest): Promise<ExportResult> {
  const store = ledger.store;
  const origin = ledger.origin;
  await prepareEmptyDir(request.outDir);
  // A fresh checkpoint: the bundle ends at the log as it is now (audit-ledger.md §12), with the
  // witnesses' cosignatures when witnesses are configured.
  const signed = await ledger.checkpoint();
  await ledger.witnessed();
  const end = (await store.checkpoints(origin, { atLeastSize: signed.size, atMostSize: signed.size })).at(-1) ?? signed;
  const filtered = request.user !== undefined || request.graph !== undefined;
  const matching = await store.matchingSeqs(origin, {
    ...(request.fromMs !== undefined ? { fromMs: request.fromMs } : {}),
    ...(request.toMs !== undefined ? { toMs: request.toMs } : {}),
    ...(request.user !== undefined ? { subject: request.user } : {}),
    ...(request.graph !== undefined ? { graph: request.graph } : {}),
  });
  const inRange = matching.filter((seq) => seq < end.size);
  if (inRange.length === 0) throw new ExportError("no ledger records match this export's period and filters");
  const start = filtered ? 0 : inRange[0]!;
  const stop = filtered ? end.size : inRange.at(-1)! + 1;
  const files = new Map<string, Buffer>();
  const nodes = store.nodes(origin);

  // entries.ndjson: the canonical leaves exactly as stored
  const exported: StoredEntry[] = [];
  if (filtered) {
    for (const seq of inRange) for await (const page of store.entryPages(origin, seq, seq + 1)) exported.push(...page);
  } else {
    for await (const page of store.entryPages(origin, start, stop)) exported.push(...page);
  }
  files.set("entries.ndjson", Buffer.concat(exported.flatMap((entry) => [entry.leaf, Buffer.from("\n")])));

  if (!filtered && start > 0) {
    const frontier = (await rangeFromStore(nodes, start)).frontier();
    files.set("frontier.txt", Buffer.from([String(start), ...frontier.map((hash) => hash.toString("base64"))].join("\n") + "\n"));
  }

  // Checkpoints from the range's end (or start) to now, each consecutive pair proven consistent;
  // a time-range export that stops before the end is bound to it by a consistency proof too.
  const checkpoints = chooseCheckpoints(await store.checkpoints(origin, { atLeastSize: filtered ? 0 : start, atMostSize: end.size }), end);
  for (const checkpoint of checkpoints) files.set(`checkpoints/${pad(checkpoint.size)}.note`, Buffer.from(checkpoint.note));
  const sizes = [...new Set([...(filtered ? [] : [stop]), ...checkpoints.map((c) => c.size)])].sort((a, b) => a - b);
  for (let i = 1; i < sizes.length; i++) {
    const [m, n] = [sizes[i - 1]!, sizes[i]!];
    if (m === 0) continue;
    const proof = await consistencyProof(m, n, nodes);
    files.set(`consistency/${m}-${n}.txt`, Buffer.from(proof.map((hash) => `${hash.toString("base64")}\n`).join("")));
  }

  if (filtered) {
    for (const entry of exported) {
      const proof = await inclusionProof(entry.seq, end.size, nodes);
      files.set(`proofs/${entry.seq}.tlog-proof`, Buffer.from(formatTlogProof({ index: entry.seq, proof, checkpoint: end.note })));
    }
  }

  const records = exported.map((entry) => (JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record);
  let payloads = 0;
  for (const sha256 of new Set(records.flatMap(payloadHashes))) {
    const body = await store.payload(sha256);
    if (!body) continue;
    files.set(`payloads/${sha256}`, body);
    payloads++;
  }

  const keys = await store.keys();
  files.set(
    "keys.json",
    Buffer.from(
      JSON.stringify(keys.map(keyRecordOf), null, 2) + "\n",
    ),
  );
  const filter = {
    ...(request.fromMs !== undefined ? { from: new Date(request.fromMs).toISOString() } : {}),
    ...(request.toMs !== undefined ? { to: new Date(request.toMs).toISOString() } : {}),
    ...(request.user !== undefined ? { user: request.user } : {}),
    ...(request.graph !== undefined ? { graph: request.graph } : {}),
  };
  const summary = summarise(records);
  files.set("summary.csv", Buffer.from(summaryCsv(summary)));
  files.set("report.html", Buffer.from(summaryHtml(summary, { origin, filter, start, end: filtered ? end.size : stop, checkpointSize: end.size, exportedAt: new Date().toISOString() })));
  const verifier = await standaloneVerifier();
  files.set("verify.mjs", verifier);

  const manifest = {
    format: BUNDLE_FORMAT,
    origin,
    range: { start, end: filtered ? end.size : stop },
    checkpoint_size: end.size,
    filter: Object.keys(filter).length > 0 ? filter : null,
    exported_at: new Date().toISOString(),
    exported_by: request.exportedBy,
    verifier: { path: "verify.mjs", portcullis_version: packageVersion(), sha256: sha256Hex(verifier) },
    files: [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([file, body]) => ({ path: file, sha256: sha256Hex(body), bytes: body.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
  files.set("manifest.json", manifestBytes);
  files.set("manifest.note", Buffer.from(signNote(`${BUNDLE_FORMAT}\n${origin}\n${sha256Hex(manifestBytes)}\n`, [ledger.signer])));

  for (const [file, body] of files) {
    const target = path.join(request.outDir, file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, body, { mode: 0o600 });
  }
  await ledger.append({
    type: "ledger",
    time: new Date().toISOString(),
    event: "export.created",
    actor: request.exportedBy,
    details: { range: manifest.range, checkpoint_size: end.size, filter: manifest.filter, entries: exported.length, manifest_sha256: sha256Hex(manifestBytes) },
  });
  return { dir: request.outDir, start, end: manifest.range.end, checkpointSize: end.size, entries: exported.length, filtered, payloads };
}

/** Distinct sizes (the newest note of each), thinned evenly, always ending with `end`. */
function chooseCheckpoints(stored: StoredCheckpoint[], end: StoredCheckpoint): StoredCheckpoint[] {
  const bySize = new Map<number, StoredCheckpoint>();
  for (const checkpoint of stored) {
    if (checkpoint.size === 0) continue;
    // Two signed roots for one size is a fork: evidence of tampering, never silently resolved.
    const seen = bySize.get(checkpoint.size);
    if (seen && !seen.root.equals(checkpoint.root)) throw new ExportError(`two checkpoints at size ${checkpoint.size} sign different roots; the store was rewritten. Run portcullis verify.`);
    bySize.set(checkpoint.size, checkpoint);
  }
  if (bySize.get(end.size) && !bySize.get(end.size)!.root.equals(end.root)) throw new ExportError(`the checkpoint at size ${end.size} differs from the log as it is now; the store was rewritten. Run portcullis verify.`);
  bySize.set(end.size, end);
  const all = [...bySize.values()].sort((a, b) => a.size - b.size);
  if (all.length <= MAX_CHECKPOINTS) return all;
  const step = (all.length - 1) / (MAX_CHECKPOINTS - 1);
  return [...new Set(Array.from({ length: MAX_CHECKPOINTS }, (_, i) => all[Math.round(i * step)]!))];
}

function payloadHashes(record: AuditRecord): string[] {
  const references = [
    record.type === "request" ? record.body : undefined,
    record.type === "completion" ? record.response : undefined,
    record.type === "run" ? record.output : undefined,
  ];
  return references.filter((reference) => reference !== undefined).map((reference) => reference.sha256);
}

async function prepareEmptyDir(dir: string): Promise<void> {
  const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw error;
  });
  if (existing.length > 0) throw new ExportError(`${dir} is not empty; export into a new directory`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** The standalone verifier, built once at release time (`npm run build`): every bundle carries the
 * same file, and its sha256 in the manifest can be compared with the release's. */
let verifierSource: Promise<Buffer> | undefined;
function standaloneVerifier(): Promise<Buffer> {
  verifierSource ??= readFile(BUILT_VERIFIER_FILE).catch((error: NodeJS.ErrnoException) => {
    verifierSource = undefined;
    if (error.code === "ENOENT") throw new ExportError(`the evidence verifier ${BUILT_VERIFIER_FILE} is missing: run \`npm run build\` (the published package ships it)`);
    throw error;
  });
  return verifierSource;
}

function sha256Hex(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}

function pad(size: number): string {
  return String(size).padStart(12, "0");
}
