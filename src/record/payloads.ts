// Payloads (request bodies, responses, recorded streams) are masked, then stored apart from the
// ledger, which keeps only their SHA-256 (audit-ledger.md §10: mask first, then hash). Retention
// deletes payloads; the leaves that reference them stay verifiable.
import { createHash } from "node:crypto";
import type { EventSourceMessage } from "eventsource-parser";
import type { PayloadReference } from "./auditRecord.js";

/** Masks text before it is stored (src/mask/ provides it). */
export interface PayloadMasker {
  /** Recorded on every payload reference, so an auditor knows what was applied. */
  readonly name: string;
  mask(text: string): { text: string; redactions: Record<string, number> };
}

export interface StoredPayloadBody {
  reference: PayloadReference;
  payload: { sha256: string; body: Buffer };
}

export function payloadFor(text: string, masker: PayloadMasker): StoredPayloadBody {
  return maskedPayload(masker.mask(text), masker.name);
}

/** A payload that was masked on its way (a relayed stream, a masked request body). */
export function maskedPayload(masked: { text: string; redactions: Record<string, number> }, masking: string): StoredPayloadBody {
  const body = Buffer.from(masked.text, "utf8");
  const sha256 = createHash("sha256").update(body).digest("hex");
  const redactions = Object.keys(masked.redactions).length > 0 ? { redactions: { ...masked.redactions } } : {};
  return { reference: { sha256, bytes: body.length, masking, ...redactions }, payload: { sha256, body } };
}

/** The response, masked, as the relay saw it: each SSE event with its offset from the start of
 * the request, or the whole body; capped so one huge answer cannot exhaust memory. The relay
 * hands it masked text only (src/respond/), so it never holds a clear value. */
export class ResponseRecording {
  private readonly lines: string[] = [];
  private bytes = 0;
  private truncated = false;

  constructor(
    private readonly startedAt: number,
    private readonly maxBytes: number,
  ) {}

  event(event: EventSourceMessage): void {
    const line = JSON.stringify({
      t: Math.round(performance.now() - this.startedAt),
      event: event.event ?? "message",
      ...(event.id !== undefined ? { id: event.id } : {}),
      data: event.data,
    });
    this.add(`${line}\n`);
  }

  body(text: string): void {
    this.add(text);
  }

  private add(text: string): void {
    if (this.truncated) return;
    if (this.bytes + text.length > this.maxBytes) {
      this.truncated = true;
      this.lines.push(`${JSON.stringify({ truncated: true, limit_bytes: this.maxBytes })}\n`);
      return;
    }
    this.lines.push(text);
    this.bytes += text.length;
  }

  get empty(): boolean {
    return this.lines.length === 0;
  }

  stored(masking: string, redactions: Record<string, number>): StoredPayloadBody | undefined {
    if (this.empty) return undefined;
    return maskedPayload({ text: this.lines.join(""), redactions }, masking);
  }
}
