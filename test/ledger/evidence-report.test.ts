// The control report of an evidence bundle (src/ledger/evidence/) and whole sessions in filtered
// exports, against a fixed ledger written here by a real Ledger on SQLite: the counts, exceptions
// and samples are asserted as concrete values; verify.mjs must recompute the report, and fail when
// the operator (who holds the log key) edits it and re-signs the bundle.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { Operation } from "../../src/classify/index.js";
import type { Identity } from "../../src/identify/identity.js";
import { verifyBundle } from "../../src/ledger/bundleVerifier.js";
import { CONTROLS } from "../../src/ledger/evidence/controls.js";
import type { EvidenceReport } from "../../src/ledger/evidence/report.js";
import { BUNDLE_FORMAT, exportEvidence, type ExportRequest } from "../../src/ledger/export.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { signNote } from "../../src/ledger/note.js";
import { loadLogKey } from "../../src/ledger/keys.js";
import { SqliteLedgerStore } from "../../src/ledger/sqliteStore.js";
import type { VerificationReport } from "../../src/ledger/verify.js";
import type { AppendContext, AuditRecord, RequestRecord } from "../../src/record/auditRecord.js";

const ORIGIN = "portcullis.test/evidence";
const SILENT = pino({ level: "silent" });

const ALICE: Identity = { subject: "oidc:corp:alice", kind: "oidc", groups: ["engineering"], auth_method: "oidc-bearer", credential_id: "oidc:corp" };
const BOB: Identity = { subject: "oidc:corp:bob", kind: "oidc", groups: ["support"], auth_method: "browser-session", credential_id: "session" };
const DAVE: Identity = { subject: "oidc:corp:dave", kind: "oidc", groups: ["oncall"], auth_method: "oidc-bearer", credential_id: "oidc:corp" };
const EVE: Identity = { subject: "oidc:corp:eve", kind: "oidc", groups: ["engineering"], auth_method: "oidc-bearer", credential_id: "oidc:corp" };
const CI: Identity = { subject: "sa:ci", kind: "service-account", groups: ["ci"], auth_method: "api-key", credential_id: "ab12", owner: "team-ci", expires_at: "2027-01-01T00:00:00Z" };
const LEGACY: Identity = { subject: "sa:legacy", kind: "service-account", groups: ["ci"], auth_method: "api-key", credential_id: "cd34" };
const AUDITOR = "oidc:corp:auditor";
const POLICY_1 = "1111111111111111";
const POLICY_2 = "2222222222222222";

interface Item {
  record: AuditRecord;
  context: AppendContext;
}

/**
 * The traffic, in log order. eve's one request comes 40 days before everything else (dormant);
 * alice runs the agent graph under two policy versions; bob's run on the tools graph needs an
 * approval asked without justification, and its completion, approval steps and run are recorded
 * without graphs (as a filter by graph can miss them); dave goes ahead by break-glass; sa:legacy
 * has neither owner nor expiry; three refusals; an auditor looks at bob's and alice's sessions.
 */
