import { CODE_DASH, CODE_DOT, CODE_LEFT_PAREN, CODE_PLUS, CODE_RIGHT_PAREN, CODE_SLASH, CODE_SPACE, digitsBetween, isAlnum, isDigit, isLetter, isUpper, isWordChar } from "../lexer.js";
import type { Detector, OpenCandidate } from "../types.js";
import { IBAN_LENGTHS } from "./iban.js";

// Digit runs: the one candidate scan shared by every digit-based detector (masking.md §8).

/** Longest run (digits and separators) any digit detector reports, and what a stream holds back for
 * them: longer runs are tables, serials or digit soup, not one value. */
export const RUN_LIMIT = 32;
/** What decides a run after its last digit: up to three separators and the next digit. */
const RUN_LOOKAHEAD = 4;

/** Digit groups joined by phone-style separators, e.g. `+1 (555) 123-4567` or `4111 1111 1111 1111`. */
export interface DigitRun {
  /** The first char: a `+` or `(` prefix, or the first digit. */
  start: number;
  /** After the last digit. */
  end: number;
  /** Digit groups as [start, end) pairs, in order. */
  groups: ReadonlyArray<readonly [number, number]>;
}

const isGapChar = (c: number) => c === CODE_SPACE || c === CODE_DASH || c === CODE_DOT || c === CODE_SLASH || c === CODE_LEFT_PAREN || c === CODE_RIGHT_PAREN;
const isRunPrefix = (c: number) => c === CODE_PLUS || c === CODE_LEFT_PAREN;
/** Chars that glue digits into a longer token: `ORD-2024-5551234`, `build.123456789`, base64 `/+=`. */
const isTokenJoiner = (c: number) => c === CODE_DASH || c === CODE_DOT || c === CODE_SLASH || c === CODE_PLUS || c === 0x3d;

/** One to three separators between digit groups: at most one of `-./`, one parenthesis, two spaces,
 * and never a dot with a space (a sentence ends there), e.g. `) ` in `(555) 123` or ` (` in `+44 (0)20`. */
function isValidGap(text: string, from: number, to: number): boolean {
  let punctuation = 0;
  let parentheses = 0;
  let spaces = 0;
  let dot = false;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === CODE_SPACE) spaces++;
    else if (c === CODE_LEFT_PAREN || c === CODE_RIGHT_PAREN) parentheses++;
    else {
      punctuation++;
      dot ||= c === CODE_DOT;
    }
  }
  return punctuation <= 1 && parentheses <= 1 && spaces <= 2 && !(dot && spaces > 0);
}

/** `=`, `_` or `/` after a letter: the end of a key or path segment (`ssn=`, `card_number=`, `&pan=`,
 * `user_`, `/ssn/`), after which a value starts. Base64 has `=` only at its end, and a digit before
 * the joiner (`v2_`, `a1/`) still glues the run into a token. */
function endsKey(text: string, joiner: number): boolean {
  const c = text.charCodeAt(joiner);
  return (c === 0x3d || c === 0x5f || c === CODE_SLASH) && isLetter(text.charCodeAt(joiner - 1));
}

/** Digits glued to letters or joined into a longer token (hex, base64, UUIDs, ids) are no value. */
function isInsideToken(text: string, start: number, end: number): boolean {
  const before = text.charCodeAt(start - 1);
  const after = text.charCodeAt(end);
  return (
    (isWordChar(before) && !endsKey(text, start - 1)) ||
    isWordChar(after) ||
    (isTokenJoiner(before) && isAlnum(text.charCodeAt(start - 2)) && !endsKey(text, start - 1)) ||
    (isTokenJoiner(after) && isAlnum(text.charCodeAt(end + 1)))
  );
}

/** Whether the run at `start` continues an IBAN written in fours (`NL48 TRIO 2204 5602 81`): the
 * groups before it lead back, four chars at a time, to a country code and check digits. */
function continuesIbanGroups(text: string, start: number): boolean {
  let group = start - 5;
  for (let groups = 0; groups < 8 && group >= 0 && text.charCodeAt(group + 4) === CODE_SPACE; groups++, group -= 5) {
    let upperAlnum = true;
    for (let k = group; k < group + 4; k++) upperAlnum &&= isDigit(text.charCodeAt(k)) || isUpper(text.charCodeAt(k));
    if (!upperAlnum || isWordChar(text.charCodeAt(group - 1))) return false;
    const head = IBAN_LENGTHS[text.slice(group, group + 2)] !== undefined && isDigit(text.charCodeAt(group + 2)) && isDigit(text.charCodeAt(group + 3));
    if (head) return true;
  }
  return false;
}

/** Anchors for runs worth reading: seven digits in a row, two digits on each side of a gap, or two
 * dots between groups. Every run that a digit detector can report (at least seven digits, a real
 * layout; dotted ones need three groups) holds one, while decimals such as `123.456` hold none.
 * Spelled out rather than `\d{7}` so V8 skips ahead (Boyer-Moore) instead of trying every char. */
