// Context words (masking.md §1): a word among the five before a match boosts its score. Words are
// matched whole, with plural folding, because substring matching lets "ip" fire inside "recipient".

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
    const lower = c >= 0x61 && c <= 0x7a;
    if (lower || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39)) {
      if (end < 0) end = i + 1;
      else if (lower && isAsciiUpper(text.charCodeAt(i + 1))) {
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
const isAsciiUpper = (c: number) => c >= 0x41 && c <= 0x5a;

function unicodeWordsBefore(text: string, start: number, count: number): string[] {
  const window = text.slice(Math.max(0, start - WINDOW), start).replace(CAMEL_BOUNDARY, "$1 $2").toLowerCase();
  const words = window.match(WORD) ?? [];
  return words.slice(-count);
}

export const CONTEXT_BOOST = 0.35;
export const CONTEXT_FLOOR = 0.4;
