// Structured PII (masking.md §2 tiers 1 and 2, §3 "Structured PII"): hand-written linear scanners
// find candidates from a literal (`@`, a separator, a country code) or a run of digits, then keep
// only what validates: a checksum, a parser, a bundled list. Detectors report only findings that
// reach MASK_THRESHOLD, so a context-gated value without its context word is no finding at all.
import { createRequire } from "node:module";
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import { CONTEXT_BOOST, CONTEXT_FLOOR, wordsBefore } from "./context.js";
import { contextualDetectors } from "./contextual.js";
import type { Detector, DetectorSettings, Finding, OpenCandidate } from "./types.js";

/** Tier 1 always; tier 2 only for the entity types named in `settings.optIn`. */
export function piiDetectors(settings: DetectorSettings): Detector[] {
  const runs = new DigitRuns();
  const letterPairs = new LetterPairAnchors();
  const hexTokens = new HexColonTokens();
  const detectors = [
    emailDetector(),
    creditCardDetector(runs),
    ibanDetector(letterPairs),
    usSsnDetector(runs),
    unformattedSsnDetector(runs),
    phoneNumberDetector(runs, settings.phoneRegions),
    ipAddressDetector(settings.maskPrivateIps, hexTokens),
    // Tier 2 on by default where a checksum and a context word make them precise; they share the
    // digit-run pass, so they cost little.
    usItinDetector(runs),
    abaRoutingDetector(runs),
    ukNhsDetector(runs, !settings.optIn.has("UK_NHS")),
    caSinDetector(runs),
    // On by default in their precise forms (a context word, or the strict format standing alone);
    // opting in widens them as before (NINO after any boundary, Cisco dotted MACs).
    ukNinoDetector(letterPairs, settings.optIn.has("UK_NINO")),
    macAddressDetector(hexTokens, settings.optIn.has("MAC_ADDRESS")),
    // Only next to a context word: card security codes, crypto-currency addresses, bank account,
    // passport and driver's licence numbers written as digits.
    ...contextualDetectors(),
    contextDigitsDetector(runs),
    dateOfBirthDetector(runs),
  ];
  for (const [entity, optInDetector] of Object.entries(TIER_2)) {
    if (settings.optIn.has(entity)) detectors.push(optInDetector(runs));
  }
  return detectors;
}

/** Opt-in types. US_SSN, US_ITIN, ABA_ROUTING, UK_NHS, CA_SIN, UK_NINO and MAC_ADDRESS are still
 * accepted in `opt_in` but are always on; opting in to UK_NHS also takes 3-3-4 numbers that pass
 * mod 11 without a context word, to UK_NINO a number glued after `-`, `_`, `/`, `.` or `#`, to
 * MAC_ADDRESS Cisco's dotted quads. */
const TIER_2: Record<string, (runs: DigitRuns) => Detector> = {
  PL_PESEL: plPeselDetector,
};

/** Two letters and two digits at a word start, with an optional space between (`DE44`, `AB 12`):
 * where an IBAN or a NINO can start. One pass per text, shared by both detectors. */
class LetterPairAnchors {
  private text: string | undefined;
  private starts: number[] = [];
  private readonly pattern = /\b[A-Za-z]{2} ?\d\d/g;

  of(text: string): number[] {
    if (text !== this.text) {
      const starts: number[] = [];
      this.pattern.lastIndex = 0;
      for (let match = this.pattern.exec(text); match; match = this.pattern.exec(text)) {
        starts.push(match.index);
        this.pattern.lastIndex = match.index + 1;
      }
      this.starts = starts;
      this.text = text;
    }
    return this.starts;
  }
}

// Scores (masking.md §1): a checksum or parser vouches for the value; a format alone is a base
// score that context words raise; context-gated values are reported only with their context.
const VALIDATED = 1;
const FORMAT_ONLY = 0.5;
/** Validated, but with nothing around it that says what it is: masked, and yields an identical
 * span to a finding whose context names it. */
const UNCORROBORATED = 0.95;
const CONTEXT_GATED = Math.max(CONTEXT_FLOOR, 0.4 + CONTEXT_BOOST);

type Phrase = readonly string[];

/** Whole-word context (context.ts) with phrases: each phrase must occur as consecutive words among
 * the five before `start`, its last word optionally plural. */
