// The approvals inbox (kept current by console.js over one server-sent event stream,
// /console/approvals/events, no reloads and no polling) and one approval's page, the console_url
// of every notice. Each approval leads with one line saying what it lets happen.
import type { ApprovalView } from "../approve/index.js";
import { approvalSummary } from "./approvalSummary.js";
import { badge, html, pretty, time, type Html } from "./html.js";
import { consoleLayout } from "./layout.js";
import type { Viewer } from "./roles.js";

/** What the inbox shows, as the stream and approvals.json send it. */
export interface InboxState {
  viewer: { subject: string; csrf_token: string };
  approvals: (ApprovalView & { summary: string; can_decide: boolean })[];
  recent: (ApprovalView & { summary: string })[];
}

export function inboxState(viewer: Viewer, pending: { view: ApprovalView; canDecide: boolean }[], recent: ApprovalView[]): InboxState {
  return {
    viewer: { subject: viewer.identity.subject, csrf_token: viewer.csrfToken },
    approvals: pending.map(({ view, canDecide }) => ({ ...view, summary: approvalSummary(view), can_decide: canDecide })),
    recent: recent.map((view) => ({ ...view, summary: approvalSummary(view) })),
  };
}

export function inboxPage(viewer: Viewer, state: InboxState, flash?: { text: string; good: boolean }): string {
  return consoleLayout(
    viewer,
    "approvals",
    "Approvals",
    html`<div id="flash" class="${flash ? `flash ${flash.good ? "good" : "bad"}` : ""}" role="status">${flash?.text}</div>
<h2>Waiting for a decision <span class="muted live" id="approvals-updated" data-testid="live-status">connecting…</span></h2>
<div id="approvals-live" data-testid="inbox">${state.approvals.length === 0 ? html`<div class="empty" data-testid="inbox-empty">Nothing is waiting for a decision.</div>` : state.approvals.map((a) => html`<div class="panel approval-card" data-approval="${a.approval_id}"><div class="summary-line">${a.summary}</div><p class="muted">Loading the decision form…</p></div>`)}</div>
<noscript><p>This list updates itself with JavaScript; without it, <a href="/console/approvals.json">the same list as JSON</a>.</p></noscript>
<h2>Recently decided</h2>
<div id="approvals-recent" data-testid="recent">${recentTable(state.recent)}</div>`,
  );
}

function recentTable(recent: InboxState["recent"]): Html {
  if (recent.length === 0) return html`<div class="empty">No decisions yet.</div>`;
  return html`<div class="table-scroll"><table><thead><tr><th>What</th><th>Requester</th><th>State</th><th>Decided</th><th>Votes</th></tr></thead><tbody>
${recent.map((a) => html`<tr data-approval="${a.approval_id}"><td><a href="/console/approvals/${a.approval_id}">${a.summary}</a><div class="muted">rule ${a.rule}</div></td><td>${a.requester.name ?? a.requester.subject}</td><td>${badge(a.state)}</td><td>${a.decided_at ? time(Date.parse(a.decided_at)) : "—"}</td><td>${a.votes.map((v) => `${v.approver}: ${v.verdict}${v.reason ? ` (${v.reason})` : ""}`).join("; ")}</td></tr>`)}
</tbody></table></div>`;
}

export function approvalPage(viewer: Viewer, a: ApprovalView, canDecide: boolean, flash?: { text: string; good: boolean }): string {
  const decide: Html = canDecide && a.state === "pending"
    ? html`<form method="post" action="/console/approvals/${a.approval_id}/approve" class="vote"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}">
<input type="hidden" name="return_to" value="page">
<label>Approve <select name="window_s" aria-label="Approve for"><option value="">Once</option>${[900, 3600, 28800].filter((s) => s <= a.max_window_s).map((s) => html`<option value="${s}">For ${s / 60} minutes</option>`)}</select></label>
<input name="reason" placeholder="Reason (optional)" aria-label="Approval reason"><button type="submit">Approve</button></form>
<form method="post" action="/console/approvals/${a.approval_id}/deny" class="vote"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><input type="hidden" name="return_to" value="page">
<input name="reason" placeholder="Reason (required)" required aria-label="Denial reason"><button type="submit" class="danger">Deny</button></form>`
    : html`<p class="muted">${a.state === "pending" ? (a.requester.subject === viewer.identity.subject ? "Your request: waiting for an approver." : "You are not an approver for this request.") : a.state === "approving" ? "Approved: being recorded in the ledger." : `Closed: ${a.state}.`}</p>`;
  return consoleLayout(
    viewer,
    "approvals",
    `Approval ${a.approval_id.slice(0, 8)}`,
    html`${flash ? html`<div class="flash ${flash.good ? "good" : "bad"}">${flash.text}</div>` : null}
<div class="panel approval-card"><div><div class="summary-line" data-testid="approval-summary">${approvalSummary(a)}</div><dl class="facts">
<dt>State</dt><dd>${badge(a.state)} (${a.mode})</dd>
<dt>Graph</dt><dd>${a.request.graphs.join(", ") || "—"}</dd>
<dt>Rule</dt><dd>${a.rule} · approvers: ${a.approver_groups.join(", ")} · ${a.approvals_given} of ${a.approvals_required}</dd>
<dt>Requester</dt><dd>${a.requester.name ?? a.requester.subject} <span class="muted mono">${a.requester.subject}</span></dd>
<dt>Justification</dt><dd>${a.justification ?? "—"}</dd>
<dt>Requested</dt><dd>${time(Date.parse(a.created_at))}</dd>
<dt>Expires</dt><dd>${time(Date.parse(a.expires_at))}</dd>
${a.reason ? html`<dt>Reason</dt><dd>${a.reason}</dd>` : null}
${a.grant ? html`<dt>Window</dt><dd>until ${time(Date.parse(a.grant.expires_at))}</dd>` : null}
${a.used_by ? html`<dt>Used by</dt><dd class="mono"><a href="/console/sessions/${String(a.used_by)}">${String(a.used_by)}</a></dd>` : null}
</dl>
<details><summary>Raw request (masked): ${a.request.method} ${a.request.path} · ${a.request.actions.join(", ")}</summary><pre>${pretty(a.details)}</pre></details></div>
<div>${decide}</div></div>`,
  );
}
