// approve: a require-approval decision waits for approvers (gate.ts): asked, decided and stored
// (approvals.ts, the stores), sent later when deferred (deferred.ts), with notices (notify/) and
// the approvers' REST API (api.ts).
export { ApprovalsApi } from "./api.js";
export { approvalView, Approvals, isApprover, mayView, type ApprovalView } from "./approvals.js";
export type { ApprovalAudit, ApprovalBypass, ApprovalStep, RequestApproval } from "./audit.js";
export { DeferredRequests } from "./deferred.js";
export { ApprovalGate } from "./gate.js";
export { createNotifier } from "./notify/index.js";
export { PostgresApprovalStore } from "./postgresStore.js";
export { SqliteApprovalStore } from "./sqliteStore.js";
export { APPROVAL_TABLES, type ApprovalStore } from "./store.js";
