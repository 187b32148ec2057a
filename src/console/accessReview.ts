// The access review (ISO 27001 A.9.2.3): who holds which access — people and service accounts,
// their groups, the policy rules that grant them something — and when each grant was last used,
// from the session index. Exported as CSV for the reviewer's sign-off.
import type { CompiledPolicy } from "../authorize/compile.js";
import { subjectMatcher } from "../authorize/compile.js";
import type { PortcullisConfig } from "../config/schema.js";
import type { Identity } from "../identify/identity.js";
import type { GrantUsage, IdentityUsage } from "../ledger/sessionIndex.js";
import { csvField } from "../ledger/summary.js";
import type { StoredServiceAccount } from "../storage/serviceAccountStore.js";
import { badge, html, time } from "./html.js";
import { consoleLayout } from "./layout.js";
import { rolesOf, type ConsoleRole, type Viewer } from "./roles.js";

export interface Grant {
  rule: string;
  effect: string;
  actions: string[];
  scope: string;
  lastUsedMs: number | null;
  uses: number;
}

/** A policy rule whose approvals this identity may decide, and when it last decided one. */
export interface ApproverRight {
  rule: string;
  approverGroups: string[];
  lastDecidedMs: number | null;
  decisions: number;
}

/** One vote an approver cast, from the approvals store. */
export interface ApproverVote {
  approver: string;
  rule: string;
  timeMs: number;
}

export interface AccessEntry {
  kind: "person" | "service-account";
  subject: string;
  name: string | null;
  groups: string[];
  /** Where the identity is defined: the config file, the CLI's store, or only seen in the ledger (IdP users). */
  source: "config" | "cli" | "identity provider";
  status: "active" | "revoked" | "expired";
  expiresAt: string | null;
  firstSeenMs: number | null;
  lastUsedMs: number | null;
  requests: number;
  grants: Grant[];
  /** Console roles the identity's groups give it (console.roles); "user" for every person. */
  consoleRoles: ConsoleRole[];
  approverRights: ApproverRight[];
}

export function buildAccessReview(input: {
  policy: CompiledPolicy;
  configAccounts: PortcullisConfig["identity"]["service_accounts"];
  storedAccounts: StoredServiceAccount[];
  identities: IdentityUsage[];
  usage: GrantUsage[];
  consoleRoles: PortcullisConfig["console"]["roles"];
  votes: ApproverVote[];
  now: number;
}): AccessEntry[] {
  const seen = new Map(input.identities.map((identity) => [identity.subject, identity]));
  const entries: AccessEntry[] = [];
  const expired = (at: string | null | undefined) => (at ? Date.parse(at) <= input.now : false);
  for (const account of input.configAccounts) {
    entries.push(entry("service-account", `sa:${account.id}`, account.owner ?? null, account.groups, "config", expired(account.expires_at) ? "expired" : "active", account.expires_at ?? null));
  }
  for (const account of input.storedAccounts) {
    if (entries.some((e) => e.subject === `sa:${account.id}`)) continue;
    entries.push(entry("service-account", `sa:${account.id}`, account.owner, account.groups, "cli", account.revoked_at ? "revoked" : expired(account.expires_at) ? "expired" : "active", account.expires_at));
  }
  for (const identity of input.identities) {
    if (entries.some((e) => e.subject === identity.subject)) continue;
    entries.push(entry(identity.subject.startsWith("sa:") ? "service-account" : "person", identity.subject, identity.name, identity.groups, "identity provider", "active", null));
  }
  function entry(kind: AccessEntry["kind"], subject: string, name: string | null, groups: string[], source: AccessEntry["source"], status: AccessEntry["status"], expiresAt: string | null): AccessEntry {
    const usage = seen.get(subject);
    const identity: Identity = { subject, kind: kind === "service-account" ? "service-account" : "oidc", groups, auth_method: "api-key", credential_id: "" };
    const grants = input.policy.document.rules
      .filter((rule) => rule.effect !== "deny" && subjectMatcher(rule.subjects)(identity))
      .map((rule) => {
        const used = input.usage.find((u) => u.subject === subject && u.rule === rule.id);
        // PostgreSQL returns BIGINT aggregates as text.
        return { rule: rule.id, effect: rule.effect, actions: [...rule.actions], scope: rule.scope ?? "own", lastUsedMs: msOrNull(used?.lastMs), uses: Number(used?.count ?? 0) };
      });
    const approverRights = input.policy.document.rules
      .filter((rule) => rule.effect === "require-approval" && rule.approval && rule.approval.approver_groups.some((group) => groups.includes(group)))
      .map((rule) => {
        const votes = input.votes.filter((vote) => vote.approver === subject && vote.rule === rule.id);
        return { rule: rule.id, approverGroups: [...rule.approval!.approver_groups], lastDecidedMs: votes.length > 0 ? Math.max(...votes.map((vote) => vote.timeMs)) : null, decisions: votes.length };
      });
    const consoleRoles = [...rolesOf(identity, input.consoleRoles)].filter((role) => kind === "person" || role !== "user");
    return { kind, subject, name: name ?? usage?.name ?? null, groups, source, status, expiresAt, firstSeenMs: msOrNull(usage?.firstMs), lastUsedMs: msOrNull(usage?.lastMs), requests: Number(usage?.count ?? 0), grants, consoleRoles, approverRights };
  }
  return entries.sort((a, b) => (a.kind === b.kind ? a.subject.localeCompare(b.subject) : a.kind === "person" ? -1 : 1));
}

