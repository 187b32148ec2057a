// What a person reads in a notice (Slack and email say the same thing): a title and labelled facts.
import type { ApprovalNotice } from "../notice.js";

export function noticeTitle(notice: ApprovalNotice): string {
  const request = `${notice.request.method} ${notice.request.path}`;
  switch (notice.kind) {
    case "approval.requested":
      return `Approval requested: ${request}`;
    case "approval.expired":
      return `Expired: ${request}`;
    case "approval.break_glass":
      return `Break-glass: ${request}`;
    case "approval.decided":
      if (notice.state === "approved") return `Approved: ${request}`;
      if (notice.state === "denied") return `Denied: ${request}`;
      // One of several required approvals arrived; the request still waits.
      return `Approval given (${notice.approvals_given} of ${notice.approvals_required}): ${request}`;
  }
}

interface NoticeFact {
  label: string;
  value: string;
}

export function noticeFacts(notice: ApprovalNotice): NoticeFact[] {
  const { requester } = notice;
  const facts: NoticeFact[] = [
    { label: "Requester", value: requester.name ? `${requester.name} (${requester.subject})` : requester.subject },
    { label: "Graphs", value: listed(notice.request.graphs) },
    { label: "Actions", value: listed(notice.request.actions) },
    { label: "Rule", value: notice.rule },
    { label: "Approvals", value: `${notice.approvals_given} of ${notice.approvals_required} given` },
    { label: "Approvers", value: listed(notice.approver_groups) },
    { label: "Justification", value: notice.justification ?? "(none given)" },
    { label: "Expires", value: notice.expires_at },
  ];
  if (notice.decided_by?.length) facts.push({ label: "Decided by", value: listed(notice.decided_by) });
  if (notice.reason) facts.push({ label: "Reason", value: notice.reason });
  return facts;
}

/** The masked details as indented JSON, cut to a readable length; null when there are none. */
export function noticeDetails(notice: ApprovalNotice, maxChars: number): string | null {
  if (Object.keys(notice.details).length === 0) return null;
  const json = JSON.stringify(notice.details, null, 2);
  return json.length <= maxChars ? json : `${json.slice(0, maxChars)}\n… (truncated; the full details are in the console)`;
}

function listed(values: string[]): string {
  return values.length > 0 ? values.join(", ") : "(none)";
}
