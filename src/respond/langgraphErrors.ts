// The gateway's refusals in LangGraph's own shape where LangGraph has an answer for the same
// case, so an SDK error reads the same through the gateway as direct. The gateway's code goes in
// the x-portcullis-error header (and, as always, in the audit record). Observed on the pinned JS
// server (docs/compatibility.md): an unknown thread is 404 text/plain "Thread with ID <id> not
// found" on the thread routes; an unknown run under a thread is 404 "Run not found". The status
// is the gateway's (the record says what the client got): on /copy LangGraph answers 409 "Thread
// not found", which the gateway's 404 does not imitate. A body refused for a field LangGraph
// validates is LangGraph's 400 Zod issue list; an unknown protocol-v2 method is the protocol's
// in-band error, 200, as the server answers it.
import { UnknownJsonRpcMethod, BodyValidationError, UnknownProtocolCommand } from "../classify/index.js";
import type { Exchange } from "../exchange.js";
import type { GatewayError } from "../errors.js";

export const ERROR_CODE_HEADER = "x-portcullis-error";

interface LangGraphAnswer {
  contentType: string;
  body: string;
  /** The status LangGraph answers with, when it is not the refusal's (an in-band protocol error). */
  status?: number;
}

const TEXT = "text/plain;charset=UTF-8";
const JSON_TYPE = "application/json";
// Routes on which LangGraph itself answers a missing thread or run (the gateway's own API, egress
// and custom routes keep the gateway's JSON).
const LANGGRAPH_RESOURCES = new Set(["threads", "state", "runs", "protocol"]);

/** LangGraph's answer for a gateway refusal, when LangGraph has one for the same case. */
export function langGraphAnswerFor(exchange: Exchange, error: GatewayError): LangGraphAnswer | undefined {
  const operation = exchange.operation;
  if (error instanceof UnknownProtocolCommand) return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(error.protocolError()) };
  if (error instanceof UnknownJsonRpcMethod) return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(error.jsonRpcError()) };
  // Raised only for fields of LangGraph's own bodies (never a custom route's).
  if (error instanceof BodyValidationError) {
    return { contentType: JSON_TYPE, body: JSON.stringify({ success: false, error: { issues: error.issues, name: "ZodError" } }) };
  }
  if (error.code !== "PC_NOT_FOUND" || !operation || !LANGGRAPH_RESOURCES.has(operation.resource)) return undefined;
  // The ownership refusals (authorize/index.ts refusalFor) name what was not found.
  if (error.message.startsWith("Thread with ID ")) {
    if (operation.route === "runs.delete" || operation.route === "runs.cancel") return { contentType: TEXT, body: "Run not found" };
    // PATCH names no id in its answer.
    if (operation.route === "threads.update") return { contentType: TEXT, body: "Thread not found" };
    return { contentType: TEXT, body: `Thread with ID ${operation.ids.thread_id ?? ""} not found` };
  }
  if (error.message.startsWith("Run with ID ")) return { contentType: TEXT, body: "Run not found" };
  return undefined;
}

/** The status the client is sent for a refusal (and the one its record keeps). */
export function refusalStatus(exchange: Exchange, error: GatewayError): number {
  return langGraphAnswerFor(exchange, error)?.status ?? error.status;
}
