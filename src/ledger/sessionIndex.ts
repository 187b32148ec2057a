// The session index: one row per request (and the run it started), kept beside the ledger in the
// same transaction as the records it summarises, so the console and `portcullis replay` page
// through large histories from the database instead of reading every leaf. The ledger stays the
// evidence: a session's records are always read back from their leaves and proven.
import type { AuditRecord, RunRecord } from "../record/index.js";

/** run: started or resumed a run; request: any other LangGraph call; egress: a call through an
 * egress route; gateway: the gateway's own pages and APIs (sign-in, console, approvals API);
 * asset: the console's script and stylesheet and what browsers ask for by themselves
 * (favicon.ico, robots.txt…). Assets are recorded like every request, but the views people read
 * (the sessions list, evidence reports) leave them out unless asked. */
export type SessionKind = "run" | "request" | "egress" | "gateway" | "asset";

export const SESSION_KINDS: readonly SessionKind[] = ["run", "request", "egress", "gateway", "asset"];

/** What "everything" means in the views people read: every kind but assets. */
export const READABLE_SESSION_KINDS: readonly SessionKind[] = ["run", "request", "egress", "gateway"];

// Paths browsers fetch on their own, whatever the page: no person asked for them.
const BROWSER_NOISE = /^\/(?:favicon\.ico|robots\.txt|apple-touch-icon(?:-precomposed)?(?:-\d+x\d+)?\.png|browserconfig\.xml|site\.webmanifest)$/;

/** A request for a console asset that was served, or for what browsers fetch by themselves. A
 * refused request under /console/assets/ is someone probing, and stays in the views people read. */
export function isAssetRequest(method: string, path: string, effect = "allow"): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  return BROWSER_NOISE.test(path) || (path.startsWith("/console/assets/") && effect === "allow");
}

/** What one record tells about its session; absent fields leave the stored value unchanged. */
export interface SessionUpdate {
  requestId: string;
  seq: number;
  /** Set when updates were merged: the earliest record's sequence number. */
  firstSeq?: number;
  startedMs?: number;
  endedMs?: number;
  subject?: string | null;
  name?: string | null;
  groups?: string[];
  graphs?: string[];
  assistantId?: string | null;
  threadId?: string;
  runId?: string;
  kind?: SessionKind;
  route?: string | null;
  method?: string;
  path?: string;
  decision?: string;
  rule?: string;
  httpStatus?: number | null;
  outcome?: string;
  runStatus?: string;
  approval?: string;
  approvalId?: string;
  parentRequestId?: string;
}

/** A session as listed: the index row, with its status derived (run status, else outcome). */
export interface SessionSummary {
  requestId: string;
  startedMs: number;
  endedMs: number | null;
  subject: string | null;
  name: string | null;
  groups: string[];
  graphs: string[];
  assistantId: string | null;
  threadId: string | null;
  runId: string | null;
  kind: SessionKind;
  route: string | null;
  method: string;
  path: string;
  decision: string;
  rule: string;
  httpStatus: number | null;
  /** The run's final status when it was followed, else the exchange's outcome; "open" while in flight. */
  status: string;
  approval: string | null;
  approvalId: string | null;
  parentRequestId: string | null;
  firstSeq: number;
  lastSeq: number;
}

export interface SessionQuery {
  subject?: string;
  group?: string;
  graph?: string;
  assistantId?: string;
  threadId?: string;
  status?: string;
  decision?: string;
  fromMs?: number;
  toMs?: number;
  kinds?: SessionKind[];
  parentRequestId?: string;
  /** Free text, case-insensitive (ASCII): in the session id, who, graph, assistant, thread, run, route, path or rule. */
  text?: string;
  /** Keyset cursor: sessions started before this one (newest first). */
  before?: SessionCursor;
  limit: number;
}

export interface SessionCursor {
  startedMs: number;
  requestId: string;
}

/** How often each identity used each rule that let it through, for the access review. */
export interface GrantUsage {
  subject: string;
  rule: string;
  lastMs: number;
  count: number;
}

export interface IdentityUsage {
  subject: string;
  name: string | null;
  groups: string[];
  firstMs: number;
  lastMs: number;
  count: number;
}

const GATEWAY_RULES = new Set(["gateway:local-endpoint", "gateway:sign-in", "gateway:approvals-api", "gateway:console"]);

