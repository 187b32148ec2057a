// Where an IBAN or a UK NINO can start, and how a stream holds back such a fixed-grammar match.
import { isLetter, isWordChar, RAN_OUT } from "../lexer.js";
import type { OpenCandidate } from "../types.js";

/** Two letters and two digits at a word start, with an optional space between (`DE44`, `AB 12`):
 * where an IBAN or a NINO can start. One pass per text, shared by both detectors. */
export class LetterPairAnchors {
  private text: string | undefined;
  private starts: number[] = [];
  private readonly pattern = /\b[A-Za-z]{2} ?\d\d/g;

  of(text: string): number[] {
    if (text !== this.text) {
      const starts: number[] = [];
      this.pattern.lastIndex = 0;
      for (let match = this.pattern.exec(text); match; match = this.pattern.exec(text)) {
        starts.push(match.index);
        this.pattern.lastIndex = match.index + 1;
      }
      this.starts = starts;
      this.text = text;
    }
    return this.starts;
  }
}

/** Streaming for fixed-grammar matchers (IBAN, NINO): the earliest token start where the match
 * needs more text or ends at the very end (the next char may void it), moved back to the start of
 * any complete match that crosses it. */
export function openFixedGrammar(
  text: string,
  maxLength: number,
  match: (text: string, start: number) => number,
  strongAfter: number,
): OpenCandidate | undefined {
  const end = text.length;
  const complete: Array<readonly [number, number]> = [];
  for (let p = Math.max(0, end - 2 * maxLength); p < end; p++) {
    if (!isLetter(text.charCodeAt(p)) || isWordChar(text.charCodeAt(p - 1))) continue;
    const result = match(text, p);
    if (result === RAN_OUT || result === end) {
      let start = p;
      for (const [matchStart, matchEnd] of complete.slice().reverse()) if (matchStart < start && matchEnd > start) start = matchStart;
      return { start, strong: end - p >= strongAfter };
    }
    if (result > 0) complete.push([p, result]);
  }
  return undefined;
}
