// JSON as it was sent (src/jsonText.ts): member counts that reveal a repeated key, the text with
// its string escapes decoded, and the reading that builds nothing (isPlainJson), each checked
// against JSON.parse on seeded documents.
import assert from "node:assert/strict";
import { test } from "node:test";
import { countMembers, countParsedMembers, decodeEscapes, isPlainJson, type PlainJsonLimits } from "../../src/jsonText.js";
import { seededRandom } from "../support/seededRandom.js";

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

const READ_EVERYTHING: PlainJsonLimits = { maxStringLength: Infinity, maxDepth: 600, keyStops: () => false };

/** Texts that are JSON but for one change: what a hand-written reader most easily lets through. */
const BREAKS: Array<(text: string) => string> = [
  (text) => text.replace(",", ",,"),
  (text) => text.replace(/([}\]])$/, ",$1"),
  (text) => text.replace(":", ""),
  (text) => text.replace('"', "'"),
  (text) => text.replace(/"([^"\\]*)"/, "$1"),
  (text) => `${text} x`,
  (text) => `${text}${text}`,
  (text) => text.slice(0, -1),
  (text) => `\uFEFF${text}`,
  (text) => text.replace(/(\d)/, "0$1"),
  (text) => text.replace(/(\d)/, "$1."),
  (text) => text.replace(/(\d)/, "$1e"),
  (text) => text.replace(/(\d)/, "-$1-"),
  (text) => text.replace("true", "tru"),
  (text) => text.replace("null", "nil"),
  (text) => text.replace(/\\/, "\\q"),
  (text) => text.replace(/\\u/, "\\u00"),
  (text) => text.replace("{", "{{"),
  (text) => text.replace("[", "[,"),
  (text) => text.replace("}", "]"),
  (text) => text.replace('"', '"\\'),
];

test("isPlainJson reads what JSON.parse reads, and refuses what it refuses", () => {
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const value = { [`k${i}`]: randomValue(0), list: [randomValue(1), "\u0040 \\ \" \n"] };
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, 2), JSON.stringify(value).replaceAll(":", " :  ")]) {
      assert.equal(isPlainJson(text, READ_EVERYTHING), true, text);
      const broken = pick(BREAKS)(text);
      let parses = true;
      try {
        JSON.parse(broken);
      } catch {
        parses = false;
      }
      assert.equal(isPlainJson(broken, READ_EVERYTHING), parses, broken);
      if (!parses) refused++;
    }
  }
  assert.ok(refused > 3000, `only ${refused} broken texts were tried`);
  for (const text of ["[]", "{}", '[1,-0.5e+10,true,false,null,"",{"":[]}]', ' \n{"a" :\t[ 1 , 2 ]}\r\n']) assert.equal(isPlainJson(text, READ_EVERYTHING), true, text);
  for (const text of ["", " ", "[", "[1,]", '{"a"}', '{"a":}', "[01]", "[1.]", "[.5]", "[+1]", '["\\x41"]', '["\\u12"]', "[True]", "[1] [2]", "\u00a0[]"]) {
    assert.equal(isPlainJson(text, READ_EVERYTHING), false, text);
  }
  // Raw control characters inside strings are not looked for (the masker parses before it splices).
  assert.equal(isPlainJson('["a\nb"]', READ_EVERYTHING), true);
});

test("isPlainJson stops at a key keyStops names, at a long string and at deep nesting", () => {
  const seen: Array<[string, boolean]> = [];
  const limits = (maxStringLength = Infinity, maxDepth = 600): PlainJsonLimits => ({
    maxStringLength,
    maxDepth,
    keyStops: (text, start, end, escaped) => {
      seen.push([text.slice(start, end), escaped]);
      return text.slice(start, end) === '"password"';
    },
  });
  const text = '{"a":{"b\\u0041":1},"a":{"password":"x"},"s":"\\"password\\":1"}';
  assert.equal(isPlainJson(text, limits()), false, "the repeated key's member is read too");
  assert.deepEqual(seen, [['"a"', false], ['"b\\u0041"', true], ['"a"', false], ['"password"', false]]);
  assert.equal(isPlainJson('{"s":"\\"password\\":1"}', limits()), true, "a key written inside a string is no key");
  assert.equal(isPlainJson('["12345"]', limits(5)), true);
  assert.equal(isPlainJson('["123456"]', limits(5)), false);
  assert.equal(isPlainJson(`${"[".repeat(3)}${"]".repeat(3)}`, limits(Infinity, 3)), true);
  assert.equal(isPlainJson(`${"[".repeat(4)}${"]".repeat(4)}`, limits(Infinity, 3)), false);
});
