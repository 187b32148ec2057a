// The RFC 6962 / RFC 9162 §2.1 Merkle tree of the audit ledger (audit-ledger.md §3-6): hashing,
// compact ranges, proofs generated from stored perfect subtrees, and strict verification. Checked
// against the C2SP merkle-tree example, the transparency-dev/merkle known-answer vectors and a
// naive recursion written straight from the RFC definitions with its own hashing.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  CompactRange,
  EMPTY_ROOT,
  HASH_BYTES,
  MerkleProofError,
  type NodeReader,
  consistencyProof,
  consistencyProofLength,
  inclusionProof,
  inclusionProofLength,
  leafHash,
  nodeHash,
  rootOf,
  subtreeHash,
  verifyConsistency,
  verifyInclusion,
} from "../../src/ledger/merkle.js";

// --- Naive reference: RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 SUBPROOF over raw entries. ---

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Buffer.of(0), d[0] as Buffer);
  const k = split(d.length);
  return sha256(Buffer.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}

function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = split(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = split(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

// --- A node store as the ledger database holds it: leaf hashes at level 0, interior nodes from onNode. ---

class NodeStore {
  readonly nodes = new Map<string, Buffer>();
  readonly range = CompactRange.empty();
  /** roots[s] = root of the first s leaves, taken from the compact range as the log grew. */
  readonly roots: Buffer[] = [EMPTY_ROOT];
  reads = 0;

  constructor(leafHashes: Buffer[] = []) {
    for (const hash of leafHashes) this.append(hash);
  }

  append(hash: Buffer): void {
    this.nodes.set(`0/${this.range.size}`, hash);
    this.range.append(hash, (level, index, node) => this.nodes.set(`${level}/${index}`, node));
    this.roots.push(this.range.root());
  }

  /** A reader that fails the test when asked for a node that is not complete in a tree of `size`. */
  readerAt(size: number): NodeReader {
    return {
      node: (level, index) => {
        assert.ok((index + 1) * 2 ** level <= size, `node (${level}, ${index}) is not complete in a tree of size ${size}`);
        this.reads += 1;
        const hash = this.nodes.get(`${level}/${index}`);
        assert.ok(hash, `node (${level}, ${index}) was never stored`);
        return hash;
      },
    };
  }
}

function rejects(fn: () => unknown, reason: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MerkleProofError, `expected a MerkleProofError, got ${String(error)}`);
    assert.match(error.reason, reason);
    return true;
  });
}

async function rejectsAsync(fn: () => Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(fn, (error: unknown) => {
    assert.ok(error instanceof MerkleProofError, `expected a MerkleProofError, got ${String(error)}`);
    assert.match(error.reason, reason);
    return true;
  });
}

const hex = (s: string): Buffer => Buffer.from(s, "hex");

function flipBit(hash: Buffer, byte = 0, mask = 0x08): Buffer {
  const copy = Buffer.from(hash);
  copy[byte] = (copy[byte] as number) ^ mask;
  return copy;
}

// --- transparency-dev/merkle testonly/constants.go and cmd/proofgen/main.go (RFC 6962 vectors). ---

const KAT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(hex);

/** NodeHashes(): [level][index] of every perfect subtree of the 8-leaf tree. */
const KAT_NODES = [
  [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ],
  [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
  ],
  [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ],
  ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
].map((level) => level.map(hex));

/** RootHashes(): index = tree size. */
const KAT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(hex);

/** proofgen's inclusionProofs, with its 1-based leaf indices made 0-based. */
const KAT_INCLUSION: Array<{ index: number; size: number; proof: Buffer[] }> = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ].map(hex),
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ].map(hex),
  },
  { index: 2, size: 3, proof: [hex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")] },
  {
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ].map(hex),
  },
];

/** proofgen's consistencyProofs. */
const KAT_CONSISTENCY: Array<{ oldSize: number; newSize: number; proof: Buffer[] }> = [
  { oldSize: 1, newSize: 1, proof: [] },
  {
    oldSize: 1,
    newSize: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ].map(hex),
  },
  {
    oldSize: 6,
    newSize: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ].map(hex),
  },
  {
    oldSize: 2,
    newSize: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ].map(hex),
  },
  {
    oldSize: 6,
    newSize: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ].map(hex),
  },
];