function traffic(): Item[] {
  const items: Item[] = [];
  let second = 0;
  const time = () => new Date(Date.UTC(2026, 3, 10, 9, 0, second++)).toISOString();
  const request = (id: string, at: string, identity: Identity | null, fields: Partial<RequestRecord>): Item => ({
    record: {
      type: "request",
      request_id: id,
      time: at,
      client: { address: "10.0.0.7", user_agent: "langgraph-sdk" },
      method: "POST",
      path: "/threads/search",
      query: "",
      identity,
      operation: null,
      decision: { effect: "allow", rule: "read-threads", policy: POLICY_1 },
      ...fields,
    } as RequestRecord,
    context: { subject: identity?.subject ?? null, graphs: fields.resources?.graphs ?? [] },
  });
  const completion = (id: string, subject: string, graphs: string[], extra: Record<string, unknown> = {}): Item => ({
    record: { type: "completion", request_id: id, time: time(), status: 200, upstream_status: 200, outcome: "ok", duration_ms: 30, bytes_in: 10, bytes_out: 20, ...extra } as AuditRecord,
    context: { subject, graphs },
  });
  const run = (id: string, subject: string, graphs: string[], contextGraphs: string[]): Item => ({
    record: { type: "run", request_id: id, time: time(), run_id: `run-${id}`, thread_id: `thread-${id}`, graphs, status: "success", steps: [], followed_ms: 50 },
    context: { subject, graphs: contextGraphs },
  });
  const runOperation = { route: "runs.stream", resource: "runs", action: "runs:create", actions: ["runs:create"], risk: "execute", response: "sse", ids: {}, assistant_ids: [], risk_reasons: [], creates_run: true } satisfies Operation;
  const approval = (event: "requested" | "approved" | "used" | "break_glass", requestId: string, actor: string, requester: string, justification: string | null, approvalId = `appr-${requestId}`): Item => ({
    record: { type: "approval", time: time(), approval_id: approvalId, request_id: requestId, event, actor, requester, rule: "tools-need-approval", graphs: ["tools"], actions: ["runs:create"], approver_groups: ["leads"], approvals_required: 1, approvals_given: event === "requested" ? 0 : 1, justification },
    context: { subject: requester, graphs: [] },
  });

  items.push(request("req-eve", new Date(Date.UTC(2026, 2, 1, 9, 0, 0)).toISOString(), EVE, { resources: { graphs: ["agent"] } }));
  items.push(completion("req-eve", EVE.subject, ["agent"]));
  items.push({ record: { type: "policy", time: time(), event: "loaded", source: "policy.yaml", sha256: "a".repeat(64), in_force: POLICY_1 }, context: {} });
  items.push(request("req-a1", time(), ALICE, { path: "/threads/t1/runs/stream", operation: runOperation, decision: { effect: "allow", rule: "engineers-run", policy: POLICY_1 }, resources: { graphs: ["agent"] }, body: { sha256: "b".repeat(64), bytes: 10, masking: "presidio", redactions: { EMAIL_ADDRESS: 2 } } }));
  items.push(completion("req-a1", ALICE.subject, ["agent"], { response: { sha256: "c".repeat(64), bytes: 10, masking: "presidio", redactions: { PHONE_NUMBER: 1 } }, masking: { response: "masked", redactions: { PHONE_NUMBER: 1 } } }));
  items.push(run("req-a1", ALICE.subject, ["agent"], ["agent"]));
  items.push(request("req-ci1", time(), CI, {}));
  items.push(completion("req-ci1", CI.subject, []));
  items.push({ record: { type: "policy", time: time(), event: "rejected", source: "policy.yaml", sha256: "d".repeat(64), in_force: POLICY_1, error: "rule 3: unknown verb" }, context: {} });
  items.push(request("req-b1", time(), BOB, { path: "/threads/t2/runs/stream", operation: runOperation, decision: { effect: "require-approval", rule: "tools-need-approval", policy: POLICY_1, approval: { approver_groups: ["leads"] } as never }, resources: { graphs: ["tools"] }, status: 202, approval: { via: "asked" } }));
  // Answered 202 while the approval is asked: held, not refused.
  items.push(approval("requested", "req-b1", BOB.subject, BOB.subject, null));
  items.push(approval("approved", "req-b1", "oidc:corp:carol", BOB.subject, null));
  items.push(request("req-b2", time(), BOB, { path: "/threads/t2/runs/stream", operation: runOperation, decision: { effect: "require-approval", rule: "tools-need-approval", policy: POLICY_1, approval: { approver_groups: ["leads"] } as never }, resources: { graphs: ["tools"] }, approval: { via: "approved", approval_id: "appr-req-b1" } }));
  items.push(approval("used", "req-b2", "gateway", BOB.subject, null, "appr-req-b1"));
  items.push(completion("req-b2", BOB.subject, [], { run_id: "run-req-b2", thread_id: "thread-req-b2" }));
  items.push(run("req-b2", BOB.subject, ["tools"], []));
  items.push(request("req-d1", time(), DAVE, { path: "/threads/t3/runs/stream", operation: runOperation, decision: { effect: "require-approval", rule: "tools-need-approval", policy: POLICY_1, approval: { approver_groups: ["leads"] } as never }, resources: { graphs: ["tools"] }, approval: { via: "break-glass", justification: "incident 42" } }));
  items.push(approval("break_glass", "req-d1", DAVE.subject, DAVE.subject, "incident 42"));
  items.push(completion("req-d1", DAVE.subject, ["tools"]));
  items.push(request("req-x1", time(), ALICE, { path: "/threads/t9/state", decision: { effect: "deny", rule: "default:deny", policy: POLICY_1 }, resources: { graphs: ["agent"] }, status: 403, error: "PC_FORBIDDEN" }));
  items.push(request("req-x2", time(), CI, { path: "/assistants/a1", decision: { effect: "deny", rule: "default:deny", policy: POLICY_1 }, status: 403, error: "PC_FORBIDDEN" }));
  items.push(request("req-x3", time(), null, { path: "/threads", decision: { effect: "deny", rule: "unauthenticated" }, status: 401, error: "PC_UNAUTHENTICATED" }));
  items.push({ record: { type: "policy", time: time(), event: "loaded", source: "policy.yaml", sha256: "e".repeat(64), in_force: POLICY_2 }, context: {} });
  items.push(request("req-a2", time(), ALICE, { path: "/threads/t1/runs/stream", operation: runOperation, decision: { effect: "allow", rule: "engineers-run", policy: POLICY_2 }, resources: { graphs: ["agent"] } }));
  items.push(completion("req-a2", ALICE.subject, ["agent"]));
  items.push(run("req-a2", ALICE.subject, ["agent"], ["agent"]));
  items.push(request("req-l1", time(), LEGACY, { decision: { effect: "allow", rule: "read-threads", policy: POLICY_2 } }));
  items.push(completion("req-l1", LEGACY.subject, []));
  items.push({ record: { type: "access", time: time(), actor: AUDITOR, via: "console", action: "session.view", session: "req-b2" }, context: { subject: AUDITOR, graphs: [] } });
  items.push({ record: { type: "access", time: time(), actor: AUDITOR, via: "cli", action: "session.replay", session: "req-a1" }, context: { subject: AUDITOR, graphs: [] } });
  return items;
}

