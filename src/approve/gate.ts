// approve: the stage between masking the request and recording it. A request whose decision is
// require-approval goes ahead only with an approval (given while it waits, or earlier and named
// by Portcullis-Approval-Id), under a time-boxed grant, or as break-glass (flagged, alerted).
// Otherwise it waits on the open connection, up to approvals.hold_max_s: streams and /runs/wait
// with heartbeats (the client sees an ordinary stream once approved), other requests silently,
// so that their answer is the upstream's own status and body once approved, or an error status
// an SDK throws (403 denied, 504 still pending): never a 202 the official SDK reads as success.
// A client that sends Prefer: respond-async is answered 202 and the gateway sends the request
// itself once approved (docs/approvals.md: which mode applies when).
import { createHash } from "node:crypto";
import type { OutgoingHttpHeaders } from "node:http";
import canonicalize from "canonicalize";
import type { Decision } from "../authorize/index.js";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { approvalView, type Approvals } from "./approvals.js";
import type { RequestApproval } from "./audit.js";
import { actsOnPendingWork, approvalDetails, currentCheckpoint, type DetailSources } from "./details.js";
import { covers, graphsKey, type Approval, type ApprovalMode } from "./store.js";

export const APPROVAL_ID_HEADER = "portcullis-approval-id";
const JUSTIFICATION_HEADER = "portcullis-justification";
const MAX_JUSTIFICATION = 1_000;

interface ApprovalRequestFacts {
  decision: Decision;
  /** The body as the client sent it (parsed): the approval is for exactly this request. */
  clientBody: unknown;
  /** The body as the client sent it (re-serialised), kept to send a deferred request later. */
  clientBodyText: string | undefined;
  /** The masked body, for approvers. */
  maskedBody: string | undefined;
  /** Response headers decided so far (a held response starts before forwarding). */
  headers: OutgoingHttpHeaders;
  /** Starts the held answer while approvers decide (written by respond: respond/held.ts); the
   * function it returns stops its keep-alives. */
  holdOpen(opening: { headers: OutgoingHttpHeaders; notice: { event: string; data: unknown } }): () => void;
}

/** go: forward now, with how it was approved; answered: the client got 202 (or an error was sent). */
type GateOutcome = { go: RequestApproval } | { answered: RequestApproval; status: number; json: unknown; headers: OutgoingHttpHeaders };

interface GateSettings {
  details: DetailSources;
  /** approvals.hold_max_s in ms: how long a held request waits for the decision. */
  holdMaxMs?: number;
}

/** approvals.hold_max_s's default, in ms. */
const DEFAULT_HOLD_MAX_MS = 300_000;

export class ApprovalGate {
  /** How long a held request waits for the decision before it is answered 504 PC_APPROVAL_PENDING. */
  holdMaxMs: number;

  constructor(
    readonly approvals: Approvals,
    private readonly settings: GateSettings,
  ) {
    this.holdMaxMs = settings.holdMaxMs ?? DEFAULT_HOLD_MAX_MS;
  }

