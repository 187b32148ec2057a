import { mkdir, open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { AuditRecord, AuditSink } from "./auditRecord.js";

/** Appends one JSON object per line. Writes are serialised so lines never interleave. */
export class JsonlAuditSink implements AuditSink {
  private tail: Promise<void> = Promise.resolve();

  private constructor(private readonly file: FileHandle) {}

  static async open(filePath: string): Promise<JsonlAuditSink> {
    await mkdir(path.dirname(path.resolve(filePath)), { recursive: true });
    return new JsonlAuditSink(await open(filePath, "a", 0o600));
  }

  append(record: AuditRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    const written = this.tail.then(async () => {
      await this.file.write(line);
    });
    this.tail = written.catch(() => undefined);
    return written;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.file.sync().catch(() => undefined);
    await this.file.close();
  }
}
