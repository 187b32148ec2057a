// Structured PII detectors (masking.md §2, §3): what each one finds and rejects, cross-checked
// against ibantools and faker; machine JSON left alone; the streaming contract of types.ts at every
// split offset; and hostile input in bounded time (§8).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { faker } from "@faker-js/faker";
import * as ibantools from "ibantools";
import { piiDetectors } from "../../src/mask/detect/pii.js";
import { Scanner } from "../../src/mask/detect/scanner.js";
import { defaultMasker, MaskingTally, TextStreamMasker } from "../../src/mask/index.js";
import { MASK_THRESHOLD, type Detector, type DetectorSettings, type Finding } from "../../src/mask/detect/types.js";
import { seededRandom } from "../support/seededRandom.js";

const SEED = 20241122;
console.log(`mask-pii: seed ${SEED}`);

const TIER_2 = ["US_SSN", "US_ITIN", "ABA_ROUTING", "UK_NHS", "UK_NINO", "CA_SIN", "MAC_ADDRESS", "PL_PESEL"];
const PRESIDIO_REGIONS = ["US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"];

function settings(overrides: Partial<DetectorSettings> = {}): DetectorSettings {
  return { phoneRegions: PRESIDIO_REGIONS, maskPrivateIps: true, optIn: new Set(), ...overrides };
}

const TIER_1 = piiDetectors(settings());
const ALL = piiDetectors(settings({ optIn: new Set(TIER_2) }));

function findingsOf(detectors: readonly Detector[], text: string): Finding[] {
  const out: Finding[] = [];
  for (const detector of detectors) detector.find(text, out);
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}

/** [entity, matched text] for every maskable finding. */
function masked(text: string, detectors: readonly Detector[] = TIER_1): Array<[string, string]> {
  return findingsOf(detectors, text)
    .filter((finding) => finding.score >= MASK_THRESHOLD)
    .map((finding) => [finding.entity, text.slice(finding.start, finding.end)]);
}

function assertFinds(text: string, entity: string, value: string, detectors: readonly Detector[] = TIER_1): void {
  assert.ok(
    masked(text, detectors).some(([e, v]) => e === entity && v === value),
    `expected ${entity} ${JSON.stringify(value)} in ${JSON.stringify(text)}, got ${JSON.stringify(masked(text, detectors))}`,
  );
}

function assertNone(text: string, entity: string, detectors: readonly Detector[] = TIER_1): void {
  const hits = masked(text, detectors).filter(([e]) => e === entity);
  assert.deepEqual(hits, [], `expected no ${entity} in ${JSON.stringify(text)}`);
}


const random = seededRandom(SEED);
const randomDigits = (count: number) => Array.from({ length: count }, () => Math.floor(random() * 10)).join("");

/** Luhn, written independently of the detector: double every second digit from the right. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  [...digits].reverse().forEach((char, k) => {
    const doubled = Number(char) * (k % 2 === 1 ? 2 : 1);
    sum += doubled > 9 ? doubled - 9 : doubled;
  });
  return sum % 10 === 0;
}

/** A card number with the given prefix and length and a correct Luhn check digit. */
function cardNumber(prefix: string, length: number): string {
  const body = prefix + randomDigits(length - prefix.length - 1);
  const check = [...Array(10).keys()].find((digit) => luhnValid(body + digit));
  return body + String(check);
}

function group(digits: string, layout: readonly number[], separator: string): string {
  const groups: string[] = [];
  let at = 0;
  for (const length of layout) {
    groups.push(digits.slice(at, at + length));
    at += length;
  }
  return groups.join(separator);
}

/** ISO 13616 check digits with BigInt (independent of the detector's chunked remainder). */
function iban(country: string, bban: string): string {
  const numeric = (value: string) => [...value].map((char) => (/[A-Z]/.test(char) ? String(char.charCodeAt(0) - 55) : char)).join("");
  const check = 98n - (BigInt(numeric(`${bban}${country}00`)) % 97n);
  return `${country}${String(check).padStart(2, "0")}${bban}`;
}

const inFours = (value: string) => value.replace(/(.{4})(?=.)/g, "$1 ");

describe("EMAIL_ADDRESS", () => {
  test("finds addresses in prose and JSON, without a trailing sentence dot", () => {
    assertFinds("Write to jane.doe+tag@mail.example.co.uk.", "EMAIL_ADDRESS", "jane.doe+tag@mail.example.co.uk");
    assertFinds('{"to":"ops_team-1@example.com","cc":[]}', "EMAIL_ADDRESS", "ops_team-1@example.com");
    assertFinds("(bob@example.org)", "EMAIL_ADDRESS", "bob@example.org");
    assertFinds("IDN TLD in punycode: ivan@example.xn--p1ai", "EMAIL_ADDRESS", "ivan@example.xn--p1ai");
  });

  test("finds faker-generated addresses", () => {
    faker.seed(SEED);
    for (let k = 0; k < 200; k++) {
      const email = faker.internet.email();
      assertFinds(`contact: ${email} today`, "EMAIL_ADDRESS", email);
    }
  });

  test("leaves the password of scheme://user:password@host to URL_CREDENTIALS", () => {
    assertNone("DATABASE_URL=postgresql://app_user:S3cr3tPass@db.example.com:5432/app", "EMAIL_ADDRESS");
    assertNone("amqp://svc:E8AExvIzPV4z8Epkkx6-J@mq.example.com/", "EMAIL_ADDRESS");
    assertFinds("mailto:jane@example.com", "EMAIL_ADDRESS", "jane@example.com");
    assertFinds("note:jane@example.com", "EMAIL_ADDRESS", "jane@example.com");
  });

  test("rejects hosts without an IANA TLD, handles, file names and package specifiers", () => {
    for (const text of ["user@localhost", "user@host.local", "a@b.zz", "follow @jane", "icon@2x.png", "npm i @langchain/core@1.4.0", "a@b"]) {
      assertNone(text, "EMAIL_ADDRESS");
    }
  });

  test("rejects local parts over 64 chars, labels over 63, addresses over 254, bad dots and a second @", () => {
    assertNone(`${"a".repeat(65)}@example.com`, "EMAIL_ADDRESS");
    assertFinds(`${"a".repeat(64)}@example.com`, "EMAIL_ADDRESS", `${"a".repeat(64)}@example.com`);
    assertNone(`jane@${"b".repeat(64)}.com`, "EMAIL_ADDRESS");
    assertNone(`jane@${"b.".repeat(127)}com`, "EMAIL_ADDRESS");
    const longest = `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(57)}.com`;
    assert.equal(longest.length, 254);
    assertFinds(`to ${longest}.`, "EMAIL_ADDRESS", longest);
    assertNone(`to ${longest.replace("@", "@e")}.`, "EMAIL_ADDRESS"); // 255 chars
    for (const text of ["a..b@example.com", ".a@example.com", "a.@example.com", "a@b@example.com", "jane@-example.com", "jane@example..com"]) {
      assertNone(text, "EMAIL_ADDRESS");
    }
  });
});