  async admit(exchange: Exchange, facts: ApprovalRequestFacts): Promise<GateOutcome> {
    const { decision } = facts;
    const rule = decision.approval!;
    const identity = exchange.identity!;
    const operation = exchange.operation!;
    const graphs = exchange.resources?.graphs ?? [];
    const justification = this.justificationOf(exchange);
    const fingerprint = fingerprintOf(exchange.req.method ?? "", exchange.target!.path, exchange.target!.search, facts.clientBody);
    // Held unless the client asked for 202: the official SDK returns undefined for a 202, so a
    // state write or a background run would look done (RFC 7240 respond-async opts in).
    const mode: ApprovalMode = prefersAsync(exchange) ? "deferred" : "held";

    const askedFor = exchange.req.headers[APPROVAL_ID_HEADER];
    if (typeof askedFor === "string" && askedFor !== "") {
      const approval = await this.approvals.get(askedFor.slice(0, 64));
      // Someone else's approval is not revealed.
      if (!approval || approval.requester.subject !== identity.subject) throw new GatewayError(404, "PC_NOT_FOUND", `Approval ${askedFor.slice(0, 64)} not found.`, { identity });
      if (approval.fingerprint !== fingerprint) {
        throw new GatewayError(409, "PC_APPROVAL_MISMATCH", `Refused: approval ${approval.id} was given for a different request (${approval.method} ${approval.path}); send that request unchanged, or ask anew without ${APPROVAL_ID_HEADER}.`, { identity, approvalId: approval.id });
      }
      exchange.approvalId = approval.id;
      return this.settle(exchange, approval, mode, facts);
    }

    const common = {
      requestId: exchange.id,
      identity,
      method: exchange.req.method ?? "",
      path: this.approvals.maskedText(exchange.target!.path),
      rule: decision.rule,
      graphs,
      actions: operation.actions,
      approverGroups: rule.approver_groups,
      approvalsRequired: rule.approvals,
      justification,
    };
    if (identity.groups.some((group) => rule.break_glass_groups.includes(group))) {
      if (!justification) throw justificationRequired(identity, `break-glass requests under rule ${decision.rule}`);
      await this.approvals.recordBypass("break_glass", common);
      return { go: { via: "break-glass", justification } };
    }
    const grant = await this.approvals.findGrant(identity.subject, decision.rule, graphs, operation.actions);
    if (grant) {
      await this.approvals.recordBypass("grant_used", { ...common, grant });
      return { go: { via: "grant", grant_id: grant.id, approval_id: grant.approval_id, approvers: grant.granted_by, justification } };
    }
    if (rule.justification === "required" && !justification) throw justificationRequired(identity, `rule ${decision.rule}`);
    // A caller that must never wait for a person (portcullis replay --verify) is refused instead.
    if (refusesApproval(exchange)) {
      throw new GatewayError(403, "PC_APPROVAL_REQUIRED", `Refused: this request needs approval by ${rule.approver_groups.join(" or ")} (rule ${decision.rule}), and the caller asked not to be held for one (Prefer: portcullis-approval=refuse); no approval was asked.`, { identity });
    }

    const approval = await this.approvals.request({
      mode,
      request_id: exchange.id,
      requester: identity,
      rule: decision.rule,
      policy: decision.policy ?? "",
      approver_groups: rule.approver_groups,
      approvals_required: rule.approvals,
      max_window_s: rule.max_window_s,
      use_within_s: rule.expires_after_s,
      expires_after_s: rule.expires_after_s,
      graphs,
      actions: operation.actions,
      method: exchange.req.method ?? "",
      path: this.approvals.maskedText(exchange.target!.path),
      fingerprint,
      justification,
      ...(await this.detailsFor(exchange, facts)),
      // Kept (in the gateway's own store) only to send a deferred request; cleared once decided.
      request: mode === "deferred" ? { method: exchange.req.method ?? "", path_and_query: `${exchange.target!.path}${exchange.target!.search}`, body: facts.clientBodyText ?? null } : null,
    });
    exchange.approvalId = approval.id;
    return this.settle(exchange, approval, mode, facts);
  }

