// Payment data: card numbers and ABA routing numbers (IBANs have their own module, iban.ts).
import { hasContextPhrase, VALIDATED, type Phrase } from "../context.js";
import { allSameChar } from "../lexer.js";
import type { Detector } from "../types.js";
import { continuesThroughDot, digitRunDetector, formattedSpans, groupAt, groupDigits, groupLength, singleSeparatorAfter, unformattedSpan, type DigitRuns, type DigitSpan } from "./digitRuns.js";

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
export function passesLuhn(digits: string): boolean {
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
export function isCardLayout(lengths: readonly number[]): boolean {
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

export function creditCardDetector(runs: DigitRuns): Detector {
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

const ABA_CONTEXT: readonly Phrase[] = [["aba"], ["routing"], ["rtn"], ["abarouting"], ["bankrouting"]];

/** ABA routing transit number: Federal Reserve prefix 00–12, 21–32, 61–72 or 80 and the 3-7-1
 * checksum; nine digits or 4-4-1, always with a context word. */
export function abaRoutingDetector(runs: DigitRuns): Detector {
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
