// Structured PII (masking.md §2 tiers 1 and 2, §3 "Structured PII"): hand-written linear scanners
// find candidates from a literal (`@`, a separator, a country code) or a run of digits, then keep
// only what validates: a checksum, a parser, a bundled list. Detectors report only findings that
// reach MASK_THRESHOLD, so a context-gated value without its context word is no finding at all.
// The families live in pii/: contact details, payment data, IBANs, identity numbers and network
// identifiers, over the shared digit-run and letter-pair scans.
import { contextualDetectors } from "./contextual.js";
import { creditCardDetector, abaRoutingDetector } from "./pii/financial.js";
import { emailDetector, phoneNumberDetector } from "./pii/contact.js";
import { DigitRuns } from "./pii/digitRuns.js";
import { ibanDetector } from "./pii/iban.js";
import { caSinDetector, contextDigitsDetector, dateOfBirthDetector, plPeselDetector, ukNhsDetector, ukNinoDetector, unformattedSsnDetector, usItinDetector, usSsnDetector } from "./pii/identity.js";
import { LetterPairAnchors } from "./pii/letterPairs.js";
import { HexColonTokens, ipAddressDetector, macAddressDetector } from "./pii/network.js";
import type { Detector, DetectorSettings } from "./types.js";

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