describe("CREDIT_CARD", () => {
  const issuers: Array<[string, string, number, readonly number[]]> = [
    ["Visa", "4", 16, [4, 4, 4, 4]],
    ["Visa 13", "4", 13, [4, 4, 4, 1]],
    ["Visa 19", "4", 19, [4, 4, 4, 4, 3]],
    ["Mastercard", "53", 16, [4, 4, 4, 4]],
    ["Mastercard 2-series", "2221", 16, [4, 4, 4, 4]],
    ["American Express", "37", 15, [4, 6, 5]],
    ["Discover", "6011", 16, [4, 4, 4, 4]],
    ["JCB", "3530", 16, [4, 4, 4, 4]],
    ["Diners Club", "305", 14, [4, 6, 4]],
    ["UnionPay", "62", 16, [4, 4, 4, 4]],
    ["Maestro", "50", 16, [4, 4, 4, 4]],
  ];
  for (const [issuer, prefix, length, layout] of issuers) {
    test(`finds ${issuer} numbers compact, spaced and hyphenated`, () => {
      const digits = cardNumber(prefix, length);
      for (const value of [digits, group(digits, layout, " "), group(digits, layout, "-")]) {
        assertFinds(`card ${value} exp 12/27`, "CREDIT_CARD", value);
        assertFinds(`{"card":"${value}"}`, "CREDIT_CARD", value);
      }
    });
  }

  test("finds faker-generated numbers of six issuers", () => {
    faker.seed(SEED);
    for (const issuer of ["visa", "mastercard", "american_express", "discover", "jcb", "diners_club"]) {
      for (let k = 0; k < 20; k++) {
        const value = faker.finance.creditCardNumber(issuer);
        assert.ok(luhnValid(value.replace(/-/g, "")), value);
        assertFinds(`paid with ${value}.`, "CREDIT_CARD", value);
      }
    }
  });

  test("rejects a changed digit, 4111111111111112 and numbers no issuer uses", () => {
    const valid = cardNumber("4", 16);
    const changed = valid.slice(0, 15) + String((Number(valid[15]) + 1) % 10);
    assertNone(changed, "CREDIT_CARD");
    assertFinds("4111111111111111", "CREDIT_CARD", "4111111111111111");
    assertNone("4111111111111112", "CREDIT_CARD");
    assertNone(cardNumber("9", 16), "CREDIT_CARD"); // no issuer starts with 9
    assertNone(cardNumber("37", 16), "CREDIT_CARD"); // American Express numbers have 15 digits
    assertNone(cardNumber("51", 19), "CREDIT_CARD"); // Mastercard numbers have 16 digits
  });

  test("rejects all-identical digits even when Luhn and the issuer table pass", () => {
    const identical = [13, 14, 15, 16, 17, 18, 19].flatMap((length) => [...Array(10).keys()].map((digit) => String(digit).repeat(length)));
    const luhnPassing = identical.filter((value) => luhnValid(value) && /^(?:4|5[06-9]|6)/.test(value));
    assert.ok(luhnPassing.includes("6666666666666"), "6666666666666 passes Luhn and the Maestro range");
    for (const value of luhnPassing) assertNone(`card ${value}`, "CREDIT_CARD");
  });

  test("finds a card next to other digit groups, but not the first 16 digits of a longer number", () => {
    const digits = cardNumber("4", 16);
    const printed = group(digits, [4, 4, 4, 4], " ");
    assertFinds(`${printed} 12/27`, "CREDIT_CARD", printed);
    assertFinds(`exp 12/27 ${printed}`, "CREDIT_CARD", printed);
    // A 19-digit number printed 4-4-4-4-3 that fails Luhn, though its first 16 digits pass.
    let longer = `${digits}${randomDigits(3)}`;
    while (luhnValid(longer)) longer = `${digits}${randomDigits(3)}`;
    assertNone(group(longer, [4, 4, 4, 4, 3], " "), "CREDIT_CARD");
  });

  test("rejects mixed separators, odd layouts, decimals and digits glued to tokens", () => {
    const digits = cardNumber("4", 16);
    for (const text of [
      `${digits.slice(0, 4)} ${digits.slice(4, 8)}-${digits.slice(8, 12)} ${digits.slice(12)}`,
      group(digits, [3, 5, 4, 4], " "),
      group(digits, [4, 4, 4, 4], "  "),
      `0.${digits}`,
      `x${digits}`,
      `${digits}x`,
      `ORD-${digits}`,
      `${digits}-abc`,
      `${digits}7`,
    ]) {
      assertNone(text, "CREDIT_CARD");
    }
  });
});

