// The control report of an evidence bundle (report.json for tools, report.html for people):
// for each control of evidence/controls.ts, what the gateway enforces, the evidence in the bundle
// (counts, a sample of records with their inclusion proofs, the policy versions in force) and the
// exceptions. Computed one record at a time from the exported records alone, by the exporter and
// again by verify.mjs, which fails when the bundle's report.json differs from its own.
//
// The sample is reproducible and chosen by nobody: from each population, the SAMPLE_SIZE records
// whose SHA-256(root ‖ seq) is smallest, where root is the end checkpoint's signed root.
import * as crypto from "node:crypto";
import type { AuditRecord } from "../../record/index.js";
import { leafHash } from "../merkle.js";
import { isAssetRequest } from "../sessionIndex.js";
import { DORMANT_DAYS, EvidenceSummariser, MAX_LISTED, type EvidenceSummary } from "../summary.js";
import { AccessReviewTracker, campaignReport, type CampaignReport } from "./accessReviews.js";
import { ACCESS_REVIEW_CONTROLS, CONTROLS, type ExceptionName, type Population } from "./controls.js";

export const REPORT_FORMAT = "portcullis-evidence-report/v1";
const SAMPLE_SIZE = 5;
const POPULATIONS: readonly Population[] = ["requests", "refusals", "approvals", "masking", "policy", "runs", "evidence", "access-reviews"];

/** What the report covers, from the manifest: the same values for the exporter and the verifier. */
export interface ReportScope {
  origin: string;
  range: { start: number; end: number };
  checkpoint: { size: number; root: string };
  filter: Record<string, string> | null;
}

export interface SampledRecord {
  seq: number;
  /** base64 RFC 6962 leaf hash; the record's inclusion proof is proofs/<seq>.tlog-proof. */
  leaf_hash: string;
  type: string;
  time: string;
  subject: string | null;
  what: string;
}

export interface ControlEvidence {
  framework: string;
  id: string;
  title: string;
  enforces: string;
  evidence: Record<string, number>;
  /** The population its sample is drawn from, and how many records it holds. */
  population: { name: Population; records: number };
  sample: SampledRecord[];
  exceptions: Partial<Record<ExceptionName, number>>;
  /** For the access-review controls (CC6.2, A.9.2.5, A.5.18): the campaigns in the records. */
  access_reviews?: CampaignReport[];
}

export interface EvidenceReport {
  format: typeof REPORT_FORMAT;
  origin: string;
  range: { start: number; end: number };
  checkpoint: { size: number; root: string };
  filter: Record<string, string> | null;
  period: { first: string | null; last: string | null };
  sampling: { seed: string; per_population: number; method: string };
  records: Record<string, number>;
  counts: Record<string, number>;
  policy_versions: EvidenceSummary["policyVersions"];
  users: EvidenceSummary["users"];
  authentication: Record<string, number>;
  approval_events: Record<string, number>;
  redactions: Record<string, number>;
  outcomes: Record<string, number>;
  run_statuses: Record<string, number>;
  evidence_access: Record<string, number>;
  ledger_events: Record<string, number>;
  assets: number;
  approvals: EvidenceSummary["approvals"];
  denials: EvidenceSummary["denials"];
  exceptions: {
    break_glass: EvidenceSummary["breakGlass"];
    approvals_without_justification: EvidenceSummary["approvalsWithoutJustification"];
    refusals_by_reason: Record<string, number>;
    service_accounts_without_owner: EvidenceSummary["serviceAccountsWithoutOwner"];
    service_accounts_without_expiry: EvidenceSummary["serviceAccountsWithoutExpiry"];
    dormant_identities: EvidenceSummary["dormantIdentities"];
    policy_changes: EvidenceSummary["policyChanges"];
  };
  /** Access-review campaigns whose records are in the bundle, derived from those records alone. */
  access_reviews: CampaignReport[];
  controls: ControlEvidence[];
  notes: string[];
}

interface Candidate extends SampledRecord {
  /** Hex: ordered as the hash's bytes are. */
  key: string;
}

/** Feeds records in log order; `report` gives the control report of everything fed. */
export class EvidenceCollector {
  readonly summariser = new EvidenceSummariser();
  readonly accessReviews = new AccessReviewTracker();
  private readonly samples = new Map<Population, Candidate[]>(POPULATIONS.map((name) => [name, []]));
  private readonly sizes = new Map<Population, number>(POPULATIONS.map((name) => [name, 0]));
  /** A record's sampling key is SHA-256(seed ‖ its position as 8 bytes); the seed is the end root. */
  private readonly keyInput: Buffer;