/** proofgen's sha256SomeHash: a 32-byte value that is no node of the test tree. */
const SOME_HASH = hex("abacaba000000000000000000000000000000000000000000060061e00123456");

const KAT_LEAF_HASHES = KAT_LEAVES.map(leafHash);
const katStore = new NodeStore(KAT_LEAF_HASHES);

describe("hashing (RFC 6962 §2.1)", () => {
  test("the empty tree hashes to SHA-256 of the empty string", () => {
    assert.equal(EMPTY_ROOT.toString("hex"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.deepEqual(rootOf([]), EMPTY_ROOT);
    assert.equal(HASH_BYTES, 32);
  });

  test("leaves are hashed with a 0x00 prefix and interior nodes with 0x01", () => {
    assert.deepEqual(leafHash(Buffer.alloc(0)), sha256(Buffer.of(0)));
    assert.deepEqual(leafHash(KAT_LEAVES[0] as Buffer), KAT_NODES[0]?.[0]);
    assert.deepEqual(nodeHash(KAT_NODES[0]?.[0] as Buffer, KAT_NODES[0]?.[1] as Buffer), KAT_NODES[1]?.[0]);
  });

  test("an interior node hash refuses inputs that are not 32-byte hashes", () => {
    rejects(() => nodeHash(Buffer.from("raw leaf data"), SOME_HASH), /left child must be a 32-byte hash, got 13 bytes/);
  });
});

describe("C2SP merkle-tree worked example (7 entries)", () => {
  // Labels of C2SP merkle-tree §Example: leaves a..g, h = (a b), i = (c d), j = (e f), k = (h i), l = (j g).
  const entries = KAT_LEAVES.slice(0, 7);
  const [a, b, c, d, e, f, g] = entries.map((entry) => sha256(Buffer.of(0), entry)) as [
    Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer,
  ];
  const inner = (left: Buffer, right: Buffer) => sha256(Buffer.of(1), left, right);
  const h = inner(a, b);
  const i = inner(c, d);
  const j = inner(e, f);
  const k = inner(h, i);
  const l = inner(j, g);
  const root = inner(k, l);
  const store = new NodeStore([a, b, c, d, e, f, g]);
  const reader = store.readerAt(7);

  test("the root of the 7-entry tree is (k l)", () => {
    assert.deepEqual(rootOf([a, b, c, d, e, f, g]), root);
    assert.deepEqual(store.roots[7], root);
  });

  test("inclusion proofs are [b, i, l] for 0, [c, h, l] for 3, [f, g, k] for 4 and [j, k] for 6, and verify", async () => {
    const expected: Array<[number, Buffer, Buffer[]]> = [
      [0, a, [b, i, l]],
      [3, d, [c, h, l]],
      [4, e, [f, g, k]],
      [6, g, [j, k]],
    ];
    for (const [index, leaf, proof] of expected) {
      assert.deepEqual(await inclusionProof(index, 7, reader), proof, `index ${index}`);
      verifyInclusion(leaf, index, 7, proof, root);
    }
  });

  test("consistency proofs are [c, d, h, l] from 3, [l] from 4 and [j, g, k] from 6, and verify", async () => {
    const expected: Array<[number, Buffer[]]> = [
      [3, [c, d, h, l]],
      [4, [l]],
      [6, [j, g, k]],
    ];
    for (const [oldSize, proof] of expected) {
      assert.deepEqual(await consistencyProof(oldSize, 7, reader), proof, `from ${oldSize}`);
      verifyConsistency(oldSize, 7, proof, store.roots[oldSize] as Buffer, root);
    }
  });
});

describe("transparency-dev/merkle known-answer vectors", () => {
  test("roots of the first 0..8 test leaves match RootHashes()", () => {
    for (let size = 0; size <= 8; size++) {
      assert.deepEqual(rootOf(KAT_LEAF_HASHES.slice(0, size)), KAT_ROOTS[size], `size ${size}`);
      assert.deepEqual(katStore.roots[size], KAT_ROOTS[size], `compact range at size ${size}`);
      assert.deepEqual(mth(KAT_LEAVES.slice(0, size)), KAT_ROOTS[size], `naive MTH at size ${size}`);
    }
  });

  test("the stored perfect subtrees of the 8-leaf tree match NodeHashes()", () => {
    KAT_NODES.forEach((level, l) =>
      level.forEach((hash, index) => assert.deepEqual(katStore.nodes.get(`${l}/${index}`), hash, `node (${l}, ${index})`)),
    );
    assert.equal(katStore.nodes.size, 15);
  });

  test("generated inclusion proofs equal the vectors and verify", async () => {
    for (const { index, size, proof } of KAT_INCLUSION) {
      assert.deepEqual(await inclusionProof(index, size, katStore.readerAt(size)), proof, `index ${index} size ${size}`);
      verifyInclusion(KAT_LEAF_HASHES[index] as Buffer, index, size, proof, KAT_ROOTS[size] as Buffer);
    }
  });

  test("generated consistency proofs equal the vectors and verify", async () => {
    for (const { oldSize, newSize, proof } of KAT_CONSISTENCY) {
      assert.deepEqual(await consistencyProof(oldSize, newSize, katStore.readerAt(newSize)), proof, `${oldSize} -> ${newSize}`);
      verifyConsistency(oldSize, newSize, proof, KAT_ROOTS[oldSize] as Buffer, KAT_ROOTS[newSize] as Buffer);
    }
  });

  test("every corruption proofgen applies to an inclusion vector is rejected", () => {
    for (const { index, size, proof } of KAT_INCLUSION) {
      const leaf = KAT_LEAF_HASHES[index] as Buffer;
      const root = KAT_ROOTS[size] as Buffer;
      const corruptions: Array<[string, Buffer, number, number, Buffer[], Buffer]> = [
        ["index - 1", leaf, index - 1, size, proof, root],
        ["index + 1", leaf, index + 1, size, proof, root],
        ["index XOR 2", leaf, index ^ 2, size, proof, root],
        ["size * 2", leaf, index, size * 2, proof, root],
        ["size / 2", leaf, index, size / 2, proof, root],
        ["wrong leaf", leafHash(Buffer.from("WrongLeaf")), index, size, proof, root],
        ["empty root", leaf, index, size, proof, EMPTY_ROOT],
        ["random root", leaf, index, size, proof, SOME_HASH],
        ["trailing garbage", leaf, index, size, [...proof, Buffer.alloc(0)], root],
        ["trailing root", leaf, index, size, [...proof, root], root],
        ["preceding garbage", leaf, index, size, [Buffer.alloc(0), ...proof], root],
        ["preceding root", leaf, index, size, [root, ...proof], root],
        ...proof.map((_, i): [string, Buffer, number, number, Buffer[], Buffer] => [
          `proof[${i}] bit flipped`, leaf, index, size, proof.map((p, j) => (j === i ? flipBit(p) : p)), root,
        ]),
      ];
      if (proof.length > 0) corruptions.push(["removed component", leaf, index, size, proof.slice(0, -1), root]);
      if (proof.length > 1) corruptions.push(["inserted component", leaf, index, size, [proof[0] as Buffer, SOME_HASH, ...proof.slice(1)], root]);
      for (const [name, badLeaf, badIndex, badSize, badProof, badRoot] of corruptions) {
        assert.throws(() => verifyInclusion(badLeaf, badIndex, badSize, badProof, badRoot), MerkleProofError, `${name} (index ${index} size ${size})`);
      }
    }
  });

  test("every corruption proofgen applies to a consistency vector is rejected", () => {
    for (const { oldSize, newSize, proof } of KAT_CONSISTENCY.filter((v) => v.proof.length > 0)) {
      const oldRoot = KAT_ROOTS[oldSize] as Buffer;
      const newRoot = KAT_ROOTS[newSize] as Buffer;
      const corruptions: Array<[string, number, number, Buffer[], Buffer, Buffer]> = [
        ["old size - 1", oldSize - 1, newSize, proof, oldRoot, newRoot],
        ["old size + 1", oldSize + 1, newSize, proof, oldRoot, newRoot],
        ["old size XOR 2", oldSize ^ 2, newSize, proof, oldRoot, newRoot],
        ["new size * 2", oldSize, newSize * 2, proof, oldRoot, newRoot],
        ["new size / 2", oldSize, newSize / 2, proof, oldRoot, newRoot],
        ["wrong old root", oldSize, newSize, proof, SOME_HASH, newRoot],
        ["wrong new root", oldSize, newSize, proof, oldRoot, SOME_HASH],
        ["swapped roots", oldSize, newSize, proof, newRoot, oldRoot],
        ["empty proof", oldSize, newSize, [], oldRoot, newRoot],
        ["trailing garbage", oldSize, newSize, [...proof, Buffer.alloc(0)], oldRoot, newRoot],
        ["trailing old root", oldSize, newSize, [...proof, oldRoot], oldRoot, newRoot],
        ["trailing new root", oldSize, newSize, [...proof, newRoot], oldRoot, newRoot],
        ["preceding garbage", oldSize, newSize, [Buffer.alloc(0), ...proof], oldRoot, newRoot],
        ["preceding old root", oldSize, newSize, [oldRoot, ...proof], oldRoot, newRoot],
        ["preceding new root", oldSize, newSize, [newRoot, ...proof], oldRoot, newRoot],
        ["preceding proof[0]", oldSize, newSize, [proof[0] as Buffer, ...proof], oldRoot, newRoot],
        ["truncated proof", oldSize, newSize, proof.slice(0, -1), oldRoot, newRoot],
        ...proof.map((_, i): [string, number, number, Buffer[], Buffer, Buffer] => [
          `proof[${i}] bit flipped`, oldSize, newSize, proof.map((p, j) => (j === i ? flipBit(p, 0, 0x10) : p)), oldRoot, newRoot,
        ]),
      ];
      for (const [name, m, n, badProof, badOld, badNew] of corruptions) {
        assert.throws(() => verifyConsistency(m, n, badProof, badOld, badNew), MerkleProofError, `${name} (${oldSize} -> ${newSize})`);
      }
    }
  });
});

test("roots and every inclusion and consistency proof for sizes 1..64 equal the naive RFC 9162 recursion, have the computed length, and verify", async () => {
  const entries = Array.from({ length: 64 }, (_, i) => KAT_LEAVES[i] ?? Buffer.from(`entry ${i}`));
  const hashes = entries.map(leafHash);
  const store = new NodeStore(hashes);
  for (let n = 1; n <= 64; n++) {
    const d = entries.slice(0, n);
    const reader = store.readerAt(n);
    const root = mth(d);
    assert.deepEqual(rootOf(hashes.slice(0, n)), root, `rootOf ${n}`);
    assert.deepEqual(store.roots[n], root, `compact range root ${n}`);
    assert.deepEqual(await subtreeHash(0, n, reader), root, `subtreeHash(0, ${n})`);
    for (let m = 0; m < n; m++) {
      const proof = await inclusionProof(m, n, reader);
      assert.deepEqual(proof, path(m, d), `inclusion ${m} in ${n}`);
      assert.equal(proof.length, inclusionProofLength(m, n), `inclusion length ${m} in ${n}`);
      assert.ok(proof.length <= Math.ceil(Math.log2(n)));
      verifyInclusion(hashes[m] as Buffer, m, n, proof, root);
    }
    for (let m = 0; m <= n; m++) {
      const proof = await consistencyProof(m, n, reader);
      assert.deepEqual(proof, m === 0 ? [] : subproof(m, d, true), `consistency ${m} -> ${n}`);
      assert.equal(proof.length, consistencyProofLength(m, n), `consistency length ${m} -> ${n}`);
      assert.ok(proof.length <= Math.ceil(Math.log2(n)) + 1);
      verifyConsistency(m, n, proof, mth(entries.slice(0, m)), root);
    }
  }
});

test("subtreeHash of every subtree the RFC recursion can produce equals MTH of its entries", async () => {
  const entries = Array.from({ length: 64 }, (_, i) => Buffer.from(`entry ${i}`));
  const store = new NodeStore(entries.map(leafHash));
  const reader = store.readerAt(64);
  // The RFC recursion only splits at multiples of a power of two at least as large as the part.
  for (let width = 1; width <= 32; width++) {
    const alignment = 2 ** Math.ceil(Math.log2(width));
    for (let start = 0; start + width <= 64; start += alignment) {
      assert.deepEqual(await subtreeHash(start, start + width, reader), mth(entries.slice(start, start + width)), `[${start}, ${start + width})`);
    }
  }
  assert.deepEqual(await subtreeHash(5, 5, reader), EMPTY_ROOT);
});

describe("CompactRange", () => {
  const entries = Array.from({ length: 300 }, (_, i) => Buffer.from(`record ${i}`));
  const hashes = entries.map(leafHash);

  test("its root equals the naive MTH and rootOf for every size 0..300", () => {
    const range = CompactRange.empty();
    for (let size = 0; size <= 300; size++) {
      assert.equal(range.size, size);
      assert.deepEqual(range.root(), mth(entries.slice(0, size)), `size ${size}`);
      assert.deepEqual(range.root(), rootOf(hashes.slice(0, size)), `rootOf ${size}`);
      if (size < 300) range.append(hashes[size] as Buffer);
    }
  });

  test("append reports each perfect subtree once, when it completes: size - popcount(size) nodes, one node hash per append amortised", () => {
    const range = CompactRange.empty();
    const reported = new Map<string, Buffer>();
    for (let size = 1; size <= 300; size++) {
      range.append(hashes[size - 1] as Buffer, (level, index, hash) => {
        assert.ok(level >= 1, "leaves are not reported");
        assert.equal((index + 1) * 2 ** level, size, `node (${level}, ${index}) completes at size ${size}`);
        assert.ok(!reported.has(`${level}/${index}`), `node (${level}, ${index}) reported twice`);
        assert.deepEqual(hash, mth(entries.slice(index * 2 ** level, (index + 1) * 2 ** level)));
        reported.set(`${level}/${index}`, hash);
      });
      const popcount = size.toString(2).replaceAll("0", "").length;
      assert.equal(reported.size, size - popcount, `interior nodes after ${size} appends`);
      assert.equal(range.frontier().length, popcount);
    }
  });

  test("fromFrontier resumes a range: same root, and appending continues identically", () => {
    const range = CompactRange.empty();
    for (let size = 0; size < 300; size++) {
      const restored = CompactRange.fromFrontier(size, range.frontier());
      assert.equal(restored.size, size);
      assert.deepEqual(restored.root(), range.root());
      range.append(hashes[size] as Buffer);
      restored.append(hashes[size] as Buffer);
      assert.deepEqual(restored.frontier(), range.frontier());
    }
  });

  test("fromFrontier refuses a hash count other than popcount(size), a bad size or a short hash", () => {
    rejects(() => CompactRange.fromFrontier(5, [SOME_HASH]), /frontier length wrong: size 5 needs 2 hashes, got 1/);
    rejects(() => CompactRange.fromFrontier(4, [SOME_HASH, SOME_HASH]), /frontier length wrong: size 4 needs 1 hashes, got 2/);
    rejects(() => CompactRange.fromFrontier(0, [SOME_HASH]), /frontier length wrong/);
    rejects(() => CompactRange.fromFrontier(-1, []), /size must be a non-negative safe integer/);
    rejects(() => CompactRange.fromFrontier(1, [SOME_HASH.subarray(1)]), /frontier\[0\] must be a 32-byte hash, got 31 bytes/);
  });

  test("frontier() returns copies and clone() is independent of the original", () => {
    const range = CompactRange.empty();
    for (const hash of hashes.slice(0, 5)) range.append(hash);
    const root = range.root();
    range.frontier()[0]?.fill(0);
    assert.deepEqual(range.root(), root);
    const copy = range.clone();
    copy.append(hashes[5] as Buffer);
    assert.equal(range.size, 5);
    assert.deepEqual(range.root(), root);
    assert.deepEqual(copy.root(), rootOf(hashes.slice(0, 6)));
  });

  test("append refuses a leaf hash that is not 32 bytes", () => {
    rejects(() => CompactRange.empty().append(Buffer.from("raw leaf")), /leaf hash must be a 32-byte hash, got 8 bytes/);
  });
});

describe("adversarial proofs are rejected with a MerkleProofError naming the problem", () => {
  const size = 8;
  const index = 5;
  const leaf = KAT_LEAF_HASHES[index] as Buffer;
  const root = KAT_ROOTS[size] as Buffer;
  const proof = (KAT_INCLUSION.find((v) => v.index === index && v.size === size) as (typeof KAT_INCLUSION)[number]).proof;
  const [p0, p1, p2] = proof as [Buffer, Buffer, Buffer];

  test("the unmodified proof verifies", () => verifyInclusion(leaf, index, size, proof, root));

  test("inclusion: a size whose proof has another length", () => {
    rejects(() => verifyInclusion(leaf, index, 6, proof, root), /proof length wrong: expected 2 hashes, got 3/);
    rejects(() => verifyInclusion(leaf, index, 16, proof, root), /proof length wrong: expected 4 hashes, got 3/);
  });

  test("inclusion: a size with the same proof length but another shape", () => {
    rejects(() => verifyInclusion(leaf, index, 6, [p0, p2], root), /root mismatch/);
  });

  test("inclusion: index equal to or beyond the size", () => {
    rejects(() => verifyInclusion(leaf, 8, 8, proof, root), /index out of range: index 8 is not below size 8/);
    rejects(() => verifyInclusion(leaf, 9, 8, proof, root), /index out of range: index 9 is not below size 8/);
    rejects(() => verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT), /index out of range/);
  });

  test("inclusion: truncated and extended proofs", () => {
    rejects(() => verifyInclusion(leaf, index, size, [p0, p1], root), /proof length wrong: expected 3 hashes, got 2/);
    rejects(() => verifyInclusion(leaf, index, size, [...proof, SOME_HASH], root), /proof length wrong: expected 3 hashes, got 4/);
    rejects(() => verifyInclusion(leaf, index, size, [], root), /proof length wrong: expected 3 hashes, got 0/);
  });

  test("inclusion: reordered hashes, a flipped bit, another leaf's proof", () => {
    rejects(() => verifyInclusion(leaf, index, size, [p1, p0, p2], root), /root mismatch/);
    rejects(() => verifyInclusion(leaf, index, size, [p0, flipBit(p1, 31, 0x01), p2], root), /root mismatch/);
    rejects(() => verifyInclusion(leaf, index, size, proof, flipBit(root)), /root mismatch/);
    rejects(() => verifyInclusion(KAT_LEAF_HASHES[4] as Buffer, index, size, proof, root), /root mismatch/);
    rejects(() => verifyInclusion(leaf, 4, size, proof, root), /root mismatch/);
  });

  test("inclusion: raw leaf data instead of its leaf hash", () => {
    rejects(() => verifyInclusion(sha256(KAT_LEAVES[index] as Buffer), index, size, proof, root), /root mismatch/);
  });

  test("inclusion: hashes that are not 32 bytes and sizes that are not safe integers", () => {
    rejects(() => verifyInclusion(leaf, index, size, [p0, p1.subarray(1), p2], root), /proof\[1\] must be a 32-byte hash, got 31 bytes/);
    rejects(() => verifyInclusion(Buffer.concat([leaf, Buffer.of(0)]), index, size, proof, root), /leaf hash must be a 32-byte hash, got 33 bytes/);
    rejects(() => verifyInclusion(leaf, index, size, proof, root.subarray(0, 16)), /root must be a 32-byte hash, got 16 bytes/);
    rejects(() => verifyInclusion(leaf, -1, size, proof, root), /index must be a non-negative safe integer, got -1/);
    rejects(() => verifyInclusion(leaf, 1.5, size, proof, root), /index must be a non-negative safe integer, got 1.5/);
    rejects(() => verifyInclusion(leaf, index, Number.NaN, proof, root), /size must be a non-negative safe integer, got NaN/);
    rejects(() => verifyInclusion(leaf, index, 2 ** 53, proof, root), /size must be a non-negative safe integer/);
  });

  const oldSize = 6;
  const oldRoot = KAT_ROOTS[oldSize] as Buffer;
  const consistency = (KAT_CONSISTENCY.find((v) => v.oldSize === oldSize && v.newSize === size) as (typeof KAT_CONSISTENCY)[number]).proof;
  const [c0, c1, c2] = consistency as [Buffer, Buffer, Buffer];

  test("the unmodified consistency proof verifies", () => verifyConsistency(oldSize, size, consistency, oldRoot, root));

  test("consistency: old size greater than new size", () => {
    rejects(() => verifyConsistency(size, oldSize, consistency, root, oldRoot), /old size 8 > new size 6/);
    rejects(() => verifyConsistency(1, 0, [], EMPTY_ROOT, EMPTY_ROOT), /old size 1 > new size 0/);
  });

  test("consistency: equal sizes need an empty proof and equal roots", () => {
    verifyConsistency(size, size, [], root, root);
    rejects(() => verifyConsistency(size, size, [root], root, root), /proof length wrong: expected 0 hashes, got 1/);
    rejects(() => verifyConsistency(size, size, [], root, oldRoot), /root mismatch: equal sizes/);
    rejects(() => verifyConsistency(0, 0, [], EMPTY_ROOT, root), /root mismatch/);
  });

  test("consistency: from size 0 needs an empty proof and the empty-tree old root", () => {
    verifyConsistency(0, size, [], EMPTY_ROOT, root);
    verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT);
    rejects(() => verifyConsistency(0, size, [EMPTY_ROOT], EMPTY_ROOT, root), /proof length wrong: expected 0 hashes, got 1/);
    rejects(() => verifyConsistency(0, size, [], root, root), /old root mismatch: a tree of size 0/);
  });

  test("consistency: empty, truncated and extended proofs for old < new", () => {
    rejects(() => verifyConsistency(oldSize, size, [], oldRoot, root), /proof length wrong: expected 3 hashes, got 0/);
    rejects(() => verifyConsistency(oldSize, size, [c0, c1], oldRoot, root), /proof length wrong: expected 3 hashes, got 2/);
    rejects(() => verifyConsistency(oldSize, size, [...consistency, c2], oldRoot, root), /proof length wrong: expected 3 hashes, got 4/);
    // A power-of-two old size: the old root is implied, so sending it too is one hash too many.
    rejects(() => verifyConsistency(4, size, [KAT_ROOTS[4] as Buffer, KAT_NODES[2]?.[1] as Buffer], KAT_ROOTS[4] as Buffer, root), /proof length wrong: expected 1 hashes, got 2/);
  });

  test("consistency: wrong old root, wrong new root, reordered hashes, a flipped bit", () => {
    rejects(() => verifyConsistency(oldSize, size, consistency, KAT_ROOTS[5] as Buffer, root), /old root mismatch/);
    rejects(() => verifyConsistency(oldSize, size, consistency, oldRoot, KAT_ROOTS[7] as Buffer), /new root mismatch/);
    rejects(() => verifyConsistency(oldSize, size, [c1, c0, c2], oldRoot, root), /root mismatch/);
    rejects(() => verifyConsistency(oldSize, size, [c0, flipBit(c1, 7, 0x80), c2], oldRoot, root), /new root mismatch/);
    rejects(() => verifyConsistency(oldSize, size, [c0, c1, flipBit(c2, 7, 0x80)], oldRoot, root), /old root mismatch/);
    rejects(() => verifyConsistency(4, size, [KAT_NODES[2]?.[1] as Buffer], KAT_ROOTS[3] as Buffer, root), /new root mismatch/);
  });

  test("consistency: the proof for other sizes", () => {
    rejects(() => verifyConsistency(5, size, consistency, KAT_ROOTS[5] as Buffer, root), /proof length wrong: expected 4 hashes, got 3/);
    rejects(() => verifyConsistency(1, size, consistency, KAT_ROOTS[1] as Buffer, root), /new root mismatch/);
    rejects(() => verifyConsistency(oldSize, 7, consistency, oldRoot, KAT_ROOTS[7] as Buffer), /new root mismatch/);
  });

  test("consistency: hashes that are not 32 bytes", () => {
    rejects(() => verifyConsistency(oldSize, size, [c0, Buffer.alloc(0), c2], oldRoot, root), /proof\[1\] must be a 32-byte hash, got 0 bytes/);
    rejects(() => verifyConsistency(oldSize, size, consistency, oldRoot.subarray(1), root), /old root must be a 32-byte hash/);
    rejects(() => verifyConsistency(oldSize, size, consistency, oldRoot, Buffer.alloc(64)), /new root must be a 32-byte hash, got 64 bytes/);
  });

  test("generation refuses an index at or beyond the size, an old size beyond the new one, and a stored node that is not a hash", async () => {
    const reader = katStore.readerAt(8);
    await rejectsAsync(() => inclusionProof(8, 8, reader), /index out of range/);
    await rejectsAsync(() => consistencyProof(8, 7, reader), /old size 8 > new size 7/);
    await rejectsAsync(() => subtreeHash(3, 2, reader), /range wrong: start 3 > end 2/);
    await rejectsAsync(() => inclusionProof(0, 2, { node: () => Buffer.alloc(31) }), /stored node \(level 0, index 1\) must be a 32-byte hash, got 31 bytes/);
    rejects(() => inclusionProofLength(3, 3), /index out of range/);
    rejects(() => consistencyProofLength(4, 3), /old size 4 > new size 3/);
  });
});

