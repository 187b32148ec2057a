// Offline verification of an evidence bundle (docs/design/003-audit-ledger.md, "What the verifier
// checks"), in that order: manifest and files, checkpoints, consistency, entries, payloads, open
// requests; then caller receipts (audit-ledger.md §16) and the time range found. Every failure
// becomes an INVALID line naming the file and the reason: nothing in a hostile bundle makes
// verifyBundle throw, and only regular files found inside the bundle directory are ever opened.
//
// Then the control report (v2 bundles): recomputed from the verified records, it must equal
// report.json, and the HTML and CSV must be its renderings; each sampled record's inclusion proof
// must verify against the end checkpoint.
//
// Imports only Node built-ins, pure modules of src/ledger/ and src/jsonText.ts: esbuild bundles it
// into verify.mjs.
import { createHash } from "node:crypto";
import type { AuditRecord } from "../record/index.js";
import { Bundle } from "./bundleFiles.js";
import { checkEntryIntegrity, checkEntryIntegrityInWorker, INTEGRITY_THREAD_FROM, tryParseLeaf } from "./entryIntegrity.js";
import { reportHtml } from "./evidence/html.js";
import { EvidenceCollector, type EvidenceReport } from "./evidence/report.js";
import { CompactRange, leafHash, verifyInclusion } from "./merkle.js";
import { parseTlogProof, parseVerifierKey, SIG_COSIGNATURE_V1, type Checkpoint, type VerifiedSignature } from "./note.js";
import { summaryCsv } from "./summary.js";
import {
  canonicalText,
  checkRoot,
  keyVerifier,
  openSignedNote,
  parseConsistencyProof,
  parseFrontier,
  parseLeaf,
  payloadOf,
  reasonOf,
  VerificationError,
  VerificationReport,
  verifyCheckpointNote,
  verifyHeadChain,
  type CheckResult,
  type KeyRecord,
  type ParsedLeaf,
  type TreeHead,
} from "./verify.js";
import { isObject } from "../jsonText.js";

/** v1: every file listed in the manifest, no control report. v2: payloads listed in payloads.txt,
 * proofs verified rather than listed, and the control report. */
const FORMATS = { "portcullis-evidence/v1": 1, "portcullis-evidence/v2": 2 } as const;
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** report.json, report.html: lists in them are capped (summary.ts MAX_LISTED), so they stay small. */
const MAX_REPORT_BYTES = 64 * 1024 * 1024;
/** Notes, proofs, frontier and keys are small; a larger file is refused rather than read. */
const MAX_SMALL_FILE_BYTES = 1024 * 1024;
/** Leaves are at most 60 000 bytes when written (ledger.ts MAX_LEAF_BYTES); this bounds memory on a hostile file. */
const MAX_LINE_BYTES = 1024 * 1024;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** Referenced payloads absent from a bundle named one by one; the rest are counted. */
const MAX_NAMED_ABSENT = 100;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A caller's receipt: the index and base64 leaf hash the gateway acknowledged (Portcullis-Audit-Receipt). */
export interface Receipt {
  seq: number;
  leafHash: string;
}

interface BundleVerifyOptions {
  receipts?: Receipt[];
  /** Log verifier keys the auditor obtained out of band (vkey form). When given, only these
   * verify checkpoints and the manifest: a bundle re-signed with keys of its own fails. */
  trustedKeys?: string[];
  /** Witnesses trusted out of band: the newest checkpoint carrying `quorum` of their cosignatures
   * must have been cosigned at most `maxAgeMs` before `asOfMs` (the verifier's clock by default,
   * never a time from inside the bundle, which the log's key signs). */
  witnesses?: { vkeys: string[]; quorum: number; maxAgeMs: number; asOfMs?: number };
  /** Entries from which their integrity is checked in a worker thread (default INTEGRITY_THREAD_FROM). */
  integrityThreadFrom?: number;
}

export async function verifyBundle(dir: string, options: BundleVerifyOptions = {}): Promise<VerificationReport> {
  const report = new VerificationReport();
  try {
    await verifyInto(report, dir, options);
  } catch (error) {
    report.add("Bundle", false, `verification stopped: ${reasonOf(error)}`);
  }
  return report;
}

