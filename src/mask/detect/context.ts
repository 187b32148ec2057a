// Context words (masking.md §1): a word among the five before a match boosts its score. Words are
// matched whole, with plural folding, because substring matching lets "ip" fire inside "recipient".

const WORD = /[\p{L}\p{N}]+/gu;

/** A lower-case letter followed by a capital: the boundary inside a camelCase key (`phoneNumber`). */
const CAMEL_BOUNDARY = /(\p{Ll})(\p{Lu})/gu;

/** Lowercased words among the `count` words that end before `start` (never across 80 chars). Keys
 * count as words too: `user_ssn=`, `card-number:` and `phoneNumber` split at `_`, `-` and case. */
export function wordsBefore(text: string, start: number, count = 5): string[] {
  const window = text.slice(Math.max(0, start - 80), start).replace(CAMEL_BOUNDARY, "$1 $2").toLowerCase();
  const words = window.match(WORD) ?? [];
  return words.slice(-count);
}

export function hasContext(text: string, start: number, contextWords: ReadonlySet<string>, count = 5): boolean {
  for (const word of wordsBefore(text, start, count)) {
    if (contextWords.has(word)) return true;
    if (word.endsWith("s") && contextWords.has(word.slice(0, -1))) return true;
  }
  return false;
}

export const CONTEXT_BOOST = 0.35;
export const CONTEXT_FLOOR = 0.4;
