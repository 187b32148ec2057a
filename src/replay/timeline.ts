// A session as a timeline a person reads node by node (inputs, outputs, messages, tool calls,
// durations, interrupts, approvals, egress calls), and its execution path (the sequence of nodes
// and tool calls) that `portcullis replay --verify` compares with a fresh run.
import type { SessionSummary } from "../ledger/index.js";
import type { RecordedEvent } from "./recording.js";
import type { Session } from "./session.js";
import { isObject } from "../jsonText.js";

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
  kind: "request" | "approval" | "node" | "interrupt" | "egress" | "error" | "result" | "note";
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
  const end = session.completion?.duration_ms ?? 0;
  const nodes = nodeSteps(session);
  steps.push(...nodes);
  if (!nodes.some((step) => step.kind === "interrupt")) {
    const pending = pendingInterrupt(session);
    if (pending) steps.push({ ...pending, t: Math.max(end, nodes.at(-1)?.t ?? 0) });
  }
  for (const call of session.egressCalls) steps.push(egressStep(call, base));
  const completion = session.completion;
  if (completion) {
    const run = session.run;
    const status = statusOf(session, nodes);
    const counted = countedSteps(session, nodes);
    steps.push({
      t: Math.max(completion.duration_ms, ...steps.map((step) => step.t)),
      kind: completion.outcome === "ok" ? "result" : "error",
      title: run ? `Run ${status}` : `Answered ${completion.status ?? "nothing"} (${completion.outcome})`,
      detail: [counted !== undefined ? `${counted} ${counted === 1 ? "step" : "steps"}` : "", completion.error ? `error ${completion.error}` : "", run?.error ? run.error : "", `${completion.bytes_out} bytes out`, completion.events ? `${Object.values(completion.events).reduce((a, b) => a + b, 0)} events` : ""].filter(Boolean).join(" · "),
    });
  }
  return steps.sort((a, b) => a.t - b.t);
}

/** The status a person reads: LangGraph calls a run that stopped at `interrupt()` or a breakpoint
 * "success", so pending work makes it "interrupted"; a stateless run's status is its outcome. */
export function sessionStatus(session: Session): string {
  return statusOf(session, nodeSteps(session));
}

function statusOf(session: Session, nodes: TimelineStep[]): string {
  const status = session.summary.status;
  if (session.run && (status === "success" || status === "ok") && (nodes.some((step) => step.kind === "interrupt") || pendingInterrupt(session))) return "interrupted";
  return status;
}

/** How many graph steps the run took, when that is known (undefined: a stateless run answered
 * as one body, whose checkpoints LangGraph does not keep). */
function countedSteps(session: Session, nodes: TimelineStep[]): number | undefined {
  if (!session.run) return undefined;
  const fromCheckpoints = graphSteps(session).length;
  const streamed = nodes.filter((step) => step.kind === "node").length;
  if (fromCheckpoints > 0 || streamed > 0) return Math.max(fromCheckpoints, streamed);
  return session.run.thread_id === null ? undefined : 0;
}

/** The nodes and tool calls a session's run took: from the thread's checkpoints when the run was
 * followed (whatever stream mode the client chose), else from the recorded stream. */
