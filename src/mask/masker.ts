// The masker: text, JSON documents and JSON values (masking.md §5). Only string leaves change;
// keys, structure, array lengths and LangGraph's identifiers never do. Every replacement is
// counted by entity type, never with its value. Anything it cannot scan within its limits fails
// closed with a MaskingError: nothing unscanned is ever passed on.
import type { Scanner } from "./detect/scanner.js";
import type { Finding } from "./detect/types.js";
import type { Operators } from "./operators.js";
import { countMembers, decodeEscapes, isPlainJson, skipWhitespace, stringEnd, stringValue, valueEnd, type PlainJsonLimits } from "../jsonText.js";

export type Redactions = Record<string, number>;

interface MaskResult {
  text: string;
  redactions: Redactions;
}

export class MaskingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MaskingError";
  }
}

interface MaskerLimits {
  /** Largest single string a scanner looks at; a longer one is refused, not passed unscanned. */
  maxFieldBytes: number;
  /** Scanning time allowed for one document or event. JS regexes cannot be interrupted, so
   * detectors are linear and this bounds the sum of many fields. */
  budgetMs: number;
}

// Fields masked whatever they hold (masking.md §5.3): the JS server copies x-* request headers
// into config.configurable, which shows up in debug, tasks, checkpoints and message metadata.
const DEFAULT_SENSITIVE_KEYS = [
  "authorization",
  "proxy_authorization",
  "cookie",
  "set_cookie",
  "x_api_key",
  "api_key",
  "apikey",
  "password",
  "passwd",
  "secret",
  "client_secret",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "private_key",
];

const SENSITIVE_FIELD = "SENSITIVE_FIELD";

// Keys that name a credential or hold a context word of a context-gated identifier: their value
// is scanned with the key in front of it, the way the detectors expect a keyword before a value
// (masking.md §1, §3): `{"nhs_number": "9434765919"}`, `{"ssn": "473825060"}`.
const KEY_CONTEXT_HINT = /secret|passw|token|key|cred|auth|api|card|ssn|social|phone|tel|mobile|cell|msisdn|fax|sms|itin|taxpayer|routing|aba|nhs|insurance|sin|cvv|cvc|security.?code|wallet|btc|bitcoin|ethereum|passport|licen[cs]e|account|acct|dob|birth|born|nino|name|lat|lng|lon|coord|locat|gps|geo|position|address|addr|street|ship|deliver|^to$/i;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** Deepest JSON nesting scanned; deeper documents are refused rather than overflow the stack. */
const MAX_DEPTH = 512;

function normaliseKey(key: string): string {
  return key.toLowerCase().replaceAll("-", "_");
}

/** A running count of what was masked in one document, stream or request. */
export class MaskingTally {
  readonly redactions: Redactions = {};
  count(entity: string): void {
    this.redactions[entity] = (this.redactions[entity] ?? 0) + 1;
  }
  add(redactions: Redactions): void {
    for (const [entity, count] of Object.entries(redactions)) this.redactions[entity] = (this.redactions[entity] ?? 0) + count;
  }
}

interface MaskerOptions {
  sensitiveKeys?: readonly string[];
  fieldPaths?: readonly string[];
  /** false: only the keys named here are sensitive (a restoring masker masks nothing itself). */
  defaultSensitiveKeys?: boolean;
}

interface Pass {
  tally: MaskingTally;
  deadline: number;
}

export class Masker {
  /** Recorded on every payload reference, so an auditor knows what was applied. */
  readonly name = "portcullis-mask/1";
  private readonly sensitiveKeys: ReadonlySet<string>;
  /** Configured dotted paths masked whole ("config.configurable.user_email", "*" for any key). */
  private readonly fieldPaths: readonly string[][];
  private readonly keyCache = new Map<string, string>();
  private readonly plainJson: PlainJsonLimits;

  constructor(
    readonly scanner: Scanner,
    readonly operators: Operators,
    readonly limits: MaskerLimits,
    private readonly options: MaskerOptions = {},
  ) {
    this.sensitiveKeys = new Set([...(options.defaultSensitiveKeys === false ? [] : DEFAULT_SENSITIVE_KEYS), ...(options.sensitiveKeys ?? [])].map(normaliseKey));
    this.fieldPaths = (options.fieldPaths ?? []).map((path) => path.split(".").map(normaliseKey));
    this.plainJson = new SensitiveKeyLookout(this.sensitiveKeys, (key) => this.normalised(key), limits.maxFieldBytes);
  }

