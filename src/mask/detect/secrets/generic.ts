// Generic secrets (gitleaks generic-api-key): a keyword identifier, an assignment, a random value.
import { ALNUM, BACKSLASH, BLANK, charClass, CODE_BACKSLASH, CODE_COLON, CODE_EQUALS, COMMA, DASH, DIGIT, DOT, equalsIgnoreCase, EQUALS, isIn, LETTER, LOWER, NEWLINE, PLUS, QUOTE, ranOut, runEnd, runUntil, SLASH, TILDE, UNDERSCORE, UPPER } from "../lexer.js";
import { anchor, type Rule } from "./rules.js";
import { characterKinds, isJoinedWords, isTemplatePlaceholder, shannonEntropy } from "./values.js";

const IDENTIFIER = ALNUM | UNDERSCORE | DOT | DASH;
const UNQUOTED_VALUE = ALNUM | UNDERSCORE | DOT | PLUS | SLASH | EQUALS | TILDE | DASH | charClass("!@#$%^*");
const VALUE_END = BLANK | NEWLINE | COMMA | QUOTE | BACKSLASH | charClass(";&)}]<");

const GENERIC_VALUE_MIN = 10;
const GENERIC_VALUE_MAX = 150;
const IDENTIFIER_MAX = 64;
const GENERIC_ENTROPY = 3.5;
// Passwords are shorter and less random than API keys: a mix of three character kinds will do.
const PASSWORD_ENTROPY = 3;

/** Keywords that say "secret" whatever is glued before them: PGPASSWORD, dbSecret. */
const SECRET_WORDS = ["password", "passwd", "secret", "credential", "creds"];
/** Keywords that are also parts of ordinary words, so only a known qualifier may be glued on:
 * apikey and accesstoken, not monkey. */
const QUALIFIED_WORDS = ["authorization", "access", "token", "auth", "key", "api"];
const KEYWORDS = [...SECRET_WORDS, ...QUALIFIED_WORDS].sort((a, b) => b.length - a.length);
const GLUED_QUALIFIERS = new Set([
  "api", "access", "auth", "secret", "private", "client", "refresh", "session", "bearer", "master", "app", "bot",
  "oauth", "id", "user", "admin", "service", "signing", "encryption", "webhook", "pass", "x",
]);
/** Identifier words that make the value an identifier or a count, not a credential. */
const NOT_SECRET_WORDS = new Set([
  "public", "page", "next", "cursor", "continuation", "idempotency", "cache", "partition", "sort", "primary",
  "foreign", "row", "hash", "object", "file", "s3", "storage", "image", "shard", "routing", "lookup", "dedup",
  "max", "min", "num", "total", "count", "input", "output", "prompt", "completion",
]);
/** The last three letters of each keyword and its plural, lowercased and packed in an integer:
 * one lookup rejects `_id`, `_at`, `ame` and nearly every other JSON key. */
const KEYWORD_ENDINGS = new Set(KEYWORDS.flatMap((keyword) => [keyword, `${keyword}s`]).map((word) => lastThree(word, word.length)));
/** The same endings folded to 15 bits (5 per character) in a table: read before the set, it rejects
 * most of the text's colons with one array index instead of a hash lookup. */
const KEYWORD_ENDING_BITS = (() => {
  const table = new Uint8Array(1 << 15);
  for (const ending of KEYWORD_ENDINGS) table[foldEnding(ending)] = 1;
  return table;
})();

function foldEnding(packed: number): number {
  return ((packed >> 6) & 0x7c00) | ((packed >> 3) & 0x3e0) | (packed & 0x1f);
}

function isKeywordEnding(text: string, end: number): boolean {
  const packed = lastThree(text, end);
  return KEYWORD_ENDING_BITS[foldEnding(packed)] === 1 && KEYWORD_ENDINGS.has(packed);
}

function lastThree(text: string, end: number): number {
  return ((text.charCodeAt(end - 3) | 0x20) << 16) | ((text.charCodeAt(end - 2) | 0x20) << 8) | (text.charCodeAt(end - 1) | 0x20);
}

interface KeywordMatch {
  keyword: string;
  /** Start of the identifier's last word, which ends with the keyword. */
  wordStart: number;
}

function isCamelHump(text: string, at: number): boolean {
  return isIn(text.charCodeAt(at), UPPER) && isIn(text.charCodeAt(at - 1), LOWER);
}