export function executionPath(session: Session): ExecutionPath {
  const messages = finalMessages(session);
  const toolCalls = messages.flatMap((message) => message.tool_calls ?? []).map((call) => call.name);
  const checkpoints = graphSteps(session);
  if (checkpoints.length > 0 || (session.run?.steps.length ?? 0) > 0) {
    return { nodes: checkpoints.flatMap((step) => [...step.nodes].sort()), tool_calls: toolCalls, source: "checkpoints" };
  }
  const streamed = nodeSteps(session).filter((step) => step.kind === "node" && step.node !== undefined);
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

interface GraphStep {
  step: number;
  source: string;
  nodes: string[];
}

/** The steps of the graph itself, from the run's checkpoints (metadata.step, metadata.source and
 * the nodes that wrote each one). LangGraph JS 1.x writes the input as step -1 (source "input")
 * and runs `__start__` as loop step 0; neither is a node of the graph. */
function graphSteps(session: Session): GraphStep[] {
  return (session.run?.steps ?? [])
    .filter((step) => step.source !== "input")
    .map((step) => ({ ...step, nodes: step.nodes.filter((node) => node !== "__start__") }))
    .filter((step) => step.nodes.length > 0 || (step.source === "loop" && step.step > 0));
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
  const checkpoints = graphSteps(session);
  let valuesSeen = 0;
  let previousMessages = 0;
  for (const event of events) {
    const mode = baseMode(event);
    const namespace = subgraphOf(event);
    const data = parseData(event);
    if (mode === "updates" && isObject(data)) {
      for (const [node, update] of Object.entries(data)) {
        if (node === "__interrupt__") push(interruptStep(event.t, update, pendingNodes(session)));
        else push(nodeStep(event.t, node, update, messagesOf(update), namespace));
      }
    } else if (mode === "debug" && !hasUpdates && isObject(data) && data.type === "task_result" && isObject(data.payload)) {
      const payload = data.payload;
      push(nodeStep(event.t, String(payload.name), payload.result, messagesOf(payload.result), namespace));
    } else if (mode === "values" && !hasUpdates && !hasDebug && isObject(data) && namespace === undefined) {
      valuesSeen++;
      const all = messagesOf(data);
      const fresh = all.slice(previousMessages);
      previousMessages = all.length;
      if (Array.isArray(data.__interrupt__)) push(interruptStep(event.t, data.__interrupt__, pendingNodes(session)));
      // The first values event is the input the run started from; each later one follows one
      // step of the graph, in the order of the run's checkpoints.
      else if (valuesSeen > 1) {
        const nodes = checkpoints[valuesSeen - 2]?.nodes ?? [];
        push(nodeStep(event.t, nodes.join(", ") || `step ${valuesSeen - 1}`, data, fresh));
      }
    } else if (event.event === "error") {
      push({ t: event.t, kind: "error", title: "Error", data });
    }
  }
  if (!steps.some((step) => step.kind === "node") && checkpoints.length > 0) {
    // Nothing in the stream names the nodes (a background or wait run, or only messages or
    // custom events): the steps from the run's checkpoints, in order.
    const at = steps.at(-1)?.t ?? 0;
    const fromCheckpoints = checkpoints.map((step): TimelineStep => ({ t: at, kind: "node", ...(step.nodes.length > 0 ? { node: step.nodes.join(", ") } : {}), title: `Node ${step.nodes.join(", ") || "(resumed work)"}`, detail: `step ${step.step} (${step.source}), from the run's checkpoints` }));
    steps.unshift(...fromCheckpoints);
  } else if (!steps.some((step) => step.kind === "node") && session.run?.thread_id === null && session.run.steps.length === 0) {
    steps.push({ t: 0, kind: "note", title: "Steps not recorded", detail: "A stateless run keeps no checkpoints once it ends, and its answer was one body, not a stream of steps; its final values are below." });
  }
  return steps;
}

/** The interrupt or breakpoint a run stopped at, when the stream did not show it: from the
 * `__interrupt__` of a /runs/wait answer, or the work the run's last checkpoint left pending. */
function pendingInterrupt(session: Session): TimelineStep | undefined {
  const recording = session.recording;
  if (recording?.kind === "body") {
    const body = safeParse(recording.body);
    if (isObject(body) && Array.isArray(body.__interrupt__)) return interruptStep(0, body.__interrupt__, pendingNodes(session));
  }
  // An errored run also leaves its failed node pending; only a run that ended well stopped there.
  const next = session.run?.status === "success" ? (session.run.next ?? []) : [];
  if (next.length > 0) {
    const interrupts = session.run?.interrupts ?? 0;
    return interrupts > 0
      ? { t: 0, kind: "interrupt", node: next.join(", "), title: `Interrupted in ${next.join(", ")}: waiting for input`, detail: `${interrupts} interrupt() ${interrupts === 1 ? "call waits" : "calls wait"} for a resume (Command)` }
      : { t: 0, kind: "interrupt", node: next.join(", "), title: `Paused at a breakpoint before ${next.join(", ")}`, detail: "interrupt_before: the thread continues when it is run again" };
  }
  return undefined;
}

function pendingNodes(session: Session): string[] {
  return session.run?.next ?? [];
}

function interruptStep(t: number, value: unknown, next: string[]): TimelineStep {
  const where = next.length > 0 ? next.join(", ") : undefined;
  if (Array.isArray(value) && value.length === 0) {
    return { t, kind: "interrupt", ...(where ? { node: where } : {}), title: where ? `Paused at a breakpoint before ${where}` : "Paused at a breakpoint", detail: "interrupt_before: the thread continues when it is run again" };
  }
  return { t, kind: "interrupt", ...(where ? { node: where } : {}), title: where ? `Interrupted in ${where}: waiting for input` : "Interrupted: waiting for input", data: value };
}

/** "updates|agent:1a2b…|tools:3c4d…" → "agent › tools": the subgraph an event came from. */
function subgraphOf(event: RecordedEvent): string | undefined {
  const parts = event.event.split("|").slice(1);
  if (parts.length === 0) return undefined;
  return parts.map((part) => part.split(":")[0]).join(" › ");
}

function nodeStep(t: number, node: string, output: unknown, messages: MessageView[], subgraph?: string): TimelineStep {
  const toolCalls = messages.flatMap((message) => message.tool_calls ?? []);
  return {
    t,
    kind: "node",
    node: subgraph ? `${subgraph} › ${node}` : node,
    title: `Node ${node}`,
    ...(subgraph ? { detail: `in subgraph ${subgraph}` } : {}),
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
function messagesOf(value: unknown): MessageView[] {
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
