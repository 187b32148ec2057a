// How a secret detector is built: rules anchored on a literal that indexOf finds, each evaluated
// at the anchor's occurrences; one evaluator serves find() and, with `final` false, the stream's
// openCandidate() (types.ts).
import { matchLiteral, RAN_OUT, startsToken } from "../lexer.js";
import type { Detector, Finding, OpenCandidate } from "../types.js";

/** Where a rule reports what it decided about one anchor occurrence. */
export interface Sink {
  found(finding: Finding): void;
  /** Undecided: more text could still change the outcome. Only when `final` is false. */
  open(start: number, strong: boolean): void;
}

/** A literal every candidate contains `offset` characters after its start. Chosen to begin with a
 * rare character: indexOf runs at memchr speed on the first character, so `BEGIN` is found ten
 * times faster than `-----BEGIN` in JSON full of UUIDs. Evaluators check the rest of the prefix. */
interface Anchor {
  readonly literal: string;
  readonly offset: number;
}

export const anchor = (literal: string, offset = 0): Anchor => ({ literal, offset });

export interface Rule {
  /** gitleaks rule id, reported as Finding.detector. */
  readonly id: string;
  readonly entity: string;
  /** Literals found with indexOf; the rule is evaluated only where one occurs. */
  readonly anchors: readonly Anchor[];
  readonly maxLength: number;
  /** Most characters an evaluation reads after its anchor: anchors further back are settled. */
  readonly reach: number;
  /** Decides the candidate at `at`, an occurrence of one of the anchors. With `final` the end of
   * the text ends the candidate; otherwise reaching it makes the candidate open. */
  evaluate(text: string, at: number, final: boolean, sink: Sink): void;
  /** An anchor not yet complete at the very end of the text (`gh`, `-----BEG`, `Bear`). */
  trailing(text: string): OpenCandidate | undefined;
}

/** Reports an undecided candidate when streaming; with `final` the caller's "no match" stands.
 * (A plain function rather than a closure per evaluation: evaluators run once per anchor hit.) */
export function openUnlessFinal(sink: Sink, final: boolean, start: number, strong: boolean): void {
  if (!final) sink.open(start, strong);
}

/** An unfinished literal at the very end of the text, at a token boundary: `gh` of `ghp_`. */
export function partialLiteralAtEnd(text: string, literals: readonly string[], before: number, strongAt: number): OpenCandidate | undefined {
  let earliest: number | undefined;
  for (const literal of literals) {
    for (let length = Math.min(literal.length - 1, text.length); length > 0; length--) {
      const start = text.length - length;
      if (earliest !== undefined && start >= earliest) break;
      if (matchLiteral(text, start, literal) === RAN_OUT && startsToken(text, start, before)) {
        earliest = start;
        break;
      }
    }
  }
  return earliest === undefined ? undefined : { start: earliest, strong: text.length - earliest >= strongAt };
}

function earlier(candidate: OpenCandidate | undefined, other: OpenCandidate | undefined): OpenCandidate | undefined {
  if (!other) return candidate;
  if (!candidate || other.start < candidate.start || (other.start === candidate.start && other.strong)) return other;
  return candidate;
}

/** Evaluates `rules` at every candidate start in [from, to) where their anchors occur. */
export function evaluateAt(text: string, rules: readonly Rule[], from: number, to: number, final: boolean, sink: Sink): void {
  for (const rule of rules) {
    for (const { literal, offset } of rule.anchors) {
      for (let hit = text.indexOf(literal, from + offset); hit !== -1 && hit - offset < to; hit = text.indexOf(literal, hit + 1)) {
        rule.evaluate(text, hit - offset, final, sink);
      }
    }
  }
}

// A class, not an object of arrow functions made per call: find() runs once per JSON leaf, and
// tsx (esbuild keepNames) names every such function with a defineProperty call.
class FindingsInto implements Sink {
  constructor(private readonly out: Finding[]) {}
  found(finding: Finding): void {
    this.out.push(finding);
  }
  open(): void {}
}

export function ruleDetector(id: string, rules: readonly Rule[]): Detector {
  // Rules that share an anchor are evaluated in one pass over it.
  const groups = new Map<string, Rule[]>();
  for (const rule of rules) {
    const key = rule.anchors.map(({ literal, offset }) => `${offset}:${literal}`).join("|");
    groups.set(key, [...(groups.get(key) ?? []), rule]);
  }
  const sharedAnchors = [...groups.values()].map((group): Rule => {
    const [first] = group as [Rule, ...Rule[]];
    if (group.length === 1) return first;
    return { ...first, evaluate: (text, at, final, sink) => group.forEach((rule) => rule.evaluate(text, at, final, sink)) };
  });
  const reach = Math.max(...rules.map((rule) => rule.reach));

  return {
    id,
    entities: [...new Set(rules.map((rule) => rule.entity))],
    maxLength: Math.max(...rules.map((rule) => rule.maxLength)),
    find(text: string, out: Finding[]): void {
      evaluateAt(text, sharedAnchors, 0, text.length, true, new FindingsInto(out));
    },
    openCandidate(text: string): OpenCandidate | undefined {
      let open: OpenCandidate | undefined;
      const settled: Finding[] = [];
      const sink: Sink = { found: (finding) => settled.push(finding), open: (start, strong) => (open = earlier(open, { start, strong })) };
      // Candidates starting more than `reach` back read nothing past the end: they are settled.
      let from = Math.max(0, text.length - reach);
      evaluateAt(text, sharedAnchors, from, text.length, false, sink);
      for (const rule of rules) open = earlier(open, rule.trailing(text));
      if (!open) return undefined;
      // A settled finding that straddles the candidate (a JWT whose payload opens another one) is
      // held whole, which may uncover one further back: look back one reach at a time, once each.
      for (;;) {
        for (let moved = true; moved; ) {
          moved = false;
          for (const finding of settled) {
            if (finding.start < open.start && finding.end > open.start) {
              open = { start: finding.start, strong: true };
              moved = true;
            }
          }
        }
        const wanted = Math.max(0, open.start - reach);
        if (wanted >= from) return open;
        const before = settled.length;
        evaluateAt(text, sharedAnchors, wanted, from, false, sink);
        from = wanted;
        if (settled.length === before) return open;
      }
    },
  };
}
