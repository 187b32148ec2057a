// Answers read whole within a byte limit: LangGraph's answers to the gateway's own requests, a
// deferred request's result, an answer relayed in one piece. One reader, so a limit is counted
// and reported the same way everywhere.

interface BoundedBody {
  /** What was kept: the whole chunks that fit within `limit` bytes, in order. */
  body: Buffer;
  /** How many bytes arrived (past the limit too, unless reading stopped there). */
  size: number;
  /** More arrived than the limit. */
  overLimit: boolean;
}

/**
 * Reads `stream` to its end, keeping at most `limit` bytes. With `stopAtLimit`, reading stops as
 * soon as the limit is passed, for a caller that refuses the whole answer then; otherwise the
 * rest is read and counted but not kept, for a caller that keeps the start.
 */
export async function readBounded(stream: AsyncIterable<Buffer>, limit: number, options: { stopAtLimit?: boolean } = {}): Promise<BoundedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    // Whole chunks, and only a prefix: once one is left out, so is everything after it.
    if (size <= limit) chunks.push(chunk);
    else if (options.stopAtLimit) break;
  }
  return { body: Buffer.concat(chunks), size, overLimit: size > limit };
}
