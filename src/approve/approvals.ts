// Approvals: asked for by the approve stage, decided by approvers (REST API, CLI, console),
// recorded step by step in the ledger, announced to notifiers, and expired on time. Requests
// held on this instance wait here for the decision, whichever instance it is taken on.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { GatewayError } from "../errors.js";
import type { Identity } from "../identify/index.js";
import type { Masker } from "../mask/index.js";
import { metrics } from "../observe/index.js";
import type { ApprovalAudit, ApprovalBypass, ApprovalStep } from "./audit.js";
import type { ApprovalNotice, NoticeKind, Notifier } from "./notice.js";
import { ApprovalCapReached, ApprovalConflict, UNRECORDED_DECISION, grantWindowS, type Approval, type ApprovalState, type ApprovalStore, type DeferredResult, type Grant, type NewApproval } from "./store.js";

interface ApprovalsOptions {
  store: ApprovalStore;
  /** Where each step is recorded (src/record/, wired by gateway.ts). */
  audit: ApprovalAudit;
  notifier: Notifier;
  masker: Masker;
  log: Logger;
  /** How often expiry is swept and held requests re-read their approval (a missed change costs at most this). */
  sweepMs: number;
  /** Where approvers act: the gateway's public URL (console links), and its own API base. */
  publicUrl?: string;
  /** Closed approvals and ended grants are deleted after this long (their ledger records stay). */
  retentionDays: number;
  /** One requester cannot flood approvers (and their inboxes) with open requests. */
  maxPendingPerRequester: number;
  /** How long a decision may stay approving (its "approved" record being written) before any
   * instance's sweep expires it as never recorded: the deciding instance died or the ledger failed. */
  recordGraceMs?: number;
}

/** Sends an approved deferred request (set by the gateway once it listens). */
type DeferredSender = (approval: Approval) => Promise<void>;

const MAX_REASON = 1_000;
const PURGE_EVERY_MS = 60 * 60 * 1000;
const RECORD_GRACE_MS = 60_000;

export class Approvals {
  private readonly waiters = new Map<string, Set<(approval: Approval) => void>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private sender?: DeferredSender;
  private readonly sending = new Set<string>();
  /** Approvals being decided here: requests held here are answered once the decision's records
   * are written, so a denial's record also precedes the refusal it causes. (Approvals are causal
   * on every instance through the approving state, see vote.) */
  private readonly deciding = new Set<string>();
  private apiBase: string;
  private lastPurge = 0;

  constructor(private readonly options: ApprovalsOptions) {
    this.apiBase = options.publicUrl ?? "";
    this.unsubscribe = options.store.onChange((id) => void this.wake(id));
    this.sweeper = setInterval(() => void this.sweep(), options.sweepMs);
    this.sweeper.unref();
  }

  get store(): ApprovalStore {
    return this.options.store;
  }

  /** Called once the gateway listens: deferred requests are sent to it, including those approved
   * while no gateway was running to send them. */
  startSending(sender: DeferredSender, listenUrl: string): void {
    this.sender = sender;
    if (!this.options.publicUrl) this.apiBase = listenUrl;
    void this.sendUnsent();
  }

  statusUrl(id: string): string {
    return `${this.apiBase}/portcullis/approvals/${id}`;
  }

  async request(input: Omit<NewApproval, "id" | "created_at" | "expires_at"> & { expires_after_s: number }): Promise<Approval> {
    const now = Date.now();
    const { expires_after_s, ...rest } = input;
    const pending = await this.options.store.countPending(input.requester.subject);
    if (pending >= this.options.maxPendingPerRequester) throw tooManyPending(input.requester, pending);
    const approval: NewApproval = { ...rest, id: randomUUID(), created_at: now, expires_at: now + expires_after_s * 1000 };
    const stored: Approval = { ...approval, state: "pending", decided_at: null, votes: [], reason: null, used_by: null, result: null, grant: null };
    // Recorded before it exists: an approval the ledger does not know of can never be given.
    await this.record(stored, "requested", stored.requester.subject, stored.request_id);
    try {
      await this.options.store.create(approval, { maxPendingPerRequester: this.options.maxPendingPerRequester });
    } catch (error) {
      if (!(error instanceof ApprovalCapReached)) throw error;
      // Another request of the same requester (on any instance) took the last place since the
      // check above: the approval recorded as requested is closed at once.
      await this.record({ ...stored, state: "expired" }, "expired", "gateway", stored.request_id, { reason: "the requester reached approvals.max_pending_per_requester" });
      throw tooManyPending(input.requester, error.pending);
    }
    this.notify("approval.requested", stored);
    return stored;
  }

  get(id: string): Promise<Approval | undefined> {
    return this.options.store.get(id);
  }

