// Access-review campaigns in the ledger: start one (a `started` record and one `line` record per
// identity), decide its lines (attest or revoke, closing the campaign once none is pending), and
// read campaigns back. The state is derived from the records (evidence/accessReviews.ts); the
// console and `portcullis access-review` both go through here.
import { randomBytes } from "node:crypto";
import type { AccessReviewLine, AccessReviewRecord, AuditRecord } from "../record/index.js";
import { AccessReviewTracker, pendingLines, type CampaignState } from "./evidence/accessReviews.js";
import type { LedgerLeaf } from "./ledger.js";
import type { LedgerStore } from "./store.js";
import { OperatorError } from "../errors.js";

/** What the caller asked for cannot be done to this campaign (unknown, closed, decided, own line). */
export class AccessReviewError extends OperatorError {
  override name = "AccessReviewError";
  constructor(
    readonly code: "PC_CAMPAIGN_NOT_FOUND" | "PC_CAMPAIGN_COMPLETED" | "PC_LINE_NOT_FOUND" | "PC_LINE_DECIDED" | "PC_OWN_LINE" | "PC_REASON_REQUIRED",
    message: string,
  ) {
    super(message);
  }
}

interface Appender {
  append(record: AuditRecord, context?: { subject?: string | null; graphs?: string[] }): Promise<unknown>;
}

const MARKER = Buffer.from('"type":"access_review"');

/** Every campaign in the log (one pass over the leaves; only access-review leaves are parsed). */
export async function readCampaigns(store: LedgerStore, origin: string): Promise<CampaignState[]> {
  const tracker = new AccessReviewTracker();
  const size = await store.size(origin);
  for await (const page of store.entryPages(origin, 0, size)) {
    for (const entry of page) if (entry.leaf.includes(MARKER)) tracker.add(entry.seq, recordOf(entry.leaf));
  }
  return tracker.all();
}

/** One campaign, from the records the store indexes under its id. */
export async function readCampaign(store: LedgerStore, origin: string, id: string): Promise<CampaignState | undefined> {
  const seqs = await store.seqsForRequest(origin, id);
  const tracker = new AccessReviewTracker();
  // Consecutive sequence numbers are read as one range (a campaign's lines are appended together).
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j += 1;
    for await (const page of store.entryPages(origin, seqs[i]!, seqs[j]! + 1)) for (const entry of page) tracker.add(entry.seq, recordOf(entry.leaf));
    i = j + 1;
  }
  return tracker.get(id);
}

export async function startCampaign(
  ledger: Appender,
  start: { actor: string; via: "console" | "cli"; lines: AccessReviewLine[]; policy: { source: string; sha256: string }; directory: { file: string; sha256: string; identities: number } | null },
): Promise<string> {
  const id = `ar-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString("hex")}`;
  const base = { type: "access_review" as const, request_id: id, actor: start.actor, via: start.via };
  await ledger.append({ ...base, time: new Date().toISOString(), event: "started", lines: start.lines.length, policy: start.policy, directory: start.directory }, { subject: start.actor });
  for (const line of start.lines) await ledger.append({ ...base, time: new Date().toISOString(), event: "line", line }, { subject: line.subject });
  return id;
}

/** Records a reviewer's decision on one line; closes the campaign when no line is left pending.
 * `revokeKey` runs before the record is written, so a record never claims a key revocation that failed. */
export async function decideLine(
  ledger: Appender & { store: LedgerStore; origin: string },
  decision: { campaign: string; subject: string; verdict: "attested" | "revoked"; actor: string; via: "console" | "cli"; reason: string | null; revokeKey?: (line: AccessReviewLine) => Promise<boolean> },
): Promise<{ campaign: CampaignState; completed: boolean; keyRevoked: boolean }> {
  const campaign = await readCampaign(ledger.store, ledger.origin, decision.campaign);
  if (!campaign) throw new AccessReviewError("PC_CAMPAIGN_NOT_FOUND", `no access-review campaign ${decision.campaign} in the ledger`);
  if (campaign.completed) throw new AccessReviewError("PC_CAMPAIGN_COMPLETED", `campaign ${campaign.id} was completed at ${campaign.completed.at}; start a new campaign`);
  const line = campaign.lines.get(decision.subject);
  if (!line) throw new AccessReviewError("PC_LINE_NOT_FOUND", `campaign ${campaign.id} has no line for ${decision.subject}`);
  if (line.decision) throw new AccessReviewError("PC_LINE_DECIDED", `${decision.subject} was already ${line.decision.verdict} by ${line.decision.by} at ${line.decision.at}`);
  // Segregation of duties: nobody reviews their own access.
  if (decision.subject === decision.actor) throw new AccessReviewError("PC_OWN_LINE", "a reviewer may not attest or revoke their own access; ask another reviewer");
  const reason = decision.reason?.trim() || null;
  if (decision.verdict === "revoked" && !reason) throw new AccessReviewError("PC_REASON_REQUIRED", "a revocation needs a reason (--reason, or the reason field)");
  const keyRevoked = decision.verdict === "revoked" && decision.revokeKey ? await decision.revokeKey(line.line) : false;
  const base = { type: "access_review" as const, request_id: campaign.id, actor: decision.actor, via: decision.via };
  await ledger.append({ ...base, time: new Date().toISOString(), event: decision.verdict, subject: decision.subject, reason, ...(keyRevoked ? { key_revoked: true } : {}) }, { subject: decision.actor });
  line.decision = { verdict: decision.verdict, by: decision.actor, at: new Date().toISOString(), reason, keyRevoked, seq: -1 };
  const completed = pendingLines(campaign).length === 0;
  if (completed) await completeCampaign(ledger, campaign, decision.actor, decision.via);
  return { campaign, completed, keyRevoked };
}

/** Closes a campaign; lines still pending stay pending and are the campaign's exceptions. */
export async function completeCampaign(ledger: Appender, campaign: CampaignState, actor: string, via: "console" | "cli"): Promise<void> {
  if (campaign.completed) throw new AccessReviewError("PC_CAMPAIGN_COMPLETED", `campaign ${campaign.id} was completed at ${campaign.completed.at}`);
  const at = new Date().toISOString();
  await ledger.append({ type: "access_review", request_id: campaign.id, time: at, event: "completed", actor, via, pending: pendingLines(campaign).length }, { subject: actor });
  campaign.completed = { at, by: actor, seq: -1 };
}

function recordOf(leaf: Buffer): AccessReviewRecord | AuditRecord {
  return (JSON.parse(leaf.toString("utf8")) as LedgerLeaf).record;
}
