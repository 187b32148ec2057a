// Masking accuracy on a seeded, generated corpus (masking.md §10-11): span-level recall and
// precision per entity type against the §10 targets, no document whose values survive mask(), the
// share of PII-free machine strings and LangGraph payloads the masker alters (< 1 in 1,000), and
// no leaked document when a carrying text of every template is streamed in pieces split at every
// offset. Comparisons with other maskers live in bench/masking.ts, not here.
// MASKING_SEED=<n> reproduces or varies the corpus; the seed is printed.
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import { createRequire } from "node:module";
import { before, describe, test } from "node:test";
import { electronicFormatIBAN, isValidIBAN } from "ibantools";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js/max";
import { defaultMasker, MaskingTally, TextStreamMasker, type Masker } from "../../src/mask/index.js";
import {
  ENTITY_TYPES,
  IBAN_COUNTRIES,
  PREFIXED_SECRETS,
  generateCorpus,
  type CorpusText,
  type EntityType,
  type Span,
} from "../support/maskingCorpus.js";

const SEED = Number(process.env.MASKING_SEED ?? "20250602");
const started = performance.now();
const corpus = generateCorpus(SEED);
console.log(
  `masking corpus: seed ${SEED} (MASKING_SEED=${SEED} reproduces it), ${corpus.texts.length} carrying texts with ${corpus.texts.reduce((n, t) => n + t.spans.length, 0)} annotated values, ${corpus.negatives.length} negative strings, generated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

// Issue 21's target for every default entity type, phones and generic secrets included (above
// masking.md §10, which asks 0.90 / 0.85 of phones and 0.85 / 0.90 of generic secrets).
const TARGETS: Record<EntityType, { recall: number; precision: number }> = Object.fromEntries(
  ENTITY_TYPES.map((entity) => [entity, { recall: 0.99, precision: 0.98 }]),
) as Record<EntityType, { recall: number; precision: number }>;
const NEGATIVES_ALTERED_MAX = 0.001;
const PREFIXED_FALSE_POSITIVES_PER_10K = 1;
const LEAK_RUN = 8;

interface Detection {
  start: number;
  end: number;
  entity: string;
}

const PLACEHOLDER = /\[[A-Z][A-Z0-9_]*\]/g;
const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) => a.start < b.end && b.start < a.end;
const accepts = (span: Span, entity: string) => span.type === entity || (span.alsoAccept?.includes(entity as EntityType) ?? false);
const ratio = (part: number, whole: number) => (whole === 0 ? 1 : part / whole);
const fixed = (value: number) => value.toFixed(3);
const excerpt = (text: string, start: number, end: number) => JSON.stringify(text.slice(Math.max(0, start - 30), Math.min(text.length, end + 30)));

/** A run of at least LEAK_RUN characters of `value` (all of it when shorter) that is visible in
 * `output` outside placeholders and is not simply part of the carrying text around the values. */
function leakedRun(value: string, output: string, background: string): string | undefined {
  const visible = output.replace(PLACEHOLDER, "\u0000");
  const run = Math.min(LEAK_RUN, value.length);
  for (let i = 0; i + run <= value.length; i += 1) {
    const piece = value.slice(i, i + run);
    if (visible.includes(piece) && !background.includes(piece)) return piece;
  }
  return undefined;
}

/** The carrying text with every annotated value blanked out. */
function background(item: CorpusText): string {
  let out = "";
  let at = 0;
  for (const span of [...item.spans].sort((a, b) => a.start - b.start)) {
    out += `${item.text.slice(at, span.start)}\u0000`;
    at = span.end;
  }
  return out + item.text.slice(at);
}

// --- Span-level scoring -------------------------------------------------------------------------

interface EntityScore {
  annotated: number;
  recalled: number;
  recalledAnyType: number;
  detections: number;
  correct: number;
  misses: string[];
  falsePositives: string[];
}

interface Scores {
  perEntity: Map<string, EntityScore>;
  detections: number;
  detectionsOnAnyValue: number;
  annotated: number;
  recalledAnyType: number;
}

function score(texts: readonly CorpusText[], detect: (text: string) => Detection[], types: readonly string[]): Scores {
  const perEntity = new Map<string, EntityScore>(types.map((type) => [type, { annotated: 0, recalled: 0, recalledAnyType: 0, detections: 0, correct: 0, misses: [], falsePositives: [] }]));
  const entry = (type: string) => {
    let found = perEntity.get(type);
    if (!found) perEntity.set(type, (found = { annotated: 0, recalled: 0, recalledAnyType: 0, detections: 0, correct: 0, misses: [], falsePositives: [] }));
    return found;
  };
  let detectionsTotal = 0;
  let detectionsOnAnyValue = 0;
  let annotated = 0;
  let recalledAnyType = 0;
  for (const item of texts) {
    const detections = detect(item.text);
    for (const span of item.spans) {
      const row = entry(span.type);
      row.annotated += 1;
      annotated += 1;
      const hits = detections.filter((detection) => overlaps(detection, span));
      if (hits.length > 0) {
        row.recalledAnyType += 1;
        recalledAnyType += 1;
      }
      if (hits.some((detection) => accepts(span, detection.entity))) row.recalled += 1;
      else if (row.misses.length < 4) row.misses.push(`${span.variant}: ${excerpt(item.text, span.start, span.end)}${hits.length ? ` (found as ${hits.map((h) => h.entity).join(", ")})` : ""}`);
    }
    for (const detection of detections) {
      detectionsTotal += 1;
      const onValues = item.spans.filter((span) => overlaps(detection, span));
      if (onValues.length > 0) detectionsOnAnyValue += 1;
      const row = entry(detection.entity);
      row.detections += 1;
      // The filler's names ({{name}}, {{first}}) are people's names too, annotated or not.
      const onFillerName = detection.entity === "PERSON" && (item.names ?? []).some(([start, end]) => overlaps(detection, { start, end }));
      if (onValues.some((span) => accepts(span, detection.entity)) || onFillerName) row.correct += 1;
      else if (row.falsePositives.length < 4) row.falsePositives.push(`${JSON.stringify(item.text.slice(detection.start, detection.end))} in ${excerpt(item.text, detection.start, detection.end)}${onValues.length ? ` (annotated ${onValues.map((s) => s.type).join(", ")})` : ""}`);
    }
  }
  return { perEntity, detections: detectionsTotal, detectionsOnAnyValue, annotated, recalledAnyType };
}

// --- The generator checks its own values ------------------------------------------------------

function luhnValid(digits: string): boolean {
  let sum = 0;
  [...digits].reverse().forEach((char, i) => {
    const digit = Number(char) * (i % 2 === 1 ? 2 : 1);
    sum += digit > 9 ? digit - 9 : digit;
  });
  return sum % 10 === 0;
}

function issuerAccepts(digits: string): boolean {
  const n = digits.length;
  const two = Number(digits.slice(0, 2));
  const three = Number(digits.slice(0, 3));
  const four = Number(digits.slice(0, 4));
  if (digits.startsWith("4")) return n === 13 || n === 16 || n === 19;
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return n === 16;
  if (two === 34 || two === 37) return n === 15;
  if (four === 6011 || (three >= 644 && three <= 649) || two === 65) return n === 16;
  return false;
}

// The formats of masking.md §3, written independently of the generator.
const SECRET_FORMATS: Partial<Record<EntityType, RegExp>> = {
  AWS_ACCESS_KEY: /^(AKIA|ASIA)[A-Z2-7]{16}$/,
  AWS_SECRET_KEY: /^[A-Za-z0-9/+]{40}$/,
  GITHUB_TOKEN: /^(gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{82})$/,
  GITLAB_TOKEN: /^(glpat-[\w-]{20}|glptt-[0-9a-f]{40}|glrt-[\w-]{20}|GR1348941[\w-]{20})$/,
  SLACK_TOKEN: /^(xox[bp]-\d{10,13}-\d{10,13}(-\d{10,13})?-[A-Za-z0-9]{24,32}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]+)$/,
  SLACK_WEBHOOK: /^T[A-Z0-9]{8,10}\/[AB][A-Z0-9]{8,10}\/[A-Za-z0-9]{24}$/,
  STRIPE_KEY: /^([sr]k_(live|test)_[A-Za-z0-9]{10,99}|whsec_[A-Za-z0-9]{32})$/,
  OPENAI_API_KEY: /^sk-((proj|svcacct|admin)-[\w-]{58,74}T3BlbkFJ[\w-]{58,74}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})$/,
  ANTHROPIC_API_KEY: /^sk-ant-(api03|admin01)-[\w-]{93}AA$/,
  GOOGLE_API_KEY: /^AIza[\w-]{35}$/,
  NPM_TOKEN: /^npm_[A-Za-z0-9]{36}$/,
  HUGGINGFACE_TOKEN: /^hf_[A-Za-z]{34}$/,
  SENDGRID_API_KEY: /^SG\.[\w-]{22}\.[\w-]{43}$/,
  TELEGRAM_BOT_TOKEN: /^[1-9]\d{7,9}:AA[\w-]{33}$/,
  PASSWORD: /^[A-Za-z0-9!#%^*]{8,17}$/,
};

describe("the masking corpus generator", () => {
  test("is deterministic for a seed", () => {
    assert.deepEqual(generateCorpus(SEED, { perEntity: 8, negatives: 300 }), generateCorpus(SEED, { perEntity: 8, negatives: 300 }));
  });

  test("annotates every value at its place in the carrying text, with a JSON pointer in JSON", () => {
    const annotated = new Map<string, Set<string>>();
    for (const value of corpus.values) (annotated.get(value.type) ?? annotated.set(value.type, new Set()).get(value.type)!).add(value.annotated);
    for (const item of corpus.texts) {
      if (item.format === "json") assert.doesNotThrow(() => JSON.parse(item.text), item.id);
      for (const span of item.spans) {
        let written = item.text.slice(span.start, span.end);
        for (let level = 0; level < 3 && !annotated.get(span.type)!.has(written); level += 1) written = JSON.parse(`"${written}"`) as string;
        assert.ok(annotated.get(span.type)!.has(written), `${item.id}: span ${span.start}-${span.end} is not a generated ${span.type}`);
        if (item.format === "json") assert.ok(span.pointer, `${item.id}: ${span.type} has no JSON pointer`);
      }
    }
    for (const entity of ENTITY_TYPES) assert.ok(corpus.texts.filter((item) => item.spans.some((span) => span.type === entity)).length >= 200, entity);
  });

  test("cards pass Luhn and their issuer's prefix and length, grouped with one separator", () => {
    const issuers = new Set<string>();
    for (const value of corpus.values.filter((v) => v.type === "CREDIT_CARD" && !v.encoding)) {
      const digits = value.text.replace(/[ -]/g, "");
      assert.match(digits, /^\d{13,19}$/, value.text);
      assert.ok(luhnValid(digits), `Luhn fails: ${value.text}`);
      assert.ok(issuerAccepts(digits), `no issuer for ${value.text}`);
      assert.ok(!(value.text.includes(" ") && value.text.includes("-")), value.text);
      issuers.add(value.variant.split("-")[0]!);
    }
    assert.deepEqual([...issuers].sort(), ["amex", "discover", "mastercard", "visa"]);
  });

  test("IBANs pass mod-97 and ibantools' country length and national BBAN checks, in at least 10 countries", () => {
    const countries = new Set<string>();
    for (const value of corpus.values.filter((v) => v.type === "IBAN_CODE")) {
      const electronic = electronicFormatIBAN(value.text) ?? "";
      assert.ok(isValidIBAN(electronic), `ibantools rejects ${value.text}`);
      countries.add(electronic.slice(0, 2));
    }
    assert.ok(countries.size >= 10, [...countries].join(","));
    assert.equal(countries.size, IBAN_COUNTRIES.length);
  });

  test("SSNs follow the SSA rules and avoid the known samples", () => {
    const forms = new Set<string>();
    for (const value of corpus.values.filter((v) => v.type === "US_SSN" && !v.encoding)) {
      forms.add(value.variant);
      const match = /^(\d{3})([- ]?)(\d{2})\2(\d{4})$/.exec(value.text);
      assert.ok(match, value.text);
      const [area, group, serial] = [Number(match[1]), Number(match[3]), Number(match[4])];
      assert.ok(area > 0 && area !== 666 && area < 900 && group > 0 && serial > 0, value.text);
      assert.ok(!["123-45-6789", "078-05-1120"].includes(value.text) && !/^987-65-432\d$/.test(value.text), value.text);
    }
    assert.deepEqual([...forms].sort(), ["bare", "hyphens", "spaces"]);
  });

  test("phone numbers are valid to libphonenumber-js/max in US, GB, DE, FR and IN formats, except the unassigned NANP ones", () => {
    const seen = new Set<string>();
    for (const value of corpus.values.filter((v) => v.type === "PHONE_NUMBER" && !v.encoding)) {
      if (value.variant.startsWith("NANP unassigned")) {
        assert.equal(parsePhoneNumberFromString(`+1${value.text.replace(/\D/g, "")}`)?.isValid() ?? false, false, value.text);
        seen.add("NANP unassigned");
        continue;
      }
      const region = value.variant.split(" ")[0] as CountryCode;
      const parsed = parsePhoneNumberFromString(value.text.replace("(0)", ""), region);
      assert.ok(parsed?.isValid() && parsed.country === region, `${value.variant}: ${value.text}`);
      seen.add(value.variant);
    }
    for (const region of ["US", "GB", "DE", "FR", "IN"]) for (const form of ["e164", "international", "national"]) assert.ok(seen.has(`${region} ${form}`), `${region} ${form}`);
    assert.ok(seen.has("NANP unassigned") && seen.has("US bare"));
  });

  test("IP addresses parse as IPv4 and IPv6; emails end in a real TLD", () => {
    const families = new Set<number>();
    for (const value of corpus.values.filter((v) => v.type === "IP_ADDRESS")) {
      const family = isIP(value.text);
      assert.ok(family !== 0, value.text);
      families.add(family);
    }
    assert.deepEqual([...families].sort(), [4, 6]);
    const tlds = new Set((createRequire(import.meta.url)("tlds") as string[]).map((tld) => tld.toLowerCase()));
    for (const value of corpus.values.filter((v) => v.type === "EMAIL_ADDRESS" && !v.encoding)) {
      assert.match(value.text, /^[A-Za-z0-9._+-]{1,64}@([a-z0-9-]{1,63}\.)+[a-z]{2,}$/i, value.text);
      assert.ok(tlds.has(value.text.slice(value.text.lastIndexOf(".") + 1).toLowerCase()), value.text);
    }
  });

  test("secrets follow their published formats; JWTs and private keys decode", () => {
    for (const value of corpus.values) {
      const format = SECRET_FORMATS[value.type];
      if (format) assert.match(value.annotated, format, `${value.type} ${value.variant}`);
    }
    for (const value of corpus.values.filter((v) => v.type === "JSON_WEB_TOKEN")) {
      const [header, payload, signature] = value.text.split(".");
      assert.equal(typeof (JSON.parse(Buffer.from(header!, "base64url").toString()) as { alg: unknown }).alg, "string");
      assert.equal(typeof JSON.parse(Buffer.from(payload!, "base64url").toString()), "object");
      assert.ok(signature!.length >= 43);
    }
    const keys = new Set(corpus.values.filter((v) => v.type === "PRIVATE_KEY").map((v) => `${v.variant}\n${v.text}`));
    for (const entry of keys) {
      const [variant, ...lines] = entry.split("\n");
      const pem = lines.join("\n");
      if (variant!.includes("shaped")) assert.match(pem, /^-----BEGIN (ENCRYPTED|PGP) PRIVATE KEY( BLOCK)?-----\n[\s\S]+\n-----END \1 PRIVATE KEY( BLOCK)?-----$/);
      else if (variant!.includes("openssh")) assert.ok(Buffer.from(lines.slice(1, -1).join(""), "base64").subarray(0, 15).equals(Buffer.from("openssh-key-v1\0", "latin1")), variant);
      else assert.doesNotThrow(() => createPrivateKey(pem), variant);
    }
    assert.ok(keys.size >= 15, `${keys.size} distinct private keys`);
  });

  test("the negative corpus holds at least 10,000 machine strings whose checksums fail", () => {
    assert.ok(corpus.negatives.length >= 10_000);
    for (const item of corpus.negatives) {
      if (item.kind === "luhn-failing-number") assert.ok(!luhnValid(item.text.replace(/[ -]/g, "")), item.text);
      if (item.kind === "iban-one-digit-changed") assert.ok(!isValidIBAN(electronicFormatIBAN(item.text) ?? ""), item.text);
      if (item.kind === "langgraph-payload") assert.doesNotThrow(() => JSON.parse(item.text));
    }
  });
});

// --- The masker on the corpus -------------------------------------------------------------------

describe("masking accuracy on the generated corpus", () => {
  let masker: Masker;
  let ours: Scores;
  before(() => {
    masker = defaultMasker();
    const scanStarted = performance.now();
    ours = score(corpus.texts, (text) => masker.scanner.scan(text), ENTITY_TYPES);
    console.log(`scanned ${(corpus.texts.reduce((n, t) => n + t.text.length, 0) / 1e6).toFixed(2)} MB of carrying text in ${((performance.now() - scanStarted) / 1000).toFixed(2)} s`);
  });

  test("per-entity span-level recall and precision meet the masking.md §10 targets", () => {
    const failures: string[] = [];
    const rows: string[] = [];
    rows.push(`${"entity".padEnd(22)} ${"values".padStart(6)} ${"recall".padStart(7)} ${"precision".padStart(9)} ${"detections".padStart(10)} ${"any-type R".padStart(10)}   target R / P`);
    for (const entity of ENTITY_TYPES) {
      const row = ours.perEntity.get(entity)!;
      const recall = ratio(row.recalled, row.annotated);
      const precision = ratio(row.correct, row.detections);
      const target = TARGETS[entity];
      const met = recall >= target.recall && precision >= target.precision && row.detections > 0;
      rows.push(`${entity.padEnd(22)} ${String(row.annotated).padStart(6)} ${fixed(recall).padStart(7)} ${fixed(precision).padStart(9)} ${String(row.detections).padStart(10)} ${fixed(ratio(row.recalledAnyType, row.annotated)).padStart(10)}   ${target.recall} / ${target.precision}${met ? "" : "  NOT MET"}`);
      if (!met) failures.push(`${entity}: recall ${fixed(recall)}, precision ${fixed(precision)}\n    misses: ${row.misses.join("\n            ") || "-"}\n    false positives: ${row.falsePositives.join("\n                     ") || "-"}`);
    }
    for (const [entity, row] of ours.perEntity) {
      if ((ENTITY_TYPES as readonly string[]).includes(entity)) continue;
      rows.push(`${entity.padEnd(22)} ${"-".padStart(6)} ${"-".padStart(7)} ${fixed(ratio(row.correct, row.detections)).padStart(9)} ${String(row.detections).padStart(10)}   (not annotated in the corpus)`);
      if (row.detections > row.correct) failures.push(`${entity} (not a corpus type): ${row.detections - row.correct} detections off the values: ${row.falsePositives.join("; ")}`);
    }
    const recall = ratio(ours.recalledAnyType, ours.annotated);
    const precision = ratio(ours.detectionsOnAnyValue, ours.detections);
    const f2 = (5 * precision * recall) / (4 * precision + recall);
    rows.push(`${"all (type-agnostic)".padEnd(22)} ${String(ours.annotated).padStart(6)} ${fixed(recall).padStart(7)} ${fixed(precision).padStart(9)} ${String(ours.detections).padStart(10)}   F2 ${fixed(f2)} (indicative target 0.95)`);
    // Names the filler wrote without a cue ("Ticket from Jane Doe") are not detected by design
    // (src/mask/detect/whereabouts.ts): how many are is printed, so the gap stays visible.
    const fillerNames = corpus.texts.flatMap((item) => (item.names ?? []).map(([start, end]) => ({ item, start, end })));
    const namesFound = fillerNames.filter(({ item, start, end }) => masker.scanner.scan(item.text).some((d) => d.entity === "PERSON" && overlaps(d, { start, end }))).length;
    rows.push(`${"names without a slot".padEnd(22)} ${String(fillerNames.length).padStart(6)} ${fixed(ratio(namesFound, fillerNames.length)).padStart(7)}   (names after a cue only; not a target)`);
    console.log(`\nPortcullis span-level accuracy, seed ${SEED} (a detection counts when it overlaps the value and has its type)\n${rows.join("\n")}`);
    assert.deepEqual(failures, [], `\n${failures.join("\n")}`);
  });

  test("mask() leaves no run of an annotated value in any document (JSON-aware, key rules included)", () => {
    const rows: string[] = [];
    let survived = 0;
    const leakedDocuments = new Set<string>();
    let inKeys = 0;
    const examples: string[] = [];
    const perEntity = new Map<string, { total: number; removed: number }>();
    for (const item of corpus.texts) {
      const masked = masker.mask(item.text).text;
      const blank = background(item);
      for (const span of item.spans) {
        const value = item.text.slice(span.start, span.end);
        const leak = leakedRun(value, masked, blank);
        if (span.pointer?.startsWith("key:")) {
          if (leak) inKeys += 1;
          continue;
        }
        const row = perEntity.get(span.type) ?? perEntity.set(span.type, { total: 0, removed: 0 }).get(span.type)!;
        row.total += 1;
        if (!leak) row.removed += 1;
        else {
          survived += 1;
          leakedDocuments.add(item.id);
          if (examples.length < 8) examples.push(`${span.type} (${span.variant}${span.pointer ? ` at ${span.pointer}` : ""}): ${JSON.stringify(leak)} survives in ${excerpt(masked, Math.max(0, masked.indexOf(leak)), masked.indexOf(leak) + leak.length)}`);
        }
      }
    }
    for (const entity of ENTITY_TYPES) {
      const row = perEntity.get(entity);
      if (row) rows.push(`${entity.padEnd(22)} ${String(row.removed).padStart(5)} / ${String(row.total).padEnd(5)} ${fixed(ratio(row.removed, row.total))}`);
    }
    const keyed = corpus.texts.flatMap((item) => item.spans).filter((span) => span.pointer?.startsWith("key:")).length;
    console.log(
      `\nmask() end to end: values with no run of ${LEAK_RUN}+ characters left outside a placeholder\n${rows.join("\n")}\n${survived} value(s) survived in ${leakedDocuments.size} of ${corpus.texts.length} documents${examples.length ? `, e.g.\n  ${examples.join("\n  ")}` : ""}\nvalues used as JSON object keys (never rewritten, masking.md §5.2): ${inKeys} of ${keyed} survive`,
    );
    assert.equal(perEntity.size, ENTITY_TYPES.length);
    assert.equal(leakedDocuments.size, 0, examples.join("\n"));
  });

  test(`fewer than ${NEGATIVES_ALTERED_MAX * 100}% of negative strings are altered, and prefixed secrets fire at most ${PREFIXED_FALSE_POSITIVES_PER_10K} per 10,000`, () => {
    const byKind = new Map<string, { total: number; altered: number; examples: string[] }>();
    const byEntity = new Map<string, number>();
    let altered = 0;
    let prefixed = 0;
    const prefixedExamples: string[] = [];
    for (const item of corpus.negatives) {
      const row = byKind.get(item.kind) ?? byKind.set(item.kind, { total: 0, altered: 0, examples: [] }).get(item.kind)!;
      row.total += 1;
      const masked = masker.mask(item.text);
      if (masked.text !== item.text) {
        altered += 1;
        row.altered += 1;
        if (row.examples.length < 3) row.examples.push(`${JSON.stringify(item.text.length > 160 ? `${item.text.slice(0, 160)}…` : item.text)} -> ${Object.keys(masked.redactions).join(",")}`);
      }
      const findings = masker.scanner.scan(item.text);
      for (const finding of findings) byEntity.set(finding.entity, (byEntity.get(finding.entity) ?? 0) + 1);
      const secret = findings.find((finding) => (PREFIXED_SECRETS as readonly string[]).includes(finding.entity));
      if (secret) {
        prefixed += 1;
        if (prefixedExamples.length < 5) prefixedExamples.push(`${secret.entity}: ${JSON.stringify(item.text.slice(secret.start, secret.end))}`);
      }
    }
    const rows = [...byKind].map(([kind, row]) => `${kind.padEnd(24)} ${String(row.altered).padStart(4)} / ${String(row.total).padEnd(5)}${row.examples.length ? `  e.g. ${row.examples.join("; ")}` : ""}`);
    const share = altered / corpus.negatives.length;
    console.log(
      `\nNegative corpus: ${altered} of ${corpus.negatives.length} altered by mask() (${(share * 100).toFixed(3)}%, target < ${NEGATIVES_ALTERED_MAX * 100}%)\n${rows.join("\n")}\nscanner findings on negatives by entity: ${[...byEntity].map(([e, n]) => `${e} ${n}`).join(", ") || "none"}\nprefixed-secret false positives: ${prefixed} (${((prefixed / corpus.negatives.length) * 10_000).toFixed(2)} per 10,000)${prefixedExamples.length ? `: ${prefixedExamples.join("; ")}` : ""}`,
    );
    assert.ok(share < NEGATIVES_ALTERED_MAX, `${altered} negatives altered`);
    assert.ok((prefixed / corpus.negatives.length) * 10_000 <= PREFIXED_FALSE_POSITIVES_PER_10K, `${prefixed} prefixed-secret false positives`);
  });

  test("streaming: no leak and the same output as maskText when a text is split at every offset or into single characters", () => {
    // At least three texts per entity type (from different templates where possible), then one
    // text of every template. Any run of a value in the streamed output counts: a leaked document.
    const sample: CorpusText[] = [];
    const skipped: string[] = [];
    const fullyMasked = (item: CorpusText) => {
      const masked = masker.maskText(item.text).text;
      const blank = background(item);
      return item.spans.every((span) => !leakedRun(item.text.slice(span.start, span.end), masked, blank));
    };
    for (const entity of ENTITY_TYPES) {
      const carrying = corpus.texts.filter((item) => item.id.startsWith(`${entity}-`));
      const clean = carrying.filter(fullyMasked);
      // From different templates where possible: free text, JSON and JSON inside JSON.
      const pool = clean.length >= 3 ? clean : carrying;
      const chosen = pool.filter((item, i) => pool.findIndex((other) => other.template === item.template) === i).slice(0, 3);
      sample.push(...chosen, ...pool.filter((item) => !chosen.includes(item)).slice(0, 3 - chosen.length));
      if (clean.length < 3) skipped.push(`${entity} (only ${clean.length} texts fully masked by maskText)`);
    }
    // And one text of every template, so each way of writing a value is streamed.
    const templates = new Set(sample.map((item) => item.template));
    for (const item of corpus.texts) {
      if (templates.has(item.template)) continue;
      templates.add(item.template);
      sample.push(item);
    }
    const leakedDocuments = new Set<string>();
    let streams = 0;
    let events = 0;
    let leaks = 0;
    let mismatches = 0;
    const problems: string[] = [];
    const check = (item: CorpusText, pieces: string[], expected: string, blank: string, how: string) => {
      const stream = new TextStreamMasker(masker, new MaskingTally());
      let output = "";
      for (const piece of pieces) output += stream.push(piece);
      output += stream.end();
      streams += 1;
      events += pieces.length;
      if (output !== expected) {
        mismatches += 1;
        if (problems.length < 8) problems.push(`${item.id} ${how}: output differs from maskText\n      stream:   ${JSON.stringify(output.slice(0, 300))}\n      maskText: ${JSON.stringify(expected.slice(0, 300))}`);
      }
      for (const span of item.spans) {
        const leak = leakedRun(item.text.slice(span.start, span.end), output, blank);
        if (leak) {
          leaks += 1;
          leakedDocuments.add(item.id);
          if (problems.length < 8) problems.push(`${item.id} ${how}: ${span.type} leaks ${JSON.stringify(leak)}`);
        }
      }
    };
    const streamStarted = performance.now();
    for (const item of sample) {
      const expected = masker.maskText(item.text).text;
      const blank = background(item);
      for (let offset = 0; offset <= item.text.length; offset += 1) check(item, [item.text.slice(0, offset), item.text.slice(offset)], expected, blank, `split at ${offset}`);
      check(item, [...item.text], expected, blank, "in 1-character pieces");
    }
    const types = new Set(sample.flatMap((item) => item.spans.map((span) => span.type)));
    console.log(
      `\nStreaming: ${sample.length} texts (${templates.size} templates, ${types.size} entity types), ${streams} streams, ${events} pieces in ${((performance.now() - streamStarted) / 1000).toFixed(1)} s: ${leaks} leaks in ${leakedDocuments.size} documents, ${mismatches} outputs different from maskText${skipped.length ? `\n  sampled from texts with misses for ${skipped.join(", ")}` : ""}${problems.length ? `\n  ${problems.join("\n  ")}` : ""}`,
    );
    assert.ok(sample.length >= 60 && types.size === ENTITY_TYPES.length);
    assert.equal(leakedDocuments.size, 0, problems.join("\n"));
    assert.equal(mismatches, 0, problems.join("\n"));
  });

});