  /** An approver's verdict. Only members of the approver groups may vote, never the requester,
   * each once; any deny denies, and the approval is given once enough different approvers allow. */
  async decide(id: string, approver: Identity, verdict: "approve" | "deny", input: { reason?: string | null; window_s?: number | null }): Promise<Approval> {
    const approval = await this.options.store.get(id);
    if (!approval || !mayView(approval, approver)) throw new GatewayError(404, "PC_NOT_FOUND", `Approval ${id} not found.`, { identity: approver });
    if (approval.requester.subject === approver.subject) {
      throw new GatewayError(403, "PC_SELF_APPROVAL", `Refused: you asked for approval ${id}; someone else in ${approval.approver_groups.join(" or ")} must decide.`, { identity: approver });
    }
    if (!isApprover(approval, approver)) {
      throw new GatewayError(403, "PC_FORBIDDEN", `Refused: approval ${id} is decided by members of ${approval.approver_groups.join(" or ")}.`, { identity: approver });
    }
    const reason = input.reason ? this.maskedText(input.reason.slice(0, MAX_REASON)) : null;
    if (verdict === "deny" && !reason) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: a denial needs a reason (the requester and the audit record are told why).", { identity: approver });
    const window = input.window_s ?? null;
    if (window !== null && (!Number.isInteger(window) || window < 1 || window > approval.max_window_s)) {
      throw new GatewayError(
        400,
        "PC_BAD_REQUEST",
        approval.max_window_s === 0 ? `Refused: rule ${approval.rule} allows approving once only (approval.max_window_s is 0).` : `Refused: window_s must be a whole number of seconds from 1 to ${approval.max_window_s} (rule ${approval.rule}).`,
        { identity: approver },
      );
    }
    this.deciding.add(id);
    try {
      return await this.vote(approval.id, approver, verdict, reason, window);
    } finally {
      this.deciding.delete(id);
      void this.wake(id);
    }
  }

  private async vote(id: string, approver: Identity, verdict: "approve" | "deny", reason: string | null, window: number | null): Promise<Approval> {
    let result;
    try {
      result = await this.options.store.vote(id, { approver: approver.subject, verdict, reason, window_s: verdict === "approve" ? window : null, time: Date.now() });
    } catch (error) {
      if (error instanceof ApprovalConflict) throw new GatewayError(409, "PC_APPROVAL_CLOSED", `Refused: ${error.message}.`, { identity: approver });
      throw error;
    }
    let decided = result.approval;
    await this.record(decided, "voted", approver.subject, decided.request_id, { verdict, reason });
    if (result.state === "approving") {
      // Causal across instances: the approval becomes usable (and its grant findable) only once
      // the ledger holds its "approved" record, so no instance can record a use before it.
      const grant = this.grantFor(decided);
      decided = { ...decided, state: "approved", grant: grant && { id: grant.id, expires_at: grant.expires_at } };
      await this.record(decided, "approved", approver.subject, decided.request_id);
      const confirmed = await this.options.store.confirm(decided.id, grant);
      if (!confirmed) {
        throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", `Refused: approval ${id} was recorded too late and has expired unused; the requester must ask anew.`, { identity: approver });
      }
      decided = confirmed;
      metrics()?.approvalClosed("approved", decided.created_at);
      this.notify("approval.decided", decided, approver.subject);
      if (decided.mode === "deferred") void this.send(decided);
    } else if (result.state === "denied") {
      await this.record(decided, "denied", approver.subject, decided.request_id, { reason });
      metrics()?.approvalClosed("denied", decided.created_at);
      this.notify("approval.decided", decided, approver.subject);
    }
    return decided;
  }

  /** The grant an approval for a window gives; stored when the approval is confirmed. */
  private grantFor(approval: Approval): Grant | null {
    const window = grantWindowS(approval);
    if (window === null) return null;
    return {
      id: randomUUID(),
      approval_id: approval.id,
      subject: approval.requester.subject,
      rule: approval.rule,
      graphs: approval.graphs,
      actions: approval.actions,
      granted_by: approvers(approval),
      created_at: Date.now(),
      expires_at: Date.now() + window * 1000,
    };
  }

