// JSON as it was sent (RFC 8259), for text that JSON.parse has already accepted: where each value
// starts and ends, so a value can be replaced in place and everything else (number text, key
// order, whitespace, integers past 2^53) reaches the reader byte for byte; and how many members
// its objects hold, which tells whether one repeats a key (JSON.parse keeps only the last copy).

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
