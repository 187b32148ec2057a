// A session: everything the ledger holds about one request or the run it started — who, the
// masked request, each stream event with its time offset, the result, the policy decision,
// approvals, the egress calls the run made — read back from the leaves themselves and proven
// against a signed checkpoint, so what the console and `portcullis replay` show is the evidence.
import { createHash } from "node:crypto";
import { leafHash as hashLeaf, inclusionProof, verifyInclusion, storedPayload, reasonOf, verifyCheckpointNote, keyRecordOf, type LedgerLeaf, type SessionSummary, type LedgerStore, type StoredCheckpoint } from "../ledger/index.js";
import type { ApprovalRecord, AuditRecord, CompletionRecord, PayloadReference, RequestRecord, RunRecord } from "../record/index.js";
import { parseRecording, type Recording } from "./recording.js";
import { OperatorError } from "../errors.js";

export interface SessionSource {
  store: LedgerStore;
  origin: string;
  /** Signs a checkpoint covering everything committed now (a session newer than the last one). */
  checkpoint: () => Promise<StoredCheckpoint>;
}

export interface SessionEntry {
  seq: number;
  record: AuditRecord;
}

/** A masked payload as stored, or why it is not shown. */
export interface PayloadState {
  reference: PayloadReference;
  /** present: stored and its SHA-256 matches the record; purged: removed by retention (the
   * record still proves it existed); altered: stored bytes do not match the record. */
  state: "present" | "purged" | "altered";
  text?: string;
}

export interface SessionProof {
  valid: boolean;
  /** One line an auditor reads: what was checked and against which checkpoint. */
  summary: string;
  checkpoint?: { size: number; created_at: string; root: string };
  entries: { seq: number; type: string; leaf_hash: string; included: boolean; error?: string }[];
  payloads: { sha256: string; state: PayloadState["state"] }[];
}

export interface Session {
  summary: SessionSummary;
  entries: SessionEntry[];
  request?: RequestRecord;
  completion?: CompletionRecord;
  run?: RunRecord;
  approvals: ApprovalRecord[];
  requestBody?: PayloadState;
  response?: PayloadState;
  /** The recorded answer: the SSE events with offsets, or a whole body. */
  recording?: Recording;
  output?: PayloadState;
  /** Calls the run made through egress routes (models, tools), oldest first. */
  egressCalls: SessionSummary[];
  proof: SessionProof;
}

export class SessionNotFoundError extends OperatorError {
  override readonly name = "SessionNotFoundError";
}

/** `known`: the index row when the caller already read it (the console checks access with it). */
export async function loadSession(source: SessionSource, requestId: string, known?: SessionSummary): Promise<Session> {
  const { store, origin } = source;
  const summary = known ?? (await store.session(origin, requestId));
  if (!summary) throw new SessionNotFoundError(`no session ${requestId.slice(0, 64)} in the ledger`);
  const seqs = await store.seqsForRequest(origin, requestId);
  const stored = [];
  for (const seq of seqs) for await (const page of store.entryPages(origin, seq, seq + 1)) stored.push(...page);
  const entries: SessionEntry[] = stored.map((entry) => ({ seq: entry.seq, record: (JSON.parse(entry.leaf.toString("utf8")) as LedgerLeaf).record }));

  const session: Session = { summary, entries, approvals: [], egressCalls: [], proof: { valid: false, summary: "", entries: [], payloads: [] } };
  for (const { record } of entries) {
    if (record.type === "request") session.request = record;
    else if (record.type === "completion") session.completion = record;
    else if (record.type === "run") session.run = record;
    else if (record.type === "approval") session.approvals.push(record);
  }
  if (session.request?.body) session.requestBody = await payloadState(store, session.request.body);
  if (session.completion?.response) {
    session.response = await payloadState(store, session.completion.response);
    if (session.response.text !== undefined) session.recording = parseRecording(session.response.text, session.completion.events !== undefined);
  }
  if (session.run?.output) session.output = await payloadState(store, session.run.output);
  session.egressCalls = (await store.sessions(origin, { parentRequestId: requestId, limit: 500 })).reverse();

  // The proof: every leaf re-hashed from its bytes, included in a signed checkpoint's tree.
  let checkpoint = await store.latestCheckpoint(origin);
  const newest = Math.max(-1, ...stored.map((entry) => entry.seq));
  if (!checkpoint || checkpoint.size <= newest) checkpoint = await source.checkpoint();
  const proof = session.proof;
  proof.payloads = [session.requestBody, session.response, session.output].filter((p) => p !== undefined).map((p) => ({ sha256: p.reference.sha256, state: p.state }));
  try {
    const keys = (await store.keys()).map(keyRecordOf);
    const verified = verifyCheckpointNote(checkpoint.note, origin, keys).checkpoint;
    proof.checkpoint = { size: verified.size, created_at: new Date(checkpoint.createdAtMs).toISOString(), root: verified.root.toString("base64") };
    const nodes = store.nodes(origin);
    for (const entry of stored) {
      const record = entries.find((e) => e.seq === entry.seq)!.record;
      const hash = hashLeaf(entry.leaf);
      const line = { seq: entry.seq, type: record.type, leaf_hash: hash.toString("base64"), included: false } as SessionProof["entries"][number];
      try {
        if (!hash.equals(entry.leafHash)) throw new Error("the stored leaf hash does not match the leaf's bytes");
        verifyInclusion(hash, entry.seq, verified.size, await inclusionProof(entry.seq, verified.size, nodes), verified.root);
        line.included = true;
      } catch (error) {
        line.error = reasonOf(error);
      }
      proof.entries.push(line);
    }
    const failedEntries = proof.entries.filter((e) => !e.included).length;
    const altered = proof.payloads.filter((p) => p.state === "altered").length;
    proof.valid = failedEntries === 0 && altered === 0 && proof.entries.length > 0;
    proof.summary = proof.valid
      ? `${proof.entries.length} ledger records proven included in the signed checkpoint of size ${verified.size}; ${proof.payloads.filter((p) => p.state === "present").length} payloads match their hashes${proof.payloads.some((p) => p.state === "purged") ? " (some purged by retention)" : ""}`
      : `INVALID: ${failedEntries} of ${proof.entries.length} records not proven${altered > 0 ? `, ${altered} payloads altered` : ""}`;
  } catch (error) {
    proof.valid = false;
    proof.summary = `INVALID: the checkpoint does not verify (${reasonOf(error)})`;
  }
  return session;
}

async function payloadState(store: LedgerStore, reference: PayloadReference): Promise<PayloadState> {
  const body = await storedPayload(store, reference.sha256);
  if (!body) return { reference, state: "purged" };
  if (createHash("sha256").update(body).digest("hex") !== reference.sha256) return { reference, state: "altered" };
  return { reference, state: "present", text: body.toString("utf8") };
}
