// What a detector is: a linear-time finder for one family of values (masking.md §3), plus what the
// streaming masker needs to hold back no more than a suffix that could still become a match (§6).

/** One detected value: the half-open span [start, end) of the scanned text. */
export interface Finding {
  start: number;
  end: number;
  /** Presidio / Google DLP style type, e.g. EMAIL_ADDRESS, CREDIT_CARD, GITHUB_TOKEN. */
  entity: string;
  /** 0..1 after validation and context (masking.md §1); the scanner masks at >= MASK_THRESHOLD. */
  score: number;
  /** The rule that found it (gitleaks rule ids where one exists), for reports and tests. */
  detector: string;
}

/** An open candidate at the end of a text: where it starts, and whether it is distinctive. */
export interface OpenCandidate {
  start: number;
  /** Distinctive partials (a secret prefix, `local@`, a digit run, `-----BEGIN`, `eyJ`) are never
   * released by the stream's idle timer, only by more text, the end of the message or the cap. */
  strong: boolean;
}

export interface DetectorSettings {
  /** Regions whose national phone formats are recognised (ISO 3166 alpha-2); `+` numbers always. */
  phoneRegions: readonly string[];
  /** Mask private, loopback and link-local addresses too (IPs are personal data under GDPR). */
  maskPrivateIps: boolean;
  /** Opt-in tier-2 entity types by name (US_ITIN, UK_NHS, ...); tier 1 is always on. */
  optIn: ReadonlySet<string>;
}

export interface Detector {
  /** Rule id, e.g. "email", "credit-card", "github-pat", "generic-api-key". */
  readonly id: string;
  readonly entities: readonly string[];
  /** Longest value this detector ever reports: the cap on what a stream holds back for it. */
  readonly maxLength: number;
  /** Appends every finding in `text` to `out`. Linear time in text.length: bounded quantifiers,
   * literal-prefix anchoring or hand-written scanners, never nested repetition. */
  find(text: string, out: Finding[]): void;
  /**
   * Streaming contract: the earliest index i such that text[0, i) is settled for this detector.
   * For every continuation c, this detector's findings in text + c that start before i are
   * exactly its findings in text that start before i, and each ends at or before i. Undefined
   * when every index is settled. A smaller i is always safe (it only holds more text back).
   * Context is looked for only before a finding, never after it, so a continuation cannot change
   * a settled finding. Looks at no more than maxLength (plus a little left context) from the end.
   */
  openCandidate(text: string): OpenCandidate | undefined;
}

/** Findings at or above this score are masked (validated tier-1 hits score 1.0). */
export const MASK_THRESHOLD = 0.5;