/** The session facts a record carries, or undefined for records that belong to no request. */
export function sessionUpdateOf(record: AuditRecord, seq: number): SessionUpdate | undefined {
  const timeMs = Date.parse(record.time) || Date.now();
  switch (record.type) {
    case "request": {
      const operation = record.operation;
      const kind: SessionKind = record.egress ? "egress" : operation?.creates_run ? "run" : isAssetRequest(record.method, record.path, record.decision.effect) ? "asset" : GATEWAY_RULES.has(record.decision.rule) ? "gateway" : "request";
      return {
        requestId: record.request_id,
        seq,
        startedMs: timeMs,
        subject: record.identity?.subject ?? null,
        name: record.identity?.name ?? null,
        groups: record.identity?.groups ?? [],
        graphs: record.resources?.graphs ?? record.egress?.run?.graphs ?? [],
        assistantId: operation?.ids.assistant_id ?? operation?.assistant_ids[0] ?? null,
        ...(operation?.ids.thread_id ? { threadId: operation.ids.thread_id } : record.egress?.run?.thread_id ? { threadId: record.egress.run.thread_id } : {}),
        ...(operation?.ids.run_id ? { runId: operation.ids.run_id } : {}),
        kind,
        route: record.egress ? record.egress.route : (operation?.route ?? null),
        method: record.method,
        path: record.path,
        decision: record.decision.effect,
        rule: record.decision.rule,
        ...(record.status !== undefined ? { httpStatus: record.status, outcome: record.status >= 400 ? "refused" : record.status === 202 ? "awaiting-approval" : "ok", endedMs: timeMs } : {}),
        ...(record.approval?.approval_id ? { approvalId: record.approval.approval_id } : {}),
        ...(record.egress?.run ? { parentRequestId: record.egress.run.request_id } : {}),
      };
    }
    case "completion":
      return {
        requestId: record.request_id,
        seq,
        endedMs: timeMs,
        httpStatus: record.status,
        outcome: record.outcome,
        ...(record.run_id ? { runId: record.run_id } : {}),
        ...(record.thread_id ? { threadId: record.thread_id } : {}),
      };
    case "run":
      return {
        requestId: record.request_id,
        seq,
        endedMs: timeMs,
        runId: record.run_id,
        ...runStatusOf(record),
        ...(record.thread_id ? { threadId: record.thread_id } : {}),
        ...(record.graphs && record.graphs.length > 0 ? { graphs: record.graphs } : {}),
      };
    case "approval":
      return { requestId: record.request_id, seq, approval: record.event, approvalId: record.approval_id };
    default:
      return undefined;
  }
}

/** The status a person searches for. LangGraph reports a run that stopped at `interrupt()` or a
 * breakpoint as "success"; the work it left pending says it is "interrupted". A stateless run's
 * status cannot be looked up ("ended"): the exchange's outcome stands for it. */
export function runStatusOf(record: RunRecord): { runStatus?: string } {
  if (record.status === "ended" && record.thread_id === null) return {};
  if (record.status === "success" && (record.next?.length ?? 0) > 0) return { runStatus: "interrupted" };
  return { runStatus: record.status };
}

/** Several updates of one request in a batch become one (later facts win, the start stays first). */
export function mergeSessionUpdates(updates: SessionUpdate[]): SessionUpdate[] {
  const merged = new Map<string, SessionUpdate>();
  for (const update of updates) {
    const previous = merged.get(update.requestId);
    if (!previous) {
      merged.set(update.requestId, { ...update });
      continue;
    }
    const defined = Object.fromEntries(Object.entries(update).filter(([, value]) => value !== undefined));
    merged.set(update.requestId, { ...previous, ...defined, ...(previous.startedMs !== undefined ? { startedMs: previous.startedMs } : {}), seq: Math.max(previous.seq, update.seq), firstSeq: Math.min(previous.firstSeq ?? previous.seq, update.seq) });
  }
  return [...merged.values()];
}

/** Lists are stored newline-delimited with a newline at each end, so one name matches exactly. */
function storedList(values: string[] | undefined): string | null {
  return values === undefined ? null : `\n${values.join("\n")}\n`;
}

export function parsedList(stored: string | null): string[] {
  return stored ? stored.split("\n").filter(Boolean) : [];
}

/** The index row as both stores return it (snake_case columns). */
export interface SessionRow {
  request_id: string;
  started_ms: number | string;
  ended_ms: number | string | null;
  subject: string | null;
  name: string | null;
  groups: string | null;
  graphs: string | null;
  assistant_id: string | null;
  thread_id: string | null;
  run_id: string | null;
  kind: SessionKind;
  route: string | null;
  method: string | null;
  path: string | null;
  decision: string | null;
  rule: string | null;
  http_status: number | null;
  outcome: string | null;
  run_status: string | null;
  approval: string | null;
  approval_id: string | null;
  parent_request_id: string | null;
  first_seq: number | string;
  last_seq: number | string;
}