describe("IBAN_CODE", () => {
  // Examples from the SWIFT IBAN registry and national banks, one per country.
  const examples = [
    "DE89370400440532013000",
    "GB82WEST12345698765432",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "CH9300762011623852957",
    "AT611904300234573201",
    "PL61109010140000071219812874",
    "SE4550000000058398257466",
    "NO9386011117947",
    "DK5000400440116243",
    "FI2112345600000785",
    "IE29AIBK93115212345678",
    "PT50000201231234567890154",
  ];
  for (const value of examples) {
    test(`finds ${value.slice(0, 2)} compact and in groups of four (ibantools agrees)`, () => {
      assert.ok(ibantools.isValidIBAN(value), `ibantools rejects ${value}`);
      assertFinds(`IBAN ${value}, thanks`, "IBAN_CODE", value);
      assertFinds(`IBAN: ${inFours(value)} please`, "IBAN_CODE", inFours(value));
      assertFinds(`{"iban":"${value}"}`, "IBAN_CODE", value);
    });
  }

  test("knows the length of every country that uses IBANs (per ibantools)", () => {
    const countries = Object.entries(ibantools.getCountrySpecifications()).filter(([, spec]) => spec.chars);
    assert.ok(countries.length > 110, `${countries.length} countries`);
    for (const [country, spec] of countries) {
      const length = spec.chars ?? 0;
      const value = iban(country, randomDigits(length - 4));
      assertFinds(`account ${value}`, "IBAN_CODE", value);
      for (const wrong of [iban(country, randomDigits(length - 5)), iban(country, randomDigits(length - 3))]) {
        assert.ok(ibantools.validateIBAN(wrong).errorCodes.includes(ibantools.ValidationErrorsIBAN.WrongBBANLength), wrong);
        assertNone(`account ${wrong}`, "IBAN_CODE");
      }
    }
  });

  test("agrees with ibantools on faker IBANs and on each with one digit changed", () => {
    faker.seed(SEED);
    const checksumErrors = [
      ibantools.ValidationErrorsIBAN.NoIBANCountry,
      ibantools.ValidationErrorsIBAN.WrongBBANLength,
      ibantools.ValidationErrorsIBAN.WrongIBANChecksum,
    ];
    for (let k = 0; k < 150; k++) {
      const value = faker.finance.iban();
      const position = 4 + Math.floor(random() * (value.length - 4));
      const changed = value.slice(0, position) + (/\d/.test(value[position] ?? "") ? String((Number(value[position]) + 1) % 10) : "Z") + value.slice(position + 1);
      for (const candidate of [value, changed]) {
        const valid = !ibantools.validateIBAN(candidate).errorCodes.some((code) => checksumErrors.includes(code));
        assert.equal(masked(`IBAN ${candidate}.`).some(([entity]) => entity === "IBAN_CODE"), valid, candidate);
      }
    }
  });

  test("takes lower case only in compact form", () => {
    assertFinds("iban de89370400440532013000", "IBAN_CODE", "de89370400440532013000");
    assertNone("iban de89 3704 0044 0532 0130 00", "IBAN_CODE");
    assertNone("iban De89370400440532013000", "IBAN_CODE");
  });

  test("rejects a changed digit, unknown countries, bad grouping and IBANs inside tokens", () => {
    for (const text of [
      "DE89370400440532013001",
      "XX89370400440532013000",
      "DE89 3704 0044 0532 0130 0",
      "DE89 37040044 0532 0130 00",
      "DE89370400440532013000X",
      "xDE89370400440532013000",
      "DE8937040044053201300012",
    ]) {
      assertNone(text, "IBAN_CODE");
    }
  });
});

describe("US_SSN", () => {
  test("finds AAA-GG-SSSS with one repeated hyphen or space; context raises the score", () => {
    assertFinds("SSN 536-22-1234.", "US_SSN", "536-22-1234");
    assertFinds("id 536 22 1234 on file", "US_SSN", "536 22 1234");
    const [plain, withContext] = ["ref 536-22-1234", "my ssn is 536-22-1234"].map((text) => findingsOf(TIER_1, text).find((f) => f.entity === "US_SSN"));
    assert.equal(plain?.score, 0.5);
    assert.ok((withContext?.score ?? 0) > 0.8);
  });

  test("rejects impossible areas, groups and serials, identical digits and published samples", () => {
    for (const value of ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "536-00-1234", "536-22-0000", "111-11-1111", "123-45-6789", "078-05-1120", "219-09-9999", "987-65-4321"]) {
      assertNone(`SSN ${value}`, "US_SSN");
    }
  });

  test("rejects mixed separators, longer numbers and bare digits without a context word", () => {
    for (const text of ["536-22 1234", "536 22-1234", "1-536-22-1234", "536-22-1234-5", "536221234", "invoice 536221234"]) assertNone(text, "US_SSN");
  });
});

describe("context words in key=value, query-string and snake_case forms", () => {
  test("finds a value right after `=`, `_`-joined keys, `&key=` and a path segment", () => {
    assertFinds("level=info ssn=718-76-1182 user=42", "US_SSN", "718-76-1182");
    assertFinds("card_number=4111111111111111 exp=12/27", "CREDIT_CARD", "4111111111111111");
    assertFinds("GET /pay?order=19&pan=4111111111111111&cvv=", "CREDIT_CARD", "4111111111111111");
    assertFinds("POST /v1/users/ssn/718-76-1182 HTTP/1.1", "US_SSN", "718-76-1182");
    assertFinds("/send?msisdn=14155552671&text=hi", "PHONE_NUMBER", "14155552671");
    assertFinds("phone_number=2125550123", "PHONE_NUMBER", "2125550123");
    assertFinds("{phoneNumber: 2125550123}", "PHONE_NUMBER", "2125550123");
  });

  test("finds bare nine-digit SSNs next to a context word, by default", () => {
    assertFinds("SSN: 473825060", "US_SSN", "473825060");
    assertFinds("user_ssn: 473825060", "US_SSN", "473825060");
    assertFinds("ssn=473825060&dob=", "US_SSN", "473825060");
    assertFinds("socialSecurityNumber=473825060", "US_SSN", "473825060");
  });

  test("finds numbers libphonenumber calls invalid after a phone word, and bare ten digits after text/call me at", () => {
    assertFinds("phone: 555-201-3344", "PHONE_NUMBER", "555-201-3344");
    assertFinds("Mobile (555) 201-3344", "PHONE_NUMBER", "(555) 201-3344");
    assertFinds("text me at 5552013344 tonight", "PHONE_NUMBER", "5552013344");
    assertFinds("call me at 5552013344", "PHONE_NUMBER", "5552013344");
    assertNone("order 5552013344 shipped", "PHONE_NUMBER");
    assertNone("text 5552013344", "PHONE_NUMBER");
  });

  test("leaves batch and order numbers, ids, hashes, versions and timestamps alone after `=`", () => {
    for (const text of [
      "batch 82699-65",
      "lot 82699-65 passed QA",
      "batch=82699-65",
      "order_id=4455667788",
      "run_id=1732240000000",
      "ts=1732240000",
      "build=20241122.3",
      "version=10.2.33",
      "sha=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
      "id=550e8400-e29b-41d4-a716-446655440000",
      "user_12345678",
      "retry_after_ms=1500",
    ]) {
      assert.deepEqual(masked(text), [], text);
    }
  });
});

