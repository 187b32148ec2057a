// The part of an evidence bundle an auditor reads first: who invoked what (by user and role),
// what was denied, what needed approval, how many values were masked, and the exceptions an
// auditor asks about. Built one record at a time (EvidenceSummariser), so an export of any size
// summarises in constant memory, and derived only from the exported records, so the bundle's
// verifier recomputes it from entries.ndjson (src/ledger/evidence/report.ts).
//
// Records come from a bundle the verifier has not trusted yet: every field is read defensively.
import type { AuditRecord } from "../record/index.js";
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
  /** The newest request's time. */
  lastSeen: string;
}

/** One record named in a list of the summary: where it is in the log and what it was. */
export interface ListedRecord {
  seq: number;
  time: string;
  subject: string;
  request: string;
  rule: string;
}

export interface EvidenceSummary {
  firstTime: string | null;
  lastTime: string | null;
  records: Record<string, number>;
  users: UserSummary[];
  denials: (ListedRecord & { status: number; reason: string })[];
  approvals: (ListedRecord & { approvers: string[] })[];
  redactions: Record<string, number>;
  outcomes: Record<string, number>;
  policyChanges: { seq: number; time: string; event: string; sha256: string | null; inForce: string | null; error: string | null }[];
  /** Requests for console assets and what browsers fetch by themselves (favicon.ico…): in the
   * records, counted here, left out of the tables people read. */
  assets: number;
  /** Counts the control report cites, by name (evidence/controls.ts says which control cites which). */
  counts: Record<string, number>;
  /** Refused requests by status and error code (or the deciding rule). */
  refusalsByReason: Record<string, number>;
  /** Requests by the policy version (decision.policy) that decided them. */
  policyVersions: { policy: string; requests: number; first: string; last: string }[];
  authMethods: Record<string, number>;
  approvalEvents: Record<string, number>;
  evidenceAccess: Record<string, number>;
  ledgerEvents: Record<string, number>;
  runStatuses: Record<string, number>;
  breakGlass: ListedRecord[];
  approvalsWithoutJustification: { seq: number; time: string; approvalId: string; requester: string; rule: string }[];
  serviceAccountsWithoutOwner: { subject: string; requests: number; lastSeen: string }[];
  serviceAccountsWithoutExpiry: { subject: string; requests: number; lastSeen: string }[];
  /** Identities whose last request came more than DORMANT_DAYS before the last record here. */
  dormantIdentities: { subject: string; kind: string; lastSeen: string; daysIdle: number }[];
}

/** Lists stop growing here (their counts do not): a bundle of millions of denials stays readable. */
export const MAX_LISTED = 1_000;
export const DORMANT_DAYS = 30;
const DAY_MS = 86_400_000;

interface UserState extends Omit<UserSummary, "graphs"> {
  graphSet: Set<string>;
  owner: string | null;
  expiresAt: string | null;
  lastMs: number;
}

export class EvidenceSummariser {
  private readonly users = new Map<string, UserState>();
  private readonly policies = new Map<string, { requests: number; first: string; last: string }>();
  private readonly summary: EvidenceSummary = {
    firstTime: null,
    lastTime: null,
    records: {},
    users: [],
    denials: [],
    approvals: [],
    redactions: {},
    outcomes: {},
    policyChanges: [],
    assets: 0,
    counts: {},
    refusalsByReason: {},
    policyVersions: [],
    authMethods: {},
    approvalEvents: {},
    evidenceAccess: {},
    ledgerEvents: {},
    runStatuses: {},
    breakGlass: [],
    approvalsWithoutJustification: [],
    serviceAccountsWithoutOwner: [],
    serviceAccountsWithoutExpiry: [],
    dormantIdentities: [],
  };
  private lastMs = -Infinity;

  add(seq: number, record: AuditRecord): void {
    const s = this.summary;
    const type = text(record.type);
    tally(s.records, type);
    const time = text(record.time);
    s.firstTime ??= time;
    s.lastTime = time;
    const ms = Date.parse(time);
    if (ms > this.lastMs) this.lastMs = ms;
    if (record.type === "request") this.addRequest(seq, record, time, ms);
    else if (record.type === "completion") {
      tally(s.outcomes, text(record.outcome));
      this.countRedactions(record.response?.redactions);
      if (record.masking?.response === "masked") this.count("responses_masked");
      if (record.masking?.response === "clear") this.count("responses_clear");
      if (typeof record.credential_echoes === "number" && record.credential_echoes > 0) this.count("credential_echoes", record.credential_echoes);
    } else if (record.type === "run") {
      tally(s.runStatuses, text(record.status));
      this.countRedactions(record.output?.redactions);
    } else if (record.type === "policy") {
      tally(this.summary.counts, record.event === "loaded" ? "policy_loaded" : "policy_rejected");
      list(s.policyChanges, { seq, time, event: text(record.event), sha256: record.sha256 ?? null, inForce: record.in_force ?? null, error: record.error ?? null });
    } else if (record.type === "approval") {
      tally(s.approvalEvents, text(record.event));
      if (record.event === "requested" && !record.justification) {
        this.count("approvals_without_justification");
        list(s.approvalsWithoutJustification, { seq, time, approvalId: text(record.approval_id), requester: text(record.requester), rule: text(record.rule) });
      }
    } else if (record.type === "access") {
      tally(s.evidenceAccess, text(record.action));
    } else if (record.type === "ledger") {
      tally(s.ledgerEvents, text(record.event));
    }
  }

