// Evidence bundles (docs/design/003-audit-ledger.md): the records of a period, the proofs that
// bind them to signed checkpoints, the key history, the masked payloads, a control report an
// auditor reads, and a verifier that needs only Node. The export itself becomes a ledger record.
//
// Streamed: each page of entries is written (with its payloads and proofs) as it is read, and
// the report is built one record at a time, so memory does not grow with the range. The manifest
// lists the bundle's fixed files; payloads (named by their SHA-256, listed in payloads.txt) and
// proofs (verified against the signed end checkpoint) are not listed one by one.
import { createHash } from "node:crypto";
import { createWriteStream, writeFile, type WriteStream } from "node:fs";
import { mkdir, readFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { promisify } from "node:util";
import { BUILT_VERIFIER_FILE, packageVersion } from "../packageFiles.js";
import type { AuditRecord } from "../record/index.js";
import { reportHtml } from "./evidence/html.js";
import { pageCollector } from "./evidence/pageCollector.js";
import type { EvidenceReport, ReportScope } from "./evidence/report.js";
import { rangeFromStore, type Ledger, type LedgerLeaf } from "./ledger.js";
import { consistencyProof, inclusionProof, type NodeReader } from "./merkle.js";
import { formatTlogProof, signNote } from "./note.js";
import type { LedgerStore, StoredCheckpoint, StoredEntry } from "./store.js";
import { summaryCsv } from "./summary.js";
import { keyRecordOf } from "./verifyStore.js";
import { OperatorError } from "../errors.js";

export const BUNDLE_FORMAT = "portcullis-evidence/v2";
/** Checkpoints carried between start and end; more are thinned evenly (each pair still proven consistent). */
const MAX_CHECKPOINTS = 256;
/** How long after a period a time-range export waits for the completions and runs of its sessions. */
const SESSION_GRACE_MS = 24 * 60 * 60 * 1000;

export interface ExportRequest {
  outDir: string;
  fromMs?: number;
  toMs?: number;
  user?: string;
  graph?: string;
  exportedBy: string;
  /** Entries from which the records are read in a worker thread (default READER_THREAD_FROM). */
  readerThreadFrom?: number;
}

/** Below this many entries a reader thread costs more to start than it saves. */
export const READER_THREAD_FROM = 100_000;

interface ExportResult {
  dir: string;
  start: number;
  end: number;
  checkpointSize: number;
  entries: number;
  filtered: boolean;
  payloads: number;
  /** Records sampled for the control report, each with an inclusion proof. */
  sampled: number;
}

export class ExportError extends OperatorError {
  override readonly name = "ExportError";
}

export async function exportEvidence(ledger: Ledger, request: ExportRequest): Promise<ExportResult> {
  await prepareEmptyDir(request.outDir);
  try {
    return await writeBundle(ledger, request);
  } catch (error) {
    // Files are written as the records are read: a failed export leaves no half bundle behind.
    for (const name of await readdir(request.outDir)) await rm(path.join(request.outDir, name), { recursive: true, force: true });
    throw error;
  }
}

async function writeBundle(ledger: Ledger, request: ExportRequest): Promise<ExportResult> {
  const store = ledger.store;
  const origin = ledger.origin;
  // A fresh checkpoint: the bundle ends at the log as it is now (audit-ledger.md §12), with the
  // witnesses' cosignatures when witnesses are configured.
  const signed = await ledger.checkpoint();
  await ledger.witnessed();
  const end = (await store.checkpoints(origin, { atLeastSize: signed.size, atMostSize: signed.size })).at(-1) ?? signed;
  const filtered = request.user !== undefined || request.graph !== undefined;
  const nodes = store.nodes(origin);
  const bundle = new BundleWriter(request.outDir);

  const selection = filtered ? await sessionsSelection(store, origin, request, end.size) : await periodSelection(store, origin, request, end.size);
  const entries = bundle.stream("entries.ndjson");
  const payloadIndex = bundle.stream("payloads.txt");
  const large = !filtered && selection.range.stop - selection.range.start >= (request.readerThreadFrom ?? READER_THREAD_FROM);
  const collector = pageCollector(end.root, { thread: large });
  let exported = 0;
  let payloads = 0;
  // Purged payloads stay out (the verifier reports them as purged or not exported).
  const copyPayloads = async (referenced: string[]) => {
    const stored = await store.payloads(referenced);
    const added = await bundle.payloads(referenced.flatMap((sha256) => (stored.has(sha256) ? [{ sha256, body: stored.get(sha256)! }] : [])));
    if (added.length > 0) await payloadIndex.write(Buffer.from(added.map((sha256) => `${sha256}\n`).join("")));
    payloads += added.length;
  };
  const filter = {
    ...(request.fromMs !== undefined ? { from: new Date(request.fromMs).toISOString() } : {}),
    ...(request.toMs !== undefined ? { to: new Date(request.toMs).toISOString() } : {}),
    ...(request.user !== undefined ? { user: request.user } : {}),
    ...(request.graph !== undefined ? { graph: request.graph } : {}),
  };
  let scope: ReportScope;
  let report: EvidenceReport;
  let sampled: number[];
  try {
    try {
      // A page's payloads are copied while the collector reads the next page's records.
      let previous: Promise<string[]> | undefined;
      for await (const page of selection.pages) {
        await entries.write(Buffer.concat(page.flatMap((entry) => [entry.leaf, NEWLINE])));
        const referenced = collector.add(page);
        referenced.catch(() => undefined); // awaited below, one page later
        if (previous) await copyPayloads(await previous);
        previous = referenced;
        if (filtered) for (const entry of page) await bundle.unlisted(`proofs/${entry.seq}.tlog-proof`, await tlogProof(entry.seq, end, nodes));
        exported += page.length;
      }
      if (previous) await copyPayloads(await previous);
    } finally {
      await bundle.closeStreams();
    }
    if (exported === 0) throw noRecords();
    const { start, stop } = filtered ? { start: 0, stop: end.size } : selection.range;
    scope = { origin, range: { start, end: stop }, checkpoint: { size: end.size, root: end.root.toString("base64") }, filter: Object.keys(filter).length > 0 ? filter : null };
    report = await collector.report(scope);
    sampled = await collector.sampledSeqs();
  } finally {
    await collector.close();
  }
  const { start, end: stop } = scope.range;

  // The sampled records' inclusion proofs (a filtered export already has one for every entry).
  if (!filtered) for (const seq of sampled) await bundle.unlisted(`proofs/${seq}.tlog-proof`, await tlogProof(seq, end, nodes));

  if (!filtered && start > 0) {
    const frontier = (await rangeFromStore(nodes, start)).frontier();
    await bundle.file("frontier.txt", [String(start), ...frontier.map((hash) => hash.toString("base64"))].join("\n") + "\n");
  }

  // Checkpoints from the range's end (or start) to now, each consecutive pair proven consistent;
  // a time-range export that stops before the end is bound to it by a consistency proof too.
  const checkpoints = chooseCheckpoints(await store.checkpoints(origin, { atLeastSize: filtered ? 0 : start, atMostSize: end.size }), end);
  for (const checkpoint of checkpoints) await bundle.file(`checkpoints/${pad(checkpoint.size)}.note`, checkpoint.note);
  const sizes = [...new Set([...(filtered ? [] : [stop]), ...checkpoints.map((c) => c.size)])].sort((a, b) => a - b);
  for (let i = 1; i < sizes.length; i++) {
    const [m, n] = [sizes[i - 1]!, sizes[i]!];
    if (m === 0) continue;
    const proof = await consistencyProof(m, n, nodes);
    await bundle.file(`consistency/${m}-${n}.txt`, proof.map((hash) => `${hash.toString("base64")}\n`).join(""));
  }

  await bundle.file("keys.json", JSON.stringify((await store.keys()).map(keyRecordOf), null, 2) + "\n");
  const exportedAt = new Date().toISOString();
  await bundle.file("report.json", JSON.stringify(report, null, 2) + "\n");
  await bundle.file("report.html", reportHtml(report, exportedAt));
  await bundle.file("summary.csv", summaryCsv(report));
  const verifier = await standaloneVerifier();
  await bundle.file("verify.mjs", verifier);

  const manifest = {
    format: BUNDLE_FORMAT,
    origin,
    range: scope.range,
    checkpoint_size: end.size,
    filter: scope.filter,
    exported_at: exportedAt,
    exported_by: request.exportedBy,
    verifier: { path: "verify.mjs", portcullis_version: packageVersion(), sha256: sha256Hex(verifier) },
    entries: exported,
    payloads,
    files: bundle.listing(),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
  await writeFileInOneJob(path.join(request.outDir, "manifest.json"), manifestBytes, { mode: 0o600 });
  await writeFileInOneJob(path.join(request.outDir, "manifest.note"), signNote(`${BUNDLE_FORMAT}\n${origin}\n${sha256Hex(manifestBytes)}\n`, [ledger.signer]), { mode: 0o600 });
  await ledger.append({
    type: "ledger",
    time: new Date().toISOString(),
    event: "export.created",
    actor: request.exportedBy,
    details: { range: manifest.range, checkpoint_size: end.size, filter: manifest.filter, entries: exported, manifest_sha256: sha256Hex(manifestBytes) },
  });
  return { dir: request.outDir, start, end: stop, checkpointSize: end.size, entries: exported, filtered, payloads, sampled: sampled.length };
}

interface Selection {
  pages: AsyncIterable<StoredEntry[]>;
  range: { start: number; stop: number };
}

/**
 * A full-range export: every entry from the period's first to its last, contiguous. When the period
 * ends before the log does, the range runs on until the sessions admitted in the period have their
 * completion and, for a run, its run record (at most SESSION_GRACE_MS past the period), so a
 * request in the period comes with its outcome.
 */
async function periodSelection(store: LedgerStore, origin: string, request: ExportRequest, size: number): Promise<Selection> {
  const range = { start: 0, stop: size };
  if (request.fromMs === undefined && request.toMs === undefined) return { pages: store.entryPages(origin, 0, size), range };
  const inPeriod = (await store.matchingSeqs(origin, { ...(request.fromMs !== undefined ? { fromMs: request.fromMs } : {}), ...(request.toMs !== undefined ? { toMs: request.toMs } : {}) })).filter((seq) => seq < size);
  if (inPeriod.length === 0) throw noRecords();
  range.start = inPeriod[0]!;
  range.stop = inPeriod.at(-1)! + 1;
  const graceEndMs = (request.toMs ?? Infinity) + SESSION_GRACE_MS;
  async function* pages(): AsyncGenerator<StoredEntry[]> {
    // Sessions admitted in the period still waiting for their completion, or for their run record.
    const open = new Map<string, "request" | "run request" | "run">();
    for await (const page of store.entryPages(origin, range.start, range.stop)) {
      for (const entry of page) trackSession(open, (JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record, true);
      yield page;
    }
    if (open.size === 0 || range.stop >= size) return;
    for await (const page of store.entryPages(origin, range.stop, size)) {
      const taken: StoredEntry[] = [];
      for (const entry of page) {
        const record = (JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record;
        if (!(Date.parse(record.time) < graceEndMs)) break;
        trackSession(open, record, false);
        taken.push(entry);
        range.stop = entry.seq + 1;
        if (open.size === 0) break;
      }
      if (taken.length > 0) yield taken;
      if (open.size === 0 || taken.length < page.length) return;
    }
  }
  return { pages: pages(), range };
}

/** Sessions stay open from an admitted request to its completion, and for a run request whose
 * run started, on to its run record. */
function trackSession(open: Map<string, "request" | "run request" | "run">, record: AuditRecord, inPeriod: boolean): void {
  if (record.type === "request" && inPeriod && record.status === undefined) {
    open.set(record.request_id, record.operation?.creates_run ? "run request" : "request");
  } else if (record.type === "completion") {
    const waiting = open.get(record.request_id);
    if (waiting === "request" || waiting === "run request") open.delete(record.request_id);
    if (waiting === "run request" && record.run_id !== undefined && record.outcome === "ok") open.set(record.request_id, "run");
  } else if (record.type === "run" && open.get(record.request_id) === "run") {
    open.delete(record.request_id);
  }
}

/**
 * A filtered export (--user, --graph, optionally with a period): the records the filter matches,
 * and every record of their sessions wherever it falls: the request, its approval steps, its
 * completion, the run it started, egress calls made for that run, and each look at the session
 * (access records), which are indexed under another subject or no graph. A session's other
 * records come after its first matching one, so one pass from there finds them all.
 */
async function sessionsSelection(store: LedgerStore, origin: string, request: ExportRequest, size: number): Promise<Selection> {
  const matching = (
    await store.matchingSeqs(origin, {
      ...(request.fromMs !== undefined ? { fromMs: request.fromMs } : {}),
      ...(request.toMs !== undefined ? { toMs: request.toMs } : {}),
      ...(request.user !== undefined ? { subject: request.user } : {}),
      ...(request.graph !== undefined ? { graph: request.graph } : {}),
    })
  ).filter((seq) => seq < size);
  const range = { start: 0, stop: size };
  if (matching.length === 0) throw noRecords();
  async function* pages(): AsyncGenerator<StoredEntry[]> {
    const sessions = new Set<string>();
    const approvals = new Set<string>();
    let next = 0;
    for await (const page of store.entryPages(origin, matching[0]!, size)) {
      const selected: StoredEntry[] = [];
      for (const entry of page) {
        while (next < matching.length && matching[next]! < entry.seq) next++;
        const record = (JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record;
        if (matching[next] === entry.seq) {
          selected.push(entry);
          for (const id of sessionIds(record)) sessions.add(id);
          if (record.type === "approval") approvals.add(record.approval_id);
          if (record.type === "request" && record.approval?.approval_id) approvals.add(record.approval.approval_id);
        } else if (sessionIds(record).some((id) => sessions.has(id)) || (record.type === "approval" && approvals.has(record.approval_id))) {
          selected.push(entry);
        }
      }
      if (selected.length > 0) yield selected;
    }
  }
  return { pages: pages(), range };
}

/** The sessions (request ids) a record belongs to. */
function sessionIds(record: AuditRecord): string[] {
  if (record.type === "access") return record.session ? [record.session] : [];
  if (!("request_id" in record)) return [];
  const run = record.type === "request" ? record.egress?.run?.request_id : undefined;
  return run ? [record.request_id, run] : [record.request_id];
}

function noRecords(): ExportError {
  return new ExportError("no ledger records match this export's period and filters");
}

async function tlogProof(seq: number, end: StoredCheckpoint, nodes: NodeReader): Promise<string> {
  return formatTlogProof({ index: seq, proof: await inclusionProof(seq, end.size, nodes), checkpoint: end.note });
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

const NEWLINE = Buffer.from("\n");
// The callback writeFile is one job in libuv's pool; fs/promises' is three (open, write, close),
// which made a bundle's ten thousand payload files a fifth of an export.
const writeFileInOneJob = promisify(writeFile);

/** Writes the bundle's files, keeping the manifest's listing of the fixed ones (a bounded number). */
class BundleWriter {
  private readonly listed: { path: string; sha256: string; bytes: number }[] = [];
  private readonly streams: HashingFile[] = [];
  private readonly dirs = new Set<string>();

  constructor(private readonly dir: string) {}

  async file(name: string, body: Buffer | string): Promise<void> {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    await this.write(name, bytes, "w");
    this.listed.push({ path: name, sha256: sha256Hex(bytes), bytes: bytes.length });
  }

  /** A proof: verified against the signed end checkpoint, not listed. */
  async unlisted(name: string, body: string): Promise<void> {
    await this.write(name, Buffer.from(body), "w");
  }

  /** Payloads, each a file named by its SHA-256, written side by side; returns the hashes of
   * those written, in order (not those an earlier page already brought). */
  async payloads(payloads: { sha256: string; body: Buffer }[]): Promise<string[]> {
    const written = await Promise.all(
      payloads.map(async ({ sha256, body }) => {
        try {
          await this.write(`payloads/${sha256}`, body, "wx");
          return sha256;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST") return undefined;
          throw error;
        }
      }),
    );
    return written.filter((sha256) => sha256 !== undefined);
  }

  /** A large file written as it is produced, listed with its hash once closed. */
  stream(name: string): HashingFile {
    const file = new HashingFile(path.join(this.dir, name), (sha256, bytes) => this.listed.push({ path: name, sha256, bytes }));
    this.streams.push(file);
    return file;
  }

  async closeStreams(): Promise<void> {
    await Promise.all(this.streams.map((file) => file.close()));
  }

  listing(): { path: string; sha256: string; bytes: number }[] {
    return [...this.listed].sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  private async write(name: string, body: Buffer, flag: "w" | "wx"): Promise<void> {
    const target = path.join(this.dir, name);
    const parent = path.dirname(target);
    if (!this.dirs.has(parent)) {
      await mkdir(parent, { recursive: true, mode: 0o700 });
      this.dirs.add(parent);
    }
    await writeFileInOneJob(target, body, { mode: 0o600, flag });
  }
}

class HashingFile {
  private readonly out: WriteStream;
  private readonly hash = createHash("sha256");
  private bytes = 0;
  private closed: Promise<void> | undefined;

  constructor(
    file: string,
    private readonly onClose: (sha256: string, bytes: number) => void,
  ) {
    this.out = createWriteStream(file, { mode: 0o600 });
  }

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (!this.out.write(chunk)) await once(this.out, "drain");
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.out.end();
      await finished(this.out);
      this.onClose(this.hash.digest("hex"), this.bytes);
    })();
    return this.closed;
  }
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
