// The part of an evidence bundle an auditor reads first: who invoked what (by user and role),
// what was denied, what needed approval, and how many values were masked. Derived only from
// the exported records, so it can be recomputed from entries.ndjson.
import type { AuditRecord, PayloadReference } from "../record/auditRecord.js";
import { isAssetRequest } from "./sessionIndex.js";

export interface UserSummary {
  subject: string;
  kind: string;
  groups: string[];
  requests: number;
  allowed: number;
  denied: number;
  approvalRequired: number;
  runs: number;
  graphs: string[];
}

export interface EvidenceSummary {
  firstTime: string | null;
  lastTime: string | null;
  records: Record<string, number>;
  users: UserSummary[];
  denials: { time: string; subject: string; method: string; path: string; rule: string; status: number | null }[];
  approvals: { time: string; subject: string; method: string; path: string; rule: string; approvers: string[] }[];
  redactions: Record<string, number>;
  outcomes: Record<string, number>;
  policyChanges: { time: string; event: string; sha256: string | null }[];
  /** Requests for console assets and what browsers fetch by themselves (favicon.ico…): in the
   * records, counted here, left out of the tables people read. */
  assets: number;
}

const MAX_LISTED = 5_000;

export function summarise(records: AuditRecord[]): EvidenceSummary {
  const users = new Map<string, UserSummary & { graphSet: Set<string> }>();
  const summary: EvidenceSummary = { firstTime: null, lastTime: null, records: {}, users: [], denials: [], approvals: [], redactions: {}, outcomes: {}, policyChanges: [], assets: 0 };
  const countRedactions = (reference: PayloadReference | undefined) => {
    for (const [type, n] of Object.entries(reference?.redactions ?? {})) summary.redactions[type] = (summary.redactions[type] ?? 0) + n;
  };
  for (const record of records) {
    summary.records[record.type] = (summary.records[record.type] ?? 0) + 1;
    summary.firstTime ??= record.time;
    summary.lastTime = record.time;
    if (record.type === "request" && isAssetRequest(record.method, record.path, record.decision.effect)) {
      summary.assets++;
    } else if (record.type === "request") {
      const subject = record.identity?.subject ?? "(unidentified)";
      let user = users.get(subject);
      if (!user) {
        user = { subject, kind: record.identity?.kind ?? "none", groups: record.identity?.groups ?? [], requests: 0, allowed: 0, denied: 0, approvalRequired: 0, runs: 0, graphs: [], graphSet: new Set() };
        users.set(subject, user);
      }
      user.requests++;
      for (const graph of record.resources?.graphs ?? []) user.graphSet.add(graph);
      if (record.operation?.creates_run && record.status === undefined) user.runs++;
      const effect = record.decision.effect;
      if (effect === "require-approval") {
        user.approvalRequired++;
        if (summary.approvals.length < MAX_LISTED) {
          summary.approvals.push({ time: record.time, subject, method: record.method, path: record.path, rule: record.decision.rule, approvers: record.decision.approval?.approver_groups ?? [] });
        }
      } else if (record.status !== undefined && record.status >= 400) {
        user.denied++;
        if (summary.denials.length < MAX_LISTED) summary.denials.push({ time: record.time, subject, method: record.method, path: record.path, rule: record.decision.rule, status: record.status });
      } else {
        user.allowed++;
      }
      countRedactions(record.body);
    } else if (record.type === "completion") {
      summary.outcomes[record.outcome] = (summary.outcomes[record.outcome] ?? 0) + 1;
      countRedactions(record.response);
    } else if (record.type === "run") {
      countRedactions(record.output);
    } else if (record.type === "policy") {
      summary.policyChanges.push({ time: record.time, event: record.event, sha256: record.sha256 });
    }
  }
  summary.users = [...users.values()]
    .map(({ graphSet, ...user }) => ({ ...user, graphs: [...graphSet].sort() }))
    .sort((a, b) => b.requests - a.requests || (a.subject < b.subject ? -1 : 1));
  return summary;
}

