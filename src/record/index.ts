// record: the audit records the gateway writes (auditRecord.ts), built by the Recorder at named
// points of an exchange and by the StageRecorder from what stages report outside one (policy
// changes, approval steps), the masked payloads beside them, the run follower, and the SIEM
// stream. It depends on the stages whose facts it records; no stage depends on it.
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
  Outcome,
  PayloadReference,
  RequestRecord,
  RunRecord,
} from "./auditRecord.js";
export { maskedPayload, ResponseRecording, type StoredPayloadBody } from "./payloads.js";
export { accessRecord, ledgerEventRecord } from "./operatorRecords.js";
export { followedRunOf, Recorder } from "./recorder.js";
export { RunFollower, type FollowedRun } from "./runFollower.js";
export { SiemStream } from "./siemStream.js";
export { StageRecorder } from "./stageRecorder.js";