function hasContextPhrase(text: string, start: number, phrases: readonly Phrase[]): boolean {
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

function scoreWithContext(base: number, text: string, start: number, phrases: readonly Phrase[]): number {
  return hasContextPhrase(text, start, phrases) ? Math.min(1, Math.max(CONTEXT_FLOOR, base + CONTEXT_BOOST)) : base;
}

// ---------------------------------------------------------------------------------------------
// Characters. charCodeAt past the end is NaN, which every test below rejects.

const SPACE = 0x20;
const PLUS = 0x2b;
const HYPHEN = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const COLON = 0x3a;
const AT = 0x40;
const LEFT_PAREN = 0x28;
const RIGHT_PAREN = 0x29;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isLetter = (c: number) => isUpper(c) || isLower(c);
const isAlnum = (c: number) => isDigit(c) || isLetter(c);
/** `\w`: what a token is made of. Digits or letters next to a candidate mean it is part of one. */
const isWordChar = (c: number) => isAlnum(c) || c === 0x5f;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

function digitsBetween(text: string, start: number, end: number): string {
  let digits = "";
  for (let k = start; k < end; k++) if (isDigit(text.charCodeAt(k))) digits += text[k];
  return digits;
}

function allSameChar(value: string): boolean {
  for (let k = 1; k < value.length; k++) if (value[k] !== value[0]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Digit runs: the one candidate scan shared by every digit-based detector (masking.md §8).

/** Longest run (digits and separators) any digit detector reports, and what a stream holds back for
 * them: longer runs are tables, serials or digit soup, not one value. */
const RUN_LIMIT = 32;
/** What decides a run after its last digit: up to three separators and the next digit. */
const RUN_LOOKAHEAD = 4;

/** Digit groups joined by phone-style separators, e.g. `+1 (555) 123-4567` or `4111 1111 1111 1111`. */
interface DigitRun {
  /** The first char: a `+` or `(` prefix, or the first digit. */
  start: number;
  /** After the last digit. */
  end: number;
  /** Digit groups as [start, end) pairs, in order. */
  groups: ReadonlyArray<readonly [number, number]>;
}

const isGapChar = (c: number) => c === SPACE || c === HYPHEN || c === DOT || c === SLASH || c === LEFT_PAREN || c === RIGHT_PAREN;
const isRunPrefix = (c: number) => c === PLUS || c === LEFT_PAREN;
/** Chars that glue digits into a longer token: `ORD-2024-5551234`, `build.123456789`, base64 `/+=`. */
const isTokenJoiner = (c: number) => c === HYPHEN || c === DOT || c === SLASH || c === PLUS || c === 0x3d;

/** One to three separators between digit groups: at most one of `-./`, one parenthesis, two spaces,
 * and never a dot with a space (a sentence ends there), e.g. `) ` in `(555) 123` or ` (` in `+44 (0)20`. */
function isValidGap(text: string, from: number, to: number): boolean {
  let punctuation = 0;
  let parentheses = 0;
  let spaces = 0;
  let dot = false;
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (c === SPACE) spaces++;
    else if (c === LEFT_PAREN || c === RIGHT_PAREN) parentheses++;
    else {
      punctuation++;
      dot ||= c === DOT;
    }
  }
  return punctuation <= 1 && parentheses <= 1 && spaces <= 2 && !(dot && spaces > 0);
}

/** `=`, `_` or `/` after a letter: the end of a key or path segment (`ssn=`, `card_number=`, `&pan=`,
 * `user_`, `/ssn/`), after which a value starts. Base64 has `=` only at its end, and a digit before
 * the joiner (`v2_`, `a1/`) still glues the run into a token. */
function endsKey(text: string, joiner: number): boolean {
  const c = text.charCodeAt(joiner);
  return (c === 0x3d || c === 0x5f || c === SLASH) && isLetter(text.charCodeAt(joiner - 1));
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
  for (let groups = 0; groups < 8 && group >= 0 && text.charCodeAt(group + 4) === SPACE; groups++, group -= 5) {
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
class DigitRuns {
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
function openDigitRun(text: string): OpenCandidate | undefined {
  const end = text.length;
  let lastDigit = end - 1;
  while (lastDigit >= end - RUN_LOOKAHEAD && !isDigit(text.charCodeAt(lastDigit))) lastDigit--;
  if (lastDigit >= end - RUN_LOOKAHEAD && isDigit(text.charCodeAt(lastDigit))) {
    const firstDigit = chainStart(text, lastDigit);
    if (firstDigit === undefined) return openRunPrefix(text);
    const start = isRunPrefix(text.charCodeAt(firstDigit - 1)) ? firstDigit - 1 : firstDigit;
    if (lastDigit + 1 - start > RUN_LIMIT || isInsideToken(text, start, lastDigit + 1)) return openRunPrefix(text);
    const digits = digitsBetween(text, firstDigit, lastDigit + 1).length;
    return { start, strong: text.charCodeAt(start) === PLUS || digits >= 3 };
  }
  return openRunPrefix(text);
}

/** A `+` or `(` at the very end may still start a run. */
function openRunPrefix(text: string): OpenCandidate | undefined {
  const tail = text.charCodeAt(text.length - 1);
  if (!isRunPrefix(tail) || isWordChar(text.charCodeAt(text.length - 2))) return undefined;
  return { start: text.length - 1, strong: tail === PLUS };
}

function digitCount(run: DigitRun): number {
  return run.groups.reduce((count, [start, end]) => count + end - start, 0);
}

function groupAt(run: DigitRun, g: number): readonly [number, number] {
  const group = run.groups[g];
  if (!group) throw new RangeError(`digit group ${g} of ${run.groups.length}`);
  return group;
}

function groupLength(run: DigitRun, g: number): number {
  const [start, end] = groupAt(run, g);
  return end - start;
}

function groupDigits(text: string, run: DigitRun, first: number, last: number): string {
  return digitsBetween(text, groupAt(run, first)[0], groupAt(run, last)[1]);
}

/** The separator between groups g and g + 1 when it is a single space or hyphen, else undefined. */
function singleSeparatorAfter(text: string, run: DigitRun, g: number): string | undefined {
  if (g < 0 || g + 1 >= run.groups.length) return undefined;
  const from = groupAt(run, g)[1];
  if (groupAt(run, g + 1)[0] !== from + 1) return undefined;
  const separator = text[from];
  return separator === " " || separator === "-" ? separator : undefined;
}

/** Groups first..last continue through a dot into a neighbouring group: part of a decimal or a
 * version (`0.388485312461853`), not a value of their own. */
function continuesThroughDot(text: string, run: DigitRun, first: number, last: number): boolean {
  const before = first > 0 ? text.slice(groupAt(run, first - 1)[1], groupAt(run, first)[0]) : "";
  const after = last + 1 < run.groups.length ? text.slice(groupAt(run, last)[1], groupAt(run, last + 1)[0]) : "";
  return before.includes(".") || after.includes(".");
}

interface DigitSpan {
  start: number;
  end: number;
  digits: string;
}

/** Spans of a run laid out exactly as `layout` (group lengths), joined by one repeated separator from
 * `separators`, and not continued by that separator or a dot on either side: `219-09-9999` but not
 * the middle of `1-219-09-9999-1`. */
function formattedSpans(text: string, run: DigitRun, layout: readonly number[], separators: string): DigitSpan[] {
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
function unformattedSpan(text: string, run: DigitRun, length: number): DigitSpan | undefined {
  if (run.groups.length !== 1 || groupLength(run, 0) !== length || text.charCodeAt(run.start) === PLUS) return undefined;
  const [start, end] = groupAt(run, 0);
  return { start, end, digits: text.slice(start, end) };
}

/** A detector over digit runs: `spansOf` yields scored spans of one run. */
function digitRunDetector(
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

// ---------------------------------------------------------------------------------------------
// EMAIL_ADDRESS: anchored on '@', expanded both ways within RFC 5321 §4.5.3.1 limits.

const LOCAL_PART_LIMIT = 64;
const DOMAIN_LIMIT = 253;
/** A path is at most 256 chars with its angle brackets. */
const ADDRESS_LIMIT = 254;
/** The domain side may end in sentence dots, which are not part of the address. */
const DOMAIN_RUN_LIMIT = DOMAIN_LIMIT + 1;
const EMAIL_TOKEN_LIMIT = LOCAL_PART_LIMIT + 1 + DOMAIN_RUN_LIMIT;

/** `[A-Za-z0-9._%+-]`: the dot-atom subset of RFC 5322 that real addresses use. */
const isLocalChar = (c: number) => isAlnum(c) || c === DOT || c === 0x5f || c === 0x25 || c === PLUS || c === HYPHEN;
const isEmailChar = (c: number) => isLocalChar(c) || c === AT;

/** IANA's TLDs, bundled by the `tlds` package (no runtime fetch), with IDN TLDs also in punycode. */
const TOP_LEVEL_DOMAINS: ReadonlySet<string> = new Set(
  (createRequire(import.meta.url)("tlds") as string[]).flatMap((tld) => [tld, domainToASCII(tld)]).filter(Boolean),
);

function emailDetector(): Detector {
  const id = "email";
  return {
    id,
    entities: ["EMAIL_ADDRESS"],
    maxLength: EMAIL_TOKEN_LIMIT,
    find(text, out) {
      for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
        let start = at;
        while (at - start < LOCAL_PART_LIMIT && isLocalChar(text.charCodeAt(start - 1))) start--;
        if (isEmailChar(text.charCodeAt(start - 1))) continue; // local part too long, or a second '@'
        if (isUrlPassword(text, start)) continue;
        let end = at + 1;
        while (end - at - 1 < DOMAIN_RUN_LIMIT && isLocalChar(text.charCodeAt(end))) end++;
        if (isEmailChar(text.charCodeAt(end))) continue;
        while (text.charCodeAt(end - 1) === DOT) end--;
        if (end - start <= ADDRESS_LIMIT && isDotAtom(text.slice(start, at)) && isMailDomain(text.slice(at + 1, end))) {
          out.push({ start, end, entity: "EMAIL_ADDRESS", score: VALIDATED, detector: id });
        }
      }
    },
    openCandidate(text) {
      // The token of email chars at the end, unless it can no longer become an address.
      const end = text.length;
      let start = end;
      let ats = 0;
      let lastAt = -1;
      while (end - start <= EMAIL_TOKEN_LIMIT && isEmailChar(text.charCodeAt(start - 1))) {
        start--;
        if (text.charCodeAt(start) === AT) {
          ats++;
          lastAt = start;
        }
      }
      if (start === end || end - start > EMAIL_TOKEN_LIMIT || ats > 1 || text.charCodeAt(start) === DOT) return undefined;
      const localLength = (ats === 1 ? lastAt : end) - start;
      if (localLength > LOCAL_PART_LIMIT || (ats === 1 && (localLength === 0 || end - lastAt - 1 > DOMAIN_RUN_LIMIT))) return undefined;
      let addressEnd = end; // more text can only lengthen the address, whose trailing dots do not count
      while (addressEnd > start && text.charCodeAt(addressEnd - 1) === DOT) addressEnd--;
      if (addressEnd - start > ADDRESS_LIMIT) return undefined;
      return { start, strong: ats === 1 };
    },
  };
}

/** `scheme://user:password@host`: what precedes the '@' is a URL credential (the secret detectors'
 * URL_CREDENTIALS), not an address; `mailto:` and `user@host` in URLs stay addresses. */
function isUrlPassword(text: string, localStart: number): boolean {
  if (text.charCodeAt(localStart - 1) !== COLON) return false;
  for (let k = localStart - 2; k >= 2 && localStart - k <= LOCAL_PART_LIMIT + 2; k--) {
    const c = text.charCodeAt(k);
    if (c === SLASH) return text.charCodeAt(k - 1) === SLASH && text.charCodeAt(k - 2) === COLON;
    if (c === AT || c <= SPACE || c === 0x22) return false;
  }
  return false;
}

function isDotAtom(local: string): boolean {
  return local.length > 0 && !local.startsWith(".") && !local.endsWith(".") && !local.includes("..");
}

/** RFC 1035 labels (1–63 letters, digits, inner hyphens), at most 253 chars, at least two labels,
 * and a TLD IANA has delegated. */
function isMailDomain(domain: string): boolean {
  if (domain.length > DOMAIN_LIMIT) return false;
  const labels = domain.split(".");
  const isLabel = (label: string) =>
    label.length >= 1 &&
    label.length <= 63 &&
    !label.startsWith("-") &&
    !label.endsWith("-") &&
    [...label].every((char) => isAlnum(char.charCodeAt(0)) || char === "-");
  return labels.length >= 2 && labels.every(isLabel) && TOP_LEVEL_DOMAINS.has((labels.at(-1) ?? "").toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// CREDIT_CARD: 13–19 digits, one consistent separator, issuer prefix and length, Luhn.

/** IIN ranges and lengths per issuer (masking.md §3). Luhn alone passes 10 % of random digit
 * strings, so a number must also fit an issuer. Ranges compare the number's first digits. */
const CARD_ISSUERS: ReadonlyArray<{ ranges: ReadonlyArray<readonly [string, string]>; lengths: readonly number[] }> = [
  { ranges: [["4", "4"]], lengths: [13, 16, 19] }, // Visa
  { ranges: [["51", "55"], ["2221", "2720"]], lengths: [16] }, // Mastercard
  { ranges: [["34", "34"], ["37", "37"]], lengths: [15] }, // American Express
  { ranges: [["6011", "6011"], ["644", "649"], ["65", "65"]], lengths: [16, 17, 18, 19] }, // Discover
  { ranges: [["3528", "3589"]], lengths: [16, 17, 18, 19] }, // JCB
  { ranges: [["300", "305"], ["36", "36"], ["38", "38"]], lengths: [14, 15, 16, 17, 18, 19] }, // Diners Club
  { ranges: [["62", "62"]], lengths: [16, 17, 18, 19] }, // UnionPay
  { ranges: [["50", "50"], ["56", "69"]], lengths: [13, 14, 15, 16, 17, 18, 19] }, // Maestro
];

function fitsCardIssuer(digits: string): boolean {
  return CARD_ISSUERS.some(
    ({ ranges, lengths }) =>
      lengths.includes(digits.length) &&
      ranges.some(([low, high]) => {
        const prefix = digits.slice(0, low.length);
        return prefix >= low && prefix <= high;
      }),
  );
}

/** Luhn (ISO/IEC 7812-1): from the right, double every second digit, subtract 9 above 9, sum mod 10 = 0. */
function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let k = 0; k < digits.length; k++) {
    let digit = digits.charCodeAt(digits.length - 1 - k) - 0x30;
    if (k % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return sum % 10 === 0;
}

function isCardNumber(digits: string): boolean {
  return !allSameChar(digits) && fitsCardIssuer(digits) && passesLuhn(digits);
}

/** How cards are printed: 13–19 digits in one group, in fours (4-4-4-1 to 4-4-4-4, and 4-4-4-4-3 for
 * 19 digits), or the Amex and Diners 4-6-5 and 4-6-4. */
function isCardLayout(lengths: readonly number[]): boolean {
  const [first, second, third, fourth, fifth] = lengths;
  switch (lengths.length) {
    case 1:
      return first !== undefined && first >= 13 && first <= 19;
    case 3:
      return first === 4 && second === 6 && (third === 5 || third === 4);
    case 4:
      return first === 4 && second === 4 && third === 4 && fourth !== undefined && fourth >= 1 && fourth <= 4;
    case 5:
      return first === 4 && second === 4 && third === 4 && fourth === 4 && fifth === 3;
    default:
      return false;
  }
}

function creditCardDetector(runs: DigitRuns): Detector {
  return digitRunDetector("credit-card", "CREDIT_CARD", runs, (text, run) => {
    // Spans of groups printed like a card, joined by one repeated space or hyphen.
    const cardShaped: Array<readonly [number, number]> = [];
    for (let first = 0; first < run.groups.length; first++) {
      const separator = singleSeparatorAfter(text, run, first);
      const lengths: number[] = [];
      for (let last = first; last < run.groups.length && lengths.length < 5; last++) {
        if (last > first && (separator === undefined || singleSeparatorAfter(text, run, last - 1) !== separator)) break;
        lengths.push(groupLength(run, last));
        if (isCardLayout(lengths) && !continuesThroughDot(text, run, first, last)) cardShaped.push([first, last]);
      }
    }
    // Only the widest count: the first 16 digits of a 19-digit number are no card of their own.
    const widest = cardShaped.filter(([first, last]) => !cardShaped.some(([f, l]) => f <= first && l >= last && l - f > last - first));
    return widest
      .filter(([first, last]) => isCardNumber(groupDigits(text, run, first, last)))
      .map(([first, last]) => ({ start: groupAt(run, first)[0], end: groupAt(run, last)[1], score: VALIDATED }));
  });
}

// ---------------------------------------------------------------------------------------------
// IBAN_CODE: country code, check digits, BBAN; compact or in groups of four; ISO 7064 mod 97-10.

/** IBAN length per country: the SWIFT IBAN registry (ISO 13616) with the French overseas territories
 * and Åland under their own codes, and the countries that use the format outside the registry
 * (much of West and Central Africa, Algeria, Morocco, Iran, Honduras). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AO: 25, AT: 20, AX: 18, AZ: 28, BA: 20, BE: 16, BF: 28, BG: 22, BH: 22, BI: 27,
  BJ: 28, BL: 27, BR: 29, BY: 28, CF: 27, CG: 27, CH: 21, CI: 28, CM: 27, CR: 22, CV: 25, CY: 28, CZ: 24,
  DE: 22, DJ: 27, DK: 18, DO: 28, DZ: 26, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GA: 27,
  GB: 22, GE: 22, GF: 27, GI: 23, GL: 18, GP: 27, GQ: 27, GR: 27, GT: 28, GW: 25, HN: 28, HR: 21, HU: 28,
  IE: 22, IL: 23, IQ: 23, IR: 26, IS: 26, IT: 27, JO: 30, KM: 27, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21,
  LT: 20, LU: 20, LV: 21, LY: 25, MA: 28, MC: 27, MD: 24, ME: 22, MF: 27, MG: 27, MK: 19, ML: 28, MN: 20,
  MQ: 27, MR: 27, MT: 31, MU: 30, MZ: 25, NC: 27, NE: 28, NI: 28, NL: 18, NO: 15, OM: 23, PF: 27, PK: 24,
  PL: 28, PM: 27, PS: 29, PT: 25, QA: 29, RE: 27, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24,
  SI: 19, SK: 24, SM: 27, SN: 28, SO: 23, ST: 25, SV: 28, TD: 27, TF: 27, TG: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, WF: 27, XK: 20, YE: 30, YT: 27,
};
/** The longest IBAN (33, Russia) in groups of four: 33 chars and 8 spaces. */
const IBAN_MAX_PRINTED = 41;

/** What a fixed-grammar matcher returns besides a match end: no match, or the text ran out first. */
const NO_MATCH = -1;
const NEEDS_MORE = -2;

/** An IBAN starting at `start`: upper case compact or in space-separated groups of four, or lower
 * case compact. Returns its end, NO_MATCH, or NEEDS_MORE when the text ends before it is complete.
 * The end of the text counts as a boundary (a stream holds such a match: see openFixedGrammar). */
function matchIban(text: string, start: number): number {
  const first = text.charCodeAt(start);
  const second = text.charCodeAt(start + 1);
  if (Number.isNaN(second)) return NEEDS_MORE;
  const upper = isUpper(first) && isUpper(second);
  if (!upper && !(isLower(first) && isLower(second))) return NO_MATCH;
  const length = IBAN_LENGTHS[text.slice(start, start + 2).toUpperCase()];
  if (length === undefined) return NO_MATCH;
  for (const k of [2, 3]) {
    const c = text.charCodeAt(start + k);
    if (Number.isNaN(c)) return NEEDS_MORE;
    if (!isDigit(c)) return NO_MATCH;
  }
  const spaced = upper && text.charCodeAt(start + 4) === SPACE;
  const isBbanChar = (c: number) => isDigit(c) || (upper ? isUpper(c) : isLower(c));
  let end = start + 4;
  for (let count = 4; count < length; count++) {
    if (spaced && count % 4 === 0) {
      const c = text.charCodeAt(end);
      if (Number.isNaN(c)) return NEEDS_MORE;
      if (c !== SPACE) return NO_MATCH;
      end++;
    }
    const c = text.charCodeAt(end);
    if (Number.isNaN(c)) return NEEDS_MORE;
    if (!isBbanChar(c)) return NO_MATCH;
    end++;
  }
  if (ibanRemainder(text, start, end) !== 1) return NO_MATCH;
  return isWordChar(text.charCodeAt(end)) ? NO_MATCH : end;
}

/** ISO 7064 mod 97-10: the country code and check digits move to the end, letters count as 10–35,
 * and the remainder mod 97 must be 1. Folded one char at a time, so no bigint is needed. */
function ibanRemainder(text: string, start: number, end: number): number {
  let remainder = 0;
  const fold = (k: number) => {
    const c = text.charCodeAt(k);
    if (isDigit(c)) remainder = (remainder * 10 + (c - 0x30)) % 97;
    else if (isLetter(c)) remainder = (remainder * 100 + (c | 0x20) - 0x61 + 10) % 97;
  };
  for (let k = start + 4; k < end; k++) fold(k);
  for (let k = start; k < start + 4; k++) fold(k);
  return remainder;
}

function ibanDetector(anchors: LetterPairAnchors): Detector {
  const id = "iban";
  return {
    id,
    entities: ["IBAN_CODE"],
    maxLength: IBAN_MAX_PRINTED,
    find(text, out) {
      let after = 0;
      for (const start of anchors.of(text)) {
        if (start < after || text.charCodeAt(start + 2) === SPACE) continue;
        const end = matchIban(text, start);
        if (end > 0) {
          out.push({ start, end, entity: "IBAN_CODE", score: VALIDATED, detector: id });
          after = end;
        }
      }
    },
    openCandidate: (text) => openFixedGrammar(text, IBAN_MAX_PRINTED, matchIban, 8),
  };
}

/** Streaming for fixed-grammar matchers (IBAN, NINO): the earliest token start where the match
 * needs more text or ends at the very end (the next char may void it), moved back to the start of
 * any complete match that crosses it. */
function openFixedGrammar(
  text: string,
  maxLength: number,
  match: (text: string, start: number) => number,
  strongAfter: number,
): OpenCandidate | undefined {
  const end = text.length;
  const complete: Array<readonly [number, number]> = [];
  for (let p = Math.max(0, end - 2 * maxLength); p < end; p++) {
    if (!isLetter(text.charCodeAt(p)) || isWordChar(text.charCodeAt(p - 1))) continue;
    const result = match(text, p);
    if (result === NEEDS_MORE || result === end) {
      let start = p;
      for (const [matchStart, matchEnd] of complete.slice().reverse()) if (matchStart < start && matchEnd > start) start = matchStart;
      return { start, strong: end - p >= strongAfter };
    }
    if (result > 0) complete.push([p, result]);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// US_SSN: AAA-GG-SSSS with one repeated separator (tier 1); nine bare digits with context (tier 2).

const SSN_CONTEXT: readonly Phrase[] = [["ssn"], ["social", "security"]];

/** SSA rules: no area 000, 666 or 900–999 (which also voids the advertising range 987-65-4320…4329),
 * no group 00, no serial 0000; and numbers the SSA voided after they were printed as samples. */
const VOIDED_SSNS: ReadonlySet<string> = new Set([
  "078051120", // Woolworth wallet insert, 1938
  "219099999", // Social Security Board pamphlet, 1940
  "123456789", // the textbook example
]);

function isPlausibleSsn(digits: string): boolean {
  const area = digits.slice(0, 3);
  return (
    area !== "000" &&
    area !== "666" &&
    area[0] !== "9" &&
    digits.slice(3, 5) !== "00" &&
    digits.slice(5) !== "0000" &&
    !allSameChar(digits) &&
    !VOIDED_SSNS.has(digits)
  );
}

function usSsnDetector(runs: DigitRuns): Detector {
  return digitRunDetector("us-ssn", "US_SSN", runs, (text, run) =>
    formattedSpans(text, run, [3, 2, 4], " -")
      .filter((span) => isPlausibleSsn(span.digits))
      .map((span) => ({ ...span, score: scoreWithContext(FORMAT_ONLY, text, span.start, SSN_CONTEXT) })),
  );
}

function unformattedSsnDetector(runs: DigitRuns): Detector {
  return digitRunDetector("us-ssn-unformatted", "US_SSN", runs, (text, run) => {
    const span = unformattedSpan(text, run, 9);
    if (!span || !isPlausibleSsn(span.digits) || !hasContextPhrase(text, span.start, SSN_CONTEXT)) return [];
    return [{ ...span, score: CONTEXT_GATED }];
  });
}

// ---------------------------------------------------------------------------------------------
// PHONE_NUMBER: digit runs shaped like a phone number, validated by libphonenumber (max metadata).

const PHONE_CONTEXT: readonly Phrase[] = [
  ...["phone", "tel", "telephone", "mobile", "cell", "call", "fax", "whatsapp", "sms", "msisdn", "landline", "cellphone", "phonenumber"].map((word) => [word]),
  ["text", "me"],
  ["reach", "me"],
  ["ring", "me"],
];
/** E.164 allows 15 digits; an international prefix such as 00 adds two. */
const PHONE_DIGITS = { min: 7, max: 17 };
/** Validation results by candidate: streams rescan the same text as it grows. */
const PHONE_CACHE_LIMIT = 4096;

function phoneNumberDetector(runs: DigitRuns, phoneRegions: readonly string[]): Detector {
  const regions = phoneRegions.map((region): CountryCode => {
    if (!isSupportedCountry(region)) throw new RangeError(`phoneRegions: "${region}" is not an ISO 3166 alpha-2 region libphonenumber knows (the United Kingdom is GB)`);
    return region;
  });
  const validity = new Map<string, boolean>();
  const isValidNumber = (candidate: string, international: boolean): boolean => {
    let valid = validity.get(candidate);
    if (valid === undefined) {
      valid = international
        ? parsePhoneNumberFromString(candidate, { extract: false })?.isValid() === true
        : regions.some((defaultCountry) => parsePhoneNumberFromString(candidate, { defaultCountry, extract: false })?.isValid() === true);
      if (validity.size >= PHONE_CACHE_LIMIT) validity.clear();
      validity.set(candidate, valid);
    }
    return valid;
  };
  return digitRunDetector("phone-number", "PHONE_NUMBER", runs, (text, run) => {
    const international = text.charCodeAt(run.start) === PLUS;
    if (!isPhoneShaped(text, run, international)) return [];
    // Without a phone word, a number that also validates as another identifier (an NHS number
    // printed 3-3-4 after "NHS") is that identifier: it takes the same span at a full score.
    if (isValidNumber(text.slice(run.start, run.end), international)) {
      return [{ start: run.start, end: run.end, score: international || hasContextPhrase(text, run.start, PHONE_CONTEXT) ? VALIDATED : UNCORROBORATED }];
    }
    // People write numbers libphonenumber rejects (unassigned area codes such as 555); after a phone
    // word a North American dialling plan shape is enough.
    const plausible = isNanpShaped(digitsBetween(text, run.start, run.end), international) && hasContextPhrase(text, run.start, PHONE_CONTEXT);
    return plausible ? [{ start: run.start, end: run.end, score: CONTEXT_GATED }] : [];
  });
}

/** NXX-NXX-XXXX, optionally after a country code 1 (ITU-T E.164 zone 1, NANP numbering plan). */
function isNanpShaped(digits: string, international: boolean): boolean {
  const national = digits.length === 11 && digits[0] === "1" ? digits.slice(1) : international ? "" : digits;
  return national.length === 10 && national[0] !== "0" && national[0] !== "1" && national[3] !== "0" && national[3] !== "1";
}

/** Cheap rejections before libphonenumber, which accepts many dates and decimals as some region's
 * number: digit count, bare runs without a phone word, dates, decimals, versions, year ranges and
 * dated references, thousands separators, SSN and card layouts, and digit soup. */
function isPhoneShaped(text: string, run: DigitRun, international: boolean): boolean {
  const digits = digitCount(run);
  if (digits < PHONE_DIGITS.min || digits > PHONE_DIGITS.max) return false;
  const lengths = run.groups.map(([start, end]) => end - start);
  if (lengths.length === 1 && !international) {
    // Bare digits are order numbers, ids and 13-digit epoch milliseconds unless a phone word precedes them.
    return digits !== 13 && hasContextPhrase(text, run.start, PHONE_CONTEXT);
  }
  const gaps = run.groups.slice(1).map(([start], g) => text.slice(groupAt(run, g)[1], start));
  const dotted = gaps.filter((gap) => gap.includes(".")).length;
  if (dotted > 0) {
    const national = international ? lengths.slice(1) : lengths;
    if (dotted < gaps.length || lengths.length === 2 || national.some((length) => length === 1)) return false; // decimals, coordinates, semver
    if (lengths.length === 4 && lengths.every((length) => length <= 3)) return false; // an IPv4 address
  }
  if (lengths.filter((length) => length === 1).length > 2) return false;
  if (!international && lengths.length === 2 && (lengths[1] ?? 0) <= 2) return false; // batch 82699-65, a lot or part number
  if (lengths.length === 3 && lengths[0] === 3 && lengths[1] === 2 && lengths[2] === 4) return false; // the SSN layout, not a dialling plan
  if (!international && digits >= 13 && isCardLayout(lengths)) return false; // a card's print layout, valid or not (cards never start with +)
  const groupValues = run.groups.map(([start, end]) => Number(text.slice(start, end)));
  if (startsWithDate(lengths, groupValues)) return false;
  if (lengths.length === 2 && lengths.every((length) => length === 4) && groupValues.every(isYear)) return false; // 2019-2024
  const yearLed = !international && lengths.length === 2 && lengths[0] === 4 && isYear(groupValues[0]) && /^[/-]$/.test(gaps[0] ?? "");
  if (yearLed) return false; // a dated reference: invoice 2023/92829
  const firstIsZero = text.charCodeAt(groupAt(run, 0)[0]) === 0x30;
  if (!international && !firstIsZero && (lengths[0] ?? 0) <= 3 && lengths.slice(1).every((length) => length === 3)) return false; // 1 234 567
  return true;
}

const isYear = (value: number | undefined) => value !== undefined && value >= 1900 && value <= 2099;
const isMonth = (value: number | undefined) => value !== undefined && value >= 1 && value <= 12;
const isDay = (value: number | undefined) => value !== undefined && value >= 1 && value <= 31;

/** ISO 8601 `2024-11-22`, and `22.11.2024` or `11/22/2024`, at the start of a run (`2024-11-22 05`). */
function startsWithDate(lengths: readonly number[], values: ReadonlyArray<number | undefined>): boolean {
  if (lengths.length < 3) return false;
  const [a, b, c] = values;
  if (lengths[0] === 4 && lengths[1] === 2 && lengths[2] === 2) return isYear(a) && isMonth(b) && isDay(c);
  return (lengths[0] ?? 0) <= 2 && (lengths[1] ?? 0) <= 2 && lengths[2] === 4 && isYear(c) && ((isDay(a) && isMonth(b)) || (isMonth(a) && isDay(b)));
}

// ---------------------------------------------------------------------------------------------
// IP_ADDRESS: tokens of `[0-9A-Fa-f:.]` around a separator, parsed by node:net.

/** The longest IPv6 text (45, with an embedded IPv4) plus sentence punctuation: a longer token is
 * no address. */
const IP_TOKEN_LIMIT = 48;
const isIpChar = (c: number) => isHex(c) || c === DOT || c === COLON;
/** "version 10.0.0.1", "build 1.2.3.4": four numbers that are no address. */
const VERSION_WORDS: ReadonlySet<string> = new Set(["version", "ver", "v", "build", "release", "firmware"]);

/** Private (RFC 1918, RFC 4193), loopback and link-local networks: masked only when the policy says. */
const LOCAL_NETWORKS = new BlockList();
for (const [network, prefix] of [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["127.0.0.0", 8], ["169.254.0.0", 16]] as const) {
  LOCAL_NETWORKS.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [["::1", 128], ["fc00::", 7], ["fe80::", 10]] as const) LOCAL_NETWORKS.addSubnet(network, prefix, "ipv6");

/** Tokens of hex digits, dots and colons around an IPv4 or IPv6 anchor: `1.2.3` (an IPv4 address
 * has three dots) or two colons around at most four hex digits (every IPv6 address has `::` or
 * `h:h:`, and so has every colon-separated MAC address). One pass per text, shared by the IP and
 * MAC detectors; a dot or colon at a fixed offset lets V8 skip ahead. */
class HexColonTokens {
  private text: string | undefined;
  private tokens: Array<{ start: number; end: number; fits: boolean }> = [];
  private hyphens: number[] = [];
  /** The IP anchors, and `h-hh-hh-` where a hyphen-separated MAC address may start: one
   * alternation costs far less than a second pass over the text. */
  private readonly anchor = /\d\.\d{1,3}\.\d|[\dA-Fa-f]:[\dA-Fa-f]{0,4}:|::|[\dA-Fa-f]-[\dA-Fa-f]{2}-[\dA-Fa-f]{2}-/g;

  of(text: string): Array<{ start: number; end: number; fits: boolean }> {
    this.scan(text);
    return this.tokens;
  }

  /** Where a `-hh-hh-` run begins (its first hyphen), in order. */
  hyphenRuns(text: string): number[] {
    this.scan(text);
    return this.hyphens;
  }

  private scan(text: string): void {
    if (text === this.text) return;
    const tokens: Array<{ start: number; end: number; fits: boolean }> = [];
    const hyphens: number[] = [];
    this.anchor.lastIndex = 0;
    while (this.anchor.test(text)) {
      const last = this.anchor.lastIndex - 1;
      if (text.charCodeAt(last) === HYPHEN) {
        hyphens.push(last - 6);
        this.anchor.lastIndex = last - 5;
        continue;
      }
      const token = tokenAround(text, last, isIpChar, IP_TOKEN_LIMIT);
      this.anchor.lastIndex = token.end;
      tokens.push(token);
    }
    this.tokens = tokens;
    this.hyphens = hyphens;
    this.text = text;
  }
}

function ipAddressDetector(maskPrivateIps: boolean, hexTokens: HexColonTokens): Detector {
  const id = "ip-address";
  return {
    id,
    entities: ["IP_ADDRESS"],
    maxLength: IP_TOKEN_LIMIT,
    find(text, out) {
      for (const token of hexTokens.of(text)) {
        const address = token.fits ? addressIn(text, token.start, token.end) : undefined;
        if (address && (maskPrivateIps || !LOCAL_NETWORKS.check(address.value, address.family))) {
          out.push({ start: token.start, end: token.start + address.value.length, entity: "IP_ADDRESS", score: VALIDATED, detector: id });
        }
      }
    },
    openCandidate: (text) => openToken(text, isIpChar, IP_TOKEN_LIMIT, 2),
  };
}

/** The address a token holds: the whole token, or without trailing sentence dots or a colon, or an
 * IPv4 address before `:port`. Tokens inside words (`v1.2.3.4`, `std::`) and after a version word
 * hold none. */
function addressIn(text: string, start: number, end: number): { value: string; family: "ipv4" | "ipv6" } | undefined {
  if (isWordChar(text.charCodeAt(start - 1)) || isWordChar(text.charCodeAt(end))) return undefined;
  let value = text.slice(start, end).replace(/\.+$/, "");
  if (value.endsWith(":") && !value.endsWith("::")) value = value.slice(0, -1);
  const port = /^([\d.]{7,15}):\d{1,5}$/.exec(value);
  if (port?.[1]) value = port[1];
  if (isIPv4(value)) {
    const previous = wordsBefore(text, start, 1)[0];
    return previous !== undefined && VERSION_WORDS.has(previous) ? undefined : { value, family: "ipv4" };
  }
  // A digit keeps out code such as `A::B` or `be::ef`, which parse as IPv6.
  return isIPv6(value) && /\d/.test(value) ? { value, family: "ipv6" } : undefined;
}

/** The maximal run of `isTokenChar` around `at`; `fits` is false when it is longer than `limit`. */
function tokenAround(text: string, at: number, isTokenChar: (c: number) => boolean, limit: number): { start: number; end: number; fits: boolean } {
  let start = at;
  while (at - start <= limit && isTokenChar(text.charCodeAt(start - 1))) start--;
  let end = at + 1;
  while (isTokenChar(text.charCodeAt(end))) end++;
  return { start, end, fits: end - start <= limit };
}

/** Streaming for token detectors (IP, MAC): the trailing token, unless it is already too long or glued
 * to a word. Strong once it has `strongSeparators` separators. */
function openToken(text: string, isTokenChar: (c: number) => boolean, limit: number, strongSeparators: number): OpenCandidate | undefined {
  const end = text.length;
  let start = end;
  while (end - start <= limit && isTokenChar(text.charCodeAt(start - 1))) start--;
  if (start === end || end - start > limit || isWordChar(text.charCodeAt(start - 1))) return undefined;
  let separators = 0;
  for (let k = start; k < end; k++) if (!isHex(text.charCodeAt(k))) separators++;
  return { start, strong: separators >= strongSeparators };
}

// ---------------------------------------------------------------------------------------------
// Tier 2 (masking.md §2): on only when the tenant opts in; context words and/or a checksum.

const ITIN_CONTEXT: readonly Phrase[] = [["itin"], ["taxpayer"], ["tax", "id"], ["tax", "identification"]];
const ABA_CONTEXT: readonly Phrase[] = [["aba"], ["routing"], ["rtn"], ["abarouting"], ["bankrouting"]];
const NHS_CONTEXT: readonly Phrase[] = [["nhs"], ["health", "service"], ["health", "authority"]];
const NINO_CONTEXT: readonly Phrase[] = [["nino"], ["national", "insurance"], ["ni", "number"]];
const SIN_CONTEXT: readonly Phrase[] = [["sin"], ["social", "insurance"]];

// Bank account, passport and driver's licence numbers have no checksum and no common format: only
// a run of digits right after its context word is taken. A cheap look at the characters before a
// run keeps the word-level context check off the many runs of a PII-free document.
const BANK_ACCOUNT_CONTEXT: readonly Phrase[] = [["account", "number"], ["account", "no"], ["account", "num"], ["bank", "account"], ["acct"], ["acct", "no"], ["checking", "account"], ["savings", "account"], ["accountnumber"], ["bankaccount"]];
const PASSPORT_CONTEXT: readonly Phrase[] = [["passport"], ["passport", "number"], ["passport", "no"], ["passportnumber"]];
const DRIVER_LICENCE_CONTEXT: readonly Phrase[] = [
  ["driver", "license"], ["driver", "licence"], ["driver", "s", "license"], ["driver", "s", "licence"], ["drivers", "license"], ["drivers", "licence"],
  ["driving", "licence"], ["driving", "license"], ["dl"], ["dl", "number"], ["dl", "no"], ["driverlicense"], ["driverslicense"], ["licence", "number"], ["license", "number"],
];
const CONTEXT_DIGITS_HINT = /acc|acct|passp|licen|dl|driv/i;
const CONTEXT_DIGITS_REACH = 48;

function contextDigitsDetector(runs: DigitRuns): Detector {
  const id = "context-digits";
  const families: ReadonlyArray<{ entity: string; phrases: readonly Phrase[]; min: number; max: number }> = [
    { entity: "BANK_ACCOUNT", phrases: BANK_ACCOUNT_CONTEXT, min: 6, max: 17 },
    { entity: "PASSPORT", phrases: PASSPORT_CONTEXT, min: 7, max: 12 },
    { entity: "DRIVER_LICENSE", phrases: DRIVER_LICENCE_CONTEXT, min: 5, max: 15 },
  ];
  return {
    id,
    entities: families.map((family) => family.entity),
    maxLength: RUN_LIMIT,
    find(text, out) {
      for (const run of runs.of(text)) {
        if (run.groups.length !== 1 || text.charCodeAt(run.start) === PLUS) continue;
        const [start, end] = run.groups[0]!;
        const length = end - start;
        if (length < 5 || length > 17) continue;
        if (!CONTEXT_DIGITS_HINT.test(text.slice(Math.max(0, start - CONTEXT_DIGITS_REACH), start))) continue;
        for (const family of families) {
          if (length >= family.min && length <= family.max && hasContextPhrase(text, start, family.phrases)) {
            // A full score: after its context word the number is this identifier, not a phone
            // number that happens to validate (UNCORROBORATED gives way on the same span).
            out.push({ start, end, entity: family.entity, score: VALIDATED, detector: id });
            break;
          }
        }
      }
    },
    openCandidate: openDigitRun,
  };
}

/** Dates of birth: a calendar date written with digits (`03/14/1985`, `14.03.1985`, `1985-03-14`,
 * `14-03-1985`) right after "DOB", "date of birth", "born (on)", "birthday" or "birth date". Any
 * other date (an order's, a log line's) is no personal data and is left alone. */
const DOB_CONTEXT: readonly Phrase[] = [["dob"], ["d", "o", "b"], ["date", "of", "birth"], ["born"], ["born", "on"], ["birthday"], ["birth", "date"], ["birthdate"], ["dateofbirth"]];
const DOB_HINT = /dob|d\.o\.b|birth|born/i;

function isCalendarDate(year: number, month: number, day: number): boolean {
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dateOfBirthDetector(runs: DigitRuns): Detector {
  const id = "date-of-birth";
  return digitRunDetector(id, "DATE_OF_BIRTH", runs, (text, run) => {
    if (run.groups.length < 3 || text.charCodeAt(run.start) === PLUS) return [];
    const spans: Array<{ start: number; end: number; score: number }> = [];
    /** The one `/`, `-` or `.` between group g and the next. */
    const separatorAfter = (g: number) => {
      const from = groupAt(run, g)[1];
      const c = text.charCodeAt(from);
      return groupAt(run, g + 1)[0] === from + 1 && (c === SLASH || c === HYPHEN || c === DOT) ? c : undefined;
    };
    for (let first = 0; first + 2 < run.groups.length; first++) {
      const separator = separatorAfter(first);
      if (separator === undefined || separatorAfter(first + 1) !== separator) continue;
      const lengths = [0, 1, 2].map((k) => groupLength(run, first + k));
      const [a, b, c] = [0, 1, 2].map((k) => Number(groupDigits(text, run, first + k, first + k)));
      let valid = false;
      if (lengths[0] === 4 && lengths[1] === 2 && lengths[2] === 2) valid = isCalendarDate(a!, b!, c!);
      else if (lengths[0]! <= 2 && lengths[1]! <= 2 && lengths[2] === 4) valid = isCalendarDate(c!, a!, b!) || isCalendarDate(c!, b!, a!);
      if (!valid) continue;
      const start = groupAt(run, first)[0];
      if (!DOB_HINT.test(text.slice(Math.max(0, start - 48), start)) || !hasContextPhrase(text, start, DOB_CONTEXT)) continue;
      spans.push({ start, end: groupAt(run, first + 2)[1], score: VALIDATED });
    }
    return spans;
  });
}

/** IRS ITIN: area 9XX and a group in 50–65, 70–88, 90–92 or 94–99. Formatted ones stand alone; bare
 * nine digits need a context word. */
function usItinDetector(runs: DigitRuns): Detector {
  const isItin = (digits: string) => {
    const group = Number(digits.slice(3, 5));
    return digits[0] === "9" && ((group >= 50 && group <= 65) || (group >= 70 && group <= 88) || (group >= 90 && group <= 92) || group >= 94);
  };
  return digitRunDetector("us-itin", "US_ITIN", runs, (text, run) => {
    const formatted = formattedSpans(text, run, [3, 2, 4], " -")
      .filter((span) => isItin(span.digits))
      .map((span) => ({ ...span, score: scoreWithContext(FORMAT_ONLY, text, span.start, ITIN_CONTEXT) }));
    const bare = unformattedSpan(text, run, 9);
    if (bare && isItin(bare.digits) && hasContextPhrase(text, bare.start, ITIN_CONTEXT)) formatted.push({ ...bare, score: CONTEXT_GATED });
    return formatted;
  });
}

/** ABA routing transit number: Federal Reserve prefix 00–12, 21–32, 61–72 or 80 and the 3-7-1
 * checksum; nine digits or 4-4-1, always with a context word. */
function abaRoutingDetector(runs: DigitRuns): Detector {
  const isRoutingNumber = (digits: string) => {
    const prefix = Number(digits.slice(0, 2));
    if (!(prefix <= 12 || (prefix >= 21 && prefix <= 32) || (prefix >= 61 && prefix <= 72) || prefix === 80)) return false;
    const d = [...digits].map(Number);
    const [d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0, d6 = 0, d7 = 0, d8 = 0, d9 = 0] = d;
    return (3 * (d1 + d4 + d7) + 7 * (d2 + d5 + d8) + (d3 + d6 + d9)) % 10 === 0;
  };
  return digitRunDetector("aba-routing", "ABA_ROUTING", runs, (text, run) =>
    [unformattedSpan(text, run, 9), ...formattedSpans(text, run, [4, 4, 1], "-")]
      .filter((span): span is DigitSpan => span !== undefined && isRoutingNumber(span.digits) && hasContextPhrase(text, span.start, ABA_CONTEXT))
      .map((span) => ({ ...span, score: VALIDATED })),
  );
}

/** NHS number: ten digits, the last a mod 11 check over the first nine weighted 10..2 (a check of 10
 * is never issued). Bare ten digits (epoch seconds look alike) always need a context word; 3-3-4
 * needs one too unless opted in (one US phone number in eleven printed 3-3-4 passes mod 11). */
function ukNhsDetector(runs: DigitRuns, formattedNeedsContext = false): Detector {
  const isNhsNumber = (digits: string) => {
    let sum = 0;
    for (let k = 0; k < 9; k++) sum += Number(digits[k]) * (10 - k);
    const check = (11 - (sum % 11)) % 11;
    return check !== 10 && check === Number(digits[9]);
  };
  return digitRunDetector("uk-nhs", "UK_NHS", runs, (text, run) => {
    const spans = formattedSpans(text, run, [3, 3, 4], " -").filter((span) => isNhsNumber(span.digits) && (!formattedNeedsContext || hasContextPhrase(text, span.start, NHS_CONTEXT)));
    const bare = unformattedSpan(text, run, 10);
    if (bare && isNhsNumber(bare.digits) && hasContextPhrase(text, bare.start, NHS_CONTEXT)) spans.push(bare);
    return spans.map((span) => ({ ...span, score: VALIDATED }));
  });
}

/** Canadian SIN: nine digits (3-3-3 or bare), first digit not 0 or 8 (never assigned to people), Luhn,
 * always with a context word. */
function caSinDetector(runs: DigitRuns): Detector {
  return digitRunDetector("ca-sin", "CA_SIN", runs, (text, run) =>
    [unformattedSpan(text, run, 9), ...formattedSpans(text, run, [3, 3, 3], " -")]
      .filter(
        (span): span is DigitSpan =>
          span !== undefined && span.digits[0] !== "0" && span.digits[0] !== "8" && passesLuhn(span.digits) && hasContextPhrase(text, span.start, SIN_CONTEXT),
      )
      .map((span) => ({ ...span, score: VALIDATED })),
  );
}

/** PESEL: eleven digits, a birth date (month + 80/0/20/40/60 for the 1800s…2200s) and the check
 * digit (10 − Σ weights 1,3,7,9 mod 10) mod 10. */
function plPeselDetector(runs: DigitRuns): Detector {
  const isPesel = (digits: string) => {
    const d = [...digits].map(Number);
    const weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    const sum = weights.reduce((total, weight, k) => total + weight * (d[k] ?? 0), 0);
    if ((10 - (sum % 10)) % 10 !== d[10]) return false;
    const encodedMonth = Number(digits.slice(2, 4));
    const century = [1900, 2000, 2100, 2200, 1800][Math.floor(encodedMonth / 20)];
    const month = encodedMonth % 20;
    const day = Number(digits.slice(4, 6));
    if (century === undefined || month < 1 || month > 12 || day < 1) return false;
    const date = new Date(Date.UTC(century + Number(digits.slice(0, 2)), month - 1, day));
    return date.getUTCDate() === day;
  };
  return digitRunDetector("pl-pesel", "PL_PESEL", runs, (text, run) => {
    const span = unformattedSpan(text, run, 11);
    return span && isPesel(span.digits) ? [{ ...span, score: VALIDATED }] : [];
  });
}

/** UK National Insurance number (HMRC NIM39110): two prefix letters, neither D, F, I, Q, U or V, the
 * second not O, and not BG, GB, KN, NK, NT, TN or ZZ; six digits; suffix A–D. `QQ123456C` or
 * `QQ 12 34 56 C`. */
function matchNino(text: string, start: number): number {
  const invalidFirst = "DFIQUV";
  const invalidSecond = "DFIOQUV";
  const invalidPrefixes = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"];
  const expect = (k: number, test: (c: number) => boolean) => {
    const c = text.charCodeAt(k);
    return Number.isNaN(c) ? NEEDS_MORE : test(c) ? k + 1 : NO_MATCH;
  };
  const letters = [(c: number) => isUpper(c) && !invalidFirst.includes(String.fromCharCode(c)), (c: number) => isUpper(c) && !invalidSecond.includes(String.fromCharCode(c))];
  let at = start;
  for (const letter of letters) {
    at = expect(at, letter);
    if (at < 0) return at;
  }
  if (invalidPrefixes.includes(text.slice(start, start + 2))) return NO_MATCH;
  // d: a digit, S: the suffix letter.
  const pattern = text.charCodeAt(at) === SPACE ? " dd dd dd S" : "ddddddS";
  for (const part of pattern) {
    at = expect(at, part === " " ? (c) => c === SPACE : part === "d" ? isDigit : (c) => c >= 0x41 && c <= 0x44);
    if (at < 0) return at;
  }
  return isWordChar(text.charCodeAt(at)) ? NO_MATCH : at;
}

/** Characters that glue a NINO-shaped code into a longer identifier (`SKU-AB123456C`, `x/AB123456C`). */
const NINO_GLUE = new Set([HYPHEN, 0x5f, SLASH, DOT, 0x23]);

/** On by default: the strict HMRC format after whitespace, a quote, a bracket or `:`/`=`, or anywhere
 * after a context word; opted in, after any word boundary. */
function ukNinoDetector(anchors: LetterPairAnchors, optedIn = false): Detector {
  const id = "uk-nino";
  const maxLength = "QQ 12 34 56 C".length;
  return {
    id,
    entities: ["UK_NINO"],
    maxLength,
    find(text, out) {
      let after = 0;
      for (const start of anchors.of(text)) {
        if (start < after || !isUpper(text.charCodeAt(start)) || !isUpper(text.charCodeAt(start + 1))) continue;
        const end = matchNino(text, start);
        if (end <= 0) continue;
        const score = scoreWithContext(FORMAT_ONLY, text, start, NINO_CONTEXT);
        if (!optedIn && score === FORMAT_ONLY && NINO_GLUE.has(text.charCodeAt(start - 1))) continue;
        out.push({ start, end, entity: "UK_NINO", score, detector: id });
        after = end;
      }
    },
    openCandidate: (text) => openFixedGrammar(text, maxLength, matchNino, 5),
  };
}

/** MAC-48 as six hex pairs joined by `:` or `-` (IEEE 802), or Cisco's three dotted quads; not
 * 00:00:00:00:00:00 or ff:ff:ff:ff:ff:ff, which name no device. */
const MAC_TOKEN_LIMIT = "00:00:00:00:00:00.".length;
const isMacChar = (c: number) => isHex(c) || c === COLON || c === HYPHEN || c === DOT;

/** `hh:hh:hh:hh:hh:hh` or `hh-hh-…` (a separator after every pair), or `hhhh.hhhh.hhhh`. */
function isMacLayout(value: string): boolean {
  const separator = value.length === 17 ? value[2] : value.length === 14 ? "." : undefined;
  if (separator !== ":" && separator !== "-" && separator !== ".") return false;
  const groupWidth = separator === "." ? 4 : 2;
  return [...value].every((char, k) => ((k + 1) % (groupWidth + 1) === 0 ? char === separator : isHex(char.charCodeAt(0))));
}

/** `hh:hh:hh:hh:hh:hh` or `hh-hh-hh-hh-hh-hh` whose separator is at `at` (any of the five). */
function macAround(text: string, at: number): number | undefined {
  const separator = text.charCodeAt(at);
  // The first separator of the address: at most four before this one.
  for (let first = at; first >= at - 12 && first >= 2; first -= 3) {
    const start = first - 2;
    if (text.charCodeAt(first) !== separator) break;
    let ok = true;
    for (let k = 0; k < 17 && ok; k++) {
      const c = text.charCodeAt(start + k);
      ok = k % 3 === 2 ? c === separator : isHex(c);
    }
    if (ok) return start;
  }
  return undefined;
}

function macAddressDetector(hexTokens: HexColonTokens, optedIn = false): Detector {
  const id = "mac-address";
  // Cisco's dotted quads (opt-in): two dots after quads at fixed offsets (so V8 skips ahead).
  const dotted = /[\dA-Fa-f][\dA-Fa-f][\dA-Fa-f][\dA-Fa-f]\.[\dA-Fa-f][\dA-Fa-f][\dA-Fa-f][\dA-Fa-f]\./g;
  const report = (text: string, out: Finding[], start: number, end: number) => {
    // Exactly the address: no hex, separator or word character glued on (a fingerprint has 16
    // pairs, an IPv6 address groups of four, a hash no separators).
    if (isWordChar(text.charCodeAt(start - 1)) || isWordChar(text.charCodeAt(end)) || isMacChar(text.charCodeAt(start - 1))) return;
    const next = text.charCodeAt(end);
    if ((next === COLON || next === HYPHEN || next === DOT) && isHex(text.charCodeAt(end + 1))) return;
    const value = text.slice(start, end);
    if (isMacLayout(value) && !allSameChar(value.replace(/[:.-]/g, "").toLowerCase())) out.push({ start, end, entity: "MAC_ADDRESS", score: FORMAT_ONLY, detector: id });
  };
  return {
    id,
    entities: ["MAC_ADDRESS"],
    maxLength: MAC_TOKEN_LIMIT,
    find(text, out) {
      // Colons: every such MAC is one of the IP detector's tokens (`h:hh:` is its IPv6 anchor).
      for (const token of hexTokens.of(text)) {
        if (token.end - token.start < 17 || token.end - token.start > 18) continue;
        if (text.charCodeAt(token.start + 2) === COLON) report(text, out, token.start, token.start + 17);
      }
      let after = 0;
      for (const at of hexTokens.hyphenRuns(text)) {
        if (at < after) continue;
        const start = macAround(text, at);
        if (start === undefined) continue;
        after = start + 17;
        report(text, out, start, start + 17);
      }
      if (!optedIn) return;
      dotted.lastIndex = 0;
      while (dotted.test(text)) {
        const token = tokenAround(text, dotted.lastIndex - 1, isMacChar, MAC_TOKEN_LIMIT);
        dotted.lastIndex = token.end;
        if (!token.fits || isWordChar(text.charCodeAt(token.start - 1)) || isWordChar(text.charCodeAt(token.end))) continue;
        const value = text.slice(token.start, token.end).replace(/\.$/, "");
        if (value.length === 14) report(text, out, token.start, token.start + 14);
      }
    },
    openCandidate: (text) => openToken(text, isMacChar, MAC_TOKEN_LIMIT, 2),
  };
}
