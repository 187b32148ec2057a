// Payloads at rest: recorded streams repeat themselves (every token event names the same message
// and run), so the stores keep them compressed. They are hashed, proven, exported and replayed
// as the uncompressed bytes, so nothing outside the store sees the encoding.
import { promisify } from "node:util";
import { brotliCompress, brotliCompressSync, brotliDecompressSync, constants, type BrotliOptions } from "node:zlib";

type PayloadEncoding = "br" | null;

/** Below this, compression saves too little to be worth a decompression on every read. */
const MIN_COMPRESSED_BYTES = 512;

/** Quality 2 with a window fitted to the payload: about a third of the CPU of quality 5 (most of
 * which went to setting up a 4 MB window for a 1 KB answer), within 12% of its size on small
 * JSON and as small on recorded streams and large documents (bench/recording.ts). */
const brotliOptions = (bytes: number): BrotliOptions => ({
  params: {
    [constants.BROTLI_PARAM_QUALITY]: 2,
    [constants.BROTLI_PARAM_SIZE_HINT]: bytes,
    [constants.BROTLI_PARAM_LGWIN]: Math.min(constants.BROTLI_MAX_WINDOW_BITS, Math.max(constants.BROTLI_MIN_WINDOW_BITS, Math.ceil(Math.log2(bytes + 1)))),
  },
});
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