let workDir: string;
let ledgerFile: string;
let keyFile: string;
let size: number;
const SEQ = new Map<string, number>();

before(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "pc-evidence-report-"));
  ledgerFile = path.join(workDir, "ledger.db");
  keyFile = path.join(workDir, "ledger-signing-key.pem");
  const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(ledgerFile), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 64 });
  try {
    for (const { record, context } of traffic()) {
      const { seq } = await ledger.append(record, context);
      const key = record.type === "request" ? record.request_id : `${record.type}:${"request_id" in record ? record.request_id : "session" in record ? record.session : record.time}${record.type === "approval" ? `:${record.event}` : ""}`;
      SEQ.set(key, seq);
    }
    size = await ledger.store.size(ORIGIN);
  } finally {
    await ledger.close();
  }
});

after(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function exportBundle(name: string, filter: Partial<ExportRequest> = {}): Promise<string> {
  const outDir = path.join(workDir, name);
  const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(ledgerFile), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 64, role: "tool" });
  try {
    await exportEvidence(ledger, { outDir, exportedBy: "test", ...filter });
  } finally {
    await ledger.close();
  }
  return outDir;
}

async function readReport(dir: string): Promise<EvidenceReport> {
  return JSON.parse(await readFile(path.join(dir, "report.json"), "utf8")) as EvidenceReport;
}

async function entries(dir: string): Promise<{ seq: number; record: AuditRecord }[]> {
  const text = await readFile(path.join(dir, "entries.ndjson"), "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const leaf = JSON.parse(line) as { seq: string; record: AuditRecord };
      return { seq: Number(leaf.seq), record: leaf.record };
    });
}

function line(report: VerificationReport, label: string) {
  const found = report.results.find((result) => result.label === label);
  assert.ok(found, `no line "${label}" in\n${report.format()}`);
  return found;
}

/** What the operator, who holds the log key, can do to a bundle: edit files, re-list, re-sign. */
async function resignWithLogKey(dir: string, format = BUNDLE_FORMAT): Promise<void> {
  const manifestFile = path.join(dir, "manifest.json");
  const manifest = JSON.parse(await readFile(manifestFile, "utf8")) as { format: string; files: { path: string; sha256: string; bytes: number }[] };
  if (format !== BUNDLE_FORMAT) {
    // v1 lists every file, payloads and proofs too.
    manifest.format = format;
    const all = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
    manifest.files = all.filter((name) => name !== "manifest.json" && name !== "manifest.note").sort().map((name) => ({ path: name, sha256: "", bytes: 0 }));
  }
  for (const listed of manifest.files) {
    const body = await readFile(path.join(dir, listed.path));
    Object.assign(listed, { sha256: sha256Hex(body), bytes: body.length });
  }
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
  await writeFile(manifestFile, bytes);
  const key = await loadLogKey(keyFile, ORIGIN);
  await writeFile(path.join(dir, "manifest.note"), signNote(`${format}\n${ORIGIN}\n${sha256Hex(bytes)}\n`, [key.signer]));
}

