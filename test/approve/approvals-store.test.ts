// The approval rules that do not need a LangGraph server: votes, deadlines, grants and their
// actions, the per-requester cap and retention, on the real SQLite state database.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Approvals } from "../../src/approve/approvals.js";
import { SqliteApprovalStore } from "../../src/approve/sqliteStore.js";
import { UNRECORDED_DECISION, applyVote, type Approval } from "../../src/approve/store.js";
import { GatewayError } from "../../src/errors.js";
import type { Identity } from "../../src/identify/identity.js";
import { defaultMasker } from "../../src/mask/index.js";
import type { AuditRecord, AuditSink } from "../../src/record/auditRecord.js";
import { StageRecorder } from "../../src/record/stageRecorder.js";
import { openStateFile } from "../../src/stateStores.js";
import { eventually } from "../support/stack.js";

const alice: Identity = { subject: "sa:alice", kind: "service-account", groups: ["analysts"], auth_method: "api-key", credential_id: "alice" };
const bob: Identity = { subject: "sa:bob", kind: "service-account", groups: ["approvers"], auth_method: "api-key", credential_id: "bob" };

/** Collects records in order, as the ledger would commit them; `hold` makes the append of one
 * approval event wait until released (a slow ledger), `fail` makes it fail (a ledger down). */
class RecordedSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  hold?: { event: string; until: Promise<void> };
  fail?: string;
  async append(record: AuditRecord) {
    const event = record.type === "approval" ? record.event : undefined;
    if (event !== undefined && event === this.fail) throw new Error("ledger unavailable");
    if (event !== undefined && event === this.hold?.event) await this.hold.until;
    this.records.push(record);
    return { seq: this.records.length - 1, leafHash: Buffer.alloc(32) };
  }
  async close() {}
}

function approvals(options: { maxPending?: number; sweepMs?: number; recordGraceMs?: number } = {}) {
  const store = new SqliteApprovalStore(openStateFile(":memory:"));
  const audit = new RecordedSink();
  const service = new Approvals({
    store,
    audit: new StageRecorder(audit),
    notifier: { notify: () => undefined, close: async () => undefined },
    masker: defaultMasker(),
    log: pino({ level: "silent" }),
    sweepMs: options.sweepMs ?? 60_000,
    retentionDays: 30,
    maxPendingPerRequester: options.maxPending ?? 20,
    ...(options.recordGraceMs !== undefined ? { recordGraceMs: options.recordGraceMs } : {}),
  });
  return { service, store, audit };
}

function ask(service: Approvals, input: Partial<Parameters<Approvals["request"]>[0]> = {}) {
  return service.request({
    mode: "held",
    request_id: "r-1",
    requester: alice,
    rule: "payments",
    policy: "p",
    approver_groups: ["approvers"],
    approvals_required: 1,
    max_window_s: 600,
    use_within_s: 60,
    expires_after_s: 60,
    graphs: ["payments"],
    actions: ["runs:create"],
    method: "POST",
    path: "/threads/t/runs/wait",
    fingerprint: "f",
    justification: null,
    details: {},
    thread_checkpoint: null,
    request: null,
    ...input,
  });
}

