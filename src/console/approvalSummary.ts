// What an approval lets happen, in one line an approver reads before anything else:
// `agent → tool send_email(to=[EMAIL_ADDRESS])`, `hitl → resume approve`, `agent → start a run:
// "summarise…"`. Built from the approval's masked details (src/approve/details.ts): the pending
// tool calls and interrupts of the thread, else the run's input, else the actions.
import type { ApprovalView } from "../approve/index.js";
import { isObject } from "../jsonText.js";

const MAX_VALUE = 48;
const MAX_LINE = 240;

export function approvalSummary(a: Pick<ApprovalView, "request" | "details">): string {
  const graph = a.request.graphs.join(", ") || "(graph unknown)";
  const details = isObject(a.details) ? a.details : {};
  const thread = isObject(details.thread) ? details.thread : {};
  const toolCalls = Array.isArray(thread.tool_calls) ? thread.tool_calls.filter(isObject) : [];
  const interrupts = Array.isArray(thread.interrupts) ? thread.interrupts.filter(isObject) : [];
  const next = Array.isArray(thread.next) ? thread.next.filter((n): n is string => typeof n === "string") : [];
  let line: string;
  if (toolCalls.length > 0) {
    line = `${graph} → ${toolCalls.map((call) => `tool ${String(call.name ?? "?")}(${argsText(call.args)})`).join(", ")}`;
  } else if (interrupts.length > 0) {
    line = `${graph} → resume ${next.join(", ") || "the interrupted node"}${interrupts[0]!.value !== undefined ? ` (asked: ${short(interrupts[0]!.value)})` : ""}`;
  } else if (next.length > 0) {
    line = `${graph} → continue into ${next.join(", ")}`;
  } else if (a.request.actions.includes("runs:create")) {
    const input = inputText(details.body);
    line = `${graph} → start a run${input ? `: ${input}` : ""}`;
  } else {
    line = `${graph} → ${a.request.actions.join(", ") || `${a.request.method} ${a.request.path}`}`;
  }
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line;
}

/** `to=[EMAIL_ADDRESS], body=hi` */
function argsText(args: unknown): string {
  if (!isObject(args)) return args === undefined ? "" : short(args);
  return Object.entries(args).map(([key, value]) => `${key}=${short(value)}`).join(", ");
}

/** The last message of the run's input, or its input as JSON. */
function inputText(body: unknown): string {
  if (!isObject(body)) return "";
  if (isObject(body.command)) return `command ${short(body.command)}`;
  const input = body.input;
  if (isObject(input) && Array.isArray(input.messages)) {
    const last = input.messages.at(-1);
    const content = isObject(last) ? last.content : last;
    return `"${short(content, false)}"`;
  }
  return input === undefined || input === null ? "" : short(input);
}

function short(value: unknown, quoteStrings = false): string {
  const text = typeof value === "string" ? (quoteStrings ? JSON.stringify(value) : value) : (JSON.stringify(value) ?? "");
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}
