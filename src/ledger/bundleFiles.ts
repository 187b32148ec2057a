// The files of an evidence bundle, read safely: only regular files found when the directory was
// listed, never through a symbolic link, each bounded in size or streamed. Used by the bundle
// verifier and its entry-integrity worker; imports only Node built-ins (esbuild bundles it into
// verify.mjs).
import { createHash } from "node:crypto";
import { constants, open, readdir, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { VerificationError } from "./verify.js";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

interface BundleFile {
  /** Symbolic links, devices and FIFOs are listed (so they are reported) but never opened. */
  regular: boolean;
}

export class Bundle {
  private readonly hashes = new Map<string, Promise<{ hex: string; bytes: number }>>();

  private constructor(
    readonly dir: string,
    private readonly files: Map<string, BundleFile>,
  ) {}

  /** Lists every file under `dir` without following symbolic links; paths use "/". */
  static async open(dir: string): Promise<Bundle> {
    const files = new Map<string, BundleFile>();
    const visit = async (relative: string): Promise<void> => {
      for (const entry of await readdir(path.join(dir, ...relative.split("/")), { withFileTypes: true })) {
        const name = relative === "" ? entry.name : `${relative}/${entry.name}`;
        if (entry.isDirectory()) await visit(name);
        else files.set(name, { regular: entry.isFile() });
      }
    };
    await visit("");
    return new Bundle(dir, files);
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** Files whose path starts with `prefix`, sorted. */
  paths(prefix: string): string[] {
    return [...this.files.keys()].filter((name) => name.startsWith(prefix)).sort();
  }

  async read(name: string, maxBytes: number): Promise<Buffer> {
    const handle = await this.openFile(name);
    try {
      if ((await handle.stat()).size > maxBytes) throw new VerificationError(`${name} is larger than ${maxBytes} bytes`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async text(name: string, maxBytes: number): Promise<string> {
    const bytes = await this.read(name, maxBytes);
    try {
      return UTF8.decode(bytes);
    } catch {
      throw new VerificationError(`invalid format: ${name} is not UTF-8`);
    }
  }

  /** SHA-256 of the file, streamed. */
  sha256(name: string): Promise<{ hex: string; bytes: number }> {
    let result = this.hashes.get(name);
    if (result === undefined) {
      result = (async () => {
        const hash = createHash("sha256");
        let bytes = 0;
        for await (const chunk of (await this.openFile(name)).createReadStream() as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
        }
        return { hex: hash.digest("hex"), bytes };
      })();
      this.hashes.set(name, result);
    }
    return result;
  }

  /**
   * The file's lines as the exact stored bytes, streamed. Split on 0x0A by hand rather than with
   * readline, which decodes (replacing invalid UTF-8) and also splits on "\r": the leaf hash must be
   * over the bytes as stored.
   */
  async *lines(name: string, maxLineBytes: number): AsyncGenerator<Buffer> {
    const stream = (await this.openFile(name)).createReadStream({ highWaterMark: 64 * 1024 });
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let from = 0;
        for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, from)) {
          const part = chunk.subarray(from, newline);
          if (pendingBytes + part.length > maxLineBytes) throw new VerificationError(`line longer than ${maxLineBytes} bytes`);
          yield pending.length === 0 ? part : Buffer.concat([...pending, part]);
          pending = [];
          pendingBytes = 0;
          from = newline + 1;
        }
        if (from < chunk.length) {
          pending.push(chunk.subarray(from));
          pendingBytes += chunk.length - from;
          if (pendingBytes > maxLineBytes) throw new VerificationError(`line longer than ${maxLineBytes} bytes`);
        }
      }
      if (pending.length > 0) yield Buffer.concat(pending);
    } finally {
      stream.destroy();
    }
  }

  private async openFile(name: string): Promise<FileHandle> {
    const file = this.files.get(name);
    if (file === undefined) throw new VerificationError(`not found: ${name}`);
    if (!file.regular) throw new VerificationError(`${name} is not a regular file`);
    // O_NOFOLLOW: a file swapped for a symbolic link after the listing is still not followed.
    return open(path.join(this.dir, ...name.split("/")), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  }
}