  /** `root`: the end checkpoint's root, the sample's seed. */
  constructor(root: Buffer) {
    this.keyInput = Buffer.concat([root, Buffer.alloc(8)]);
  }

  /** `leaf`: the entry's bytes as stored (its leaf hash is computed only for a sampled record). */
  add(seq: number, leaf: Buffer, record: AuditRecord): void {
    this.summariser.add(seq, record);
    this.accessReviews.add(seq, record);
    const populations = populationsOf(record);
    if (populations.length === 0) return;
    this.keyInput.writeBigUInt64BE(BigInt(seq), this.keyInput.length - 8);
    const key = sha256Hex(this.keyInput);
    let candidate: Candidate | undefined;
    for (const population of populations) {
      this.sizes.set(population, this.sizes.get(population)! + 1);
      const chosen = this.samples.get(population)!;
      if (chosen.length === SAMPLE_SIZE && key >= chosen[SAMPLE_SIZE - 1]!.key) continue;
      candidate ??= { key, seq, leaf_hash: leafHash(leaf).toString("base64"), type: text(record.type), time: text(record.time), subject: subjectOf(record), what: describe(record) };
      const at = chosen.findIndex((other) => key < other.key);
      chosen.splice(at < 0 ? chosen.length : at, 0, candidate);
      if (chosen.length > SAMPLE_SIZE) chosen.pop();
    }
  }

  /** Sequence numbers of every sampled record, ascending: each needs an inclusion proof. */
  sampledSeqs(): number[] {
    return [...new Set([...this.samples.values()].flatMap((chosen) => chosen.map((c) => c.seq)))].sort((a, b) => a - b);
  }

  report(scope: ReportScope): EvidenceReport {
    const s = this.summariser.result();
    const campaigns = this.accessReviews.all().map((campaign) => campaignReport(campaign, MAX_LISTED));
    const counts = { ...s.counts, ...(campaigns.length > 0 ? accessReviewCounts(campaigns) : {}) };
    const sampleOf = (population: Population): SampledRecord[] =>
      [...this.samples.get(population)!].sort((a, b) => a.seq - b.seq).map(({ key: _key, ...sampled }) => sampled);
    const exceptionCounts: Record<ExceptionName, number> = {
      break_glass: s.counts.break_glass ?? 0,
      approvals_without_justification: s.counts.approvals_without_justification ?? 0,
      refusals_by_reason: s.counts.refused ?? 0,
      service_accounts_without_owner: s.serviceAccountsWithoutOwner.length,
      service_accounts_without_expiry: s.serviceAccountsWithoutExpiry.length,
      dormant_identities: s.dormantIdentities.length,
      policy_changes: (s.counts.policy_loaded ?? 0) + (s.counts.policy_rejected ?? 0),
    };
    return {
      format: REPORT_FORMAT,
      origin: scope.origin,
      range: scope.range,
      checkpoint: scope.checkpoint,
      filter: scope.filter,
      period: { first: s.firstTime, last: s.lastTime },
      sampling: {
        seed: scope.checkpoint.root,
        per_population: SAMPLE_SIZE,
        method: `from each population, the ${SAMPLE_SIZE} records whose SHA-256(checkpoint root || seq as 8-byte big-endian) is smallest`,
      },
      records: s.records,
      counts,
      policy_versions: s.policyVersions,
      users: s.users,
      authentication: s.authMethods,
      approval_events: s.approvalEvents,
      redactions: s.redactions,
      outcomes: s.outcomes,
      run_statuses: s.runStatuses,
      evidence_access: s.evidenceAccess,
      ledger_events: s.ledgerEvents,
      assets: s.assets,
      approvals: s.approvals,
      denials: s.denials,
      exceptions: {
        break_glass: s.breakGlass,
        approvals_without_justification: s.approvalsWithoutJustification,
        refusals_by_reason: s.refusalsByReason,
        service_accounts_without_owner: s.serviceAccountsWithoutOwner,
        service_accounts_without_expiry: s.serviceAccountsWithoutExpiry,
        dormant_identities: s.dormantIdentities,
        policy_changes: s.policyChanges,
      },
      access_reviews: campaigns,
      controls: CONTROLS.map((control) => ({
        framework: control.framework,
        id: control.id,
        title: control.title,
        enforces: control.enforces,
        evidence: Object.fromEntries(control.evidence.map((name) => [name, counts[name] ?? 0])),
        population: { name: control.population, records: this.sizes.get(control.population)! },
        sample: sampleOf(control.population),
        exceptions: Object.fromEntries(control.exceptions.map((name) => [name, exceptionCounts[name]])),
        ...(ACCESS_REVIEW_CONTROLS.has(control.id) ? { access_reviews: campaigns } : {}),
      })),
      notes: [
        `Lists stop at ${MAX_LISTED} items; their counts do not.`,
        `Dormant: an identity whose last request came more than ${DORMANT_DAYS} days before the last record in this bundle.`,
        "Access reviews: a campaign's lines, decisions and completion as recorded in this range; exceptions are revocations and lines still pending (at completion, or at the end of the range when the campaign is open).",
        "Derived from the records in entries.ndjson alone; node verify.mjs recomputes this report and fails when it differs.",
      ],
    };
  }
}

