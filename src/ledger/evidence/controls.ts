// The controls an evidence bundle speaks to (SOC 2 2017 TSC, ISO/IEC 27001:2013 Annex A,
// ISO/IEC 27001:2022 Annex A), what the gateway enforces for each, which counts of the summary
// are its evidence, which records its sample is drawn from and which exceptions an auditor asks
// about. One table, read by the exporter and by verify.mjs alike.

/** Records a control's sample is drawn from (evidence/report.ts populationsOf). */
export type Population = "requests" | "refusals" | "approvals" | "masking" | "policy" | "runs" | "evidence" | "access-reviews";

/** Exceptions the report lists in full (capped) once; controls cite them by name. */
export type ExceptionName =
  | "break_glass"
  | "approvals_without_justification"
  | "refusals_by_reason"
  | "service_accounts_without_owner"
  | "service_accounts_without_expiry"
  | "dormant_identities"
  | "policy_changes";

interface Control {
  framework: "SOC 2" | "ISO 27001:2013" | "ISO 27001:2022";
  id: string;
  title: string;
  enforces: string;
  /** Names of EvidenceSummary.counts shown as this control's evidence. */
  evidence: string[];
  population: Population;
  exceptions: ExceptionName[];
}

const ACCESS = "Every request is identified (service-account key, OIDC token, SAML or OIDC browser session) and authorised against the policy in force, deny by default; the decision, the rule and the policy version are recorded before anything is forwarded.";
const IDENTITIES = "Only identities from the configured identity providers and registered service accounts are admitted. The evidence lists every identity seen with its groups, graphs and last use, and names service accounts without an owner or an expiry and identities gone dormant.";
const PRIVILEGED = "Rules that carry risk (state writes, runs on sensitive graphs) require approval by a separate approver group; break-glass groups may go ahead only with a justification, flagged and alerted; every step of an approval is a ledger record.";
const MASKING = "Request bodies are stored masked and reach LangGraph as tokens or masked values (policy masking.requests); responses and streams are masked unless the policy lets the caller see clear values; counts by entity type, never the values, are recorded.";
const LEAKAGE = "Besides masking, graph code reaches outside services only through egress routes with their own credential, which is scrubbed from every answer (credential echoes counted).";
const LOGGING = "Every request, its completion, every run the gateway admitted and every approval step is a record, committed durably before the request is forwarded (fail closed: no record, no request).";
const PROTECTION = "Records are leaves of an RFC 6962 Merkle tree under signed checkpoints (C2SP), cosigned by witnesses when configured; this bundle's verify.mjs re-proves them offline. Legal holds, purges, key rotations, exports and every look at recorded evidence are records too.";
const BOUNDARY = "The gateway is the only path to LangGraph: unknown routes, malformed or oversized requests, unauthenticated and rate-limited calls are refused at the boundary and recorded with their reason.";
const MONITORING = "Refusals, break-glass uses, approvals and run outcomes are recorded with the rule that decided, so each event can be evaluated; the sample below can be traced to its proof.";
const CHANGES = "Every policy load and every rejected policy is recorded with the file's SHA-256; each decision names the policy version that made it.";

/** Controls whose evidence includes the access-review campaigns (report.access_reviews). */
export const ACCESS_REVIEW_CONTROLS: ReadonlySet<string> = new Set(["CC6.2", "A.9.2.5", "A.5.18"]);
const REVIEW_COUNTS = ["access_reviews", "access_reviews_completed", "access_review_lines", "access_review_attested", "access_review_revoked", "access_review_pending"];
const REVIEWS = "Access is reviewed in campaigns (portcullis access-review): one line per identity with its groups, rules and their last use, console roles and approver rights, checked against the IdP directory when given; reviewers attest or revoke each line (never their own), each decision a ledger record. The campaigns below are recomputed from those records.";

