// Sessions: search and filter the session index, newest first, one page at a time (keyset
// pagination on the start time, so page 1,000 costs what page 1 costs).
import type { SessionQuery, SessionSummary } from "../ledger/sessionIndex.js";
import { badge, duration, html, time } from "./html.js";
import { consoleLayout } from "./layout.js";
import { seesAllSessions, type Viewer } from "./roles.js";

export const SESSION_FILTERS = ["user", "group", "graph", "assistant", "thread", "status", "decision", "from", "to", "kind"] as const;

export function sessionsPage(viewer: Viewer, params: URLSearchParams, sessions: SessionSummary[], next: string | undefined): string {
  const value = (name: string) => params.get(name) ?? "";
  const all = seesAllSessions(viewer);
  const kind = value("kind") || "run";
  const filters = html`<form class="filters panel" method="get" action="/console/sessions" role="search">
${all ? html`<label>User<input name="user" value="${value("user")}" placeholder="oidc:corp:alice"></label>
<label>Group<input name="group" value="${value("group")}" placeholder="analysts"></label>` : null}
<label>Graph<input name="graph" value="${value("graph")}" size="10"></label>
<label>Assistant<input name="assistant" value="${value("assistant")}" size="10"></label>
<label>Thread<input name="thread" value="${value("thread")}" size="12"></label>
<label>Status<select name="status">${["", "success", "error", "interrupted", "ok", "refused", "awaiting-approval", "client_aborted", "upstream_failed", "open"].map((s) => html`<option value="${s}" ${value("status") === s ? html`selected` : null}>${s || "any"}</option>`)}</select></label>
<label>Decision<select name="decision">${["", "allow", "deny", "require-approval"].map((d) => html`<option value="${d}" ${value("decision") === d ? html`selected` : null}>${d || "any"}</option>`)}</select></label>
<label>From (UTC)<input type="datetime-local" name="from" value="${value("from")}"></label>
<label>To (UTC)<input type="datetime-local" name="to" value="${value("to")}"></label>
<label>Kind<select name="kind">${[["run", "runs"], ["request", "other LangGraph requests"], ["egress", "egress calls"], ["gateway", "console and sign-in"], ["all", "everything"]].map(([k, label]) => html`<option value="${k}" ${kind === k ? html`selected` : null}>${label}</option>`)}</select></label>
<button type="submit">Search</button> <a class="button secondary" href="/console/sessions">Clear</a>
</form>`;
  const rows = sessions.map(
    (s) => html`<tr data-session="${s.requestId}">
<td>${time(s.startedMs)}</td>
<td>${s.name ?? s.subject ?? "unidentified"}<div class="muted mono">${s.subject ?? ""}</div></td>
<td>${s.graphs.join(", ") || "—"}</td>
<td class="mono">${s.assistantId ?? "—"}</td>
<td class="mono">${s.threadId ? s.threadId.slice(0, 8) : "—"}</td>
<td class="mono"><a href="/console/sessions/${s.requestId}">${s.method} ${s.path.length > 60 ? `${s.path.slice(0, 60)}…` : s.path}</a></td>
<td>${badge(s.decision)}</td>
<td>${badge(s.status)}${s.approval ? html` ${badge(s.approval)}` : null}</td>
<td>${duration(s.endedMs === null ? null : s.endedMs - s.startedMs)}</td>
</tr>`,
  );
  const nextParams = new URLSearchParams(params);
  if (next) nextParams.set("before", next);
  const table =
    sessions.length === 0
      ? html`<div class="empty">No sessions match these filters.</div>`
      : html`<table><thead><tr><th>Started</th><th>Who</th><th>Graph</th><th>Assistant</th><th>Thread</th><th>Request</th><th>Decision</th><th>Status</th><th>Duration</th></tr></thead>
<tbody>${rows}</tbody></table>`;
  return consoleLayout(
    viewer,
    "sessions",
    all ? "Sessions" : "Your sessions",
    html`${filters}${table}
<div class="pager">${params.get("before") ? html`<a href="/console/sessions?${withoutCursor(params)}">« Newest</a>` : null}
${next ? html`<a class="button secondary" href="/console/sessions?${nextParams.toString()}" rel="next">Older »</a>` : html`<span class="muted">End of results.</span>`}
<span class="muted">${sessions.length} on this page</span></div>`,
  );
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
export function sessionQueryOf(viewer: Viewer, params: URLSearchParams, pageSize: number): SessionQuery {
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
  if (!["run", "request", "egress", "gateway", "all"].includes(kind)) throw new FilterError("kind must be run, request, egress, gateway or all");
  const decision = text("decision");
  if (decision !== undefined && !["allow", "deny", "require-approval"].includes(decision)) throw new FilterError("decision must be allow, deny or require-approval");
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
    fromMs: instant("from"),
    toMs: instant("to"),
    before: cursor,
  };
  const query: SessionQuery = { limit: pageSize + 1, ...(kind !== "all" ? { kinds: [kind as "run"] } : {}) };
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
