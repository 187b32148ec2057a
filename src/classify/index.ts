// classify: request-target + body -> Operation. Unknown routes are refused here (deny by default).
import { GatewayError } from "../errors.js";
import type { RequestTarget } from "../receive/index.js";
import { classifyA2aMessage } from "./a2a.js";
import { classifyMcpMessage } from "./mcp.js";
import type { Operation, OperationIds, RiskClass } from "./operation.js";
import { BLOCKED_PREFIXES, customRouteSpec, ROUTES, type RouteSpec } from "./routes.js";
import { BodyValidationError, invalidType, notUuid, UnknownProtocolCommand, type ValidationIssue } from "./validation.js";
import { isObject } from "../jsonText.js";

export { ACTIONS, type Action } from "./actions.js";
export { UnknownJsonRpcMethod } from "./jsonRpc.js";
export type { Operation } from "./operation.js";
export { BLOCKED_PREFIXES, ROUTES } from "./routes.js";
export { BodyValidationError, UnknownProtocolCommand } from "./validation.js";

const RISK_ORDER: RiskClass[] = ["read", "write", "execute", "steer-state"];

/** limits.max_batch_runs's default: the most runs one /runs/batch may start. */
const DEFAULT_MAX_BATCH_RUNS = 100;

// LangGraph's Command (langgraph-sdk `Command`): resume, goto, update. The JS server's schema strips
// any other key, so `{"Goto": "x"}` would arrive as an empty command: refused rather than guessed at.
const COMMAND_KEYS = new Set(["resume", "goto", "update"]);

interface RouteMatch {
  spec: RouteSpec;
  ids: OperationIds;
}

/** LangGraph's routes and those the gateway config declares (routes.custom), matched in that
 * order; the config refuses a custom route that overlaps one of LangGraph's. */
export class RouteTable {
  private readonly compiled: ReadonlyArray<{ spec: RouteSpec; parts: string[] }>;
  readonly customCount: number;

  constructor(custom: ReadonlyArray<Parameters<typeof customRouteSpec>[0]> = []) {
    this.compiled = [...ROUTES, ...custom.map(customRouteSpec)].map((spec) => ({ spec, parts: spec.pattern.slice(1).split("/") }));
    this.customCount = custom.length;
  }

  /** Matches method + path, before any body is read. */
  match(method: string, target: RequestTarget): RouteMatch {
    const path = target.path;
    for (const blocked of BLOCKED_PREFIXES) {
      if (path === blocked.prefix || path.startsWith(`${blocked.prefix}/`)) {
        throw new GatewayError(403, "PC_BLOCKED_ROUTE", `${blocked.reason}.`);
      }
    }
    const allowed: string[] = [];
    for (const { spec, parts } of this.compiled) {
      const ids = matchPattern(parts, target.segments);
      if (!ids) continue;
      if (spec.method === method) return { spec, ids };
      if (!allowed.includes(spec.method)) allowed.push(spec.method);
    }
    if (allowed.length > 0) {
      throw new GatewayError(405, "PC_METHOD_NOT_ALLOWED", `${method} is not an allowed method for ${path}.`, { allow: allowed });
    }
    throw new GatewayError(
      404,
      "PC_UNKNOWN_ROUTE",
      `${method} ${path} is not a LangGraph API route Portcullis forwards; a route the server adds (langgraph.json http.app) is forwarded once it is declared under routes.custom in the gateway config.`,
    );
  }
}

const BUILT_IN_ROUTES = new RouteTable();

/** Matches method + path against LangGraph's route table (and `table`'s custom routes). */
export function matchRoute(method: string, target: RequestTarget, table: RouteTable = BUILT_IN_ROUTES): RouteMatch {
  return table.match(method, target);
}

function matchPattern(parts: string[], segments: string[]): OperationIds | undefined {
  if (parts.length !== segments.length) return undefined;
  const ids: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i]!;
    const segment = segments[i]!;
    if (part.startsWith(":")) {
      if (segment === "") return undefined;
      ids[part.slice(1)] = segment;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return ids;
}

/** Completes the Operation once the body is known: run bodies and v2 commands change the risk.
 * `maxBatchRuns` is limits.max_batch_runs. */
const PATH_UUIDS = ["thread_id", "run_id", "checkpoint_id", "cron_id"] as const;

