// A labelled corpus for measuring the masker (masking.md §11), generated from a seed so a run can be
// reproduced exactly: carrying texts from test/fixtures/masking-templates.txt filled with values
// made here with their real checksums (Luhn, ISO 7064 mod-97 and national BBAN keys, SSA rules,
// libphonenumber-valid numbers), secrets built from their published formats (prefix + charset +
// length, as gitleaks builds its rule tests), JWTs signed for real, and private keys derived from
// the seed so the PEM blocks parse; plus a negative corpus of PII-free machine strings and
// LangGraph payloads. Nothing here trusts the faker for a checksum.
import { createECDH, createHmac, createPrivateKey, createPublicKey, createSign, checkPrimeSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Faker, base, en } from "@faker-js/faker";
import { parsePhoneNumberFromString } from "libphonenumber-js/max";

export const STRUCTURED_PII = ["EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "US_ITIN", "ABA_ROUTING", "UK_NHS", "CA_SIN", "UK_NINO", "MAC_ADDRESS"] as const;
export const PREFIXED_SECRETS = [
  "AWS_ACCESS_KEY",
  "AWS_SECRET_KEY",
  "GITHUB_TOKEN",
  "GITLAB_TOKEN",
  "SLACK_TOKEN",
  "SLACK_WEBHOOK",
  "STRIPE_KEY",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GOOGLE_API_KEY",
  "NPM_TOKEN",
  "HUGGINGFACE_TOKEN",
  "JSON_WEB_TOKEN",
  "PRIVATE_KEY",
  "AUTHORIZATION_HEADER",
  "URL_CREDENTIALS",
  "SENDGRID_API_KEY",
  "TELEGRAM_BOT_TOKEN",
] as const;
/** Credentials recognised by where they stand (a Cookie header, a command-line flag), not by a prefix. */
export const CONTEXT_SECRETS = ["HTTP_COOKIE", "PASSWORD"] as const;
/** Personal data recognised only next to a context word ("cvv", "wallet", "bitcoin", "eth"). */
export const CONTEXT_PII = ["CARD_SECURITY_CODE", "CRYPTO_WALLET", "BANK_ACCOUNT", "PASSPORT", "DRIVER_LICENSE", "DATE_OF_BIRTH"] as const;
/** Who and where: names after a cue, postal addresses, geographic coordinates. */
export const WHEREABOUTS = ["PERSON", "STREET_ADDRESS", "GEO_COORDINATE"] as const;
export const ENTITY_TYPES = [...STRUCTURED_PII, ...CONTEXT_PII, ...WHEREABOUTS, "PHONE_NUMBER", ...PREFIXED_SECRETS, ...CONTEXT_SECRETS, "GENERIC_SECRET"] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** One annotated value: [start, end) of the carrying text, as it appears there (escaped in JSON). */
export interface Span {
  start: number;
  end: number;
  type: EntityType;
  /** How the value was written (issuer and grouping, country and format, key kind...). */
  variant: string;
  /** Types a detector may also report for this span without being wrong: a token after
   * "Bearer " is as much an Authorization header credential as an OpenAI key. */
  alsoAccept?: EntityType[];
  /** JSON pointer of the string leaf (or "key:" + pointer of the object) holding the value;
   * "pointer|inner pointer" when the leaf is serialized JSON. Free text has none. */
  pointer?: string;
}

export interface CorpusText {
  id: string;
  /** Where the filler put a person's name ({{name}}, {{first}}): not a default entity type, kept
   * for measuring a name detector before it is turned on (bench/masking.ts). */
  names?: Array<[number, number]>;
  /** Line of the template in masking-templates.txt. */
  template: number;
  format: "text" | "json";
  text: string;
  spans: Span[];
}

export type NegativeKind =
  | "uuid-v4"
  | "uuid-v7"
  | "sha1"
  | "sha256"
  | "base64"
  | "epoch"
  | "iso-datetime"
  | "order-number"
  | "semver"
  | "identifier"
  | "luhn-failing-number"
  | "iban-one-digit-changed"
  | "known-fake-secret"
  | "batch-number"
  | "key-value-id"
  | "cli-and-header"
  | "langgraph-payload"
  | "hex-pairs-and-codes"
  | "agent-prose";

export interface NegativeItem {
  id: string;
  kind: NegativeKind;
  text: string;
}

/** Every generated value, raw, for the generator's own checks. */
export interface GeneratedValue {
  type: EntityType;
  variant: string;
  /** The value as written (with scheme, URL, armour...). */
  text: string;
  /** The annotated part of text. */
  annotated: string;
  /** How the value was disguised (`{{ENTITY:encoding}}`): percent, entity, escape, spelled,
   * fullwidth, spaced-digits, zero-width. The format checks apply to undisguised values only. */
  encoding?: Encoding;
}

export interface MaskingCorpus {
  seed: number;
  texts: CorpusText[];
  negatives: NegativeItem[];
  values: GeneratedValue[];
}

export interface CorpusOptions {
  /** Texts generated per entity type (each carries at least one value of that type). */
  perEntity?: number;
  negatives?: number;
}

const TEMPLATE_FILE = new URL("../fixtures/masking-templates.txt", import.meta.url);
const TLDS = new Set((createRequire(import.meta.url)("tlds") as string[]).map((tld) => tld.toLowerCase()));

const DIGITS = "0123456789";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const LETTERS = UPPER + LOWER;
const ALNUM = LETTERS + DIGITS;
const URL_SAFE = `${ALNUM}_-`;
const HEX = "0123456789abcdef";
const BASE32_AWS = `${UPPER}234567`;
const BASE64 = `${ALNUM}+/`;

/** The seeded source of every choice the generator makes (Faker's Mersenne Twister). */
class Random {
  readonly faker: Faker;
  constructor(seed: number) {
    this.faker = new Faker({ locale: [en, base] });
    this.faker.seed(seed);
  }
  int(min: number, max: number): number {
    return this.faker.number.int({ min, max });
  }
  chance(p: number): boolean {
    return this.int(0, 999_999) < p * 1_000_000;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  chars(charset: string, length: number): string {
    return this.faker.string.fromCharacters(charset, length);
  }
  digits(length: number): string {
    return this.chars(DIGITS, length);
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) out[i] = this.int(0, 255);
    return out;
  }
  /** A time between 2023 and 2026, without reading the clock. */
  date(): Date {
    return new Date(Date.UTC(2023, 0, 1) + this.int(0, 3 * 365 * 24 * 3600) * 1000 + this.int(0, 999));
  }
}

// ---------------------------------------------------------------------------------------------
// Checksums (written from the specifications; the test cross-checks them with ibantools and
// libphonenumber-js).

/** Luhn check digit for a payload (the digits before the check digit). */
export function luhnCheckDigit(payload: string): number {
  let sum = 0;
  for (let i = payload.length - 1, double = true; i >= 0; i -= 1, double = !double) {
    let digit = payload.charCodeAt(i) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

/** ISO 7064 mod 97 of a string of digits and upper-case letters (letters count as 10..35). */
export function mod97(value: string): number {
  let remainder = 0;
  for (const char of value) {
    const code = char.charCodeAt(0);
    const chunk = code >= 65 ? String(code - 55) : char;
    for (const digit of chunk) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return remainder;
}

export function shannonEntropy(value: string): number {
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let entropy = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    entropy -= p * Math.log2(p);
  }
  return entropy;
}

// ---------------------------------------------------------------------------------------------
// Structured PII.

interface Value {
  text: string;
  variant: string;
  /** The annotated part of text; the whole of it when absent. */
  annotate?: [number, number];
}

function cardIssuer(random: Random): { name: string; prefix: string; length: number } {
  const roll = random.int(0, 99);
  if (roll < 35) return { name: "visa", prefix: "4", length: random.chance(0.06) ? 19 : 16 };
  if (roll < 50) return { name: "mastercard", prefix: String(random.int(51, 55)), length: 16 };
  if (roll < 60) return { name: "mastercard-2", prefix: String(random.int(2221, 2720)), length: 16 };
  if (roll < 80) return { name: "amex", prefix: random.pick(["34", "37"]), length: 15 };
  const discover = random.int(0, 2);
  return { name: "discover", prefix: discover === 0 ? "6011" : discover === 1 ? String(random.int(644, 649)) : "65", length: 16 };
}

function groupDigits(digits: string, sizes: readonly number[], separator: string): string {
  const groups: string[] = [];
  let at = 0;
  for (const size of sizes) {
    groups.push(digits.slice(at, at + size));
    at += size;
  }
  if (at < digits.length) groups.push(digits.slice(at));
  return groups.filter(Boolean).join(separator);
}

export function cardNumber(random: Random): { digits: string; issuer: string } {
  for (;;) {
    const issuer = cardIssuer(random);
    const payload = issuer.prefix + random.digits(issuer.length - 1 - issuer.prefix.length);
    const digits = payload + String(luhnCheckDigit(payload));
    if (!/^(\d)\1+$/.test(digits)) return { digits, issuer: issuer.name };
  }
}

function creditCard(random: Random): Value {
  const { digits, issuer } = cardNumber(random);
  const roll = random.int(0, 99);
  const separator = roll < 35 ? "" : roll < 75 ? " " : "-";
  const sizes = digits.length === 15 ? [4, 6, 5] : [4, 4, 4, 4];
  const grouping = separator === "" ? "compact" : separator === " " ? "spaces" : "hyphens";
  return { text: separator ? groupDigits(digits, sizes, separator) : digits, variant: `${issuer}-${digits.length} ${grouping}` };
}

/** BBAN builders per country, with the national check digits where the country has them. */
const BBAN: Record<string, (random: Random) => string> = {
  DE: (r) => r.digits(18),
  GB: (r) => r.pick(["NWBK", "BARC", "HBUK", "LOYD", "MIDL", "MONZ"]) + r.digits(14),
  FR: (r) => {
    const bank = r.digits(5);
    const branch = r.digits(5);
    const account = r.digits(11);
    // Clé RIB: 97 - ((89 × bank + 15 × branch + 3 × account) mod 97).
    const key = 97 - ((89 * Number(bank) + 15 * Number(branch) + 3 * Number(account)) % 97);
    return bank + branch + account + String(key).padStart(2, "0");
  },
  ES: (r) => {
    const bankBranch = r.digits(8);
    const account = r.digits(10);
    const control = (digits: string, weights: number[]) => {
      const sum = [...digits].reduce((total, digit, i) => total + Number(digit) * weights[i]!, 0);
      const value = 11 - (sum % 11);
      return value === 11 ? 0 : value === 10 ? 1 : value;
    };
    return `${bankBranch}${control(bankBranch, [4, 8, 5, 10, 9, 7, 3, 6])}${control(account, [1, 2, 4, 8, 5, 10, 9, 7, 3, 6])}${account}`;
  },
  IT: (r) => {
    const rest = r.digits(10) + r.digits(12);
    // CIN: odd positions through the conversion table, even positions by value, mod 26.
    const odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];
    let sum = 0;
    for (let i = 0; i < rest.length; i += 1) {
      const value = Number(rest[i]);
      sum += i % 2 === 0 ? odd[value]! : value;
    }
    return UPPER[sum % 26]! + rest;
  },
  NL: (r) => r.pick(["ABNA", "INGB", "RABO", "TRIO", "SNSB", "KNAB"]) + r.digits(10),
  BE: (r) => {
    const first = r.digits(10);
    const check = Number(BigInt(first) % 97n) || 97;
    return first + String(check).padStart(2, "0");
  },
  CH: (r) => r.digits(5) + r.digits(12),
  AT: (r) => r.digits(16),
  PL: (r) => {
    const bank = r.digits(7);
    const weights = [3, 9, 7, 1, 3, 9, 7];
    const sum = [...bank].reduce((total, digit, i) => total + Number(digit) * weights[i]!, 0);
    return bank + String((10 - (sum % 10)) % 10) + r.digits(16);
  },
  SE: (r) => r.digits(20),
  NO: (r) => {
    for (;;) {
      const first = r.digits(10);
      const weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
      const remainder = [...first].reduce((total, digit, i) => total + Number(digit) * weights[i]!, 0) % 11;
      if (remainder === 1) continue; // no valid control digit
      return first + String(remainder === 0 ? 0 : 11 - remainder);
    }
  },
  DK: (r) => r.digits(14),
  FI: (r) => {
    const payload = r.digits(13);
    return payload + String(luhnCheckDigit(payload));
  },
  IE: (r) => r.pick(["AIBK", "BOFI", "IPBS"]) + r.digits(14),
  PT: (r) => {
    const first = r.digits(19);
    // Mod 97-10 over the whole BBAN: the last two digits make it ≡ 1 (mod 97).
    const check = 98 - Number((BigInt(first) * 100n) % 97n);
    return first + String(check).padStart(2, "0");
  },
};
export const IBAN_COUNTRIES = Object.keys(BBAN);

export function ibanFor(country: string, bban: string): string {
  const check = 98 - mod97(`${bban}${country}00`);
  return `${country}${String(check).padStart(2, "0")}${bban}`;
}

function iban(random: Random): Value {
  const country = random.pick(IBAN_COUNTRIES);
  const compact = ibanFor(country, BBAN[country]!(random));
  const printed = random.chance(0.55);
  return { text: printed ? compact.replace(/(.{4})(?=.)/g, "$1 ") : compact, variant: `${country} ${printed ? "print" : "electronic"}` };
}

const KNOWN_SAMPLE_SSNS = new Set(["123-45-6789", "078-05-1120", ...Array.from({ length: 10 }, (_, i) => `987-65-432${i}`)]);

/** Forms a template asks for with `{{US_SSN:bare}}`: nine digits, only ever next to "ssn". */
function ssn(random: Random, form?: string): Value {
  for (;;) {
    let area = random.int(1, 899);
    if (area === 666) area = 665;
    const digits = `${String(area).padStart(3, "0")}${String(random.int(1, 99)).padStart(2, "0")}${String(random.int(1, 9999)).padStart(4, "0")}`;
    const hyphenated = `${digits.slice(0, 3)}-${digits.slice(3, 5)}-${digits.slice(5)}`;
    if (/^(\d)\1+$/.test(digits) || KNOWN_SAMPLE_SSNS.has(hyphenated)) continue;
    if (form === "bare") return { text: digits, variant: "bare" };
    const spaced = random.chance(0.15);
    return { text: spaced ? hyphenated.replaceAll("-", " ") : hyphenated, variant: spaced ? "spaces" : "hyphens" };
  }
}

/** IRS ITIN: 9XX, a group in 50–65, 70–88, 90–92 or 94–99, any serial. Written 9XX-GG-SSSS or bare. */
function itin(random: Random): Value {
  const group = random.pick([...Array.from({ length: 16 }, (_, i) => 50 + i), ...Array.from({ length: 19 }, (_, i) => 70 + i), 90, 91, 92, 94, 95, 96, 97, 98, 99]);
  const digits = `9${random.digits(2)}${group}${String(random.int(1, 9999)).padStart(4, "0")}`;
  return random.chance(0.6) ? { text: `${digits.slice(0, 3)}-${digits.slice(3, 5)}-${digits.slice(5)}`, variant: "hyphens" } : { text: digits, variant: "bare" };
}

/** ABA routing number: a Federal Reserve prefix and the 3-7-1 check digit. */
function abaRouting(random: Random): Value {
  const prefix = String(random.pick([...Array.from({ length: 12 }, (_, i) => i + 1), ...Array.from({ length: 12 }, (_, i) => i + 21), ...Array.from({ length: 12 }, (_, i) => i + 61), 80])).padStart(2, "0");
  const body = `${prefix}${random.digits(6)}`;
  const d = [...body].map(Number);
  const partial = 3 * (d[0]! + d[3]! + d[6]!) + 7 * (d[1]! + d[4]! + d[7]!) + (d[2]! + d[5]!);
  const digits = `${body}${(10 - (partial % 10)) % 10}`;
  return { text: digits, variant: "nine digits" };
}

/** NHS number: nine digits and the mod 11 check (weights 10..2; a check of 10 is never issued). */
function nhsNumber(random: Random): Value {
  for (;;) {
    const body = `${random.int(1, 9)}${random.digits(8)}`;
    const sum = [...body].reduce((total, digit, k) => total + Number(digit) * (10 - k), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check === 10) continue;
    const digits = `${body}${check}`;
    return random.chance(0.6) ? { text: `${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`, variant: "3-3-4" } : { text: digits, variant: "bare" };
  }
}

/** UK NINO (HMRC NIM39110): a valid two-letter prefix, six digits, suffix A–D; compact or spaced. */
function ukNino(random: Random): Value {
  for (;;) {
    const prefix = random.pick([...UPPER]) + random.pick([...UPPER]);
    if (/[DFIQUV]/.test(prefix[0]!) || /[DFIQUVO]/.test(prefix[1]!) || ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].includes(prefix)) continue;
    const digits = random.digits(6);
    const suffix = random.pick(["A", "B", "C", "D"]);
    return random.chance(0.6)
      ? { text: `${prefix}${digits}${suffix}`, variant: "compact" }
      : { text: `${prefix} ${digits.slice(0, 2)} ${digits.slice(2, 4)} ${digits.slice(4)} ${suffix}`, variant: "spaced" };
  }
}

/** MAC-48: six hex pairs joined by `:` or `-`, upper or lower case, never all one digit. */
function macAddress(random: Random): Value {
  const separator = random.pick([":", ":", "-"]);
  const hex = random.chance(0.5) ? HEX : HEX.toUpperCase();
  const pairs = Array.from({ length: 6 }, () => random.chars(hex, 2));
  return { text: pairs.join(separator), variant: separator === ":" ? "colons" : "hyphens" };
}

/** A date of birth between 1930 and 2008 in one of the common numeric layouts. */
function dateOfBirth(random: Random): Value {
  const date = new Date(Date.UTC(random.int(1930, 2008), random.int(0, 11), random.int(1, 28)));
  const [y, m, d] = [String(date.getUTCFullYear()), String(date.getUTCMonth() + 1).padStart(2, "0"), String(date.getUTCDate()).padStart(2, "0")];
  const layouts: Array<[string, string]> = [[`${m}/${d}/${y}`, "MM/DD/YYYY"], [`${d}/${m}/${y}`, "DD/MM/YYYY"], [`${y}-${m}-${d}`, "YYYY-MM-DD"], [`${d}.${m}.${y}`, "DD.MM.YYYY"], [`${d}-${m}-${y}`, "DD-MM-YYYY"]];
  const [text, variant] = random.pick(layouts);
  return { text, variant };
}

/** A person's name as people write it: first and last, first alone, or with a middle name. */
function personName(random: Random): Value {
  const { person } = random.faker;
  const roll = random.int(0, 9);
  if (roll < 6) return { text: `${person.firstName()} ${person.lastName()}`, variant: "first last" };
  if (roll < 8) return { text: person.firstName(), variant: "first" };
  return { text: `${person.firstName()} ${person.middleName()} ${person.lastName()}`, variant: "first middle last" };
}

/** Continental European addresses, each with its postal code and town: German, Austrian, Swiss
 * and Dutch (street, number), French (number, street type, name), Italian, Spanish and Portuguese
 * (street type, name, number). */
const EU_ADDRESSES = {
  "DE/AT/CH/NL": {
    streets: ["Hauptstraße", "Berliner Straße", "Karl-Marx-Allee", "Lindenweg", "Schillerplatz", "Goethestrasse", "Mariahilfer Straße", "Bahnhofstr.", "Keizersgracht", "Prinsengracht", "Stationsweg", "Am Ring"],
    towns: ["Berlin", "München", "Frankfurt am Main", "Wien", "Zürich", "Köln", "Amsterdam", "Utrecht"],
  },
  FR: { streets: ["rue de la Paix", "avenue des Champs-Élysées", "boulevard Haussmann", "place Bellecour", "rue du Faubourg Saint-Honoré", "chemin des Vignes", "quai d'Orsay"], towns: ["Paris", "Lyon", "Marseille", "Bordeaux", "Aix-en-Provence"] },
  "IT/ES/PT": { streets: ["Via Roma", "Via Giuseppe Garibaldi", "Corso Vittorio Emanuele", "Piazza Navona", "Calle Mayor", "Calle de Alcalá", "Avenida da Liberdade", "Rua Augusta"], towns: ["Roma", "Milano", "Madrid", "Barcelona", "Lisboa", "Porto"] },
} as const;

function europeanAddress(random: Random): Value {
  const layout = random.pick(Object.keys(EU_ADDRESSES) as Array<keyof typeof EU_ADDRESSES>);
  const { streets, towns } = EU_ADDRESSES[layout];
  const street = random.pick(streets);
  const town = random.pick(towns);
  const number = `${random.int(1, 250)}${random.chance(0.2) ? random.pick(["a", "b", "B"]) : ""}`;
  if (layout === "FR") return { text: `${random.int(1, 120)}${random.chance(0.15) ? " bis," : ""} ${street}, ${random.int(10, 95)}${random.digits(3)} ${town}`, variant: "FR number, street, postcode town" };
  if (layout === "IT/ES/PT") return { text: `${street}${random.chance(0.3) ? "," : ""} ${number}, ${random.digits(5)} ${town}`, variant: "IT/ES/PT street number, postcode town" };
  const postcode = town === "Amsterdam" || town === "Utrecht" ? `${random.int(1000, 9999)} ${random.pick(["AB", "CJ", "KL", "RS"])}` : `${random.chance(0.2) ? "D-" : ""}${random.int(1000, 99999)}`;
  return { text: `${street} ${number}, ${postcode} ${town}`, variant: "DE/AT/CH/NL street number, postcode town" };
}

/** A US street address (faker's street names and suffixes, a unit sometimes), alone or with
 * city, state and ZIP; a UK one with a postcode; or a continental European one. */
function streetAddress(random: Random): Value {
  const { location } = random.faker;
  const street = location.streetAddress(random.chance(0.3));
  const roll = random.int(0, 12);
  if (roll > 9) return europeanAddress(random);
  if (roll < 4) return { text: street, variant: "street" };
  if (roll < 8) return { text: `${street}, ${location.city()}, ${location.state({ abbreviated: true })} ${location.zipCode()}`, variant: "street, city, state zip" };
  const postcode = `${random.pick(["SW", "NW", "E", "EC", "W", "N", "M", "B", "LS"])}${random.int(1, 20)} ${random.int(1, 9)}${random.pick([..."ABDEFGHJLNPQRSTUWXYZ"])}${random.pick([..."ABDEFGHJLNPQRSTUWXYZ"])}`;
  return { text: `${random.int(1, 300)} ${location.street()}, ${location.city()} ${postcode}`, variant: "UK street, town postcode" };
}

/** Coordinates in the forms maps, phones and APIs write them. */
function geoCoordinate(random: Random): Value {
  const lat = random.int(-89_000_000, 89_000_000) / 1_000_000;
  const lng = random.int(-179_000_000, 179_000_000) / 1_000_000;
  const places = random.int(4, 6);
  const [la, lo] = [lat.toFixed(places), lng.toFixed(places)];
  const dms = (value: number, positive: string, negative: string) => {
    const abs = Math.abs(value);
    const degrees = Math.floor(abs);
    const minutes = Math.floor((abs - degrees) * 60);
    const seconds = ((abs - degrees - minutes / 60) * 3600).toFixed(1);
    return `${degrees}°${String(minutes).padStart(2, "0")}'${seconds.padStart(4, "0")}"${value < 0 ? negative : positive}`;
  };
  switch (random.int(0, 3)) {
    case 0:
      return { text: `${la}, ${lo}`, variant: "decimal pair" };
    case 1:
      return { text: `${Math.abs(lat).toFixed(places)}° ${lat < 0 ? "S" : "N"}, ${Math.abs(lng).toFixed(places)}° ${lng < 0 ? "W" : "E"}`, variant: "decimal with hemispheres" };
    case 2:
      return { text: `${dms(lat, "N", "S")} ${dms(lng, "E", "W")}`, variant: "degrees minutes seconds" };
    default:
      return { text: `lat=${la}&lng=${lo}`, variant: "query parameters" };
  }
}

/** Card security code: three digits, four on American Express cards. */
function cardSecurityCode(random: Random): Value {
  return random.chance(0.8) ? { text: random.digits(3), variant: "3 digits" } : { text: random.digits(4), variant: "4 digits" };
}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/** BIP 173 / BIP 350 checksum, written from the BIPs independently of the detector. */
export function bech32Checksum(hrp: string, data: readonly number[], bech32m: boolean): number[] {
  const polymod = (values: readonly number[]) => {
    const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let chk = 1;
    for (const v of values) {
      const b = chk >>> 25;
      chk = ((chk & 0x1ffffff) << 5) ^ v;
      for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= gen[i]!;
    }
    return chk >>> 0;
  };
  const values = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31), ...data, 0, 0, 0, 0, 0, 0];
  const mod = (polymod(values) ^ (bech32m ? 0x2bc830a3 : 1)) >>> 0;
  return Array.from({ length: 6 }, (_, i) => (mod >>> (5 * (5 - i))) & 31);
}

