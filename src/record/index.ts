// record: the audit records the pipeline writes (auditRecord.ts), built by the Recorder at named
// points, the masked payloads beside them, the run follower, and the SIEM stream.
export type {
  AccessRecord,
  AccessReviewLine,
  AccessReviewRecord,
  AppendContext,
  AppendReceipt,
  ApprovalRecord,
  AuditRecord,
  AuditSink,
  CompletionRecord,
  EgressFacts,
  Outcome,
  PayloadReference,
  RequestApproval,
  RequestRecord,
  RunRecord,
} from "./auditRecord.js";
export { maskedPayload, ResponseRecording, type StoredPayloadBody } from "./payloads.js";
export { followedRunOf, Recorder } from "./recorder.js";
export { RunFollower, type FollowedRun } from "./runFollower.js";
export { SiemStream } from "./siemStream.js";
