// A session as a timeline a person reads node by node (inputs, outputs, messages, tool calls,
// durations, interrupts, approvals, egress calls), and its execution path (the sequence of nodes
// and tool calls) that `portcullis replay --verify` compares with a fresh run.
import type { SessionSummary } from "../ledger/sessionIndex.js";
import type { RecordedEvent } from "./recording.js";
import type { Session } from "./session.js";

export interface ToolCallView {
  name: string;
  args: unknown;
  id?: string;
}

export interface MessageView {
  role: string;
  text: string;
  tool_calls?: ToolCallView[];
  /** For a tool's answer: which tool. */
  name?: string;
}

export interface TimelineStep {
  /** Milliseconds from the start of the request. */
  t: number;
  duration_ms?: number;
  kind: "request" | "approval" | "node" | "interrupt" | "egress" | "error" | "result";
  title: string;
  node?: string;
  detail?: string;
  messages?: MessageView[];
  tool_calls?: ToolCallView[];
  /** The node's (masked) output or the interrupt's value. */
  data?: unknown;
  /** The egress call's own session, to open it. */
  session?: string;
}

export interface ExecutionPath {
  nodes: string[];
  tool_calls: string[];
  /** Where the path was read from: the run's checkpoints, or the recorded stream. */
  source: "checkpoints" | "stream" | "none";
}

export function buildTimeline(session: Session): TimelineStep[] {
  const base = startMs(session);
  const steps: TimelineStep[] = [];
  const request = session.request;
  if (request) {
    const who = request.identity ? `${request.identity.name ?? request.identity.subject}` : "an unidentified caller";
    steps.push({
      t: 0,
      kind: "request",
      title: `${request.method} ${request.path}`,
      detail: `${who} · decision ${request.decision.effect} (rule ${request.decision.rule})${request.status !== undefined ? ` · answered ${request.status} by the gateway` : ""}`,
    });
  }
  for (const approval of session.approvals) {
    steps.push({
      t: Math.max(0, Date.parse(approval.time) - base),
      kind: "approval",
      title: `Approval ${approval.event}`,
      detail: [`by ${approval.actor}`, approval.verdict ? `verdict ${approval.verdict}` : "", approval.reason ? `reason: ${approval.reason}` : "", approval.grant ? `window until ${approval.grant.expires_at}` : ""].filter(Boolean).join(" · "),
    });
  }
  steps.push(...nodeSteps(session));
  for (const call of session.egressCalls) steps.push(egressStep(call, base));
  const completion = session.completion;
  if (completion) {
    const run = session.run;
    steps.push({
      t: completion.duration_ms,
      kind: completion.outcome === "ok" ? "result" : "error",
      title: run ? `Run ${run.status}` : `Answered ${completion.status ?? "nothing"} (${completion.outcome})`,
      detail: [completion.error ? `error ${completion.error}` : "", run?.error ? run.error : "", `${completion.bytes_out} bytes out`, completion.events ? `${Object.values(completion.events).reduce((a, b) => a + b, 0)} events` : ""].filter(Boolean).join(" · "),
    });
  }
  return steps.sort((a, b) => a.t - b.t);
}

/** The nodes and tool calls a session's run took: from the thread's checkpoints when the run was
 * followed (whatever stream mode the client chose), else from the recorded stream. */
export function executionPath(session: Session): ExecutionPath {
  const messages = finalMessages(session);
  const toolCalls = messages.flatMap((message) => message.tool_calls ?? []).map((call) => call.name);
  const run = session.run;
  if (run && run.steps.length > 0) {
    // __start__ is the input being written, not a node of the graph.
    const nodes = run.steps.filter((step) => step.source !== "input").flatMap((step) => [...step.nodes].sort()).filter((node) => node !== "__start__");
    return { nodes, tool_calls: toolCalls, source: "checkpoints" };
  }
  const streamed = nodeSteps(session).filter((step) => step.kind === "node");
  if (streamed.length > 0) {
    return { nodes: streamed.map((step) => step.node!), tool_calls: toolCalls.length > 0 ? toolCalls : streamed.flatMap((step) => step.tool_calls ?? []).map((call) => call.name), source: "stream" };
  }
  return { nodes: [], tool_calls: toolCalls, source: "none" };
}

/** Each position where two paths differ, in words. */
export function comparePaths(recorded: ExecutionPath, rerun: ExecutionPath): string[] {
  const differences: string[] = [];
  const compare = (what: string, a: string[], b: string[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] === b[i]) continue;
      if (a[i] === undefined) differences.push(`${what} ${i + 1}: the re-run also took ${b[i]} (not in the recording)`);
      else if (b[i] === undefined) differences.push(`${what} ${i + 1}: the recording took ${a[i]}; the re-run stopped before it`);
      else differences.push(`${what} ${i + 1}: recorded ${a[i]}, re-run ${b[i]}`);
    }
  };
  compare("node", recorded.nodes, rerun.nodes);
  compare("tool call", recorded.tool_calls, rerun.tool_calls);
  return differences;
}

