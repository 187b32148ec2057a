// The SQLite ledger's writer thread. A commit with synchronous=FULL waits for fsync, and
// better-sqlite3 waits on the calling thread: on the gateway's event loop every commit stalled
// every request. This thread owns a second connection to the same WAL file and does the whole
// write transaction (size check, inserts, session index, commit); the event loop only waits for
// the answer, so an append is still acknowledged only once it is durable.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { configureLedgerDatabase, SqliteAppender } from "./sqliteAppend.js";
import type { AppendBatch, LogTip, StoredCheckpoint, TrackedRun } from "./store.js";

export type WriterRequest =
  | { id: number; op: "append"; log: string; expectedSize: number; expectedTip: LogTip | undefined; batch: AppendBatch }
  | { id: number; op: "checkpoint"; log: string; checkpoint: StoredCheckpoint }
  | { id: number; op: "trackRun"; log: string; instance: string; run: TrackedRun }
  | { id: number; op: "untrackRun"; log: string; requestId: string };

/** `written: false`: the log does not end where the caller prepared the batch (another process
 * appended, a batch before it failed, the file was cut); nothing was written and the caller takes
 * the locked, checking path. */
export type WriterResponse = { id: number; written: boolean } | { id: number; error: { message: string; code?: string } };

const db = new Database((workerData as { file: string }).file);
configureLedgerDatabase(db);
const appender = new SqliteAppender(db);

parentPort!.on("message", (request: WriterRequest) => {
  parentPort!.postMessage(handle(request));
});

function handle(request: WriterRequest): WriterResponse {
  try {
    switch (request.op) {
      case "append": {
        const tip = request.expectedTip && { ...request.expectedTip, hash: asBuffer(request.expectedTip.hash) };
        return { id: request.id, written: appender.appendIfEndsAt(request.log, request.expectedSize, tip, withBuffers(request.batch)) };
      }
      case "checkpoint":
        appender.addCheckpoint(request.log, { ...request.checkpoint, root: asBuffer(request.checkpoint.root) });
        break;
      case "trackRun":
        appender.trackRun(request.log, request.instance, request.run);
        break;
      case "untrackRun":
        appender.untrackRun(request.log, request.requestId);
        break;
    }
    return { id: request.id, written: true };
  } catch (error) {
    const { message, code } = error as { message: string; code?: string };
    return { id: request.id, error: { message, ...(code ? { code } : {}) } };
  }
}

// Buffers cross the thread boundary as plain Uint8Arrays.
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function withBuffers(batch: AppendBatch): AppendBatch {
  return {
    ...batch,
    entries: batch.entries.map((entry) => ({ ...entry, leaf: asBuffer(entry.leaf), leafHash: asBuffer(entry.leafHash) })),
    nodes: batch.nodes.map((node) => ({ ...node, hash: asBuffer(node.hash) })),
    payloads: batch.payloads.map((payload) => ({ ...payload, body: asBuffer(payload.body) })),
  };
}
