// Every committed record, as one JSON object per line, for a SIEM (a file it tails, or stdout
// for a log shipper). The ledger stays the record of truth; this is a copy, written after commit.
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { AppendReceipt, AuditRecord } from "./auditRecord.js";

export class SiemStream {
  private readonly out: WriteStream | NodeJS.WriteStream;

  constructor(
    target: string,
    private readonly origin: string,
    log: Logger,
  ) {
    if (target === "-") {
      this.out = process.stdout;
    } else {
      mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
      this.out = createWriteStream(target, { flags: "a", mode: 0o600 });
    }
    this.out.on("error", (error) => log.error({ err: error }, "the SIEM stream could not be written"));
  }

  write(record: AuditRecord, receipt: AppendReceipt): void {
    this.out.write(`${JSON.stringify({ log: this.origin, seq: receipt.seq, leaf_hash: receipt.leafHash.toString("base64"), ...record })}\n`);
  }

  async close(): Promise<void> {
    if (this.out === process.stdout) return;
    await new Promise<void>((resolve) => (this.out as WriteStream).end(resolve));
  }
}