function sha256Hex(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

describe("the control report of a full export", () => {
  let bundle: string;
  let report: EvidenceReport;

  before(async () => {
    bundle = await exportBundle("full");
    report = await readReport(bundle);
  });

  test("counts requests, runs, refusals, approvals and masked values from the records", () => {
    assert.equal(report.range.start, 0);
    assert.equal(report.range.end, size);
    assert.equal(report.checkpoint.size, size);
    assert.deepEqual(report.records, { request: 11, completion: 7, run: 3, policy: 3, approval: 4, access: 2 });
    assert.equal(report.counts.requests, 11);
    assert.equal(report.counts.refused, 3);
    assert.equal(report.counts.unauthenticated, 1);
    assert.equal(report.counts.approval_required, 3);
    assert.equal(report.counts.break_glass, 1);
    assert.equal(report.counts.runs_started, 4);
    assert.equal(report.counts.masked_values, 3);
    assert.equal(report.counts.responses_masked, 1);
    assert.equal(report.counts.identities, 7);
    assert.equal(report.counts.service_accounts, 2);
    assert.deepEqual(report.redactions, { EMAIL_ADDRESS: 2, PHONE_NUMBER: 1 });
    assert.deepEqual(report.authentication, { "oidc-bearer": 5, "browser-session": 2, "api-key": 3, none: 1 });
    assert.deepEqual(report.approval_events, { requested: 1, approved: 1, used: 1, break_glass: 1 });
    assert.deepEqual(report.evidence_access, { "session.view": 1, "session.replay": 1 });
  });

  test("names the exceptions: break-glass, approvals without justification, refusals by reason, service accounts without owner or expiry, dormant identities, policy changes", () => {
    const ex = report.exceptions;
    assert.deepEqual(ex.break_glass, [{ seq: SEQ.get("req-d1"), time: ex.break_glass[0]?.time, subject: DAVE.subject, request: "POST /threads/t3/runs/stream", rule: "tools-need-approval" }]);
    assert.deepEqual(
      ex.approvals_without_justification.map((a) => [a.seq, a.approvalId, a.requester]),
      [[SEQ.get("approval:req-b1:requested"), "appr-req-b1", BOB.subject]],
    );
    assert.deepEqual(ex.refusals_by_reason, { "403 PC_FORBIDDEN": 2, "401 PC_UNAUTHENTICATED": 1 });
    assert.deepEqual(ex.service_accounts_without_owner.map((a) => a.subject), [LEGACY.subject]);
    assert.deepEqual(ex.service_accounts_without_expiry.map((a) => a.subject), [LEGACY.subject]);
    assert.deepEqual(ex.dormant_identities, [{ subject: EVE.subject, kind: "oidc", lastSeen: "2026-03-01T09:00:00.000Z", daysIdle: 40 }]);
    assert.deepEqual(
      ex.policy_changes.map((p) => [p.event, p.inForce, p.error]),
      [
        ["loaded", POLICY_1, null],
        ["rejected", POLICY_1, "rule 3: unknown verb"],
        ["loaded", POLICY_2, null],
      ],
    );
    assert.deepEqual(
      report.policy_versions.map((p) => [p.policy, p.requests]),
      [
        [POLICY_1, 8],
        [POLICY_2, 2],
      ],
    );
  });

  test("lists each user's graphs exactly, from the graphs their requests named", () => {
    const graphs = Object.fromEntries(report.users.map((user) => [user.subject, user.graphs]));
    assert.deepEqual(graphs, {
      [ALICE.subject]: ["agent"],
      [BOB.subject]: ["tools"],
      [DAVE.subject]: ["tools"],
      [EVE.subject]: ["agent"],
      [CI.subject]: [],
      [LEGACY.subject]: [],
      "(unidentified)": [],
    });
  });

  test("maps every control asked for, each with evidence, a sample and its exceptions", () => {
    assert.deepEqual(
      report.controls.map((c) => `${c.framework} ${c.id}`),
      [
        ...["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.2", "CC7.3", "CC8.1", "C1.1"].map((id) => `SOC 2 ${id}`),
        ...["A.9.2.3", "A.9.2.5", "A.12.4.1", "A.12.4.2", "A.14.1.2"].map((id) => `ISO 27001:2013 ${id}`),
        ...["A.5.15", "A.5.18", "A.8.2", "A.8.5", "A.8.11", "A.8.12", "A.8.15", "A.8.16", "A.5.33"].map((id) => `ISO 27001:2022 ${id}`),
      ],
    );
    const byId = Object.fromEntries(report.controls.map((c) => [c.id, c]));
    assert.deepEqual(byId["CC6.3"]!.exceptions, { break_glass: 1, approvals_without_justification: 1 });
    assert.deepEqual(byId["A.9.2.5"]!.exceptions, { dormant_identities: 1, service_accounts_without_owner: 1, service_accounts_without_expiry: 1 });
    assert.deepEqual(byId["CC8.1"]!.evidence, { policy_loaded: 2, policy_rejected: 1 });
    // The policy population holds three records: all of them are the sample.
    assert.deepEqual(byId["CC8.1"]!.sample.map((s) => s.type), ["policy", "policy", "policy"]);
    assert.deepEqual(byId["CC6.6"]!.population, { name: "refusals", records: 3 });
    assert.deepEqual(byId["CC6.6"]!.sample.map((s) => s.seq), [SEQ.get("req-x1"), SEQ.get("req-x2"), SEQ.get("req-x3")]);
    for (const control of CONTROLS) assert.ok(byId[control.id]!.enforces.length > 40, control.id);
  });

  test("docs/evidence.md lists every control the report maps", async () => {
    const doc = await readFile(new URL("../../docs/evidence.md", import.meta.url), "utf8");
    for (const control of CONTROLS) assert.ok(doc.includes(`| ${control.framework} | ${control.id} `), `${control.framework} ${control.id} is not in docs/evidence.md`);
  });

  test("samples the records whose SHA-256(checkpoint root || seq) is smallest, each with an inclusion proof", async () => {
    const root = Buffer.from(report.checkpoint.root, "base64");
    const key = (seq: number) => {
      const position = Buffer.alloc(8);
      position.writeBigUInt64BE(BigInt(seq));
      return createHash("sha256").update(root).update(position).digest("hex");
    };
    const requests = (await entries(bundle)).filter(({ record }) => record.type === "request").map(({ seq }) => seq);
    const expected = [...requests].sort((a, b) => (key(a) < key(b) ? -1 : 1)).slice(0, 5).sort((a, b) => a - b);
    const sample = report.controls.find((c) => c.id === "CC6.1")!.sample;
    assert.deepEqual(sample.map((s) => s.seq), expected);
    const proofs = await readdir(path.join(bundle, "proofs"));
    for (const { seq } of sample) assert.ok(proofs.includes(`${seq}.tlog-proof`), `no proof for sampled entry ${seq}`);
  });

  test("report.html shows each control with its sample and the exceptions", async () => {
    const html = await readFile(path.join(bundle, "report.html"), "utf8");
    assert.match(html, /SOC 2 CC6\.3: Role-based access and least privilege/);
    assert.match(html, /ISO 27001:2022 A\.8\.11: Data masking/);
    assert.match(html, /Break-glass uses<\/h3>\n<table>.*oidc:corp:dave/);
    assert.match(html, /Dormant identities<\/h3>\n<table>.*oidc:corp:eve.*<td class="n">40<\/td>/);
  });

  test("verify.mjs recomputes the report and finds it valid", async () => {
    const run = await node([path.join(bundle, "verify.mjs"), bundle]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Report report\.json\s+valid \(recomputed from the records: 23 controls\)/);
    assert.match(run.stdout, /Report report\.html\s+valid/);
    assert.match(run.stdout, /Report sample\s+valid \(\d+ sampled records, each included in checkpoint/);
  });

  test("a report edited by the operator and re-signed with the log key is named: it differs from the records", async () => {
    const dir = path.join(workDir, "edited-report");
    await cp(bundle, dir, { recursive: true });
    const edited = await readReport(dir);
    edited.exceptions.break_glass = [];
    edited.counts.break_glass = 0;
    await writeFile(path.join(dir, "report.json"), JSON.stringify(edited, null, 2) + "\n");
    await resignWithLogKey(dir);
    const report = await verifyBundle(dir);
    assert.equal(report.valid, false);
    assert.equal(line(report, "Manifest manifest.note").ok, true);
    const check = line(report, "Report report.json");
    assert.equal(check.ok, false);
    assert.match(check.detail, /differs from the report recomputed from the records: counts, exceptions/);
  });

  test("a bundle relabelled portcullis-evidence/v1 to escape the report check still has its report.json recomputed", async () => {
    const dir = path.join(workDir, "relabelled");
    await cp(bundle, dir, { recursive: true });
    const edited = await readReport(dir);
    edited.exceptions.dormant_identities = [];
    await writeFile(path.join(dir, "report.json"), JSON.stringify(edited, null, 2) + "\n");
    await resignWithLogKey(dir, "portcullis-evidence/v1");
    const report = await verifyBundle(dir);
    assert.match(line(report, "Manifest manifest.json").detail, /portcullis-evidence\/v1/);
    assert.equal(line(report, "Manifest manifest.note").ok, true);
    assert.match(line(report, "Report report.json").detail, /differs from the report recomputed from the records: exceptions/);
    assert.equal(report.valid, false);
  });

  test("a report.html edited and re-signed is named, and so is a sampled record's proof deleted", async () => {
    const dir = path.join(workDir, "edited-html");
    await cp(bundle, dir, { recursive: true });
    const html = path.join(dir, "report.html");
    await writeFile(html, (await readFile(html, "utf8")).replace("oidc:corp:dave", "oidc:corp:nobody"));
    const sampled = (await readReport(dir)).controls[0]!.sample[0]!.seq;
    await unlink(path.join(dir, "proofs", `${sampled}.tlog-proof`));
    await resignWithLogKey(dir);
    const report = await verifyBundle(dir);
    assert.equal(line(report, "Report report.html").ok, false);
    const sample = line(report, "Report sample");
    assert.equal(sample.ok, false);
    assert.match(sample.detail, new RegExp(`entry ${sampled}: not found`));
  });

  test("a payload added after the export is named through payloads.txt, and so is a proof for no entry", async () => {
    const dir = path.join(workDir, "payloads");
    await cp(bundle, dir, { recursive: true });
    await mkdir(path.join(dir, "payloads"), { recursive: true });
    await writeFile(path.join(dir, "payloads", "f".repeat(64)), "");
    await writeFile(path.join(dir, "proofs", "99999.tlog-proof"), "");
    const report = await verifyBundle(dir);
    assert.equal(report.valid, false);
    assert.match(line(report, `Payload payloads/${"f".repeat(64)}`).detail, /not in payloads\.txt/);
    assert.match(line(report, "Proofs proofs/").detail, /1 proof files for no exported or sampled entry/);
  });
});

describe("payloads in a bundle", () => {
  test("a payload the export wrote, deleted afterwards, is named through payloads.txt", async () => {
    // A ledger of its own whose request body is stored as a payload.
    const file = path.join(workDir, "payload-ledger.db");
    const body = Buffer.from('{"input":"hello"}');
    const sha256 = sha256Hex(body);
    const ledger = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 8 });
    try {
      await ledger.append(
        { type: "request", request_id: "r1", time: new Date().toISOString(), client: { address: null, user_agent: null }, method: "POST", path: "/threads", query: "", identity: ALICE, operation: null, decision: { effect: "allow", rule: "r" }, body: { sha256, bytes: body.length, masking: "builtin" } },
        { subject: ALICE.subject, payloads: [{ sha256, body }] },
      );
    } finally {
      await ledger.close();
    }
    const outDir = path.join(workDir, "payload-bundle");
    const tool = await Ledger.open({ origin: ORIGIN, store: new SqliteLedgerStore(file), keyFile, log: SILENT, checkpointIntervalMs: 60_000, heartbeatIntervalMs: 60_000, maxBatch: 8, role: "tool" });
    try {
      assert.equal((await exportEvidence(tool, { outDir, exportedBy: "test" })).payloads, 1);
    } finally {
      await tool.close();
    }
    assert.equal(await readFile(path.join(outDir, "payloads.txt"), "utf8"), `${sha256}\n`);
    assert.equal((await verifyBundle(outDir)).valid, true);
    await unlink(path.join(outDir, "payloads", sha256));
    const report = await verifyBundle(outDir);
    assert.equal(report.valid, false);
    assert.match(line(report, `Payload payloads/${sha256}`).detail, /payloads\.txt lists it, the file was deleted after the export/);
  });
});

