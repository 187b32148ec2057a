// The approvals REST API, for the CLI, the console and any approver tooling. Callers are
// identified like every API caller (bearer token, service-account key, browser session with
// CSRF proof); each call is a request record, each vote an approval record.
//
//   GET  /portcullis/approvals?state=pending&limit=50&offset=0   approvals the caller may decide or asked for
//   GET  /portcullis/approvals/{id}                              one approval, with the result of a deferred request
//   POST /portcullis/approvals/{id}/approve  {reason?, window_s?} approve once, or for a window
//   POST /portcullis/approvals/{id}/deny     {reason}             deny, with a reason
import { z } from "zod";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import type { Identity } from "../identify/index.js";
import type { LocalAnswer } from "../respond/index.js";
import { approvalView, mayView, type Approvals } from "./approvals.js";
import type { ApprovalState } from "./store.js";

const APPROVALS_API_PREFIX = "/portcullis/approvals";

const STATES = ["pending", "approving", "approved", "denied", "expired", "used"] as const;

const voteBody = z.strictObject({
  reason: z.string().max(1_000).optional(),
  window_s: z.number().int().positive().optional(),
});

export class ApprovalsApi {
  constructor(private readonly approvals: Approvals) {}

  handles(path: string): boolean {
    return path === APPROVALS_API_PREFIX || path.startsWith(`${APPROVALS_API_PREFIX}/`);
  }

  async answer(exchange: Exchange, body: unknown): Promise<LocalAnswer> {
    const identity = exchange.identity!;
    const method = exchange.req.method ?? "";
    const segments = exchange.target!.path.slice(APPROVALS_API_PREFIX.length).split("/").filter(Boolean);
    if (segments.length === 0 && method === "GET") return this.list(identity, exchange.target!.query);
    if (segments.length === 1 && method === "GET") {
      const approval = await this.approvals.get(segments[0]!);
      if (!approval || !mayView(approval, identity)) {
        throw new GatewayError(404, "PC_NOT_FOUND", `Approval ${segments[0]!.slice(0, 64)} not found.`, { identity });
      }
      return { status: 200, json: approvalView(approval, this.approvals.statusUrl(approval.id)), identity };
    }
    if (segments.length === 2 && method === "POST" && (segments[1] === "approve" || segments[1] === "deny")) {
      const parsed = voteBody.safeParse(body ?? {});
      if (!parsed.success) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: the body must be {"reason"?: string, "window_s"?: seconds} (${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}).`, { identity });
      const verdict = segments[1] === "approve" ? "approve" : "deny";
      const decided = await this.approvals.decide(segments[0]!, identity, verdict, { reason: parsed.data.reason ?? null, window_s: parsed.data.window_s ?? null });
      return { status: 200, json: approvalView(decided, this.approvals.statusUrl(decided.id)), identity };
    }
    throw new GatewayError(404, "PC_UNKNOWN_ROUTE", `Refused: ${method} ${APPROVALS_API_PREFIX}/… is not part of the approvals API (GET list or one, POST …/{id}/approve or …/{id}/deny).`, { identity });
  }

  private async list(identity: Identity, query: URLSearchParams): Promise<LocalAnswer> {
    const state = query.get("state");
    if (state !== null && state !== "all" && !STATES.includes(state as ApprovalState)) {
      throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: state must be one of ${STATES.join(", ")} or all.`, { identity });
    }
    const limit = boundedInt(query.get("limit"), 50, 1, 500);
    const offset = boundedInt(query.get("offset"), 0, 0, 100_000);
    const approvals = await this.approvals.list(identity, { ...(state && state !== "all" ? { states: [state as ApprovalState] } : {}), limit, offset });
    return { status: 200, json: { approvals: approvals.map((a) => approvalView(a, this.approvals.statusUrl(a.id))), limit, offset }, identity };
  }
}

function boundedInt(text: string | null, fallback: number, min: number, max: number): number {
  const value = text === null ? fallback : Number(text);
  return Number.isInteger(value) ? Math.min(max, Math.max(min, value)) : fallback;
}