  private async settle(exchange: Exchange, approval: Approval, mode: ApprovalMode, facts: ApprovalRequestFacts): Promise<GateOutcome> {
    for (;;) {
      const identity = exchange.identity!;
      switch (approval.state) {
        case "approved":
          await this.assertStillApplies(exchange, approval, facts);
          if (!(await this.approvals.use(approval, exchange.id))) {
            throw new GatewayError(409, "PC_APPROVAL_USED", `Refused: approval ${approval.id} has already been used (an approval lets one request through); ask anew.`, { identity, approvalId: approval.id });
          }
          return { go: { via: "approved", approval_id: approval.id, approvers: approval.votes.filter((v) => v.verdict === "approve").map((v) => v.approver), justification: approval.justification } };
        case "used":
          throw new GatewayError(409, "PC_APPROVAL_USED", `Refused: approval ${approval.id} has already been used (an approval lets one request through); ask anew.`, { identity, approvalId: approval.id });
        case "denied": {
          const by = approval.votes.find((v) => v.verdict === "deny");
          throw new GatewayError(403, "PC_APPROVAL_DENIED", `Refused: approval ${approval.id} was denied by ${by?.approver ?? "an approver"}: ${approval.reason ?? "no reason given"}.`, { identity, approvalId: approval.id, statusUrl: this.approvals.statusUrl(approval.id) });
        }
        case "expired":
          throw new GatewayError(403, "PC_APPROVAL_EXPIRED", `Refused: approval ${approval.id} expired before it was ${approval.decided_at ? "used" : "decided"} (rule ${approval.rule}); ask anew.`, { identity, approvalId: approval.id, statusUrl: this.approvals.statusUrl(approval.id) });
        // Approving: given, but not usable until its "approved" record is in the ledger; wait as for pending.
        case "approving":
        case "pending":
          if (mode === "deferred") {
            const view = approvalView(approval, this.approvals.statusUrl(approval.id));
            return {
              answered: { via: "asked", approval_id: approval.id, justification: approval.justification },
              status: 202,
              headers: { location: view.status_url, [APPROVAL_ID_HEADER]: approval.id },
              json: {
                ...view,
                message: `Held for approval by ${approval.approver_groups.join(" or ")} (rule ${approval.rule}); Portcullis sends the request once approved. Follow status_url for the decision and the result.`,
              },
            };
          }
          approval = await this.hold(exchange, approval, facts);
      }
    }
  }

  /** Keeps the client's connection open until the approval is decided, for approvals.hold_max_s
   * at most, with the held answer respond writes: streams and /runs/wait answer 200 at once, as
   * LangGraph does; other requests' status line waits for the upstream's answer or the refusal. */
  private async hold(exchange: Exchange, approval: Approval, facts: ApprovalRequestFacts): Promise<Approval> {
    const res = exchange.res;
    const view = approvalView(approval, this.approvals.statusUrl(approval.id));
    const notice = { approval_id: approval.id, state: approval.state, rule: approval.rule, approver_groups: approval.approver_groups, approvals_required: approval.approvals_required, expires_at: view.expires_at, status_url: view.status_url };
    const stopKeepalive = facts.holdOpen({ headers: { ...facts.headers, [APPROVAL_ID_HEADER]: approval.id }, notice: { event: "portcullis/approval", data: notice } });
    // An answer not begun yet carries the approval's id when it is written.
    if (!exchange.heldAnswerBegun) facts.headers[APPROVAL_ID_HEADER] = approval.id;
    exchange.waitingForApproval = true;
    const clientLeft = new AbortController();
    const onClose = () => clientLeft.abort();
    res.once("close", onClose);
    const bound = new AbortController();
    const deadline = setTimeout(() => bound.abort(), this.holdMaxMs);
    try {
      return await this.approvals.waitForDecision(approval.id, AbortSignal.any([clientLeft.signal, exchange.upstreamAbort.signal, bound.signal]));
    } catch {
      const identity = exchange.identity!;
      const statusUrl = this.approvals.statusUrl(approval.id);
      if (exchange.shuttingDown) {
        throw new GatewayError(503, "PC_SHUTTING_DOWN", `Portcullis is shutting down; approval ${approval.id} is still pending: send the same request again with ${APPROVAL_ID_HEADER}: ${approval.id}.`, { identity, approvalId: approval.id, statusUrl });
      }
      if (bound.signal.aborted && !clientLeft.signal.aborted) {
        throw new GatewayError(
          504,
          "PC_APPROVAL_PENDING",
          `Approval ${approval.id} was not decided within ${Math.round(this.holdMaxMs / 1000)} s (approvals.hold_max_s); nothing was sent to LangGraph and the approval stays pending. Follow ${statusUrl}; once it is approved, send the same request again with ${APPROVAL_ID_HEADER}: ${approval.id}.`,
          { identity, approvalId: approval.id, statusUrl },
        );
      }
      throw new GatewayError(499, "PC_CLIENT_CLOSED", `The client left while approval ${approval.id} was pending; it stays pending: send the same request again with ${APPROVAL_ID_HEADER}: ${approval.id}.`, { identity, approvalId: approval.id, statusUrl });
    } finally {
      exchange.waitingForApproval = false;
      clearTimeout(deadline);
      stopKeepalive();
      res.off("close", onClose);
    }
  }

