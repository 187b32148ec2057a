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
 * parsed value than in its text means a key was repeated (JSON.parse keeps only the last). */
export function countMembers(text: string): number {
  const open: boolean[] = []; // per open container: is it an object
  let expectKey = false;
  let members = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      if (expectKey) {
        members++;
        expectKey = false;
      }
      at = stringEnd(text, at) - 1;
    } else if (c === 0x7b) {
      open.push(true);
      expectKey = true;
    } else if (c === 0x5b) {
      open.push(false);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      expectKey = open[open.length - 1] === true;
    }
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