/** One table of invocations by user and role; spreadsheet-safe (formula prefixes neutralised). */
export function summaryCsv(summary: EvidenceSummary): string {
  const rows = [["subject", "kind", "groups", "requests", "allowed", "denied", "approval_required", "runs", "graphs"]];
  for (const user of summary.users) {
    rows.push([user.subject, user.kind, user.groups.join(" "), String(user.requests), String(user.allowed), String(user.denied), String(user.approvalRequired), String(user.runs), user.graphs.join(" ")]);
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

export function csvField(value: string): string {
  // A leading = + - @ makes spreadsheets evaluate the cell (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export interface ReportContext {
  origin: string;
  filter: Record<string, string>;
  start: number;
  end: number;
  checkpointSize: number;
  exportedAt: string;
}

/** A self-contained page (no scripts, no external resources). */
export function summaryHtml(summary: EvidenceSummary, context: ReportContext): string {
  const table = (headers: string[], rows: (string | number)[][]) =>
    rows.length === 0
      ? `<p class="none">None in this period.</p>`
      : `<table><thead><tr>${headers.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>${rows
          .map((row) => `<tr>${row.map((cell) => `<td${typeof cell === "number" ? ' class="n"' : ""}>${escape(String(cell))}</td>`).join("")}</tr>`)
          .join("")}</tbody></table>`;
  const filter = Object.entries(context.filter).map(([k, v]) => `${k} ${v}`).join(", ") || "none (every record in the range)";
  const totals = summary.users.reduce((t, u) => ({ requests: t.requests + u.requests, denied: t.denied + u.denied, approval: t.approval + u.approvalRequired, runs: t.runs + u.runs }), { requests: 0, denied: 0, approval: 0, runs: 0 });
  const masked = Object.values(summary.redactions).reduce((a, b) => a + b, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Portcullis evidence: ${escape(context.origin)}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2430}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d8dde6;padding-bottom:.3rem}
.meta{color:#566074}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1.2rem 0}
.card{border:1px solid #d8dde6;border-radius:8px;padding:.7rem 1rem;min-width:150px}.card b{display:block;font-size:1.4rem}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #eceff4;vertical-align:top}
th{background:#f5f7fa}td.n{text-align:right;font-variant-numeric:tabular-nums}.none{color:#566074}
code{background:#f5f7fa;padding:0 .3rem;border-radius:4px}
</style></head><body>
<h1>Audit evidence for ${escape(context.origin)}</h1>
<p class="meta">Records ${context.start} to ${context.end - 1} (ledger size ${context.checkpointSize} at export) ·
period ${escape(summary.firstTime ?? "-")} to ${escape(summary.lastTime ?? "-")} · filter: ${escape(filter)} · exported ${escape(context.exportedAt)}</p>
<p>Check this bundle before relying on it: <code>node verify.mjs</code> in this directory (Node.js 20+, nothing else). It checks the signatures, the Merkle proofs and every file's hash.</p>
<div class="cards">
<div class="card"><b>${totals.requests}</b>requests</div><div class="card"><b>${totals.runs}</b>runs started</div>
<div class="card"><b>${totals.denied}</b>refused</div><div class="card"><b>${totals.approval}</b>held for approval</div>
<div class="card"><b>${masked}</b>values masked</div><div class="card"><b>${summary.users.length}</b>identities</div>
</div>
${summary.assets > 0 ? `<p class="meta">${summary.assets} requests for console assets and browser housekeeping (favicon.ico, robots.txt…) are in the records and proofs but not in the tables below.</p>` : ""}
<h2>Invocations by user and role</h2>
${table(["Identity", "Kind", "Groups (roles)", "Requests", "Allowed", "Refused", "Approval", "Runs", "Graphs"], summary.users.map((u) => [u.subject, u.kind, u.groups.join(", "), u.requests, u.allowed, u.denied, u.approvalRequired, u.runs, u.graphs.join(", ")]))}
<h2>Approvals required</h2>
${table(["Time", "Identity", "Request", "Rule", "Approver groups"], summary.approvals.map((a) => [a.time, a.subject, `${a.method} ${a.path}`, a.rule, a.approvers.join(", ")]))}
<h2>Denials</h2>
${table(["Time", "Identity", "Request", "Rule", "Status"], summary.denials.map((d) => [d.time, d.subject, `${d.method} ${d.path}`, d.rule, d.status ?? ""]))}
<h2>Masked values by type</h2>
${table(["Entity type", "Values masked"], Object.entries(summary.redactions).sort().map(([type, n]) => [type, n]))}
<h2>Outcomes of admitted requests</h2>
${table(["Outcome", "Requests"], Object.entries(summary.outcomes).sort().map(([outcome, n]) => [outcome, n]))}
<h2>Policy changes</h2>
${table(["Time", "Event", "Policy SHA-256"], summary.policyChanges.map((p) => [p.time, p.event, p.sha256 ?? ""]))}
<h2>Controls this evidence supports</h2>
${table(
  ["Control", "Evidence here"],
  [
    ["SOC 2 CC6.1, CC6.3 (logical access, least privilege)", "Every request with its verified identity, groups and policy decision; denials"],
    ["SOC 2 CC7.2, CC7.3 (monitoring, evaluating events)", "Complete, ordered request and run records; outcomes; signed checkpoints"],
    ["SOC 2 CC8.1 (changes)", "Policy loads and rejections with file hashes"],
    ["ISO 27001:2022 A.8.15 (logging)", "Tamper-evident ledger: Merkle proofs, signed checkpoints, key history"],
    ["ISO 27001:2022 A.8.16 (monitoring activities)", "Approvals required, refusals, masked-value counts"],
    ["ISO 27001:2022 A.5.18 / A.8.2 (access rights, privileged access)", "Invocations by identity and role"],
  ],
)}
</body></html>
`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
