// Contact details: email addresses and phone numbers.
import { createRequire } from "node:module";
import { domainToASCII } from "node:url";
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import { CONTEXT_GATED, hasContextPhrase, UNCORROBORATED, VALIDATED, type Phrase } from "../context.js";
import { CODE_AT, CODE_COLON, CODE_DOT, CODE_PLUS, CODE_SLASH, CODE_SPACE, digitsBetween, DOMAIN_LIMIT, isAlnum, isEmailLocalChar, LOCAL_PART_LIMIT } from "../lexer.js";
import type { Detector } from "../types.js";
import { digitCount, digitRunDetector, groupAt, type DigitRun, type DigitRuns } from "./digitRuns.js";
import { isCardLayout } from "./financial.js";

// EMAIL_ADDRESS: anchored on '@', expanded both ways within RFC 5321 §4.5.3.1 limits.

/** A path is at most 256 chars with its angle brackets. */
const ADDRESS_LIMIT = 254;
/** The domain side may end in sentence dots, which are not part of the address. */
const DOMAIN_RUN_LIMIT = DOMAIN_LIMIT + 1;
const EMAIL_TOKEN_LIMIT = LOCAL_PART_LIMIT + 1 + DOMAIN_RUN_LIMIT;

const isEmailChar = (c: number) => isEmailLocalChar(c) || c === CODE_AT;

/** IANA's TLDs, bundled by the `tlds` package (no runtime fetch), with IDN TLDs also in punycode. */
const TOP_LEVEL_DOMAINS: ReadonlySet<string> = new Set(
  (createRequire(import.meta.url)("tlds") as string[]).flatMap((tld) => [tld, domainToASCII(tld)]).filter(Boolean),
);

export function emailDetector(): Detector {
  const id = "email";
  return {
    id,
    entities: ["EMAIL_ADDRESS"],
    maxLength: EMAIL_TOKEN_LIMIT,
    find(text, out) {
      for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
        let start = at;
        while (at - start < LOCAL_PART_LIMIT && isEmailLocalChar(text.charCodeAt(start - 1))) start--;
        if (isEmailChar(text.charCodeAt(start - 1))) continue; // local part too long, or a second '@'
        if (isUrlPassword(text, start)) continue;
        let end = at + 1;
        while (end - at - 1 < DOMAIN_RUN_LIMIT && isEmailLocalChar(text.charCodeAt(end))) end++;
        if (isEmailChar(text.charCodeAt(end))) continue;
        while (text.charCodeAt(end - 1) === CODE_DOT) end--;
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
        if (text.charCodeAt(start) === CODE_AT) {
          ats++;
          lastAt = start;
        }
      }
      if (start === end || end - start > EMAIL_TOKEN_LIMIT || ats > 1 || text.charCodeAt(start) === CODE_DOT) return undefined;
      const localLength = (ats === 1 ? lastAt : end) - start;
      if (localLength > LOCAL_PART_LIMIT || (ats === 1 && (localLength === 0 || end - lastAt - 1 > DOMAIN_RUN_LIMIT))) return undefined;
      let addressEnd = end; // more text can only lengthen the address, whose trailing dots do not count
      while (addressEnd > start && text.charCodeAt(addressEnd - 1) === CODE_DOT) addressEnd--;
      if (addressEnd - start > ADDRESS_LIMIT) return undefined;
      return { start, strong: ats === 1 };
    },
  };
}

/** `scheme://user:password@host`: what precedes the '@' is a URL credential (the secret detectors'
 * URL_CREDENTIALS), not an address; `mailto:` and `user@host` in URLs stay addresses. */
function isUrlPassword(text: string, localStart: number): boolean {
  if (text.charCodeAt(localStart - 1) !== CODE_COLON) return false;
  for (let k = localStart - 2; k >= 2 && localStart - k <= LOCAL_PART_LIMIT + 2; k--) {
    const c = text.charCodeAt(k);
    if (c === CODE_SLASH) return text.charCodeAt(k - 1) === CODE_SLASH && text.charCodeAt(k - 2) === CODE_COLON;
    if (c === CODE_AT || c <= CODE_SPACE || c === 0x22) return false;
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

export function phoneNumberDetector(runs: DigitRuns, phoneRegions: readonly string[]): Detector {
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
    const international = text.charCodeAt(run.start) === CODE_PLUS;
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
