// Egress routes that speak an agent protocol (`protocol: mcp | a2a`): graph code calling an MCP
// server or an A2A agent through the gateway. Each call is one JSON-RPC 2.0 message, read before
// it is authorised so that policy decides per message: an MCP tools/call by the tool it names
// (`resources.tools`), the handshake and the tool list with the route; an A2A agent (the route)
// by its methods. A method the gateway does not know is answered as JSON-RPC's "Method not
// found" and never sent.
import { UnknownJsonRpcMethod } from "../classify/index.js";
import { GatewayError } from "../errors.js";
import { isObject } from "../jsonText.js";

type EgressProtocol = "http" | "mcp" | "a2a";

/** What policy and the record see of one message. */
interface EgressMessage {
  method: string;
  /** The MCP tool a tools/call names. */
  tool?: string;
}

const MCP_METHODS = new Set(["initialize", "ping", "notifications/initialized", "notifications/cancelled", "tools/list", "tools/call"]);
const A2A_METHODS = new Set(["message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe", "agent/getAuthenticatedExtendedCard"]);

export function egressMessage(protocol: Exclude<EgressProtocol, "http">, route: string, body: unknown): EgressMessage {
  const name = protocol === "mcp" ? "MCP" : "A2A";
  if (Array.isArray(body)) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${name} batches are not sent on egress route '${route}'; send one JSON-RPC message per call.`);
  if (!isObject(body) || body.jsonrpc !== "2.0" || typeof body.method !== "string") {
    throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: egress route '${route}' carries ${name}: each call is one JSON-RPC 2.0 message with a string 'method'.`);
  }
  if (!(protocol === "mcp" ? MCP_METHODS : A2A_METHODS).has(body.method)) throw new UnknownJsonRpcMethod(name, body.id, body.method);
  // An agent told to post a task's updates to a URL would send them past the gateway.
  const configuration = isObject(body.params) ? body.params.configuration : undefined;
  if (protocol === "a2a" && isObject(configuration) && configuration.pushNotificationConfig !== undefined) {
    throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: A2A push notifications are not sent on egress route '${route}' (configuration.pushNotificationConfig): the agent would post the task's updates past the gateway.`);
  }
  if (body.method !== "tools/call") return { method: body.method };
  const tool = isObject(body.params) ? body.params.name : undefined;
  if (typeof tool !== "string" || tool === "") throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: tools/call needs the tool's 'name'.");
  return { method: body.method, tool };
}
