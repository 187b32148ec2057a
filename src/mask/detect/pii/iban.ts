// IBAN_CODE: country code, check digits, BBAN; compact or in groups of four; ISO 7064 mod 97-10.
import { CODE_SPACE, isDigit, isLetter, isLower, isUpper, isWordChar, NO_MATCH, RAN_OUT } from "../lexer.js";
import { VALIDATED } from "../context.js";
import type { Detector } from "../types.js";
import { openFixedGrammar, type LetterPairAnchors } from "./letterPairs.js";

/** IBAN length per country: the SWIFT IBAN registry (ISO 13616) with the French overseas territories
 * and Åland under their own codes, and the countries that use the format outside the registry
 * (much of West and Central Africa, Algeria, Morocco, Iran, Honduras). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
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

/** An IBAN starting at `start`: upper case compact or in space-separated groups of four, or lower
 * case compact. Returns its end, NO_MATCH, or RAN_OUT when the text ends before it is complete.
 * The end of the text counts as a boundary (a stream holds such a match: see openFixedGrammar). */
function matchIban(text: string, start: number): number {
  const first = text.charCodeAt(start);
  const second = text.charCodeAt(start + 1);
  if (Number.isNaN(second)) return RAN_OUT;
  const upper = isUpper(first) && isUpper(second);
  if (!upper && !(isLower(first) && isLower(second))) return NO_MATCH;
  const length = IBAN_LENGTHS[text.slice(start, start + 2).toUpperCase()];
  if (length === undefined) return NO_MATCH;
  for (const k of [2, 3]) {
    const c = text.charCodeAt(start + k);
    if (Number.isNaN(c)) return RAN_OUT;
    if (!isDigit(c)) return NO_MATCH;
  }
  const spaced = upper && text.charCodeAt(start + 4) === CODE_SPACE;
  const isBbanChar = (c: number) => isDigit(c) || (upper ? isUpper(c) : isLower(c));
  let end = start + 4;
  for (let count = 4; count < length; count++) {
    if (spaced && count % 4 === 0) {
      const c = text.charCodeAt(end);
      if (Number.isNaN(c)) return RAN_OUT;
      if (c !== CODE_SPACE) return NO_MATCH;
      end++;
    }
    const c = text.charCodeAt(end);
    if (Number.isNaN(c)) return RAN_OUT;
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

export function ibanDetector(anchors: LetterPairAnchors): Detector {
  const id = "iban";
  return {
    id,
    entities: ["IBAN_CODE"],
    maxLength: IBAN_MAX_PRINTED,
    find(text, out) {
      let after = 0;
      for (const start of anchors.of(text)) {
        if (start < after || text.charCodeAt(start + 2) === CODE_SPACE) continue;
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
