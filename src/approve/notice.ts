// What approvers are told about an approval: built only from masked values, so a notification
// (webhook, Slack, email) never carries clear PII or secrets.

export type NoticeKind =
  /** A request waits for approval. */
  | "approval.requested"
  /** An approver allowed or denied it (or one of several required approvals arrived). */
  | "approval.decided"
  /** It expired before enough approvers allowed it. */
  | "approval.expired"
  /** A break-glass caller went ahead without approval: an alert. */
  | "approval.break_glass";

export interface ApprovalNotice {
  kind: NoticeKind;
  /** Unique per notice (a delivery id for receivers to deduplicate). */
  notice_id: string;
  time: string;
  approval_id: string;
  /** pending | approved | denied | expired | used | break-glass */
  state: string;
  /** Who asked (subject and display name, never a credential). */
  requester: { subject: string; name?: string; groups: string[] };
  /** What was asked, masked: method, path, the policy verbs and the graphs. */
  request: { method: string; path: string; actions: string[]; graphs: string[] };
  /** The policy rule that asked for approval, and who may give it. */
  rule: string;
  approver_groups: string[];
  approvals_required: number;
  approvals_given: number;
  /** The requester's justification, masked (null when none was given). */
  justification: string | null;
  /** Masked details for approvers: the run's input digest, pending tool calls, the interrupt. */
  details: Record<string, unknown>;
  expires_at: string;
  /** For approval.decided: who decided, and why. */
  decided_by?: string[];
  reason?: string | null;
  /** Where an approver acts: the console page (when the gateway has a public URL) and the REST resource. */
  console_url?: string;
  api_url: string;
}

/** Delivers notices; never throws and never blocks the request that caused the notice. */
export interface Notifier {
  notify(notice: ApprovalNotice): void;
  /** Waits for deliveries in flight (shutdown, tests). */
  close(): Promise<void>;
}