  /** Resolves once the approval is no longer pending, or rejects when the signal aborts. */
  waitForDecision(id: string, signal: AbortSignal): Promise<Approval> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, waiters);
      const done = (approval: Approval) => {
        cleanup();
        resolve(approval);
      };
      const aborted = () => {
        cleanup();
        reject(signal.reason ?? new Error("aborted"));
      };
      const cleanup = () => {
        waiters.delete(done);
        if (waiters.size === 0) this.waiters.delete(id);
        signal.removeEventListener("abort", aborted);
      };
      if (signal.aborted) return aborted();
      waiters.add(done);
      signal.addEventListener("abort", aborted);
      // It may have been decided between the caller's read and now.
      void this.wake(id);
    });
  }

  /** approved → used for the one request that goes ahead; records the use. */
  async use(approval: Approval, requestId: string): Promise<boolean> {
    if (!(await this.options.store.use(approval.id, requestId, Date.now()))) return false;
    await this.record({ ...approval, state: "used" }, "used", approval.requester.subject, requestId);
    return true;
  }

  async findGrant(subject: string, rule: string, graphs: string[], actions: string[]): Promise<Grant | undefined> {
    return this.options.store.findGrant(subject, rule, graphs, actions, Date.now());
  }

  /** A request that went ahead under a grant or break-glass: its own ledger record. */
  async recordBypass(event: ApprovalBypass["event"], details: Omit<ApprovalBypass, "time" | "event">): Promise<void> {
    const time = new Date().toISOString();
    await this.options.audit.approvalBypassed({ time, event, ...details });
    if (event === "break_glass") {
      this.options.log.warn({ request_id: details.requestId, subject: details.identity.subject, rule: details.rule }, "break-glass request went ahead without approval");
      this.options.notifier.notify({
        kind: "approval.break_glass",
        notice_id: randomUUID(),
        time,
        approval_id: "",
        state: "break-glass",
        requester: { subject: details.identity.subject, ...(details.identity.name ? { name: this.maskedText(details.identity.name) } : {}), groups: details.identity.groups },
        request: { method: details.method, path: details.path, actions: details.actions, graphs: details.graphs },
        rule: details.rule,
        approver_groups: details.approverGroups,
        approvals_required: details.approvalsRequired,
        approvals_given: 0,
        justification: details.justification,
        details: {},
        expires_at: time,
        api_url: `${this.apiBase}/portcullis/approvals`,
      });
    }
  }

  /** Pending approvals in the store, up to 10,000 (the metrics' pending gauge). */
  async pendingCount(): Promise<number> {
    return (await this.options.store.list({ states: ["pending"], limit: 10_000 })).length;
  }

  async list(viewer: Identity, filter: { states?: ApprovalState[]; limit: number; offset: number }): Promise<Approval[]> {
    // Few approvals are open at a time; the page is filtered to what the viewer may see.
    const page = await this.options.store.list({ ...(filter.states ? { states: filter.states } : {}), limit: 1_000 });
    return page.filter((approval) => mayView(approval, viewer)).slice(filter.offset, filter.offset + filter.limit);
  }

  async saveResult(id: string, result: DeferredResult): Promise<void> {
    await this.options.store.saveResult(id, result);
  }

  /** Masks text taken from a client (justification, reason) before it is stored or shown. */
  maskedText(text: string): string {
    try {
      return this.options.masker.maskText(text).text;
    } catch {
      return "[unscannable text withheld]";
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    await this.options.notifier.close();
    await this.options.store.close();
  }

  private async wake(id: string): Promise<void> {
    const waiters = this.waiters.get(id);
    if (!waiters || waiters.size === 0 || this.deciding.has(id)) return;
    const approval = await this.options.store.get(id).catch(() => undefined);
    // Approving is not yet a decision anyone may act on: its "approved" record is being written.
    if (!approval || approval.state === "pending" || approval.state === "approving") return;
    for (const waiter of [...waiters]) waiter(approval);
  }

  private async sweep(): Promise<void> {
    try {
      const now = Date.now();
      for (const approval of await this.options.store.expireDue(now, now - (this.options.recordGraceMs ?? RECORD_GRACE_MS))) {
        await this.record(approval, "expired", "gateway", approval.request_id, approval.reason === UNRECORDED_DECISION ? { reason: UNRECORDED_DECISION } : {});
        metrics()?.approvalClosed("expired", approval.created_at);
        this.notify("approval.expired", approval);
      }
      for (const id of this.waiters.keys()) await this.wake(id);
      if (Date.now() - this.lastPurge > PURGE_EVERY_MS) {
        this.lastPurge = Date.now();
        const purged = await this.options.store.purgeClosed(Date.now() - this.options.retentionDays * 86_400_000);
        if (purged > 0) this.options.log.info({ purged }, "closed approvals and ended grants purged");
      }
    } catch (error) {
      this.options.log.error({ err: error }, "approval expiry sweep failed");
    }
  }

  private async sendUnsent(): Promise<void> {
    try {
      for (const approval of await this.options.store.unsentDeferred()) await this.send(approval);
    } catch (error) {
      this.options.log.error({ err: error }, "sending approved deferred requests failed");
    }
  }

  private async send(approval: Approval): Promise<void> {
    if (!this.sender || this.sending.has(approval.id)) return;
    this.sending.add(approval.id);
    try {
      await this.sender(approval);
    } catch (error) {
      this.options.log.error({ err: error, approval_id: approval.id }, "sending an approved deferred request failed");
      await this.saveResult(approval.id, { status: 502, body: null, error: "the gateway could not send the approved request; see its log" }).catch(() => undefined);
    } finally {
      this.sending.delete(approval.id);
    }
  }

  private async record(approval: Approval, event: ApprovalStep["event"], actor: string, requestId: string, extra: Pick<ApprovalStep, "verdict" | "reason"> = {}): Promise<void> {
    try {
      await this.options.audit.approvalStep({ time: new Date().toISOString(), event, approval, actor, requestId, ...extra });
    } catch (error) {
      // Closing records (voted, denied, expired) follow a change already durable in the store: the
      // missing record is an operator alarm. Nothing goes ahead without its record.
      this.options.log.error({ err: error, approval_id: approval.id, event }, "approval record could not be written");
      if (event === "requested" || event === "used") throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", "Refused: the audit record could not be written, so the request was not forwarded.", { cause: error });
      if (event === "approved") {
        throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", `Refused: the audit record of approval ${approval.id} could not be written, so it was not given; it expires unused and the requester must ask anew.`, { cause: error });
      }
    }
  }

  private notify(kind: NoticeKind, approval: Approval, decidedBy?: string): void {
    const notice: ApprovalNotice = {
      kind,
      notice_id: randomUUID(),
      time: new Date().toISOString(),
      approval_id: approval.id,
      state: approval.state,
      requester: { subject: approval.requester.subject, ...(approval.requester.name ? { name: this.maskedText(approval.requester.name) } : {}), groups: approval.requester.groups },
      request: { method: approval.method, path: approval.path, actions: approval.actions, graphs: approval.graphs },
      rule: approval.rule,
      approver_groups: approval.approver_groups,
      approvals_required: approval.approvals_required,
      approvals_given: approval.votes.filter((v) => v.verdict === "approve").length,
      justification: approval.justification,
      details: approval.details,
      expires_at: new Date(approval.expires_at).toISOString(),
      ...(decidedBy ? { decided_by: approvers(approval).length > 0 && approval.state === "approved" ? approvers(approval) : [decidedBy], reason: approval.reason } : {}),
      ...(this.options.publicUrl ? { console_url: `${this.options.publicUrl}/console/approvals/${approval.id}` } : {}),
      api_url: this.statusUrl(approval.id),
    };
    this.options.notifier.notify(notice);
  }
}

