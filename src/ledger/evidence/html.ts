// report.html: the control report (evidence/report.ts) as a self-contained page for people, no
// scripts and no external resources. Rendered from report.json alone, so verify.mjs renders it
// again and compares.
import type { ControlEvidence, EvidenceReport } from "./report.js";

const EXCEPTION_TITLES: Record<string, string> = {
  break_glass: "Break-glass uses",
  approvals_without_justification: "Approvals asked without a justification",
  refusals_by_reason: "Refusals by reason",
  service_accounts_without_owner: "Service accounts without an owner",
  service_accounts_without_expiry: "Service accounts whose key never expires",
  dormant_identities: "Dormant identities",
  policy_changes: "Policy changes",
};

const COUNT_TITLES: Record<string, string> = {
  requests: "requests",
  allowed: "allowed",
  refused: "refused",
  unauthenticated: "refused as unauthenticated",
  identities: "identities",
  service_accounts: "service accounts",
  approval_required: "held for approval",
  break_glass: "break-glass uses",
  masked_values: "values masked",
  responses_masked: "responses masked",
  responses_clear: "responses sent clear (policy restore_for)",
  egress_calls: "egress calls",
  credential_echoes: "credential echoes scrubbed",
  runs_started: "runs started",
  policy_loaded: "policies loaded",
  policy_rejected: "policies rejected",
  access_reviews: "access-review campaigns",
  access_reviews_completed: "campaigns completed",
  access_review_lines: "lines reviewed",
  access_review_attested: "lines attested",
  access_review_revoked: "lines revoked",
  access_review_pending: "lines pending",
};

export function reportHtml(report: EvidenceReport, exportedAt: string): string {
  const filter = Object.entries(report.filter ?? {}).map(([k, v]) => `${k} ${v}`).join(", ") || "none (every record in the range)";
  const counts = report.counts;
  const card = (n: number | undefined, label: string) => `<div class="card"><b>${n ?? 0}</b>${escape(label)}</div>`;
  const ex = report.exceptions;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Portcullis evidence: ${escape(report.origin)}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2430}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6;padding-bottom:.3rem}h3{font-size:1rem;margin:1.4rem 0 .3rem}
