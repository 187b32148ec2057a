// The RFC 6962 Merkle tree (restated in RFC 9162 §2.1 and C2SP merkle-tree): hashing, the compact
// range the sequencer appends to, proof generation over stored perfect subtrees, and strict proof
// verification. Imports only node:crypto because the offline bundle verifier embeds this file.
//
// Sizes and indices are JS numbers up to 2^53 - 1, so this file never uses the 32-bit bitwise
// operators: halving is Math.floor(x / 2) and bit tests are x % 2.
import * as crypto from "node:crypto";
import { createHash } from "node:crypto";

export const HASH_BYTES = 32;

/** A proof, a hash or a size was rejected. `reason` says which and why, e.g. "root mismatch". */
export class MerkleProofError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "MerkleProofError";
  }
}

/** SHA-256(0x00 ‖ leaf). The prefix keeps leaves and interior nodes apart (RFC 6962 §2.1). */
export function leafHash(leaf: Uint8Array): Buffer {
  return prefixedHash(0x00, leaf);
}

/** SHA-256(0x01 ‖ left ‖ right) over two 32-byte hashes (RFC 6962 §2.1). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  checkHash("left child", left);
  checkHash("right child", right);
  return prefixedHash(0x01, left, right);
}

// A verify hashes each of a million leaves and about as many nodes: the one-shot crypto.hash
// (Node 20.12+) over a reused buffer costs half of a Hash object per call.
const oneShot = (crypto as Partial<typeof crypto>).hash; // absent before Node 20.12
const scratch = Buffer.alloc(64 * 1024);

function prefixedHash(prefix: number, first: Uint8Array, second?: Uint8Array): Buffer {
  const length = 1 + first.length + (second?.length ?? 0);
  if (oneShot === undefined || length > scratch.length) {
    const hash = createHash("sha256").update(Buffer.of(prefix)).update(first);
    return (second ? hash.update(second) : hash).digest();
  }
  scratch[0] = prefix;
  scratch.set(first, 1);
  if (second) scratch.set(second, 1 + first.length);
  return Buffer.from(oneShot("sha256", scratch.subarray(0, length), "hex"), "hex");
}

/** MTH({}) = SHA-256("") (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = createHash("sha256").digest();

/** Hash of the perfect subtree at `level` covering leaves [index*2^level, (index+1)*2^level). level 0 = leaf hashes. */
export interface NodeReader {
  node(level: number, index: number): Promise<Buffer> | Buffer;
}

/**
 * The roots of the perfect subtrees that tile leaves [0, size), largest first: one per set bit of
 * `size`. Enough to append leaves and compute the root without the rest of the tree.
 */
export class CompactRange {
  private constructor(
    private leafCount: number,
    private readonly roots: Buffer[],
  ) {}

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Resumes from stored roots (e.g. a bundle's frontier.txt), given left to right, largest first. */
  static fromFrontier(size: number, hashes: Buffer[]): CompactRange {
    checkCount("size", size);
    if (!Array.isArray(hashes) || hashes.length !== popcount(size)) {
      const got = Array.isArray(hashes) ? `${hashes.length}` : "no array";
      throw new MerkleProofError(`frontier length wrong: size ${size} needs ${popcount(size)} hashes, got ${got}`);
    }
    hashes.forEach((hash, i) => checkHash(`frontier[${i}]`, hash));
    return new CompactRange(size, hashes.map((hash) => Buffer.from(hash)));
  }

  get size(): number {
    return this.leafCount;
  }

  frontier(): Buffer[] {
    return this.roots.map((hash) => Buffer.from(hash));
  }

  /**
   * Appends one leaf hash. For every perfect subtree completed by this append at level >= 1,
   * calls onNode(level, index, hash) (so a store can persist interior nodes).
   */
  append(leafHash: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    checkHash("leaf hash", leafHash);
    // Each trailing 1 bit of the size is a perfect subtree of the same height directly left of
    // the new one; merging them is one SHA-256 per merge, one merge per append amortised.
    let hash: Buffer = Buffer.from(leafHash);
    let level = 0;
    let index = this.leafCount;
    while (index % 2 === 1) {
      hash = nodeHash(this.roots.pop() as Buffer, hash);
      level += 1;
      index = half(index);
      onNode?.(level, index, hash);
    }
    this.roots.push(hash);
    this.leafCount += 1;
  }

  /** MTH of the leaves so far: the right-to-left fold of the roots, which is how the left-balanced tree nests. */
  root(): Buffer {
    return this.roots.length === 0 ? Buffer.from(EMPTY_ROOT) : Buffer.from(foldRight(this.roots));
  }

  clone(): CompactRange {
    return new CompactRange(this.leafCount, [...this.roots]);
  }
}

/** MTH(D[n]) of RFC 9162 §2.1.1, given the leaf hashes. */
export function rootOf(leafHashes: readonly Buffer[]): Buffer {
  const range = CompactRange.empty();
  for (const hash of leafHashes) range.append(hash);
  return range.root();
}

/**
 * Root of leaves [start, end) of the left-balanced tree (as RFC 9162 MTH(D[start:end]) when the
 * range is a subtree of the RFC recursion), computed from stored perfect subtrees: decompose
 * [start,end) into aligned perfect subtrees, fetch each via reader, fold right-to-left.
 */
export async function subtreeHash(start: number, end: number, reader: NodeReader): Promise<Buffer> {
  checkCount("start", start);
  checkCount("end", end);
  if (start > end) throw new MerkleProofError(`range wrong: start ${start} > end ${end}`);
  if (start === end) return Buffer.from(EMPTY_ROOT);
  const hashes = await Promise.all(perfectSubtrees(start, end).map(([level, index]) => readNode(reader, level, index)));
  return foldRight(hashes);
}

/** PATH(index, D[size]) of RFC 9162 §2.1.3.1: sibling hashes from the leaf up to the root. */
export async function inclusionProof(index: number, size: number, reader: NodeReader): Promise<Buffer[]> {
  checkIndexBelowSize(index, size);
  const siblings: Array<[number, number]> = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = start + largestPowerOfTwoBelow(end - start);
    if (index < k) {
      siblings.push([k, end]);
      end = k;
    } else {
      siblings.push([start, k]);
      start = k;
    }
  }
  // The recursion appends each sibling after the deeper path, so the deepest sibling comes first.
  return Promise.all(siblings.reverse().map(([a, b]) => subtreeHash(a, b, reader)));
}

