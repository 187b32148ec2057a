// Payloads at rest: recorded streams repeat themselves (every token event names the same message
// and run), so the stores keep them compressed. They are hashed, proven, exported and replayed
// as the uncompressed bytes, so nothing outside the store sees the encoding.
import { promisify } from "node:util";
import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants, type BrotliOptions } from "node:zlib";

export type PayloadEncoding = "br" | null;

/** Below this, compression saves too little to be worth a decompression on every read. */
const MIN_COMPRESSED_BYTES = 512;

const brotliOptions = (bytes: number): BrotliOptions => ({ params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: bytes } });
const compressAsync = promisify(brotliCompress);

/** For a writer that may block (the SQLite writer thread). */
export function compressedPayload(body: Buffer): { body: Buffer; encoding: PayloadEncoding } {
  if (body.length < MIN_COMPRESSED_BYTES) return { body, encoding: null };
  return smaller(body, brotliCompressSync(body, brotliOptions(body.length)));
}

/** For a writer on the event loop (PostgreSQL): compressed on libuv's thread pool. */
export async function compressedPayloadAsync(body: Buffer): Promise<{ body: Buffer; encoding: PayloadEncoding }> {
  if (body.length < MIN_COMPRESSED_BYTES) return { body, encoding: null };
  return smaller(body, await compressAsync(body, brotliOptions(body.length)));
}

function smaller(body: Buffer, compressed: Buffer): { body: Buffer; encoding: PayloadEncoding } {
  return compressed.length < body.length ? { body: compressed, encoding: "br" } : { body, encoding: null };
}

export function storedPayloadBody(body: Buffer, encoding: string | null): Buffer {
  if (encoding === null) return body;
  if (encoding === "br") return brotliDecompressSync(body);
  throw new Error(`a ledger payload is stored with an unknown encoding "${encoding}" (written by a newer Portcullis?)`);
}
