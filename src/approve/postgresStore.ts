// Approvals in PostgreSQL (the gateway's state store, storage): several gateways share them. Every change is
// announced with NOTIFY in its transaction, so a request held on one instance is released as
// soon as an approver decides on another (LISTEN on a connection of its own). The tables are
// APPROVAL_TABLES (store.ts), applied by the state migration runner.
import { EventEmitter } from "node:events";
import pg from "pg";
import { migratePostgres, inTransaction } from "../storage/index.js";
import { APPROVAL_TABLES, ApprovalCapReached, UNRECORDED_DECISION, applyVote, covers, graphsKey, type Approval, type ApprovalState, type ApprovalStore, type DeferredResult, type Grant, type NewApproval, type Vote, type VoteResult } from "./store.js";

const RECONNECT_MS = 1_000;

type Queryable = pg.Pool | pg.PoolClient;

export class PostgresApprovalStore implements ApprovalStore {
  readonly kind = "postgres" as const;
  private readonly changes = new EventEmitter();
  private listener?: pg.Client;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: { url: string; schema: string; channel: string },
  ) {
    this.changes.setMaxListeners(0);
  }

  static async open(options: { url: string; schema: string }): Promise<PostgresApprovalStore> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`audit.store.schema "${options.schema}" must be a lower-case SQL identifier`);
    const pool = new pg.Pool({ connectionString: options.url, max: 4, options: `-c search_path=${options.schema}` });
    pool.on("error", () => undefined);
    const store = new PostgresApprovalStore(pool, { ...options, channel: `${options.schema}_approvals` });
    try {
      await store.migrate();
      await store.listen();
    } catch (error) {
      await store.close();
      throw new Error(`cannot prepare approvals in PostgreSQL: ${(error as Error).message}`, { cause: error });
    }
    return store;
  }

  private async migrate(): Promise<void> {
    await migratePostgres(this.pool, this.options.schema, [APPROVAL_TABLES]);
  }

  /** A dedicated connection for LISTEN; reconnects after a loss (held requests also poll, so a
   * notification missed meanwhile only costs the poll interval). */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url });
    client.on("notification", (message) => {
      if (message.channel === this.options.channel && message.payload) this.changes.emit("change", message.payload);
    });
    client.on("error", () => {
      client.end().catch(() => undefined);
      if (this.listener === client) this.listener = undefined;
      this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${this.options.channel}`);
    this.listener = client;
  }

  /** Tries again every RECONNECT_MS until LISTEN is back. */
  private reconnect(): void {
    if (this.closed) return;
    setTimeout(() => void this.listen().catch(() => this.reconnect()), RECONNECT_MS).unref();
  }

  async create(approval: NewApproval, limits: { maxPendingPerRequester: number }): Promise<void> {
    const stored: Approval = { ...approval, state: "pending", decided_at: null, votes: [], reason: null, used_by: null, result: null, grant: null };
    await inTransaction(this.pool, async (client) => {
      // One requester's requests for approval are counted one at a time, whichever instance they reach.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('portcullis-approval-cap'), hashtext($1))", [stored.requester.subject]);
      const pending = await countPending(client, stored.requester.subject);
      if (pending >= limits.maxPendingPerRequester) throw new ApprovalCapReached(pending);
      await client.query("INSERT INTO approvals (id, state, mode, created_at, expires_at, doc) VALUES ($1, $2, $3, $4, $5, $6)", [stored.id, stored.state, stored.mode, stored.created_at, stored.expires_at, stored]);
      await this.notify(client, stored.id);
    });
  }

  async countPending(subject: string): Promise<number> {
    return countPending(this.pool, subject);
  }

  async get(id: string): Promise<Approval | undefined> {
    return read(this.pool, id);
  }

  async list(filter: { states?: ApprovalState[]; limit: number; offset?: number }): Promise<Approval[]> {
    const states = filter.states ?? [];
    const { rows } = await this.pool.query<{ doc: Approval }>(
      `SELECT doc FROM approvals ${states.length > 0 ? "WHERE state = ANY($3)" : ""} ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
      states.length > 0 ? [filter.limit, filter.offset ?? 0, states] : [filter.limit, filter.offset ?? 0],
    );
    return rows.map((row) => row.doc);
  }

  async vote(id: string, vote: Vote): Promise<VoteResult> {
    return inTransaction(this.pool, async (client) => {
      const approval = await read(client, id, true);
      if (!approval) throw new RangeError(`no approval ${id}`);
      const outcome = applyVote(approval, vote);
      await write(client, outcome.approval);
      await this.notify(client, id);
      return outcome;
    });
  }

  async use(id: string, requestId: string, now: number): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const approval = await read(client, id, true);
      if (!approval || approval.state !== "approved" || approval.expires_at <= now) return false;
      await write(client, { ...approval, state: "used", used_by: requestId, request: null });
      await this.notify(client, id);
      return true;
    });
  }

  async expireDue(now: number, unrecordedBefore: number): Promise<Approval[]> {
    return inTransaction(this.pool, async (client) => {
      // SKIP LOCKED: two instances sweeping at once each expire (and record) different approvals,
      // and an approval being confirmed right now is left to its confirmation.
      const { rows } = await client.query<{ doc: Approval }>(
        "SELECT doc FROM approvals WHERE (state IN ('pending', 'approved') AND expires_at <= $1) OR (state = 'approving' AND (doc->>'decided_at')::bigint <= $2) FOR UPDATE SKIP LOCKED",
        [now, unrecordedBefore],
      );
      const expired: Approval[] = [];
      for (const row of rows) {
        const approval: Approval = { ...row.doc, state: "expired", request: null, ...(row.doc.state === "approving" ? { reason: UNRECORDED_DECISION } : {}) };
        await write(client, approval);
        await this.notify(client, approval.id);
        expired.push(approval);
      }
      return expired;
    });
  }

  async saveResult(id: string, result: DeferredResult): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      const approval = await read(client, id, true);
      if (!approval) return;
      await write(client, { ...approval, result });
      await this.notify(client, id);
    });
  }

  async unsentDeferred(): Promise<Approval[]> {
    const { rows } = await this.pool.query<{ doc: Approval }>("SELECT doc FROM approvals WHERE state = 'approved' AND mode = 'deferred'");
    return rows.map((row) => row.doc);
  }

  async confirm(id: string, grant: Grant | null): Promise<Approval | undefined> {
    return inTransaction(this.pool, async (client) => {
      const approval = await read(client, id, true);
      if (!approval || approval.state !== "approving") return undefined;
      if (grant) {
        await client.query("INSERT INTO approval_grants (id, approval_id, subject, rule, graphs, actions, granted_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", [
          grant.id,
          grant.approval_id,
          grant.subject,
          grant.rule,
          graphsKey(grant.graphs),
          JSON.stringify(grant.actions),
          JSON.stringify(grant.granted_by),
          grant.created_at,
          grant.expires_at,
        ]);
      }
      const approved: Approval = { ...approval, state: "approved", grant: grant && { id: grant.id, expires_at: grant.expires_at } };
      await write(client, approved);
      // Other instances release their held requests on this notification, after the record.
      await this.notify(client, id);
      return approved;
    });
  }

  async findGrant(subject: string, rule: string, graphs: string[], actions: string[], now: number): Promise<Grant | undefined> {
    const { rows } = await this.pool.query<Omit<Grant, "graphs"> & { graphs: string }>(
      "SELECT * FROM approval_grants WHERE subject = $1 AND rule = $2 AND graphs = $3 AND expires_at > $4 ORDER BY expires_at DESC LIMIT 50",
      [subject, rule, graphsKey(graphs), now],
    );
    const row = rows.find((candidate) => covers(candidate.actions, actions));
    return row && { ...row, graphs: JSON.parse(row.graphs) as string[] };
  }

  async purgeClosed(before: number): Promise<number> {
    const approvals = await this.pool.query("DELETE FROM approvals WHERE state IN ('denied', 'expired', 'used') AND created_at < $1", [before]);
    const grants = await this.pool.query("DELETE FROM approval_grants WHERE expires_at < $1", [before]);
    return (approvals.rowCount ?? 0) + (grants.rowCount ?? 0);
  }

  onChange(listener: (id: string) => void): () => void {
    this.changes.on("change", listener);
    return () => this.changes.off("change", listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.changes.removeAllListeners();
    await this.listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private async notify(client: pg.PoolClient, id: string): Promise<void> {
    await client.query("SELECT pg_notify($1, $2)", [this.options.channel, id]);
  }

}

async function countPending(db: Queryable, subject: string): Promise<number> {
  const { rows } = await db.query<{ pending: string }>("SELECT COUNT(*) AS pending FROM approvals WHERE state = 'pending' AND doc->'requester'->>'subject' = $1", [subject]);
  return Number(rows[0]!.pending);
}

async function read(db: Queryable, id: string, forUpdate = false): Promise<Approval | undefined> {
  const { rows } = await db.query<{ doc: Approval }>(`SELECT doc FROM approvals WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0]?.doc;
}

async function write(db: Queryable, approval: Approval): Promise<void> {
  await db.query("UPDATE approvals SET state = $1, expires_at = $2, doc = $3 WHERE id = $4", [approval.state, approval.expires_at, approval, approval.id]);
}