/**
 * PROOF(oldSize, D[newSize]) = SUBPROOF(oldSize, D[newSize], true) of RFC 9162 §2.1.4.1. Empty when
 * the sizes are equal or oldSize is 0 (every tree extends the empty tree, C2SP merkle-tree).
 */
export async function consistencyProof(oldSize: number, newSize: number, reader: NodeReader): Promise<Buffer[]> {
  checkSizeOrder(oldSize, newSize);
  if (oldSize === 0) return [];
  const nodes: Array<[number, number]> = [];
  let start = 0;
  let end = newSize;
  let wholeOldTree = true; // SUBPROOF's b: the old root is known to the verifier, so it is left out
  while (oldSize !== end) {
    const k = start + largestPowerOfTwoBelow(end - start);
    if (oldSize <= k) {
      nodes.push([k, end]);
      end = k;
    } else {
      nodes.push([start, k]);
      start = k;
      wholeOldTree = false;
    }
  }
  if (!wholeOldTree) nodes.push([start, end]);
  return Promise.all(nodes.reverse().map(([a, b]) => subtreeHash(a, b, reader)));
}

/** Number of hashes in the inclusion proof for `index` in a tree of `size` (at most ceil(log2 size)). */
export function inclusionProofLength(index: number, size: number): number {
  checkIndexBelowSize(index, size);
  // Below the level where the paths to `index` and `size - 1` meet, every level has a sibling;
  // above it the path runs along the right edge, with a (left) sibling only where `index` has a 1 bit.
  const inner = levelsUntilEqual(index, size - 1);
  return inner + popcount(Math.floor(index / 2 ** inner));
}

/** Number of hashes in the consistency proof from `oldSize` to `newSize` (at most ceil(log2 newSize) + 1). */
export function consistencyProofLength(oldSize: number, newSize: number): number {
  checkSizeOrder(oldSize, newSize);
  if (oldSize === 0 || oldSize === newSize) return 0;
  // The proof is the root of the old tree's last perfect subtree (left out when that subtree is
  // the whole old tree, a power of two) followed by that subtree's inclusion path in the new tree.
  const level = trailingZeros(oldSize);
  const inner = levelsUntilEqual(oldSize - 1, newSize - 1);
  const seed = isPowerOfTwo(oldSize) ? 0 : 1;
  return seed + (inner - level) + popcount(Math.floor((oldSize - 1) / 2 ** inner));
}