const RUN_ANCHORS: ReadonlyArray<{ pattern: RegExp; startOf: (text: string, end: number) => number }> = [
  { pattern: /\d\d\d\d\d\d\d/g, startOf: (_text, end) => end - 7 },
  {
    pattern: /\d\d[ ()/-]{1,3}\d\d/g,
    startOf: (text, end) => {
      let gap = end - 3;
      while (isGapChar(text.charCodeAt(gap))) gap--;
      return gap - 1;
    },
  },
  {
    pattern: /\d\.\d{2,5}\.\d/g,
    startOf: (text, end) => {
      let dot = end - 3;
      while (isDigit(text.charCodeAt(dot))) dot--;
      return dot - 1;
    },
  },
];

/** The runs that hold an anchor, in order. Each anchor is widened to its whole chain of digit groups
 * joined by valid gaps, so what a run is does not depend on where an anchor hit it. */
function scanDigitRuns(text: string): DigitRun[] {
  const runs: DigitRun[] = [];
  const cursors = RUN_ANCHORS.map((anchor) => new AnchorCursor(anchor.pattern, anchor.startOf, text));
  let from = 0;
  for (;;) {
    let anchor: { start: number; end: number } | undefined;
    for (const cursor of cursors) {
      const next = cursor.next(from);
      if (next && (!anchor || next.start < anchor.start)) anchor = next;
    }
    if (!anchor) return runs;
    const firstDigit = chainStart(text, anchor.start);
    const chain = readChain(text, firstDigit ?? anchor.start);
    from = chain.end;
    // An anchor that reaches across an invalid gap into the next chain does not count for this one.
    if (firstDigit === undefined || anchor.end > chain.end) continue;
    const start = isRunPrefix(text.charCodeAt(firstDigit - 1)) ? firstDigit - 1 : firstDigit;
    if (chain.end - start <= RUN_LIMIT && !isInsideToken(text, start, chain.end) && !continuesIbanGroups(text, start)) {
      runs.push({ start, end: chain.end, groups: chain.groups });
    }
  }
}

/** The next match of a global pattern at or after a position, kept until the position passes it. */
class AnchorCursor {
  private match: { start: number; end: number } | undefined;
  private exhausted = false;

  constructor(
    private readonly pattern: RegExp,
    private readonly startOf: (text: string, end: number) => number,
    private readonly text: string,
  ) {}

  next(from: number): { start: number; end: number } | undefined {
    if (!this.exhausted && (this.match === undefined || this.match.start < from)) {
      this.pattern.lastIndex = from;
      this.exhausted = !this.pattern.test(this.text);
      this.match = this.exhausted ? undefined : { start: this.startOf(this.text, this.pattern.lastIndex), end: this.pattern.lastIndex };
    }
    return this.match;
  }
}

/** The first digit of the chain holding `digit`, or undefined when the chain reaches back more than
 * RUN_LIMIT chars (too long to be one value). The chain is the same read from either end: the gap
 * rule is symmetric. */
function chainStart(text: string, digit: number): number | undefined {
  let start = digit;
  for (;;) {
    while (isDigit(text.charCodeAt(start - 1))) start--;
    let gap = start;
    while (start - gap < 3 && isGapChar(text.charCodeAt(gap - 1))) gap--;
    if (gap === start || !isDigit(text.charCodeAt(gap - 1)) || !isValidGap(text, gap, start)) return start;
    start = gap - 1;
    if (digit - start > RUN_LIMIT) return undefined;
  }
}

/** The chain's end and, while it stays within RUN_LIMIT, its digit groups. */
function readChain(text: string, firstDigit: number): { end: number; groups: Array<readonly [number, number]> } {
  const groups: Array<readonly [number, number]> = [];
  let groupStart = firstDigit;
  let end = firstDigit;
  for (;;) {
    while (isDigit(text.charCodeAt(end))) end++;
    if (end - firstDigit <= RUN_LIMIT) groups.push([groupStart, end]);
    let next = end;
    while (next - end < 3 && isGapChar(text.charCodeAt(next))) next++;
    if (next === end || !isDigit(text.charCodeAt(next)) || !isValidGap(text, end, next)) return { end, groups };
    groupStart = end = next;
  }
}

/** The runs of the last text scanned, so card, SSN, phone and tier-2 detectors share one pass. */
export class DigitRuns {
  private text: string | undefined;
  private runs: DigitRun[] = [];

  of(text: string): DigitRun[] {
    if (text !== this.text) {
      this.runs = scanDigitRuns(text);
      this.text = text;
    }
    return this.runs;
  }
}

/** Streaming: the chain whose last digit is within RUN_LOOKAHEAD of the end (more text could extend
 * or reject it), unless it is already too long or glued into a token; else a trailing `+` or `(`. */
