// Access-review campaigns derived from their ledger records alone (record/auditRecord.ts
// AccessReviewRecord): no table holds a campaign's state, so the console, the CLI, the exporter
// and verify.mjs all compute it the same way from the same records.
//
// Rules of the derivation: a campaign exists from its `started` record; lines come from its
// `line` records; a decision on a line the campaign does not hold, or after `completed`, is
// ignored (and counted as ignored); a later decision on a line replaces an earlier one.
import type { AccessReviewLine, AccessReviewRecord, AuditRecord } from "../../record/index.js";

export interface LineDecision {
  verdict: "attested" | "revoked";
  by: string;
  at: string;
  reason: string | null;
  keyRevoked: boolean;
  seq: number;
}

export interface CampaignState {
  id: string;
  startedAt: string;
  startedBy: string;
  startSeq: number;
  /** Line records announced by `started`; fewer arrived when the tool stopped part-way. */
  expectedLines: number;
  policy: { source: string; sha256: string } | null;
  directory: { file: string; sha256: string; identities: number } | null;
  lines: Map<string, { line: AccessReviewLine; decision: LineDecision | null }>;
  completed: { at: string; by: string; seq: number } | null;
  ignoredDecisions: number;
}

/** What the evidence report says about one campaign. */
export interface CampaignReport {
  id: string;
  started: string;
  started_by: string;
  completed: string | null;
  completed_by: string | null;
  directory: string | null;
  lines: number;
  /** false when fewer line records than announced are in the records. */
  listing_complete: boolean;
  attested: number;
  revoked: number;
  pending: number;
  reviewers: string[];
  /** Revocations and lines still pending (at completion, or now when not completed). */
  exceptions: { subject: string; flags: string[]; exception: "revoked" | "pending"; by: string | null; reason: string | null }[];
  ignored_decisions: number;
}

export class AccessReviewTracker {
  private readonly campaigns = new Map<string, CampaignState>();

  add(seq: number, record: AuditRecord | AccessReviewRecord): void {
    if (record.type !== "access_review" || typeof record.request_id !== "string") return;
    if (record.event === "started") {
      if (this.campaigns.has(record.request_id)) return;
      this.campaigns.set(record.request_id, {
        id: record.request_id,
        startedAt: record.time,
        startedBy: record.actor,
        startSeq: seq,
        expectedLines: typeof record.lines === "number" ? record.lines : 0,
        policy: record.policy ?? null,
        directory: record.directory ?? null,
        lines: new Map(),
        completed: null,
        ignoredDecisions: 0,
      });
      return;
    }
    const campaign = this.campaigns.get(record.request_id);
    if (!campaign) return;
    if (record.event === "line") {
      if (!campaign.completed && record.line && !campaign.lines.has(record.line.subject)) campaign.lines.set(record.line.subject, { line: record.line, decision: null });
    } else if (record.event === "attested" || record.event === "revoked") {
      const line = typeof record.subject === "string" ? campaign.lines.get(record.subject) : undefined;
      if (!line || campaign.completed) {
        campaign.ignoredDecisions += 1;
        return;
      }
      line.decision = { verdict: record.event, by: record.actor, at: record.time, reason: record.reason ?? null, keyRevoked: record.key_revoked === true, seq };
    } else if (record.event === "completed" && !campaign.completed) {
      campaign.completed = { at: record.time, by: record.actor, seq };
    }
  }

  get(id: string): CampaignState | undefined {
    return this.campaigns.get(id);
  }

  /** Oldest first. */
  all(): CampaignState[] {
    return [...this.campaigns.values()].sort((a, b) => a.startSeq - b.startSeq);
  }
}

export function pendingLines(campaign: CampaignState): AccessReviewLine[] {
  return [...campaign.lines.values()].filter((l) => l.decision === null).map((l) => l.line);
}

export function campaignReport(campaign: CampaignState, maxListed: number): CampaignReport {
  const lines = [...campaign.lines.values()];
  const decided = lines.filter((l) => l.decision !== null);
  const exceptions: CampaignReport["exceptions"] = lines
    .filter((l) => l.decision === null || l.decision.verdict === "revoked")
    .map((l) => ({
      subject: l.line.subject,
      flags: [...l.line.flags],
      exception: l.decision ? ("revoked" as const) : ("pending" as const),
      by: l.decision?.by ?? null,
      reason: l.decision?.reason ?? null,
    }));
  return {
    id: campaign.id,
    started: campaign.startedAt,
    started_by: campaign.startedBy,
    completed: campaign.completed?.at ?? null,
    completed_by: campaign.completed?.by ?? null,
    directory: campaign.directory ? `${campaign.directory.file} (sha256 ${campaign.directory.sha256})` : null,
    lines: lines.length,
    listing_complete: lines.length === campaign.expectedLines,
    attested: decided.filter((l) => l.decision!.verdict === "attested").length,
    revoked: decided.filter((l) => l.decision!.verdict === "revoked").length,
    pending: lines.length - decided.length,
    reviewers: [...new Set(decided.map((l) => l.decision!.by))].sort(),
    exceptions: exceptions.slice(0, maxListed),
    ignored_decisions: campaign.ignoredDecisions,
  };
}
