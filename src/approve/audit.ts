// What the approve stage tells the audit record, as facts in its own words: how a request under a
// require-approval decision went ahead (RequestApproval, kept on its request record), each step of
// an approval (ApprovalStep) and each request that went ahead without asking (ApprovalBypass).
// src/record/ turns them into ledger records; gateway.ts hands Approvals the recorder as an
// ApprovalAudit, so this stage never sees a record's shape.
import type { Identity } from "../identify/index.js";
import type { Approval, Grant } from "./store.js";

/** On a request whose decision was require-approval: what let it through, or that it waits. */
export interface RequestApproval {
  /** approved: an approval (given now or earlier) was used; grant: a time-boxed grant applied;
   * break-glass: the caller's group may go ahead without approval (flagged and alerted);
   * asked: it asked for approval and did not go ahead (held then refused, or answered 202). */
  via: "approved" | "grant" | "break-glass" | "asked";
  approval_id?: string;
  grant_id?: string;
  approvers?: string[];
  /** The requester's justification, masked. */
  justification?: string | null;
}

/** One step of an approval: asked, an approver's vote, the decision, its expiry or its use. */
export interface ApprovalStep {
  time: string;
  event: "requested" | "voted" | "approved" | "denied" | "expired" | "used";
  /** The approval as this step leaves it. */
  approval: Approval;
  /** Who acted: an approver's subject, the requester, or "gateway" for expiry. */
  actor: string;
  /** The request that asked (for `used`, the request that went ahead). */
  requestId: string;
  /** voted: the approver's verdict. */
  verdict?: "approve" | "deny";
  /** voted, denied, expired: why (masked), when there is a reason to give. */
  reason?: string | null;
}

/** A request under a require-approval rule that went ahead without asking: under the grant an
 * earlier approval gave, or as break-glass. */
export interface ApprovalBypass {
  time: string;
  event: "grant_used" | "break_glass";
  requestId: string;
  identity: Identity;
  method: string;
  path: string;
  rule: string;
  graphs: string[];
  actions: string[];
  approverGroups: string[];
  approvalsRequired: number;
  justification: string | null;
  grant?: Grant;
}

/** Where Approvals reports what happened; each call resolves once the fact is durably recorded
 * and rejects if it cannot be (nothing goes ahead without its record). */
export interface ApprovalAudit {
  approvalStep(step: ApprovalStep): Promise<void>;
  approvalBypassed(bypass: ApprovalBypass): Promise<void>;
}