async function verifyInto(report: VerificationReport, dir: string, options: BundleVerifyOptions): Promise<void> {
  let bundle: Bundle;
  try {
    bundle = await Bundle.open(dir);
  } catch (error) {
    report.add(`Bundle ${dir}`, false, `not found: ${reasonOf(error)}`);
    return;
  }
  // 1. Manifest, key history, manifest signature, every file.
  const manifest = await checkManifestJson(bundle, report);
  if (manifest === undefined) return;
  const keys = await checkKeys(bundle, report, options.trustedKeys, options.witnesses?.vkeys);
  await checkManifestNote(bundle, manifest, keys, report);
  await checkFiles(bundle, manifest, report);
  // 2. Checkpoints.
  const checkpoints = await checkCheckpoints(bundle, manifest, keys, report);
  if (options.witnesses) checkWitnessed(checkpoints, keys, options.witnesses, report);
  // 3 and 4. Consistency between tree heads, then the entries against them.
  const scan = new EntryScan(manifest.origin, options.receipts ?? [], (hash) => bundle.has(`payloads/${hash}`), await loadPayloadIndex(bundle, manifest, report));
  const endCheckpoint = checkpoints.find((c) => c.checkpoint.size === manifest.checkpointSize);
  // A report.json is always checked, so relabelling a bundle v1 does not exempt its report.
  const reported = manifest.version >= 2 || bundle.has("report.json");
  if (reported && endCheckpoint) scan.collector = new EvidenceCollector(endCheckpoint.checkpoint.root);
  if (manifest.filtered) {
    addAll(report, await verifyHeadChain(checkpoints.map((c) => c.checkpoint), consistencyProofs(bundle)));
    await checkFilteredEntries(bundle, manifest, checkpoints, scan, report);
  } else {
    await checkFullEntries(bundle, manifest, checkpoints, scan, report, options.integrityThreadFrom ?? INTEGRITY_THREAD_FROM);
  }
  // 5 and 6. Payloads, requests left open; then receipts and the time range.
  await checkPayloads(bundle, scan, report);
  checkRequests(scan, report);
  if (reported) await checkReport(bundle, manifest, endCheckpoint, scan, report);
  else report.info("Report", `not recomputed: a ${manifest.format} bundle carries no control report (its report.html is not checked against the records)`);
  checkReceipts(options.receipts ?? [], manifest, checkpoints, scan, report);
  report.info("Results requested for", `${manifest.from ?? "the start of the log"} to ${manifest.to ?? "the export"}`);
  report.info("Results found for", scan.firstTime === undefined ? "no entries" : `${scan.firstTime} to ${scan.lastTime}`);
}

// ---------------------------------------------------------------------------------------------
// 1. Manifest, keys, files

interface Manifest {
  format: keyof typeof FORMATS;
  version: 1 | 2;
  origin: string;
  /** The end checkpoint's size (the log's size at export); the report's sample is seeded from its root. */
  checkpointSize: number;
  exportedAt: string;
  filter: Record<string, string> | null;
  start: number;
  end: number;
  from?: string;
  to?: string;
  /** Filtered by user or graph: entries are not contiguous and each carries an inclusion proof. */
  filtered: boolean;
  files: unknown[];
  /** SHA-256 hex of manifest.json as stored, which manifest.note signs. */
  sha256: string;
}

async function checkManifestJson(bundle: Bundle, report: VerificationReport): Promise<Manifest | undefined> {
  const label = "Manifest manifest.json";
  try {
    const bytes = await bundle.read("manifest.json", MAX_MANIFEST_BYTES);
    let value: unknown;
    try {
      value = JSON.parse(UTF8.decode(bytes));
    } catch {
      throw new VerificationError("invalid format: not JSON");
    }
    const manifest = manifestFrom(value, sha256Hex(bytes));
    const kind = manifest.filtered ? "filtered export" : "full range";
    report.add(label, true, `valid (${manifest.format}, origin ${manifest.origin}, ${kind} ${manifest.start}..${manifest.end})`);
    return manifest;
  } catch (error) {
    report.add(label, false, reasonOf(error));
    return undefined;
  }
}

function manifestFrom(value: unknown, sha256: string): Manifest {
  if (!isObject(value)) throw new VerificationError("invalid format: the manifest is not a JSON object");
  const format = value.format;
  if (typeof format !== "string" || !Object.hasOwn(FORMATS, format)) throw new VerificationError(`unsupported format ${JSON.stringify(format)} (expected one of ${Object.keys(FORMATS).join(", ")})`);
  const version = FORMATS[format as keyof typeof FORMATS];
  const { origin, range, files } = value;
  const filter = value.filter ?? {};
  if (typeof origin !== "string" || origin === "") throw new VerificationError("invalid format: origin must be a non-empty string");
  if (!isObject(range) || !isCount(range.start) || !isCount(range.end) || range.start > range.end) {
    throw new VerificationError("invalid format: range must be {start, end} with 0 <= start <= end");
  }
  if (!Array.isArray(files)) throw new VerificationError("invalid format: files must be an array");
  if (!isObject(filter)) throw new VerificationError("invalid format: filter must be an object or null");
  for (const field of ["from", "to", "user", "graph"]) {
    if (filter[field] != null && typeof filter[field] !== "string") throw new VerificationError(`invalid format: filter.${field} must be a string`);
  }
  const checkpointSize = value.checkpoint_size ?? range.end;
  if (!isCount(checkpointSize) || checkpointSize < range.end) throw new VerificationError("invalid format: checkpoint_size must be a count at or past range.end");
  if (version >= 2 && typeof value.exported_at !== "string") throw new VerificationError("invalid format: exported_at must be a string");
  const filterFields = Object.fromEntries(["from", "to", "user", "graph"].flatMap((field) => (typeof filter[field] === "string" ? [[field, filter[field] as string]] : [])));
  return {
    format: format as keyof typeof FORMATS,
    version,
    origin,
    checkpointSize,
    exportedAt: typeof value.exported_at === "string" ? value.exported_at : "",
    filter: Object.keys(filterFields).length > 0 ? filterFields : null,
    start: range.start,
    end: range.end,
    ...(typeof filter.from === "string" ? { from: filter.from } : {}),
    ...(typeof filter.to === "string" ? { to: filter.to } : {}),
    filtered: filter.user != null || filter.graph != null,
    files,
    sha256,
  };
}