/** An Ethereum address (0x and 40 hex digits) or a Bitcoin segwit address (bech32 P2WPKH/P2WSH,
 * bech32m taproot) with a valid checksum. */
function cryptoWallet(random: Random): Value {
  if (random.chance(0.5)) return { text: `0x${random.chars(random.chance(0.5) ? HEX : HEX.toUpperCase(), 40)}`, variant: "ethereum" };
  const version = random.pick([0, 0, 1]);
  const bytes = version === 1 ? 32 : random.pick([20, 32]);
  const program = random.bytes(bytes);
  const data = [version];
  let accumulator = 0;
  let bits = 0;
  for (const byte of program) {
    accumulator = (accumulator << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      data.push((accumulator >>> bits) & 31);
    }
  }
  if (bits > 0) data.push((accumulator << (5 - bits)) & 31);
  const checksum = bech32Checksum("bc", data, version !== 0);
  return { text: `bc1${[...data, ...checksum].map((v) => BECH32[v]).join("")}`, variant: version === 0 ? "bech32" : "bech32m" };
}

/** Canadian SIN: first digit 1–7 or 9, Luhn. Written 3-3-3 with spaces or hyphens, or bare. */
function caSin(random: Random): Value {
  const payload = `${random.pick(["1", "2", "3", "4", "5", "6", "7", "9"])}${random.digits(7)}`;
  const digits = `${payload}${luhnCheckDigit(payload)}`;
  const roll = random.int(0, 2);
  if (roll === 2) return { text: digits, variant: "bare" };
  const separator = roll === 0 ? " " : "-";
  return { text: `${digits.slice(0, 3)}${separator}${digits.slice(3, 6)}${separator}${digits.slice(6)}`, variant: separator === " " ? "spaces" : "hyphens" };
}

