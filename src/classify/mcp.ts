// MCP (Model Context Protocol) over streamable HTTP, as the Agent Server serves it at /mcp: each
// assistant is a tool, and tools/call runs it (stateless, as /runs/wait does). One JSON-RPC 2.0
// message per request; its method decides what the request does.
import { GatewayError } from "../errors.js";
import { UnknownJsonRpcMethod } from "./jsonRpc.js";
import type { Operation } from "./operation.js";
import { isObject } from "../jsonText.js";

// Methods that read: the session handshake, liveness and the tool list (the assistants as tools).
const READS = new Set(["initialize", "ping", "tools/list", "notifications/initialized", "notifications/cancelled"]);

/** Completes an MCP request's Operation: a tools/call is runs:create on the assistant it names
 * (policy sees its graph), anything else it knows is a read of the assistants; an unknown method
 * is refused, never forwarded. `tools/call` does not set creates_run: the body is JSON-RPC, not a
 * run body, so nothing is stamped into it. */
export function classifyMcpMessage(operation: Operation, body: unknown): void {
  if (Array.isArray(body)) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: MCP batches are not forwarded; send one JSON-RPC message per request.");
  if (!isObject(body) || body.jsonrpc !== "2.0" || typeof body.method !== "string") {
    throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: an MCP request is one JSON-RPC 2.0 message with a string 'method' (a response to the server is not taken: the endpoint is stateless).");
  }
  if (READS.has(body.method)) return;
  if (body.method === "tools/call") {
    const params = isObject(body.params) ? body.params : {};
    if (typeof params.name !== "string" || params.name === "") throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: tools/call needs the tool's 'name'.");
    operation.actions = ["runs:create"];
    operation.action = "runs:create";
    operation.risk = "execute";
    operation.risk_reasons.push("tools/call");
    operation.assistant_ids.push(params.name);
    operation.ids.assistant_id = params.name;
    return;
  }
  throw new UnknownJsonRpcMethod("MCP", body.id, body.method);
}
