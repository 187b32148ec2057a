// One identity's activity: who it is (groups, console roles, where it is defined), what the
// policy grants it and when it last used each grant, and its sessions newest first. Reached from
// the sessions list and the access review; admins and auditors see anyone, others themselves.
import type { SessionSummary } from "../ledger/index.js";
import type { AccessEntry } from "./accessReview.js";
import { badge, html, time } from "./html.js";
import { consoleLayout } from "./layout.js";
import type { Viewer } from "./roles.js";
import { pager, RANGES, resultCount, sessionsTable, type MatchCount } from "./sessionsPage.js";

export function identityPage(viewer: Viewer, subject: string, entry: AccessEntry | undefined, params: URLSearchParams, sessions: SessionSummary[], next: string | undefined, counted: MatchCount): string {
  const base = `/console/identities/${encodeURIComponent(subject)}`;
  const range = params.get("range") ?? "";
  const kind = params.get("kind") ?? "all";
  const link = (changes: Record<string, string | null>, label: string, active: boolean, data: string) => {
    const linked = new URLSearchParams(params);
    linked.delete("before");
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) linked.delete(key);
      else linked.set(key, value);
    }
    return html`<a href="${base}?${linked.toString()}" class="${active ? "chip active" : "chip"}" data-filter="${data}">${label}</a>`;
  };
  const facts = entry
    ? html`<div class="panel"><dl class="facts" data-testid="identity-facts">
<dt>Name</dt><dd>${entry.name ?? "—"}</dd>
<dt>Subject</dt><dd class="mono">${entry.subject}</dd>
<dt>Kind</dt><dd>${entry.kind} <span class="muted">(${entry.source})</span> ${badge(entry.status)}</dd>
<dt>Groups</dt><dd>${entry.groups.join(", ") || "—"}</dd>
<dt>Console roles</dt><dd>${entry.consoleRoles.map((role) => html`${badge(role)} `)}</dd>
<dt>First seen</dt><dd>${time(entry.firstSeenMs)}</dd>
<dt>Last seen</dt><dd>${time(entry.lastUsedMs)} <span class="muted">· ${entry.requests} requests</span></dd>
<dt>Grants</dt><dd>${entry.grants.length === 0 ? "none" : entry.grants.map((g) => html`<div><span class="mono">${g.rule}</span> ${badge(g.effect)} <span class="muted">${g.uses > 0 ? html`${g.uses}× · last ${time(g.lastUsedMs)}` : "never used"}</span></div>`)}</dd>
<dt>Approves for</dt><dd>${entry.approverRights.length === 0 ? "none" : entry.approverRights.map((r) => html`<div><span class="mono">${r.rule}</span> <span class="muted">${r.decisions > 0 ? html`${r.decisions} decided · last ${time(r.lastDecidedMs)}` : "never decided"}</span></div>`)}</dd>
</dl></div>`
    : html`<div class="panel muted">This subject has no recorded activity and is not a configured service account.</div>`;
  const controls = html`<div class="panel ranges">${link({ range: null }, "any time", range === "", "any")}${Object.entries(RANGES).map(([key, r]) => link({ range: key }, r.label, range === key, key))}
<span class="sep"></span>${[["all", "everything"], ["run", "runs"], ["request", "other requests"], ["gateway", "console and sign-in"], ["egress", "egress"]].map(([k, label]) => link({ kind: k! }, label!, kind === k, `kind-${k!}`))}</div>`;
  return consoleLayout(
    viewer,
    "sessions",
    `Activity of ${entry?.name ?? subject}`,
    html`${facts}<h2>Sessions</h2>${controls}${resultCount(counted, sessions.length, range)}${sessionsTable(sessions)}${pager(base, params, sessions.length, next)}`,
  );
}