/** RFC 9162 §2.1.3.2, with the proof length required to be exactly inclusionProofLength(index, size). */
export function verifyInclusion(leafHash: Buffer, index: number, size: number, proof: readonly Buffer[], root: Buffer): void {
  const expected = inclusionProofLength(index, size);
  checkHash("leaf hash", leafHash);
  checkHash("root", root);
  checkProof(proof, expected);

  let fn = index;
  let sn = size - 1;
  let r: Buffer = leafHash;
  for (const p of proof) {
    // The two sn checks are implied by the length check; kept so the loop is the RFC's, verbatim.
    if (sn === 0) throw new MerkleProofError("proof too long");
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // Only when fn was even: skip the levels where the node is the last one and has no sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError("proof too short");
  if (!r.equals(root)) throw new MerkleProofError("root mismatch: the proof leads to a different root");
}

/**
 * RFC 9162 §2.1.4.2 with the edge cases of C2SP merkle-tree: oldSize > newSize is rejected; equal
 * sizes need an empty proof and equal roots; oldSize 0 needs an empty proof and the empty-tree root.
 * The proof length must be exactly consistencyProofLength(oldSize, newSize).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Buffer[],
  oldRoot: Buffer,
  newRoot: Buffer,
): void {
  const expected = consistencyProofLength(oldSize, newSize);
  checkHash("old root", oldRoot);
  checkHash("new root", newRoot);
  // Also rejects the empty proof for 0 < oldSize < newSize (RFC step 1): the expected length is >= 1.
  checkProof(proof, expected);
  if (oldSize === 0 && !oldRoot.equals(EMPTY_ROOT)) {
    throw new MerkleProofError('old root mismatch: a tree of size 0 has root SHA-256("")');
  }
  if (oldSize === newSize) {
    if (!oldRoot.equals(newRoot)) throw new MerkleProofError("root mismatch: equal sizes with different roots");
    return;
  }
  if (oldSize === 0) return;

  // When the old tree is a perfect subtree its root is the first node of the proof.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Buffer;
  let sr = fr;
  for (const c of path.slice(1)) {
    // As in verifyInclusion, the sn checks are implied by the length check.
    if (sn === 0) throw new MerkleProofError("proof too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError("proof too short");
  if (!fr.equals(oldRoot)) throw new MerkleProofError("old root mismatch: the proof leads to a different old root");
  if (!sr.equals(newRoot)) throw new MerkleProofError("new root mismatch: the proof leads to a different new root");
}

/** The aligned perfect subtrees tiling [start, end), left to right, as [level, index]: each as large as alignment allows. */
function perfectSubtrees(start: number, end: number): Array<[number, number]> {
  const nodes: Array<[number, number]> = [];
  for (let at = start; at < end; ) {
    let level = 0;
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level += 1;
    nodes.push([level, at / 2 ** level]);
    at += 2 ** level;
  }
  return nodes;
}

async function readNode(reader: NodeReader, level: number, index: number): Promise<Buffer> {
  const hash = await reader.node(level, index);
  checkHash(`stored node (level ${level}, index ${index})`, hash);
  return hash;
}

/** Nests the hashes as the left-balanced tree does: h0 ‖ (h1 ‖ (… ‖ hn)). */
function foldRight(hashes: readonly Buffer[]): Buffer {
  return hashes.reduceRight((right, left) => nodeHash(left, right));
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MerkleProofError(`${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function checkIndexBelowSize(index: number, size: number): void {
  checkCount("index", index);
  checkCount("size", size);
  if (index >= size) throw new MerkleProofError(`index out of range: index ${index} is not below size ${size}`);
}

function checkSizeOrder(oldSize: number, newSize: number): void {
  checkCount("old size", oldSize);
  checkCount("new size", newSize);
  if (oldSize > newSize) throw new MerkleProofError(`old size ${oldSize} > new size ${newSize}`);
}

function checkHash(name: string, value: Uint8Array): void {
  if (!(value instanceof Uint8Array) || value.length !== HASH_BYTES) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new MerkleProofError(`${name} must be a ${HASH_BYTES}-byte hash, got ${got}`);
  }
}

/** Exact length first (RFC 9162 §2.1.3.2 and §2.1.4.2 accept nothing else), then each hash's size. */
function checkProof(proof: readonly Buffer[], expected: number): void {
  if (!Array.isArray(proof)) throw new MerkleProofError("proof must be an array of hashes");
  if (proof.length !== expected) {
    throw new MerkleProofError(`proof length wrong: expected ${expected} hashes, got ${proof.length}`);
  }
  proof.forEach((hash, i) => checkHash(`proof[${i}]`, hash));
}

function half(x: number): number {
  return Math.floor(x / 2);
}

function popcount(x: number): number {
  let count = 0;
  for (; x > 0; x = half(x)) count += x % 2;
  return count;
}

function trailingZeros(x: number): number {
  let count = 0;
  for (; x > 0 && x % 2 === 0; x /= 2) count += 1;
  return count;
}

/** The bit length of a XOR b: how many halvings until a and b meet in one node. */
function levelsUntilEqual(a: number, b: number): number {
  let levels = 0;
  for (; a !== b; levels += 1) {
    a = half(a);
    b = half(b);
  }
  return levels;
}

function isPowerOfTwo(x: number): boolean {
  return x > 0 && 2 ** trailingZeros(x) === x;
}

/** k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1). */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
