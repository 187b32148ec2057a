// The record stage: every audit record the request pipeline writes, built here from what the
// stages learned (the Exchange) and appended to the ledger. The pipeline calls it at named points:
// admitted (before forwarding, and durable first), refused, completed, and for the requests the
// gateway answers itself. Client-controlled text is masked before it is kept.
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { recordedSignInQuery, type SignIn } from "../authenticate/index.js";
import type { Egress } from "../egress/index.js";
import { GatewayError } from "../errors.js";
import { elapsedMs, type Exchange } from "../exchange.js";
import { describeCredentials, type Identifier, type Identity } from "../identify/index.js";
import type { Masker } from "../mask/index.js";
import type { Observability } from "../observe/index.js";
import { refusalStatus } from "../respond/index.js";
import type { AppendContext, AppendReceipt, AuditRecord, AuditSink, CompletionRecord, RequestRecord } from "./auditRecord.js";
import type { FollowedRun, RunFollower } from "./runFollower.js";

interface RecorderDeps {
  audit: AuditSink;
  masker: Masker;
  identifier: Identifier;
  egress: Egress;
  signIn?: SignIn;
  runs: RunFollower;
  log: Logger;
  observe?: Observability;
}

export class Recorder {
  constructor(private readonly deps: RecorderDeps) {}

  /** The request record, durable before anything is forwarded: a request whose record cannot be
   * written is refused (503), never sent on. */
  async admitted(exchange: Exchange): Promise<AppendReceipt> {
    const masking = exchange.masking!;
    try {
      const receipt = await this.deps.audit.append(
        {
          ...this.requestRecord(exchange),
          ...(exchange.requestBody ? { body: exchange.requestBody.reference } : {}),
          masking: {
            request: masking.tokenized ? "tokenized" : masking.maskRequests ? "masked" : "forwarded",
            redactions: masking.request,
            ...(masking.restoredDownstream ? { restored: masking.restoredDownstream } : {}),
          },
        },
        { ...this.appendContext(exchange), ...(exchange.requestBody ? { payloads: [exchange.requestBody.payload] } : {}) },
      );
      exchange.admitted = true;
      return receipt;
    } catch (error) {
      exchange.log.error({ err: error }, "audit record could not be written; refusing request");
      throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", "Refused: the audit record could not be written, so the request was not forwarded.", { cause: error });
    }
  }

  /** A refusal: who sent it (identified quietly when no stage got that far), what and why. */
  async refused(exchange: Exchange, error: GatewayError): Promise<void> {
    // A request refused before identify (e.g. a hostile path) still names who sent it, if anyone;
    // a credential that does not verify is noted, and the answer stays the refusal.
    const quietly = exchange.identity || error.identity || exchange.identifyAttempted ? {} : await this.identifyQuietly(exchange.req);
    exchange.identity ??= error.identity ?? quietly.identity;
    await this.noteRefusedEgressCall(exchange);
    await this.appendOrLog(exchange.id, {
      ...this.requestRecord(exchange),
      // The policy's decision when it refused (deny, or approval required); the gateway's own otherwise.
      decision: exchange.decision && exchange.decision.effect !== "allow" ? exchange.decision : { effect: "deny", rule: `gateway:${error.code}`, reason: this.recorded(`${error.message}${quietly.note ?? ""}`) },
      // A held response had already begun (200, then heartbeats): the refusal went in-band.
      status: exchange.res.headersSent ? exchange.res.statusCode : refusalStatus(exchange, error),
      error: error.code,
    }, this.appendContext(exchange));
    exchange.log.info({ status: error.status, error: error.code, subject: exchange.identity?.subject }, "request refused");
  }

