import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { AuditRecord, AuditSink } from "./auditRecord.js";

interface Pending {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Appends one JSON object per line. Group commit: records that arrive while a write is in
 * flight go out together in the next single write, so lines never interleave and concurrent
 * requests do not queue behind one another's system calls. */
export class JsonlAuditSink implements AuditSink {
  private pending: Pending[] = [];
  private writing: Promise<void> | undefined;

  private constructor(private readonly file: FileHandle) {}

  static async open(filePath: string): Promise<JsonlAuditSink> {
    await mkdir(path.dirname(path.resolve(filePath)), { recursive: true });
    return new JsonlAuditSink(await open(filePath, "a", 0o600));
  }

  append(record: AuditRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(record)}\n`, resolve, reject });
      this.writing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.file.write(batch.map((entry) => entry.line).join(""));
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.writing = undefined;
  }

  async close(): Promise<void> {
    await this.writing;
    await this.file.sync().catch(() => undefined);
    await this.file.close();
  }
}