describe("filtered exports hold whole sessions", () => {
  test("--graph tools holds bob's and dave's sessions whole: requests, approval steps, completions, runs and the auditor's look, though several were recorded without the graph", async () => {
    const dir = await exportBundle("graph-tools", { graph: "tools" });
    const exported = await entries(dir);
    const expected = [
      "req-b1",
      "approval:req-b1:requested",
      "approval:req-b1:approved",
      "req-b2",
      "approval:req-b2:used",
      "completion:req-b2",
      "run:req-b2",
      "req-d1",
      "approval:req-d1:break_glass",
      "completion:req-d1",
      "access:req-b2",
    ].map((key) => SEQ.get(key));
    assert.deepEqual(exported.map(({ seq }) => seq), expected);
    const verified = await verifyBundle(dir);
    assert.equal(verified.valid, true, verified.format());
    const report = await readReport(dir);
    assert.deepEqual(report.users.map((u) => [u.subject, u.graphs]), [
      [BOB.subject, ["tools"]],
      [DAVE.subject, ["tools"]],
    ]);
    assert.deepEqual(report.filter, { graph: "tools" });
  });

  test("--user alice holds her sessions and who looked at them, and nobody else's records", async () => {
    const dir = await exportBundle("user-alice", { user: ALICE.subject });
    const exported = await entries(dir);
    const expected = ["req-a1", "completion:req-a1", "run:req-a1", "req-x1", "req-a2", "completion:req-a2", "run:req-a2", "access:req-a1"].map((key) => SEQ.get(key));
    assert.deepEqual(exported.map(({ seq }) => seq), expected);
    const verified = await verifyBundle(dir);
    assert.equal(verified.valid, true, verified.format());
  });

  test("--user with a period holds the sessions that started in it, with their later records", async () => {
    const started = traffic().find(({ record }) => record.type === "request" && record.request_id === "req-b2")!.record.time;
    const dir = await exportBundle("user-bob-period", { user: BOB.subject, fromMs: Date.parse(started), toMs: Date.parse(started) + 1 });
    const exported = await entries(dir);
    assert.deepEqual(
      exported.map(({ seq }) => seq),
      ["req-b2", "approval:req-b2:used", "completion:req-b2", "run:req-b2", "access:req-b2"].map((key) => SEQ.get(key)),
    );
    assert.equal((await verifyBundle(dir)).valid, true);
  });
});