export function sessionFromRow(row: SessionRow): SessionSummary {
  return {
    requestId: row.request_id,
    startedMs: Number(row.started_ms),
    endedMs: row.ended_ms === null ? null : Number(row.ended_ms),
    subject: row.subject,
    name: row.name,
    groups: parsedList(row.groups),
    graphs: parsedList(row.graphs),
    assistantId: row.assistant_id,
    threadId: row.thread_id,
    runId: row.run_id,
    kind: row.kind,
    route: row.route,
    method: row.method ?? "",
    path: row.path ?? "",
    decision: row.decision ?? "",
    rule: row.rule ?? "",
    httpStatus: row.http_status,
    status: row.run_status ?? row.outcome ?? "open",
    approval: row.approval,
    approvalId: row.approval_id,
    parentRequestId: row.parent_request_id,
    firstSeq: Number(row.first_seq),
    lastSeq: Number(row.last_seq),
  };
}

/** The columns an update writes, in the order both stores bind them. */
export const SESSION_COLUMNS = [
  "started_ms", "ended_ms", "subject", "name", "groups", "graphs", "assistant_id", "thread_id", "run_id", "kind", "route", "method", "path",
  "decision", "rule", "http_status", "outcome", "run_status", "approval", "approval_id", "parent_request_id",
] as const;

export function sessionValues(update: SessionUpdate): unknown[] {
  const nullable = <T>(value: T | undefined): T | null => (value === undefined ? null : value);
  return [
    nullable(update.startedMs),
    nullable(update.endedMs),
    nullable(update.subject),
    nullable(update.name),
    storedList(update.groups),
    storedList(update.graphs),
    nullable(update.assistantId),
    nullable(update.threadId),
    nullable(update.runId),
    nullable(update.kind),
    nullable(update.route),
    nullable(update.method),
    nullable(update.path),
    nullable(update.decision),
    nullable(update.rule),
    nullable(update.httpStatus),
    nullable(update.outcome),
    nullable(update.runStatus),
    nullable(update.approval),
    nullable(update.approvalId),
    nullable(update.parentRequestId),
  ];
}

const TEXT_COLUMNS = ["request_id", "subject", "name", "graphs", "assistant_id", "thread_id", "run_id", "route", "path", "rule"] as const;

/** WHERE clauses for a query, with `?` placeholders (the Postgres store renumbers them);
 * `contains` is the store's substring test (SQLite instr, PostgreSQL strpos). */
export function sessionFilter(query: SessionQuery, contains: (column: string) => string): { where: string[]; params: unknown[] } {
  // Only sessions whose request is recorded (an approval may be asked for before it); not a range
  // on started_ms, which would steer the planner away from the filter's own index.
  const where: string[] = ["kind IS NOT NULL"];
  const params: unknown[] = [];
  const add = (clause: string, ...values: unknown[]) => {
    where.push(clause);
    params.push(...values);
  };
  if (query.subject !== undefined) add("subject = ?", query.subject);
  if (query.group !== undefined) add(contains("groups"), `\n${query.group}\n`);
  if (query.graph !== undefined) add(contains("graphs"), `\n${query.graph}\n`);
  if (query.assistantId !== undefined) add("assistant_id = ?", query.assistantId);
  if (query.threadId !== undefined) add("thread_id = ?", query.threadId);
  if (query.status !== undefined) add("COALESCE(run_status, outcome, 'open') = ?", query.status);
  if (query.decision !== undefined) add("decision = ?", query.decision);
  if (query.fromMs !== undefined) add("started_ms >= ?", query.fromMs);
  if (query.toMs !== undefined) add("started_ms < ?", query.toMs);
  if (query.parentRequestId !== undefined) add("parent_request_id = ?", query.parentRequestId);
  if (query.text !== undefined) {
    const columns = TEXT_COLUMNS.map((column) => contains(`lower(COALESCE(${column}, ''))`));
    add(`(${columns.join(" OR ")})`, ...TEXT_COLUMNS.map(() => query.text!.toLowerCase()));
  }
  if (query.kinds !== undefined && query.kinds.length > 0) add(`kind IN (${query.kinds.map(() => "?").join(", ")})`, ...query.kinds);
  // A row value compares like the ORDER BY, so the index serves the cursor (SQLite ≥ 3.15, PostgreSQL).
  if (query.before) add("(started_ms, request_id) < (?, ?)", query.before.startedMs, query.before.requestId);
  return { where, params };
}
