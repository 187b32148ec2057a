// Measures how deeply a JSON text nests while its bytes arrive, so a body nested past the limit
// is refused before JSON.parse ever sees it: V8 parses a 1,000,000-deep array in 0.5-0.7 s of
// blocked event loop, and only then could a check on the parsed value run.
//
// Only the lexical structure matters here (RFC 8259 §2, §7): '[' and '{' open a level and ']'
// and '}' close one, except inside strings, which end at the first '"' not escaped by a '\'.
// Every structural character is ASCII and never occurs inside a multi-byte UTF-8 sequence
// (RFC 3629 §3), so raw bytes can be scanned chunk by chunk, whatever the chunk boundaries.
// Invalid JSON is left for JSON.parse to refuse.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// What each byte means outside a string; one table lookup per byte keeps the common case cheap.
const OTHER = 0;
const STRING = 1;
const OPEN = 2;
const CLOSE = 3;
const STRUCTURAL = new Uint8Array(256);
STRUCTURAL[QUOTE] = STRING;
STRUCTURAL[0x5b] = OPEN; // [
STRUCTURAL[0x7b] = OPEN; // {
STRUCTURAL[0x5d] = CLOSE; // ]
STRUCTURAL[0x7d] = CLOSE; // }

export class JsonDepthScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Bytes scanned so far; once the limit is exceeded, up to and including the byte that did it. */
  scannedBytes = 0;
  /** Set once the nesting has gone past the limit; nothing more is scanned after that. */
  exceeded = false;

  constructor(readonly maxDepth: number) {}

  /** Scans the next chunk; returns false as soon as the nesting goes past the limit. */
  scan(chunk: Uint8Array): boolean {
    if (this.exceeded) return false;
    // Locals rather than fields in the loop: this runs over every byte of every body.
    let { depth, inString, escaped } = this;
    const { maxDepth } = this;
    const end = chunk.length;
    let i = 0;
    while (i < end) {
      if (inString) {
        if (escaped) {
          escaped = false;
          i += 1;
          continue;
        }
        // Most of a body is string content: jump to the next quote, then decide from the run of
        // backslashes before it whether it ends the string (an even run) or is escaped (odd).
        const quote = chunk.indexOf(QUOTE, i);
        const stop = quote === -1 ? end : quote;
        let backslashes = 0;
        while (stop - backslashes - 1 >= i && chunk[stop - backslashes - 1] === BACKSLASH) backslashes += 1;
        if (quote === -1) {
          escaped = backslashes % 2 === 1;
          i = end;
        } else {
          if (backslashes % 2 === 0) inString = false;
          i = quote + 1;
        }
        continue;
      }
      // Outside strings: count levels until the next string starts.
      for (; i < end; i += 1) {
        const kind = STRUCTURAL[chunk[i]!]!;
        if (kind === OTHER) continue;
        if (kind === STRING) {
          inString = true;
          i += 1;
          break;
        }
        if (kind === OPEN) {
          depth += 1;
          if (depth > maxDepth) {
            this.exceeded = true;
            this.scannedBytes += i + 1;
            return false;
          }
        } else if (depth > 0) {
          depth -= 1;
        }
      }
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.scannedBytes += end;
    return true;
  }
}
