// The detectors' one lexer (masking.md §8): the ASCII character classes every detector tests by
// char code, and the primitives they read text with. charCodeAt past either end of a text is NaN,
// which every test here rejects, so a caller may ask about the character before its first or after
// its last without checking bounds.
//
// Two forms of the same classes: predicates (`isDigit(c)`) for a single test, compiled to two
// comparisons; and class bits over a table (`isIn(c, ALNUM | DASH)`) for runs of a composite class,
// one table load whatever the class. test/mask/mask-lexer.test.ts holds them equal.

// --- Char codes. ---

const CODE_TAB = 0x09;
export const CODE_SPACE = 0x20;
export const CODE_LEFT_PAREN = 0x28;
export const CODE_RIGHT_PAREN = 0x29;
export const CODE_PLUS = 0x2b;
export const CODE_DASH = 0x2d;
export const CODE_DOT = 0x2e;
export const CODE_SLASH = 0x2f;
export const CODE_COLON = 0x3a;
export const CODE_EQUALS = 0x3d;
export const CODE_AT = 0x40;
export const CODE_BACKSLASH = 0x5c;
export const CODE_UNDERSCORE = 0x5f;

// --- Predicates. ---

export const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
export const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
export const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
export const isLetter = (c: number): boolean => isUpper(c) || isLower(c);
export const isAlnum = (c: number): boolean => isDigit(c) || isLetter(c);
/** `\w`: what a token is made of. Digits or letters next to a candidate mean it is part of one. */
export const isWordChar = (c: number): boolean => isAlnum(c) || c === CODE_UNDERSCORE;
export const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** Space, tab, line feed, carriage return: where a token ends in running text. */
export const isWhitespace = (c: number): boolean => c === CODE_SPACE || c === 0x0a || c === 0x0d || c === CODE_TAB;
/** `[A-Za-z0-9._%+-]`: the dot-atom subset of RFC 5322 that real addresses use in their local part. */
export const isEmailLocalChar = (c: number): boolean => isAlnum(c) || c === CODE_DOT || c === CODE_UNDERSCORE || c === 0x25 || c === CODE_PLUS || c === CODE_DASH;

/** RFC 5321 §4.5.3.1: the longest local part and domain of an address. */
export const LOCAL_PART_LIMIT = 64;
export const DOMAIN_LIMIT = 253;

/** Whether the character at `at` is a letter or a digit in any script (`[\p{L}\p{N}]`); ASCII by
 * char code, anything else by pattern. Half a surrogate pair is neither. */