describe("PHONE_NUMBER", () => {
  const phones = [
    "(212) 555-0123",
    "212-555-0123",
    "212.555.0123",
    "+1 212 555 0123",
    "1-800-555-0199",
    "+14155552671",
    "020 7946 0958",
    "+44 20 7946 0958",
    "+44 (0)20 7946 0958",
    "07911 123456",
    "030 12345678",
    "+49 30 12345678",
    "0049 30 12345678",
    "01 23 45 67 89",
    "06 12 34 56 78",
    "+33 1 23 45 67 89",
    "+91 98765 43210",
    "098765 43210",
    "+972 3 123 4567",
    "(11) 91234-5678",
  ];
  for (const phone of phones) {
    test(`finds ${phone} in prose and JSON`, () => {
      assertFinds(`Reach me on ${phone}, thanks`, "PHONE_NUMBER", phone);
      assertFinds(`{"phone":"${phone}"}`, "PHONE_NUMBER", phone);
    });
  }

  test("finds bare digits only after a phone word among the five before", () => {
    assertFinds("call me at 2125550123", "PHONE_NUMBER", "2125550123");
    assertFinds("Tel: 02079460958", "PHONE_NUMBER", "02079460958");
    assertFinds("phones: 2125550123", "PHONE_NUMBER", "2125550123");
    assertNone("order 2125550123 shipped", "PHONE_NUMBER");
    assertNone("telephone company was here and then 2125550123", "PHONE_NUMBER"); // six words back
    assertNone("hotel 2125550123", "PHONE_NUMBER"); // whole words: "tel" is not inside "hotel"
  });

  test("rejects dates, epoch milliseconds, versions, decimals, amounts and ids", () => {
    for (const text of [
      "on 2024-11-22 at noon",
      "2024-11-22 05:39:00",
      "22.11.2024",
      "11/22/2024",
      "call 1732240000000",
      "ts 1732240000000",
      "semver 1.2.3",
      "version 10.0.0.1",
      "192.168.100.200",
      "score 0.8123456789",
      "at 48.8566 2.3522",
      "total 1 234 567",
      "from 2019-2024",
      "ORD-2024-555-0123",
      "id 550e8400-e29b-41d4-a716-446655440000",
      "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "b64 aGVsbG8+2125550123/d29ybGQ=",
      "SSN 536-22-1234",
      "invoice 2023/92829",
      "ref 2024-60133",
      "card 4936 4006 5553 5425",
      "amex 3743-929165-69350",
      "IBAN NL48 TRIO 2204 5602 81",
      "IBAN GB62 MONZ 2653 9865 7740 23",
    ]) {
      assertNone(text, "PHONE_NUMBER");
    }
  });

  test("validates national numbers only for the configured regions; + numbers always", () => {
    const usOnly = piiDetectors(settings({ phoneRegions: ["US"] }));
    assertNone("ring 020 7946 0958", "PHONE_NUMBER", usOnly);
    assertFinds("ring +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958", usOnly);
    assertFinds("ring (212) 555-0123", "PHONE_NUMBER", "(212) 555-0123", usOnly);
  });

  test("refuses a region libphonenumber does not know", () => {
    assert.throws(() => piiDetectors(settings({ phoneRegions: ["UK"] })), /"UK".*GB/);
  });
});

describe("IP_ADDRESS", () => {
  test("finds IPv4, IPv4 with a port, and IPv6 in full, compressed and mixed forms", () => {
    const cases: Array<[string, string]> = [
      ["client 203.0.113.7 connected", "203.0.113.7"],
      ["dns 8.8.8.8:53.", "8.8.8.8"],
      ["http://198.51.100.20/login", "198.51.100.20"],
      ["from 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"],
      ["from 2001:db8::8a2e:370:7334 today", "2001:db8::8a2e:370:7334"],
      ["loopback ::1", "::1"],
      ["mapped ::ffff:192.0.2.128", "::ffff:192.0.2.128"],
      ["nat64 64:ff9b::192.0.2.33", "64:ff9b::192.0.2.33"],
      ["url [2001:db8::1]:443", "2001:db8::1"],
      ["link fe80::1%eth0 up", "fe80::1"],
      ['{"ip":"10.0.0.1"}', "10.0.0.1"],
    ];
    for (const [text, address] of cases) assertFinds(text, "IP_ADDRESS", address);
  });

  test("finds faker addresses", () => {
    faker.seed(SEED);
    for (let k = 0; k < 100; k++) {
      const [v4, v6] = [faker.internet.ipv4(), faker.internet.ipv6()];
      assertFinds(`peer ${v4} and ${v6}.`, "IP_ADDRESS", v4);
      assertFinds(`peer ${v4} and ${v6}.`, "IP_ADDRESS", v6);
    }
  });

  test("rejects out-of-range and zero-padded octets, versions, code and timestamps", () => {
    for (const text of [
      "999.1.1.1",
      "01.2.3.4",
      "1.2.3.4.5",
      "v1.2.3.4",
      "version 10.0.0.1",
      "Version: 1.2.3.4",
      "std::vector<int>",
      "A::B",
      "at 12:30:45",
      "2024-11-22T05:39:00.123Z",
      "mac 00:1a:2b:3c:4d:5e",
      "::",
    ]) {
      assertNone(text, "IP_ADDRESS");
    }
  });

  test("masks private, loopback and link-local addresses only when the policy says so", () => {
    const publicOnly = piiDetectors(settings({ maskPrivateIps: false }));
    for (const address of ["10.1.2.3", "172.16.0.9", "192.168.1.1", "127.0.0.1", "169.254.10.20", "::1", "fe80::1", "fd00::42"]) {
      assertFinds(`host ${address} up`, "IP_ADDRESS", address);
      assertNone(`host ${address} up`, "IP_ADDRESS", publicOnly);
    }
    assertFinds("host 203.0.113.7 up", "IP_ADDRESS", "203.0.113.7", publicOnly);
    assertFinds("host 172.32.0.1 up", "IP_ADDRESS", "172.32.0.1", publicOnly);
  });
});