async function checkKeys(bundle: Bundle, report: VerificationReport, trusted: string[] | undefined, trustedWitnesses: string[] | undefined): Promise<KeyRecord[]> {
  const label = "Keys keys.json";
  let value: unknown;
  try {
    value = JSON.parse(await bundle.text("keys.json", MAX_SMALL_FILE_BYTES));
  } catch (error) {
    report.add(label, false, error instanceof SyntaxError ? "invalid format: not JSON" : reasonOf(error));
    return [];
  }
  if (!Array.isArray(value)) {
    report.add(label, false, "invalid format: keys.json is an array of key records");
    return [];
  }
  const keys: KeyRecord[] = [];
  const problems: string[] = [];
  value.forEach((item: unknown, i) => {
    try {
      const key = keyRecordFrom(item);
      keyVerifier(key);
      keys.push(key);
    } catch (error) {
      problems.push(`key ${i + 1}: ${reasonOf(error)}`);
    }
  });
  if (trusted && trusted.length > 0) {
    // Pinned: a log key counts only if the auditor trusts it; the bundle's others are ignored.
    const pinned = keys.filter((key) => key.role === "log" && trusted.includes(key.vkey));
    for (const vkey of trusted) if (!keys.some((key) => key.vkey === vkey)) problems.push(`trusted key ${vkey.split("+").slice(0, 2).join("+")} is not in the bundle's key history`);
    keys.splice(0, keys.length, ...keys.filter((key) => key.role !== "log"), ...pinned);
  }
  if (trustedWitnesses && trustedWitnesses.length > 0) {
    // Pinned witnesses replace the bundle's: a witness key the bundle brings along proves nothing.
    const pinned: KeyRecord[] = [];
    for (const vkey of trustedWitnesses) {
      try {
        const verifier = parseVerifierKey(vkey);
        if (verifier.type !== SIG_COSIGNATURE_V1) throw new VerificationError("not a witness cosignature key (type 0x04)");
        pinned.push({ name: verifier.name, key_id: verifier.keyId.toString("hex"), vkey, role: "witness", valid_from: new Date(0).toISOString(), valid_to: null });
      } catch (error) {
        problems.push(`trusted witness ${vkey.split("+").slice(0, 2).join("+")}: ${reasonOf(error)}`);
      }
    }
    keys.splice(0, keys.length, ...keys.filter((key) => key.role !== "witness"), ...pinned);
  }
  const logKeys = keys.filter((key) => key.role === "log");
  if (logKeys.length === 0) problems.push("no key with role log");
  if (problems.length > 0) {
    report.add(label, false, problems.join("; "));
  } else {
    // Without --trusted-key the keys come with the bundle: the auditor compares the log key with the one published out of band.
    const witnesses = keys.filter((key) => key.role === "witness").length;
    const source = trusted && trusted.length > 0 ? "pinned by --trusted-key" : "from the bundle: compare with the published key, or pin it with --trusted-key";
    report.add(label, true, `valid (log ${logKeys.map((key) => `${key.name}+${key.key_id}`).join(", ")}${witnesses > 0 ? `; ${witnesses} witness` : ""}; ${source})`);
  }
  return keys;
}

function keyRecordFrom(item: unknown): KeyRecord {
  if (!isObject(item)) throw new VerificationError("invalid format: not an object");
  const { name, key_id, vkey, role, valid_from, valid_to } = item;
  if (typeof name !== "string" || typeof key_id !== "string" || typeof vkey !== "string" || typeof role !== "string") {
    throw new VerificationError("invalid format: name, key_id, vkey and role are strings");
  }
  if (typeof valid_from !== "string" || Number.isNaN(Date.parse(valid_from))) throw new VerificationError("invalid format: valid_from is an ISO time");
  if (valid_to !== null && (typeof valid_to !== "string" || Number.isNaN(Date.parse(valid_to)))) {
    throw new VerificationError("invalid format: valid_to is an ISO time or null");
  }
  return { name, key_id, vkey, role, valid_from, valid_to };
}

/** manifest.note: `portcullis-evidence/v1\n<origin>\n<sha256 hex of manifest.json>\n`, signed by a log key. */
async function checkManifestNote(bundle: Bundle, manifest: Manifest, keys: KeyRecord[], report: VerificationReport): Promise<void> {
  const label = "Manifest manifest.note";
  try {
    const opened = openSignedNote(await bundle.text("manifest.note", MAX_SMALL_FILE_BYTES), keys, ["log"]);
    const lines = opened.text.split("\n");
    const [format, origin, hash] = lines;
    if (lines.length !== 4 || format !== manifest.format || hash === undefined || !HEX_SHA256.test(hash)) {
      throw new VerificationError(`invalid format: the note text is "${manifest.format}", the origin and the SHA-256 of manifest.json`);
    }
    if (origin !== manifest.origin) throw new VerificationError(`origin ${JSON.stringify(origin)} does not match the manifest's ${JSON.stringify(manifest.origin)}`);
    if (hash !== manifest.sha256) throw new VerificationError("hash value doesn't match manifest.json");
    report.add(label, true, `valid (signed by ${signers(opened.verified)})`);
  } catch (error) {
    report.add(label, false, reasonOf(error));
  }
}