/** The keyword that ends the identifier text[identifierStart, end), as its last word or glued to a
 * qualifier (api_key, apiKey, APIKEY, DB_PASSWORD, client_secret, credentials). */
function keywordAtEnd(text: string, identifierStart: number, end: number): KeywordMatch | undefined {
  const plural = end > identifierStart && (text.charCodeAt(end - 1) | 0x20) === 0x73;
  for (let keywordEnd = end; keywordEnd >= (plural ? end - 1 : end); keywordEnd--) {
    for (const keyword of KEYWORDS) {
      const start = keywordEnd - keyword.length;
      if (start < identifierStart || !equalsIgnoreCase(text, start, keyword)) continue;
      let wordStart = start;
      if (!isCamelHump(text, start)) {
        while (wordStart > identifierStart && isIn(text.charCodeAt(wordStart - 1), LETTER) && !isCamelHump(text, wordStart)) wordStart--;
      }
      if (wordStart === start || SECRET_WORDS.includes(keyword) || GLUED_QUALIFIERS.has(text.slice(wordStart, start).toLowerCase())) {
        return { keyword, wordStart };
      }
    }
  }
  return undefined;
}

/** A trailing word that may still grow into a keyword: `pass`, `tok`, `secr`. */
function isKeywordBeginning(text: string, identifierStart: number, end: number): boolean {
  let wordStart = end;
  while (wordStart > identifierStart && isIn(text.charCodeAt(wordStart - 1), LETTER) && !isCamelHump(text, wordStart)) wordStart--;
  const word = text.slice(wordStart, end).toLowerCase();
  return word.length >= 3 && KEYWORDS.some((keyword) => keyword.startsWith(word));
}