describe("proofs over a store of 5000 entries", () => {
  const store = new NodeStore(Array.from({ length: 5000 }, (_, i) => leafHash(Buffer.from(`audit record ${i}`))));
  const asyncReader = (size: number): NodeReader => {
    const reader = store.readerAt(size);
    return { node: async (level, index) => reader.node(level, index) };
  };
  const sizes = [1, 2, 3, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 4999, 5000];

  test("inclusion proofs for sampled entries verify, have at most ceil(log2 n) hashes and cost O(log n) reads", async () => {
    for (const size of sizes) {
      const bound = Math.ceil(Math.log2(size));
      for (const index of new Set([0, size - 1, Math.floor(size / 2), (size * 7) % size, 4919 % size, 1337 % size])) {
        store.reads = 0;
        const proof = await inclusionProof(index, size, asyncReader(size));
        assert.ok(proof.length <= bound, `${proof.length} hashes for index ${index} of ${size}`);
        assert.ok(store.reads <= 2 * bound + 1, `${store.reads} reads for index ${index} of ${size}`);
        verifyInclusion(store.nodes.get(`0/${index}`) as Buffer, index, size, proof, store.roots[size] as Buffer);
      }
    }
  });

  test("consistency proofs between sampled sizes verify, have at most ceil(log2 n) + 1 hashes and cost O(log n) reads", async () => {
    for (const newSize of sizes) {
      const bound = Math.ceil(Math.log2(newSize)) + 1;
      for (const oldSize of sizes.filter((s) => s <= newSize)) {
        store.reads = 0;
        const proof = await consistencyProof(oldSize, newSize, asyncReader(newSize));
        assert.ok(proof.length <= bound, `${proof.length} hashes for ${oldSize} -> ${newSize}`);
        assert.ok(store.reads <= 2 * bound, `${store.reads} reads for ${oldSize} -> ${newSize}`);
        verifyConsistency(oldSize, newSize, proof, store.roots[oldSize] as Buffer, store.roots[newSize] as Buffer);
      }
    }
  });

  test("an inclusion proof in a log of a million entries has at most 20 hashes", () => {
    for (const index of [0, 1, 524_287, 524_288, 999_998, 999_999]) {
      assert.ok(inclusionProofLength(index, 1_000_000) <= 20);
    }
    assert.equal(inclusionProofLength(0, 1_000_000), 20);
  });
});

