// A2A (Agent2Agent, JSON-RPC 2.0 over HTTP, spec 0.3) as the Agent Server serves it at
// /a2a/{assistant_id}: the assistant is the agent; message/send and message/stream run it on the
// thread the message's contextId names (a new one without), and a task is a run of that thread.
// One JSON-RPC message per request; its method decides what the request does.
import { GatewayError } from "../errors.js";
import { UnknownJsonRpcMethod } from "./jsonRpc.js";
import type { Operation } from "./operation.js";
import { isObject } from "../jsonText.js";

const RUNS = new Set(["message/send", "message/stream"]);
const TASK_READS = new Set(["tasks/get", "tasks/resubscribe"]);

/** Completes an A2A request's Operation. The contextId a message or task names is its thread,
 * so the ownership check of the thread routes applies; a task method without one is refused,
 * since the task could not be tied to its owner. An unknown method (push-notification
 * configuration among them: the gateway would not see the calls the server makes) is refused. */
export function classifyA2aMessage(operation: Operation, body: unknown): void {
  if (Array.isArray(body)) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: A2A batches are not forwarded; send one JSON-RPC message per request.");
  if (!isObject(body) || body.jsonrpc !== "2.0" || typeof body.method !== "string") {
    throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: an A2A request is one JSON-RPC 2.0 message with a string 'method'.");
  }
  const params = isObject(body.params) ? body.params : {};
  const assistant = operation.ids.assistant_id;
  if (assistant) operation.assistant_ids.push(assistant);
  if (body.method === "agent/getAuthenticatedExtendedCard") return;
  if (RUNS.has(body.method)) {
    const message = params.message;
    if (!isObject(message) || !Array.isArray(message.parts)) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${body.method} needs params.message with its parts.`);
    // The server would post the task's updates to that URL itself, past the gateway's masking and records.
    if (isObject(params.configuration) && params.configuration.pushNotificationConfig !== undefined) {
      throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: A2A push notifications are not forwarded (configuration.pushNotificationConfig): the agent would send the task's updates to a URL the gateway does not see; poll with tasks/get or use message/stream.");
    }
    contextThread(operation, message.contextId, `${body.method} params.message.contextId`);
    operation.actions = ["runs:create"];
    operation.action = "runs:create";
    operation.risk = "execute";
    operation.risk_reasons.push(body.method);
    return;
  }
  const task = TASK_READS.has(body.method) ? { action: "runs:read", risk: "read" as const } : body.method === "tasks/cancel" ? { action: "runs:cancel", risk: "write" as const } : undefined;
  if (!task) throw new UnknownJsonRpcMethod("A2A", body.id, body.method);
  if (typeof params.id !== "string" || params.id === "") throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${body.method} needs the task's params.id.`);
  if (typeof params.contextId !== "string") {
    throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${body.method} needs params.contextId (the task's thread), so that its owner can be checked.`);
  }
  // The thread's owner is checked; the server finds the task within that thread.
  contextThread(operation, params.contextId, `${body.method} params.contextId`);
  operation.actions = [task.action];
  operation.action = task.action;
  operation.risk = task.risk;
}

/** A contextId is the thread the Agent Server runs on: a string, checked like a path's thread id. */
function contextThread(operation: Operation, contextId: unknown, where: string): void {
  if (contextId === undefined) return;
  if (typeof contextId !== "string" || contextId === "") throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${where} must be a non-empty string.`);
  operation.ids.thread_id = contextId;
}
