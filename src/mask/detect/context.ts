// Context words (masking.md §1): a word among the five before a match boosts its score. Words are
// matched whole, with plural folding, because substring matching lets "ip" fire inside "recipient".
import { isDigit, isLower, isUpper } from "./lexer.js";

const WORD = /[\p{L}\p{N}]+/gu;

/** A lower-case letter followed by a capital: the boundary inside a camelCase key (`phoneNumber`). */
const CAMEL_BOUNDARY = /(\p{Ll})(\p{Lu})/gu;

/** Lowercased words among the `count` words that end before `start` (never across 80 chars). Keys
 * count as words too: `user_ssn=`, `card-number:` and `phoneNumber` split at `_`, `-` and case.
 * Hot (every candidate of a context-gated detector asks): ASCII text is read backwards by hand,
 * stopping after `count` words; anything else goes through the Unicode patterns. */
export function wordsBefore(text: string, start: number, count = 5): string[] {
  const from = Math.max(0, start - WINDOW);
  const words: string[] = [];
  let end = -1; // end of the word being read, backwards; -1 between words
  for (let i = start - 1; i >= from; i--) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return unicodeWordsBefore(text, start, count);
    const lower = isLower(c);
    if (lower || isUpper(c) || isDigit(c)) {
      if (end < 0) end = i + 1;
      else if (lower && isUpper(text.charCodeAt(i + 1))) {
        // camelCase: `phoneNumber` is "phone" "number"
        words.push(text.slice(i + 1, end).toLowerCase());
        if (words.length >= count) return words.reverse();
        end = i + 1;
      }
    } else if (end >= 0) {
      words.push(text.slice(i + 1, end).toLowerCase());
      if (words.length >= count) return words.reverse();
      end = -1;
    }
  }
  if (end >= 0) {
    // The window may start inside a word: it is cut there, as the patterns would cut it. Only
    // non-ASCII characters before `from` could change that, and they are never read.
    words.push(text.slice(from, end).toLowerCase());
  }
  return words.slice(0, count).reverse();
}

const WINDOW = 80;

function unicodeWordsBefore(text: string, start: number, count: number): string[] {
  const window = text.slice(Math.max(0, start - WINDOW), start).replace(CAMEL_BOUNDARY, "$1 $2").toLowerCase();
  const words = window.match(WORD) ?? [];
  return words.slice(-count);
}

const CONTEXT_BOOST = 0.35;
const CONTEXT_FLOOR = 0.4;

// Scores (masking.md §1): a checksum or parser vouches for the value; a format alone is a base
// score that context words raise; context-gated values are reported only with their context.
export const VALIDATED = 1;
export const FORMAT_ONLY = 0.5;
/** Validated, but with nothing around it that says what it is: masked, and yields an identical
 * span to a finding whose context names it. */
export const UNCORROBORATED = 0.95;
export const CONTEXT_GATED = Math.max(CONTEXT_FLOOR, 0.4 + CONTEXT_BOOST);

export type Phrase = readonly string[];

/** Whole-word context with phrases: each phrase must occur as consecutive words among
 * the five before `start`, its last word optionally plural. */
export function hasContextPhrase(text: string, start: number, phrases: readonly Phrase[]): boolean {
  const words = wordsBefore(text, start);
  // Loops rather than some/every: every candidate of a context-gated detector asks.
  for (const phrase of phrases) {
    for (let at = 0; at + phrase.length <= words.length; at++) {
      let k = 0;
      while (k < phrase.length && isPhraseWord(words[at + k]!, phrase[k]!, k === phrase.length - 1)) k++;
      if (k === phrase.length) return true;
    }
  }
  return false;
}

/** `seen` is `word`, or with `last`, its plural. */
function isPhraseWord(seen: string, word: string, last: boolean): boolean {
  return seen === word || (last && seen.length === word.length + 1 && seen.endsWith("s") && seen.startsWith(word));
}

export function scoreWithContext(base: number, text: string, start: number, phrases: readonly Phrase[]): number {
  return hasContextPhrase(text, start, phrases) ? Math.min(1, Math.max(CONTEXT_FLOOR, base + CONTEXT_BOOST)) : base;
}