export function classifyOperation(match: RouteMatch, target: RequestTarget, body: unknown, maxBatchRuns = DEFAULT_MAX_BATCH_RUNS): Operation {
  const { spec, ids } = match;
  const operation: Operation = {
    route: spec.route,
    resource: spec.resource,
    action: spec.action,
    actions: [spec.action],
    risk: spec.risk,
    response: spec.response,
    ids: { ...ids },
    assistant_ids: [],
    risk_reasons: [],
    creates_run: spec.runBody !== undefined,
  };
  // LangGraph refuses a thread, run, checkpoint or cron id in the path that is not a UUID (400, a Zod issue
  // naming the parameter; protocol v2's routes answer not-found instead): refused here in its
  // words, before an ownership lookup asks about it.
  if (spec.resource !== "protocol" && spec.resource !== "custom") {
    for (const name of PATH_UUIDS) {
      const issue = ids[name] === undefined ? undefined : notUuid([name], ids[name]);
      if (issue) throw badBody(`the path's ${name} must be a UUID`, issue);
    }
  }
  // A cron names its thread in the body on /runs/crons: checked as if the path named it.
  if (spec.route === "crons.create") cronThread(operation, body);
  if (spec.runBody === "single") classifyRunBody(operation, body);
  if (spec.runBody === "batch") {
    if (!Array.isArray(body)) throw badBody("/runs/batch takes a JSON array of runs", invalidType([], "array", body));
    // One request, many runs: bounded before any is looked at.
    if (body.length > maxBatchRuns) {
      throw new GatewayError(413, "PC_BODY_TOO_LARGE", `Refused: this /runs/batch has ${body.length} runs, more than the ${maxBatchRuns} one batch may start (limits.max_batch_runs); split it into smaller batches.`);
    }
    operation.run_count = body.length;
    body.forEach((run: unknown, index) => classifyRunBody(operation, run, [index]));
  }
  // A new thread's id: LangGraph refuses one that is not a UUID, and the ownership check that
  // looks it up must not see it first.
  if (spec.route === "threads.create" && field(body, "thread_id") != null) {
    const issue = notUuid(["thread_id"], field(body, "thread_id"));
    if (issue) throw badBody("a new thread's thread_id must be a UUID", issue);
  }
  if (spec.route === "threads.create" && hasEntries(field(body, "supersteps"))) {
    raise(operation, "steer-state", "supersteps", "state:write");
  }
  if (spec.route === "runs.join_stream" && isTruthyFlag(target.query.getAll("cancel_on_disconnect"))) {
    raise(operation, "write", "cancel_on_disconnect", "runs:cancel");
  }
  if (spec.route === "protocol.command") classifyProtocolCommand(operation, body);
  if (spec.route === "mcp.request") classifyMcpMessage(operation, body);
  if (spec.route === "a2a.request") classifyA2aMessage(operation, body);
  if (spec.route === "a2a.card") agentCardAssistant(operation, target);
  if (spec.body !== undefined) customBody(operation, spec, body);
  // A graph id names the graph's system assistant, so graph-scoped rules apply to its UI.
  if (spec.resource === "ui") operation.ids.assistant_id = operation.ids.graph_id;
  // These bodies are narrowed or stamped by authorize: anything but an object (or nothing) is refused.
  if (["threads.create", "threads.search", "threads.count", "threads.update", "crons.search", "crons.count", "crons.update"].includes(spec.route) && body !== undefined && !isObject(body)) {
    throw badBody(`the ${spec.route} body must be a JSON object`, invalidType([], "object", body));
  }
  // Config, context and graph decide how the assistant's future runs execute; set_latest restores
  // an older version's.
  if (["assistants.update", "assistants.create"].includes(spec.route) && ["config", "context", ...(spec.route === "assistants.update" ? ["graph_id"] : [])].some((name) => field(body, name) !== undefined)) {
    raise(operation, "steer-state", "assistant config", "assistants:configure");
  }
  if (spec.route === "assistants.set_latest") raise(operation, "steer-state", "assistant version", "assistants:configure");
  if (spec.resource === "store") operation.namespace = storeNamespace(spec.route, target, body);
  if (spec.route === "assistants.delete" && isTruthyFlag(target.query.getAll("delete_threads"))) operation.risk_reasons.push("delete_threads");
  if (spec.route === "runs.cancel" && target.query.getAll("action").includes("rollback")) operation.risk_reasons.push("rollback");
  return operation;
}

// A custom route's body: refused when the config says it takes none, always masked upstream when
// the config says mask (the pipeline reads request_body).
function customBody(operation: Operation, spec: RouteSpec, body: unknown): void {
  if (body === undefined) return;
  if (spec.body === "refuse") throw badBody(`${spec.method} ${spec.pattern} (${spec.route}) takes no body (routes.custom body: refuse)`);
  if (spec.body === "mask") operation.request_body = "mask";
}

