// The scanner: every enabled detector over one text and over its normalised form (normalise.ts),
// findings mapped back onto the characters actually written, overlaps resolved (masking.md §1),
// and the open candidate the stream masker must hold back.
import { isWhitespace } from "./lexer.js";
import { normalise, openTail, type Normalised } from "./normalise.js";
import { MASK_THRESHOLD, type Detector, type Finding, type OpenCandidate } from "./types.js";

export class Scanner {
  /** The longest hold-back any detector may ask for. */
  readonly maxHold: number;

  /** The last text normalised: a stream scans a window and then asks for its open candidate. */
  private lastText: string | undefined;
  private lastNormalised: Normalised | undefined;
  /** Short texts found clean. Keys, enum values, actions and paths come back on every request
   * and every detector pass over them costs the same each time; a text with a finding is
   * scanned again every time, so only the answer "nothing here" is remembered. */
  private readonly clean = new Set<string>();

  constructor(readonly detectors: readonly Detector[]) {
    this.maxHold = Math.max(0, ...detectors.map((detector) => detector.maxLength));
  }

  private normalised(text: string): Normalised | undefined {
    if (text !== this.lastText) {
      this.lastNormalised = normalise(text);
      this.lastText = text;
    }
    return this.lastNormalised;
  }

  /** Findings to mask, sorted, non-overlapping. Identical spans keep the higher score; a span
   * inside another gives way to it; partial overlaps become their union, typed by the higher
   * score (safer than masking each part). */
  scan(text: string): Finding[] {
    const short = text.length <= CLEAN_CACHE_MAX_CHARS;
    if (short && this.clean.has(text)) return [];
    const findings = this.scanAll(text);
    if (short && findings.length === 0) {
      if (this.clean.size >= CLEAN_CACHE_ENTRIES) this.clean.clear();
      this.clean.add(text);
    }
    return findings;
  }

  private scanAll(text: string): Finding[] {
    const found: Finding[] = [];
    for (const detector of this.detectors) detector.find(text, found);
    const normalised = this.normalised(text);
    if (normalised?.changed) {
      // Only around the rewrites: elsewhere the normalised text is the original, scanned above.
      // Masked over the original characters: `jane%40example.com` whole, not `jane@example.com`.
      for (const [from, to] of rewriteWindows(normalised)) {
        const inWindow: Finding[] = [];
        const piece = from === 0 && to === normalised.text.length ? normalised.text : normalised.text.slice(from, to);
        for (const detector of this.detectors) detector.find(piece, inWindow);
        for (const finding of inWindow) {
          if (finding.end > finding.start) found.push({ ...finding, start: normalised.startOf(from + finding.start), end: normalised.endOf(from + finding.end - 1) });
        }
      }
    }
    return resolveOverlaps(found.filter((finding) => finding.score >= MASK_THRESHOLD && finding.end > finding.start));
  }

  /** The earliest start of a suffix that more text could still turn into a match, and never
   * inside a finding that crosses it: everything before it can be masked and sent now. With
   * strongOnly, weak candidates (ordinary word beginnings) are ignored: the idle flush sends them. */
  openCandidate(text: string, findings: readonly Finding[], strongOnly = false): OpenCandidate | undefined {
    let open: OpenCandidate | undefined;
    const consider = (candidate: OpenCandidate | undefined) => {
      if (!candidate || (strongOnly && !candidate.strong)) return;
      if (!open || candidate.start < open.start || (candidate.start === open.start && candidate.strong)) open = candidate;
    };
    for (const detector of this.detectors) consider(detector.openCandidate(text));
    const normalised = this.normalised(text);
    if (normalised?.changed) {
      for (const detector of this.detectors) {
        const candidate = detector.openCandidate(normalised.text);
        if (candidate) consider({ start: normalised.startOf(candidate.start), strong: candidate.strong });
      }
    }
    // An unfinished `%4`, `&#6` or `jane at exa` may still become part of a value.
    const tail = openTail(text);
    if (tail !== undefined && tail < text.length) {
      consider({ start: tail, strong: false });
      // The unfinished escape may become a character that continues what stands before it
      // (`+49 (0)176%2` + `0…` is one phone number): what was open where the escape begins stays
      // open, as if the text ended there.
      if (tail > 0) consider(this.openCandidate(text.slice(0, tail), [], strongOnly));
    }
    if (!open) return undefined;
    for (const finding of findings) {
      if (finding.start < open.start && finding.end > open.start) open = { start: finding.start, strong: true };
    }
    return open;
  }
}

/** Bounds of the clean-text memory: at most 4,096 texts of 128 characters (about 1 MB). */
const CLEAN_CACHE_MAX_CHARS = 128;
const CLEAN_CACHE_ENTRIES = 4096;

/** Characters scanned on either side of a rewrite: more than any value that could hold one (an
 * address is at most 254) plus the five context words before it. */
const REWRITE_REACH = 384;
/** A window edge moves out to the next whitespace, at most this far, so no token is cut. */
const EDGE_SLACK = 256;

/** [from, to) windows of the normalised text around its rewrites, merged, edges at whitespace. */
function rewriteWindows(normalised: Normalised): Array<readonly [number, number]> {
  const { text, rewritten } = normalised;
  const windows: Array<[number, number]> = [];
  for (const at of rewritten) {
    let from = Math.max(0, at - REWRITE_REACH);
    let to = Math.min(text.length, at + REWRITE_REACH);
    for (const limit = Math.max(0, from - EDGE_SLACK); from > limit && !isWhitespace(text.charCodeAt(from - 1)); ) from--;
    for (const limit = Math.min(text.length, to + EDGE_SLACK); to < limit && !isWhitespace(text.charCodeAt(to)); ) to++;
    const last = windows[windows.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else windows.push([from, to]);
  }
  return windows;
}

function resolveOverlaps(findings: Finding[]): Finding[] {
  findings.sort((a, b) => a.start - b.start || b.end - a.end || b.score - a.score);
  const resolved: Finding[] = [];
  for (const finding of findings) {
    const last = resolved[resolved.length - 1];
    if (!last || finding.start >= last.end) {
      resolved.push({ ...finding });
      continue;
    }
    if (finding.end <= last.end) continue; // contained: the larger span stands
    // Partial overlap: one span covering both, typed by the higher score.
    last.end = finding.end;
    if (finding.score > last.score) {
      last.entity = finding.entity;
      last.detector = finding.detector;
      last.score = finding.score;
    }
  }
  return resolved;
}