/** Every listed file exists with its SHA-256 and size; every file present is listed. */
async function checkFiles(bundle: Bundle, manifest: Manifest, report: VerificationReport): Promise<void> {
  const listed = new Set<string>();
  for (const item of manifest.files) {
    const file = isObject(item) ? item : {};
    const name = typeof file.path === "string" ? file.path : undefined;
    const label = `File ${name ?? "(no path)"}`;
    try {
      const problem = pathProblem(name);
      if (problem !== undefined || name === undefined) throw new VerificationError(problem ?? "invalid format: no path");
      if (listed.has(name)) throw new VerificationError("listed twice in the manifest");
      listed.add(name);
      if (typeof file.sha256 !== "string" || !HEX_SHA256.test(file.sha256) || !isCount(file.bytes)) {
        throw new VerificationError("invalid format: a file entry is {path, sha256 (hex), bytes}");
      }
      const actual = await bundle.sha256(name);
      if (actual.hex !== file.sha256) throw new VerificationError("hash value doesn't match");
      if (actual.bytes !== file.bytes) throw new VerificationError(`size doesn't match: the manifest says ${file.bytes} bytes, the file has ${actual.bytes}`);
      report.add(label, true, "valid");
    } catch (error) {
      report.add(label, false, reasonOf(error));
    }
  }
  // v2: payloads are listed in payloads.txt, proofs are checked against the end checkpoint.
  const unlisted = (name: string) => manifest.version >= 2 && (name.startsWith("payloads/") || name.startsWith("proofs/"));
  for (const name of bundle.paths("")) {
    if (!listed.has(name) && name !== "manifest.json" && name !== "manifest.note" && !unlisted(name)) {
      report.add(`File ${name}`, false, "not in the manifest (added after the export was signed)");
    }
  }
}