export const CONTROLS: readonly Control[] = [
  { framework: "SOC 2", id: "CC6.1", title: "Logical access security", enforces: ACCESS, evidence: ["requests", "allowed", "refused", "unauthenticated", "identities"], population: "requests", exceptions: ["refusals_by_reason", "policy_changes"] },
  { framework: "SOC 2", id: "CC6.2", title: "Registration and authorisation of users", enforces: `${IDENTITIES} ${REVIEWS}`, evidence: ["identities", "service_accounts", "requests", ...REVIEW_COUNTS], population: "requests", exceptions: ["service_accounts_without_owner", "service_accounts_without_expiry", "dormant_identities"] },
  { framework: "SOC 2", id: "CC6.3", title: "Role-based access and least privilege", enforces: PRIVILEGED, evidence: ["approval_required", "break_glass", "allowed", "refused"], population: "approvals", exceptions: ["break_glass", "approvals_without_justification"] },
  { framework: "SOC 2", id: "CC6.6", title: "Protection against threats from outside the system boundary", enforces: BOUNDARY, evidence: ["refused", "unauthenticated", "requests"], population: "refusals", exceptions: ["refusals_by_reason"] },
  { framework: "SOC 2", id: "CC6.7", title: "Restriction of the transmission of information", enforces: `${MASKING} ${LEAKAGE}`, evidence: ["masked_values", "responses_masked", "responses_clear", "egress_calls", "credential_echoes"], population: "masking", exceptions: [] },
  { framework: "SOC 2", id: "CC7.2", title: "Monitoring of system components for anomalies", enforces: `${LOGGING} ${MONITORING}`, evidence: ["requests", "runs_started", "refused", "break_glass"], population: "runs", exceptions: ["break_glass", "refusals_by_reason"] },
  { framework: "SOC 2", id: "CC7.3", title: "Evaluation of security events", enforces: MONITORING, evidence: ["refused", "break_glass", "approval_required"], population: "refusals", exceptions: ["refusals_by_reason", "break_glass", "approvals_without_justification"] },
  { framework: "SOC 2", id: "CC8.1", title: "Change management", enforces: CHANGES, evidence: ["policy_loaded", "policy_rejected"], population: "policy", exceptions: ["policy_changes"] },
  { framework: "SOC 2", id: "C1.1", title: "Confidential information is identified and protected", enforces: MASKING, evidence: ["masked_values", "responses_masked", "responses_clear"], population: "masking", exceptions: [] },
  { framework: "ISO 27001:2013", id: "A.9.2.3", title: "Management of privileged access rights", enforces: PRIVILEGED, evidence: ["approval_required", "break_glass"], population: "approvals", exceptions: ["break_glass", "approvals_without_justification"] },
  { framework: "ISO 27001:2013", id: "A.9.2.5", title: "Review of user access rights", enforces: `${IDENTITIES} ${REVIEWS}`, evidence: ["identities", "service_accounts", ...REVIEW_COUNTS], population: "access-reviews", exceptions: ["dormant_identities", "service_accounts_without_owner", "service_accounts_without_expiry"] },
  { framework: "ISO 27001:2013", id: "A.12.4.1", title: "Event logging", enforces: LOGGING, evidence: ["requests", "runs_started", "refused"], population: "runs", exceptions: ["refusals_by_reason"] },
  { framework: "ISO 27001:2013", id: "A.12.4.2", title: "Protection of log information", enforces: PROTECTION, evidence: [], population: "evidence", exceptions: [] },
  { framework: "ISO 27001:2013", id: "A.14.1.2", title: "Securing application services on public networks", enforces: `${BOUNDARY} ${ACCESS}`, evidence: ["requests", "unauthenticated", "refused", "egress_calls"], population: "refusals", exceptions: ["refusals_by_reason"] },
  { framework: "ISO 27001:2022", id: "A.5.15", title: "Access control", enforces: ACCESS, evidence: ["requests", "allowed", "refused", "identities"], population: "requests", exceptions: ["refusals_by_reason", "policy_changes"] },
  { framework: "ISO 27001:2022", id: "A.5.18", title: "Access rights", enforces: `${IDENTITIES} ${REVIEWS}`, evidence: ["identities", "service_accounts", ...REVIEW_COUNTS], population: "access-reviews", exceptions: ["dormant_identities", "service_accounts_without_owner", "service_accounts_without_expiry"] },
  { framework: "ISO 27001:2022", id: "A.8.2", title: "Privileged access rights", enforces: PRIVILEGED, evidence: ["approval_required", "break_glass"], population: "approvals", exceptions: ["break_glass", "approvals_without_justification"] },
  { framework: "ISO 27001:2022", id: "A.8.5", title: "Secure authentication", enforces: ACCESS, evidence: ["requests", "unauthenticated"], population: "requests", exceptions: ["service_accounts_without_expiry"] },
  { framework: "ISO 27001:2022", id: "A.8.11", title: "Data masking", enforces: MASKING, evidence: ["masked_values", "responses_masked", "responses_clear"], population: "masking", exceptions: [] },
  { framework: "ISO 27001:2022", id: "A.8.12", title: "Data leakage prevention", enforces: `${MASKING} ${LEAKAGE}`, evidence: ["masked_values", "egress_calls", "credential_echoes"], population: "masking", exceptions: [] },
  { framework: "ISO 27001:2022", id: "A.8.15", title: "Logging", enforces: `${LOGGING} ${PROTECTION}`, evidence: ["requests", "runs_started"], population: "runs", exceptions: [] },
  { framework: "ISO 27001:2022", id: "A.8.16", title: "Monitoring activities", enforces: MONITORING, evidence: ["refused", "break_glass", "approval_required"], population: "refusals", exceptions: ["refusals_by_reason", "break_glass"] },
  { framework: "ISO 27001:2022", id: "A.5.33", title: "Protection of records", enforces: PROTECTION, evidence: [], population: "evidence", exceptions: [] },
];