  private addRequest(seq: number, record: Extract<AuditRecord, { type: "request" }>, time: string, ms: number): void {
    const s = this.summary;
    const method = text(record.method);
    const path = text(record.path);
    const effect = text(record.decision?.effect);
    const rule = text(record.decision?.rule);
    if (isAssetRequest(method, path, effect)) {
      s.assets++;
      return;
    }
    const identity = record.identity ?? null;
    const subject = identity?.subject ?? "(unidentified)";
    let user = this.users.get(subject);
    if (!user) {
      user = { subject, kind: identity?.kind ?? "none", groups: strings(identity?.groups), requests: 0, allowed: 0, denied: 0, approvalRequired: 0, runs: 0, lastSeen: time, graphSet: new Set(), owner: null, expiresAt: null, lastMs: -Infinity };
      this.users.set(subject, user);
    }
    user.requests++;
    // The latest record says who owns a service account and when its key expires.
    user.owner = identity?.owner ?? null;
    user.expiresAt = identity?.expires_at ?? null;
    if (!(ms < user.lastMs)) [user.lastMs, user.lastSeen] = [ms, time];
    for (const graph of strings(record.resources?.graphs)) user.graphSet.add(graph);
    if (record.operation?.creates_run && record.status === undefined) {
      user.runs++;
      this.count("runs_started");
    }
    this.count("requests");
    tally(s.authMethods, identity ? text(identity.auth_method) : "none");
    const policy = record.decision?.policy;
    if (typeof policy === "string") {
      const seen = this.policies.get(policy);
      if (seen) [seen.requests, seen.last] = [seen.requests + 1, time];
      else this.policies.set(policy, { requests: 1, first: time, last: time });
    }
    if (record.egress) this.count("egress_calls");
    const request = `${method} ${path}`;
    const refused = typeof record.status === "number" && record.status >= 400;
    if (effect === "require-approval") {
      user.approvalRequired++;
      this.count("approval_required");
      list(s.approvals, { seq, time, subject, request, rule, approvers: strings(record.decision.approval?.approver_groups) });
      const via = record.approval?.via;
      if (via === "break-glass") {
        this.count("break_glass");
        list(s.breakGlass, { seq, time, subject, request, rule });
      }
    } else if (refused) {
      user.denied++;
    } else {
      user.allowed++;
      this.count("allowed");
    }
    if (refused) {
      this.count("refused");
      if (record.status === 401) this.count("unauthenticated");
      const reason = text(record.error ?? rule);
      tally(s.refusalsByReason, `${record.status} ${reason}`);
      list(s.denials, { seq, time, subject, request, rule, status: record.status!, reason });
    }
    this.countRedactions(record.body?.redactions);
  }

  private countRedactions(redactions: Record<string, number> | undefined): void {
    if (typeof redactions !== "object" || redactions === null) return;
    for (const [type, n] of Object.entries(redactions)) {
      if (typeof n !== "number") continue;
      this.summary.redactions[type] = (this.summary.redactions[type] ?? 0) + n;
      this.count("masked_values", n);
    }
  }

  private count(name: string, n = 1): void {
    this.summary.counts[name] = (this.summary.counts[name] ?? 0) + n;
  }

  /** The summary of everything added so far. */
  result(): EvidenceSummary {
    const s = this.summary;
    const users = [...this.users.values()].sort((a, b) => b.requests - a.requests || (a.subject < b.subject ? -1 : 1));
    s.users = users.map(({ graphSet, owner: _owner, expiresAt: _expiresAt, lastMs: _lastMs, ...user }) => ({ ...user, graphs: [...graphSet].sort() }));
    const accounts = users.filter((user) => user.kind === "service-account");
    s.serviceAccountsWithoutOwner = accounts.filter((user) => !user.owner).map(({ subject, requests, lastSeen }) => ({ subject, requests, lastSeen }));
    s.serviceAccountsWithoutExpiry = accounts.filter((user) => !user.expiresAt).map(({ subject, requests, lastSeen }) => ({ subject, requests, lastSeen }));
    s.dormantIdentities = users
      .filter((user) => user.subject !== "(unidentified)" && this.lastMs - user.lastMs > DORMANT_DAYS * DAY_MS)
      .map((user) => ({ subject: user.subject, kind: user.kind, lastSeen: user.lastSeen, daysIdle: Math.floor((this.lastMs - user.lastMs) / DAY_MS) }))
      .sort((a, b) => b.daysIdle - a.daysIdle || (a.subject < b.subject ? -1 : 1));
    s.policyVersions = [...this.policies].map(([policy, seen]) => ({ policy, ...seen })).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.policy < b.policy ? -1 : 1));
    s.counts.identities = users.length;
    s.counts.service_accounts = accounts.length;
    return s;
  }
}

/** The summary of a list of records (numbered from 0). */
export function summarise(records: AuditRecord[]): EvidenceSummary {
  const summariser = new EvidenceSummariser();
  records.forEach((record, seq) => summariser.add(seq, record));
  return summariser.result();
}

/** One table of invocations by user and role; spreadsheet-safe (formula prefixes neutralised). */
export function summaryCsv(summary: Pick<EvidenceSummary, "users">): string {
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

function tally(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function list<T>(items: T[], item: T): void {
  if (items.length < MAX_LISTED) items.push(item);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