/** Manifest paths are relative POSIX paths inside the bundle: no "..", no absolute or drive paths. */
function pathProblem(name: string | undefined): string | undefined {
  if (name === undefined || name === "") return "invalid format: a file entry needs a path";
  const parts = name.split("/");
  if (parts.includes("..")) return "invalid path: '..' leads outside the bundle";
  if (name.startsWith("/") || name.includes("\\") || /^[A-Za-z]:/.test(name)) return "invalid path: absolute, or not a bundle-relative path";
  if (parts.some((part) => part === "" || part === ".") || /[\x00-\x1f\x7f]/.test(name)) return "invalid path: not a normalised relative path";
  if (name === "manifest.json" || name === "manifest.note") return "invalid path: the manifest cannot list itself";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. Checkpoints and consistency

interface BundleCheckpoint {
  path: string;
  /** The signed note exactly as stored; tlog-proofs must embed these bytes. */
  text: string;
  checkpoint: Checkpoint;
  signatures: VerifiedSignature[];
}

async function checkCheckpoints(bundle: Bundle, manifest: Manifest, keys: KeyRecord[], report: VerificationReport): Promise<BundleCheckpoint[]> {
  const paths = bundle.paths("checkpoints/");
  if (paths.length === 0) report.add("Checkpoint checkpoints/", false, "not found: the bundle has no checkpoints");
  const sizeInName = (name: string) => /^checkpoints\/([0-9]{1,16})\.note$/.exec(name)?.[1];
  paths.sort((a, b) => Number(sizeInName(a) ?? Infinity) - Number(sizeInName(b) ?? Infinity));
  const verified: BundleCheckpoint[] = [];
  for (const name of paths) {
    const label = `Checkpoint ${name}`;
    try {
      const named = sizeInName(name);
      if (named === undefined) throw new VerificationError("invalid format: a checkpoint file is named checkpoints/<size>.note");
      const text = await bundle.text(name, MAX_SMALL_FILE_BYTES);
      const { checkpoint, signatures } = verifyCheckpointNote(text, manifest.origin, keys);
      if (Number(named) !== checkpoint.size) {
        throw new VerificationError(`moved from original location: the file name says ${Number(named)}, the checkpoint's size is ${checkpoint.size}`);
      }
      report.add(label, true, `valid (size ${checkpoint.size}, signed by ${signers(signatures)})`);
      verified.push({ path: name, text, checkpoint, signatures });
    } catch (error) {
      report.add(label, false, reasonOf(error));
    }
  }
  return verified;
}

/** The newest checkpoint that carries `quorum` cosignatures of the pinned witnesses must be fresh
 * (audit-ledger.md §16): a bundle that ends before its newest witnessed checkpoint went stale had
 * its tail withheld or dropped. Signed but not yet witnessed checkpoints after it are the residual
 * window the freshness bound allows. */
function checkWitnessed(checkpoints: BundleCheckpoint[], keys: KeyRecord[], policy: NonNullable<BundleVerifyOptions["witnesses"]>, report: VerificationReport): void {
  let newest: { path: string; size: number; witnesses: Map<string, number> } | undefined;
  for (const candidate of checkpoints) {
    const witnesses = new Map<string, number>();
    for (const sig of candidate.signatures) {
      if (sig.timestamp !== undefined && keys.some((key) => key.role === "witness" && key.name === sig.name && key.key_id === sig.keyId)) witnesses.set(`${sig.name}+${sig.keyId}`, sig.timestamp);
    }
    if (witnesses.size >= policy.quorum && (!newest || candidate.checkpoint.size >= newest.size)) newest = { path: candidate.path, size: candidate.checkpoint.size, witnesses };
  }
  if (!newest) {
    report.add("Witnesses", false, `no checkpoint carries ${policy.quorum} cosignatures from the trusted witnesses: the log was not witnessed, or not by them`);
    return;
  }
  report.add(`Witnesses on ${newest.path}`, true, `valid (${newest.witnesses.size} of ${policy.vkeys.length} trusted witnesses cosigned it, ${policy.quorum} required)`);
  const asOfMs = policy.asOfMs ?? Date.now();
  const ageMs = asOfMs - Math.max(...newest.witnesses.values()) * 1000;
  const fresh = ageMs <= policy.maxAgeMs;
  report.add("Freshness", fresh, fresh ? `valid (newest witnessed checkpoint cosigned ${Math.max(0, Math.round(ageMs / 1000))} s before ${policy.asOfMs === undefined ? "now" : new Date(asOfMs).toISOString()}, bound ${Math.round(policy.maxAgeMs / 1000)} s)` : `newest witnessed checkpoint cosigned ${Math.round(ageMs / 1000)} s before ${policy.asOfMs === undefined ? "now" : new Date(asOfMs).toISOString()}, more than ${Math.round(policy.maxAgeMs / 1000)} s: newer records may have been withheld or dropped`);
}

/** Reads `consistency/<m>-<n>.txt` (leading zeros in the name allowed) for verifyHeadChain. */
function consistencyProofs(bundle: Bundle): (oldSize: number, newSize: number) => Promise<Buffer[]> {
  const files = new Map<string, string>();
  for (const name of bundle.paths("consistency/")) {
    const match = /^consistency\/([0-9]{1,16})-([0-9]{1,16})\.txt$/.exec(name);
    if (match) files.set(`${Number(match[1])}-${Number(match[2])}`, name);
  }
  return async (oldSize, newSize) => {
    const name = files.get(`${oldSize}-${newSize}`);
    if (name === undefined) throw new VerificationError(`not found: consistency/${oldSize}-${newSize}.txt`);
    return parseConsistencyProof(await bundle.text(name, MAX_SMALL_FILE_BYTES));
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Entries

/**
 * Full range: seed a compact range from frontier.txt (start > 0), replay every entry (each checked
 * by checkEntry and hashed as stored) and require the root at `end` to be the end checkpoint's.
 * When no checkpoint has size `end` (an export whose period ends before the log does), the
 * recomputed root joins the consistency chain instead and must be proven consistent with the
 * next checkpoint by consistency/<end>-<n>.txt.
 */
async function checkFullEntries(
  bundle: Bundle,
  manifest: Manifest,
  checkpoints: BundleCheckpoint[],
  scan: EntryScan,
  report: VerificationReport,
  integrityThreadFrom: number,
): Promise<void> {
  const { start, end, origin } = manifest;
  let range: CompactRange | undefined = CompactRange.empty();
  let frontier: CheckResult | undefined;
  if (start > 0) {
    const label = "Frontier frontier.txt";
    try {
      range = parseFrontier(await bundle.text("frontier.txt", MAX_SMALL_FILE_BYTES), start);
      const atStart = checkpoints.find((c) => c.checkpoint.size === start);
      if (atStart !== undefined && !range.root().equals(atStart.checkpoint.root)) {
        throw new VerificationError(`root mismatch: the frontier's root differs from checkpoint ${start}`);
      }
      frontier = { label, ok: true, detail: `valid (size ${start}${atStart ? `, root matches checkpoint ${start}` : ""})` };
    } catch (error) {
      frontier = { label, ok: false, detail: reasonOf(error) };
      range = undefined;
    }
  }

  // Integrity (canonical leaves in sequence, the tree) in a worker on a large bundle, while this
  // thread reads the records for the report, the payloads and the receipts.
  const input = { dir: bundle.dir, origin, start, end, maxLineBytes: MAX_LINE_BYTES, frontier: range && { size: range.size, hashes: range.frontier() } };
  const integrity = end - start >= integrityThreadFrom ? checkEntryIntegrityInWorker(input) : undefined;
  try {
    if (integrity) for await (const line of bundle.lines("entries.ndjson", MAX_LINE_BYTES)) scan.add(tryParseLeaf(line, origin, { canonical: false }), line);
  } catch {
    // a file that cannot be read: the integrity pass names it
  }
  const { lines, problems, problemCount, tree } = await (integrity ?? checkEntryIntegrity(bundle, input, (parsed, line) => scan.add(parsed, line)));
  range = tree && CompactRange.fromFrontier(tree.size, tree.hashes);

  // The recomputed head either equals a checkpoint of size `end` or joins the consistency chain.
  const atEnd = checkpoints.find((c) => c.checkpoint.size === end);
  const head: TreeHead | undefined = problemCount === 0 && range !== undefined && range.size === end ? { size: end, root: range.root() } : undefined;
  const heads: TreeHead[] = checkpoints.map((c) => c.checkpoint);
  if (head !== undefined && atEnd === undefined) heads.push(head);
  const chain = await verifyHeadChain(heads, consistencyProofs(bundle));
  addAll(report, chain);
  if (frontier !== undefined) report.add(frontier.label, frontier.ok, frontier.detail);

  const label = end > start ? `Entries ${start}..${end - 1}` : "Entries (none)";
  const count = Math.max(end - start, lines, 1);
  if (problemCount > 0) {
    const more = problemCount > problems.length ? `; and ${problemCount - problems.length} more` : "";
    report.add(label, false, problems.join("; ") + more, count);
  } else if (range === undefined) {
    report.add(label, false, "not verified: frontier.txt is INVALID", count);
  } else if (range.size < end) {
    report.add(label, false, `log truncated: entries end at ${range.size}, ${atEnd ? "checkpoint" : "the manifest"} says ${end}`, count);
  } else if (atEnd !== undefined) {
    try {
      checkRoot(range, atEnd.checkpoint);
      report.add(label, true, `valid (root matches checkpoint ${end})`, count);
    } catch (error) {
      report.add(label, false, reasonOf(error), count);
    }
  } else {
    const next = checkpoints.map((c) => c.checkpoint.size).filter((size) => size > end).sort((a, b) => a - b)[0];
    const link = chain.find((result) => result.label === `Consistency ${end} -> ${next}`);
    if (next === undefined || link === undefined) {
      report.add(label, false, `no valid checkpoint at or after the exported end ${end}`, count);
    } else if (link.ok) {
      report.add(label, true, `valid (root proven consistent with checkpoint ${next})`, count);
    } else {
      report.add(label, false, `root not proven consistent with checkpoint ${next}: ${link.detail}`, count);
    }
  }
}

/** Filtered export: each entry carries proofs/<seq>.tlog-proof against the end checkpoint (c2sp.org/tlog-proof). */
async function checkFilteredEntries(
  bundle: Bundle,
  manifest: Manifest,
  checkpoints: BundleCheckpoint[],
  scan: EntryScan,
  report: VerificationReport,
): Promise<void> {
  const { start, end, origin } = manifest;
  const atEnd = checkpoints.find((c) => c.checkpoint.size === end);
  let previous = -1;
  let lines = 0;
  try {
    for await (const line of bundle.lines("entries.ndjson", MAX_LINE_BYTES)) {
      lines++;
      let parsed: ParsedLeaf;
      try {
        parsed = parseLeaf(line, origin);
      } catch (error) {
        report.add(`Entry line ${lines}`, false, reasonOf(error));
        continue;
      }
      scan.add(parsed, line);
      scan.entriesWithProofs++;
      const { seq } = parsed;
      const label = `Entry ${seq} proofs/${seq}.tlog-proof`;
      try {
        if (seq <= previous) throw new VerificationError(`sequence out of order: entry ${seq} follows entry ${previous}`);
        previous = seq;
        if (seq < start || seq >= end) throw new VerificationError(`entry ${seq} is outside the exported range ${start}..${end - 1}`);
        if (atEnd === undefined) throw new VerificationError(`no valid checkpoint at the exported end ${end}`);
        const proof = parseTlogProof(await bundle.text(`proofs/${seq}.tlog-proof`, MAX_SMALL_FILE_BYTES));
        if (proof.index !== seq) throw new VerificationError(`proof index ${proof.index} does not match entry ${seq}`);
        if (proof.checkpoint !== atEnd.text) throw new VerificationError(`the proof's checkpoint is not the end checkpoint ${atEnd.path}`);
        verifyInclusion(leafHash(line), seq, atEnd.checkpoint.size, proof.proof, atEnd.checkpoint.root);
        report.add(label, true, `valid (included in checkpoint ${end})`);
      } catch (error) {
        report.add(label, false, reasonOf(error));
      }
    }
    if (lines === 0) report.info("Entries entries.ndjson", "no entries");
  } catch (error) {
    report.add("Entries entries.ndjson", false, lines === 0 ? reasonOf(error) : `line ${lines + 1}: ${reasonOf(error)}`);
  }
}

/** What the entries reference, collected in the one pass over entries.ndjson. */
class EntryScan {
  /** Referenced payloads present in the bundle (at most the bundle's payload files). */
  readonly payloads = new Set<string>();
  /** Referenced payloads absent from the bundle: the first few named, the rest counted, so a
   * bundle whose payloads were purged does not hold every hash in memory. */
  readonly absent = new Set<string>();
  absentMore = 0;
  /** v2: payloads payloads.txt lists but the bundle lacks. */
  readonly deleted = new Set<string>();
  /** Requests the gateway admitted (no `status`: refused requests need no completion) and not yet completed. */
  readonly open = new Map<string, number>();
  requests = 0;
  firstTime: string | undefined;
  lastTime: string | undefined;
  private firstMs = Infinity;
  private lastMs = -Infinity;
  readonly receiptHashes = new Map<number, Buffer>();
  private readonly receiptSeqs: Set<number>;
  /** Recomputes the control report (v2) from the same records. */
  collector: EvidenceCollector | undefined;
  collectorError: string | undefined;
  /** Filtered exports: entries that each carry a proof file. */
  entriesWithProofs = 0;

  constructor(
    private readonly origin: string,
    receipts: readonly Receipt[],
    private readonly present: (sha256: string) => boolean,
    readonly payloadIndex: Set<string> | undefined,
  ) {
    this.receiptSeqs = new Set(receipts.map((receipt) => receipt.seq));
  }

  add(parsed: ParsedLeaf | undefined, line: Buffer): void {
    if (parsed === undefined) return;
    const { seq, record } = parsed;
    if (this.receiptSeqs.has(seq) && !this.receiptHashes.has(seq)) this.receiptHashes.set(seq, leafHash(line));
    if (this.collector !== undefined && this.collectorError === undefined) {
      try {
        this.collector.add(seq, line, record as unknown as AuditRecord);
      } catch (error) {
        this.collectorError = `entry ${seq} cannot be summarised: ${reasonOf(error)}`;
      }
    }
    const payload = payloadOf(record);
    if (payload !== undefined) {
      const hash = payload.sha256;
      if (this.present(hash)) this.payloads.add(hash);
      else if (this.payloadIndex?.has(hash)) this.deleted.add(hash);
      else if (this.absent.size < MAX_NAMED_ABSENT || this.absent.has(hash)) this.absent.add(hash);
      else this.absentMore++;
    }
    if (record.type === "request") {
      this.requests++;
      if (record.status === undefined) this.open.set(record.request_id, seq);
    }
    if (record.type === "completion") this.open.delete(record.request_id);
    const time = Date.parse(record.time);
    if (time < this.firstMs) [this.firstMs, this.firstTime] = [time, record.time];
    if (time > this.lastMs) [this.lastMs, this.lastTime] = [time, record.time];
  }
}

// ---------------------------------------------------------------------------------------------
// 5 and 6. Payloads and open requests; receipts

/** v2: payloads.txt (hashed in the manifest) lists every payload the export wrote, so one
 * deleted or added afterwards is named. Read before the entries, which look each payload up. */
async function loadPayloadIndex(bundle: Bundle, manifest: Manifest, report: VerificationReport): Promise<Set<string> | undefined> {
  if (manifest.version < 2) return undefined;
  const index = new Set<string>();
  try {
    let line = 0;
    for await (const bytes of bundle.lines("payloads.txt", 128)) {
      line++;
      const hash = bytes.toString("latin1");
      if (!HEX_SHA256.test(hash)) throw new VerificationError(`invalid format: line ${line} is not a SHA-256 (hex)`);
      index.add(hash);
    }
  } catch (error) {
    report.add("Payload payloads.txt", false, reasonOf(error));
  }
  return index;
}

/** Each payload file hashes to its name; a referenced payload that is absent was purged or not exported. */
async function checkPayloads(bundle: Bundle, scan: EntryScan, report: VerificationReport): Promise<void> {
  const index = scan.payloadIndex;
  for (const name of bundle.paths("payloads/")) {
    const hash = name.slice("payloads/".length);
    const label = `Payload ${name}`;
    try {
      if (!HEX_SHA256.test(hash)) throw new VerificationError("invalid format: a payload file is named by its SHA-256 (hex)");
      if (index !== undefined && !index.has(hash)) throw new VerificationError("not in payloads.txt (added after the export was signed)");
      const actual = await bundle.sha256(name);
      if (actual.hex !== hash) throw new VerificationError(`hash value doesn't match: the file hashes to ${actual.hex}`);
      report.add(label, true, scan.payloads.has(hash) ? "valid" : "valid (not referenced by any exported entry)");
    } catch (error) {
      report.add(label, false, reasonOf(error));
    }
  }
  const deleted = "not found: payloads.txt lists it, the file was deleted after the export";
  for (const hash of [...scan.deleted].sort()) report.add(`Payload payloads/${hash}`, false, deleted);
  for (const hash of index ?? []) {
    if (!bundle.has(`payloads/${hash}`) && !scan.deleted.has(hash)) report.add(`Payload payloads/${hash}`, false, deleted);
  }
  for (const hash of [...scan.absent].sort()) report.add(`Payload payloads/${hash}`, true, "valid (not in the bundle: purged or not exported)");
  if (scan.absentMore > 0) report.info("Payloads not in the bundle", `and ${scan.absentMore} more references to payloads purged or not exported`);
}

/**
 * v2: the control report recomputed from the records must equal report.json, report.html and
 * summary.csv must be its renderings, and every sampled record's proofs/<seq>.tlog-proof must
 * verify against the end checkpoint. Proof files for no exported or sampled entry are named.
 */
async function checkReport(bundle: Bundle, manifest: Manifest, end: BundleCheckpoint | undefined, scan: EntryScan, report: VerificationReport): Promise<void> {
  const label = "Report report.json";
  if (end === undefined || scan.collector === undefined) {
    report.add(label, false, `not recomputed: no valid checkpoint at the export's size ${manifest.checkpointSize} to seed its sample`);
    return;
  }
  if (scan.collectorError !== undefined) {
    report.add(label, false, `not recomputed: ${scan.collectorError}`);
    return;
  }
  const recomputed = JSON.parse(
    JSON.stringify(
      scan.collector.report({
        origin: manifest.origin,
        range: { start: manifest.start, end: manifest.end },
        checkpoint: { size: end.checkpoint.size, root: end.checkpoint.root.toString("base64") },
        filter: manifest.filter,
      }),
    ),
  ) as EvidenceReport;
  try {
    let stored: unknown;
    try {
      stored = JSON.parse(await bundle.text("report.json", MAX_REPORT_BYTES));
    } catch (error) {
      throw error instanceof SyntaxError ? new VerificationError("invalid format: not JSON") : error;
    }
    const differences = reportDifferences(stored, recomputed);
    if (differences.length > 0) throw new VerificationError(`differs from the report recomputed from the records: ${differences.join(", ")}`);
    report.add(label, true, `valid (recomputed from the records: ${recomputed.controls.length} controls)`);
  } catch (error) {
    report.add(label, false, reasonOf(error));
  }
  for (const [name, expected] of [
    ["report.html", reportHtml(recomputed, manifest.exportedAt)],
    ["summary.csv", summaryCsv(recomputed)],
  ] as const) {
    try {
      const actual = await bundle.text(name, MAX_REPORT_BYTES);
      if (actual !== expected) throw new VerificationError("differs from the rendering of the recomputed report");
      report.add(`Report ${name}`, true, "valid (renders the recomputed report)");
    } catch (error) {
      report.add(`Report ${name}`, false, reasonOf(error));
    }
  }

  const sampled = [...new Map(recomputed.controls.flatMap((control) => control.sample.map((s) => [s.seq, s] as const))).values()].sort((a, b) => a.seq - b.seq);
  const problems: string[] = [];
  for (const sample of sampled) {
    try {
      const proof = parseTlogProof(await bundle.text(`proofs/${sample.seq}.tlog-proof`, MAX_SMALL_FILE_BYTES));
      if (proof.index !== sample.seq) throw new VerificationError(`proof index ${proof.index} does not match entry ${sample.seq}`);
      if (proof.checkpoint !== end.text) throw new VerificationError(`the proof's checkpoint is not the end checkpoint ${end.path}`);
      verifyInclusion(Buffer.from(sample.leaf_hash, "base64"), sample.seq, end.checkpoint.size, proof.proof, end.checkpoint.root);
    } catch (error) {
      problems.push(`entry ${sample.seq}: ${reasonOf(error)}`);
    }
  }
  if (sampled.length > 0) {
    report.add(
      "Report sample",
      problems.length === 0,
      problems.length === 0 ? `valid (${sampled.length} sampled records, each included in checkpoint ${end.checkpoint.size})` : problems.slice(0, 3).join("; "),
      sampled.length,
    );
  }
  const proofFiles = bundle.paths("proofs/").length;
  const expected = manifest.filtered ? scan.entriesWithProofs : sampled.length;
  if (proofFiles > expected) report.add("Proofs proofs/", false, `${proofFiles - expected} proof files for no exported or sampled entry (added after the export was signed)`);
}

/** Where a stored report departs from the recomputed one: top-level fields, and controls by id. */
function reportDifferences(stored: unknown, recomputed: EvidenceReport): string[] {
  if (!isObject(stored)) return ["not a JSON object"];
  const differences: string[] = [];
  const fields = new Set([...Object.keys(stored), ...Object.keys(recomputed)]);
  for (const field of [...fields].sort()) {
    const expected = (recomputed as unknown as Record<string, unknown>)[field];
    if (canonicalText(stored[field] ?? null) === canonicalText(expected ?? null)) continue;
    if (field === "controls" && Array.isArray(stored.controls)) {
      recomputed.controls.forEach((control, i) => {
        if (canonicalText((stored.controls as unknown[])[i] ?? null) !== canonicalText(control)) differences.push(`control ${control.framework} ${control.id}`);
      });
      if (stored.controls.length !== recomputed.controls.length) differences.push(`controls (${stored.controls.length} listed, ${recomputed.controls.length} recomputed)`);
    } else {
      differences.push(field);
    }
  }
  return differences.slice(0, 10);
}

function checkRequests(scan: EntryScan, report: VerificationReport): void {
  const label = "Requests without completion";
  if (scan.requests === 0) {
    report.info(label, "no request records");
    return;
  }
  if (scan.open.size === 0) {
    report.add(label, true, `valid (none: all ${scan.requests} admitted requests completed)`, scan.requests);
    return;
  }
  const listed = [...scan.open].slice(0, 5).map(([id, seq]) => `${id} (entry ${seq})`);
  const more = scan.open.size > 5 ? `, and ${scan.open.size - 5} more` : "";
  // Not a failure (design 003, check 6): in flight when the export ran, or the gateway stopped first.
  report.add(label, true, `valid (${scan.open.size} in flight at export time or cut off by a gateway crash: ${listed.join(", ")}${more})`, scan.requests);
}

/** A receipt at or past the log's exported end, or for a different leaf, proves truncation or rewriting (audit-ledger.md §16). */
function checkReceipts(receipts: readonly Receipt[], manifest: Manifest, checkpoints: BundleCheckpoint[], scan: EntryScan, report: VerificationReport): void {
  const logEnd = checkpoints.reduce((max, c) => Math.max(max, c.checkpoint.size), manifest.end);
  for (const receipt of receipts) {
    const label = `Receipt ${String(receipt.seq)}`;
    const hash = typeof receipt.leafHash === "string" ? Buffer.from(receipt.leafHash, "base64") : Buffer.alloc(0);
    if (!isCount(receipt.seq) || hash.length !== 32 || hash.toString("base64") !== receipt.leafHash) {
      report.add(label, false, "invalid format: a receipt is <seq>:<base64 SHA-256 leaf hash>");
      continue;
    }
    const exported = scan.receiptHashes.get(receipt.seq);
    if (receipt.seq >= logEnd) {
      report.add(label, false, `truncated or altered: receipt for entry ${receipt.seq}, but the exported log ends at ${logEnd}`);
    } else if (exported === undefined) {
      report.info(label, `not checked: entry ${receipt.seq} is not in this export`);
    } else if (!exported.equals(hash)) {
      report.add(label, false, `truncated or altered: receipt for entry ${receipt.seq} acknowledged leaf hash ${receipt.leafHash}, the bundle's entry hashes to ${exported.toString("base64")}`);
    } else {
      report.add(label, true, `valid (leaf hash matches entry ${receipt.seq})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

function addAll(report: VerificationReport, results: readonly CheckResult[]): void {
  for (const result of results) report.add(result.label, result.ok, result.detail, result.count);
}

function signers(signatures: readonly VerifiedSignature[]): string {
  return signatures
    .map((sig) => `${sig.name} ${sig.keyId}${sig.timestamp === undefined ? "" : ` at ${new Date(sig.timestamp * 1000).toISOString()}`}`)
    .join(", ");
}

function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