describe("exports that match nothing", () => {
  test("a filter no record matches is refused, leaving the directory empty", async () => {
    await assert.rejects(exportBundle("nobody", { user: "oidc:corp:nobody" }), /no ledger records match this export's period and filters/);
    assert.deepEqual(await readdir(path.join(workDir, "nobody")), []);
  });
});

describe("time-range exports", () => {
  test("a period runs on to the completions and runs of the sessions admitted in it, contiguous", async () => {
    const started = traffic().find(({ record }) => record.type === "request" && record.request_id === "req-b2")!.record.time;
    const dir = await exportBundle("period-b2", { fromMs: Date.parse(started), toMs: Date.parse(started) + 1 });
    const exported = await entries(dir);
    const [first, last] = [SEQ.get("req-b2")!, SEQ.get("run:req-b2")!];
    assert.deepEqual(
      exported.map(({ seq }) => seq),
      Array.from({ length: last - first + 1 }, (_, i) => first + i),
    );
    const report = await readReport(dir);
    assert.deepEqual(report.range, { start: first, end: last + 1 });
    assert.deepEqual(report.filter, { from: started, to: new Date(Date.parse(started) + 1).toISOString() });
    const verified = await verifyBundle(dir);
    assert.equal(verified.valid, true, verified.format());
  });
});

function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}
