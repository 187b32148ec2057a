// The tamper-evident audit ledger: the storage, the writer, proofs and evidence.
import type { Logger } from "pino";
import { readSecret, type PortcullisConfig } from "../config/index.js";
import type { AppendReceipt, AuditRecord } from "../record/index.js";
import { Ledger } from "./ledger.js";
import { SqliteLedgerStore } from "./sqliteStore.js";
import type { LedgerStore } from "./store.js";

export { AccessReviewError, completeCampaign, decideLine, readCampaign, readCampaigns, startCampaign } from "./accessReviewCampaigns.js";
export { campaignReport, type CampaignState } from "./evidence/accessReviews.js";
export { ExportError, exportEvidence } from "./export.js";
export { writeNewKeyFile } from "./keys.js";
export { Ledger, type LedgerLeaf } from "./ledger.js";
export { EMPTY_ROOT, inclusionProof, leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
export { cosignatureSigner, NoteError, openNote, parseCheckpoint, parseVerifierKey, SIG_COSIGNATURE_V1, signNote, type NoteSigner, type NoteVerifier } from "./note.js";
export { purgeExpiredPayloads } from "./retention.js";
export { READABLE_SESSION_KINDS, SESSION_KINDS, type GrantUsage, type IdentityUsage, type SessionKind, type SessionQuery, type SessionSummary } from "./sessionIndex.js";
export { storedPayload, type LedgerStore, type StoredCheckpoint } from "./store.js";
export { csvField, MAX_LISTED } from "./summary.js";
export { reasonOf, verifyCheckpointNote, type CheckResult } from "./verify.js";
export { keyRecordOf, verifyStore } from "./verifyStore.js";

export async function openLedgerStore(audit: PortcullisConfig["audit"]): Promise<LedgerStore> {
  const store = audit.store;
  if (store.kind === "sqlite") return new SqliteLedgerStore(store.file);
  // Loaded only for PostgreSQL: the driver is a noticeable share of start-up.
  const { PostgresLedgerStore } = await import("./postgresStore.js");
  return PostgresLedgerStore.open({ url: await readSecret(store.url, "audit.store.url"), schema: store.schema });
}

export async function openLedger(
  audit: PortcullisConfig["audit"],
  log: Logger,
  onCommitted?: (record: AuditRecord, receipt: AppendReceipt) => void,
): Promise<Ledger> {
  const store = await openLedgerStore(audit);
  try {
    return await Ledger.open({
      origin: audit.origin,
      store,
      keyFile: audit.signing_key_file,
      log,
      checkpointIntervalMs: audit.checkpoint_interval_ms,
      heartbeatIntervalMs: audit.heartbeat_interval_ms,
      maxBatch: audit.max_batch,
      leaseMs: audit.instance_lease_ms,
      witnesses: audit.witnesses,
      witnessTimeoutMs: audit.witness_timeout_ms,
      ...(onCommitted ? { onCommitted } : {}),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
}
