// Masking text that arrives in pieces (masking.md §6). A token stream splits values anywhere
// ("jane@exa" | "mple.com"), so each piece is scanned together with what is still held back and
// a little of what was already sent (for boundaries and context words), and only the shortest
// suffix that could still become a match is held. Ordinary prose flows at once.
import { MaskingError, type Masker, type MaskingTally } from "./masker.js";

/** Characters of already-sent text kept for left context: boundary checks and the five context
 * words a detector may look at (masking.md §1). */
const LEFT_CONTEXT = 96;

export class TextStreamMasker {
  /** The tail of what was already sent, unmasked, for context only. */
  private sent = "";
  /** Received but not yet sent. */
  private held = "";

  constructor(
    private readonly masker: Masker,
    private readonly tally: MaskingTally,
  ) {}

  /** Adds a piece; returns what can be sent now (possibly ""). */
  push(piece: string): string {
    this.held += piece;
    return this.release("settled");
  }

  /** Called when the stream has been quiet for the flush interval: releases held text unless it
   * is a distinctive partial (a secret prefix, `local@`, a digit run), which waits for more text,
   * the end of the message or its cap. */
  idle(): string {
    return this.release("weak");
  }

  /** The message is complete: everything held is masked and sent. */
  end(): string {
    return this.release("all");
  }

  get holding(): number {
    return this.held.length;
  }

  /** The longest piece a push can take before its window (context, held text and the piece)
   * outgrows masking.max_field_bytes and is refused. */
  get room(): number {
    return this.masker.limits.maxFieldBytes - this.sent.length - this.held.length;
  }

  private release(mode: "settled" | "weak" | "all"): string {
    if (this.held.length === 0) return "";
    if (this.held.length > this.masker.limits.maxFieldBytes) {
      throw new MaskingError(`a streamed value held back for ${this.held.length} characters exceeds masking.max_field_bytes`);
    }
    const window = this.sent + this.held;
    const from = this.sent.length;
    const findings = this.masker.findings(window);
    let until = window.length;
    if (mode !== "all") {
      const open = this.masker.scanner.openCandidate(window, findings, mode === "weak");
      if (open) until = Math.max(from, open.start);
    }
    if (until === from) return "";
    const out = this.masker.replaceFindings(window, findings, from, until, this.tally);
    this.sent = window.slice(Math.max(0, until - LEFT_CONTEXT), until);
    this.held = window.slice(until);
    return out;
  }
}