function identifierWords(identifier: string): string[] {
  return identifier
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter((word) => word.length > 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isGenericSecret(text: string, valueStart: number, valueEnd: number, identifierStart: number, identifierEnd: number, keyword: string): boolean {
  const value = text.slice(valueStart, valueEnd);
  if (isTemplatePlaceholder(value) || isJoinedWords(value) || value.includes("://")) return false;
  const words = identifierWords(text.slice(identifierStart, identifierEnd));
  if (words.some((word) => NOT_SECRET_WORDS.has(word))) return false;
  // A bare `key` holding a UUID is a record key (LangGraph store items), not a credential.
  if (words.length === 1 && (words[0] === "key" || words[0] === "keys") && UUID.test(value)) return false;
  const passwordLike = SECRET_WORDS.includes(keyword) && characterKinds(value) >= 3;
  return shannonEntropy(text, valueStart, valueEnd) > (passwordLike ? PASSWORD_ENTROPY : GENERIC_ENTROPY);
}

/** Where the identifier that ends at `end` starts, or -1 if it is longer than any identifier. */
function identifierStartBefore(text: string, end: number): number {
  let start = end;
  while (start > 0 && end - start < IDENTIFIER_MAX && isIn(text.charCodeAt(start - 1), IDENTIFIER)) start--;
  return start > 0 && isIn(text.charCodeAt(start - 1), IDENTIFIER) ? -1 : start;
}

/** Trailing digits of `token2`, `password1` do not hide the keyword. */
function withoutTrailingDigits(text: string, start: number, end: number): number {
  let wordEnd = end;
  while (wordEnd > start && end - wordEnd < 3 && isIn(text.charCodeAt(wordEnd - 1), DIGIT)) wordEnd--;
  return wordEnd;
}

interface AssignedValue {
  start: number;
  end: number;
  /** The text ends before the value does (at the end of the text, the end of the value). */
  open: boolean;
}

/** The value after an assignment operator: up to three spaces, an optional quote (escaped in raw
 * JSON), then the value up to its closing quote, or up to a terminator when unquoted. */
function assignedValue(text: string, from: number): AssignedValue | undefined {
  const n = text.length;
  let start = runEnd(text, from, BLANK, 4);
  if (ranOut(text, from, start, 4)) return { start, end: start, open: true };
  if (start - from > 3) return undefined;
  let quote = 0;
  let escaped = false;
  if (text.charCodeAt(start) === CODE_BACKSLASH) {
    if (start + 1 >= n) return { start: n, end: n, open: true };
    quote = text.charCodeAt(start + 1);
    if (!isIn(quote, QUOTE)) return undefined;
    escaped = true;
    start += 2;
  } else if (isIn(text.charCodeAt(start), QUOTE)) {
    quote = text.charCodeAt(start);
    start += 1;
  }
  const end = quote ? runUntil(text, start, BACKSLASH, GENERIC_VALUE_MAX + 1, quote) : runEnd(text, start, UNQUOTED_VALUE, GENERIC_VALUE_MAX + 1);
  if (end - start > GENERIC_VALUE_MAX) return undefined;
  if (end === n) return { start, end, open: true };
  const terminator = text.charCodeAt(end);
  if (!quote) return isIn(terminator, VALUE_END) ? { start, end, open: false } : undefined;
  if (!escaped) return terminator === quote ? { start, end, open: false } : undefined;
  if (terminator !== CODE_BACKSLASH) return undefined;
  if (end + 1 >= n) return { start, end, open: true };
  return text.charCodeAt(end + 1) === quote ? { start, end, open: false } : undefined;
}

export const genericSecretRule: Rule = {
  id: "generic-api-key",
  entity: "GENERIC_SECRET",
  // The assignment operators: cheap to find, and most JSON keys are rejected by their last letter.
  anchors: [anchor(":"), anchor("=")],
  maxLength: GENERIC_VALUE_MAX,
  reach: 2 + 3 + 2 + GENERIC_VALUE_MAX + 2,
  evaluate(text, at, final, sink) {
    const n = text.length;
    const operator = text.charCodeAt(at);
    // Identifier, closing quote (maybe escaped, in raw JSON), spaces, operator.
    let identifierEnd = at;
    while (identifierEnd > 0 && at - identifierEnd < 3 && isIn(text.charCodeAt(identifierEnd - 1), BLANK)) identifierEnd--;
    if (identifierEnd > 0 && isIn(text.charCodeAt(identifierEnd - 1), QUOTE)) {
      identifierEnd--;
      if (identifierEnd > 0 && text.charCodeAt(identifierEnd - 1) === CODE_BACKSLASH) identifierEnd--;
    }
    const wordEnd = withoutTrailingDigits(text, 0, identifierEnd);
    if (wordEnd < 3 || !isKeywordEnding(text, wordEnd)) return;

    // Operators = : := => ; not == :: != <= >=.
    const previous = at > 0 ? text.charCodeAt(at - 1) : 0;
    if (previous === CODE_COLON || previous === CODE_EQUALS || previous === 0x21 || previous === 0x3c || previous === 0x3e) return;
    const next = at + 1 < n ? text.charCodeAt(at + 1) : -1;
    if (next === (operator === CODE_COLON ? CODE_COLON : CODE_EQUALS)) return;
    const glued = (operator === CODE_COLON && next === CODE_EQUALS) || (operator === CODE_EQUALS && next === 0x3e);
    const value = assignedValue(text, glued ? at + 2 : at + 1);
    // Checked before the identifier: most values in JSON (`"total_tokens": 132`) are short.
    if (!value || (!value.open && value.end - value.start < GENERIC_VALUE_MIN)) return;

    const identifierStart = identifierStartBefore(text, identifierEnd);
    if (identifierStart < 0 || identifierStart >= wordEnd) return;
    const match = keywordAtEnd(text, identifierStart, wordEnd);
    if (!match) return;
    if (value.open && !final) {
      // A value under way is held from its first character; before it starts, the assignment is.
      return value.end > value.start ? sink.open(value.start, true) : sink.open(identifierStart, false);
    }
    if (value.end - value.start < GENERIC_VALUE_MIN) return;
    if (!isGenericSecret(text, value.start, value.end, identifierStart, identifierEnd, match.keyword)) return;
    sink.found({ start: value.start, end: value.end, entity: "GENERIC_SECRET", score: 0.85, detector: "generic-api-key" });
  },
  trailing(text) {
    // `…"password"` or `api_key ` at the very end: the assignment may follow.
    let identifierEnd = text.length;
    while (identifierEnd > 0 && text.length - identifierEnd < 3 && isIn(text.charCodeAt(identifierEnd - 1), BLANK | QUOTE | BACKSLASH)) identifierEnd--;
    const identifierStart = identifierStartBefore(text, identifierEnd);
    if (identifierStart < 0 || identifierStart === identifierEnd) return undefined;
    const wordEnd = withoutTrailingDigits(text, identifierStart, identifierEnd);
    if (!keywordAtEnd(text, identifierStart, wordEnd) && !isKeywordBeginning(text, identifierStart, wordEnd)) return undefined;
    return { start: identifierStart, strong: false };
  },
};
