// Sessions: search and filter the session index, newest first, one page at a time (keyset
// pagination on the start time, so page 1,000 costs what page 1 costs). Quick time ranges, free
// text, a count of the matches, and columns that sort the page in the browser.
import { READABLE_SESSION_KINDS, type SessionKind, type SessionQuery, type SessionSummary } from "../ledger/index.js";
import { badge, duration, html, time, type Html } from "./html.js";
import { consoleLayout } from "./layout.js";
import { seesAllSessions, type Viewer } from "./roles.js";

/** Quick ranges, counted back from now. */
export const RANGES: Record<string, { label: string; ms: number }> = {
  "15m": { label: "last 15 min", ms: 15 * 60_000 },
  "1h": { label: "last hour", ms: 3_600_000 },
  "24h": { label: "last 24 h", ms: 86_400_000 },
  "7d": { label: "last 7 days", ms: 7 * 86_400_000 },
  "30d": { label: "last 30 days", ms: 30 * 86_400_000 },
};

const KINDS: [string, string][] = [["run", "runs"], ["request", "other LangGraph requests"], ["egress", "egress calls"], ["gateway", "console and sign-in"], ["all", "everything"], ["asset", "console assets and browser noise"]];

export interface MatchCount {
  count: number;
  /** More matched than were counted. */
  more: boolean;
}

export function sessionsPage(viewer: Viewer, params: URLSearchParams, sessions: SessionSummary[], next: string | undefined, counted: MatchCount): string {
  const value = (name: string) => params.get(name) ?? "";
  const all = seesAllSessions(viewer);
  const kind = value("kind") || "run";
  const range = value("range");
  const rangeLink = (key: string, label: string) => {
    const linked = new URLSearchParams(params);
    linked.delete("before");
    linked.delete("from");
    linked.delete("to");
    if (key) linked.set("range", key);
    else linked.delete("range");
    return html`<a href="/console/sessions?${linked.toString()}" class="${range === key ? "chip active" : "chip"}" data-range="${key || "any"}">${label}</a>`;
  };
  const filters = html`<form class="filters panel" method="get" action="/console/sessions" role="search">
<label class="wide">Search<input type="search" name="q" value="${value("q")}" placeholder="session, person, graph, thread, path, rule…" data-testid="search"></label>
${all ? html`<label>User<input name="user" value="${value("user")}" placeholder="oidc:corp:alice"></label>
<label>Group<input name="group" value="${value("group")}" placeholder="analysts" size="10"></label>` : null}
<label>Graph<input name="graph" value="${value("graph")}" size="10"></label>
<label>Assistant<input name="assistant" value="${value("assistant")}" size="10"></label>
<label>Thread<input name="thread" value="${value("thread")}" size="12"></label>
<label>Status<select name="status">${["", "success", "error", "interrupted", "ok", "refused", "awaiting-approval", "client_aborted", "upstream_failed", "open"].map((s) => html`<option value="${s}" ${value("status") === s ? html`selected` : null}>${s || "any"}</option>`)}</select></label>
<label>Decision<select name="decision">${["", "allow", "deny", "require-approval"].map((d) => html`<option value="${d}" ${value("decision") === d ? html`selected` : null}>${d || "any"}</option>`)}</select></label>
<label>From (UTC)<input type="datetime-local" name="from" value="${value("from")}"></label>
<label>To (UTC)<input type="datetime-local" name="to" value="${value("to")}"></label>
<label>Kind<select name="kind">${KINDS.map(([k, label]) => html`<option value="${k}" ${kind === k ? html`selected` : null}>${label}</option>`)}</select></label>
${range ? html`<input type="hidden" name="range" value="${range}">` : null}
<div class="actions"><button type="submit">Search</button> <a class="button secondary" href="/console/sessions">Clear</a></div>
<div class="ranges" data-testid="ranges">${rangeLink("", "any time")}${Object.entries(RANGES).map(([key, r]) => rangeLink(key, r.label))}</div>
</form>`;
  return consoleLayout(
    viewer,
    "sessions",
    all ? "Sessions" : "Your sessions",
    html`${filters}${resultCount(counted, sessions.length, range)}${sessionsTable(sessions)}${pager("/console/sessions", params, sessions.length, next)}`,
  );
}

export function resultCount(counted: MatchCount, shown: number, range: string): Html {
  const n = counted.more ? `More than ${counted.count.toLocaleString("en")}` : counted.count.toLocaleString("en");
  return html`<p class="count" data-testid="result-count"><strong>${n}</strong> ${counted.count === 1 && !counted.more ? "session matches" : "sessions match"}${range && RANGES[range] ? ` in the ${RANGES[range]!.label}` : ""}; ${shown} on this page, newest first. <span class="muted">Click a column heading to sort this page.</span></p>`;
}