describe("context-only personal data (on by default, next to a context word)", () => {
  test("CARD_SECURITY_CODE: 3 or 4 digits right after cvv, cvc or security code", () => {
    assertFinds("card 4111111111111111 exp 09/27 cvv 123", "CARD_SECURITY_CODE", "123");
    assertFinds("CVV: 4821", "CARD_SECURITY_CODE", "4821");
    assertFinds("cvc2=771&x=1", "CARD_SECURITY_CODE", "771");
    assertFinds("Security code is 902.", "CARD_SECURITY_CODE", "902");
    assertFinds('{"securityCode":"318"}', "CARD_SECURITY_CODE", "318");
    assertFinds("cardCvv=551", "CARD_SECURITY_CODE", "551");
    for (const text of ["cvv 12", "cvvx 123", "tcvv 123", "the CVC was 12345", "code 123", "cvv check passed for order 12345678", "cvv 123-456"]) assertNone(text, "CARD_SECURITY_CODE");
  });

  test("CRYPTO_WALLET: Ethereum 0x+40 hex and Bitcoin bech32/bech32m with their checksum, each next to a context word", () => {
    assertFinds("send 1 ETH to 0x52908400098527886E0F7030069857D2E4169EE7 today", "CRYPTO_WALLET", "0x52908400098527886E0F7030069857D2E4169EE7");
    assertFinds("wallet: 0x8617e340b3d01fa5f11f306f4090fd50e238070d", "CRYPTO_WALLET", "0x8617e340b3d01fa5f11f306f4090fd50e238070d");
    assertFinds("my btc address bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "CRYPTO_WALLET", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    assertFinds("bitcoin BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "CRYPTO_WALLET", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4");
    assertFinds("send btc to bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "CRYPTO_WALLET", "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr");
    for (const text of [
      "tx 0x52908400098527886E0F7030069857D2E4169EE7", // no context word
      "wallet tx 0x5290840009852788ffffffffffffffffffffffff6E0F7030069857D2E4169EE7", // 64 hex: a hash
      "btc bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", // checksum off by one character
      "btc bc1qw508d6qejxtdG4y5r3zarvary0c5xw7kv8f3t4", // mixed case
      "wallet 0x1234",
    ]) {
      assertNone(text, "CRYPTO_WALLET");
    }
  });
});

describe("context-only numbers and dates of birth", () => {
  test("BANK_ACCOUNT, PASSPORT, DRIVER_LICENSE: digits right after their context word only", () => {
    assertFinds("bank account number 12345678", "BANK_ACCOUNT", "12345678");
    assertFinds("acct: 000123456789", "BANK_ACCOUNT", "000123456789");
    assertFinds("account_number=4455667788", "BANK_ACCOUNT", "4455667788");
    assertFinds("Passport No. 123456789", "PASSPORT", "123456789");
    assertFinds("passport=543216789", "PASSPORT", "543216789");
    assertFinds("driver's license 12345678", "DRIVER_LICENSE", "12345678");
    assertFinds("DL: 987654321", "DRIVER_LICENSE", "987654321");
    for (const text of ["account id 12345678", "order 12345678", "license key 12345678", "user_id=12345678", "batch 82699-65"]) {
      for (const entity of ["BANK_ACCOUNT", "PASSPORT", "DRIVER_LICENSE"]) assertNone(text, entity);
    }
  });

  test("DATE_OF_BIRTH: a real calendar date after DOB, date of birth, born (on) or birthday; other dates left alone", () => {
    assertFinds("DOB: 03/14/1985", "DATE_OF_BIRTH", "03/14/1985");
    assertFinds("date of birth 14.03.1985", "DATE_OF_BIRTH", "14.03.1985");
    assertFinds("born on 1985-03-14 in Ohio", "DATE_OF_BIRTH", "1985-03-14");
    assertFinds("birthday=14-03-1985", "DATE_OF_BIRTH", "14-03-1985");
    assertFinds("D.O.B. 12/31/1999", "DATE_OF_BIRTH", "12/31/1999");
    for (const text of ["shipped on 2024-03-05", "dob 02/30/1985", "order date 03/14/1985", "invoice 2023/10/11", "released 1.2.2024"]) assertNone(text, "DATE_OF_BIRTH");
  });
});

describe("tier 2 (opt-in)", () => {
  test("finds nothing unless the entity is opted in", () => {
    const text = "ssn 536221234, ITIN 912-70-1234, routing 011000015, NHS 943 476 5919, NINO AB123456C, SIN 130 692 544, mac 00:1A:2B:3C:4D:5E, pesel 44051401359";
    const tier1Entities = new Set(masked(text).map(([entity]) => entity));
    const byDefault = ["US_SSN", "US_ITIN", "ABA_ROUTING", "UK_NHS", "CA_SIN", "UK_NINO", "MAC_ADDRESS"];
    for (const entity of TIER_2) {
      if (!byDefault.includes(entity)) assert.ok(!tier1Entities.has(entity), entity);
    }
    for (const entity of byDefault) assert.ok(tier1Entities.has(entity), `${entity} is on by default next to its context word`);
    const tier2 = new Set(masked(text, ALL).map(([entity]) => entity));
    for (const entity of TIER_2) assert.ok(tier2.has(entity), entity);
  });

  test("US_SSN: nine bare digits only after ssn or social security", () => {
    assertFinds("SSN: 536221234", "US_SSN", "536221234", ALL);
    assertFinds("social security number 536221234", "US_SSN", "536221234", ALL);
    assertNone("social 536221234", "US_SSN", ALL);
    assertNone("invoice 536221234", "US_SSN", ALL);
    assertNone("ssn 000221234", "US_SSN", ALL);
  });

  test("US_ITIN: 9XX with an ITIN group, bare digits with context", () => {
    assertFinds("ref 912-70-1234", "US_ITIN", "912-70-1234", ALL);
    assertFinds("ITIN 912941234", "US_ITIN", "912941234", ALL);
    assertNone("ref 912701234", "US_ITIN", ALL);
    assertNone("ITIN 912-89-1234", "US_ITIN", ALL);
    assertNone("ITIN 812-70-1234", "US_ITIN", ALL);
  });

  test("ABA_ROUTING: 3-7-1 checksum and a Federal Reserve prefix, with context", () => {
    assertFinds("routing number 011000015", "ABA_ROUTING", "011000015", ALL);
    assertFinds("ABA 0110-0001-5", "ABA_ROUTING", "0110-0001-5", ALL);
    assertNone("order 011000015", "ABA_ROUTING", ALL);
    assertNone("routing 011000016", "ABA_ROUTING", ALL);
    assertNone("routing 991000015", "ABA_ROUTING", ALL);
  });

  test("by default ITIN, ABA routing, NHS and SIN are found with their checksum and context word", () => {
    assertFinds("ITIN 912941234", "US_ITIN", "912941234");
    assertFinds("ref 912-70-1234", "US_ITIN", "912-70-1234");
    assertFinds("routing number 011000015", "ABA_ROUTING", "011000015");
    assertFinds("NHS number 943 476 5919", "UK_NHS", "943 476 5919");
    assertFinds("nhs_number=9434765919", "UK_NHS", "9434765919");
    assertFinds("SIN: 130 692 544", "CA_SIN", "130 692 544");
    assertFinds("social insurance number 130692544", "CA_SIN", "130692544");
    // Without the context word, or with a checksum that fails, nothing.
    for (const text of ["patient 943 476 5919", "call 212 555 0123", "order 011000015", "routing 011000016", "id 130692544", "SIN 130692545", "ts 9434765919"]) {
      for (const entity of ["UK_NHS", "ABA_ROUTING", "CA_SIN"]) assertNone(text, entity);
    }
  });

  test("UK_NHS: mod 11, formatted alone when opted in, bare with context", () => {
    assertFinds("patient 943 476 5919", "UK_NHS", "943 476 5919", ALL);
    assertFinds("NHS number 9434765919", "UK_NHS", "9434765919", ALL);
    assertNone("ts 9434765919", "UK_NHS", ALL);
    assertNone("patient 943 476 5918", "UK_NHS", ALL);
  });

  test("UK_NINO: HMRC prefixes and suffixes", () => {
    assertFinds("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C", ALL);
    assertFinds("nino AB123456C.", "UK_NINO", "AB123456C", ALL);
    for (const text of ["GB123456A", "DA123456A", "AO123456A", "AB123456E", "AB12345C", "XAB123456C", "AB 123456 C"]) assertNone(text, "UK_NINO", ALL);
    const [plain, withContext] = ["id AB123456C", "national insurance AB123456C"].map((text) => findingsOf(ALL, text).find((f) => f.entity === "UK_NINO"));
    assert.equal(plain?.score, 0.5);
    assert.ok((withContext?.score ?? 0) > 0.8);
  });

  test("UK_NINO on by default: the strict format alone or with context, not glued into a code", () => {
    assertFinds("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C");
    assertFinds("nino=AB123456C&x=1", "UK_NINO", "AB123456C");
    assertFinds("payslip for AB123456C.", "UK_NINO", "AB123456C");
    assertFinds('{"ni_number":"CE123456D"}', "UK_NINO", "CE123456D");
    for (const text of ["SKU-AB123456C", "part/AB123456C", "AB123456", "GB123456A", "QQ123456C", "AB123456E", "XAB123456C"]) assertNone(text, "UK_NINO");
    assertFinds("SKU-AB123456C", "UK_NINO", "AB123456C", ALL); // opted in: any word boundary
    assertFinds("nino-AB123456C", "UK_NINO", "AB123456C"); // glued, but after its context word
  });

  test("MAC_ADDRESS on by default: six colon or hyphen pairs alone; Cisco dotted quads opted in", () => {
    for (const value of ["00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "a4:83:e7:0b:12:9f"]) assertFinds(`mac ${value}.`, "MAC_ADDRESS", value);
    for (const text of [
      "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
      "12:00:1a:2b:3c:4d:5e",
      "00:1a:2b:3c:4d:5e:6f:70",
      "fe80:0000:0000:0000:0204:61ff:fe9d:f156",
      "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
      "00:1A-2B:3C:4D:5E",
      "x00:1A:2B:3C:4D:5E",
      "00:00:00:00:00:00",
      "14:22:31",
    ]) {
      assertNone(text, "MAC_ADDRESS");
    }
    assertNone("mac 001a.2b3c.4d5e", "MAC_ADDRESS");
    assertFinds("mac 001a.2b3c.4d5e", "MAC_ADDRESS", "001a.2b3c.4d5e", ALL);
  });

  test("CA_SIN: Luhn and context", () => {
    assertFinds("SIN 130 692 544", "CA_SIN", "130 692 544", ALL);
    assertFinds("social insurance number 130692544", "CA_SIN", "130692544", ALL);
    assertNone("code 130 692 544", "CA_SIN", ALL);
    assertNone("SIN 130 692 545", "CA_SIN", ALL);
    assertNone("SIN 046 454 286", "CA_SIN", ALL);
  });

  test("MAC_ADDRESS: colon, hyphen and Cisco forms, not broadcast", () => {
    for (const value of ["00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"]) assertFinds(`mac ${value}.`, "MAC_ADDRESS", value, ALL);
    for (const text of ["ff:ff:ff:ff:ff:ff", "00:1A-2B:3C:4D:5E", "00:1A:2B:3C:4D:5E:6F", "2001:db8::1", "x00:1A:2B:3C:4D:5E"]) assertNone(text, "MAC_ADDRESS", ALL);
  });

  test("PL_PESEL: birth date and check digit", () => {
    assertFinds("PESEL 44051401359", "PL_PESEL", "44051401359", ALL);
    assertFinds("born 02270803624", "PL_PESEL", "02270803624", ALL); // 2002-07-08: month + 20 in the 2000s
    assertNone("PESEL 44051401358", "PL_PESEL", ALL);
    assertNone("PESEL 44135401356", "PL_PESEL", ALL); // check digit right, month 13
    assertNone("PESEL 44023001356", "PL_PESEL", ALL); // check digit right, 30 February
  });
});

/** LangGraph-like state: ids, timestamps, digests, base64, versions, counters. No PII at all. */
function machineJson(random: () => number, count: number): string {
  const hex = (length: number) => Array.from({ length }, () => "0123456789abcdef"[Math.floor(random() * 16)]).join("");
  const base64 = (length: number) => Array.from({ length }, () => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[Math.floor(random() * 64)]).join("");
  const uuid = (version: number) => `${hex(8)}-${hex(4)}-${version}${hex(3)}-${"89ab"[Math.floor(random() * 4)]}${hex(3)}-${hex(12)}`;
  const states = Array.from({ length: count }, (_, step) => {
    const epochMs = 1_700_000_000_000 + Math.floor(random() * 60_000_000_000);
    return {
      thread_id: uuid(4),
      run_id: uuid(7),
      checkpoint_id: uuid(7),
      created_at: new Date(epochMs).toISOString(),
      metadata: { langgraph_step: step, langgraph_node: "agent", langgraph_checkpoint_ns: `tools:${uuid(4)}`, source: "loop", version: `${step % 4}.${step % 13}.${step % 7}` },
      values: {
        messages: [
          { id: `run-${uuid(4)}`, type: "ai", content: "The search tool returned three results.", tool_calls: [{ id: `call_${base64(24).replace(/[+/]/g, "x")}`, name: "search", args: { limit: 10 } }] },
        ],
      },
      usage: { input_tokens: Math.floor(random() * 9000), output_tokens: Math.floor(random() * 900), cost: Math.round(random() * 1e6) / 1e6, latency_ms: random() * 1000 },
      digest: `sha256:${hex(64)}`,
      etag: hex(40),
      blob: `${base64(300)}==`,
      ts: epochMs,
      expires: Math.floor(epochMs / 1000) + 3600,
    };
  });
  return JSON.stringify(states);
}

describe("normalisation before detection", () => {
  const scanner = new Scanner(TIER_1);
  /** [entity, the ORIGINAL characters masked] */
  const scanned = (text: string) => scanner.scan(text).map((finding) => [finding.entity, text.slice(finding.start, finding.end)]);
  const cases: Array<[string, string, string]> = [
    ["full-width digits (NFKC)", "card \uFF14\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 ok", "CREDIT_CARD"],
    ["percent-encoding", "GET /unsubscribe?email=jane.doe%40example.com&list=1", "EMAIL_ADDRESS"],
    ["an HTML decimal reference", "mailto:jane&#64;example.com", "EMAIL_ADDRESS"],
    ["an HTML hex reference and &period;", "jane&#x40;example&period;com", "EMAIL_ADDRESS"],
    ["a \\u0040 escape", "user: jane\\u0040example.com", "EMAIL_ADDRESS"],
    ["a \\x40 escape", "user: jane\\x40example.com", "EMAIL_ADDRESS"],
    ["zero-width characters", "card 4111\u200b1111\u200b1111\u200b1111 ok", "CREDIT_CARD"],
    // Characters from U+2000 on that NFKC folds, with nothing else in the text to rewrite.
    ["superscript digits (NFKC)", "card \u2074\u2070\u2070\u2070 \u2070\u2070\u2070\u2070 \u2070\u2070\u2070\u2070 \u2070\u2070\u2077\u2077 ok", "CREDIT_CARD"],
    ["thin spaces between digit groups", "card 4111\u20091111\u20091111\u20091111 ok", "CREDIT_CARD"],
    ["narrow no-break spaces in a phone number", "call +1\u202f415\u202f555\u202f0123 now", "PHONE_NUMBER"],
    ["a soft hyphen inside an SSN", "SSN 536-22-\u00ad1234", "US_SSN"],
    ["digits with spaces between them", "card: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 exp 09/28", "CREDIT_CARD"],
    ["name at domain dot com", "write to jane.doe at example dot com please", "EMAIL_ADDRESS"],
    ["[at] and [dot]", "jane [at] example [dot] co [dot] uk", "EMAIL_ADDRESS"],
    ["(at) with a literal dot", "jane(at)example.org", "EMAIL_ADDRESS"],
  ];
  for (const [name, text, entity] of cases) {
    test(`finds a value written with ${name}, masking the characters as written`, () => {
      const found = scanned(text);
      assert.equal(found.length, 1, `${JSON.stringify(text)}: ${JSON.stringify(found)}`);
      const [foundEntity, original] = found[0]!;
      assert.equal(foundEntity, entity);
      // The span covers the value as written, escapes and all, and nothing around it.
      assert.ok(text.includes(original!) && /^[\w\uFF10-\uFF19\u2070-\u2079&%\\([+]/.test(original!) && !/^(card|call|mailto|user|write|GET|SSN)\b/.test(original!), JSON.stringify(original));
    });
  }

  test("leaves prose, query strings and markup that merely contain %, &, at and digits alone", () => {
    for (const text of [
      "Meet at noon at the office. See you at 5.",
      "look at this dot product of two vectors",
      "50% off, 100%25 sure, AT&T and Q&A, R&amp;D, &nbsp;",
      "?a=1&b=2&c=%20x",
      "steps 1 2 3 then 4",
      "\\u00e9t\\u00e9 and \\n newlines",
      "ｈｅｌｌｏ ｗｏｒｌｄ",
    ]) {
      assert.deepEqual(scanned(text), [], text);
    }
  });

  test("streams an encoded value split at every offset without leaking any of it", () => {
    const masker = defaultMasker();
    for (const text of [
      "mail jane.doe%40example.com now",
      "mail jane&#46;doe&#64;example&#46;com now",
      "mail jane.doe\\u0040example.com now",
      "write to jane.doe at example dot com please",
      "card: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 exp",
      "card \uFF14\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 \uFF11\uFF11\uFF11\uFF11 ok",
    ]) {
      const expected = masker.maskText(text).text;
      assert.ok(expected.includes("["), `not masked whole: ${expected}`);
      for (let split = 0; split <= text.length; split++) {
        for (const pieces of [[text.slice(0, split), text.slice(split)], split === 0 ? [...text] : []]) {
          if (pieces.length === 0) continue;
          const stream = new TextStreamMasker(masker, new MaskingTally());
          let output = "";
          for (const piece of pieces) output += stream.push(piece);
          output += stream.end();
          assert.equal(output, expected, `${JSON.stringify(text)} split at ${split}`);
        }
      }
    }
  });
});

describe("machine JSON", () => {
  test("ids, timestamps, digests, base64, versions and numbers produce no finding", () => {
    const json = machineJson(seededRandom(SEED), 300);
    assert.ok(json.length > 200_000);
    assert.deepEqual(
      findingsOf(ALL, json).map((finding) => `${finding.entity} ${json.slice(finding.start - 20, finding.end + 5)}`),
      [],
    );
  });
});

/** Positives in prose and JSON strings, and negatives that look close. */
const STREAM_CORPUS = [
  "Write to jane.doe+tag@mail.example.co.uk. Or bob@example.org!",
  `long ${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(57)}.com... and ${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(58)}.com.`,
  '{"to":"ops@example.com","cc":"a@b","note":"x@y.zz"}',
  "card 4111 1111 1111 1111 exp 12/27, amex 3782-822463-10005 and 4111111111111112",
  "4111 1111 1111 1111 12/27, 4111 1111 1111 1111 103, exp 12/27 4111 1111 1111 1111",
  '{"card":"5500000000000004","id":"4111-1111-1111-1111x"}',
  "IBAN DE89 3704 0044 0532 0130 00 and GB82WEST12345698765432; not DE89370400440532013001",
  '{"iban":"NL91ABNA0417164300","alt":"de89370400440532013000"} XX12 3456',
  "SSN 536-22-1234, not 078-05-1120 nor 536-22 1234; ssn 536221234",
  "Reach me on (212) 555-0123 or +44 (0)20 7946 0958; tel 2125550123; order 2125550123",
  '{"phone":"+49 30 12345678","ts":1732240000000,"date":"2024-11-22T05:39:00.123Z"}',
  "FR 01 23 45 67 89, IN +91 98765 43210, 22.11.2024, 48.8566 2.3522, total 1 234 567",
  "client 203.0.113.7:8080 from 2001:db8::8a2e:370:7334 and ::ffff:192.0.2.128; version 10.0.0.1 v1.2.3.4",
  '{"ip":"10.0.0.1","peer":"fe80::1%eth0","clock":"12:30:45","bad":"999.1.1.1"}',
  "ITIN 912-70-1234, routing 011000015, NHS 943 476 5919, NI AB 12 34 56 C, SIN 130 692 544",
  "mac 00:1A:2B:3C:4D:5E / 001a.2b3c.4d5e, PESEL 44051401359, nhs number 9434765919",
  "db postgresql://app:S3cr3tPass@db.example.com/x, mailto:jane@example.com, IBAN NL48 TRIO 2204 5602 81",
  "glued: DE89370400440532013000X, NL91ABNA04171643001, DE89 3704 0044 0532 0130 00X and AB123456CD",
  // The last group of this IBAN starts another viable one ("AD12 ..."), which must not split it.
  `pay ${inFours(iban("BE", "12345678AD12"))} 3456 7890 1234 5678 now`,
  machineJson(seededRandom(7), 1),
  "digits 12 345 6789 01 2345 6789 0123 4567-8901 (555) 12+34 5551234567 +1 (555) 555",
];

describe("streaming contract", () => {
  test("at every split, findings before the open candidate are final and end before it", () => {
    for (const text of STREAM_CORPUS) {
      for (const detector of ALL) {
        const whole = findingsOf([detector], text);
        for (let split = 0; split <= text.length; split++) {
          const prefix = text.slice(0, split);
          const open = detector.openCandidate(prefix);
          const settled = open?.start ?? split;
          const where = `${detector.id} at ${split} of ${JSON.stringify(text)} (open at ${settled})`;
          assert.ok(settled <= split && settled >= Math.max(0, split - 2 * detector.maxLength - 8), `hold-back out of bounds: ${where}`);
          const key = (finding: Finding) => `${finding.start}-${finding.end} ${finding.entity} ${finding.score}`;
          const fromWhole = whole.filter((finding) => finding.start < settled).map(key);
          const fromPrefix = findingsOf([detector], prefix)
            .filter((finding) => finding.start < settled)
            .map(key);
          assert.deepEqual(fromPrefix, fromWhole, where);
          for (const finding of whole) {
            if (finding.start < settled) assert.ok(finding.end <= settled, `finding crosses the open candidate: ${where}`);
          }
        }
      }
    }
  });

  test("names the partials a stream must hold", () => {
    // As Scanner.openCandidate combines them: the earliest start, strong if any detector says so there.
    const open = (text: string) => {
      const candidates = ALL.map((detector) => detector.openCandidate(text)).filter((candidate) => candidate !== undefined);
      const start = Math.min(...candidates.map((candidate) => candidate.start));
      return candidates.length === 0 ? undefined : { start, strong: candidates.some((candidate) => candidate.start === start && candidate.strong) };
    };
    assert.deepEqual(open("mail jane@exa"), { start: 5, strong: true });
    assert.deepEqual(open("card 4111 1111 11"), { start: 5, strong: true });
    assert.deepEqual(open("call +4"), { start: 5, strong: true });
    assert.deepEqual(open("IBAN DE89 3704 00"), { start: 5, strong: true });
    assert.equal(open("hello wor")?.strong, false); // could still become an email local part
    assert.equal(open("done, "), undefined);
    assert.equal(open(`${"a".repeat(70)}`), undefined); // too long for a local part, hex or an IBAN
  });
});

describe("hostile input", () => {
  test("digit soup, separator runs and base64 scan in bounded time", () => {
    const fuzz = seededRandom(SEED + 1);
    const pick = (alphabet: string, length: number) => Array.from({ length }, () => alphabet[Math.floor(fuzz() * alphabet.length)]).join("");
    const size = 200_000;
    const inputs = [
      pick("0123456789", size),
      pick("0123456789 -.()/+", size),
      pick("0123456789 ", size),
      pick("0123456789abcdef-:.", size),
      "@".repeat(size),
      ".".repeat(size),
      "-".repeat(size),
      "_".repeat(size),
      pick("@.-_", size),
      pick("a@.-_1", size),
      pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", size),
      `${"a".repeat(size / 2)}@${"b.".repeat(size / 4)}`,
      ":".repeat(size),
      "1.".repeat(size / 2),
      "DE89 ".repeat(size / 5),
      "555-123-4567 ".repeat(size / 13),
      "4111 1111 1111 1111 ".repeat(size / 20),
    ];
    const started = performance.now();
    for (const input of inputs) {
      findingsOf(ALL, input);
      for (const detector of ALL) detector.openCandidate(input);
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2000, `hostile inputs took ${elapsed.toFixed(0)} ms`);
  });
});

describe("context from JSON keys", () => {
  test("a context word that is only a key gives its value context, leaf by leaf", () => {
    const masked = defaultMasker().mask(JSON.stringify({ payment: { cvv: "123" }, profile: { dob: "1990-04-12", passport: "123456789" } }));
    assert.doesNotMatch(masked.text, /"123"|1990-04-12|123456789/, masked.text);
    // A key that names nothing sensitive gives no context: the same digits stay.
    assert.match(defaultMasker().mask(JSON.stringify({ page: { size: "123" } })).text, /"123"/);
  });
});