  /** An approval is for what approvers saw: the same rule, graphs and actions as this request is
   * decided under now, and the thread (its pending interrupt or tool calls) unchanged since. */
  private async assertStillApplies(exchange: Exchange, approval: Approval, facts: ApprovalRequestFacts): Promise<void> {
    const identity = exchange.identity!;
    const graphs = exchange.resources?.graphs ?? [];
    if (approval.rule !== facts.decision.rule || graphsKey(approval.graphs) !== graphsKey(graphs) || !covers(approval.actions, exchange.operation!.actions)) {
      throw new GatewayError(
        409,
        "PC_APPROVAL_MISMATCH",
        `Refused: approval ${approval.id} was given under rule ${approval.rule} for ${approval.actions.join(", ")} on [${approval.graphs.join(", ")}]; this request is now decided under rule ${facts.decision.rule} for ${exchange.operation!.actions.join(", ")} on [${graphs.join(", ")}]. Ask anew.`,
        { identity, approvalId: approval.id },
      );
    }
    if (approval.thread_checkpoint === null) return;
    const threadId = actsOnPendingWork(exchange.operation!);
    const now = threadId ? await currentCheckpoint(threadId, exchange.id, this.settings.details) : null;
    if (now !== approval.thread_checkpoint) {
      throw new GatewayError(409, "PC_APPROVAL_STALE", `Refused: the thread changed since approvers looked at approval ${approval.id} (its pending work is not what they approved); ask anew.`, { identity, approvalId: approval.id });
    }
  }

  private async detailsFor(exchange: Exchange, facts: ApprovalRequestFacts): Promise<{ details: Record<string, unknown>; thread_checkpoint: string | null }> {
    const { details, threadCheckpoint } = await approvalDetails(exchange.operation!, facts.maskedBody, exchange.id, this.settings.details);
    return { details, thread_checkpoint: threadCheckpoint };
  }

  private justificationOf(exchange: Exchange): string | null {
    const header = exchange.req.headers[JUSTIFICATION_HEADER];
    const text = (Array.isArray(header) ? header.join(" ") : (header ?? "")).trim();
    return text === "" ? null : this.approvals.maskedText(text.slice(0, MAX_JUSTIFICATION));
  }
}

/** An approval is for one request: method, path, query and body, canonicalised (RFC 8785). */
function fingerprintOf(method: string, path: string, search: string, body: unknown): string {
  return createHash("sha256")
    .update(canonicalize({ method: method.toUpperCase(), path, search, body: body ?? null }) ?? "")
    .digest("hex");
}

/** RFC 7240 preference `portcullis-approval=refuse`: refuse rather than ask for an approval. */
function refusesApproval(exchange: Exchange): boolean {
  const prefer = exchange.req.headers.prefer;
  return typeof prefer === "string" && /(^|[,;\s])portcullis-approval=refuse([,;\s]|$)/i.test(prefer);
}

/** RFC 7240: a client may ask for 202 rather than a held connection. */
function prefersAsync(exchange: Exchange): boolean {
  const prefer = exchange.req.headers.prefer;
  return typeof prefer === "string" && /(^|[,;\s])respond-async([,;\s]|$)/i.test(prefer);
}

function justificationRequired(identity: Exchange["identity"], what: string): GatewayError {
  return new GatewayError(428, "PC_JUSTIFICATION_REQUIRED", `Refused: ${what} need a justification; send it in the ${JUSTIFICATION_HEADER} header.`, { ...(identity ? { identity } : {}) });
}
