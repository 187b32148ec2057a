// National identity numbers and identity documents: US SSN and ITIN, UK NHS number and NINO,
// Canadian SIN, Polish PESEL; bank account, passport and driver's licence numbers and dates of
// birth after their context word.
import { CONTEXT_GATED, FORMAT_ONLY, hasContextPhrase, scoreWithContext, VALIDATED, type Phrase } from "../context.js";
import { allSameChar, CODE_DASH, CODE_DOT, CODE_PLUS, CODE_SLASH, CODE_SPACE, isDigit, isUpper, isWordChar, NO_MATCH, RAN_OUT } from "../lexer.js";
import type { Detector } from "../types.js";
import { digitRunDetector, formattedSpans, groupAt, groupDigits, groupLength, openDigitRun, RUN_LIMIT, unformattedSpan, type DigitRuns, type DigitSpan } from "./digitRuns.js";
import { passesLuhn } from "./financial.js";
import { openFixedGrammar, type LetterPairAnchors } from "./letterPairs.js";

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

export function usSsnDetector(runs: DigitRuns): Detector {
  return digitRunDetector("us-ssn", "US_SSN", runs, (text, run) =>
    formattedSpans(text, run, [3, 2, 4], " -")
      .filter((span) => isPlausibleSsn(span.digits))
      .map((span) => ({ ...span, score: scoreWithContext(FORMAT_ONLY, text, span.start, SSN_CONTEXT) })),
  );
}

export function unformattedSsnDetector(runs: DigitRuns): Detector {
  return digitRunDetector("us-ssn-unformatted", "US_SSN", runs, (text, run) => {
    const span = unformattedSpan(text, run, 9);
    if (!span || !isPlausibleSsn(span.digits) || !hasContextPhrase(text, span.start, SSN_CONTEXT)) return [];
    return [{ ...span, score: CONTEXT_GATED }];
  });
}

// ---------------------------------------------------------------------------------------------
// Tier 2 (masking.md §2): on only when the tenant opts in; context words and/or a checksum.

const ITIN_CONTEXT: readonly Phrase[] = [["itin"], ["taxpayer"], ["tax", "id"], ["tax", "identification"]];
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

export function contextDigitsDetector(runs: DigitRuns): Detector {
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
        if (run.groups.length !== 1 || text.charCodeAt(run.start) === CODE_PLUS) continue;
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

export function dateOfBirthDetector(runs: DigitRuns): Detector {
  const id = "date-of-birth";
  return digitRunDetector(id, "DATE_OF_BIRTH", runs, (text, run) => {
    if (run.groups.length < 3 || text.charCodeAt(run.start) === CODE_PLUS) return [];
    const spans: Array<{ start: number; end: number; score: number }> = [];
    /** The one `/`, `-` or `.` between group g and the next. */
    const separatorAfter = (g: number) => {
      const from = groupAt(run, g)[1];
      const c = text.charCodeAt(from);
      return groupAt(run, g + 1)[0] === from + 1 && (c === CODE_SLASH || c === CODE_DASH || c === CODE_DOT) ? c : undefined;
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
export function usItinDetector(runs: DigitRuns): Detector {
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

/** NHS number: ten digits, the last a mod 11 check over the first nine weighted 10..2 (a check of 10
 * is never issued). Bare ten digits (epoch seconds look alike) always need a context word; 3-3-4
 * needs one too unless opted in (one US phone number in eleven printed 3-3-4 passes mod 11). */
export function ukNhsDetector(runs: DigitRuns, formattedNeedsContext = false): Detector {
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
export function caSinDetector(runs: DigitRuns): Detector {
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
export function plPeselDetector(runs: DigitRuns): Detector {
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
    return Number.isNaN(c) ? RAN_OUT : test(c) ? k + 1 : NO_MATCH;
  };
  const letters = [(c: number) => isUpper(c) && !invalidFirst.includes(String.fromCharCode(c)), (c: number) => isUpper(c) && !invalidSecond.includes(String.fromCharCode(c))];
  let at = start;
  for (const letter of letters) {
    at = expect(at, letter);
    if (at < 0) return at;
  }
  if (invalidPrefixes.includes(text.slice(start, start + 2))) return NO_MATCH;
  // d: a digit, S: the suffix letter.
  const pattern = text.charCodeAt(at) === CODE_SPACE ? " dd dd dd S" : "ddddddS";
  for (const part of pattern) {
    at = expect(at, part === " " ? (c) => c === CODE_SPACE : part === "d" ? isDigit : (c) => c >= 0x41 && c <= 0x44);
    if (at < 0) return at;
  }
  return isWordChar(text.charCodeAt(at)) ? NO_MATCH : at;
}

/** Characters that glue a NINO-shaped code into a longer identifier (`SKU-AB123456C`, `x/AB123456C`). */
const NINO_GLUE = new Set([CODE_DASH, 0x5f, CODE_SLASH, CODE_DOT, 0x23]);

/** On by default: the strict HMRC format after whitespace, a quote, a bracket or `:`/`=`, or anywhere
 * after a context word; opted in, after any word boundary. */
export function ukNinoDetector(anchors: LetterPairAnchors, optedIn = false): Detector {
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
