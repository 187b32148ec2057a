// What approvers see besides who and what: the request body (masked), and for a request that
// continues or resumes a thread, what it would let happen: the pending tool calls before a
// breakpoint (interrupt_before) and the interrupt the graph raised (langgraph-api.md §8).
import type { Operation } from "../classify/index.js";
import { gatewayRequest, type GatewayAuth, type UpstreamClient } from "../forward/index.js";
import type { Masker } from "../mask/index.js";
import { isObject } from "../jsonText.js";

const MAX_BODY_CHARS = 4_096;
const MAX_THREAD_CHARS = 16_384;
const STATE_TIMEOUT_MS = 10_000;

export interface DetailSources {
  upstream: UpstreamClient;
  auth: GatewayAuth;
  masker: Masker;
}

interface ApprovalDetails {
  details: Record<string, unknown>;
  /** The checkpoint of the thread approvers were shown, for requests that act on its pending work. */
  threadCheckpoint: string | null;
}

export async function approvalDetails(operation: Operation, maskedBody: string | undefined, requestId: string, sources: DetailSources): Promise<ApprovalDetails> {
  const details: Record<string, unknown> = { route: operation.route, risk_reasons: operation.risk_reasons };
  if (maskedBody !== undefined) {
    details.body = maskedBody.length <= MAX_BODY_CHARS ? parseOr(maskedBody) : { truncated: true, chars: maskedBody.length, start: maskedBody.slice(0, MAX_BODY_CHARS) };
  }
  const threadId = actsOnPendingWork(operation);
  if (!threadId) return { details, threadCheckpoint: null };
  const state = await threadState(threadId, requestId, sources);
  if (typeof state === "string") {
    details.thread = { unavailable: state };
    return { details, threadCheckpoint: null };
  }
  details.thread = pendingWork(state, sources.masker);
  return { details, threadCheckpoint: checkpointOf(state) };
}

/** The thread whose pending work (interrupt, breakpoint, state) a request acts on, if any. */
export function actsOnPendingWork(operation: Operation): string | undefined {
  const acts = operation.actions.some((action) => action === "runs:continue" || action === "runs:resume" || action === "state:write");
  return acts ? operation.ids.thread_id : undefined;
}

/** The thread's current checkpoint id; null when it cannot be read. */
export async function currentCheckpoint(threadId: string, requestId: string, sources: DetailSources): Promise<string | null> {
  const state = await threadState(threadId, requestId, sources);
  return typeof state === "string" ? null : checkpointOf(state);
}

async function threadState(threadId: string, requestId: string, sources: DetailSources): Promise<Record<string, unknown> | string> {
  try {
    const answer = await gatewayRequest(sources.upstream, sources.auth, { method: "GET", path: `/threads/${encodeURIComponent(threadId)}/state`, requestId, timeoutMs: STATE_TIMEOUT_MS, maxBytes: 16 * 1024 * 1024 });
    if (answer.status !== 200) return `the thread's state could not be read (status ${answer.status})`;
    const state: unknown = JSON.parse(answer.text);
    return isObject(state) ? state : "the thread's state is not a JSON object";
  } catch {
    return "the thread's state could not be read";
  }
}

function checkpointOf(state: Record<string, unknown>): string | null {
  const checkpoint = isObject(state.checkpoint) ? state.checkpoint : {};
  return typeof checkpoint.checkpoint_id === "string" ? checkpoint.checkpoint_id : null;
}

/** The thread's next nodes, its pending interrupts and the tool calls waiting to run, masked. */
function pendingWork(state: Record<string, unknown>, masker: Masker): Record<string, unknown> {
  const tasks = Array.isArray(state.tasks) ? (state.tasks as Array<Record<string, unknown>>) : [];
  const interrupts = tasks.flatMap((task) => (Array.isArray(task.interrupts) ? (task.interrupts as Array<Record<string, unknown>>) : [])).map((interrupt) => ({ id: interrupt.id, value: interrupt.value }));
  const values = isObject(state.values) ? state.values : {};
  const messages = Array.isArray(values.messages) ? (values.messages as unknown[]) : [];
  const last = messages.at(-1);
  const toolCalls = isObject(last) && Array.isArray(last.tool_calls) ? (last.tool_calls as Array<Record<string, unknown>>).map((call) => ({ id: call.id, name: call.name, args: call.args })) : [];
  const pending = { next: Array.isArray(state.next) ? state.next : [], interrupts, tool_calls: toolCalls };
  let masked: Record<string, unknown>;
  try {
    masked = masker.maskValue(pending).value as Record<string, unknown>;
  } catch {
    return { unavailable: "the thread's pending work could not be masked, so it is not shown" };
  }
  // Stored and sent to notifiers: bounded, with the names of the calls kept.
  if (JSON.stringify(masked).length <= MAX_THREAD_CHARS) return masked;
  return { next: pending.next, truncated: true, tool_calls: toolCalls.map((call) => ({ id: call.id, name: call.name })), interrupts: interrupts.length };
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