export function openDigitRun(text: string): OpenCandidate | undefined {
  const end = text.length;
  let lastDigit = end - 1;
  while (lastDigit >= end - RUN_LOOKAHEAD && !isDigit(text.charCodeAt(lastDigit))) lastDigit--;
  if (lastDigit >= end - RUN_LOOKAHEAD && isDigit(text.charCodeAt(lastDigit))) {
    const firstDigit = chainStart(text, lastDigit);
    if (firstDigit === undefined) return openRunPrefix(text);
    const start = isRunPrefix(text.charCodeAt(firstDigit - 1)) ? firstDigit - 1 : firstDigit;
    if (lastDigit + 1 - start > RUN_LIMIT || isInsideToken(text, start, lastDigit + 1)) return openRunPrefix(text);
    const digits = digitsBetween(text, firstDigit, lastDigit + 1).length;
    return { start, strong: text.charCodeAt(start) === CODE_PLUS || digits >= 3 };
  }
  return openRunPrefix(text);
}

/** A `+` or `(` at the very end may still start a run. */
function openRunPrefix(text: string): OpenCandidate | undefined {
  const tail = text.charCodeAt(text.length - 1);
  if (!isRunPrefix(tail) || isWordChar(text.charCodeAt(text.length - 2))) return undefined;
  return { start: text.length - 1, strong: tail === CODE_PLUS };
}

export function digitCount(run: DigitRun): number {
  return run.groups.reduce((count, [start, end]) => count + end - start, 0);
}

export function groupAt(run: DigitRun, g: number): readonly [number, number] {
  const group = run.groups[g];
  if (!group) throw new RangeError(`digit group ${g} of ${run.groups.length}`);
  return group;
}

export function groupLength(run: DigitRun, g: number): number {
  const [start, end] = groupAt(run, g);
  return end - start;
}

export function groupDigits(text: string, run: DigitRun, first: number, last: number): string {
  return digitsBetween(text, groupAt(run, first)[0], groupAt(run, last)[1]);
}

/** The separator between groups g and g + 1 when it is a single space or hyphen, else undefined. */
export function singleSeparatorAfter(text: string, run: DigitRun, g: number): string | undefined {
  if (g < 0 || g + 1 >= run.groups.length) return undefined;
  const from = groupAt(run, g)[1];
  if (groupAt(run, g + 1)[0] !== from + 1) return undefined;
  const separator = text[from];
  return separator === " " || separator === "-" ? separator : undefined;
}

/** Groups first..last continue through a dot into a neighbouring group: part of a decimal or a
 * version (`0.388485312461853`), not a value of their own. */
export function continuesThroughDot(text: string, run: DigitRun, first: number, last: number): boolean {
  const before = first > 0 ? text.slice(groupAt(run, first - 1)[1], groupAt(run, first)[0]) : "";
  const after = last + 1 < run.groups.length ? text.slice(groupAt(run, last)[1], groupAt(run, last + 1)[0]) : "";
  return before.includes(".") || after.includes(".");
}

export interface DigitSpan {
  start: number;
  end: number;
  digits: string;
}

/** Spans of a run laid out exactly as `layout` (group lengths), joined by one repeated separator from
 * `separators`, and not continued by that separator or a dot on either side: `219-09-9999` but not
 * the middle of `1-219-09-9999-1`. */
export function formattedSpans(text: string, run: DigitRun, layout: readonly number[], separators: string): DigitSpan[] {
  const spans: DigitSpan[] = [];
  const last = layout.length - 1;
  for (let first = 0; first + last < run.groups.length; first++) {
    const separator = singleSeparatorAfter(text, run, first);
    if (separator === undefined || !separators.includes(separator)) continue;
    let fits = true;
    for (let k = 0; k <= last && fits; k++) {
      fits = groupLength(run, first + k) === layout[k] && (k === last || singleSeparatorAfter(text, run, first + k) === separator);
    }
    if (!fits || singleSeparatorAfter(text, run, first - 1) === separator || singleSeparatorAfter(text, run, first + last) === separator) continue;
    if (continuesThroughDot(text, run, first, first + last)) continue;
    spans.push({ start: groupAt(run, first)[0], end: groupAt(run, first + last)[1], digits: groupDigits(text, run, first, first + last) });
  }
  return spans;
}

/** The run when it is a single group of exactly `length` digits, without a `+`. */
export function unformattedSpan(text: string, run: DigitRun, length: number): DigitSpan | undefined {
  if (run.groups.length !== 1 || groupLength(run, 0) !== length || text.charCodeAt(run.start) === CODE_PLUS) return undefined;
  const [start, end] = groupAt(run, 0);
  return { start, end, digits: text.slice(start, end) };
}

/** A detector over digit runs: `spansOf` yields scored spans of one run. */
export function digitRunDetector(
  id: string,
  entity: string,
  runs: DigitRuns,
  spansOf: (text: string, run: DigitRun) => Array<{ start: number; end: number; score: number }>,
): Detector {
  return {
    id,
    entities: [entity],
    maxLength: RUN_LIMIT,
    find(text, out) {
      for (const run of runs.of(text)) {
        for (const span of spansOf(text, run)) out.push({ start: span.start, end: span.end, entity, score: span.score, detector: id });
      }
    },
    openCandidate: openDigitRun,
  };
}
