// The records of what people do outside any request: who looked at recorded evidence or took
// it away (access: the console, `portcullis replay`), and what an operator changed in the ledger
// itself (holds, key rotation, vault erasure). Built here like every other record, so the shape
// the hash chain commits to is written in one folder.
import type { AccessRecord, LedgerEventRecord } from "./auditRecord.js";

export function accessRecord(action: AccessRecord["action"], facts: { actor: string; via: AccessRecord["via"]; session?: string; details?: Record<string, unknown> }): AccessRecord {
  const { actor, via, session, details } = facts;
  return { type: "access", time: new Date().toISOString(), actor, via, action, ...(session ? { session } : {}), ...(details ? { details } : {}) };
}

export function ledgerEventRecord(event: LedgerEventRecord["event"], actor: string, details: Record<string, unknown>): LedgerEventRecord {
  return { type: "ledger", time: new Date().toISOString(), event, actor, details };
}
