// JSON as it was sent (src/jsonText.ts): member counts that reveal a repeated key, and the text
// with its string escapes decoded, checked against JSON.parse on seeded documents.
import assert from "node:assert/strict";
import { test } from "node:test";
import { countMembers, countParsedMembers, decodeEscapes } from "../src/jsonText.js";
import { seededRandom } from "./support/seededRandom.js";

const random = seededRandom(20261207);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
/** Strings that hold what a scan of the text could mistake for structure. */
const STRINGS = ['plain', 'a "quoted": key', "colon: inside", "back\\slash", "ends in \\", '{"nested":"json"}', "tab\tand\nnewline", "é ☃ 😀", "\u2028", ""];

function randomValue(depth: number): unknown {
  const kind = depth > 3 ? pick(["string", "number", "literal"]) : pick(["string", "number", "literal", "object", "array"]);
  if (kind === "string") return pick(STRINGS);
  if (kind === "number") return Math.round(random() * 1e6) / 100;
  if (kind === "literal") return pick([true, false, null]);
  if (kind === "array") return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [`${pick(STRINGS)}${i}`, randomValue(depth + 1)]));
}

test("countMembers counts what the parse holds, whatever the strings and spacing", () => {
  for (let i = 0; i < 500; i++) {
    const value = randomValue(0);
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, 2), JSON.stringify(value).replaceAll(":", " :  ")]) {
      if (text === undefined) continue;
      assert.equal(countMembers(text), countParsedMembers(JSON.parse(text)), text);
    }
  }
});

test("countMembers counts a repeated key that the parse drops", () => {
  const text = '{"auth":{"password":"x"},"auth":{}}';
  assert.equal(countParsedMembers(JSON.parse(text)), 1);
  assert.equal(countMembers(text), 3);
  assert.equal(countMembers('[{"a":1, "a" : 2}, "\\"a\\":3"]'), 2);
});

test("decodeEscapes leaves each string's value in the text as it reads", () => {
  for (let i = 0; i < 500; i++) {
    const value = pick(STRINGS) + pick(STRINGS);
    const escaped = JSON.stringify(value).replace(/[é☃]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    assert.equal(decodeEscapes(escaped), `"${value}"`);
  }
  assert.equal(decodeEscapes('"a\\\\nb"'), '"a\\nb"', "an escaped backslash before an n stays a backslash and an n");
  assert.equal(decodeEscapes('"\\u0040\\/\\b\\f\\r"'), '"@/\b\f\r"');
  const plain = '{"a":"no escapes"}';
  assert.equal(decodeEscapes(plain), plain);
});