  /** The same detectors, limits and sensitive fields with other operators (a request's
   * tokenising masker, src/mask/vault.ts). */
  withOperators(operators: Operators): Masker {
    return new Masker(this.scanner, operators, this.limits, this.options);
  }

  /** A stored or relayed document: JSON masked leaf by leaf (and returned byte for byte when
   * nothing was masked), anything else as text. */
  mask(text: string): MaskResult {
    const trimmed = text.trimStart();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      // Most documents hold nothing to mask: read without parsing first (the parse builds the
      // whole document, and costs more than the look that finds it clean). Without field paths
      // that look decides alone; with them it needs the parse.
      const plain = this.isPlain(text);
      if (plain && this.holdsNothingToMask(text)) return { text, redactions: {} };
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (parsed !== undefined) {
        if (this.fieldPaths.length > 0) return this.maskDocument(text, parsed);
        const pass = this.pass();
        return { text: this.spliceDocument(text, pass), redactions: pass.tally.redactions };
      }
    }
    return this.maskText(text);
  }

  /** A JSON document given both as text and parsed. Most documents hold nothing to mask, so the
   * text is scanned once as a whole first, with its string escapes decoded: every string leaf
   * then appears verbatim in it, with at least the context it has alone, so no finding there
   * (and no sensitive key) means none in any leaf. Otherwise the leaves are masked one by one. */
  maskDocument(text: string, parsed: unknown): MaskResult {
    const pass = this.pass();
    const masked = this.document(text, parsed, pass);
    return { text: masked, redactions: pass.tally.redactions };
  }

  /** Free text: every finding replaced by its operator's output. */
  maskText(text: string): MaskResult {
    const pass = this.pass();
    return { text: this.text(text, pass), redactions: pass.tally.redactions };
  }

  /** A URL query ("?a=b&c=d"): values decoded, masked, and re-encoded; keys kept (§5.5). */
  maskQuery(search: string): MaskResult {
    if (search.length <= 1) return { text: search, redactions: {} };
    const pass = this.pass();
    let changed = false;
    const pairs = [...new URLSearchParams(search)].map(([key, value]) => {
      const masked = String(this.isSensitive(normaliseKey(key), [normaliseKey(key)]) ? this.sensitive(value, pass).value : this.text(value, pass));
      const maskedKey = this.text(key, pass);
      changed ||= masked !== value || maskedKey !== key;
      return [maskedKey, masked];
    });
    return { text: changed ? `?${new URLSearchParams(pairs).toString()}` : search, redactions: pass.tally.redactions };
  }

  /** A parsed JSON value; the input is not modified. */
  maskValue<T>(value: T, tally = new MaskingTally()): { value: T; changed: boolean } {
    const masked = this.value(value, [], { ...this.pass(), tally });
    return { value: masked.value as T, changed: masked.changed };
  }

  /** Replaces findings in text, counting them; used by the stream masker on its window. */
  replaceFindings(text: string, findings: readonly Finding[], from: number, to: number, tally: MaskingTally): string {
    let out = "";
    let at = from;
    for (const finding of findings) {
      if (finding.end <= from || finding.start >= to) continue;
      const start = Math.max(finding.start, from);
      out += text.slice(at, start) + this.operators.replacement(finding, text.slice(finding.start, finding.end));
      tally.count(finding.entity);
      at = Math.min(finding.end, to);
    }
    return out + text.slice(at, to);
  }

  /** Scans text, within the field cap. */
  findings(text: string, cap = this.limits.maxFieldBytes): Finding[] {
    if (text.length > cap) {
      throw new MaskingError(`a field of ${text.length} characters exceeds masking.max_field_bytes (${this.limits.maxFieldBytes}); it cannot be scanned, so it is not passed on`);
    }
    try {
      return this.scanner.scan(text);
    } catch (error) {
      throw new MaskingError("the scanner failed; nothing unscanned is passed on", { cause: error });
    }
  }

  private pass(): Pass {
    return { tally: new MaskingTally(), deadline: performance.now() + this.limits.budgetMs };
  }

  /** Scans text; `context` (a JSON key such as "aws_secret_access_key") is scanned in front of
   * it, as `context=text`, so a secret whose keyword is only in its key is still recognised. */
  private text(text: string, pass: Pass, context = ""): string {
    if (performance.now() > pass.deadline) {
      throw new MaskingError(`scanning took longer than masking.budget_ms (${this.limits.budgetMs} ms); nothing unscanned is passed on`);
    }
    if (context === "") {
      const findings = this.findings(text);
      return findings.length === 0 ? text : this.replaceFindings(text, findings, 0, text.length, pass.tally);
    }
    const prefix = `${context}=`;
    const window = prefix + text;
    const findings = this.findings(window).filter((finding) => finding.end > prefix.length);
    return findings.length === 0 ? text : this.replaceFindings(window, findings, prefix.length, window.length, pass.tally);
  }

  private value(value: unknown, path: string[], pass: Pass, depth = 0): { value: unknown; changed: boolean } {
    if (typeof value === "string") return this.stringLeaf(value, pass);
    if (depth > MAX_DEPTH) throw new MaskingError(`the document is nested deeper than ${MAX_DEPTH} levels; it cannot be scanned, so it is not passed on`);
    if (Array.isArray(value)) {
      let changed = false;
      const out = value.map((item) => {
        const masked = this.value(item, path, pass, depth + 1);
        changed ||= masked.changed;
        return masked.value;
      });
      return changed ? { value: out, changed } : { value, changed };
    }
    if (value === null || typeof value !== "object") return { value, changed: false };
    let out: Record<string, unknown> | undefined;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const normalised = this.normalised(key);
      const childPath = this.fieldPaths.length > 0 ? [...path, normalised].slice(-8) : path;
      let masked: { value: unknown; changed: boolean };
      if (this.isSensitive(normalised, childPath)) masked = this.sensitive(child, pass);
      else if (typeof child === "string") masked = this.stringLeaf(child, pass, KEY_CONTEXT_HINT.test(key) ? key.slice(0, 64) : "");
      else if (typeof child === "number") masked = this.numberLeaf(String(child), pass, KEY_CONTEXT_HINT.test(key) ? key.slice(0, 64) : "");
      else masked = this.value(child, childPath, pass, depth + 1);
      if (masked.changed) {
        out ??= { ...(value as Record<string, unknown>) };
        out[key] = masked.value;
      }
    }
    return out ? { value: out, changed: true } : { value, changed: false };
  }

  /** Whether the whole-text check cannot decide: a sensitive key, a string over the field cap,
   * or nesting too deep to look at. */
  private needsLeafWalk(value: unknown, path: string[], depth: number, members: { count: number }): boolean {
    if (typeof value === "string") return value.length > this.limits.maxFieldBytes;
    if (value === null || typeof value !== "object") return false;
    if (depth > MAX_DEPTH) return true;
    if (Array.isArray(value)) {
      for (const item of value) if (this.needsLeafWalk(item, path, depth + 1, members)) return true;
      return false;
    }
    for (const key in value) {
      members.count++;
      const normalised = this.normalised(key);
      const childPath = this.fieldPaths.length > 0 ? [...path, normalised].slice(-8) : path;
      if (this.isSensitive(normalised, childPath) || this.needsLeafWalk((value as Record<string, unknown>)[key], childPath, depth + 1, members)) return true;
    }
    return false;
  }

  /** Keys repeat across documents (messages, content, type...): normalised once each. */
  private normalised(key: string): string {
    let normalised = this.keyCache.get(key);
    if (normalised === undefined) {
      normalised = normaliseKey(key);
      if (this.keyCache.size < 10_000) this.keyCache.set(key, normalised);
    }
    return normalised;
  }

  /** A JSON document as text and parsed. When the whole text holds nothing to mask (checked
   * once, escapes decoded: every string leaf then appears verbatim in it, with at least the
   * context it has alone) it is kept byte for byte. Otherwise its values are masked in place in
   * the text, so numbers keep their text and keys their order, and every string is scanned,
   * also those of repeated keys that the parse dropped. */
  private document(text: string, parsed: unknown, pass: Pass): string {
    return this.isPlain(text, parsed) && this.holdsNothingToMask(text) ? text : this.spliceDocument(text, pass);
  }

  /** Whether the whole-text look can decide for this JSON text: no sensitive key, no string over
   * the field cap, no nesting too deep. Read from the text, every member of it (isPlainJson does
   * not look for raw control characters inside strings, so a text is parsed before it is
   * spliced); with configured field paths, from the parse, which keeps only the last copy of a
   * repeated key and so vouches only for a text whose members it holds all of. */
  private isPlain(text: string, parsed?: unknown): boolean {
    if (text.length > this.limits.maxFieldBytes * 4) return false;
    if (this.fieldPaths.length === 0) return isPlainJson(text, this.plainJson);
    if (parsed === undefined) return false;
    const parsedMembers = { count: 0 };
    return !this.needsLeafWalk(parsed, [], 0, parsedMembers) && countMembers(text) === parsedMembers.count;
  }

  /** Whether a plain JSON text (isPlain), its escapes decoded, holds nothing to mask. */
  private holdsNothingToMask(text: string): boolean {
    return this.findings(decodeEscapes(text), Infinity).length === 0;
  }

  private spliceDocument(text: string, pass: Pass): string {
    const splice = new Splice(text);
    this.spliceValue(splice, skipWhitespace(text, 0), [], pass, 0, "");
    return splice.result();
  }

  /** Masks the value at `start` of the document text in place; returns the index past it. */
  private spliceValue(splice: Splice, start: number, path: string[], pass: Pass, depth: number, context: string): number {
    const text = splice.text;
    const first = text.charCodeAt(start);
    if (first === 0x22) {
      const end = stringEnd(text, start);
      const masked = this.stringLeaf(stringValue(text, start, end), pass, context);
      if (masked.changed) splice.replace(start, end, JSON.stringify(masked.value));
      return end;
    }
    if (first !== 0x7b && first !== 0x5b) {
      const end = valueEnd(text, start);
      if (first === 0x2d || isDigit(first)) {
        const masked = this.numberLeaf(text.slice(start, end), pass, context);
        if (masked.changed) splice.replace(start, end, JSON.stringify(masked.value));
      }
      return end;
    }
    if (depth > MAX_DEPTH) throw new MaskingError(`the document is nested deeper than ${MAX_DEPTH} levels; it cannot be scanned, so it is not passed on`);
    const isObject = first === 0x7b;
    let at = skipWhitespace(text, start + 1);
    while (text.charCodeAt(at) !== (isObject ? 0x7d : 0x5d)) {
      if (isObject) {
        const keyEnd = stringEnd(text, at);
        const key = stringValue(text, at, keyEnd);
        const normalised = this.normalised(key);
        const childPath = this.fieldPaths.length > 0 ? [...path, normalised].slice(-8) : path;
        at = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1);
        if (this.isSensitive(normalised, childPath)) {
          const end = valueEnd(text, at);
          const span = text.slice(at, end);
          const masked = this.sensitive(span.startsWith('"') ? JSON.parse(span) : span === "null" ? null : span === "true" || span === "false" ? true : span, pass);
          if (masked.changed) splice.replace(at, end, JSON.stringify(masked.value));
          at = end;
        } else {
          const valueStart = text.charCodeAt(at);
          const keyContext = (valueStart === 0x22 || valueStart === 0x2d || isDigit(valueStart)) && KEY_CONTEXT_HINT.test(key) ? key.slice(0, 64) : "";
          at = this.spliceValue(splice, at, childPath, pass, depth + 1, keyContext);
        }
      } else {
        at = this.spliceValue(splice, at, path, pass, depth + 1, "");
      }
      at = skipWhitespace(text, at);
      if (text.charCodeAt(at) === 0x2c) at = skipWhitespace(text, at + 1);
    }
    return at + 1;
  }

  private stringLeaf(text: string, pass: Pass, context = ""): { value: unknown; changed: boolean } {
    // Serialized tool arguments and nested error messages are JSON inside a string (§5.5).
    const first = text.charCodeAt(0);
    if ((first === 0x7b || first === 0x5b) && text.length > 1) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (parsed !== null && typeof parsed === "object") {
        const masked = this.document(text, parsed, pass);
        return masked === text ? { value: text, changed: false } : { value: masked, changed: true };
      }
    }
    const masked = this.text(text, pass, context);
    return masked === text ? { value: text, changed: false } : { value: masked, changed: true };
  }

  /** A number under a key that gives context, scanned as written with the key in front
   * (`"ssn": 473825060`, `"lat": 52.52`, `"card_number": 4111111111111111`). One that holds a value
   * becomes its masked text, a string: a token is no number. Elsewhere numbers are counts, sizes
   * and ids, and are left alone (a long id may pass a card's checksum by chance). */
  private numberLeaf(written: string, pass: Pass, context: string): { value: unknown; changed: boolean } {
    if (context === "") return { value: written, changed: false };
    const masked = this.text(written, pass, context);
    return masked === written ? { value: written, changed: false } : { value: masked, changed: true };
  }

  /** A sensitive field's value, whatever its type, becomes one placeholder; empty values and
   * absent ones stay as they are so clients can still tell "not set" from "set". */
  private sensitive(value: unknown, pass: Pass): { value: unknown; changed: boolean } {
    const placeholder = `[${SENSITIVE_FIELD}]`;
    if (value === null || value === undefined || value === "" || value === placeholder || typeof value === "boolean") return { value, changed: false };
    pass.tally.count(SENSITIVE_FIELD);
    return { value: placeholder, changed: true };
  }

  private isSensitive(key: string, path: readonly string[]): boolean {
    if (this.sensitiveKeys.has(key)) return true;
    return this.fieldPaths.some((pattern) => pathEndsWith(path, pattern));
  }
}