const US_AREA_CODES = [201, 202, 206, 212, 213, 214, 305, 312, 313, 404, 415, 469, 503, 512, 602, 617, 646, 702, 713, 718, 720, 773, 808, 818, 917, 949];
// E.164 candidates per region; each is checked with libphonenumber-js/max and redrawn until valid.
const PHONE_CANDIDATES: Record<string, (random: Random) => string> = {
  US: (r) => `+1${r.pick(US_AREA_CODES)}${r.int(2, 9)}${r.digits(2)}${r.digits(4)}`,
  GB: (r) => (r.chance(0.6) ? `+447${r.int(4, 9)}${r.digits(8)}` : r.chance(0.5) ? `+4420${r.pick(["7", "3", "8"])}${r.digits(7)}` : `+44161${r.int(2, 9)}${r.digits(6)}`),
  DE: (r) => (r.chance(0.55) ? `+491${r.pick(["51", "52", "57", "60", "62", "70", "71", "72", "76"])}${r.digits(r.chance(0.5) ? 7 : 8)}` : r.chance(0.5) ? `+4930${r.int(2, 9)}${r.digits(7)}` : `+4989${r.int(2, 9)}${r.digits(6)}`),
  FR: (r) => `+33${r.pick(["6", "7", "1", "2", "3", "4", "5", "9"])}${r.digits(8)}`,
  IN: (r) => `+91${r.int(6, 9)}${r.digits(9)}`,
};

/** A North American number whose area code is not in service (555, 37X, 96X...): libphonenumber
 * rejects it, people write it anyway. Only ever after a phone word. */
function unassignedNanp(random: Random): Value {
  for (;;) {
    const national = `${random.int(2, 9)}${random.digits(2)}${random.int(2, 9)}${random.digits(2)}${random.digits(4)}`;
    if (/^.11/.test(national) || parsePhoneNumberFromString(`+1${national}`)?.isValid()) continue;
    const [area, exchange, line] = [national.slice(0, 3), national.slice(3, 6), national.slice(6)];
    return random.pick<Value>([
      { text: `${area}-${exchange}-${line}`, variant: "NANP unassigned hyphens" },
      { text: `(${area}) ${exchange}-${line}`, variant: "NANP unassigned parentheses" },
      { text: national, variant: "NANP unassigned bare" },
    ]);
  }
}

/** Forms a template asks for: `{{PHONE_NUMBER:unassigned}}`, `{{PHONE_NUMBER:bare}}` (ten digits
 * of a valid US number, after "text me at" or a phone key). */
