// Approvals in the state database (SQLite): one gateway. Changes are announced in process. The
// tables are APPROVAL_TABLES (store.ts), applied by the state database's migration runner.
import { EventEmitter } from "node:events";
import type Database from "better-sqlite3";
import { ApprovalCapReached, UNRECORDED_DECISION, applyVote, covers, graphsKey, type Approval, type ApprovalState, type ApprovalStore, type DeferredResult, type Grant, type NewApproval, type Vote, type VoteResult } from "./store.js";

interface ApprovalRow {
  doc: string;
}

interface GrantRow {
  id: string;
  approval_id: string;
  subject: string;
  rule: string;
  graphs: string;
  actions: string;
  granted_by: string;
  created_at: number;
  expires_at: number;
}

export class SqliteApprovalStore implements ApprovalStore {
  readonly kind = "sqlite" as const;
  private readonly changes = new EventEmitter();

  constructor(private readonly db: Database.Database) {
    this.changes.setMaxListeners(0);
  }

  async create(approval: NewApproval, limits: { maxPendingPerRequester: number }): Promise<void> {
    const stored: Approval = { ...approval, state: "pending", decided_at: null, votes: [], reason: null, used_by: null, result: null, grant: null };
    this.db.transaction(() => {
      const pending = this.pendingOf(stored.requester.subject);
      if (pending >= limits.maxPendingPerRequester) throw new ApprovalCapReached(pending);
      this.db.prepare(`INSERT INTO approvals (id, state, mode, created_at, expires_at, doc) VALUES (?, ?, ?, ?, ?, ?)`).run(stored.id, stored.state, stored.mode, stored.created_at, stored.expires_at, JSON.stringify(stored));
    }).immediate();
    this.changed(stored.id);
  }

  async countPending(subject: string): Promise<number> {
    return this.pendingOf(subject);
  }

  async get(id: string): Promise<Approval | undefined> {
    return this.read(id);
  }

  async list(filter: { states?: ApprovalState[]; limit: number; offset?: number }): Promise<Approval[]> {
    const states = filter.states ?? [];
    const where = states.length > 0 ? `WHERE state IN (${states.map(() => "?").join(", ")})` : "";
    const rows = this.db.prepare(`SELECT doc FROM approvals ${where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?`).all(...states, filter.limit, filter.offset ?? 0) as ApprovalRow[];
    return rows.map((row) => JSON.parse(row.doc) as Approval);
  }

  async vote(id: string, vote: Vote): Promise<VoteResult> {
    const result = this.db.transaction(() => {
      const approval = this.read(id);
      if (!approval) return undefined;
      const outcome = applyVote(approval, vote);
      this.write(outcome.approval);
      return outcome;
    }).immediate();
    if (!result) throw new RangeError(`no approval ${id}`);
    this.changed(id);
    return result;
  }

  async use(id: string, requestId: string, now: number): Promise<boolean> {
    const used = this.db.transaction(() => {
      const approval = this.read(id);
      if (!approval || approval.state !== "approved" || approval.expires_at <= now) return false;
      this.write({ ...approval, state: "used", used_by: requestId, request: null });
      return true;
    }).immediate();
    if (used) this.changed(id);
    return used;
  }

  async expireDue(now: number, unrecordedBefore: number): Promise<Approval[]> {
    const expired = this.db.transaction(() => {
      const rows = this.db
        .prepare(`SELECT doc FROM approvals WHERE (state IN ('pending', 'approved') AND expires_at <= ?) OR (state = 'approving' AND json_extract(doc, '$.decided_at') <= ?)`)
        .all(now, unrecordedBefore) as ApprovalRow[];
      return rows.map((row) => {
        const approval = JSON.parse(row.doc) as Approval;
        const closed: Approval = { ...approval, state: "expired", request: null, ...(approval.state === "approving" ? { reason: UNRECORDED_DECISION } : {}) };
        this.write(closed);
        return closed;
      });
    }).immediate();
    for (const approval of expired) this.changed(approval.id);
    return expired;
  }

  async saveResult(id: string, result: DeferredResult): Promise<void> {
    this.db.transaction(() => {
      const approval = this.read(id);
      if (approval) this.write({ ...approval, result });
    }).immediate();
    this.changed(id);
  }

  async unsentDeferred(): Promise<Approval[]> {
    const rows = this.db.prepare(`SELECT doc FROM approvals WHERE state = 'approved' AND mode = 'deferred'`).all() as ApprovalRow[];
    return rows.map((row) => JSON.parse(row.doc) as Approval);
  }

  async confirm(id: string, grant: Grant | null): Promise<Approval | undefined> {
    const confirmed = this.db.transaction(() => {
      const approval = this.read(id);
      if (!approval || approval.state !== "approving") return undefined;
      if (grant) {
        this.db
          .prepare(`INSERT INTO approval_grants (id, approval_id, subject, rule, graphs, actions, granted_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(grant.id, grant.approval_id, grant.subject, grant.rule, graphsKey(grant.graphs), JSON.stringify(grant.actions), JSON.stringify(grant.granted_by), grant.created_at, grant.expires_at);
      }
      const approved: Approval = { ...approval, state: "approved", grant: grant && { id: grant.id, expires_at: grant.expires_at } };
      this.write(approved);
      return approved;
    }).immediate();
    if (confirmed) this.changed(id);
    return confirmed;
  }

  async findGrant(subject: string, rule: string, graphs: string[], actions: string[], now: number): Promise<Grant | undefined> {
    const rows = this.db
      .prepare(`SELECT * FROM approval_grants WHERE subject = ? AND rule = ? AND graphs = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 50`)
      .all(subject, rule, graphsKey(graphs), now) as GrantRow[];
    const row = rows.find((candidate) => covers(JSON.parse(candidate.actions) as string[], actions));
    return row && { ...row, graphs: JSON.parse(row.graphs) as string[], actions: JSON.parse(row.actions) as string[], granted_by: JSON.parse(row.granted_by) as string[] };
  }

  async purgeClosed(before: number): Promise<number> {
    const approvals = this.db.prepare(`DELETE FROM approvals WHERE state IN ('denied', 'expired', 'used') AND created_at < ?`).run(before);
    const grants = this.db.prepare(`DELETE FROM approval_grants WHERE expires_at < ?`).run(before);
    return approvals.changes + grants.changes;
  }

  onChange(listener: (id: string) => void): () => void {
    this.changes.on("change", listener);
    return () => this.changes.off("change", listener);
  }

  async close(): Promise<void> {
    this.changes.removeAllListeners();
  }

  private pendingOf(subject: string): number {
    return this.db.prepare<[string], { pending: number }>(`SELECT COUNT(*) AS pending FROM approvals WHERE state = 'pending' AND json_extract(doc, '$.requester.subject') = ?`).get(subject)!.pending;
  }

  private read(id: string): Approval | undefined {
    const row = this.db.prepare(`SELECT doc FROM approvals WHERE id = ?`).get(id) as ApprovalRow | undefined;
    return row && (JSON.parse(row.doc) as Approval);
  }

  private write(approval: Approval): void {
    this.db.prepare(`UPDATE approvals SET state = ?, expires_at = ?, doc = ? WHERE id = ?`).run(approval.state, approval.expires_at, JSON.stringify(approval), approval.id);
  }

  private changed(id: string): void {
    this.changes.emit("change", id);
  }
}
