// JSON as it was sent (RFC 8259), for text that JSON.parse has already accepted: where each value
// starts and ends, so a value can be replaced in place and everything else (number text, key
// order, whitespace, integers past 2^53) reaches the reader byte for byte; and how many members
// its objects hold, which tells whether one repeats a key (JSON.parse keeps only the last copy).
// And a reader of JSON text that builds nothing (isPlainJson), for the masker's look at a whole
// document before anything is parsed.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index just past the string literal that opens at `start` (a '"'). */
export function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) throw new SyntaxError("unterminated JSON string");
    let backslashes = 0;
    for (let i = quote - 1; i > start && text.charCodeAt(i) === BACKSLASH; i--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The value of the string literal text[start, end). */
export function stringValue(text: string, start: number, end: number): string {
  const inner = text.slice(start + 1, end - 1);
  return inner.includes("\\") ? (JSON.parse(text.slice(start, end)) as string) : inner;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f" };

/** The text with every string escape (RFC 8259 §7) decoded, so each string's value stands in it
 * as it reads. One indexOf per escape (a pattern would read every character); an escape is taken
 * whole, so `\\n` stays a backslash and an n. */
export function decodeEscapes(text: string): string {
  let decoded = "";
  let from = 0;
  for (let at = text.indexOf("\\"); at !== -1; at = text.indexOf("\\", from)) {
    decoded += text.slice(from, at);
    const escape = text[at + 1]!;
    if (escape === "u") {
      decoded += String.fromCharCode(Number.parseInt(text.slice(at + 2, at + 6), 16));
      from = at + 6;
    } else {
      decoded += SIMPLE_ESCAPES[escape] ?? escape;
      from = at + 2;
    }
  }
  return from === 0 ? text : decoded + text.slice(from);
}

/** Index of the first non-whitespace character at or after `at` (RFC 8259 §2). */
export function skipWhitespace(text: string, at: number): number {
  for (;;) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return at;
    at++;
  }
}

/** Index just past the value that starts at `start`. */
export function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first !== 0x7b && first !== 0x5b) {
    let at = start;
    while (at < text.length && !isDelimiter(text.charCodeAt(at))) at++;
    return at;
  }
  // An object or array: only strings and brackets matter for where it ends.
  let depth = 0;
  let at = start;
  for (;;) {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      at = stringEnd(text, at);
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return at + 1;
    }
    at++;
    if (at >= text.length) throw new SyntaxError("unterminated JSON value");
  }
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** How many object members the JSON text holds, repeated keys included: fewer members in the
 * parsed value than in its text means a key was repeated (JSON.parse keeps only the last). In text
 * JSON.parse accepted, a quote outside a string opens one, and a string followed by ':' is a key;
 * so the count jumps from string to string (indexOf runs at memchr speed) and reads nothing else. */
export function countMembers(text: string): number {
  let members = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at)) {
    at = stringEnd(text, at);
    if (text.charCodeAt(skipWhitespace(text, at)) === 0x3a) members++;
  }
  return members;
}

/** How many object members a parsed value holds (its nesting is bounded by the depth limit). */
export function countParsedMembers(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let members = 0;
  if (Array.isArray(value)) {
    for (const item of value) members += countParsedMembers(item);
    return members;
  }
  for (const key in value) members += 1 + countParsedMembers((value as Record<string, unknown>)[key]);
  return members;
}

/** A parsed JSON object: not an array, not null. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** What isPlainJson holds a text to. */
export interface PlainJsonLimits {
  /** Longest string literal, as written between its quotes. */
  readonly maxStringLength: number;
  /** Deepest nesting of objects and arrays. */
  readonly maxDepth: number;
  /** Whether the member key written at text[start, end) (quotes included; `escaped` when it holds
   * an escape) stops the reading. */
  keyStops(text: string, start: number, end: number, escaped: boolean): boolean;
}

const OBJECT = 1;
const ARRAY = 2;

/** Whether `text` is one JSON value by the grammar of RFC 8259 with every escape well formed, no
 * string longer and no nesting deeper than `limits` allow, and no key that `limits.keyStops`. It
 * reads the text once and builds nothing: strings are skipped with indexOf, only the characters
 * between them are read one by one. Raw control characters inside strings are not looked for, so
 * a text this passes may still be one JSON.parse refuses; every other answer is "no", and says
 * nothing about why (the text may be JSON with a key that stopped the reading). */
export function isPlainJson(text: string, limits: PlainJsonLimits): boolean {
  return new PlainJsonReader(text, limits).read();
}