  /** The completion record of an admitted request (or of a refusal sent in-band after a held
   * response had begun), with its recorded response; a run it started is then followed. */
  async completed(exchange: Exchange, endedInBand: boolean): Promise<void> {
    if (!exchange.admitted && !endedInBand) return;
    const masking = exchange.masking!;
    const response = exchange.recording?.stored(this.deps.masker.name, masking.response.redactions);
    const record: CompletionRecord = {
      type: "completion",
      request_id: exchange.id,
      time: new Date().toISOString(),
      // What the client was sent; null when it left before any status line.
      status: exchange.res.headersSent ? exchange.res.statusCode : null,
      upstream_status: exchange.upstreamStatus ?? null,
      outcome: exchange.outcome,
      duration_ms: elapsedMs(exchange),
      bytes_in: exchange.bytesIn,
      bytes_out: exchange.bytesOut,
      ...(exchange.error ? { error: exchange.error } : {}),
      ...(exchange.upstreamHeadersMs !== undefined ? { upstream_headers_ms: exchange.upstreamHeadersMs } : {}),
      ...(Object.keys(exchange.events).length > 0 ? { events: exchange.events } : {}),
      ...(exchange.runId ? { run_id: exchange.runId } : {}),
      ...(exchange.threadId ? { thread_id: exchange.threadId } : {}),
      ...(response ? { response: response.reference } : {}),
      masking: {
        response: masking.clearResponses ? "clear" : "masked",
        redactions: masking.response.redactions,
        ...(masking.restore && Object.keys(masking.restore.restored.redactions).length > 0 ? { restored: masking.restore.restored.redactions } : {}),
      },
      ...(exchange.scrubber?.found ? { credential_echoes: exchange.scrubber.found } : {}),
    };
    await this.appendOrLog(exchange.id, record, { ...this.appendContext(exchange), ...(response ? { payloads: [response.payload] } : {}) });
    if (exchange.operation?.creates_run && exchange.runId) this.deps.runs.follow(followedRunOf(exchange));
    exchange.log.info(
      {
        method: exchange.req.method,
        path: exchange.target?.path,
        route: exchange.operation?.route,
        subject: exchange.identity?.subject,
        status: record.status,
        outcome: record.outcome,
        duration_ms: record.duration_ms,
      },
      "request completed",
    );
  }

  /** A request the gateway answered itself (health, sign-in, the console, the approvals API).
   * A console page shows recorded evidence, so its record must be written before it is sent
   * (503 otherwise); the others are answered whatever the ledger does. */
  async answered(exchange: Exchange, rule: string, answer: { status: number; denied?: string }): Promise<void> {
    const record: RequestRecord = {
      ...this.requestRecord(exchange),
      decision: answer.denied ? { effect: "deny", rule, reason: answer.denied } : { effect: "allow", rule },
      status: answer.status,
    };
    if (rule !== "gateway:console") {
      await this.appendOrLog(exchange.id, record, this.appendContext(exchange));
      return;
    }
    try {
      await this.deps.audit.append(record, this.appendContext(exchange));
    } catch (error) {
      throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", "Refused: the audit record of this console page could not be written.", { cause: error, ...(exchange.identity ? { identity: exchange.identity } : {}) });
    }
  }

  /** A request answered 202 while it waits for approval: one request record, nothing forwarded. */
  async asked(exchange: Exchange, status: number): Promise<void> {
    await this.appendOrLog(
      exchange.id,
      { ...this.requestRecord(exchange), ...(exchange.requestBody ? { body: exchange.requestBody.reference } : {}), status },
      { ...this.appendContext(exchange), ...(exchange.requestBody ? { payloads: [exchange.requestBody.payload] } : {}) },
    );
  }

  /** A refusal below the pipeline (an upgrade, HTTP the parser rejects): there is no exchange,
   * only the raw request line and headers, when the parser got that far. */
  async connectionRefused(refusal: { id: string; req: IncomingMessage | undefined; clientAddress: string | null; error: GatewayError; notSent: string }): Promise<void> {
    const { id, req, error } = refusal;
    const [rawPath = "", ...rawQuery] = String(req?.url ?? "").slice(0, 2048).split("?");
    // An upgrade arrives with its headers: who sent it goes in the record too.
    const quietly = req ? await this.identifyQuietly(req) : {};
    await this.appendOrLog(id, {
      type: "request",
      request_id: id,
      time: new Date().toISOString(),
      client: { address: refusal.clientAddress, user_agent: req?.headers["user-agent"] ?? null },
      method: req?.method ?? "",
      path: this.recorded(rawPath),
      query: rawQuery.length > 0 ? this.recordedQueryOf(`?${rawQuery.join("?")}`) : "",
      identity: quietly.identity ? recordedIdentity(quietly.identity) : null,
      operation: null,
      decision: { effect: "deny", rule: `gateway:${error.code}`, reason: this.recorded(`${error.message}${quietly.note ?? ""}${refusal.notSent}`) },
      status: error.status,
      error: error.code,
    }, { subject: quietly.identity?.subject ?? null, graphs: [] });
  }

  /** For the record of a request refused before identify: who sent it and, when its credential
   * was not accepted, a note naming the kinds sent and why (never their values). */
  private async identifyQuietly(req: IncomingMessage): Promise<{ identity?: Identity; note?: string }> {
    const presented = this.deps.identifier.presented(req);
    if (presented.kinds.length === 0 && presented.hopByHop.length === 0) return {};
    try {
      return { identity: await this.deps.identifier.identify(req) };
    } catch (error) {
      const refusal = error instanceof GatewayError ? error : undefined;
      return {
        ...(refusal?.identity ? { identity: refusal.identity } : {}),
        note: ` Its credential (${describeCredentials(presented.kinds) || "none"}) was not accepted: ${refusal?.code ?? "PC_INTERNAL"}.`,
      };
    }
  }

