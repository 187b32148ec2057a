// Per-deployment detectors: patterns compiled with re2js (RE2 semantics: linear time, no
// lookaround or backreferences, so a configured pattern cannot be a ReDoS) and dictionaries of
// terms matched as whole words, case-insensitively.
import { RE2JS } from "re2js";
import { CODE_UNDERSCORE, isLetterOrDigitAt } from "./lexer.js";
import type { Detector, Finding, OpenCandidate } from "./types.js";

interface CustomPatternRule {
  entity: string;
  pattern: string;
  /** Literal every match starts with: lets a stream hold only from it, not the last max_length characters. */
  prefix?: string;
  maxLength: number;
  caseInsensitive: boolean;
}

interface DictionaryRule {
  entity: string;
  terms: readonly string[];
}

export class CustomPatternError extends Error {}

export function customPatternDetector(rule: CustomPatternRule): Detector {
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(rule.pattern, rule.caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (error) {
    throw new CustomPatternError(`masking pattern for ${rule.entity} is not valid RE2 syntax (no lookaround or backreferences): ${(error as Error).message}`);
  }
  const prefix = rule.caseInsensitive ? rule.prefix?.toLowerCase() : rule.prefix;
  return {
    id: `custom:${rule.entity.toLowerCase()}`,
    entities: [rule.entity],
    maxLength: rule.maxLength,
    find(text: string, out: Finding[]): void {
      if (prefix && !(rule.caseInsensitive ? text.toLowerCase() : text).includes(prefix)) return;
      const matcher = regex.matcher(text);
      while (matcher.find()) {
        const start = matcher.start();
        const end = matcher.end();
        if (end > start && end - start <= rule.maxLength) out.push({ start, end, entity: rule.entity, score: 1, detector: this.id });
      }
    },
    openCandidate(text: string): OpenCandidate | undefined {
      if (!prefix) return text.length > 0 ? { start: Math.max(0, text.length - rule.maxLength), strong: false } : undefined;
      const tail = (rule.caseInsensitive ? text.toLowerCase() : text).slice(-(rule.maxLength + prefix.length));
      const offset = text.length - tail.length;
      const at = tail.indexOf(prefix);
      if (at !== -1) return { start: offset + at, strong: true };
      return partialPrefixAtEnd(tail, prefix, offset);
    },
  };
}

export function dictionaryDetector(rule: DictionaryRule): Detector {
  const terms = [...new Set(rule.terms.map((term) => term.toLowerCase()).filter((term) => term.length > 0))];
  const maxLength = Math.max(1, ...terms.map((term) => term.length));
  return {
    id: `dictionary:${rule.entity.toLowerCase()}`,
    entities: [rule.entity],
    maxLength,
    find(text: string, out: Finding[]): void {
      const lower = text.toLowerCase();
      for (const term of terms) {
        for (let at = lower.indexOf(term); at !== -1; at = lower.indexOf(term, at + 1)) {
          if (isWordEdge(lower, at - 1) && isWordEdge(lower, at + term.length)) {
            out.push({ start: at, end: at + term.length, entity: rule.entity, score: 1, detector: this.id });
          }
        }
      }
    },
    openCandidate(text: string): OpenCandidate | undefined {
      // A term needs a word edge after it, so a whole term at the very end is still open too.
      const lower = text.slice(-(maxLength + 1)).toLowerCase();
      const offset = text.length - lower.length;
      let open: OpenCandidate | undefined;
      for (const term of terms) {
        for (let length = Math.min(term.length, lower.length); length >= 1; length -= 1) {
          const start = lower.length - length;
          if (lower.endsWith(term.slice(0, length)) && isWordEdge(lower, start - 1)) {
            if (!open || offset + start < open.start) open = { start: offset + start, strong: length >= 4 };
            break;
          }
        }
      }
      return open;
    },
  };
}

function partialPrefixAtEnd(tail: string, prefix: string, offset: number): OpenCandidate | undefined {
  for (let length = Math.min(prefix.length - 1, tail.length); length >= 1; length -= 1) {
    if (tail.endsWith(prefix.slice(0, length))) return { start: offset + tail.length - length, strong: false };
  }
  return undefined;
}

function isWordEdge(text: string, index: number): boolean {
  if (index < 0 || index >= text.length) return true;
  return text.charCodeAt(index) !== CODE_UNDERSCORE && !isLetterOrDigitAt(text, index);
}