/** isPlainJson's state: where the next backslash is, and what each open container is. */
class PlainJsonReader {
  private nextBackslash: number;
  private readonly kinds: Uint8Array;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly limits: PlainJsonLimits,
  ) {
    this.nextBackslash = text.indexOf("\\");
    this.kinds = new Uint8Array(limits.maxDepth + 1);
  }

  read(): boolean {
    const text = this.text;
    let at = whitespaceEnd(text, 0);
    for (;;) {
      // A value starts at `at`.
      const c = text.charCodeAt(at);
      if (c === QUOTE) {
        at = this.stringAt(at, false);
        if (at < 0) return false;
      } else if (c === 0x7b || c === 0x5b) {
        if (this.depth >= this.limits.maxDepth) return false;
        this.kinds[this.depth++] = c === 0x7b ? OBJECT : ARRAY;
        at = whitespaceEnd(text, at + 1);
        if (text.charCodeAt(at) === (c === 0x7b ? 0x7d : 0x5d)) {
          this.depth--;
          at++;
        } else {
          if (c === 0x7b && (at = this.memberAt(at)) < 0) return false;
          continue;
        }
      } else if (c === 0x2d || isDigitCode(c)) {
        at = numberEnd(text, at);
        if (at < 0) return false;
      } else if (text.startsWith("true", at) || text.startsWith("null", at)) {
        at += 4;
      } else if (text.startsWith("false", at)) {
        at += 5;
      } else {
        return false;
      }
      // After a value: the end of the text, or `,` and the next value, or the end of containers.
      for (;;) {
        at = whitespaceEnd(text, at);
        if (this.depth === 0) return at === text.length;
        const kind = this.kinds[this.depth - 1];
        const next = text.charCodeAt(at);
        if (next === 0x2c) {
          at = whitespaceEnd(text, at + 1);
          if (kind === OBJECT && (at = this.memberAt(at)) < 0) return false;
          break;
        }
        if (next !== (kind === OBJECT ? 0x7d : 0x5d)) return false;
        this.depth--;
        at++;
      }
    }
  }

  /** From the key of a member to the start of its value, or -1. */
  private memberAt(at: number): number {
    if (this.text.charCodeAt(at) !== QUOTE) return -1;
    const keyEnd = this.stringAt(at, true);
    if (keyEnd < 0) return -1;
    const colon = whitespaceEnd(this.text, keyEnd);
    return this.text.charCodeAt(colon) === 0x3a ? whitespaceEnd(this.text, colon + 1) : -1;
  }

  /** Index past the string literal opening at `start`, or -1 when it is not plain. */
  private stringAt(start: number, isKey: boolean): number {
    const text = this.text;
    let from = start + 1;
    let escaped = false;
    let escapeEnd = -1;
    for (;;) {
      const quote = text.indexOf('"', from);
      if (quote < 0) return -1;
      // Every escape before this quote must be well formed; one that ends past it escapes it.
      while (this.nextBackslash !== -1 && this.nextBackslash < quote) {
        const length = escapeLength(text, this.nextBackslash);
        if (length < 0) return -1;
        escapeEnd = this.nextBackslash + length;
        escaped = true;
        this.nextBackslash = text.indexOf("\\", escapeEnd);
      }
      if (escapeEnd > quote) {
        from = quote + 1;
        continue;
      }
      const end = quote + 1;
      if (end - start - 2 > this.limits.maxStringLength) return -1;
      if (isKey && this.limits.keyStops(text, start, end, escaped)) return -1;
      return end;
    }
  }
}

/** skipWhitespace, without a call for the common case of none. */
function whitespaceEnd(text: string, at: number): number {
  return text.charCodeAt(at) > 0x20 ? at : skipWhitespace(text, at);
}

const isDigitCode = (c: number) => c >= 0x30 && c <= 0x39;
const isHexCode = (c: number) => isDigitCode(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Length of the well-formed escape at `at` (a backslash): 2, or 6 for \uXXXX; -1 otherwise. */
function escapeLength(text: string, at: number): number {
  const c = text.charCodeAt(at + 1);
  if (c === 0x75) {
    for (let k = at + 2; k < at + 6; k++) if (!isHexCode(text.charCodeAt(k))) return -1;
    return 6;
  }
  // " \ / b f n r t
  return c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74 ? 2 : -1;
}

/** Index past the number at `at` (RFC 8259 §6: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?), or -1. */
function numberEnd(text: string, at: number): number {
  if (text.charCodeAt(at) === 0x2d) at++;
  const first = text.charCodeAt(at);
  if (first === 0x30) at++;
  else if (isDigitCode(first)) while (isDigitCode(text.charCodeAt(at))) at++;
  else return -1;
  if (text.charCodeAt(at) === 0x2e) {
    at++;
    if (!isDigitCode(text.charCodeAt(at))) return -1;
    while (isDigitCode(text.charCodeAt(at))) at++;
  }
  const e = text.charCodeAt(at);
  if (e === 0x65 || e === 0x45) {
    at++;
    const sign = text.charCodeAt(at);
    if (sign === 0x2b || sign === 0x2d) at++;
    if (!isDigitCode(text.charCodeAt(at))) return -1;
    while (isDigitCode(text.charCodeAt(at))) at++;
  }
  return at;
}
