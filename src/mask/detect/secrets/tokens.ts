// Prefixed tokens (prefix + charset + length), declared as data and read by one rule each.
import { ALNUM, isIn, matchOneOf, NO_MATCH, RAN_OUT, ranOut, runEnd, startsToken } from "../lexer.js";
import { anchor, openUnlessFinal, partialLiteralAtEnd, type Rule } from "./rules.js";
import { shannonEntropy } from "./values.js";

type Segment = { readonly oneOf: readonly string[] } | { readonly chars: number; readonly min: number; readonly max: number };

export function exactly(chars: number, length: number): Segment {
  return { chars, min: length, max: length };
}

export interface TokenFormat {
  readonly rule: string;
  /** Found with indexOf; every prefix contains it at the same offset. */
  readonly anchor: string;
  readonly prefixes: readonly string[];
  /** Matched greedily without backtracking: a variable-length run is last, or followed by a
   * segment whose first character it cannot contain. A run longer than its max is no match. */
  readonly body: readonly Segment[];
  /** Class the character before the token must not be in (default: alphanumerics). */
  readonly before?: number;
  /** Class the character after the token must not be in (gitleaks' trailing `\b`). */
  readonly after?: number;
  /** Trailing characters of this class are not part of the token. */
  readonly trimEnd?: number;
  /** Shannon entropy of the whole token, bits per character (gitleaks `entropy`). */
  readonly minEntropy?: number;
  /** A partial match this long is distinctive (OpenCandidate.strong); shorter ones are word-like. */
  readonly strongAt: number;
  readonly valid?: (token: string) => boolean;
  readonly score?: (token: string) => number;
}

export interface TokenFamily {
  readonly detector: string;
  readonly entity: string;
  readonly formats: readonly TokenFormat[];
}


export function tokenRule(entity: string, format: TokenFormat): Rule {
  const before = format.before ?? ALNUM;
  const offset = format.prefixes[0]?.indexOf(format.anchor) ?? -1;
  if (offset < 0 || format.prefixes.some((prefix) => prefix.indexOf(format.anchor) !== offset)) {
    throw new Error(`token format ${format.rule}: every prefix must contain the anchor ${format.anchor} at the same offset`);
  }
  const segmentLength = (segment: Segment): number => ("oneOf" in segment ? Math.max(...segment.oneOf.map((literal) => literal.length)) : segment.max);
  const maxLength = Math.max(...format.prefixes.map((prefix) => prefix.length)) + format.body.reduce((sum, segment) => sum + segmentLength(segment), 0);
  return {
    id: format.rule,
    entity,
    anchors: [anchor(format.anchor, offset)],
    maxLength,
    reach: maxLength + 1,
    evaluate(text, at, final, sink) {
      if (at < 0 || !startsToken(text, at, before)) return;
      const strong = text.length - at >= format.strongAt;
      let pos = matchOneOf(text, at, format.prefixes);
      if (pos === RAN_OUT) return openUnlessFinal(sink, final, at, strong);
      if (pos === NO_MATCH) return;
      for (const segment of format.body) {
        if ("oneOf" in segment) {
          pos = matchOneOf(text, pos, segment.oneOf);
          if (pos === RAN_OUT) return openUnlessFinal(sink, final, at, strong);
          if (pos === NO_MATCH) return;
          continue;
        }
        // One character past a variable max tells "too long" from "ends here".
        const limit = segment.min === segment.max ? segment.max : segment.max + 1;
        const end = runEnd(text, pos, segment.chars, limit);
        if (ranOut(text, pos, end, limit)) {
          if (!final) return sink.open(at, strong);
        }
        if (end - pos < segment.min || end - pos > segment.max) return;
        pos = end;
      }
      if (format.after !== undefined) {
        if (pos === text.length) {
          if (!final) return sink.open(at, strong);
        } else if (isIn(text.charCodeAt(pos), format.after)) return;
      }
      let end = pos;
      while (format.trimEnd !== undefined && end > at && isIn(text.charCodeAt(end - 1), format.trimEnd)) end--;
      if (format.minEntropy !== undefined && shannonEntropy(text, at, end) < format.minEntropy) return;
      const token = text.slice(at, end);
      if (format.valid && !format.valid(token)) return;
      sink.found({ start: at, end, entity, score: format.score?.(token) ?? 1, detector: format.rule });
    },
    trailing: (text) => partialLiteralAtEnd(text, format.prefixes, before, format.strongAt),
  };
}