describe("approvals without a server", () => {
  it("refuses a vote after the deadline even before the sweep has expired the approval", () => {
    const approval = { state: "pending", votes: [], expires_at: 1_000, approvals_required: 1, use_within_s: 60, id: "a" } as unknown as Approval;
    assert.throws(() => applyVote(approval, { approver: "sa:bob", verdict: "approve", reason: null, window_s: null, time: 1_000 }), /has expired/);
    // Given, but usable only once confirmed after its "approved" record.
    assert.equal(applyVote(approval, { approver: "sa:bob", verdict: "approve", reason: null, window_s: null, time: 999 }).state, "approving");
  });

  it("caps the approvals one requester may have pending", async () => {
    const { service } = approvals({ maxPending: 2 });
    await ask(service);
    await ask(service);
    await assert.rejects(ask(service), (error: GatewayError) => error.status === 429 && error.code === "PC_RATE_LIMITED");
    await service.close();
  });

  it("grants cover the approved actions on the same graphs, and nothing more", async () => {
    const { service, audit } = approvals();
    const asked = await ask(service, { actions: ["runs:create", "runs:continue"] });
    const decided = await service.decide(asked.id, bob, "approve", { window_s: 300 });
    assert.ok(decided.grant);
    assert.ok(await service.findGrant("sa:alice", "payments", ["payments"], ["runs:continue"]), "a subset of the approved actions");
    assert.equal(await service.findGrant("sa:alice", "payments", ["payments"], ["runs:continue", "state:write"]), undefined, "an action never approved");
    assert.equal(await service.findGrant("sa:alice", "payments", ["other"], ["runs:continue"]), undefined, "another graph");
    assert.equal(await service.findGrant("sa:carol", "payments", ["payments"], ["runs:continue"]), undefined, "another requester");
    // The ledger knew of the approval before anyone could vote on it.
    assert.deepEqual(
      audit.records.map((r) => (r.type === "approval" ? r.event : r.type)),
      ["requested", "voted", "approved"],
    );
    await service.close();
  });

  it("releases a held request only once the approved record is in the ledger, and the grant only then", async () => {
    const { service, store, audit } = approvals();
    const asked = await ask(service, { actions: ["runs:create"] });
    let release!: () => void;
    audit.hold = { event: "approved", until: new Promise<void>((resolve) => (release = resolve)) };
    const left = new AbortController();
    let released: Approval | undefined;
    const waiting = service.waitForDecision(asked.id, left.signal).then((approval) => (released = approval));
    const deciding = service.decide(asked.id, bob, "approve", { window_s: 300 });
    await eventually(async () => assert.equal((await store.get(asked.id))?.state, "approving"));
    // While the record is being written: not usable, no grant, the held request still waits.
    assert.equal(await store.use(asked.id, "r-early", Date.now()), false);
    assert.equal(await service.findGrant("sa:alice", "payments", ["payments"], ["runs:create"]), undefined);
    assert.equal(released, undefined);
    release();
    assert.equal((await deciding).state, "approved");
    assert.equal((await waiting).state, "approved");
    assert.ok(await service.findGrant("sa:alice", "payments", ["payments"], ["runs:create"]));
    assert.equal(await service.use((await store.get(asked.id))!, "r-1"), true);
    assert.deepEqual(
      audit.records.map((r) => (r.type === "approval" ? r.event : r.type)),
      ["requested", "voted", "approved", "used"],
    );
    await service.close();
  });

  it("never lets an approval whose approved record could not be written be used, and expires it", async () => {
    const { service, store, audit } = approvals({ sweepMs: 20, recordGraceMs: 0 });
    const asked = await ask(service, { actions: ["runs:create"] });
    const waiting = service.waitForDecision(asked.id, new AbortController().signal);
    audit.fail = "approved";
    await assert.rejects(service.decide(asked.id, bob, "approve", { window_s: 300 }), (error: GatewayError) => error.status === 503 && error.code === "PC_AUDIT_UNAVAILABLE");
    assert.equal(await store.use(asked.id, "r-1", Date.now()), false);
    assert.equal(await service.findGrant("sa:alice", "payments", ["payments"], ["runs:create"]), undefined);
    // Not stuck: the sweep expires it, the held request is refused, and the ledger says why.
    await eventually(async () => assert.equal((await store.get(asked.id))?.state, "expired"));
    const closed = await waiting;
    assert.equal(closed.state, "expired");
    assert.equal(closed.reason, UNRECORDED_DECISION);
    assert.deepEqual(
      audit.records.map((r) => (r.type === "approval" ? r.event : r.type)),
      ["requested", "voted", "expired"],
    );
    assert.equal(await store.confirm(asked.id, null), undefined, "a late confirmation finds it expired");
    await service.close();
  });

  it("expires a decision taken by an instance that died before recording it, and no other instance may use it", async () => {
    const { service, store, audit } = approvals({ sweepMs: 20, recordGraceMs: 50 });
    const asked = await ask(service);
    // The vote reached the store; the instance that took it died before any record.
    await store.vote(asked.id, { approver: bob.subject, verdict: "approve", reason: null, window_s: null, time: Date.now() });
    const waiting = service.waitForDecision(asked.id, new AbortController().signal);
    await eventually(async () => assert.equal((await store.get(asked.id))?.state, "expired"));
    const closed = await waiting;
    assert.equal(closed.state, "expired");
    assert.equal(await store.use(asked.id, "r-1", Date.now()), false);
    assert.deepEqual(
      audit.records.map((r) => (r.type === "approval" ? r.event : r.type)),
      ["requested", "expired"],
    );
    await service.close();
  });

  it("purges closed approvals after the retention time, never pending ones", async () => {
    const { service, store } = approvals();
    const open = await ask(service);
    const closed = await ask(service);
    await service.decide(closed.id, bob, "deny", { reason: "no" });
    assert.equal(await store.purgeClosed(Date.now() + 1_000), 1);
    assert.equal((await store.get(closed.id)), undefined);
    assert.equal((await store.get(open.id))?.state, "pending");
    await service.close();
  });
});
