// The scanner: every enabled detector over one text, overlaps resolved (masking.md §1), and the
// open candidate the stream masker must hold back.
import { MASK_THRESHOLD, type Detector, type Finding, type OpenCandidate } from "./types.js";

export class Scanner {
  /** The longest hold-back any detector may ask for. */
  readonly maxHold: number;

  constructor(readonly detectors: readonly Detector[]) {
    this.maxHold = Math.max(0, ...detectors.map((detector) => detector.maxLength));
  }

  /** Findings to mask, sorted, non-overlapping. Identical spans keep the higher score; a span
   * inside another gives way to it; partial overlaps become their union, typed by the higher
   * score (safer than masking each part). */
  scan(text: string): Finding[] {
    const found: Finding[] = [];
    for (const detector of this.detectors) detector.find(text, found);
    return resolveOverlaps(found.filter((finding) => finding.score >= MASK_THRESHOLD && finding.end > finding.start));
  }

  /** The earliest start of a suffix that more text could still turn into a match, and never
   * inside a finding that crosses it: everything before it can be masked and sent now. With
   * strongOnly, weak candidates (ordinary word beginnings) are ignored: the idle flush sends them. */
  openCandidate(text: string, findings: readonly Finding[], strongOnly = false): OpenCandidate | undefined {
    let open: OpenCandidate | undefined;
    for (const detector of this.detectors) {
      const candidate = detector.openCandidate(text);
      if (strongOnly && !candidate?.strong) continue;
      if (candidate && (!open || candidate.start < open.start || (candidate.start === open.start && candidate.strong))) open = candidate;
    }
    if (!open) return undefined;
    for (const finding of findings) {
      if (finding.start < open.start && finding.end > open.start) open = { start: finding.start, strong: true };
    }
    return open;
  }
}

export function resolveOverlaps(findings: Finding[]): Finding[] {
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