function phone(random: Random, form?: string): Value {
  if (form === "unassigned") return unassignedNanp(random);
  if (form === "bare") {
    for (;;) {
      const parsed = parsePhoneNumberFromString(PHONE_CANDIDATES.US!(random));
      if (parsed?.isValid() && parsed.country === "US") return { text: parsed.nationalNumber, variant: "US bare" };
    }
  }
  const region = random.pick(Object.keys(PHONE_CANDIDATES));
  for (;;) {
    const parsed = parsePhoneNumberFromString(PHONE_CANDIDATES[region]!(random));
    // Valid for the region itself: +44 7797 is Jersey, not the United Kingdom.
    if (!parsed?.isValid() || parsed.country !== region) continue;
    const e164 = parsed.number;
    const national = parsed.nationalNumber;
    const roll = random.int(0, 99);
    if (roll < 25) return { text: e164, variant: `${region} e164` };
    if (roll < 50) return { text: parsed.formatInternational(), variant: `${region} international` };
    if (roll < 80) return { text: parsed.formatNational(), variant: `${region} national` };
    // The other ways people write numbers of that country.
    switch (region) {
      case "US":
        return random.chance(0.5)
          ? { text: `${national.slice(0, 3)}-${national.slice(3, 6)}-${national.slice(6)}`, variant: "US hyphens" }
          : { text: `${national.slice(0, 3)}.${national.slice(3, 6)}.${national.slice(6)}`, variant: "US dots" };
      case "FR":
        return { text: parsed.formatNational().replaceAll(" ", "."), variant: "FR dots" };
      case "IN":
        return { text: `+91-${national}`, variant: "IN +91-" };
      case "DE":
        return { text: `+49 (0)${national.slice(0, national.startsWith("1") ? 3 : 2)} ${national.slice(national.startsWith("1") ? 3 : 2)}`, variant: "DE +49 (0)" };
      default:
        return { text: `+44 (0)${parsed.formatNational().slice(1)}`, variant: "GB +44 (0)" };
    }
  }
}

function ipv4(random: Random): Value {
  const roll = random.int(0, 99);
  let octets: number[];
  if (roll < 20) octets = [10, random.int(0, 255), random.int(0, 255), random.int(1, 254)];
  else if (roll < 30) octets = [192, 168, random.int(0, 255), random.int(1, 254)];
  else if (roll < 35) octets = [172, random.int(16, 31), random.int(0, 255), random.int(1, 254)];
  else {
    let first = random.int(1, 223);
    if (first === 10 || first === 127 || first === 172 || first === 192) first += 1;
    octets = [first, random.int(0, 255), random.int(0, 255), random.int(1, 254)];
  }
  return { text: octets.join("."), variant: roll < 35 ? "v4 private" : "v4 public" };
}

/** RFC 5952 text form: lower case, no leading zeros, the longest run of zero groups as "::". */
function compressIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function ipv6(random: Random): Value {
  const roll = random.int(0, 99);
  if (roll < 30) {
    const groups = Array.from({ length: 8 }, () => random.int(0, 0xffff));
    return { text: groups.map((group) => group.toString(16).padStart(4, "0")).join(":"), variant: "v6 full" };
  }
  if (roll < 85) {
    const prefix = random.pick([[0x2001, 0x0db8], [0x2a00, 0x1450], [0x2607, 0xf8b0], [0xfe80, 0], [0x2600, 0x1f18], [0xfd12, 0x3456]]);
    const groups = [...prefix, random.int(0, 0xffff), random.chance(0.5) ? 0 : random.int(1, 0xffff), 0, 0, random.int(0, 0xffff), random.int(1, 0xffff)];
    return { text: compressIpv6(groups), variant: "v6 compressed" };
  }
  return { text: `::ffff:${random.int(1, 223)}.${random.int(0, 255)}.${random.int(0, 255)}.${random.int(1, 254)}`, variant: "v6 embedded v4" };
}

const IP = (random: Random): Value => (random.chance(0.62) ? ipv4(random) : ipv6(random));

const EMAIL_TLDS = ["com", "org", "net", "io", "co.uk", "de", "fr", "in", "dev", "ai", "app", "eu", "ch", "nl", "com.au", "co", "info", "us"];

function email(random: Random): Value {
  const first = random.faker.person.firstName().replace(/[^A-Za-z]/g, "") || "alex";
  const last = random.faker.person.lastName().replace(/[^A-Za-z]/g, "") || "kim";
  const roll = random.int(0, 99);
  let text: string;
  let variant: string;
  if (roll < 40) {
    text = random.faker.internet.email({ firstName: first, lastName: last }).replace(/[^A-Za-z0-9._+@-]/g, "");
    variant = "free-mail";
  } else {
    const domain = `${random.faker.internet.domainWord()}.${random.pick(EMAIL_TLDS)}`;
    const local = random.pick([`${first}.${last}`, `${first[0]}${last}`, `${first}`, `${first}_${last}${random.int(1, 99)}`]).toLowerCase();
    if (roll < 75) [text, variant] = [`${local}@${domain}`, "company"];
    else if (roll < 88) [text, variant] = [`${local}+${random.pick(["billing", "news", "langgraph", "test"])}@${domain}`, "plus-tag"];
    else [text, variant] = [`${local}@${random.pick(["mail", "eu", "corp", "support"])}.${domain}`, "subdomain"];
  }
  const tld = text.slice(text.lastIndexOf(".") + 1).toLowerCase();
  if (!TLDS.has(tld)) throw new Error(`generated an email with an unknown TLD: ${text}`);
  return { text, variant };
}

// ---------------------------------------------------------------------------------------------
// Secrets from their formats.

function awsAccessKey(random: Random): Value {
  const prefix = random.chance(0.8) ? "AKIA" : "ASIA";
  // gitleaks' aws-access-token rule (and masking.md §3) asks for 3 bits of entropy per character:
  // a draw such as AKIASAHUHHAAYLZ2KHHK is no key AWS issues and is drawn again.
  for (;;) {
    const key = prefix + random.chars(BASE32_AWS, 16);
    if (shannonEntropy(key) >= 3) return { text: key, variant: prefix };
  }
}

function awsSecretKey(random: Random): Value {
  for (;;) {
    const text = random.chars(BASE64, 40);
    if (shannonEntropy(text) >= 4.5) return { text, variant: "40 base64" };
  }
}

