// The export's reading of records: each page of leaves parsed into the control report's collector,
// answering with the payloads the page references. On a large export this runs in a worker thread,
// so that parsing and tallying a million records overlaps reading them from the store and writing
// the bundle (about half of an export each).
import { isMainThread, parentPort, workerData, type Worker } from "node:worker_threads";
import type { AuditRecord } from "../../record/index.js";
import type { LedgerLeaf } from "../ledger.js";
import { startModuleThread } from "../moduleThread.js";
import type { StoredEntry } from "../store.js";
import { EvidenceCollector, type EvidenceReport, type ReportScope } from "./report.js";

const ROLE = "portcullis:page-collector";

interface PageCollector {
  /** Resolves with the payload hashes the page's records reference: unique, in record order. */
  add(page: StoredEntry[]): Promise<string[]>;
  /** Sequence numbers of the sampled records, ascending, once every page is in. */
  sampledSeqs(): Promise<number[]>;
  report(scope: ReportScope): Promise<EvidenceReport>;
  close(): Promise<void>;
}

export function pageCollector(root: Buffer, options: { thread: boolean }): PageCollector {
  return options.thread ? new ThreadCollector(root) : new InlineCollector(new EvidenceCollector(root));
}

class InlineCollector implements PageCollector {
  constructor(private readonly collector: EvidenceCollector) {}

  async add(page: StoredEntry[]): Promise<string[]> {
    return collectPage(this.collector, page.map((entry) => entry.seq), page.map((entry) => entry.leaf));
  }

  async sampledSeqs(): Promise<number[]> {
    return this.collector.sampledSeqs();
  }

  async report(scope: ReportScope): Promise<EvidenceReport> {
    return this.collector.report(scope);
  }

  async close(): Promise<void> {}
}

type Ask = { kind: "page"; seqs: number[]; leaves: Uint8Array; lengths: number[] } | { kind: "sampled" } | { kind: "report"; scope: ReportScope };
type Request = Ask & { id: number };
type Response = { id: number; value: unknown } | { id: number; error: string };

/** The main thread's side: requests answered in order; a thread that fails fails the export. */
class ThreadCollector implements PageCollector {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private failure: Error | undefined;

  constructor(root: Buffer) {
    this.worker = startModuleThread(import.meta.url, { role: ROLE, root });
    this.worker.on("message", (response: Response) => {
      const waiting = this.pending.get(response.id);
      this.pending.delete(response.id);
      if ("error" in response) waiting?.reject(new Error(`the export's record reader failed: ${response.error}`));
      else waiting?.resolve(response.value);
    });
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => this.fail(new Error(`the export's record reader exited (code ${code})`)));
  }

  add(page: StoredEntry[]): Promise<string[]> {
    const leaves = Buffer.concat(page.map((entry) => entry.leaf));
    return this.request({ kind: "page", seqs: page.map((entry) => entry.seq), leaves, lengths: page.map((entry) => entry.leaf.length) }) as Promise<string[]>;
  }

  sampledSeqs(): Promise<number[]> {
    return this.request({ kind: "sampled" }) as Promise<number[]>;
  }

  report(scope: ReportScope): Promise<EvidenceReport> {
    return this.request({ kind: "report", scope }) as Promise<EvidenceReport>;
  }

  async close(): Promise<void> {
    this.failure ??= new Error("the export's record reader is closed");
    await this.worker.terminate();
  }

  private request(request: Ask): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(this.failure);
    this.pending.clear();
  }
}

function collectPage(collector: EvidenceCollector, seqs: number[], leaves: Buffer[]): string[] {
  const referenced = new Set<string>();
  leaves.forEach((leaf, i) => {
    const record = (JSON.parse(leaf.toString("utf8")) as LedgerLeaf).record;
    collector.add(seqs[i]!, leaf, record);
    for (const sha256 of payloadHashes(record)) referenced.add(sha256);
  });
  return [...referenced];
}

/** The payloads a record references: a request's body, a completion's response, a run's output. */
function payloadHashes(record: AuditRecord): string[] {
  const references = [
    record.type === "request" ? record.body : undefined,
    record.type === "completion" ? record.response : undefined,
    record.type === "run" ? record.output : undefined,
  ];
  return references.filter((reference) => reference !== undefined).map((reference) => reference.sha256);
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const collector = new EvidenceCollector(Buffer.from((workerData as { root: Uint8Array }).root));
  parentPort!.on("message", (request: Request) => {
    try {
      let value: unknown;
      if (request.kind === "page") {
        const all = Buffer.from(request.leaves.buffer, request.leaves.byteOffset, request.leaves.byteLength);
        let offset = 0;
        const leaves = request.lengths.map((length) => all.subarray(offset, (offset += length)));
        value = collectPage(collector, request.seqs, leaves);
      } else if (request.kind === "sampled") {
        value = collector.sampledSeqs();
      } else {
        value = collector.report(request.scope);
      }
      parentPort!.postMessage({ id: request.id, value } satisfies Response);
    } catch (error) {
      parentPort!.postMessage({ id: request.id, error: (error as Error).message } satisfies Response);
    }
  });
}
