// The request pipeline: every stage a request passes through, in order, in one place (STAGES).
//
//   receive → identify → classify → authorize → mask (request) → approve → record (admit)
//     → forward → respond (mask each event or document) → record (complete)
//
// Each stage lives in the folder of the same name; src/pipeline/ is where the pipeline meets it.
// A request goes to LangGraph or, under /egress/<route>/…, to an outside service the graph
// calls: the stages are the same, and what differs is asked of the request's Destination.
// A stage refuses a request by throwing a GatewayError; handle hands it to refuse
// (src/pipeline/refuse.ts), the one place that records and answers refusals, so no stage can
// forget either.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ApprovalGate } from "./approve/index.js";
import { RouteTable } from "./classify/index.js";
import type { GatewayError } from "./errors.js";
import type { Exchange } from "./exchange.js";
import type { StageName } from "./observe/index.js";
import { corsHeaders, parseRequestTarget } from "./receive/index.js";
import { Recorder } from "./record/index.js";
import { admit, answerApprovalsApi, approve, authorize, classify, forward, identify, maskRequest, openExchange, receive, refuse, refuseConnection, respond, type Flight, type StageContext, type Next, type PipelineDeps } from "./pipeline/index.js";

/** The stages in order, each with the mark metrics and traces take at its end (approve marks its
 * own: most requests never wait; forward and respond are timed by the upstream's answer). */
const STAGES: ReadonlyArray<readonly [StageName | undefined, (flight: Flight, gateway: StageContext) => Promise<Next>]> = [
  ["receive", receive], // bounded head, canonical target; preflight, health, sign-in, console answered
  ["identify", identify], // credentials, then the caller's rate
  [undefined, answerApprovalsApi], // the approvals API, for identified approvers
  ["classify", classify], // the route (LangGraph's or the egress route's), then the body
  ["authorize", authorize], // policy, with the facts it looks up; the body's stamps
  ["mask", maskRequest], // the stored copy always; the forwarded copy as policy or route says
  [undefined, approve], // require-approval: held open, or 202
  ["admit", admit], // record (admit): no record, no request
  [undefined, forward], // to LangGraph or the egress route
  [undefined, respond], // relayed, masked as it flows
];

export class RequestPipeline implements StageContext {
  /** Requests in flight, for draining on shutdown. */
  readonly active = new Set<Exchange>();
  /** Set on shutdown: new requests are refused while live ones finish. */
  draining = false;
  /** The routes classify matches: LangGraph's, and those declared under routes.custom. */
  routes: RouteTable;
  /** The record stage: every audit record a request leaves. */
  readonly recorder: Recorder;
  /** Refused after a held response had begun (approval denied or expired, shutdown): the
   * client got 200 and an in-band error, so they get a completion record like any response. */
  private readonly endedInBand = new WeakSet<Exchange>();

  constructor(readonly deps: PipelineDeps) {
    this.routes = deps.routes ?? new RouteTable();
    this.recorder = new Recorder(deps);
  }

  /** The approve stage (its hold bound is approvals.hold_max_s). */
  get approvalGate(): ApprovalGate {
    return this.deps.approvals;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const exchange = this.open(req, res);
    const flight: Flight = { exchange, responseHeaders: { ...corsHeaders(req, this.deps.cors), "x-request-id": exchange.id } };
    try {
      for (const [mark, stage] of STAGES) {
        if ((await stage(flight, this)) === "answered") break;
        if (mark) this.deps.observe?.stage(exchange, mark);
      }
    } catch (error) {
      await refuse(this, exchange, error, flight.responseHeaders, this.endedInBand);
    } finally {
      // An answer left unread (a relay that failed early) would hold a pool connection.
      if (flight.answer && !flight.answer.body.readableEnded) flight.answer.body.destroy();
      // record (complete)
      await this.recorder.completed(exchange, this.endedInBand.has(exchange));
      this.close(exchange);
    }
  }

  /** A request refused before the pipeline runs (an Expect the gateway does not meet): answered
   * and recorded like any refusal. */
  async refuseRequest(req: IncomingMessage, res: ServerResponse, error: GatewayError): Promise<void> {
    const exchange = this.open(req, res);
    try {
      exchange.target = parseRequestTarget(req.url);
    } catch {
      // the refusal stands; the record keeps the raw target
    }
    try {
      await refuse(this, exchange, error, { "x-request-id": exchange.id }, this.endedInBand);
    } finally {
      this.close(exchange);
    }
  }

  /** Refusals below the pipeline (protocol upgrades, HTTP the parser rejects) still leave a record. */
  refuseConnection(req: IncomingMessage | undefined, socket: Socket, error: GatewayError): Promise<void> {
    return refuseConnection(this, this.active, req, socket, error);
  }

  private open(req: IncomingMessage, res: ServerResponse): Exchange {
    const exchange = openExchange(this, req, res);
    this.active.add(exchange);
    return exchange;
  }

  private close(exchange: Exchange): void {
    this.deps.observe?.finish(exchange);
    this.active.delete(exchange);
  }
}