export function sessionsTable(sessions: SessionSummary[]): Html {
  if (sessions.length === 0) return html`<div class="empty">No sessions match these filters.</div>`;
  const rows = sessions.map(
    (s) => html`<tr data-session="${s.requestId}">
<td data-sort="${s.startedMs}">${time(s.startedMs)}</td>
<td data-sort="${s.name ?? s.subject ?? ""}">${s.subject ? html`<a href="/console/identities/${encodeURIComponent(s.subject)}">${s.name ?? s.subject}</a>` : "unidentified"}<div class="muted mono">${s.subject ?? ""}</div></td>
<td>${s.graphs.join(", ") || "—"}</td>
<td class="mono id">${s.assistantId ?? "—"}</td>
<td class="mono id" data-testid="thread">${s.threadId ?? "—"}</td>
<td class="mono"><a href="/console/sessions/${s.requestId}">${s.method} ${s.path.length > 80 ? `${s.path.slice(0, 80)}…` : s.path}</a></td>
<td>${badge(s.decision)}</td>
<td>${badge(s.status)}${s.approval ? html` ${badge(s.approval)}` : null}</td>
<td data-sort="${s.endedMs === null ? -1 : s.endedMs - s.startedMs}">${duration(s.endedMs === null ? null : s.endedMs - s.startedMs)}</td>
</tr>`,
  );
  const head = ["Started", "Who", "Graph", "Assistant", "Thread", "Request", "Decision", "Status", "Duration"];
  return html`<div class="table-scroll"><table class="sortable" data-testid="sessions"><thead><tr>${head.map((label, i) => html`<th><button type="button" class="sort" data-column="${i}">${label}</button></th>`)}</tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

export function pager(base: string, params: URLSearchParams, shown: number, next: string | undefined): Html {
  const nextParams = new URLSearchParams(params);
  if (next) nextParams.set("before", next);
  return html`<div class="pager">${params.get("before") ? html`<a href="${base}?${withoutCursor(params)}">« Newest</a>` : null}
${next ? html`<a class="button secondary" href="${base}?${nextParams.toString()}" rel="next">Older »</a>` : html`<span class="muted">End of results.</span>`}
<span class="muted">${shown} on this page</span></div>`;
}

function withoutCursor(params: URLSearchParams): string {
  const copy = new URLSearchParams(params);
  copy.delete("before");
  return copy.toString();
}

export class FilterError extends Error {
  override readonly name = "FilterError";
}

/** The page's query string as a session query; a user's query is always narrowed to themselves. */
export function sessionQueryOf(viewer: Viewer, params: URLSearchParams, pageSize: number, now = Date.now()): SessionQuery {
  const text = (name: string) => {
    const value = params.get(name)?.trim();
    if (value && value.length > 512) throw new FilterError(`the ${name} filter is too long`);
    if (value && /[\u0000-\u001f\u007f]/.test(value)) throw new FilterError(`the ${name} filter contains control characters`);
    return value ? value : undefined;
  };
  const instant = (name: string) => {
    const ms = formInstant(text(name));
    if (Number.isNaN(ms)) throw new FilterError(`${name} is not a date and time`);
    return ms;
  };
  const kind = text("kind") ?? "run";
  if (!KINDS.some(([k]) => k === kind)) throw new FilterError(`kind must be one of ${KINDS.map(([k]) => k).join(", ")}`);
  const decision = text("decision");
  if (decision !== undefined && !["allow", "deny", "require-approval"].includes(decision)) throw new FilterError("decision must be allow, deny or require-approval");
  const range = text("range");
  if (range !== undefined && !RANGES[range]) throw new FilterError(`range must be one of ${Object.keys(RANGES).join(", ")}`);
  const before = text("before");
  let cursor: SessionQuery["before"];
  if (before !== undefined) {
    const match = /^(\d{1,15})\.(.{1,128})$/.exec(before);
    if (!match) throw new FilterError("the page cursor is malformed");
    cursor = { startedMs: Number(match[1]), requestId: match[2]! };
  }
  const user = seesAllSessions(viewer) ? text("user") : viewer.identity.subject;
  const values = {
    subject: user,
    group: seesAllSessions(viewer) ? text("group") : undefined,
    graph: text("graph"),
    assistantId: text("assistant"),
    threadId: text("thread"),
    status: text("status"),
    decision,
    text: text("q"),
    fromMs: range !== undefined ? now - RANGES[range]!.ms : instant("from"),
    toMs: range !== undefined ? undefined : instant("to"),
    before: cursor,
  };
  const kinds: SessionKind[] = kind === "all" ? [...READABLE_SESSION_KINDS] : [kind as SessionKind];
  const query: SessionQuery = { limit: pageSize + 1, kinds };
  for (const [key, value] of Object.entries(values)) if (value !== undefined) (query as unknown as Record<string, unknown>)[key] = value;
  return query;
}

/** A form's date and time in ms (undefined when empty, NaN when unreadable); datetime-local has
 * no zone, and the console's forms say UTC. */
export function formInstant(text: string | undefined): number | undefined {
  const value = text?.trim();
  if (!value) return undefined;
  return Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
}

export function cursorOf(session: SessionSummary): string {
  return `${session.startedMs}.${session.requestId}`;
}
