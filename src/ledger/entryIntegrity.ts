// The integrity pass over a bundle's entries.ndjson: every line a canonical leaf at its sequence
// number and before the exported end, hashed into the tree from the frontier. It is half of an
// offline verify, and the other half (the report, the payloads, the receipts) needs none of its
// results, so on a large bundle it runs in a worker thread over the same file while the main
// thread reads the records (1M records: 42 s on one thread, 31 s on two, bench/export.ts).
//
// Imports only Node built-ins and pure modules of src/ledger/: esbuild bundles it into verify.mjs,
// where the worker is verify.mjs itself, started with the role below.
import { isMainThread, parentPort, workerData, type Worker } from "node:worker_threads";
import { Bundle } from "./bundleFiles.js";
import { CompactRange, leafHash } from "./merkle.js";
import { startModuleThread } from "./moduleThread.js";
import { checkEntry, parseLeaf, reasonOf, VerificationError, type ParsedLeaf } from "./verify.js";

const ROLE = "portcullis:entry-integrity";
/** Below this many entries a worker costs more to start than it saves. */
export const INTEGRITY_THREAD_FROM = 100_000;

interface IntegrityInput {
  dir: string;
  origin: string;
  /** The first and one past the last exported sequence number (manifest.start, manifest.end). */
  start: number;
  end: number;
  maxLineBytes: number;
  /** The tree before `start` (frontier.txt), or undefined when it did not verify: no root then. */
  frontier: { size: number; hashes: Buffer[] } | undefined;
}

interface IntegrityResult {
  lines: number;
  /** The first few problems, named; `problemCount` counts them all. */
  problems: string[];
  problemCount: number;
  /** The tree the entries extend the frontier to; undefined after any problem. */
  tree: { size: number; hashes: Buffer[] } | undefined;
}

/** The pass itself, in this thread; `onLine` sees each line and its leaf when the leaf is valid
 * apart from its position (the verifier's one pass over a small bundle). */
export async function checkEntryIntegrity(bundle: Bundle, input: IntegrityInput, onLine?: (parsed: ParsedLeaf | undefined, line: Buffer) => void): Promise<IntegrityResult> {
  const { origin, start, end } = input;
  let range = input.frontier && CompactRange.fromFrontier(input.frontier.size, input.frontier.hashes);
  // A garbage file of millions of lines is only counted.
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (text: string) => {
    if (problemCount++ < 3) problems.push(text);
  };
  let expected = start;
  let lines = 0;
  try {
    for await (const line of bundle.lines("entries.ndjson", input.maxLineBytes)) {
      lines++;
      let parsed: ParsedLeaf | undefined;
      try {
        parsed = checkEntry(line, expected, origin);
        if (parsed.seq >= end) throw new VerificationError(`entry ${parsed.seq} is past the exported end ${end}`);
        range?.append(leafHash(line));
      } catch (error) {
        problem(`line ${lines}: ${reasonOf(error)}`);
        // Keep reading to name further problems; the root is no longer meaningful.
        parsed ??= tryParseLeaf(line, origin);
        range = undefined;
      }
      onLine?.(parsed, line);
      // Resynchronise after a gap, but never go back: an entry moved earlier is named once.
      expected = parsed === undefined ? expected + 1 : Math.max(expected, parsed.seq + 1);
    }
  } catch (error) {
    problem(lines === 0 ? reasonOf(error) : `line ${lines + 1}: ${reasonOf(error)}`);
  }
  return { lines, problems, problemCount, tree: problemCount === 0 && range ? { size: range.size, hashes: range.frontier() } : undefined };
}

/** The pass in a worker thread over the same directory; a worker that fails is a problem, never a pass. */
export function checkEntryIntegrityInWorker(input: IntegrityInput): Promise<IntegrityResult> {
  return new Promise((resolve) => {
    const failed = (reason: string) => resolve({ lines: 0, problems: [`the integrity check did not run: ${reason}`], problemCount: 1, tree: undefined });
    let worker: Worker;
    try {
      worker = startModuleThread(import.meta.url, { role: ROLE, input });
    } catch (error) {
      failed(reasonOf(error));
      return;
    }
    worker.once("message", (result: IntegrityResult) => {
      // Buffers arrive as Uint8Arrays.
      resolve({ ...result, tree: result.tree && { size: result.tree.size, hashes: result.tree.hashes.map((hash) => Buffer.from(hash)) } });
      void worker.terminate();
    });
    worker.once("error", (error) => failed(reasonOf(error)));
    worker.once("exit", (code) => failed(`the worker exited (code ${code})`));
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const { input } = workerData as { input: IntegrityInput };
  const frontier = input.frontier && { size: input.frontier.size, hashes: input.frontier.hashes.map((hash) => Buffer.from(hash)) };
  void Bundle.open(input.dir)
    .then((bundle) => checkEntryIntegrity(bundle, { ...input, frontier }))
    .then((result) => parentPort!.postMessage(result));
}

/** A leaf valid apart from its position; undefined otherwise. `canonical: false` skips the
 * canonical-form check (done by the integrity pass when it runs apart). */
export function tryParseLeaf(line: Buffer, origin: string, options?: { canonical: boolean }): ParsedLeaf | undefined {
  try {
    return parseLeaf(line, origin, options);
  } catch {
    return undefined;
  }
}