.meta{color:#566074}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1.2rem 0}
.card{border:1px solid #d8dde6;border-radius:8px;padding:.7rem 1rem;min-width:150px}.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #eceff4;vertical-align:top}
th{background:#f5f7fa}td.n{text-align:right;font-variant-numeric:tabular-nums}.none{color:#566074}
code{background:#f5f7fa;padding:0 .3rem;border-radius:4px}.control{border:1px solid #d8dde6;border-radius:8px;padding:.2rem 1rem 1rem;margin:1rem 0}
.flag{color:#a3261b;font-weight:600}
</style></head><body>
<h1>Audit evidence for ${escape(report.origin)}</h1>
<p class="meta">Records ${report.range.start} to ${report.range.end - 1} (checkpoint at size ${report.checkpoint.size}) ·
period ${escape(report.period.first ?? "-")} to ${escape(report.period.last ?? "-")} · filter: ${escape(filter)} · exported ${escape(exportedAt)}</p>
<p>Check this bundle before relying on it: <code>node verify.mjs</code> in this directory (Node.js 20+, nothing else). It checks the signatures, the Merkle proofs, every file's hash, and recomputes this report (report.json) from the records.</p>
<div class="cards">
${card(counts.requests, "requests")}${card(counts.runs_started, "runs started")}${card(counts.refused, "refused")}${card(counts.approval_required, "held for approval")}${card(counts.masked_values, "values masked")}${card(report.users.length, "identities")}
</div>
${report.assets > 0 ? `<p class="meta">${report.assets} requests for console assets and browser housekeeping (favicon.ico, robots.txt…) are in the records and proofs but not in the tables below.</p>` : ""}
<h2>Controls</h2>
<p class="meta">Sample: ${escape(report.sampling.method)}; seed ${escape(report.sampling.seed)}. Each sampled record's inclusion proof is <code>proofs/&lt;seq&gt;.tlog-proof</code>.</p>
${report.controls.map(controlSection).join("\n")}
<h2>Exceptions</h2>
<h3>${EXCEPTION_TITLES.break_glass}</h3>
${table(["Entry", "Time", "Identity", "Request", "Rule"], ex.break_glass.map((b) => [b.seq, b.time, b.subject, b.request, b.rule]))}
<h3>${EXCEPTION_TITLES.approvals_without_justification}</h3>
${table(["Entry", "Time", "Approval", "Requester", "Rule"], ex.approvals_without_justification.map((a) => [a.seq, a.time, a.approvalId, a.requester, a.rule]))}
<h3>${EXCEPTION_TITLES.refusals_by_reason}</h3>
${table(["Status and reason", "Requests"], Object.entries(ex.refusals_by_reason).sort().map(([reason, n]) => [reason, n]))}
<h3>${EXCEPTION_TITLES.service_accounts_without_owner}</h3>
${table(["Service account", "Requests", "Last seen"], ex.service_accounts_without_owner.map((a) => [a.subject, a.requests, a.lastSeen]))}
<h3>${EXCEPTION_TITLES.service_accounts_without_expiry}</h3>
${table(["Service account", "Requests", "Last seen"], ex.service_accounts_without_expiry.map((a) => [a.subject, a.requests, a.lastSeen]))}
<h3>${EXCEPTION_TITLES.dormant_identities}</h3>
${table(["Identity", "Kind", "Last seen", "Days idle"], ex.dormant_identities.map((d) => [d.subject, d.kind, d.lastSeen, d.daysIdle]))}
<h3>${EXCEPTION_TITLES.policy_changes}</h3>
${table(["Entry", "Time", "Event", "Policy SHA-256", "In force after", "Error"], ex.policy_changes.map((p) => [p.seq, p.time, p.event, p.sha256 ?? "", p.inForce ?? "", p.error ?? ""]))}
<h2 id="access-reviews">Access reviews</h2>
${table(["Campaign", "Started", "Completed", "Lines", "Attested", "Revoked", "Pending", "Reviewers"], report.access_reviews.map((c) => [c.id, `${c.started} by ${c.started_by}`, c.completed ? `${c.completed} by ${c.completed_by}` : "open", c.lines, c.attested, c.revoked, c.pending, c.reviewers.join(", ")]))}
<h3>Access-review exceptions: revocations and lines pending</h3>
${table(["Campaign", "Identity", "Exception", "Flags", "By", "Reason"], report.access_reviews.flatMap((c) => c.exceptions.map((e) => [c.id, e.subject, e.exception, e.flags.join(", "), e.by ?? "", e.reason ?? ""])))}
<h2>Policy versions in force</h2>
${table(["Policy version", "Requests decided", "First", "Last"], report.policy_versions.map((p) => [p.policy, p.requests, p.first, p.last]))}
<h2>Invocations by user and role</h2>
${table(["Identity", "Kind", "Groups (roles)", "Requests", "Allowed", "Refused", "Approval", "Runs", "Graphs", "Last seen"], report.users.map((u) => [u.subject, u.kind, u.groups.join(", "), u.requests, u.allowed, u.denied, u.approvalRequired, u.runs, u.graphs.join(", "), u.lastSeen]))}
<h2>Authentication</h2>
${table(["Method", "Requests"], Object.entries(report.authentication).sort().map(([method, n]) => [method, n]))}
<h2>Approvals required</h2>
${table(["Entry", "Time", "Identity", "Request", "Rule", "Approver groups"], report.approvals.map((a) => [a.seq, a.time, a.subject, a.request, a.rule, a.approvers.join(", ")]))}
<h2>Approval events</h2>
${table(["Event", "Records"], Object.entries(report.approval_events).sort().map(([event, n]) => [event, n]))}
<h2>Denials</h2>
${table(["Entry", "Time", "Identity", "Request", "Rule", "Status", "Reason"], report.denials.map((d) => [d.seq, d.time, d.subject, d.request, d.rule, d.status, d.reason]))}
<h2>Masked values by type</h2>
${table(["Entity type", "Values masked"], Object.entries(report.redactions).sort().map(([type, n]) => [type, n]))}
<h2>Outcomes of admitted requests</h2>
${table(["Outcome", "Requests"], Object.entries(report.outcomes).sort().map(([outcome, n]) => [outcome, n]))}
<h2>Runs by final status</h2>
${table(["Status", "Runs"], Object.entries(report.run_statuses).sort().map(([status, n]) => [status, n]))}
<h2>Access to recorded evidence and ledger events</h2>
${table(["What", "Records"], [...Object.entries(report.evidence_access), ...Object.entries(report.ledger_events)].sort().map(([what, n]) => [what, n]))}
<h2>Notes</h2>
<ul>${report.notes.map((note) => `<li>${escape(note)}</li>`).join("")}</ul>
</body></html>
`;
}

function controlSection(control: ControlEvidence): string {
  const exceptions = Object.entries(control.exceptions);
  return `<section class="control" id="${escape(`${control.framework} ${control.id}`.replace(/[^A-Za-z0-9.]+/g, "-"))}">
<h3>${escape(control.framework)} ${escape(control.id)}: ${escape(control.title)}</h3>
<p>${escape(control.enforces)}</p>
${Object.keys(control.evidence).length > 0 ? `<p>${Object.entries(control.evidence).map(([name, n]) => `<b>${n}</b> ${escape(COUNT_TITLES[name] ?? name)}`).join(" · ")}</p>` : ""}
<p class="meta">Sample from ${control.population.records} ${escape(control.population.name)} records:</p>
${table(["Entry", "Leaf hash", "Time", "Who", "What"], control.sample.map((s) => [s.seq, s.leaf_hash, s.time, s.subject ?? "", s.what]))}
${control.access_reviews ? `<p>Access-review campaigns: ${control.access_reviews.length === 0 ? "none in this period" : control.access_reviews.map((c) => `${escape(c.id)} (${c.completed ? "completed" : "open"}: ${c.attested} attested, ${c.revoked} revoked, ${c.pending} pending)`).join("; ")}; see <a href="#access-reviews">Access reviews</a>.</p>` : ""}
${exceptions.length > 0 ? `<p>Exceptions: ${exceptions.map(([name, n]) => `<span${n > 0 ? ' class="flag"' : ""}>${n} ${escape((EXCEPTION_TITLES[name] ?? name).toLowerCase())}</span>`).join(" · ")}</p>` : ""}
</section>`;
}

function table(headers: string[], rows: (string | number)[][]): string {
  return rows.length === 0
    ? `<p class="none">None in this period.</p>`
    : `<table><thead><tr>${headers.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>${rows
        .map((row) => `<tr>${row.map((cell) => `<td${typeof cell === "number" ? ' class="n"' : ""}>${escape(String(cell))}</td>`).join("")}</tr>`)
        .join("")}</tbody></table>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
