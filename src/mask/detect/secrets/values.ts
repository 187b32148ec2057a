// What a secret's value looks like: its entropy and character kinds, and the placeholders and
// joined words that look like a value without being one.
import { DASH, DIGIT, DOT, isIn, LETTER, LOWER, UNDERSCORE, UPPER } from "../lexer.js";

const symbolCounts = new Int32Array(128);

/** Shannon entropy H = −Σ pᵢ log2 pᵢ of text[start, end), in bits per character. */
export function shannonEntropy(text: string, start: number, end: number): number {
  const length = end - start;
  if (length <= 0) return 0;
  let wide: Map<number, number> | undefined;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < 128) symbolCounts[code] = (symbolCounts[code] ?? 0) + 1;
    else (wide ??= new Map()).set(code, (wide.get(code) ?? 0) + 1);
  }
  let entropy = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    const count = code < 128 ? (symbolCounts[code] ?? 0) : 0;
    if (count === 0) continue; // a non-ASCII character, or one already counted
    symbolCounts[code] = 0;
    entropy -= (count / length) * Math.log2(count / length);
  }
  for (const count of wide?.values() ?? []) entropy -= (count / length) * Math.log2(count / length);
  return entropy;
}

/** How many of lowercase letters, uppercase letters, digits and other characters occur. */
export function characterKinds(value: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let other = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isIn(code, LOWER)) lower = 1;
    else if (isIn(code, UPPER)) upper = 1;
    else if (isIn(code, DIGIT)) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

const PLACEHOLDER_WORDS = ["changeme", "change_me", "placeholder", "redacted", "example", "your_", "your-"];
/** Characters that blank a value out when they fill a quarter of it in runs of four or more
 * (`sk_live_xxxxxxxx…`, `****`, `AKIAXXXXXXXXXXXXXXXX`); a random value may hold one such run. */
const BLANKING = new Set([0x78, 0x2a, 0x2e]); // x (after lower-casing), *, .

/** printf and Windows placeholders: `%s`, `%(password)s`, `%DB_PASSWORD%`; a random value may also
 * start with `%`. */
const PERCENT_PLACEHOLDER = /^%(?:\(\w{1,64}\))?[-+ #0-9.]{0,4}[sdifxr]$|^%\w{1,64}%$/;

/** `${DB_PASSWORD}`, `$TOKEN`, `<token>`, `{{ secret }}`, `%s`, `[REDACTED]`, `[EMAIL_ADDRESS]`,
 * `changeme`, `xxxx…`: templates and other detectors' placeholders, not values. */
export function isTemplatePlaceholder(value: string): boolean {
  const first = value.charCodeAt(0);
  if (first === 0x24 || first === 0x3c || first === 0x7b || first === 0x5b) return true; // $ < { [
  if (first === 0x25 && PERCENT_PLACEHOLDER.test(value)) return true;
  const lower = value.toLowerCase();
  if (lower === "true" || lower === "false" || lower === "null" || lower === "undefined" || lower === "none") return true;
  return PLACEHOLDER_WORDS.some((word) => lower.includes(word)) || isBlankedOut(lower);
}

function isBlankedOut(lower: string): boolean {
  let blanked = 0;
  for (let i = 0; i < lower.length; ) {
    const c = lower.charCodeAt(i);
    let run = 1;
    while (lower.charCodeAt(i + run) === c) run++;
    if (run >= 4 && BLANKING.has(c)) blanked += run;
    i += run;
  }
  return blanked > 0 && blanked * 4 >= lower.length;
}

/** `YOUR_API_KEY`, `read-write-admin`, `config.prod.json`: words joined by separators, no digits. */
export function isJoinedWords(value: string): boolean {
  let separators = 0;
  /** Lower-case letters followed by a capital within the current word: one is camelCase, more is
   * random mixed case (`jJoWWeEbUd`), no word. */
  let humps = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isIn(code, UNDERSCORE | DASH | DOT)) {
      separators++;
      humps = 0;
    } else if (!isIn(code, LETTER)) {
      return false;
    } else if (i > 0 && isIn(code, UPPER) && isIn(value.charCodeAt(i - 1), LOWER) && ++humps > 1) {
      return false;
    }
  }
  return separators > 0;
}