function classifyRunBody(operation: Operation, body: unknown, path: number[] = []): void {
  if (!isObject(body)) throw badBody("a run body must be a JSON object", invalidType(path, "object", body));
  const assistantId = body.assistant_id;
  if (typeof assistantId === "string") {
    operation.assistant_ids.push(assistantId);
    operation.ids.assistant_id ??= assistantId;
  }
  // null is no command (the stateless run schema is nullish; the stateful one refuses it).
  const command = body.command ?? undefined;
  if (command !== undefined) classifyCommand(operation, command, [...path, "command"]);
  if (body.checkpoint != null || body.checkpoint_id != null || forksFromCheckpoint(body.config)) {
    raise(operation, "steer-state", "checkpoint", "state:write");
  }
  // No input and no command on a thread continues from its last checkpoint, past a static
  // breakpoint or a state written as_node (langgraph-api.md §8, bypass 1 and 3).
  if ((body.input === null || body.input === undefined) && command === undefined && operation.ids.thread_id) {
    raise(operation, "steer-state", "input:null", "runs:continue");
  }
  if (body.webhook != null) operation.risk_reasons.push("webhook");
  // A run's interrupt_before/after replaces the graph's compiled breakpoints: [] removes a gate.
  if (body.interrupt_before !== undefined || body.interrupt_after !== undefined) raise(operation, "steer-state", "interrupt_before/after", "state:write");
  // interrupt and rollback cancel the thread's runs in flight (rollback deletes their checkpoints).
  if (body.multitask_strategy === "interrupt" || body.multitask_strategy === "rollback") raise(operation, operation.risk, `multitask_strategy:${body.multitask_strategy}`, "runs:cancel");
  const onDisconnect = body.on_disconnect;
  if (onDisconnect === "cancel" || onDisconnect === "continue") operation.on_disconnect = onDisconnect;
}

// LangGraph runs a command in place of the input whatever it holds (kwargs.command != null).
function classifyCommand(operation: Operation, command: unknown, path: Array<string | number>): void {
  if (!isObject(command)) throw badBody("'command' must be an object with resume, goto or update", invalidType(path, "object", command));
  const unknown = Object.keys(command).filter((key) => !COMMAND_KEYS.has(key));
  if (unknown.length > 0) throw badBody(`'command' takes resume, goto and update only, not ${unknown.map((key) => `'${key}'`).join(", ")}`);
  // command.update / command.goto write state or jump past an interrupt (langgraph-api.md §8).
  if (command.update != null) raise(operation, "steer-state", "command.update", "state:write");
  if (command.goto != null) raise(operation, "steer-state", "command.goto", "state:write");
  if (command.resume != null) raise(operation, "execute", "command.resume", "runs:resume");
  // One with nothing in it (`{}`, every field null) on a thread continues from the checkpoint with
  // no answer, past the interrupt, as input: null does (bypass 1).
  const empty = command.resume == null && command.update == null && command.goto == null;
  if (empty && operation.ids.thread_id) raise(operation, "steer-state", "command:empty", "runs:continue");
}

/** POST /runs/crons names the cron's thread in the body; /threads/{id}/runs/crons in the path,
 * where a body naming another thread is ambiguous and refused. */
function cronThread(operation: Operation, body: unknown): void {
  const named = field(body, "thread_id");
  if (named === undefined || named === null) return;
  if (typeof named !== "string") throw badBody("a cron's thread_id must be a thread id", invalidType(["thread_id"], "string", named));
  if (named === "") throw badBody("a cron's thread_id must be a thread id");
  if (operation.ids.thread_id !== undefined && operation.ids.thread_id !== named) throw badBody("the body's thread_id names another thread than the path");
  operation.ids.thread_id = named;
}

