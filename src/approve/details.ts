// What approvers see besides who and what: the request body (masked), and for a request that
// continues or resumes a thread, what it would let happen: the pending tool calls before a
// breakpoint (interrupt_before) and the interrupt the graph raised (langgraph-api.md §8).
import type { Operation } from "../classify/index.js";
import { gatewayRequest, type GatewayAuth } from "../forward/gatewayRequest.js";
import type { UpstreamClient } from "../forward/upstream.js";
import type { Masker } from "../mask/index.js";

const MAX_BODY_CHARS = 4_096;
const STATE_TIMEOUT_MS = 10_000;

export interface DetailSources {
  upstream: UpstreamClient;
  auth: GatewayAuth;
  masker: Masker;
}

export async function approvalDetails(operation: Operation, maskedBody: string | undefined, requestId: string, sources: DetailSources): Promise<Record<string, unknown>> {
  const details: Record<string, unknown> = { route: operation.route, risk_reasons: operation.risk_reasons };
  if (maskedBody !== undefined) {
    details.body = maskedBody.length <= MAX_BODY_CHARS ? parseOr(maskedBody) : { truncated: true, chars: maskedBody.length, start: maskedBody.slice(0, MAX_BODY_CHARS) };
  }
  const threadId = operation.ids.thread_id;
  const continues = operation.actions.some((action) => action === "runs:continue" || action === "runs:resume" || action === "state:write");
  if (threadId && continues) details.thread = await pendingOnThread(threadId, requestId, sources);
  return details;
}

/** The thread's next nodes, its pending interrupts and the tool calls waiting to run, masked. */
async function pendingOnThread(threadId: string, requestId: string, sources: DetailSources): Promise<Record<string, unknown>> {
  let state: Record<string, unknown>;
  try {
    const answer = await gatewayRequest(sources.upstream, sources.auth, { method: "GET", path: `/threads/${encodeURIComponent(threadId)}/state`, requestId, timeoutMs: STATE_TIMEOUT_MS, maxBytes: 16 * 1024 * 1024 });
    if (answer.status !== 200) return { unavailable: `the thread's state could not be read (status ${answer.status})` };
    state = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    return { unavailable: "the thread's state could not be read" };
  }
  const tasks = Array.isArray(state.tasks) ? (state.tasks as Array<Record<string, unknown>>) : [];
  const interrupts = tasks.flatMap((task) => (Array.isArray(task.interrupts) ? (task.interrupts as Array<Record<string, unknown>>) : [])).map((interrupt) => ({ id: interrupt.id, value: interrupt.value }));
  const values = isObject(state.values) ? state.values : {};
  const messages = Array.isArray(values.messages) ? (values.messages as unknown[]) : [];
  const last = messages.at(-1);
  const toolCalls = isObject(last) && Array.isArray(last.tool_calls) ? (last.tool_calls as Array<Record<string, unknown>>).map((call) => ({ id: call.id, name: call.name, args: call.args })) : [];
  const pending = { next: Array.isArray(state.next) ? state.next : [], interrupts, tool_calls: toolCalls };
  try {
    return sources.masker.maskValue(pending).value as Record<string, unknown>;
  } catch {
    return { unavailable: "the thread's pending work could not be masked, so it is not shown" };
  }
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