function msOrNull(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const ms = Number(value);
  return Number.isFinite(ms) ? ms : null;
}

/** One row per identity and grant (an identity with no grant still gets a row). */
export function accessReviewCsv(entries: AccessEntry[]): string {
  const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString());
  const rows = [["kind", "subject", "name", "groups", "source", "status", "expires_at", "first_seen", "last_used", "requests", "rule", "effect", "actions", "scope", "rule_last_used", "rule_uses", "console_roles"]];
  for (const e of entries) {
    const base = [e.kind, e.subject, e.name ?? "", e.groups.join(" "), e.source, e.status, e.expiresAt ?? "", iso(e.firstSeenMs), iso(e.lastUsedMs), String(e.requests)];
    const roles = e.consoleRoles.join(" ");
    if (e.grants.length === 0 && e.approverRights.length === 0) rows.push([...base, "", "", "", "", "", "", roles]);
    for (const g of e.grants) rows.push([...base, g.rule, g.effect, g.actions.join(" "), g.scope, iso(g.lastUsedMs), String(g.uses), roles]);
    // Deciding approvals is access too: one row per rule the identity may approve for.
    for (const r of e.approverRights) rows.push([...base, r.rule, "approve", "approvals:decide", r.approverGroups.join(" "), iso(r.lastDecidedMs), String(r.decisions), roles]);
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

export function accessPage(viewer: Viewer, entries: AccessEntry[], policy: CompiledPolicy): string {
  const unused = entries.flatMap((e) => e.grants.filter((g) => g.uses === 0)).length;
  return consoleLayout(
    viewer,
    "access",
    "Access review",
    html`<div class="panel"><p>Who holds which access under policy <span class="mono">${policy.source}</span> (sha256 ${policy.sha256.slice(0, 16)}), and when each identity last used each grant.
${unused > 0 ? html`<strong>${unused}</strong> grants have never been used in the recorded history: candidates for removal.` : null}
Console roles come from <span class="mono">console.roles</span>; approver rights from each rule's <span class="mono">approval.approver_groups</span>, with the last decision from the approvals store.</p>
<a class="button" href="/console/access.csv" download>Download CSV</a></div>
<div class="table-scroll"><table data-testid="access-review"><thead><tr><th>Identity</th><th>Kind</th><th>Groups</th><th>Console roles</th><th>Status</th><th>Last used</th><th>Grants (last used)</th><th>Approver rights (last decision)</th></tr></thead><tbody>
${entries.map(
  (e) => html`<tr data-subject="${e.subject}"><td><a href="/console/identities/${encodeURIComponent(e.subject)}">${e.name ?? e.subject}</a><div class="muted mono">${e.subject}</div></td><td>${e.kind}<div class="muted">${e.source}</div></td><td>${e.groups.join(", ") || "—"}</td>
<td data-testid="console-roles">${e.consoleRoles.length === 0 ? html`<span class="muted">none</span>` : e.consoleRoles.map((role) => html`${badge(role)} `)}</td>
<td>${badge(e.status)}${e.expiresAt ? html`<div class="muted">expires ${e.expiresAt}</div>` : null}</td><td>${time(e.lastUsedMs)}<div class="muted">${e.requests === 1 ? "1 request" : `${e.requests} requests`}</div></td>
<td>${e.grants.length === 0 ? html`<span class="muted">none</span>` : e.grants.map((g) => html`<div class="grant" data-rule="${g.rule}"><span class="mono">${g.rule}</span> ${badge(g.effect)} <span class="muted">${g.uses > 0 ? html`${g.uses}× · last ${time(g.lastUsedMs)}` : "never used"}</span></div>`)}</td>
<td data-testid="approver-rights">${e.approverRights.length === 0 ? html`<span class="muted">none</span>` : e.approverRights.map((r) => html`<div class="grant" data-rule="${r.rule}"><span class="mono">${r.rule}</span> <span class="muted">as ${r.approverGroups.join(", ")} · ${r.decisions > 0 ? html`${r.decisions} decided · last ${time(r.lastDecidedMs)}` : "never decided"}</span></div>`)}</td></tr>`,
)}
</tbody></table></div>`,
  );
}