// v2 `/threads/{id}/commands`: the JSON-RPC-like method decides what the request does.
function classifyProtocolCommand(operation: Operation, body: unknown): void {
  if (!isObject(body)) throw badBody("a protocol command must be a JSON object", invalidType([], "object", body));
  if (typeof body.method !== "string") throw badBody("a protocol command needs a string 'method'", invalidType(["method"], "string", body.method));
  const params = isObject(body.params) ? body.params : {};
  // The route's placeholder verb is replaced by what the method does.
  operation.actions = [];
  switch (body.method) {
    case "run.start":
      operation.creates_run = true;
      raise(operation, "execute", "run.start", "runs:create");
      // With no input LangGraph continues the thread from its checkpoint, as input: null does;
      // with input on an interrupted thread it resumes it (authorize checks the thread's status).
      if (params.input === null || params.input === undefined) raise(operation, "steer-state", "input:null", "runs:continue");
      // On a thread with a pending interrupt, update and goto ride along with the resume.
      if (params.update != null) raise(operation, "steer-state", "run.start.update", "state:write");
      if (params.goto != null) raise(operation, "steer-state", "run.start.goto", "state:write");
      if (forksFromCheckpoint(params.config) || params.fork_from != null || params.forkFrom != null) {
        raise(operation, "steer-state", "checkpoint", "state:write");
      }
      if (typeof params.assistant_id === "string") {
        operation.assistant_ids.push(params.assistant_id);
        operation.ids.assistant_id = params.assistant_id;
      }
      return;
    case "input.respond":
      operation.creates_run = true;
      raise(operation, "execute", "input.respond", "runs:create");
      raise(operation, "execute", "input.respond", "runs:resume");
      if (params.update != null) raise(operation, "steer-state", "input.respond.update", "state:write");
      if (params.goto != null) raise(operation, "steer-state", "input.respond.goto", "state:write");
      if (forksFromCheckpoint(params.config)) raise(operation, "steer-state", "checkpoint", "state:write");
      return;
    case "state.get":
    case "agent.getTree":
    case "subscription.subscribe":
    case "subscription.unsubscribe":
    case "subscription.reconnect":
      operation.action = body.method.startsWith("state") ? "state:read" : "threads:read";
      operation.actions = [operation.action];
      return;
    default:
      // LangGraph checks the id before the method.
      if (typeof body.id !== "number") throw badBody("a protocol command needs a numeric 'id'", invalidType(["id"], "number", body.id));
      throw new UnknownProtocolCommand(body.id, body.method);
  }
}

// The JS server also forks from config.configurable.checkpoint_id / checkpoint_ns / checkpoint_map.
function forksFromCheckpoint(config: unknown): boolean {
  const configurable = isObject(config) ? config.configurable : undefined;
  return isObject(configurable) && (configurable.checkpoint_id != null || configurable.checkpoint_ns != null || configurable.checkpoint_map != null);
}

function raise(operation: Operation, risk: RiskClass, reason: string, action: string): void {
  if (!operation.risk_reasons.includes(reason)) operation.risk_reasons.push(reason);
  if (!operation.actions.includes(action)) operation.actions.push(action);
  if (RISK_ORDER.indexOf(risk) > RISK_ORDER.indexOf(operation.risk)) {
    operation.risk = risk;
    operation.action = action;
  }
}

// PUT/DELETE /store/items name it in the body, GET in ?namespace=a.b, searches and listings give a prefix.
function storeNamespace(route: string, target: RequestTarget, body: unknown): string[] | undefined {
  switch (route) {
    case "store.get": {
      const values = target.query.getAll("namespace");
      if (values.length > 1) throw badBody("the namespace query parameter appears more than once", invalidType(["namespace"], "string", values));
      return values[0] === undefined || values[0] === "" ? [] : values[0].split(".");
    }
    case "store.put":
    case "store.delete":
      return namespaceList(field(body, "namespace"), "namespace");
    case "store.search":
      return namespaceList(field(body, "namespace_prefix") ?? [], "namespace_prefix");
    case "store.list_namespaces":
      return namespaceList(field(body, "prefix") ?? [], "prefix");
    default:
      return undefined;
  }
}

function namespaceList(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw badBody(`'${name}' must be a list of strings`, invalidType([name], "array", value));
  const wrong = value.findIndex((part) => typeof part !== "string");
  if (wrong >= 0) throw badBody(`'${name}' must be a list of strings`, invalidType([name, wrong], "string", value[wrong]));
  return value as string[];
}

function isTruthyFlag(values: string[]): boolean {
  return values.some((value) => !["", "0", "false", "no"].includes(value.toLowerCase()));
}

function field(body: unknown, name: string): unknown {
  return isObject(body) ? body[name] : undefined;
}

function hasEntries(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

/** A refusal of the body; `issue` when LangGraph validates the same field (it is then answered in
 * LangGraph's shape, respond/langgraphErrors.ts). */
function badBody(message: string, issue?: ValidationIssue): GatewayError {
  return issue ? new BodyValidationError(`Refused: ${message}.`, [issue]) : new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${message}.`);
}

/** The agent card of one assistant: `?assistant_id=`, which policy sees as the assistant read. */
function agentCardAssistant(operation: Operation, target: RequestTarget): void {
  const assistant = target.query.get("assistant_id");
  if (!assistant) throw new GatewayError(400, "PC_BAD_REQUEST", "Refused: an agent card is asked for one assistant: /.well-known/agent-card.json?assistant_id=<id>.");
  operation.ids.assistant_id = assistant;
  operation.assistant_ids.push(assistant);
}
