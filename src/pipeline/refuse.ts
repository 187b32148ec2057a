// Refusals: whatever stage throws, the refusal is recorded and answered here, so no stage can
// forget either. Below the pipeline (protocol upgrades, HTTP the parser rejects) a refusal still
// leaves a record.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { metrics } from "../observe/index.js";
import { ERROR_CODE_HEADER, sendGatewayError } from "../respond/index.js";
import type { StageContext } from "./flight.js";

/** A refusal before forwarding is one request record; a failure after it ends the exchange.
 * One told in-band (the client already had 200: a held response) is noted in endedInBand, so
 * that it still gets its completion record. */
export async function refuse({ recorder }: StageContext, exchange: Exchange, error: unknown, headers: OutgoingHttpHeaders, endedInBand: WeakSet<Exchange>): Promise<void> {
  const gatewayError = toGatewayError(error, exchange);
  exchange.error = gatewayError.code;
  if (exchange.approvalId && !exchange.approval) exchange.approval = { via: "asked", approval_id: exchange.approvalId };
  if (gatewayError.status >= 500 && gatewayError.cause) {
    const level = gatewayError.code === "PC_INTERNAL" ? "error" : "warn";
    exchange.log[level]({ err: gatewayError.cause, error: gatewayError.code }, "request failed");
  }
  if (!exchange.admitted) {
    await recorder.refused(exchange, gatewayError);
    if (exchange.heldAnswerBegun) {
      endedInBand.add(exchange);
      if (gatewayError.code === "PC_SHUTTING_DOWN" && exchange.outcome === "ok") exchange.outcome = "shutdown";
    } else if (!exchange.req.complete) {
      // The body of a refused request is not read; close the connection rather than drain it.
      exchange.res.setHeader("connection", "close");
    }
  } else if (exchange.outcome === "ok") {
    exchange.outcome = gatewayError.code === "PC_SHUTTING_DOWN" ? "shutdown" : gatewayError.code === "PC_CLIENT_CLOSED" ? "client_aborted" : "upstream_failed";
  }
  sendGatewayError(exchange, gatewayError, headers);
}

/** A refusal on a connection with no exchange of its own. The socket may be reset at any
 * moment, so it gets its own error listener and a deadline, and is destroyed once the answer is
 * written. */
export async function refuseConnection({ deps, recorder }: StageContext, active: ReadonlySet<Exchange>, req: IncomingMessage | undefined, socket: Socket, error: GatewayError): Promise<void> {
  socket.on("error", () => undefined);
  // Exchanges still being answered on this connection (several when requests were pipelined).
  const pending = [...active].filter((exchange) => exchange.req.socket === socket && !exchange.res.writableFinished);
  // A request whose body was still arriving owns the error (a slow or broken body): the
  // connection is closed, so that request fails and is recorded as such, and nothing waits.
  const bodyError = pending.some((exchange) => !exchange.req.complete);
  // Otherwise an answer written now would take the place of an answer in flight: the client
  // would read this refusal as that request's answer (and might retry a create that
  // succeeded). The refusal is recorded, not sent, and the connection closes once every
  // answer on it is sent.
  const answerInFlight = pending.length > 0 && !bodyError;
  if (answerInFlight) closeWhenAnswered(socket, pending);
  else socket.setTimeout(5_000, () => socket.destroy());
  if (bodyError) socket.destroy();
  const id = randomUUID();
  const client = req ? deps.trustedProxies.resolve(req) : { address: deps.trustedProxies.peerAddress(socket) };
  const notSent = answerInFlight ? " Not sent: an answer was in flight on the connection, which was closed after it." : bodyError ? " Not sent: the connection was closed." : "";
  await recorder.connectionRefused({ id, req, clientAddress: client.address, error, notSent });
  deps.log.info({ request_id: id, status: error.status, error: error.code }, "connection refused");
  metrics()?.refusals.inc({ code: error.code, status: String(error.status) });
  if (answerInFlight || bodyError) return;
  if (socket.writable) {
    const body = JSON.stringify(error.toJSON(id));
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${id}\r\n${ERROR_CODE_HEADER}: ${error.code}\r\nconnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon();
  } else {
    socket.destroy();
  }
}

function toGatewayError(error: unknown, exchange: Exchange): GatewayError {
  if (error instanceof GatewayError) return error;
  if (exchange.shuttingDown) return new GatewayError(503, "PC_SHUTTING_DOWN", "Portcullis is shutting down; retry shortly.");
  if (exchange.clientGone) return new GatewayError(499, "PC_CLIENT_CLOSED", "The client closed the connection before the response was complete.");
  return new GatewayError(500, "PC_INTERNAL", "Portcullis failed to handle the request; the failure is logged with this request id.", { cause: error });
}

/** Closes the connection once every answer still pending on it has been sent (or abandoned). */
function closeWhenAnswered(socket: Socket, pending: Exchange[]): void {
  let left = pending.length;
  const done = () => {
    left -= 1;
    if (left === 0) socket.destroySoon();
  };
  for (const exchange of pending) {
    let counted = false;
    const once = () => {
      if (counted) return;
      counted = true;
      done();
    };
    exchange.res.once("finish", once);
    exchange.res.once("close", once);
  }
}