function nodeSteps(session: Session): TimelineStep[] {
  const recording = session.recording;
  const events = recording?.kind === "events" ? recording.events : [];
  const steps: TimelineStep[] = [];
  let previousT = events[0]?.t ?? 0;
  const push = (step: TimelineStep) => {
    steps.push({ ...step, duration_ms: Math.max(0, step.t - previousT) });
    previousT = step.t;
  };
  const hasUpdates = events.some((event) => baseMode(event) === "updates");
  const hasDebug = events.some((event) => baseMode(event) === "debug");
  const loopSteps = (session.run?.steps ?? []).filter((step) => step.source === "loop");
  let valuesSeen = 0;
  let previousMessages = 0;
  for (const event of events) {
    const mode = baseMode(event);
    const data = parseData(event);
    if (mode === "updates" && isObject(data)) {
      for (const [node, update] of Object.entries(data)) {
        if (node === "__interrupt__") push({ t: event.t, kind: "interrupt", title: "Interrupted: waiting for input", data: update });
        else push(nodeStep(event.t, node, update, messagesOf(update)));
      }
    } else if (mode === "debug" && !hasUpdates && isObject(data) && data.type === "task_result" && isObject(data.payload)) {
      const payload = data.payload;
      push(nodeStep(event.t, String(payload.name), payload.result, messagesOf(payload.result)));
    } else if (mode === "values" && !hasUpdates && !hasDebug && isObject(data)) {
      valuesSeen++;
      const all = messagesOf(data);
      const fresh = all.slice(previousMessages);
      previousMessages = all.length;
      if (Array.isArray(data.__interrupt__)) push({ t: event.t, kind: "interrupt", title: "Interrupted: waiting for input", data: data.__interrupt__ });
      // The first values event is the input; each later one follows a step of the run.
      else if (valuesSeen > 1) {
        const nodes = loopSteps[valuesSeen - 2]?.nodes ?? [];
        push(nodeStep(event.t, nodes.join(", ") || `step ${valuesSeen - 1}`, data, fresh));
      }
    } else if (event.event === "error") {
      push({ t: event.t, kind: "error", title: "Error", data });
    }
  }
  if (steps.length === 0 && loopSteps.length > 0) {
    // No stream recorded (a background or wait run): the steps from the thread's checkpoints.
    for (const step of loopSteps) steps.push({ t: 0, kind: "node", node: step.nodes.join(", "), title: `Step ${step.step}: ${step.nodes.join(", ") || "(no writes)"}` });
  }
  return steps;
}

function nodeStep(t: number, node: string, output: unknown, messages: MessageView[]): TimelineStep {
  const toolCalls = messages.flatMap((message) => message.tool_calls ?? []);
  return {
    t,
    kind: "node",
    node,
    title: `Node ${node}`,
    ...(messages.length > 0 ? { messages } : {}),
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    data: output,
  };
}

function egressStep(call: SessionSummary, base: number): TimelineStep {
  return {
    t: Math.max(0, call.startedMs - base),
    ...(call.endedMs !== null ? { duration_ms: call.endedMs - call.startedMs } : {}),
    kind: "egress",
    title: `Egress ${call.route ?? ""}: ${call.method} ${call.path}`,
    detail: `${call.subject ?? "unknown"} · ${call.decision} · ${call.httpStatus ?? "no status"} (${call.status})`,
    session: call.requestId,
  };
}

/** When the exchange began, on the wall clock: the completion's time less its duration. */
function startMs(session: Session): number {
  const completion = session.completion;
  if (completion) return Date.parse(completion.time) - completion.duration_ms;
  return session.summary.startedMs;
}

function finalMessages(session: Session): MessageView[] {
  if (session.output?.text !== undefined) {
    const values = safeParse(session.output.text);
    if (isObject(values)) return messagesOf(values);
  }
  const recording = session.recording;
  if (recording?.kind !== "events") return [];
  const lastValues = recording.events.filter((event) => baseMode(event) === "values").at(-1);
  if (lastValues) return messagesOf(parseData(lastValues));
  return recording.events.filter((event) => baseMode(event) === "updates").flatMap((event) => {
    const data = parseData(event);
    return isObject(data) ? Object.values(data).flatMap(messagesOf) : [];
  });
}

/** Messages in a state or an update, as LangChain serialises them (plain dicts or lc constructors). */
export function messagesOf(value: unknown): MessageView[] {
  if (!isObject(value)) return [];
  const list = Array.isArray(value.messages) ? value.messages : value.messages !== undefined ? [value.messages] : [];
  return list.filter(isObject).map((raw) => {
    const message = raw.lc === 1 && isObject(raw.kwargs) ? { ...raw.kwargs, type: Array.isArray(raw.id) ? String(raw.id.at(-1)) : raw.type } : raw;
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isObject).map((call) => ({ name: String(call.name), args: call.args, ...(typeof call.id === "string" ? { id: call.id } : {}) })) : [];
    return {
      role: roleOf(String(message.type ?? message.role ?? "message")),
      text: textOf(message.content),
      ...(calls.length > 0 ? { tool_calls: calls } : {}),
      ...(typeof message.name === "string" ? { name: message.name } : {}),
    };
  });
}

function roleOf(type: string): string {
  const known: Record<string, string> = { human: "user", HumanMessage: "user", ai: "assistant", AIMessage: "assistant", AIMessageChunk: "assistant", tool: "tool", ToolMessage: "tool", system: "system", SystemMessage: "system" };
  return known[type] ?? type;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (isObject(part) && typeof part.text === "string" ? part.text : "")).join("");
  return content === undefined ? "" : JSON.stringify(content);
}

/** "updates|subgraph:1" → "updates": the stream mode an event belongs to. */
function baseMode(event: RecordedEvent): string {
  return event.event.split("|")[0]!;
}

function parseData(event: RecordedEvent): unknown {
  return safeParse(event.data);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