function githubToken(random: Random): Value {
  if (random.chance(0.2)) return { text: `github_pat_${random.chars(ALNUM, 22)}_${random.chars(ALNUM, 59)}`, variant: "github_pat_" };
  const prefix = random.pick(["ghp_", "ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]);
  return { text: prefix + random.chars(ALNUM, 36), variant: prefix };
}

function gitlabToken(random: Random): Value {
  const roll = random.int(0, 99);
  if (roll < 60) return { text: `glpat-${random.chars(URL_SAFE, 20)}`, variant: "glpat-" };
  if (roll < 75) return { text: `glptt-${random.chars(HEX, 40)}`, variant: "glptt-" };
  if (roll < 90) return { text: `glrt-${random.chars(URL_SAFE, 20)}`, variant: "glrt-" };
  return { text: `GR1348941${random.chars(URL_SAFE, 20)}`, variant: "GR1348941" };
}

function slackToken(random: Random): Value {
  const roll = random.int(0, 99);
  if (roll < 55) return { text: `xoxb-${random.digits(random.int(10, 13))}-${random.digits(random.int(10, 13))}-${random.chars(ALNUM, 24)}`, variant: "xoxb-" };
  if (roll < 85) return { text: `xoxp-${random.digits(random.int(10, 13))}-${random.digits(random.int(10, 13))}-${random.digits(random.int(10, 13))}-${random.chars(HEX, 32)}`, variant: "xoxp-" };
  return { text: `xapp-1-A${random.chars(UPPER + DIGITS, 10)}-${random.digits(13)}-${random.chars(HEX, 64)}`, variant: "xapp-" };
}

function slackWebhook(random: Random): Value {
  const kind = random.pick(["services", "services", "services", "workflows", "triggers"]);
  const base = `https://hooks.slack.com/${kind}/`;
  const path = `T${random.chars(UPPER + DIGITS, random.int(8, 10))}/${kind === "services" ? "B" : "A"}${random.chars(UPPER + DIGITS, random.int(8, 10))}/${random.chars(ALNUM, 24)}`;
  return { text: base + path, variant: kind, annotate: [base.length, base.length + path.length] };
}

function stripeKey(random: Random): Value {
  if (random.chance(0.25)) return { text: `whsec_${random.chars(ALNUM, 32)}`, variant: "whsec_" };
  const prefix = random.pick(["sk_live_", "sk_live_", "rk_live_", "sk_test_"]);
  return { text: prefix + random.chars(ALNUM, random.pick([24, 34, 99])), variant: prefix };
}

function openAiKey(random: Random): Value {
  const roll = random.int(0, 99);
  if (roll < 15) return { text: `sk-${random.chars(ALNUM, 20)}T3BlbkFJ${random.chars(ALNUM, 20)}`, variant: "legacy sk-" };
  const prefix = roll < 75 ? "sk-proj-" : roll < 90 ? "sk-svcacct-" : "sk-admin-";
  const half = random.chance(0.7) ? 74 : 58;
  return { text: `${prefix}${random.chars(URL_SAFE, half)}T3BlbkFJ${random.chars(URL_SAFE, half)}`, variant: `${prefix}${half}` };
}

function anthropicKey(random: Random): Value {
  const prefix = random.chance(0.9) ? "sk-ant-api03-" : "sk-ant-admin01-";
  return { text: `${prefix}${random.chars(URL_SAFE, 93)}AA`, variant: prefix };
}

const googleKey = (random: Random): Value => ({ text: `AIza${random.chars(URL_SAFE, 35)}`, variant: "AIza" });
const npmToken = (random: Random): Value => ({ text: `npm_${random.chars(ALNUM, 36)}`, variant: "npm_" });
const huggingFaceToken = (random: Random): Value => ({ text: `hf_${random.chars(LETTERS, 34)}`, variant: "hf_" });
const sendGridKey = (random: Random): Value => ({ text: `SG.${random.chars(URL_SAFE, 22)}.${random.chars(URL_SAFE, 43)}`, variant: "SG." });
const telegramBotToken = (random: Random): Value => ({ text: `${random.int(1, 9)}${random.digits(random.int(7, 9))}:AA${random.chars(URL_SAFE, 33)}`, variant: "bot id:AA" });

const SESSION_COOKIE_NAMES = ["sessionid", "PHPSESSID", "JSESSIONID", "connect.sid", "_myapp_session", "laravel_session", "__Secure-next-auth.session-token", "remember_user_token", "auth_token"];

/** `name=value` pairs of a Cookie header; only the session cookie's value is annotated. */
function sessionCookie(random: Random): Value {
  const name = random.pick(SESSION_COOKIE_NAMES);
  const value = random.pick([() => random.chars(ALNUM, 32), () => random.chars(HEX, 40), () => `s%3A${random.chars(URL_SAFE, 32)}.${random.chars(ALNUM, 20)}`])();
  const before = random.pick(["", "theme=dark; ", `_ga=GA1.2.${random.digits(9)}.${random.digits(10)}; `, "lang=en-GB; "]);
  const after = random.pick(["", "; csrftoken=", "; lang=de"]);
  const pair = `${before}${name}=`;
  return { text: `${pair}${value}${after}`, variant: name, annotate: [pair.length, pair.length + value.length] };
}

/** A password as typed on a command line: no spaces, quotes or backslashes. */
function commandLinePassword(random: Random): Value {
  const value = random.chars(ALNUM, random.int(8, 16)) + random.pick(["", "!", "#", "%", "^", "*", "9"]);
  return { text: value, variant: random.chance(0.5) ? "letters and digits" : "with a symbol" };
}

function jwt(random: Random, keys: KeyPool): Value {
  const now = Math.floor(random.date().getTime() / 1000);
  const rs256 = random.chance(0.35);
  const header = rs256 ? { alg: "RS256", typ: "JWT", kid: random.chars(URL_SAFE, 22) } : { alg: "HS256", typ: "JWT" };
  const payload = random.pick([
    () => ({ sub: random.faker.string.uuid(), name: random.faker.person.fullName(), iat: now, exp: now + 3600 }),
    () => ({ iss: "https://idp.example.com/", sub: `auth0|${random.chars(HEX, 24)}`, aud: "portcullis", iat: now, exp: now + 900, scope: "threads:read runs:create" }),
    () => ({ user_id: random.int(1000, 999_999), role: random.pick(["admin", "member", "viewer"]), iat: now }),
  ])();
  const signingInput = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const signature = rs256 ? createSign("RSA-SHA256").update(signingInput).sign(keys.rsa[0]!.key) : createHmac("sha256", random.bytes(32)).update(signingInput).digest();
  return { text: `${signingInput}.${signature.toString("base64url")}`, variant: header.alg };
}

function authorizationHeader(random: Random): Value {
  const roll = random.int(0, 99);
  let scheme = "Bearer";
  let credential: string;
  let variant: string;
  if (roll < 30) [credential, variant] = [random.chars(URL_SAFE, random.int(32, 64)), "Bearer opaque"];
  else if (roll < 45) [credential, variant] = [random.chars(HEX, random.pick([40, 64])), "Bearer hex"];
  else if (roll < 60) [credential, variant] = [`ya29.a0${random.chars(URL_SAFE, random.int(120, 180))}`, "Bearer ya29"];
  else {
    scheme = "Basic";
    const user = random.faker.internet.username().replace(/[^A-Za-z0-9._-]/g, "");
    credential = Buffer.from(`${user}:${random.chars(ALNUM + "!#$%&*", random.int(10, 20))}`).toString("base64");
    variant = "Basic";
  }
  return { text: `${scheme} ${credential}`, variant, annotate: [scheme.length + 1, scheme.length + 1 + credential.length] };
}

function urlCredentials(random: Random): Value {
  const scheme = random.pick(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp", "https"]);
  const user = random.pick(["app", "admin", "svc_langgraph", "readonly", random.faker.internet.username().replace(/[^A-Za-z0-9_]/g, "").toLowerCase()]);
  const password = random.chars(ALNUM, random.int(10, 22)) + random.chars(ALNUM + "-_.~!*", random.int(2, 6));
  const host = random.pick(["db.internal", "pg-primary.prod.svc.cluster.local", "cache.example.net", "mq.internal:5672", "cluster0.ab1cd.mongodb.net", "db.example.com:5432"]);
  const path = scheme === "redis" ? `/${random.int(0, 15)}` : random.pick(["/app", "/orders?sslmode=require", "/", ""]);
  const prefix = `${scheme}://${user}:`;
  return { text: `${prefix}${password}@${host}${path}`, variant: scheme, annotate: [prefix.length, prefix.length + password.length] };
}

const GENERIC_CHARSETS = [ALNUM, ALNUM, `${ALNUM}!#%^*-_.~`, HEX, `${ALNUM}+/`];

function genericSecret(random: Random): Value {
  for (;;) {
    const charset = random.pick(GENERIC_CHARSETS);
    const text = random.chars(charset, random.int(16, 48));
    if (shannonEntropy(text) > 3.8 && !/^(sk|rk|pk|gh|hf|xox|AKIA|AIza|glpat|npm)/.test(text)) return { text, variant: charset === HEX ? "hex" : charset.length > 64 ? "symbols" : "alnum" };
  }
}

// ---------------------------------------------------------------------------------------------
// Private keys, derived from the seed (node:crypto cannot seed its key generator, so the numbers
// are drawn here and node:crypto builds and checks the keys from them).

interface PoolKey {
  key: KeyObject;
  pem: string[];
}
interface KeyPool {
  rsa: PoolKey[];
  blocks: { pem: string; variant: string }[];
}

const SMALL_PRIMES = Array.from({ length: 400 }, (_, i) => i + 2).filter((n) => Array.from({ length: n - 2 }, (_, i) => i + 2).every((d) => n % d !== 0)).map(BigInt);

function randomPrime(random: Random, bits: number): bigint {
  let candidate = BigInt(`0x${random.bytes(bits / 8).toString("hex")}`) | (3n << BigInt(bits - 2)) | 1n;
  for (;;) {
    if (SMALL_PRIMES.every((p) => candidate % p !== 0n) && checkPrimeSync(candidate) && (candidate - 1n) % 65537n !== 0n) return candidate;
    candidate += 2n;
  }
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

const b64u = (n: bigint): string => {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex").toString("base64url");
};

function rsaKey(random: Random, bits: number): KeyObject {
  const p = randomPrime(random, bits / 2);
  let q = randomPrime(random, bits / 2);
  while (q === p) q = randomPrime(random, bits / 2);
  const e = 65537n;
  const d = modInverse(e, (p - 1n) * (q - 1n));
  return createPrivateKey({
    key: { kty: "RSA", n: b64u(p * q), e: b64u(e), d: b64u(d), p: b64u(p), q: b64u(q), dp: b64u(d % (p - 1n)), dq: b64u(d % (q - 1n)), qi: b64u(modInverse(q, p)) },
    format: "jwk",
  });
}

function ecKey(random: Random, curve: "P-256" | "P-384"): KeyObject {
  const ecdh = createECDH(curve === "P-256" ? "prime256v1" : "secp384r1");
  const size = curve === "P-256" ? 32 : 48;
  ecdh.setPrivateKey(random.bytes(size));
  const point = ecdh.getPublicKey();
  return createPrivateKey({
    key: { kty: "EC", crv: curve, d: ecdh.getPrivateKey().toString("base64url"), x: point.subarray(1, 1 + size).toString("base64url"), y: point.subarray(1 + size).toString("base64url") },
    format: "jwk",
  });
}

function ed25519Key(seed: Buffer): KeyObject {
  // RFC 8410 PKCS #8 for Ed25519: a fixed prefix, then the 32-byte seed.
  return createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
}

function armour(label: string, body: Buffer, width = 64): string {
  const lines = body.toString("base64").match(new RegExp(`.{1,${width}}`, "g")) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----`;
}

/** The OpenSSH private key format (PROTOCOL.key), unencrypted, for an Ed25519 key. */
function openSshEd25519(random: Random, seed: Buffer, key: KeyObject, comment: string): string {
  const u32 = (n: number) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(n >>> 0);
    return out;
  };
  const sshString = (value: Buffer | string) => {
    const bytes = typeof value === "string" ? Buffer.from(value) : value;
    return Buffer.concat([u32(bytes.length), bytes]);
  };
  const publicKey = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x!, "base64url");
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
  const check = u32(random.int(0, 0xffffffff));
  const parts = [check, check, sshString("ssh-ed25519"), sshString(publicKey), sshString(Buffer.concat([seed, publicKey])), sshString(comment)];
  let length = parts.reduce((total, part) => total + part.length, 0);
  for (let pad = 1; length % 8 !== 0; pad += 1, length += 1) parts.push(Buffer.of(pad));
  const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "latin1"), sshString("none"), sshString("none"), sshString(""), u32(1), sshString(publicBlob), sshString(Buffer.concat(parts))]);
  return armour("OPENSSH PRIVATE KEY", body, 70);
}

function keyPool(random: Random): KeyPool {
  const blocks: { pem: string; variant: string }[] = [];
  const rsa: PoolKey[] = [];
  for (const bits of [2048, 2048, 1024]) {
    const key = rsaKey(random, bits);
    const pem = [key.export({ type: "pkcs1", format: "pem" }).toString().trim(), key.export({ type: "pkcs8", format: "pem" }).toString().trim()];
    rsa.push({ key, pem });
    blocks.push({ pem: pem[0]!, variant: `RSA-${bits} pkcs1` }, { pem: pem[1]!, variant: `RSA-${bits} pkcs8` });
  }
  for (let i = 0; i < 6; i += 1) {
    const curve = i < 4 ? "P-256" : "P-384";
    const key = ecKey(random, curve);
    const sec1 = i % 2 === 0;
    blocks.push({ pem: key.export({ type: sec1 ? "sec1" : "pkcs8", format: "pem" }).toString().trim(), variant: `EC-${curve} ${sec1 ? "sec1" : "pkcs8"}` });
  }
  for (let i = 0; i < 6; i += 1) {
    const seed = random.bytes(32);
    const key = ed25519Key(seed);
    blocks.push(
      i % 2 === 0
        ? { pem: key.export({ type: "pkcs8", format: "pem" }).toString().trim(), variant: "Ed25519 pkcs8" }
        : { pem: openSshEd25519(random, seed, key, `${random.faker.internet.username()}@${random.faker.internet.domainWord()}`), variant: "Ed25519 openssh" },
    );
  }
  // Shaped like the real thing (armour, DER prefix, line width) but with seeded bytes: an encrypted
  // PKCS #8 needs a random salt and IV that node:crypto will not take from a seed.
  for (let i = 0; i < 2; i += 1) {
    const der = Buffer.concat([Buffer.from("308204e9301b06092a864886f70d01050330", "hex"), random.bytes(random.int(600, 1250))]);
    blocks.push({ pem: armour("ENCRYPTED PRIVATE KEY", der), variant: "encrypted pkcs8 (shaped)" });
  }
  const pgp = Buffer.concat([Buffer.from("9503c604", "hex"), random.bytes(900)]).toString("base64").match(/.{1,64}/g)!.join("\n");
  blocks.push({ pem: `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${pgp}\n=${random.chars(ALNUM + "+/", 4)}\n-----END PGP PRIVATE KEY BLOCK-----`, variant: "PGP (shaped)" });
  return { rsa, blocks };
}

// ---------------------------------------------------------------------------------------------
// Filler: realistic, never PII.

function uuidV7(random: Random, time = random.date().getTime()): string {
  const hex = time.toString(16).padStart(12, "0") + "7" + random.chars(HEX, 3) + random.pick(["8", "9", "a", "b"]) + random.chars(HEX, 15);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function filler(random: Random, slot: string): string {
  switch (slot) {
    case "name":
      return random.faker.person.fullName();
    case "first":
      return random.faker.person.firstName();
    case "company":
      return random.faker.company.name();
    case "city":
      return random.faker.location.city().replaceAll(" ", "+");
    case "word":
      return random.faker.word.noun().toLowerCase().replace(/[^a-z]/g, "") || "agent";
    case "host":
      return `${random.pick(["api", "langgraph", "agents", "gw"])}.${random.faker.internet.domainWord()}.${random.pick(["com", "io", "dev"])}`;
    case "uuid":
      return random.faker.string.uuid();
    case "uuid7":
      return uuidV7(random);
    case "iso":
      return random.date().toISOString();
    case "date":
      return random.date().toISOString().slice(0, 10);
    case "epoch":
      return String(random.date().getTime());
    case "int":
      return String(random.int(100, 99_999));
    case "amount":
      return `${random.int(12, 9800)}.${random.digits(2)}`;
    case "order":
      return `ORD-${random.int(2023, 2025)}-${random.digits(6)}`;
    case "callid":
      return random.chars(ALNUM, 24);
    case "sha":
      return random.chars(HEX, 40);
    default:
      throw new Error(`masking-templates.txt: unknown filler slot {{${slot}}}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Templates.

interface Template {
  line: number;
  format: "text" | "json";
  /** JSON-string escaping applied to every inserted value: 0 free text, 1 JSON, 2 JSON in JSON. */
  escape: 0 | 1 | 2;
  source: string;
  slots: string[];
}

/** Ways people and programs disguise a value without meaning to: what the scanner normalises. */
const ENCODINGS = ["percent", "entity", "escape", "spelled", "fullwidth", "spaced-digits", "zero-width"] as const;
export type Encoding = (typeof ENCODINGS)[number];
const isEncoding = (form: string | undefined): form is Encoding => (ENCODINGS as readonly string[]).includes(form ?? "");

function encode(random: Random, value: string, encoding: Encoding): string {
  switch (encoding) {
    case "percent":
      return value.replace(/[@+ ]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
    case "entity":
      return value.replace(/[@.]/g, (char) => (char === "@" ? random.pick(["&#64;", "&#x40;", "&commat;"]) : random.chance(0.5) ? "&#46;" : "."));
    case "escape":
      return value.replace(/@/g, random.pick(["\\u0040", "\\x40"]));
    case "spelled": {
      const [at, dot] = random.pick([[" at ", " dot "], [" [at] ", " [dot] "], ["(at)", "(dot)"], [" AT ", " DOT "]] as const);
      const [local, domain] = value.split("@") as [string, string];
      return `${local}${at}${domain.replaceAll(".", dot)}`;
    }
    case "fullwidth":
      return value.replace(/[0-9]/g, (digit) => String.fromCharCode(0xff10 + Number(digit)));
    case "spaced-digits":
      return [...value.replace(/[^0-9]/g, "")].join(" ");
    case "zero-width":
      return [...value].map((char, i) => (i > 0 && i % random.int(2, 4) === 0 ? `\u200b${char}` : char)).join("");
  }
}

/** `{{ENTITY}}` or `{{ENTITY:form}}`, the form choosing how the value is written. */
const SLOT = /\{\{([A-Za-z0-9_]+)(?::([a-z0-9-]+))?\}\}/g;

export function loadTemplates(): Template[] {
  const templates: Template[] = [];
  readFileSync(TEMPLATE_FILE, "utf8")
    .split("\n")
    .forEach((raw, index) => {
      const match = /^\[(text|json|json2)\] (.+)$/.exec(raw);
      if (!match) {
        if (raw.trim() && !raw.startsWith("#")) throw new Error(`masking-templates.txt:${index + 1}: not a template line`);
        return;
      }
      const kind = match[1]!;
      const source = kind === "text" ? match[2]!.replaceAll("\\n", "\n") : match[2]!;
      templates.push({ line: index + 1, format: kind === "text" ? "text" : "json", escape: kind === "text" ? 0 : kind === "json" ? 1 : 2, source, slots: [...source.matchAll(SLOT)].map((m) => m[1]!) });
    });
  return templates;
}

const escapeJson = (value: string): string => JSON.stringify(value).slice(1, -1);
const escapeLevel = (value: string, level: number): string => (level === 0 ? value : escapeLevel(escapeJson(value), level - 1));

function isEntity(slot: string): slot is EntityType {
  return (ENTITY_TYPES as readonly string[]).includes(slot);
}

/** JSON pointers of string leaves and object keys whose decoded text contains `needle`. */
function pointerOf(document: unknown, needle: string, path = ""): string | undefined {
  if (typeof document === "string") {
    if (!document.includes(needle)) {
      if (document.startsWith("{") || document.startsWith("[")) {
        try {
          const inner = pointerOf(JSON.parse(document), needle);
          return inner === undefined ? undefined : `${path}|${inner}`;
        } catch {
          return undefined;
        }
      }
      return undefined;
    }
    return path;
  }
  if (document === null || typeof document !== "object") return undefined;
  for (const [key, child] of Object.entries(document)) {
    const childPath = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (!Array.isArray(document) && key.includes(needle)) return `key:${path || "/"}`;
    const found = pointerOf(child, needle, childPath);
    if (found !== undefined) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Negatives: PII-free machine strings and LangGraph payloads.

const BENIGN_MESSAGES = [
  "Summarise the attached quarterly report in three bullet points.",
  "The Q3 numbers show 12% growth in the EMEA region and 4% in APAC.",
  "Step 3 of 5: validating the schema before the migration runs.",
  "I could not find a matching document; try narrowing the date range.",
  "Here is the refactored function with the retry loop moved into a helper.",
  "The build failed on node 20.18.1 because of a missing peer dependency.",
  "Retrying in 30 seconds (attempt 2 of 5).",
  "The graph finished in 1.84 s with 14 steps and 2 tool calls.",
  "Translate the release notes for version 2.4.0 into German.",
  "Which of these 250 tickets mention the checkout page?",
  "Sure, here is a haiku about autumn leaves.",
  "Compare plan A (monthly) with plan B (annual) for a team of 40.",
  "The weather tool returned 18 degrees and light rain for tomorrow.",
  "Rows 1200 to 1450 were skipped because the header was missing.",
  "Draft an agenda for the 45-minute design review on Thursday.",
];

const IDENTIFIERS = ["getUserById", "parseRequestTarget", "MAX_RETRY_COUNT", "user_email_address", "tokenizerConfig", "apiKeyHeaderName", "PASSWORD_MIN_LENGTH", "checkpointNamespace", "__pregel_pull", "langgraph_checkpoint_ns", "createReactAgent", "ToolNode", "StateGraph", "secret_manager_client", "on_chat_model_stream", "messages-tuple", "AIMessageChunk", "HumanMessage", "withStructuredOutput", "x-request-id", "Content-Security-Policy", "retry_after_ms", "sk_tokens_total", "phone_number_field", "iban_validation_enabled"];

/** The strings the masker must leave alone although they resemble a secret (masking.md §3). */
const KNOWN_FAKES = [
  "AKIAIOSFODNN7EXAMPLE",
  "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
  "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  "OPENAI_API_KEY=${OPENAI_API_KEY}",
  "password: changeme",
  "api_key: <your-api-key>",
  "token: {{ token }}",
  "secret=xxxxxxxxxxxxxxxxxxxx",
  "password=true",
  "ANTHROPIC_API_KEY=",
  "pk_live_51H8v2YDvA0mBQqLe",
  "auth: null",
];

function checkpointVersion(random: Random, step: number): string {
  return `${String(step).padStart(32, "0")}.0.${random.digits(16).replace(/^0/, "1")}`;
}

function langGraphPayload(random: Random): unknown {
  const thread = random.faker.string.uuid();
  const run = uuidV7(random);
  const assistant = random.faker.string.uuid();
  const created = random.date().toISOString();
  const node = random.pick(["agent", "tools", "retrieve", "grade", "generate"]);
  const message = (type: string) => ({ type, content: random.pick(BENIGN_MESSAGES), id: type === "ai" ? `run-${random.faker.string.uuid()}` : random.faker.string.uuid(), additional_kwargs: {}, response_metadata: {} });
  switch (random.int(0, 7)) {
    case 0:
      return { run_id: run, thread_id: thread, assistant_id: assistant, created_at: created, updated_at: created, status: random.pick(["pending", "running", "success", "error"]), metadata: { graph_id: node }, kwargs: { input: { messages: [message("human")] }, config: { configurable: { thread_id: thread, checkpoint_ns: "" } }, stream_mode: ["values", "messages-tuple"] }, multitask_strategy: "reject" };
    case 1:
      return { thread_id: thread, created_at: created, updated_at: created, metadata: { graph_id: node, assistant_id: assistant }, status: "idle", values: { messages: [message("human"), message("ai")] }, interrupts: {} };
    case 2: {
      const step = random.int(1, 40);
      return {
        values: { messages: [message("human"), message("ai")] },
        next: [random.pick(["tools", "agent"])],
        tasks: [{ id: random.faker.string.uuid(), name: node, path: ["__pregel_pull", node], error: null, interrupts: [], checkpoint: null, state: null, result: null }],
        metadata: { source: "loop", step, parents: {}, run_id: run, thread_id: thread, langgraph_step: step, langgraph_node: node },
        created_at: created,
        checkpoint: { checkpoint_id: uuidV7(random), thread_id: thread, checkpoint_ns: "" },
        parent_checkpoint: { checkpoint_id: uuidV7(random), thread_id: thread, checkpoint_ns: "" },
        channel_versions: { __start__: checkpointVersion(random, step), messages: checkpointVersion(random, step + 1), [`branch:to:${node}`]: checkpointVersion(random, step + 2) },
      };
    }
    case 3:
      return [
        { content: random.pick(["Sure", " the", " report", "ing", " 12", "%"]), additional_kwargs: {}, response_metadata: { model_name: "gpt-4o-mini-2024-07-18", system_fingerprint: `fp_${random.chars(HEX, 10)}`, finish_reason: null }, type: "AIMessageChunk", id: `run-${random.faker.string.uuid()}`, usage_metadata: { input_tokens: random.int(100, 9000), output_tokens: random.int(1, 900), total_tokens: random.int(1000, 9900) } },
        { langgraph_step: random.int(1, 9), langgraph_node: node, langgraph_triggers: [`branch:to:${node}`], langgraph_path: ["__pregel_pull", node], langgraph_checkpoint_ns: `${node}:${random.faker.string.uuid()}`, checkpoint_ns: `${node}:${random.faker.string.uuid()}`, ls_provider: "openai", ls_model_name: "gpt-4o-mini", ls_model_type: "chat", ls_temperature: 0.7 },
      ];
    case 4:
      return { type: "ai", content: "", tool_calls: [{ name: random.pick(["search_docs", "get_weather", "list_tickets"]), args: { query: random.pick(BENIGN_MESSAGES), top_k: random.int(1, 20) }, id: `call_${random.chars(ALNUM, 24)}`, type: "tool_call" }], id: `run-${random.faker.string.uuid()}`, usage_metadata: { input_tokens: random.int(100, 9000), output_tokens: random.int(1, 900) } };
    case 5:
      return { assistant_id: assistant, graph_id: node, config: { recursion_limit: 25 }, context: {}, created_at: created, updated_at: created, version: random.int(1, 9), name: `${node}-assistant`, description: null, metadata: { created_by: "system" } };
    case 6:
      return { type: "tool", name: "lookup_order", tool_call_id: `call_${random.chars(ALNUM, 24)}`, content: JSON.stringify({ order: `ORD-${random.int(2023, 2025)}-${random.digits(6)}`, items: random.int(1, 9), total: Number(`${random.int(10, 900)}.${random.digits(2)}`), shipped_at: created, carrier_ref: `1Z${random.chars(UPPER + DIGITS, 16)}` }) };
    default:
      return { event: "metadata", data: { run_id: run, attempt: 1 }, seq: random.int(1, 500), ts: random.date().getTime() };
  }
}

function negative(random: Random, kind: NegativeKind): string {
  switch (kind) {
    case "batch-number":
      return random.pick([
        () => `batch ${random.digits(5)}-${random.digits(2)}`,
        () => `lot ${random.int(10000, 99999)}-${random.digits(2)} passed QA`,
        () => `batch=${random.digits(5)}-${random.digits(2)}`,
        () => `part no. ${random.digits(4)}-${random.digits(2)}`,
        () => `LOT#${random.digits(6)}-${random.digits(1)}`,
        () => `ref ${random.int(10000, 99999)}-${random.digits(2)}`,
      ])();
    case "key-value-id":
      return random.pick([
        () => `order_id=${random.int(1, 9)}${random.digits(9)}`,
        () => `user_id=${random.int(1, 9)}${random.digits(8)}&page=${random.int(1, 40)}`,
        () => `build=${random.int(2023, 2025)}${random.digits(4)}.${random.int(1, 9)}`,
        () => `ts=${Math.floor(random.date().getTime() / 1000)}`,
        () => `run_id=${random.date().getTime()}`,
        () => `retry_after_ms=${random.int(100, 99_999)}`,
        () => `item_${random.digits(8)}`,
        () => `GET /v2/orders/${random.int(1, 9)}${random.digits(9)}/items?limit=${random.int(1, 100)}`,
        () => `level=info msg="job done" job_id=${random.int(1, 9)}${random.digits(8)} duration_ms=${random.int(1, 9999)}`,
        () => `version=${random.int(0, 20)}.${random.int(0, 40)}.${random.int(0, 99)}`,
        () => `sha=${random.chars(HEX, 40)}`,
        () => `id=${random.faker.string.uuid()}`,
      ])();
    case "cli-and-header":
      return random.pick([
        () => "Use the --password flag, or --password-file to read it from disk.",
        () => `mysql -u root -p ${random.faker.word.noun().toLowerCase().replace(/[^a-z]/g, "") || "app"}`,
        () => "mysql -u root -p$MYSQL_PASSWORD",
        () => `Cookie: theme=dark; lang=en-GB; _ga=GA1.2.${random.digits(9)}.${random.digits(10)}`,
        () => `Set-Cookie: locale=${random.pick(["en", "de", "fr"])}; Path=/; Max-Age=${random.int(60, 99_999)}`,
        () => "ls -pla /var/log && tar -xzf build.tgz",
      ])();
    case "uuid-v4":
      return random.pick(["", "thread ", "run_id=", "/threads/"]) + random.faker.string.uuid();
    case "uuid-v7":
      return uuidV7(random);
    case "sha1":
      return random.pick(["", "commit ", "sha1:"]) + random.chars(HEX, 40);
    case "sha256":
      return random.pick(["", "sha256:", "ETag: \""]) + random.chars(HEX, 64);
    case "base64":
      return random.bytes(random.int(12, 96)).toString(random.chance(0.3) ? "base64url" : "base64");
    case "epoch":
      return random.chance(0.7) ? String(random.date().getTime()) : `ts=${Math.floor(random.date().getTime() / 1000)}`;
    case "iso-datetime": {
      const iso = random.date().toISOString();
      return random.pick([iso, iso.slice(0, 10), iso.slice(0, 19), `${iso.slice(0, 10)} ${iso.slice(11, 23).replace(".", ",")}`, iso.slice(11, 19), iso.replace("Z", "+02:00")]);
    }
    case "order-number":
      return random.pick([
        () => `ORD-${random.int(2023, 2025)}-${random.digits(6)}`,
        () => `INV-${random.digits(9)}`,
        () => `order ${random.int(45, 49)}${random.digits(8)}`,
        () => `PO #${random.digits(7)}`,
        () => `invoice ${random.int(2023, 2025)}/${random.digits(5)}`,
        () => `1Z${random.chars(UPPER + DIGITS, 16)}`,
        () => `#${random.digits(random.int(4, 9))}`,
      ])();
    case "semver":
      return random.pick([
        () => `${random.int(0, 20)}.${random.int(0, 40)}.${random.int(0, 99)}`,
        () => `v${random.int(0, 20)}.${random.int(0, 40)}.${random.int(0, 99)}-${random.pick(["beta", "rc", "alpha"])}.${random.int(0, 9)}`,
        () => `^${random.int(1, 20)}.${random.int(0, 40)}.${random.int(0, 99)}`,
        () => `v${random.int(1, 9)}.${random.int(0, 9)}.${random.int(0, 9)}.${random.int(0, 9)}`,
        () => `version ${random.int(1, 9)}.${random.int(0, 9)}.${random.int(0, 99)}.${random.int(0, 999)}`,
      ])();
    case "identifier":
      return random.pick(IDENTIFIERS) + random.pick(["", "", "()", `_${random.int(1, 9)}`, `.${random.pick(IDENTIFIERS)}`]);
    case "luhn-failing-number": {
      const { digits } = cardNumber(random);
      const wrong = (Number(digits.at(-1)) + random.int(1, 9)) % 10;
      const bad = digits.slice(0, -1) + String(wrong);
      return random.chance(0.5) ? bad : groupDigits(bad, bad.length === 15 ? [4, 6, 5] : [4, 4, 4, 4], random.pick([" ", "-"]));
    }
    case "iban-one-digit-changed": {
      const country = random.pick(IBAN_COUNTRIES);
      const good = ibanFor(country, BBAN[country]!(random));
      const positions = [...good].map((char, i) => (i >= 2 && /\d/.test(char) ? i : -1)).filter((i) => i >= 0);
      const at = random.pick(positions);
      const bad = good.slice(0, at) + String((Number(good[at]) + random.int(1, 9)) % 10) + good.slice(at + 1);
      return random.chance(0.5) ? bad : bad.replace(/(.{4})(?=.)/g, "$1 ");
    }
    case "known-fake-secret":
      return random.pick(KNOWN_FAKES);
    case "langgraph-payload":
      return JSON.stringify(langGraphPayload(random));
    case "agent-prose":
      // What agents write that looks like a name, an address or coordinates and is none of them:
      // numbered steps with capitalised titles, team names after a cue, scores and embeddings.
      return random.pick([
        () => `Step ${random.int(1, 9)} Configure ${random.pick(["API", "AWS", "SSO", "DNS"])} ${random.pick(["Gateway", "Bridge", "Station", "Point"])}`,
        () => `Phase ${random.int(1, 5)} Create Feature ${random.pick(["Branch", "Flags", "Park", "Pass"])}`,
        () => `Use ${random.int(2, 3)} Factor Authentication ${random.pick(["Keys", "Views", "Locks"])}`,
        () => `Contact: ${random.pick(["Sales", "Support", "Billing", "Security"])} ${random.pick(["Department", "Team", "Desk"])}`,
        () => `Dear ${random.pick(["Team", "Customer", "Colleagues", "All"])}, the release ${random.int(1, 9)}.${random.int(0, 20)}.${random.int(0, 9)} is out.`,
        () => `{"display_name": "${random.pick(["Research Bot", "Billing Assistant", "Triage Agent"])}", "version": ${random.int(1, 9)}}`,
        () => `scores [${random.int(0, 999) / 1000}, ${random.int(0, 999) / 1000}, ${(random.int(0, 99999) / 100000).toFixed(5)}, ${(random.int(0, 99999) / 100000).toFixed(5)}]`,
        () => `Chapter ${random.int(1, 30)} Into The ${random.pick(["Woods", "Valley", "Mountains", "Harbor"])}`,
        () => `Sprint ${random.int(1, 40)} Planning Meeting Room ${random.int(1, 9)}`,
      ])();
    case "hex-pairs-and-codes":
      // Look-alikes of MAC addresses and NINOs that are neither.
      return random.pick([
        () => `RSA key fingerprint is MD5:${Array.from({ length: 16 }, () => random.chars(HEX, 2)).join(":")}`,
        () => `fingerprint ${Array.from({ length: 20 }, () => random.chars(HEX.toUpperCase(), 2)).join(":")}`,
        () => `uptime ${random.int(1, 400)} days, ${String(random.int(0, 23)).padStart(2, "0")}:${random.digits(2)}:${random.digits(2)}`,
        () => `color: #${random.chars(HEX, 6)}; border: 1px solid #${random.chars(HEX, 6)}`,
        () => `at ${String(random.int(0, 23)).padStart(2, "0")}:${random.digits(1)}${random.digits(1)}:${random.digits(2)}.${random.digits(3)}`,
        () => `SKU-${random.chars(UPPER, 2)}${random.digits(6)}${random.pick(["A", "B", "C", "D"])}`,
        () => `part ${random.chars(UPPER, 2)}${random.digits(6)}`,
        () => `commit ${random.chars(HEX, 7)} (${random.chars(HEX, 40)})`,
        () => `${random.chars(HEX, 2)}:${random.chars(HEX, 2)}:${random.chars(HEX, 2)}:${random.chars(HEX, 2)}:${random.chars(HEX, 2)}:${random.chars(HEX, 2)}:${random.chars(HEX, 2)}`,
        () => `tx 0x${random.chars(HEX, 64)}`,
        () => `contract 0x${random.chars(HEX, 40)} deployed in block ${random.int(1, 9)}${random.digits(7)}`,
        () => `order total $${random.int(1, 9)},${random.digits(3)}.${random.digits(2)} (code ${random.digits(3)})`,
        () => `cvv check passed for order ${random.int(1, 9)}${random.digits(7)} on ${random.date().toISOString().slice(0, 10)}`,
        () => `build 0x${random.chars(HEX, 4)} shipped on ${random.date().toISOString().slice(0, 10)}, ${random.int(100, 999)} items`,
        () => `bc1 ${random.chars(LOWER, 8)} ${random.digits(3)}`,
      ])();
  }
}

const NEGATIVE_MIX: [NegativeKind, number][] = [
  ["uuid-v4", 900],
  ["uuid-v7", 700],
  ["sha1", 500],
  ["sha256", 500],
  ["base64", 900],
  ["epoch", 700],
  ["iso-datetime", 800],
  ["order-number", 800],
  ["semver", 600],
  ["identifier", 600],
  ["luhn-failing-number", 700],
  ["iban-one-digit-changed", 700],
  ["known-fake-secret", 200],
  ["batch-number", 600],
  ["key-value-id", 900],
  ["cli-and-header", 300],
  ["langgraph-payload", 2400],
  ["hex-pairs-and-codes", 600],
  ["agent-prose", 600],
];

// ---------------------------------------------------------------------------------------------

export function generateCorpus(seed: number, options: CorpusOptions = {}): MaskingCorpus {
  const perEntity = options.perEntity ?? 250;
  const negativeCount = options.negatives ?? 14_000;
  const random = new Random(seed);
  const keys = keyPool(random);
  const templates = loadTemplates();
  const values: GeneratedValue[] = [];

  const makers: Record<EntityType, (form?: string) => Value> = {
    EMAIL_ADDRESS: () => email(random),
    CREDIT_CARD: () => creditCard(random),
    IBAN_CODE: () => iban(random),
    US_SSN: (form) => ssn(random, form),
    PHONE_NUMBER: (form) => phone(random, form),
    IP_ADDRESS: () => IP(random),
    US_ITIN: () => itin(random),
    ABA_ROUTING: () => abaRouting(random),
    UK_NHS: () => nhsNumber(random),
    CA_SIN: () => caSin(random),
    UK_NINO: () => ukNino(random),
    CARD_SECURITY_CODE: () => cardSecurityCode(random),
    CRYPTO_WALLET: () => cryptoWallet(random),
    DATE_OF_BIRTH: () => dateOfBirth(random),
    PERSON: () => personName(random),
    STREET_ADDRESS: () => streetAddress(random),
    GEO_COORDINATE: () => geoCoordinate(random),
    BANK_ACCOUNT: () => ({ text: `${random.int(1, 9)}${random.digits(random.int(7, 11))}`, variant: "digits" }),
    PASSPORT: () => ({ text: `${random.int(1, 9)}${random.digits(8)}`, variant: "9 digits" }),
    DRIVER_LICENSE: () => ({ text: `${random.int(1, 9)}${random.digits(random.int(6, 8))}`, variant: "digits" }),
    MAC_ADDRESS: () => macAddress(random),
    AWS_ACCESS_KEY: () => awsAccessKey(random),
    AWS_SECRET_KEY: () => awsSecretKey(random),
    GITHUB_TOKEN: () => githubToken(random),
    GITLAB_TOKEN: () => gitlabToken(random),
    SLACK_TOKEN: () => slackToken(random),
    SLACK_WEBHOOK: () => slackWebhook(random),
    STRIPE_KEY: () => stripeKey(random),
    OPENAI_API_KEY: () => openAiKey(random),
    ANTHROPIC_API_KEY: () => anthropicKey(random),
    GOOGLE_API_KEY: () => googleKey(random),
    NPM_TOKEN: () => npmToken(random),
    HUGGINGFACE_TOKEN: () => huggingFaceToken(random),
    JSON_WEB_TOKEN: () => jwt(random, keys),
    PRIVATE_KEY: () => {
      const block = random.pick(keys.blocks);
      return { text: block.pem, variant: block.variant };
    },
    AUTHORIZATION_HEADER: () => authorizationHeader(random),
    URL_CREDENTIALS: () => urlCredentials(random),
    SENDGRID_API_KEY: () => sendGridKey(random),
    TELEGRAM_BOT_TOKEN: () => telegramBotToken(random),
    HTTP_COOKIE: () => sessionCookie(random),
    PASSWORD: () => commandLinePassword(random),
    GENERIC_SECRET: () => genericSecret(random),
  };

  const fill = (template: Template, id: string): CorpusText => {
    let text = "";
    const names: Array<[number, number]> = [];
    const spans: (Span & { raw: string })[] = [];
    let at = 0;
    for (const match of template.source.matchAll(SLOT)) {
      text += template.source.slice(at, match.index);
      at = match.index + match[0].length;
      const slot = match[1]!;
      if (!isEntity(slot)) {
        const written = escapeLevel(filler(random, slot), template.escape);
        if (slot === "name" || slot === "first") names.push([text.length, text.length + written.length]);
        text += written;
        continue;
      }
      const form = match[2];
      let value = makers[slot](isEncoding(form) ? undefined : form);
      if (isEncoding(form)) value = { text: encode(random, value.text, form), variant: `${value.variant} ${form}` };
      const [from, to] = value.annotate ?? [0, value.text.length];
      values.push({ type: slot, variant: value.variant, text: value.text, annotated: value.text.slice(from, to), ...(isEncoding(form) ? { encoding: form } : {}) });
      const start = text.length + escapeLevel(value.text.slice(0, from), template.escape).length;
      const end = text.length + escapeLevel(value.text.slice(0, to), template.escape).length;
      const span: Span & { raw: string } = { start, end, type: slot, variant: value.variant, raw: value.text.slice(from, to) };
      if (/Bearer $/.test(text)) span.alsoAccept = ["AUTHORIZATION_HEADER"];
      spans.push(span);
      text += escapeLevel(value.text, template.escape);
    }
    text += template.source.slice(at);
    let document: unknown;
    if (template.format === "json") {
      try {
        document = JSON.parse(text);
      } catch (error) {
        throw new Error(`masking-templates.txt:${template.line}: the filled template is not JSON (${(error as Error).message})`);
      }
    }
    return {
      id,
      template: template.line,
      format: template.format,
      text,
      ...(names.length > 0 ? { names } : {}),
      spans: spans.map(({ raw, ...span }) => {
        const pointer = template.format === "json" ? pointerOf(document, raw) : undefined;
        return pointer === undefined ? span : { ...span, pointer };
      }),
    };
  };

  const texts: CorpusText[] = [];
  for (const entity of ENTITY_TYPES) {
    const carrying = templates.filter((template) => template.slots.includes(entity));
    if (carrying.length === 0) throw new Error(`masking-templates.txt has no template for ${entity}`);
    for (let i = 0; i < perEntity; i += 1) texts.push(fill(random.pick(carrying), `${entity}-${i}`));
  }

  const negatives: NegativeItem[] = [];
  const total = NEGATIVE_MIX.reduce((sum, [, count]) => sum + count, 0);
  for (const [kind, count] of NEGATIVE_MIX) {
    const scaled = Math.max(1, Math.round((count * negativeCount) / total));
    for (let i = 0; i < scaled; i += 1) negatives.push({ id: `${kind}-${i}`, kind, text: negative(random, kind) });
  }
  return { seed, texts, negatives, values };
}

/** A PII-free LangGraph thread state of about `bytes` characters (benchmarks: the clean path). */
export function cleanThreadState(seed: number, bytes: number): string {
  const random = new Random(seed);
  const thread = random.faker.string.uuid();
  const messages: unknown[] = [];
  const state = { thread_id: thread, created_at: random.date().toISOString(), metadata: { graph_id: "agent", assistant_id: random.faker.string.uuid() }, status: "idle", values: { messages }, checkpoints: [] as unknown[] };
  let size = JSON.stringify(state).length;
  while (size < bytes) {
    const item = langGraphPayload(random);
    (random.chance(0.7) ? messages : state.checkpoints).push(item);
    size += JSON.stringify(item).length + 1;
  }
  return JSON.stringify(state);
}