  /** An egress call refused before its route, method and path were accepted (or before
   * identify) is still recorded with the route and path it asked for and the run it serves. */
  private async noteRefusedEgressCall(exchange: Exchange): Promise<void> {
    if (exchange.egress) return;
    const facts = await this.deps.egress.refusedCallFacts(exchange.req, exchange.target);
    if (!facts) return;
    exchange.egress = { ...facts, route: this.recorded(facts.route), path: this.recorded(facts.path) };
    if (facts.run) exchange.resources ??= { graphs: facts.run.graphs };
  }

  /** For records written after the fact (refusals, completions): a failure is logged loudly. */
  private async appendOrLog(requestId: string, record: AuditRecord, context?: AppendContext): Promise<void> {
    await this.deps.audit.append(record, context).catch((auditError: unknown) => {
      this.deps.log.error({ err: auditError, request_id: requestId, record_type: record.type }, "audit record could not be written");
    });
  }

  /** Who and which graphs, kept beside each record so exports filter without parsing leaves. */
  private appendContext(exchange: Exchange): AppendContext {
    return { subject: exchange.identity?.subject ?? null, graphs: exchange.resources?.graphs ?? [] };
  }

  /** The query as recorded: sign-in parameters reduced, keys and values masked like any stored text. */
  private recordedQuery(exchange: Exchange): string {
    const search = exchange.target?.search ?? "";
    if (exchange.target && this.deps.signIn?.handles(exchange.target.path)) return recordedSignInQuery(search).slice(0, 2048);
    return this.recordedQueryOf(search);
  }

  private recordedQueryOf(search: string): string {
    try {
      return this.deps.masker.maskQuery(search.slice(0, 2048)).text;
    } catch {
      return "[unscannable query withheld]";
    }
  }

  /** Client-controlled text kept in a record (a path, an error that quotes the request): masked,
   * percent-encoding decoded first so %40 cannot hide an address. */
  recorded(text: string): string {
    try {
      const bounded = text.slice(0, 2048);
      const masked = this.deps.masker.maskText(bounded);
      let decoded: string;
      try {
        decoded = decodeURIComponent(bounded);
      } catch {
        return masked.text;
      }
      if (decoded === bounded) return masked.text;
      const maskedDecoded = this.deps.masker.maskText(decoded);
      return Object.keys(maskedDecoded.redactions).length > 0 ? maskedDecoded.text : masked.text;
    } catch {
      return "[unscannable text withheld]";
    }
  }

  /** The classified operation carries ids taken from the client's path and body: masked. */
  private recordedOperation(operation: Exchange["operation"]): RequestRecord["operation"] {
    if (!operation) return null;
    try {
      return this.deps.masker.maskValue(operation).value;
    } catch {
      return { ...operation, ids: {}, assistant_ids: [] };
    }
  }

  private requestRecord(exchange: Exchange): RequestRecord {
    const req = exchange.req;
    return {
      type: "request",
      request_id: exchange.id,
      time: new Date().toISOString(),
      client: { address: exchange.clientAddress, user_agent: req.headers["user-agent"] ?? null, ...(exchange.forwarded ? { forwarded: exchange.forwarded } : {}) },
      method: req.method ?? "",
      path: this.recorded(exchange.target?.path ?? String(req.url ?? "")),
      query: this.recordedQuery(exchange),
      identity: exchange.identity ? recordedIdentity(exchange.identity) : null,
      operation: this.recordedOperation(exchange.operation),
      decision: exchange.decision ?? { effect: "deny", rule: "gateway:unclassified" },
      ...(exchange.resources ? { resources: exchange.resources } : {}),
      ...(exchange.rewrites && exchange.rewrites.added.length + exchange.rewrites.removed.length > 0 ? { rewrites: { added: exchange.rewrites.added, removed: exchange.rewrites.removed } } : {}),
      ...(exchange.approval ? { approval: exchange.approval } : {}),
      ...(exchange.egress ? { egress: exchange.egress } : {}),
      ...this.deps.observe?.traceOf(exchange),
    };
  }
}

/** The run a run-creating exchange started, as the gateway follows it. */
export function followedRunOf(exchange: Exchange): FollowedRun {
  return {
    requestId: exchange.id,
    runId: exchange.runId!,
    threadId: exchange.threadId ?? null,
    subject: exchange.identity?.subject ?? null,
    graphs: exchange.resources?.graphs ?? [],
    assistantIds: exchange.operation?.assistant_ids ?? [],
  };
}

/** Claims serve policy conditions; the record keeps who, not everything the IdP said. */
function recordedIdentity(identity: Identity): Identity {
  const { claims: _claims, ...recorded } = identity;
  return recorded;
}