/** What the whole-text look at a JSON document stops at: a key that names a sensitive field (or
 * a string over the field cap, or nesting too deep). Most keys are told apart by their length and
 * first and last characters alone, read from the text without cutting the key out of it. */
class SensitiveKeyLookout implements PlainJsonLimits {
  readonly maxDepth = MAX_DEPTH + 1;
  /** Whether a sensitive key has this length and first and last characters (ASCII lower case, `-`
   * as `_`), folded to 15 bits (shapeIndex). Undefined when a configured key is not printable ASCII
   * (İ lower-cases to two characters): then every key is looked up whole. */
  private readonly shapes: Uint8Array | undefined;

  constructor(
    private readonly keys: ReadonlySet<string>,
    private readonly normalised: (key: string) => string,
    readonly maxStringLength: number,
  ) {
    if (![...keys].every((key) => /^[\x20-\x7e]+$/.test(key))) return;
    this.shapes = new Uint8Array(1 << 15);
    for (const key of keys) this.shapes[shapeIndex(key.length, key.charCodeAt(0), key.charCodeAt(key.length - 1))] = 1;
  }

  keyStops(text: string, start: number, end: number, escaped: boolean): boolean {
    if (!escaped && this.shapes) {
      const first = text.charCodeAt(start + 1);
      const last = text.charCodeAt(end - 2);
      // Outside ASCII, lower-casing may turn a character into an ASCII one (K, the Kelvin sign).
      if (first < 0x80 && last < 0x80 && this.shapes[shapeIndex(end - start - 2, foldKeyCharacter(first), foldKeyCharacter(last))] === 0) return false;
    }
    let key: string;
    try {
      key = escaped ? (JSON.parse(text.slice(start, end)) as string) : text.slice(start + 1, end - 1);
    } catch {
      return true; // not JSON after all: the parse that follows decides
    }
    return this.keys.has(this.normalised(key));
  }
}

/** Five bits each of a key's length and first and last characters: different keys may share one. */
function shapeIndex(length: number, first: number, last: number): number {
  return ((length & 0x1f) << 10) | ((first & 0x1f) << 5) | (last & 0x1f);
}

/** A key character as normaliseKey leaves it, for ASCII: lower case, `-` as `_`. */
function foldKeyCharacter(c: number): number {
  if (c === 0x2d) return 0x5f;
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

function pathEndsWith(path: readonly string[], pattern: readonly string[]): boolean {
  if (pattern.length > path.length) return false;
  const offset = path.length - pattern.length;
  return pattern.every((segment, i) => segment === "*" || segment === path[offset + i]);
}

/** A text with some spans replaced, built once at the end; the text itself when none were. */
class Splice {
  private readonly pieces: string[] = [];
  private copied = 0;

  constructor(readonly text: string) {}

  replace(start: number, end: number, replacement: string): void {
    this.pieces.push(this.text.slice(this.copied, start), replacement);
    this.copied = end;
  }

  result(): string {
    if (this.pieces.length === 0) return this.text;
    this.pieces.push(this.text.slice(this.copied));
    return this.pieces.join("");
  }
}
