// Normalisation before detection (masking.md §5.5, issue 21): values written so that a pattern
// does not see them — full-width digits, `%40`, `&#64;`, `\u0040`, zero-width characters, digits
// with spaces between them, "jane at example dot com" — are rewritten into the form detectors
// know, with a map from every normalised character back to the original characters it came from,
// so the replacement covers what was actually written.
//
// One linear pass. Every rewrite is decided by the characters at and just after it, so a text
// that grows at its end normalises the same up to its last few characters; `openFrom` says from
// where the end may still normalise differently (an unfinished `%4`, `&#6`, `\u00`, `jane at exa`),
// which a stream holds back like an open candidate.

import { Buffer } from "node:buffer";
import { DOMAIN_LIMIT, isAlnum, isDigit, isEmailLocalChar, isHex, isLetter, LOCAL_PART_LIMIT } from "./lexer.js";

/** A normalised text and, for each of its characters, the original characters it came from. The
 * map is kept as the list of rewrites (a few per text), not as two arrays as long as the text. */
export class Normalised {
  constructor(
    /** The normalised text. */
    readonly text: string,
    /** Whether the normalised text differs from the original. */
    readonly changed: boolean,
    /** Normalised indices where a rewrite put its replacement (or removed characters), in order. */
    readonly rewritten: Int32Array,
    /** Per rewrite: the length of its replacement, and the original characters [from, to) it replaced. */
    private readonly replacementLengths: Int32Array,
    private readonly originalFrom: Int32Array,
    private readonly originalTo: Int32Array,
    /** The earliest original index whose normalisation more text could still change. */
    readonly openFrom: number | undefined,
  ) {}

  /** The first original character that normalised character i came from; at the end of the
   * text, the original length. */
  startOf(i: number): number {
    const r = this.rewriteAtOrBefore(i);
    if (r < 0) return i;
    const replacementEnd = this.rewritten[r]! + this.replacementLengths[r]!;
    return i < replacementEnd ? this.originalFrom[r]! : this.originalTo[r]! + (i - replacementEnd);
  }

  /** Just past the last original character that normalised character i came from. */
  endOf(i: number): number {
    const r = this.rewriteAtOrBefore(i);
    if (r < 0) return i + 1;
    const replacementEnd = this.rewritten[r]! + this.replacementLengths[r]!;
    return i < replacementEnd ? this.originalTo[r]! : this.originalTo[r]! + (i - replacementEnd) + 1;
  }

