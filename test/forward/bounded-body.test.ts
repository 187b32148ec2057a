// The one reader of answers within a byte limit (src/boundedBody.ts): what it keeps, what it
// reports, and that a caller refusing an oversized answer stops reading it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readBounded } from "../../src/boundedBody.js";

async function* chunks(sizes: number[], read: number[] = []): AsyncGenerator<Buffer> {
  for (const [i, size] of sizes.entries()) {
    read.push(i);
    yield Buffer.alloc(size, 97 + i);
  }
}

test("an answer within the limit is kept whole", async () => {
  const answer = await readBounded(chunks([3, 4]), 7);
  assert.equal(answer.body.toString(), "aaabbbb");
  assert.equal(answer.size, 7);
  assert.equal(answer.overLimit, false);
});

test("past the limit, only the prefix of whole chunks is kept and the rest is counted", async () => {
  const read: number[] = [];
  // The third chunk would fit in the space left, but it comes after one that was left out.
  const answer = await readBounded(chunks([3, 10, 1], read), 5);
  assert.equal(answer.body.toString(), "aaa");
  assert.equal(answer.size, 14);
  assert.equal(answer.overLimit, true);
  assert.deepEqual(read, [0, 1, 2]);
});

test("with stopAtLimit, reading stops at the first chunk past the limit", async () => {
  const read: number[] = [];
  const answer = await readBounded(chunks([3, 10, 1], read), 5, { stopAtLimit: true });
  assert.equal(answer.overLimit, true);
  assert.deepEqual(read, [0, 1]);
});