export function isLetterOrDigitAt(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  if (c < 0x80) return isAlnum(c);
  return LETTER_OR_DIGIT.test(text[at]!);
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** The span [start, end) is glued to a word character on either side: part of a longer token. */
export function touchesWord(text: string, start: number, end: number): boolean {
  return isWordChar(text.charCodeAt(start - 1)) || isWordChar(text.charCodeAt(end));
}

// --- Class bits: one bit per class over ASCII, so a membership test is one table load. ---

const CLASS_TABLE = new Uint32Array(128);
let classCount = 0;

/** A class of ASCII characters given as ranges ("A-Z") and literal characters ("_-"). */
export function charClass(...parts: string[]): number {
  const bit = 1 << classCount++;
  for (const part of parts) {
    const isRange = part.length === 3 && part[1] === "-";
    const first = part.charCodeAt(0);
    const last = isRange ? part.charCodeAt(2) : first;
    for (let code = first; code <= last; code++) CLASS_TABLE[code] = (CLASS_TABLE[code] ?? 0) | bit;
    if (!isRange) for (let i = 1; i < part.length; i++) CLASS_TABLE[part.charCodeAt(i)] = (CLASS_TABLE[part.charCodeAt(i)] ?? 0) | bit;
  }
  return bit;
}

export function isIn(code: number, cls: number): boolean {
  return code < 128 && ((CLASS_TABLE[code] ?? 0) & cls) !== 0;
}

export const DIGIT = charClass("0-9");
export const UPPER = charClass("A-Z");
export const LOWER = charClass("a-z");
const HEX_LETTER = charClass("A-F", "a-f");
export const UNDERSCORE = charClass("_");
export const DASH = charClass("-");
export const DOT = charClass(".");
export const PLUS = charClass("+");
export const SLASH = charClass("/");
export const EQUALS = charClass("=");
export const TILDE = charClass("~");
/** Space and tab. */
export const BLANK = charClass(" \t");
export const NEWLINE = charClass("\r\n");
export const BACKSLASH = charClass("\\");
export const COLON = charClass(":");
export const COMMA = charClass(",");
export const QUOTE = charClass("\"'`");

export const LETTER = UPPER | LOWER;
export const ALNUM = LETTER | DIGIT;
export const HEX = DIGIT | HEX_LETTER;
export const WORD = ALNUM | UNDERSCORE;
/** RFC 4648 §4 base64, padding aside. */
export const BASE64 = ALNUM | PLUS | SLASH;
/** RFC 4648 §5 base64url. */
export const URLSAFE = ALNUM | UNDERSCORE | DASH;

// --- Reading. Nothing here looks past text.length; callers tell "ran out" apart. ---

export const NO_MATCH = -1;
/** The text ends inside what is being matched: more text decides. */
export const RAN_OUT = -2;

/** Where `literal` ends if it occurs at `at`; RAN_OUT when the text ends inside a match of it. */
export function matchLiteral(text: string, at: number, literal: string): number {
  for (let i = 0; i < literal.length; i++) {
    if (at + i >= text.length) return RAN_OUT;
    if (text.charCodeAt(at + i) !== literal.charCodeAt(i)) return NO_MATCH;
  }
  return at + literal.length;
}

/** matchLiteral over alternatives that are not prefixes of one another. */
export function matchOneOf(text: string, at: number, literals: readonly string[]): number {
  let result = NO_MATCH;
  for (const literal of literals) {
    const end = matchLiteral(text, at, literal);
    if (end >= 0) return end;
    if (end === RAN_OUT) result = RAN_OUT;
  }
  return result;
}

/** `lowerLiteral` at `at`, ignoring the case of ASCII letters. */
export function equalsIgnoreCase(text: string, at: number, lowerLiteral: string): boolean {
  if (at < 0 || at + lowerLiteral.length > text.length) return false;
  for (let i = 0; i < lowerLiteral.length; i++) {
    const code = text.charCodeAt(at + i);
    const lower = code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
    if (lower !== lowerLiteral.charCodeAt(i)) return false;
  }
  return true;
}

/** End of the run of `cls` characters at `at`, reading at most `limit` of them. */
export function runEnd(text: string, at: number, cls: number, limit: number): number {
  const stop = Math.min(text.length, at + limit);
  let i = at;
  while (i < stop && isIn(text.charCodeAt(i), cls)) i++;
  return i;
}

/** End of the run of visible characters (non-ASCII allowed) outside the class `stop` and other
 * than `stopCode`, reading at most `limit`. */
export function runUntil(text: string, at: number, stop: number, limit: number, stopCode = -1): number {
  const last = Math.min(text.length, at + limit);
  let i = at;
  for (; i < last; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f || code === stopCode || isIn(code, stop)) break;
  }
  return i;
}

/** True when a run that stopped at `end` did so because the text ended, not because of a character. */
export function ranOut(text: string, start: number, end: number, limit: number): boolean {
  return end === text.length && end - start < limit;
}

/** Where the run of `isTokenChar` characters that ends at `end` starts, stepping back while the run
 * is at most `limit` long: a result more than `limit` before `end` means the run is longer. */
export function runStartBefore(text: string, end: number, isTokenChar: (c: number) => boolean, limit: number): number {
  let start = end;
  while (end - start <= limit && isTokenChar(text.charCodeAt(start - 1))) start--;
  return start;
}

/** The maximal run of `isTokenChar` around `at`; `fits` is false when it is longer than `limit`. */
export function tokenAround(text: string, at: number, isTokenChar: (c: number) => boolean, limit: number): { start: number; end: number; fits: boolean } {
  const start = runStartBefore(text, at, isTokenChar, limit);
  let end = at + 1;
  while (isTokenChar(text.charCodeAt(end))) end++;
  return { start, end, fits: end - start <= limit };
}

/** The character before `at` cannot continue a token of class `cls`. The `n` of a `\n` escape
 * counts as a boundary, because raw JSON text carries them. */
export function startsToken(text: string, at: number, cls: number): boolean {
  if (at === 0) return true;
  const before = text.charCodeAt(at - 1);
  if (!isIn(before, cls)) return true;
  return at >= 2 && text.charCodeAt(at - 2) === CODE_BACKSLASH && (before === 0x6e || before === 0x72 || before === 0x74);
}

/** The digits of text[start, end), separators left out. */
export function digitsBetween(text: string, start: number, end: number): string {
  let digits = "";
  for (let k = start; k < end; k++) if (isDigit(text.charCodeAt(k))) digits += text[k];
  return digits;
}

export function allSameChar(value: string): boolean {
  for (let k = 1; k < value.length; k++) if (value[k] !== value[0]) return false;
  return true;
}
