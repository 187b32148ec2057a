// Deferred requests: answered 202 while they waited, sent by the gateway once approved. The
// gateway sends each one to itself, through the whole pipeline (policy again, masking, the
// record, run following), as the requester: the approval id plus a single-use token known only
// to this process stand in for the requester's credential.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { request, type Dispatcher } from "undici";
import { readBounded } from "../boundedBody.js";
import { GatewayError } from "../errors.js";
import { EXECUTION_HEADER, type Identity } from "../identify/index.js";
import type { Masker } from "../mask/index.js";
import type { Approvals } from "./approvals.js";
import { withoutOwnershipStamps } from "../respond/index.js";
import { APPROVAL_ID_HEADER } from "./gate.js";
import type { Approval, DeferredResult } from "./store.js";

const EXECUTOR_USER_AGENT = "portcullis-approval-executor";
const MAX_RESULT_BYTES = 1024 * 1024;

export class DeferredRequests {
  private readonly tokens = new Map<string, { token: Buffer; identity: Identity }>();

  constructor(
    private readonly approvals: Approvals,
    private readonly masker: Masker,
  ) {}

  /** The requester's identity for the gateway's own send of an approved request; refuses any
   * other use of the execution header. */
  identify(req: Pick<IncomingMessage, "headers">): Identity | undefined {
    const presented = req.headers[EXECUTION_HEADER];
    if (presented === undefined) return undefined;
    const id = String(req.headers[APPROVAL_ID_HEADER] ?? "");
    const entry = this.tokens.get(id);
    const given = Buffer.from(String(presented));
    if (!entry || given.length !== entry.token.length || !timingSafeEqual(given, entry.token)) {
      throw new GatewayError(401, "PC_UNAUTHENTICATED", `Refused: ${EXECUTION_HEADER} is used only by Portcullis itself.`);
    }
    this.tokens.delete(id);
    return { ...entry.identity, auth_method: "approval-execution", credential_id: `approval:${id}` };
  }

  /** Sends the approved request to the gateway at `baseUrl` and keeps its (masked) answer.
   * `dispatcher` reaches the gateway's own HTTPS listener (listen.tls). */
  async send(approval: Approval, baseUrl: string, dispatcher?: Dispatcher): Promise<void> {
    if (!approval.request) return;
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(approval.id, { token: Buffer.from(token), identity: approval.requester });
    try {
      const response = await request(new URL(approval.request.path_and_query, baseUrl), {
        method: approval.request.method as "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": EXECUTOR_USER_AGENT,
          [APPROVAL_ID_HEADER]: approval.id,
          [EXECUTION_HEADER]: token,
        },
        ...(approval.request.body !== null ? { body: approval.request.body } : {}),
        ...(dispatcher ? { dispatcher } : {}),
      });
      const { body, overLimit } = await readBounded(response.body as AsyncIterable<Buffer>, MAX_RESULT_BYTES);
      const text = body.toString("utf8");
      // The requester used the approval first (a retry with the approval id): nothing to keep.
      if (response.statusCode === 409 && text.includes("PC_APPROVAL_USED")) return;
      // Sent once: if policy no longer asked for approval (the request went ahead without using
      // it), the approval is spent all the same, so no restart sends it again. A gateway that was
      // shutting down did not take it: it is sent again on the next start.
      if (response.statusCode !== 503) await this.approvals.use(approval, String(response.headers["x-request-id"] ?? "")).catch(() => false);
      await this.approvals.saveResult(approval.id, this.result(response.statusCode, String(response.headers["content-location"] ?? ""), text, overLimit));
    } finally {
      this.tokens.delete(approval.id);
    }
  }

  private result(status: number, location: string, text: string, truncated: boolean): DeferredResult {
    const match = /^\/(?:threads\/([0-9a-f-]{36})\/)?runs\/([0-9a-f-]{36})$/i.exec(location);
    let body: unknown = null;
    if (truncated) body = { truncated: true };
    else {
      try {
        body = this.masker.maskValue(JSON.parse(withoutOwnershipStamps(text))).value;
      } catch {
        body = text === "" ? null : { text: this.masker.maskText(text.slice(0, 4_096)).text };
      }
    }
    return { status, body, ...(match?.[2] ? { run_id: match[2] } : {}), ...(match?.[1] ? { thread_id: match[1] } : {}) };
  }
}