/** Approvers see the approvals they may decide; requesters see their own. */
export function mayView(approval: Approval, viewer: Identity): boolean {
  return approval.requester.subject === viewer.subject || isApprover(approval, viewer);
}

export function isApprover(approval: Approval, identity: Identity): boolean {
  return identity.subject !== approval.requester.subject && identity.groups.some((group) => approval.approver_groups.includes(group));
}

function approvers(approval: Approval): string[] {
  return approval.votes.filter((v) => v.verdict === "approve").map((v) => v.approver);
}

/** What the API, the CLI and the console show of an approval: never the stored request body nor
 * the requester's claims. */
export type ApprovalView = ReturnType<typeof approvalView>;

export function approvalView(approval: Approval, statusUrl: string) {
  return {
    approval_id: approval.id,
    state: approval.state,
    mode: approval.mode,
    created_at: new Date(approval.created_at).toISOString(),
    expires_at: new Date(approval.expires_at).toISOString(),
    decided_at: approval.decided_at === null ? null : new Date(approval.decided_at).toISOString(),
    requester: { subject: approval.requester.subject, ...(approval.requester.name ? { name: approval.requester.name } : {}), groups: approval.requester.groups },
    request: { request_id: approval.request_id, method: approval.method, path: approval.path, actions: approval.actions, graphs: approval.graphs },
    rule: approval.rule,
    approver_groups: approval.approver_groups,
    approvals_required: approval.approvals_required,
    approvals_given: approval.votes.filter((v) => v.verdict === "approve").length,
    max_window_s: approval.max_window_s,
    justification: approval.justification,
    details: approval.details,
    votes: approval.votes.map((v) => ({ approver: v.approver, verdict: v.verdict, reason: v.reason, window_s: v.window_s, time: new Date(v.time).toISOString() })),
    reason: approval.reason,
    grant: approval.grant && { grant_id: approval.grant.id, expires_at: new Date(approval.grant.expires_at).toISOString() },
    used_by: approval.used_by,
    result: approval.result,
    status_url: statusUrl,
  };
}

function tooManyPending(requester: Identity, pending: number): GatewayError {
  return new GatewayError(429, "PC_RATE_LIMITED", `Refused: you have ${pending} requests waiting for approval; wait for approvers to decide them first.`, { identity: requester, retryAfterS: 60 });
}