  /** The last rewrite whose replacement starts at or before normalised index i, or -1. Of several
   * starting at the same index (removals before a replacement), the last one holds i. */
  private rewriteAtOrBefore(i: number): number {
    let low = 0;
    let high = this.rewritten.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (this.rewritten[middle]! <= i) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}

/** Every character outside ASCII that normalise() rewrites or looks at: ZERO_WIDTH and mayFold
 * below, and the first half of a mathematical letter or digit. */
const NON_ASCII_REWRITE = /[\u00A0-\u02FF\u2000-\u24FF\u3000\uFE30-\uFFEF\uD835]/g;
/** After `%`, `&` or `\`: whether a rewrite really starts there (`%4` is no escape). */
const ESCAPE_AT = /%[0-9A-Fa-f]{2}|&(?:#|[A-Za-z]{2,6};)|\\\\?(?:u[0-9A-Fa-f{]|x[0-9A-Fa-f])/y;

/** Where a rewrite can start. Most text has none, and is then not copied at all; what this
 * misses at the very end of a text, openTail finds. Every check is led by a literal that indexOf
 * finds at memchr speed, never by a character class (a class-led regex reads every character):
 * `%`, `&`, `\`, `[`, `(`, `dot`/`DOT`, and spaces only for the spaced-digit check. Non-ASCII is
 * found by comparing the UTF-8 length, which is far cheaper than one pattern with every case in
 * alternation. */
function mayRewrite(text: string): boolean {
  for (const literal of ["%", "&", "\\"]) {
    for (let at = text.indexOf(literal); at !== -1; at = text.indexOf(literal, at + 1)) {
      ESCAPE_AT.lastIndex = at;
      if (ESCAPE_AT.test(text)) return true;
    }
  }
  if (Buffer.byteLength(text) !== text.length) {
    NON_ASCII_REWRITE.lastIndex = 0;
    if (NON_ASCII_REWRITE.test(text)) return true;
  }
  // A spelled address has a dot marker, or a bracketed at-marker (`jane(at)example.com`): " at "
  // alone is everyday prose and is never rewritten.
  return hasBracketedMarker(text, "[", 0x5d) || hasBracketedMarker(text, "(", 0x29) || hasSpacedMarker(text);
}

/** `dot` or `DOT` at `at`. */
function isDotWord(text: string, at: number): boolean {
  return text.startsWith("dot", at) || text.startsWith("DOT", at);
}

/** `[at]`, `[dot]` or `(at)`, `(dot)`, either case: one pass over the opening character. */
function hasBracketedMarker(text: string, open: string, close: number): boolean {
  for (let at = text.indexOf(open); at !== -1; at = text.indexOf(open, at + 1)) {
    if (text.charCodeAt(at + 3) === close && (text.charCodeAt(at + 1) | 0x20) === 0x61 && (text.charCodeAt(at + 2) | 0x20) === 0x74) return true;
    if (text.charCodeAt(at + 4) === close && isDotWord(text, at + 1)) return true;
  }
  return false;
}

/** ` dot ` (either case), or four single digits with single spaces between them (`4 1 1 1`: a
 * value has at least seven): one pass over the spaces. */
function hasSpacedMarker(text: string): boolean {
  for (let at = text.indexOf(" "); at !== -1; at = text.indexOf(" ", at + 1)) {
    const next = text.charCodeAt(at + 1);
    if ((next | 0x20) === 0x64 && text.charCodeAt(at + 4) === 0x20 && isDotWord(text, at + 1)) return true;
    if (
      isDigit(next) &&
      isDigit(text.charCodeAt(at - 1)) &&
      text.charCodeAt(at + 2) === 0x20 &&
      isDigit(text.charCodeAt(at + 3)) &&
      text.charCodeAt(at + 4) === 0x20 &&
      isDigit(text.charCodeAt(at + 5))
    ) {
      return true;
    }
  }
  return false;
}

/** An at-marker, whole or begun, that a spelled address could grow from. */
const AT_HINT = /[ [(](?:at|AT|a|A)(?:[ \])]|$)/;

const ZERO_WIDTH: ReadonlySet<number> = new Set([0x00ad, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff]);

/** HTML named character references that spell the characters detectors look at (WHATWG list). */
const NAMED_REFERENCES: Readonly<Record<string, string>> = {
  amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: " ", commat: "@", period: ".", plus: "+",
  hyphen: "-", dash: "-", minus: "-", lowbar: "_", colon: ":", sol: "/", lpar: "(", rpar: ")",
  num: "#", percnt: "%", equals: "=", excl: "!", ast: "*", dollar: "$", comma: ",", semi: ";",
};
const REFERENCE_NAME_MAX = 6;

/** "jane at example dot com", "jane [at] example [dot] com", "jane(at)example(dot)com". */
const AT_MARKERS = [" at ", " AT ", " [at] ", " [AT] ", "[at]", "[AT]", " (at) ", " (AT) ", "(at)", "(AT)"];
const DOT_MARKERS = [" dot ", " DOT ", " [dot] ", " [DOT] ", "[dot]", "[DOT]", " (dot) ", " (DOT) ", "(dot)", "(DOT)"];

/** Compatibility characters NFKC folds into ASCII: Latin-1 and spacing marks, general punctuation
 * and letter-like symbols, circled digits, small and full-width forms, mathematical alphanumerics. */
const mayFold = (c: number) => (c >= 0xa0 && c <= 0x2ff) || (c >= 0x2000 && c <= 0x24ff) || c === 0x3000 || (c >= 0xfe30 && c <= 0xffef);

function skipZeroWidthBack(text: string, at: number): number {
  let k = at;
  while (k >= 0 && ZERO_WIDTH.has(text.charCodeAt(k))) k--;
  return k;
}

/** A marker from `markers` at `at`: its length, 0 for none, -1 when the text ends inside one. With
 * `wordsFlow`, a lone space, `[` or `(` at the end counts as a begun marker only after a token that
 * is no plain word (`j.doe`, `jane42`): prose keeps flowing word by word. */
function markerAt(text: string, at: number, markers: readonly string[], wordsFlow = false): number {
  let partial = false;
  for (const marker of markers) {
    if (text.startsWith(marker, at)) return marker.length;
    if (at + marker.length > text.length && marker.startsWith(text.slice(at))) partial = true;
  }
  if (partial && wordsFlow && text.length - at === 1) {
    let start = at;
    let plain = true;
    while (at - start < LOCAL_PART_LIMIT && isEmailLocalChar(text.charCodeAt(start - 1))) {
      start--;
      plain &&= isLetter(text.charCodeAt(start));
    }
    if (plain) return 0;
  }
  return partial ? -1 : 0;
}

interface SpelledAddress {
  /** Where the at-marker starts and how long it is. */
  at: number;
  atLength: number;
  /** Dot markers in the domain, as [start, length]. */
  dots: Array<readonly [number, number]>;
}

/** An address spelled out around the at-marker at `at`: a local part before it, labels joined by
 * dots or dot markers after it. The end of the text ends the address as a boundary would, and
 * leaves it open. */
function spelledAddress(text: string, at: number, atLength: number, bracketed: boolean): { address: SpelledAddress | undefined; open: boolean } {
  if (!isEmailLocalChar(text.charCodeAt(at - 1))) return { address: undefined, open: false };
  if (at + atLength >= text.length) return { address: undefined, open: true };
  if (!isAlnum(text.charCodeAt(at + atLength))) return { address: undefined, open: false };
  const dots: Array<readonly [number, number]> = [];
  let pos = at + atLength;
  let literalDots = 0;
  // " at " is an everyday word: only with a spelled-out dot. `[at]` and `(at)` are never prose.
  const found = (open: boolean) => ({ address: dots.length > 0 || (bracketed && literalDots > 0) ? { at, atLength, dots } : undefined, open });
  for (;;) {
    const labelStart = pos;
    while (pos < text.length && pos - at <= DOMAIN_LIMIT && (isAlnum(text.charCodeAt(pos)) || text.charCodeAt(pos) === 0x2d)) pos++;
    if (pos - at > DOMAIN_LIMIT) return { address: undefined, open: false };
    if (pos >= text.length) return found(true);
    if (pos === labelStart) return { address: undefined, open: false };
    if (text.charCodeAt(pos) === 0x2e) {
      if (pos + 1 >= text.length) return found(true);
      if (isAlnum(text.charCodeAt(pos + 1))) {
        literalDots++;
        pos++;
        continue;
      }
    }
    const dot = markerAt(text, pos, DOT_MARKERS);
    if (dot === -1 || (dot > 0 && pos + dot >= text.length)) return found(true);
    if (dot > 0 && isAlnum(text.charCodeAt(pos + dot))) {
      dots.push([pos, dot]);
      pos += dot;
      continue;
    }
    return found(false);
  }
}

/** The text as detectors should see it, or undefined when it needs no rewriting and nothing at
 * its end is undecided. `force` skips the quick check (openTail looks at every end). */
export function normalise(text: string, force = false): Normalised | undefined {
  if (!force && !mayRewrite(text)) return undefined;
  // Rewrites as [original start, original end, replacement], in order; the text between them is
  // copied once at the end. Most characters are only looked at, never copied one by one.
  const rewrites: Array<readonly [number, number, string]> = [];
  let openFrom: number | undefined;
  const open = (at: number) => {
    openFrom = openFrom === undefined ? at : Math.min(openFrom, at);
  };
  /** Dot markers of an accepted spelled address, still to come. */
  let pendingDots: Array<readonly [number, number]> = [];

  const candidates = new RewriteCandidates(text);
  let i = 0;
  while ((i = candidates.next(i, pendingDots.length > 0 ? pendingDots[0]![0] : text.length)) < text.length) {
    const c = text.charCodeAt(i);
    if (pendingDots.length > 0 && pendingDots[0]![0] === i) {
      const [, length] = pendingDots.shift()!;
      rewrites.push([i, i + length, "."]);
      i += length;
      continue;
    }
    if (c >= 0x80) {
      if (ZERO_WIDTH.has(c)) {
        rewrites.push([i, i + 1, ""]);
        i++;
        continue;
      }
      if (mayFold(c) || (c === 0xd835 && i + 1 < text.length)) {
        const width = c === 0xd835 ? 2 : 1;
        const original = text.slice(i, i + width);
        const folded = original.normalize("NFKC");
        if (folded !== original) {
          rewrites.push([i, i + width, folded]);
          i += width;
          continue;
        }
      } else if (c === 0xd835) open(i); // the first half of a mathematical letter or digit
    } else if (c === 0x25) {
      // RFC 3986 §2.1 percent-encoding, ASCII only.
      const h1 = text.charCodeAt(i + 1);
      const h2 = text.charCodeAt(i + 2);
      if (isHex(h1) && isHex(h2) && Number.parseInt(text.slice(i + 1, i + 3), 16) < 0x80) {
        rewrites.push([i, i + 3, String.fromCharCode(Number.parseInt(text.slice(i + 1, i + 3), 16))]);
        i += 3;
        continue;
      }
      if (i + 2 >= text.length && (i + 1 >= text.length || isHex(h1))) open(i);
    } else if (c === 0x26) {
      const reference = characterReference(text, i);
      if (reference === "open") open(i);
      else if (reference) {
        rewrites.push([i, reference.end, reference.chars]);
        i = reference.end;
        continue;
      }
    } else if (c === 0x5c) {
      const escape = codeEscape(text, i);
      if (escape === "open") open(i);
      else if (escape) {
        rewrites.push([i, escape.end, escape.chars]);
        i = escape.end;
        continue;
      }
    } else if (c === 0x20 || c === 0x5b || c === 0x28) {
      if (c === 0x20 && isDigit(text.charCodeAt(i - 1)) && !isDigit(text.charCodeAt(skipZeroWidthBack(text, i - 2)))) {
        // Digits with a space between each: "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1". The end of the text
        // decides like a non-digit, and leaves the decision open.
        let after = i + 2;
        while (ZERO_WIDTH.has(text.charCodeAt(after))) after++;
        if (after >= text.length) open(i - 1);
        if (isDigit(text.charCodeAt(i + 1)) && !isDigit(text.charCodeAt(after))) {
          rewrites.push([i, i + 1, ""]);
          i++;
          continue;
        }
      }
      // An at-marker starts with a space, `[` or `(` followed by `a`, `A`, `[`, `(` or the end.
      const next = text.charCodeAt(i + 1) | 0x20;
      if (next === 0x61 || next === 0x7b || next === 0x28 || Number.isNaN(text.charCodeAt(i + 1))) {
        const marker = markerAt(text, i, AT_MARKERS, true);
        if (marker !== 0) {
          const spelled = marker === -1 ? { address: undefined, open: true } : spelledAddress(text, i, marker, /[[(]/.test(text.slice(i, i + marker)));
          if (spelled.open) {
            let local = i;
            while (i - local < LOCAL_PART_LIMIT && isEmailLocalChar(text.charCodeAt(local - 1))) local--;
            if (local < i) open(local);
          }
          if (spelled.address) {
            pendingDots = spelled.address.dots;
            rewrites.push([i, i + marker, "@"]);
            i += marker;
            continue;
          }
        }
      }
    }
    i++;
  }
  if (rewrites.length === 0 && openFrom === undefined) return undefined;
  const rewritten = new Int32Array(rewrites.length);
  const replacementLengths = new Int32Array(rewrites.length);
  const originalFrom = new Int32Array(rewrites.length);
  const originalTo = new Int32Array(rewrites.length);
  let out = "";
  let copied = 0;
  let length = 0;
  rewrites.forEach(([from, to, chars], r) => {
    out += text.slice(copied, from) + chars;
    length += from - copied;
    rewritten[r] = length;
    replacementLengths[r] = chars.length;
    originalFrom[r] = from;
    originalTo[r] = to;
    length += chars.length;
    copied = to;
  });
  out += text.slice(copied);
  return new Normalised(out, rewrites.length > 0, rewritten, replacementLengths, originalFrom, originalTo, openFrom);
}

/** The positions normalise() must look at, in order; every other character it would only step
 * over. Each kind is found with indexOf (or, outside ASCII, one pattern) and kept until passed,
 * so a long text is not read character by character in JavaScript. */
class RewriteCandidates {
  /** The next `%`, `&`, `\`, `[`, `(`, space and non-ASCII candidate at or after the last asked
   * position; -1 once there is none. */
  private readonly upcoming = [-2, -2, -2, -2, -2, -2, -2];
  private readonly ascii: boolean;

  constructor(private readonly text: string) {
    this.ascii = Buffer.byteLength(text) === text.length;
  }

  /** The first candidate at or after `from`, `pending` (a dot marker still to come) included;
   * text.length when none is left. */
  next(from: number, pending: number): number {
    let nearest = pending >= from ? pending : this.text.length;
    for (let kind = 0; kind < this.upcoming.length; kind++) {
      let at = this.upcoming[kind]!;
      if (at !== -1 && at < from) {
        at = this.find(kind, from);
        this.upcoming[kind] = at;
      }
      if (at !== -1 && at < nearest) nearest = at;
    }
    return nearest;
  }

  private find(kind: number, from: number): number {
    const text = this.text;
    if (kind < CANDIDATE_LITERALS.length) return text.indexOf(CANDIDATE_LITERALS[kind]!, from);
    if (kind === CANDIDATE_LITERALS.length) {
      for (let at = text.indexOf(" ", from); at !== -1; at = text.indexOf(" ", at + 1)) {
        // Digits with spaces between them, or an at-marker (space then `a`, `A`, `[`, `(`, or the end).
        const next = text.charCodeAt(at + 1) | 0x20;
        if (isDigit(text.charCodeAt(at - 1)) || next === 0x61 || next === 0x7b || next === 0x28 || at + 1 >= text.length) return at;
      }
      return -1;
    }
    if (this.ascii) return -1;
    NON_ASCII_REWRITE.lastIndex = from;
    return NON_ASCII_REWRITE.exec(text)?.index ?? -1;
  }
}

const CANDIDATE_LITERALS = ["%", "&", "\\", "[", "("];

/** `&#64;`, `&#x40;` or a named reference from NAMED_REFERENCES, each ending in `;`. */
function characterReference(text: string, at: number): { chars: string; end: number } | "open" | undefined {
  let pos = at + 1;
  if (text.charCodeAt(pos) === 0x23) {
    pos++;
    const hex = text.charCodeAt(pos) === 0x78 || text.charCodeAt(pos) === 0x58;
    if (hex) pos++;
    const digitsStart = pos;
    while (pos < text.length && pos - digitsStart < 7 && (hex ? isHex(text.charCodeAt(pos)) : isDigit(text.charCodeAt(pos)))) pos++;
    if (pos >= text.length) return "open";
    if (pos === digitsStart || text.charCodeAt(pos) !== 0x3b) return undefined;
    const code = Number.parseInt(text.slice(digitsStart, pos), hex ? 16 : 10);
    if (code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
    return { chars: String.fromCodePoint(code), end: pos + 1 };
  }
  const nameStart = pos;
  while (pos < text.length && pos - nameStart <= REFERENCE_NAME_MAX && isAlnum(text.charCodeAt(pos))) pos++;
  if (pos >= text.length) return pos - nameStart <= REFERENCE_NAME_MAX ? "open" : undefined;
  if (text.charCodeAt(pos) !== 0x3b) return undefined;
  const chars = NAMED_REFERENCES[text.slice(nameStart, pos).toLowerCase()];
  return chars === undefined ? undefined : { chars, end: pos + 1 };
}

/** `\u0040`, `\u{40}` (ECMAScript) and `\x40` escapes written into text. */
function codeEscape(text: string, at: number): { chars: string; end: number } | "open" | undefined {
  // `\\u0040` is how the escape reads in raw JSON text: the same character.
  if (text.charCodeAt(at + 1) === 0x5c) return at + 2 >= text.length ? "open" : codeEscape(text, at + 1);
  const kind = text.charCodeAt(at + 1);
  if (Number.isNaN(kind)) return "open";
  if (kind !== 0x75 && kind !== 0x78) return undefined;
  const braced = kind === 0x75 && text.charCodeAt(at + 2) === 0x7b;
  const digitsStart = at + (braced ? 3 : 2);
  const wanted = kind === 0x78 ? 2 : braced ? 6 : 4;
  let pos = digitsStart;
  while (pos < text.length && pos - digitsStart < wanted && isHex(text.charCodeAt(pos))) pos++;
  if (braced) {
    if (pos >= text.length) return "open";
    if (pos === digitsStart || text.charCodeAt(pos) !== 0x7d) return undefined;
    const code = Number.parseInt(text.slice(digitsStart, pos), 16);
    return code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? undefined : { chars: String.fromCodePoint(code), end: pos + 1 };
  }
  if (pos - digitsStart < wanted) return pos >= text.length ? "open" : undefined;
  const code = Number.parseInt(text.slice(digitsStart, pos), 16);
  if (code >= 0xd800 && code <= 0xdfff) return undefined; // half of a pair: left to the JSON parser
  return { chars: String.fromCharCode(code), end: pos };
}

/** The earliest index from which more text could change how the end of `text` normalises: an
 * unfinished escape, reference or spelled address. Looks at no more than the last few hundred
 * characters. */
export function openTail(text: string): number | undefined {
  const near = Math.max(0, text.length - 16);
  const far = Math.max(0, text.length - (LOCAL_PART_LIMIT + DOMAIN_LIMIT + 16));
  let from = AT_HINT.test(text.slice(far)) ? far : near;
  let tail = normalise(text.slice(from), true);
  if (tail?.openFrom === undefined) return undefined;
  let openFrom = tail.openFrom;
  if (from > far) {
    // Open: read far enough back to see the whole token it may join.
    from = far;
    tail = normalise(text.slice(from), true);
    if (tail?.openFrom === undefined) return undefined;
    openFrom = tail.openFrom;
  }
  // What the unfinished part may join: `jane&#46;doe&#6` or `jane@example&#4` could end up one
  // address from `jane`.
  let first = 0;
  while (first < tail.text.length && tail.startOf(first) < openFrom) first++;
  let start = first;
  while (start > 0 && first - start < LOCAL_PART_LIMIT + DOMAIN_LIMIT && (isEmailLocalChar(tail.text.charCodeAt(start - 1)) || tail.text.charCodeAt(start - 1) === 0x40)) start--;
  return from + Math.min(openFrom, tail.startOf(start));
}
