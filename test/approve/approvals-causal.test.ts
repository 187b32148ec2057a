// The ledger records of one approval are causal across instances: a request held on one gateway
// and approved through another is released only once the "approved" record is committed, so its
// "used" record always follows it, on one real PostgreSQL shared by two gateways. A decision whose
// record was never written is never usable, and any instance expires it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { PostgresApprovalStore } from "../../src/approve/postgresStore.js";
import { UNRECORDED_DECISION, type NewApproval } from "../../src/approve/store.js";
import type { ApprovalRecord } from "../../src/record/auditRecord.js";
import type { TestPostgres } from "../support/postgres.js";
import { alice, bob, startApprovalGateways, type ApprovalGateways } from "../support/approvalGateways.js";
import { eventually, type TestGateway } from "../support/stack.js";

const ROUNDS = 20;
const STEPS = ["requested", "voted", "approved", "used"] as const;

describe("approval records across two gateways on PostgreSQL", () => {
  let pair: ApprovalGateways;
  let postgres: TestPostgres;
  let deciding: TestGateway;
  let holding: TestGateway;

  before(async () => {
    pair = await startApprovalGateways();
    postgres = pair.postgres;
    [deciding, holding] = pair.gateways;
  });
  after(async () => {
    await pair?.close();
  });

  it(`records requested < voted < approved < used for each of ${ROUNDS} requests held on one instance and approved through the other`, async () => {
    const client = new Client({ apiUrl: holding.url, apiKey: alice.key, callerOptions: { maxRetries: 0 } });
    const approvalIds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const thread = await client.threads.create();
      const events: string[] = [];
      const streamed = (async () => {
        for await (const chunk of client.runs.stream(thread.thread_id, "agent", { input: { messages: [{ role: "user", content: `round ${round}` }] } })) events.push(chunk.event);
      })();
      const approvalId = await eventually(async () => {
        const answer = await fetch(`${deciding.url}/portcullis/approvals?state=pending`, { headers: { authorization: `Bearer ${bob.key}` } });
        const { approvals } = (await answer.json()) as { approvals: { approval_id: string }[] };
        assert.equal(approvals.length, 1);
        return approvals[0]!.approval_id;
      });
      const decided = await fetch(`${deciding.url}/portcullis/approvals/${approvalId}/approve`, { method: "POST", headers: { authorization: `Bearer ${bob.key}`, "content-type": "application/json" }, body: "{}" });
      assert.equal(decided.status, 200, await decided.text());
      await streamed;
      assert.ok(events.includes("values"), `round ${round}: the held run went ahead (${events.join(", ")})`);
      approvalIds.push(approvalId);
    }

    // The shared ledger in sequence order (a record's position is its sequence number): each
    // approval's records, in that order, must be exactly its steps in causal order.
    const records = await deciding.audit();
    for (const id of approvalIds) {
      const steps = records.flatMap((record, seq) => (record.type === "approval" && (record as ApprovalRecord).approval_id === id ? [{ event: (record as ApprovalRecord).event, seq }] : []));
      assert.deepEqual(
        steps.map((step) => step.event),
        [...STEPS],
        `approval ${id}: ${JSON.stringify(steps)}`,
      );
    }
  });

  it("never lets an approval whose decision was not recorded be used or confirmed late, and lets any instance expire it", async () => {
    const schema = `t_${randomBytes(4).toString("hex")}`;
    const [decider, other] = [await PostgresApprovalStore.open({ url: postgres.url, schema }), await PostgresApprovalStore.open({ url: postgres.url, schema })];
    try {
      const now = Date.now();
      const asked = (id: string): NewApproval => ({
        id,
        mode: "held",
        created_at: now,
        expires_at: now + 60_000,
        request_id: `r-${id}`,
        requester: { subject: "sa:alice", kind: "service-account", groups: ["analysts"], auth_method: "api-key", credential_id: "alice" },
        rule: "agent-runs-need-approval",
        policy: "p",
        approver_groups: ["approvers"],
        approvals_required: 1,
        max_window_s: 600,
        use_within_s: 60,
        graphs: ["agent"],
        actions: ["runs:create"],
        method: "POST",
        path: "/threads/t/runs/stream",
        fingerprint: "f",
        justification: null,
        details: {},
        thread_checkpoint: null,
        request: null,
      });
      await decider.create(asked("confirmed"), { maxPendingPerRequester: 20 });
      await decider.create(asked("unrecorded"), { maxPendingPerRequester: 20 });
      for (const id of ["confirmed", "unrecorded"]) {
        assert.equal((await decider.vote(id, { approver: "sa:bob", verdict: "approve", reason: null, window_s: 300, time: now })).state, "approving");
        assert.equal(await other.use(id, `use-${id}`, now), false, "not usable while approving");
      }
      const grant = { id: "g-1", approval_id: "confirmed", subject: "sa:alice", rule: "agent-runs-need-approval", graphs: ["agent"], actions: ["runs:create"], granted_by: ["sa:bob"], created_at: now, expires_at: now + 300_000 };
      assert.equal(await other.findGrant("sa:alice", "agent-runs-need-approval", ["agent"], ["runs:create"], now), undefined);
      assert.equal((await decider.confirm("confirmed", grant))?.state, "approved");
      assert.equal((await other.findGrant("sa:alice", "agent-runs-need-approval", ["agent"], ["runs:create"], now))?.id, "g-1", "the grant exists once confirmed");
      // Within the grace period the other instance leaves it alone; after it, the other instance expires it.
      assert.deepEqual(await other.expireDue(now, now - 1), []);
      const expired = await other.expireDue(now, now);
      assert.deepEqual(expired.map((a) => [a.id, a.state, a.reason]), [["unrecorded", "expired", UNRECORDED_DECISION]]);
      assert.equal(await decider.confirm("unrecorded", null), undefined, "a late confirmation finds it expired");
      assert.equal(await other.use("unrecorded", "use-late", now), false);
      assert.equal(await other.use("confirmed", "use-confirmed", now), true);
    } finally {
      await decider.close();
      await other.close();
    }
  });
});
