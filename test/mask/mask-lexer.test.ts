// The detectors' shared lexer (src/mask/detect/lexer.ts): its predicates and class bits are two
// forms of one vocabulary, and its readers stop where the detectors rely on them to stop.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ALNUM,
  BASE64,
  DIGIT,
  HEX,
  isAlnum,
  isDigit,
  isEmailLocalChar,
  isHex,
  isIn,
  isLetter,
  isLetterOrDigitAt,
  isLower,
  isUpper,
  isWhitespace,
  isWordChar,
  LETTER,
  LOWER,
  matchLiteral,
  matchOneOf,
  NO_MATCH,
  RAN_OUT,
  ranOut,
  runEnd,
  runStartBefore,
  startsToken,
  tokenAround,
  touchesWord,
  UPPER,
  URLSAFE,
  WORD,
} from "../../src/mask/detect/lexer.js";

const ASCII_PATTERNS: ReadonlyArray<readonly [string, (c: number) => boolean, RegExp]> = [
  ["isDigit", isDigit, /^[0-9]$/],
  ["isUpper", isUpper, /^[A-Z]$/],
  ["isLower", isLower, /^[a-z]$/],
  ["isLetter", isLetter, /^[A-Za-z]$/],
  ["isAlnum", isAlnum, /^[A-Za-z0-9]$/],
  ["isWordChar", isWordChar, /^\w$/],
  ["isHex", isHex, /^[0-9A-Fa-f]$/],
  ["isWhitespace", isWhitespace, /^[ \t\n\r]$/],
  ["isEmailLocalChar", isEmailLocalChar, /^[A-Za-z0-9._%+-]$/],
];

describe("character classes", () => {
  test("each predicate accepts exactly the characters of its pattern, over the whole BMP", () => {
    for (const [name, predicate, pattern] of ASCII_PATTERNS) {
      for (let c = 0; c <= 0xffff; c++) assert.equal(predicate(c), pattern.test(String.fromCharCode(c)), `${name}(0x${c.toString(16)})`);
    }
  });

  test("a predicate and its class bits agree on every code", () => {
    const pairs: ReadonlyArray<readonly [(c: number) => boolean, number]> = [
      [isDigit, DIGIT],
      [isUpper, UPPER],
      [isLower, LOWER],
      [isLetter, LETTER],
      [isAlnum, ALNUM],
      [isWordChar, WORD],
      [isHex, HEX],
    ];
    for (const [predicate, cls] of pairs) {
      for (let c = 0; c <= 0xffff; c++) assert.equal(isIn(c, cls), predicate(c), `${predicate.name} 0x${c.toString(16)}`);
    }
  });

  test("composite classes: base64 and base64url (RFC 4648)", () => {
    for (const char of "AZaz09+/") assert.ok(isIn(char.charCodeAt(0), BASE64), char);
    for (const char of "-_=.") assert.ok(!isIn(char.charCodeAt(0), BASE64), char);
    for (const char of "AZaz09-_") assert.ok(isIn(char.charCodeAt(0), URLSAFE), char);
    for (const char of "+/=") assert.ok(!isIn(char.charCodeAt(0), URLSAFE), char);
  });

  test("past either end of the text every test says no", () => {
    const text = "a1";
    for (const [name, predicate] of ASCII_PATTERNS) {
      assert.equal(predicate(text.charCodeAt(-1)), false, name);
      assert.equal(predicate(text.charCodeAt(2)), false, name);
    }
    assert.equal(isIn(text.charCodeAt(2), ALNUM), false);
    assert.equal(touchesWord(text, 0, 2), false);
  });

  test("letters and digits of any script, half a surrogate pair neither", () => {
    assert.ok(isLetterOrDigitAt("é", 0));
    assert.ok(isLetterOrDigitAt("٣", 0));
    assert.ok(!isLetterOrDigitAt("_", 0));
    assert.ok(!isLetterOrDigitAt("😀", 0));
  });
});

describe("readers", () => {
  test("a literal that the text ends inside needs more text", () => {
    assert.equal(matchLiteral("ghp_x", 0, "ghp_"), 4);
    assert.equal(matchLiteral("gh", 0, "ghp_"), RAN_OUT);
    assert.equal(matchLiteral("gho_", 0, "ghp_"), NO_MATCH);
    assert.equal(matchOneOf("sk_te", 0, ["sk_live_", "sk_test_"]), RAN_OUT);
    assert.equal(matchOneOf("sk_test_", 0, ["sk_live_", "sk_test_"]), 8);
  });

  test("a run stops at its class, its limit or the end of the text, and says which", () => {
    assert.equal(runEnd("abc-def", 0, ALNUM, 10), 3);
    assert.equal(runEnd("abcdef", 0, ALNUM, 4), 4);
    assert.equal(runEnd("abc", 0, ALNUM, 10), 3);
    assert.ok(ranOut("abc", 0, 3, 10));
    assert.ok(!ranOut("abcdef", 0, 4, 4));
  });

  test("a run read backwards steps past its limit by one, so a longer run shows", () => {
    assert.equal(runStartBefore("x 12345", 7, isDigit, 10), 2);
    assert.equal(runStartBefore("123456", 6, isDigit, 3), 2);
    assert.equal(runStartBefore("123", 3, isDigit, 10), 0);
  });

  test("a token around a position, and whether it fits its limit", () => {
    assert.deepEqual(tokenAround("ip 10.0.0.1 up", 5, (c) => isDigit(c) || c === 0x2e, 15), { start: 3, end: 11, fits: true });
    assert.deepEqual(tokenAround("1.2.3.4.5.6", 3, (c) => isDigit(c) || c === 0x2e, 5), { start: 0, end: 11, fits: false });
  });

  test("a token starts after a non-member, at the start, or after a \\n escape of raw JSON", () => {
    assert.ok(startsToken("eyJ", 0, URLSAFE));
    assert.ok(startsToken(" eyJ", 1, URLSAFE));
    assert.ok(!startsToken("aeyJ", 1, URLSAFE));
    assert.ok(startsToken("\\neyJ", 2, URLSAFE));
  });
});