test("sizes beyond 2^32 work: no 32-bit bit operations", async () => {
  // A tree whose leaves are all equal has one hash per level, so a reader can serve any size.
  const levels = [leafHash(Buffer.from("same"))];
  for (let level = 1; level <= 53; level++) levels.push(nodeHash(levels[level - 1] as Buffer, levels[level - 1] as Buffer));
  const reader: NodeReader = { node: (level) => levels[level] as Buffer };
  const size = 2 ** 45 + 12_345;
  const oldSize = 2 ** 40 + 3;
  const root = await subtreeHash(0, size, reader);
  const frontier = [45, 13, 12, 5, 4, 3, 0].map((level) => levels[level] as Buffer); // 12345 = 2^13 + 2^12 + 2^5 + 2^4 + 2^3 + 2^0
  assert.deepEqual(CompactRange.fromFrontier(size, frontier).root(), root);

  const index = 2 ** 44 + 99;
  const proof = await inclusionProof(index, size, reader);
  assert.equal(proof.length, inclusionProofLength(index, size));
  verifyInclusion(levels[0] as Buffer, index, size, proof, root);
  const consistency = await consistencyProof(oldSize, size, reader);
  assert.equal(consistency.length, consistencyProofLength(oldSize, size));
  verifyConsistency(oldSize, size, consistency, await subtreeHash(0, oldSize, reader), root);

  assert.equal(inclusionProofLength(2 ** 32, 2 ** 32 + 1), 1);
  assert.equal(inclusionProofLength(0, Number.MAX_SAFE_INTEGER), 53);
  assert.equal(consistencyProofLength(2 ** 52, Number.MAX_SAFE_INTEGER), 1); // the old tree is the left half
});
