// An egress route as a request's destination (/egress/<route>/…: graph code reaching an outside
// service): the route's methods and paths classify the call, policy must allow egress:call on
// it, the route's settings say how it is masked, and it goes out with the route's credential.
import type { Dispatcher } from "undici";
import { egressMessage, type Egress, type RunLink } from "../egress/index.js";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { MaskingTally, ProviderStreamMasker, type Masker } from "../mask/index.js";
import { maskedPayload } from "../record/index.js";
import type { Destination, Flight, StageContext } from "./flight.js";
import { maskRequestBody, restoreForEgress } from "./maskRequest.js";

type EgressCall = ReturnType<Egress["classify"]>;

export class ToEgressRoute implements Destination {
  private readonly exchange: Exchange;
  private call?: EgressCall;
  /** The run the call serves and who started it, from the token the graph forwards. */
  private run?: RunLink;
  /** An agent-protocol (MCP, A2A) call's JSON-RPC message, read before it is authorised. */
  private message?: ReturnType<typeof egressMessage>;

  constructor(
    private readonly flight: Flight,
    private readonly gateway: StageContext,
  ) {
    this.exchange = flight.exchange;
  }

  relaySettings() {
    const route = this.call!.route;
    return {
      upstreamUrl: route.url,
      maxResponseBytes: route.config.max_response_bytes,
      // A provider's token deltas are held back per choice, output or content block.
      streamMasker: (masker: Masker, tally: MaskingTally) => new ProviderStreamMasker(masker, tally),
      serverName: route.serverName,
    };
  }

  /** The route, whether its methods and paths allow the call, and the run it serves. An agent
   * protocol's body is read here: its JSON-RPC message is what policy authorizes. */
  async classify(): Promise<void> {
    const { deps } = this.gateway;
    const { exchange } = this;
    const req = exchange.req;
    const call = deps.egress.classify(req.method ?? "", exchange.target!);
    this.call = call;
    exchange.operation = call.operation;
    exchange.scrubber = call.scrubber;
    exchange.egress = { route: call.route.name, path: this.gateway.recorder.recorded(call.path) };
    this.run = await deps.egress.linkRun(req.headers, call);
    if (this.run) exchange.egress.run = this.run;
    exchange.resources = { graphs: this.run?.graphs ?? [] };
    deps.identifier.confirmSessionIntent(req, exchange.identity!, true);
    const protocol = call.route.config.protocol;
    if (protocol === "http") return;
    this.flight.body = await deps.egress.readBody(req, call);
    const message = egressMessage(protocol, call.route.name, this.flight.body.json);
    this.message = message;
    exchange.egress.message = { method: message.method, ...(message.tool !== undefined ? { tool: this.gateway.recorder.recorded(message.tool) } : {}) };
    call.operation.risk_reasons.push(message.tool !== undefined ? `tools/call ${message.tool}` : message.method);
  }

  /** Policy must allow egress:call on this route (deny by default), then its rate. */
  async authorize(): Promise<void> {
    const { deps } = this.gateway;
    const { exchange, message } = this;
    const call = this.call!;
    const identity = exchange.identity!;
    const request = { identity, operation: call.operation, target: exchange.target!, method: exchange.req.method ?? "", sourceAddress: exchange.clientAddress, body: undefined };
    const mcpMessage = call.route.config.protocol === "mcp" ? { ...(message?.tool !== undefined ? { tool: message.tool } : {}) } : undefined;
    const { decision } = deps.authorizer.authorizeEgress(request, call.route.name, exchange.resources!.graphs, mcpMessage);
    exchange.decision = decision;
    if (decision.effect !== "allow") {
      const what = message?.tool !== undefined ? `tool '${message.tool}' on egress route` : "egress route";
      throw new GatewayError(403, "PC_FORBIDDEN", `Refused: ${decision.reason ?? "not allowed"} on ${what} '${call.route.name}' (rule ${decision.rule}).`, { identity });
    }
    await deps.egress.limitRate(call, identity);
  }

  /** JSON within the route's limit; the stored copy always masked, what the downstream receives
   * when the route says so, with the originals of the route's entity types restored. */
  async maskRequest(): Promise<void> {
    const { deps } = this.gateway;
    const { exchange, flight, run } = this;
    const call = this.call!;
    const body = flight.body ?? (await deps.egress.readBody(exchange.req, call));
    flight.body = body;
    exchange.bytesIn = body.bytes;
    const masking = call.route.config.masking;
    exchange.masking = { clearResponses: masking.responses === "clear", maskRequests: masking.requests === "mask", request: {}, response: new MaskingTally() };
    let forwardedBody = body.forwarded;
    if (forwardedBody !== undefined) {
      const masked = maskRequestBody(deps.masker, forwardedBody);
      flight.maskedBody = masked.text;
      exchange.masking.request = masked.redactions;
      exchange.requestBody = maskedPayload(masked, deps.masker.name);
      if (exchange.masking.maskRequests) forwardedBody = masked.text;
      // restore: the originals of the route's entity types, from the run's own thread and tenant
      if (run && deps.vault && call.route.config.restore.length > 0) forwardedBody = await restoreForEgress(exchange, { vault: deps.vault, masker: deps.masker }, forwardedBody, run, call.route.config.restore);
    }
    flight.forwardedBody = forwardedBody;
  }

  /** The client's credentials stripped, the route's added. */
  send(): Promise<Dispatcher.ResponseData> {
    const { egress } = this.gateway.deps;
    const { exchange, flight } = this;
    const call = this.call!;
    return egress.send(call, {
      method: exchange.req.method!,
      headers: egress.downstreamHeaders(exchange.req.headers, call, flight.forwardedBody !== undefined),
      body: flight.forwardedBody,
      signal: exchange.upstreamAbort.signal,
    });
  }

  /** A redirect or Content-Location may not lead the graph outside the route. */
  async received(answer: Dispatcher.ResponseData): Promise<void> {
    this.gateway.deps.egress.confineLocations(this.call!, answer);
  }
}
