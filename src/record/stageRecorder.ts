// The records of what stages decide outside a request's exchange: the policy in force
// (authorize's PolicyAudit) and each step of an approval (approve's ApprovalAudit). Each stage
// states its facts through an interface it declares; this turns them into ledger records, so the
// record's shape, and the JSON the hash chain commits to, is owned here alone.
import type { ApprovalAudit, ApprovalBypass, ApprovalStep } from "../approve/index.js";
import type { PolicyAudit, PolicyChange } from "../authorize/index.js";
import type { ApprovalRecord, AuditSink, PolicyRecord } from "./auditRecord.js";

export class StageRecorder implements ApprovalAudit, PolicyAudit {
  constructor(private readonly audit: AuditSink) {}

  async policyChanged(change: PolicyChange): Promise<void> {
    await this.audit.append(policyRecord(change));
  }

  async approvalStep(step: ApprovalStep): Promise<void> {
    await this.audit.append(approvalStepRecord(step), { subject: step.approval.requester.subject, graphs: step.approval.graphs });
  }

  async approvalBypassed(bypass: ApprovalBypass): Promise<void> {
    await this.audit.append(approvalBypassRecord(bypass), { subject: bypass.identity.subject, graphs: bypass.graphs });
  }
}

function policyRecord(change: PolicyChange): PolicyRecord {
  return { type: "policy", time: change.time, event: change.event, source: change.source, sha256: change.sha256, in_force: change.inForce, ...(change.error ? { error: change.error.slice(0, 2_000) } : {}) };
}

function approvalStepRecord({ time, event, approval, actor, requestId, verdict, reason }: ApprovalStep): ApprovalRecord {
  return {
    type: "approval",
    time,
    approval_id: approval.id,
    request_id: requestId,
    event,
    actor,
    requester: approval.requester.subject,
    rule: approval.rule,
    graphs: approval.graphs,
    actions: approval.actions,
    approver_groups: approval.approver_groups,
    approvals_required: approval.approvals_required,
    approvals_given: approval.votes.filter((v) => v.verdict === "approve").length,
    expires_at: new Date(approval.expires_at).toISOString(),
    ...(event === "requested" ? { justification: approval.justification } : {}),
    ...(verdict ? { verdict } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(event === "approved" && approval.grant ? { grant: { id: approval.grant.id, expires_at: new Date(approval.grant.expires_at).toISOString() } } : {}),
  };
}

/** A request that went ahead under a grant or break-glass: approvals_given 0, and the approval
 * the grant came from (none for break-glass). */
function approvalBypassRecord(bypass: ApprovalBypass): ApprovalRecord {
  return {
    type: "approval",
    time: bypass.time,
    approval_id: bypass.grant?.approval_id ?? "",
    request_id: bypass.requestId,
    event: bypass.event,
    actor: bypass.identity.subject,
    requester: bypass.identity.subject,
    rule: bypass.rule,
    graphs: bypass.graphs,
    actions: bypass.actions,
    approver_groups: bypass.approverGroups,
    approvals_required: bypass.approvalsRequired,
    approvals_given: 0,
    justification: bypass.justification,
    ...(bypass.grant ? { grant: { id: bypass.grant.id, expires_at: new Date(bypass.grant.expires_at).toISOString() } } : {}),
  };
}
