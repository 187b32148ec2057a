// The ledger's RFC 8785 serialiser (src/ledger/canonical.ts) against the canonicalize library it
// speeds up: the same text for every value, the same refusals, on generated records that mix the
// cases where the native path must hand over (integer-like keys, toJSON, lone surrogates,
// non-finite numbers) with the ones it takes.
import assert from "node:assert/strict";
import { test } from "node:test";
import canonicalize from "canonicalize";
import { canonicalJson, isCanonicalText } from "../../src/ledger/canonical.js";

/** mulberry32: a seeded generator, so a failure names a value that can be rebuilt. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ["a", "b", "B", "_", "request_id", "é", "€", "😀", "\u0000", "", "10", "9", "01", "-1", "1.5", "4294967295", "ab", "a\u0301", "\ud800x", "Z", "zz"];
const STRINGS = ["", "plain", "quote\"s", "back\\slash", "line\nbreak", "\u001f", "\u007f", "é", "😀", "\u2028", "</script>", "\ud83d", "x\udc00"];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 2 ** 53 + 2, 4399.5, 123456789.125, Number.MAX_VALUE, NaN, Infinity];

function value(next: () => number, depth: number): unknown {
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)]!;
  const kind = depth > 3 ? Math.floor(next() * 4) : Math.floor(next() * 7);
  switch (kind) {
    case 0: return pick(STRINGS);
    case 1: return pick(NUMBERS);
    case 2: return pick([true, false, null, undefined]);
    case 3: return next() < 0.05 ? new Date(Math.floor(next() * 1e12)) : pick(STRINGS);
    case 4: return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 6); i > 0; i--) object[pick(KEYS)] = value(next, depth + 1);
      return object;
    }
  }
}

/** What a serialiser makes of a value: its text, or that it refused. */
function outcome(serialise: () => string | undefined): string {
  try {
    return `text ${serialise()}`;
  } catch {
    return "refused";
  }
}

test("every generated value serialises as the canonicalize library does, refusals included", () => {
  const next = random(8785);
  let native = 0;
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const record = { v: 1, record: value(next, 0) };
    const expected = outcome(() => canonicalize(record));
    assert.equal(outcome(() => canonicalJson(record).toString("utf8")), expected, `value ${i}: ${String(expected)}`);
    if (expected === "refused") refused++;
    else if (isCanonicalText(expected.slice(5), JSON.parse(expected.slice(5)))) native++;
  }
  // Both kinds were exercised: values the library refuses, and accepted ones.
  assert.ok(refused > 1000, `refused ${refused}`);
  assert.ok(native > 10_000, `accepted ${native}`);
});

test("keys sort by UTF-16 code units and integer-like keys are not listed first", () => {
  assert.equal(canonicalJson({ b: 1, a: 2, "€": 3, "😀": 4, "\ufb33": 5 }).toString(), '{"a":2,"b":1,"€":3,"😀":4,"\ufb33":5}');
  assert.equal(canonicalJson({ 9: "x", 10: "y", a: { 2: 1, 1: 2 } }).toString(), '{"10":"y","9":"x","a":{"1":2,"2":1}}');
  assert.equal(canonicalJson({ n: [1e21, 1e-7, -0, 0.000001] }).toString(), '{"n":[1e+21,1e-7,0,0.000001]}');
});

test("what RFC 8785 cannot hold is refused, never written differently", () => {
  assert.throws(() => canonicalJson({ text: "\ud800" }), /Lone surrogate/);
  assert.throws(() => canonicalJson({ "\udc00": 1 }), /Lone surrogate/);
  assert.throws(() => canonicalJson({ n: NaN }), /NaN/);
  assert.throws(() => canonicalJson({ n: [Infinity] }), /Infinity/);
  assert.throws(() => canonicalJson(undefined), /must be a JSON object/);
});

test("isCanonicalText accepts the canonical text only", () => {
  assert.equal(isCanonicalText('{"a":1,"b":[2]}', { a: 1, b: [2] }), true);
  assert.equal(isCanonicalText('{"b":[2],"a":1}', { b: [2], a: 1 }), false);
  assert.equal(isCanonicalText('{"a":1.0}', { a: 1 }), false);
  assert.equal(isCanonicalText('{"10":1,"9":2}', JSON.parse('{"10":1,"9":2}')), true);
});
