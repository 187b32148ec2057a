// The access review (ISO 27001 A.9.2.3): who holds which access — people and service accounts,
// their groups, the policy rules that grant them something — and when each grant was last used,
// from the session index. Exported as CSV for the reviewer's sign-off.
import { parse as parseCsv } from "csv-parse/sync";
import { subjectMatcher, type CompiledPolicy } from "../authorize/index.js";
import type { PortcullisConfig } from "../config/index.js";
import type { Identity } from "../identify/index.js";
import type { AccessReviewLine } from "../record/index.js";
import { campaignReport, csvField, type CampaignState, type GrantUsage, type IdentityUsage } from "../ledger/index.js";
import type { StoredServiceAccount } from "../storage/index.js";
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
  /** Where the identity is defined: the config file, the CLI's store, seen in the ledger (IdP
   * users), or only in an IdP directory export (access-review campaigns). */
  source: "config" | "cli" | "identity provider" | "directory";
  status: "active" | "revoked" | "expired" | "inactive";
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
  /** People in an IdP directory export: those never seen get an entry too, with the access their directory groups give. */
  directory?: DirectoryEntry[];
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
  for (const person of input.directory ?? []) {
    if (entries.some((e) => e.subject === person.subject)) continue;
    entries.push(entry("person", person.subject, person.name, person.groups, "directory", person.active ? "active" : "inactive", null));
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

/** One identity of an IdP directory export (CSV with a header row: subject,name,groups,active). */
interface DirectoryEntry {
  subject: string;
  name: string | null;
  groups: string[];
  active: boolean;
}

export class DirectoryError extends Error {
  override name = "DirectoryError";
}

/** Parses an RFC 4180 directory export: header `subject,name,groups,active` (any order, more
 * columns ignored), groups separated by spaces or semicolons, active true/false/yes/no/1/0. */
export function parseDirectoryCsv(text: string): DirectoryEntry[] {
  let rows: string[][];
  try {
    rows = parseCsv(text, { bom: true, relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (error) {
    throw new DirectoryError(`the directory CSV cannot be read: ${(error as Error).message}`);
  }
  const header = (rows.shift() ?? []).map((name) => name.trim().toLowerCase());
  const column = (name: string) => header.indexOf(name);
  const [subject, name, groups, active] = [column("subject"), column("name"), column("groups"), column("active")];
  if (subject < 0) throw new DirectoryError("the directory CSV needs a header row with a subject column (subject,name,groups,active)");
  const entries: DirectoryEntry[] = [];
  const seen = new Set<string>();
  rows.forEach((row, i) => {
    const id = (row[subject] ?? "").trim();
    if (!id) throw new DirectoryError(`directory CSV row ${i + 2}: no subject`);
    if (seen.has(id)) throw new DirectoryError(`directory CSV row ${i + 2}: ${id} is listed twice`);
    seen.add(id);
    const flag = active < 0 ? "true" : (row[active] ?? "").trim().toLowerCase();
    if (!["true", "false", "yes", "no", "1", "0"].includes(flag)) throw new DirectoryError(`directory CSV row ${i + 2}: active is "${flag}"; use true or false`);
    entries.push({
      subject: id,
      name: name < 0 ? null : (row[name] ?? "").trim() || null,
      groups: groups < 0 ? [] : (row[groups] ?? "").split(/[ ;]+/).filter(Boolean),
      active: ["true", "yes", "1"].includes(flag),
    });
  });
  return entries;
}

/** The lines of a new campaign: every identity of the review (built with the directory, so its
 * identities never seen are there too), each flagged against the directory when one is given. */
export function campaignLines(entries: AccessEntry[], directory: DirectoryEntry[] | null): AccessReviewLine[] {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const listed = new Map((directory ?? []).map((d) => [d.subject, d]));
  return entries.map((e) => {
    const inDirectory = listed.get(e.subject);
    const flags: AccessReviewLine["flags"] = [];
    // Service accounts are the gateway's own; an IdP directory does not list them.
    if (directory && e.kind === "person" && !inDirectory) flags.push("not-in-directory");
    if (e.requests === 0 && inDirectory) flags.push("never-seen");
    if (inDirectory && !inDirectory.active) flags.push("inactive-in-directory");
    return {
      subject: e.subject,
      name: e.name,
      kind: e.kind,
      groups: [...e.groups],
      source: e.source,
      grants: e.grants.map((g) => ({ rule: g.rule, last_used: iso(g.lastUsedMs), uses: g.uses })),
      console_roles: [...e.consoleRoles],
      approver_rules: e.approverRights.map((r) => r.rule),
      last_used: iso(e.lastUsedMs),
      flags,
    };
  });
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
<a class="button" href="/console/access.csv" download>Download CSV</a> <a class="button" href="/console/access-reviews">Review campaigns</a></div>
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

/** Who may attest or revoke campaign lines: the roles that see the access review. Nobody decides their own line. */
export function mayReviewAccess(viewer: Viewer): boolean {
  return viewer.roles.has("admin") || viewer.roles.has("auditor");
}

export function campaignsPage(viewer: Viewer, campaigns: CampaignState[], flash?: { text: string; good: boolean }): string {
  return consoleLayout(
    viewer,
    "access",
    "Access reviews",
    html`${flash ? html`<div id="flash" class="flash ${flash.good ? "good" : "bad"}">${flash.text}</div>` : null}
<div class="panel"><p>A campaign lists every identity with its access as it stood when the campaign started; reviewers attest or revoke each line. Every step is a ledger record, and the next evidence bundle shows the campaign (docs/evidence.md).</p>
<form method="post" action="/console/access-reviews/start" class="spaced"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><button type="submit" data-testid="start-campaign">Start a campaign</button></form>
<p class="muted">With an IdP directory export: <span class="mono">portcullis access-review start --directory users.csv</span>.</p></div>
<div class="table-scroll"><table data-testid="campaigns"><thead><tr><th>Campaign</th><th>Started</th><th>State</th><th>Lines</th><th>Attested</th><th>Revoked</th><th>Pending</th></tr></thead><tbody>
${campaigns.length === 0 ? html`<tr><td colspan="7" class="muted">No campaign yet.</td></tr>` : [...campaigns].reverse().map((c) => {
  const r = campaignReport(c, Number.MAX_SAFE_INTEGER);
  return html`<tr data-campaign="${c.id}"><td><a class="mono" href="/console/access-reviews/${c.id}">${c.id}</a></td><td>${c.startedAt}<div class="muted">${c.startedBy}</div></td><td>${badge(r.completed ? "completed" : "open")}</td><td>${r.lines}</td><td>${r.attested}</td><td>${r.revoked}</td><td>${r.pending}</td></tr>`;
})}
</tbody></table></div>`,
  );
}

export function campaignPage(viewer: Viewer, campaign: CampaignState, flash?: { text: string; good: boolean }): string {
  const r = campaignReport(campaign, Number.MAX_SAFE_INTEGER);
  const decides = mayReviewAccess(viewer) && !campaign.completed;
  const action = (verb: "attest" | "revoke") => `/console/access-reviews/${encodeURIComponent(campaign.id)}/${verb}`;
  return consoleLayout(
    viewer,
    "access",
    `Access review ${campaign.id}`,
    html`${flash ? html`<div id="flash" class="flash ${flash.good ? "good" : "bad"}">${flash.text}</div>` : null}
<div class="panel"><p>Started ${campaign.startedAt} by <span class="mono">${campaign.startedBy}</span>${campaign.policy ? html` under policy <span class="mono">${campaign.policy.source}</span> (sha256 ${campaign.policy.sha256.slice(0, 16)})` : null}${campaign.directory ? html`, checked against the directory export <span class="mono">${campaign.directory.file}</span> (${campaign.directory.identities} identities)` : null}.</p>
<p data-testid="campaign-state">${badge(r.completed ? "completed" : "open")} ${r.attested} attested · ${r.revoked} revoked · ${r.pending} pending of ${r.lines}${r.completed ? html` · completed ${r.completed} by <span class="mono">${r.completed_by}</span>` : null}</p>
<p class="muted">A revocation records the decision; it does not change the identity provider. Remove the access there (or revoke a CLI-made service account's key with <span class="mono">portcullis access-review revoke --revoke-key</span>).</p></div>
<div class="table-scroll"><table data-testid="campaign-lines"><thead><tr><th>Identity</th><th>Groups</th><th>Grants (last used)</th><th>Console roles</th><th>Approver for</th><th>Last used</th><th>Flags</th><th>Decision</th></tr></thead><tbody>
${[...campaign.lines.values()].map(({ line, decision }) => html`<tr data-subject="${line.subject}" data-state="${decision ? decision.verdict : "pending"}"><td>${line.name ?? line.subject}<div class="muted mono">${line.subject}</div><div class="muted">${line.kind} · ${line.source}</div></td>
<td>${line.groups.join(", ") || "—"}</td>
<td>${line.grants.length === 0 ? html`<span class="muted">none</span>` : line.grants.map((g) => html`<div class="grant"><span class="mono">${g.rule}</span> <span class="muted">${g.last_used ?? "never used"}</span></div>`)}</td>
<td>${line.console_roles.join(", ") || "—"}</td><td>${line.approver_rules.join(", ") || "—"}</td><td>${line.last_used ?? "never"}</td>
<td>${line.flags.map((flag) => html`${badge(flag)} `)}</td>
<td data-testid="decision">${decision
  ? html`${badge(decision.verdict)} <div class="muted">by <span class="mono">${decision.by}</span>${decision.reason ? html`: ${decision.reason}` : null}</div>`
  : !decides
    ? html`<span class="muted">pending</span>`
    : line.subject === viewer.identity.subject
      ? html`<span class="muted">your own access: another reviewer decides</span>`
      : html`<form method="post" action="${action("attest")}" class="vote" data-verdict="attest"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><input type="hidden" name="subject" value="${line.subject}"><button type="submit">Attest</button></form>
<form method="post" action="${action("revoke")}" class="vote" data-verdict="revoke"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><input type="hidden" name="subject" value="${line.subject}"><input name="reason" placeholder="Reason (required)" required maxlength="500"><button type="submit">Revoke</button></form>`}</td></tr>`)}
</tbody></table></div>
${decides ? html`<form method="post" action="/console/access-reviews/${campaign.id}/complete" class="spaced"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><button type="submit" data-testid="complete-campaign">Complete now (pending lines become exceptions)</button></form>` : null}`,
  );
}