/** The populations a record belongs to (a refused request is in requests and refusals). */
function populationsOf(record: AuditRecord): Population[] {
  const populations: Population[] = [];
  if (record.type === "request") {
    if (isAssetRequest(text(record.method), text(record.path), text(record.decision?.effect))) return populations;
    populations.push("requests");
    if (typeof record.status === "number" && record.status >= 400) populations.push("refusals");
    if (record.decision?.effect === "require-approval") populations.push("approvals");
  } else if (record.type === "approval") populations.push("approvals");
  else if (record.type === "policy") populations.push("policy");
  else if (record.type === "completion" || record.type === "run") populations.push("runs");
  else if (record.type === "access" || record.type === "ledger") populations.push("evidence");
  // A campaign's decisions and its start and completion; its many `line` records are not sampled.
  else if (record.type === "access_review" && record.event !== "line") populations.push("access-reviews");
  const redactions = record.type === "request" ? record.body?.redactions : record.type === "completion" ? record.response?.redactions : record.type === "run" ? record.output?.redactions : undefined;
  if (typeof redactions === "object" && redactions !== null && Object.values(redactions).some((n) => typeof n === "number" && n > 0)) populations.push("masking");
  return populations;
}

function subjectOf(record: AuditRecord): string | null {
  if (record.type === "request") return record.identity?.subject ?? null;
  if (record.type === "approval") return text(record.actor);
  if (record.type === "access" || record.type === "ledger" || record.type === "access_review") return text(record.actor);
  return null;
}

/** One line an auditor reads beside the sampled record's number. */
function describe(record: AuditRecord): string {
  switch (record.type) {
    case "request": {
      const outcome = typeof record.status === "number" ? `refused ${record.status} ${text(record.error)}`.trim() : text(record.decision?.effect);
      return `${text(record.method)} ${text(record.path)}: ${outcome} by rule ${text(record.decision?.rule)}`;
    }
    case "completion":
      return `completion of ${text(record.request_id)}: ${text(record.outcome)}, status ${text(record.status)}`;
    case "run":
      return `run ${text(record.run_id)} of ${text(record.request_id)}: ${text(record.status)}`;
    case "approval":
      return `approval ${text(record.approval_id)} ${text(record.event)} (rule ${text(record.rule)}, requester ${text(record.requester)})`;
    case "policy":
      return `policy ${text(record.event)}: ${text(record.sha256)}`;
    case "access":
      return `${text(record.action)}${record.session ? ` of ${text(record.session)}` : ""} via ${text(record.via)}`;
    case "ledger":
      return `ledger ${text(record.event)}`;
    case "access_review":
      return `access review ${text(record.request_id)} ${text(record.event)}${record.subject ? ` ${text(record.subject)}` : ""}${record.reason ? `: ${text(record.reason)}` : ""}`;
    default:
      return "";
  }
}

function text(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
}

function accessReviewCounts(campaigns: CampaignReport[]): Record<string, number> {
  const sum = (pick: (c: CampaignReport) => number) => campaigns.reduce((n, c) => n + pick(c), 0);
  return {
    access_reviews: campaigns.length,
    access_reviews_completed: campaigns.filter((c) => c.completed !== null).length,
    access_review_lines: sum((c) => c.lines),
    access_review_attested: sum((c) => c.attested),
    access_review_revoked: sum((c) => c.revoked),
    access_review_pending: sum((c) => c.pending),
  };
}

// One-shot crypto.hash (Node 20.12+) costs half of a Hash object, once per record of an export.
const oneShot = (crypto as Partial<typeof crypto>).hash;
function sha256Hex(data: Buffer): string {
  return oneShot ? oneShot("sha256", data, "hex") : crypto.createHash("sha256").update(data).digest("hex");
}
