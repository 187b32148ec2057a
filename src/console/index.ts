// The console (/console/*), served by the gateway to people signed in through OIDC or SAML
// (src/authenticate/). Each page is one recorded request; looking at a session, exporting
// evidence and exporting the access review are access records in the ledger too.
//
//   GET  /console/                          who is signed in, where to go
//   GET  /console/sessions?filters&before=  sessions, newest first, a page at a time
//   GET  /console/sessions/<id>             one session: timeline, playback, ledger proof
//   GET  /console/identities/<subject>      one identity's activity (admin, auditor, or oneself)
//   GET  /console/approvals                 the inbox, kept current by approvals/events
//   GET  /console/approvals/events          one server-sent event stream of the inbox's state
//   GET  /console/approvals.json            pending and recent approvals the viewer may see
//   GET  /console/approvals/<id>            one approval (the console_url of notices)
//   POST /console/approvals/<id>/approve    {csrf_token, window_s?, reason?}
//   POST /console/approvals/<id>/deny       {csrf_token, reason}
//   GET  /console/audit                     ledger status; verify; export
//   POST /console/audit/verify              verify the whole ledger
//   POST /console/audit/export              {from?, to?, user?, graph?} → evidence .tar.gz
//   GET  /console/access[.csv]              the access review
//   GET  /console/access-reviews            access-review campaigns; POST .../start starts one
//   GET  /console/access-reviews/<id>       one campaign, its lines and decisions
//   POST /console/access-reviews/<id>/attest|revoke  {csrf_token, subject, reason}; .../complete
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import type { Logger } from "pino";
import { approvalView, isApprover, mayView, type Approvals } from "../approve/index.js";
import { checkCsrf, type BrowserSession, type SignIn } from "../authenticate/index.js";
import type { PolicySource } from "../authorize/index.js";
import type { PortcullisConfig } from "../config/index.js";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import { ExportError, exportEvidence, verifyStore, AccessReviewError, completeCampaign, decideLine, readCampaign, readCampaigns, startCampaign, type Ledger, type SessionQuery } from "../ledger/index.js";
import type { Identity } from "../identify/index.js";
import { accessRecord, type AccessRecord } from "../record/index.js";
import { readFormBody } from "../receive/index.js";
import { loadSession } from "../replay/index.js";
import type { LocalAnswer } from "../respond/index.js";
import type { ServiceAccountStore } from "../storage/index.js";
import { accessPage, accessReviewCsv, buildAccessReview, campaignLines, campaignPage, campaignsPage, mayReviewAccess, type ApproverVote } from "./accessReview.js";
import { approvalPage, inboxPage, inboxState, type InboxState } from "./approvalsPage.js";
import { identityPage } from "./identityPage.js";
import { auditPage, type LedgerStatus } from "./auditPage.js";
import { homePage } from "./homePage.js";
import { html } from "./html.js";
import { consoleLayout } from "./layout.js";
import { rolesOf, seesAllSessions, seesAudit, type Viewer } from "./roles.js";
import { sessionPage } from "./sessionPage.js";
import { cursorOf, FilterError, formInstant, sessionQueryOf, sessionsPage } from "./sessionsPage.js";

export { buildAccessReview, campaignLines, DirectoryError, parseDirectoryCsv } from "./accessReview.js";

const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

const ASSETS: Record<string, { file: string; type: string }> = {
  "console.css": { file: "console.css", type: "text/css; charset=utf-8" },
  "console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
};
const MAX_FORM_BYTES = 16 * 1024;
/** How often an open inbox stream looks for changes (in this process; no request, no record). */
const INBOX_CHECK_MS = 1_000;
const INBOX_HEARTBEAT_MS = 15_000;
/** Sessions lists count their matches up to this many. */
const COUNT_LIMIT = 1_000;

interface ConsoleDeps {
  signIn: SignIn;
  /** The ledger, when the gateway writes one (tests may replace the audit sink). */
  ledger: Ledger | undefined;
  approvals: Approvals;
  policies: PolicySource;
  serviceAccounts: ServiceAccountStore;
  config: PortcullisConfig;
  log: Logger;
}

export class Console {
  private readonly assets = new Map<string, Buffer>();
  private lastVerification: LedgerStatus["lastVerification"];
  /** Bundles are assembled in memory: one at a time per gateway. */
  private exporting = false;

  constructor(private readonly deps: ConsoleDeps) {
    for (const [name, asset] of Object.entries(ASSETS)) this.assets.set(name, readFileSync(new URL(`./assets/${asset.file}`, import.meta.url)));
  }

  handles(path: string): boolean {
    return path === "/console" || path.startsWith("/console/");
  }

  async answer(exchange: Exchange): Promise<LocalAnswer> {
    const method = exchange.req.method ?? "";
    const segments = exchange.target!.path.split("/").filter(Boolean).slice(1);
    const [section, id, action] = segments;
    if (section === "assets" && method === "GET" && id && Object.hasOwn(ASSETS, id) && segments.length === 2) {
      return { status: 200, file: { body: this.assets.get(id)!, type: ASSETS[id]!.type }, headers: { "cache-control": "no-cache" } };
    }
    const session = await this.sessionOf(exchange);
    if (!session) {
      if (method !== "GET") throw new GatewayError(401, "PC_UNAUTHENTICATED", "Refused: not signed in; sign in at /auth/login.");
      return { status: 302, headers: { location: `/auth/login?return_to=${encodeURIComponent(`${exchange.target!.path}${exchange.target!.search}`)}` } };
    }
    const viewer: Viewer = { identity: session.identity, roles: rolesOf(session.identity, this.deps.config.console.roles), csrfToken: session.csrfToken };
    const answered = (answer: Omit<LocalAnswer, "identity">): LocalAnswer => ({ ...answer, identity: viewer.identity, ...(answer.html !== undefined ? { csp: CONSOLE_CSP } : {}) });
    const query = exchange.target!.query;
    try {
      if (method === "GET" && section === undefined) return answered({ status: 200, html: homePage(viewer, session) });
      if (method === "GET" && section === "sessions" && id === undefined) return answered(await this.sessions(viewer, query));
      if (method === "GET" && section === "sessions" && id !== undefined && action === undefined) return answered(await this.session(viewer, id));
      if (method === "GET" && section === "identities" && id !== undefined && action === undefined) return answered(await this.identity(viewer, decodedSegment(id), query));
      if (method === "GET" && section === "approvals" && id === undefined) return answered({ status: 200, html: inboxPage(viewer, await this.inboxState(viewer), flashOf(query)) });
      if (method === "GET" && section === "approvals" && id === "events" && action === undefined) return answered(this.inboxEvents(exchange, viewer));
      if (method === "GET" && section === "approvals.json" && id === undefined) return answered({ status: 200, json: await this.inboxState(viewer) });
      if (method === "GET" && section === "approvals" && id !== undefined && action === undefined) return answered(await this.approval(viewer, id, query));
      if (method === "POST" && section === "approvals" && id !== undefined && (action === "approve" || action === "deny") && segments.length === 3) {
        return answered(await this.decide(exchange, viewer, id, action));
      }
      if (section === "access-reviews") {
        if (!seesAudit(viewer)) return answered(this.forbidden(viewer, "Access reviews are for the admin and auditor roles."));
        if (method === "GET" && id === undefined) return answered({ status: 200, html: campaignsPage(viewer, await readCampaigns(this.requireLedger().store, this.requireLedger().origin), flashOf(query)) });
        if (method === "POST" && id === "start" && segments.length === 2) return answered(await this.startCampaign(exchange, viewer));
        if (method === "GET" && id !== undefined && action === undefined) return answered(await this.campaign(viewer, id, query));
        if (method === "POST" && id !== undefined && (action === "attest" || action === "revoke" || action === "complete") && segments.length === 3) return answered(await this.reviewLine(exchange, viewer, id, action));
      }
      if (section === "audit" || section === "access" || section === "access.csv") {
        if (!seesAudit(viewer)) return answered(this.forbidden(viewer, "The audit pages are for the admin and auditor roles."));
        if (method === "GET" && section === "audit" && id === undefined) return answered({ status: 200, html: auditPage(viewer, await this.ledgerStatus(), flashOf(query)) });
        if (method === "POST" && section === "audit" && id === "verify" && segments.length === 2) return answered(await this.verifyLedger(exchange, viewer));
        if (method === "POST" && section === "audit" && id === "export" && segments.length === 2) return answered(await this.exportBundle(exchange, viewer));
        if (method === "GET" && section === "access" && id === undefined) return answered(await this.accessReview(viewer, "html"));
        if (method === "GET" && section === "access.csv" && id === undefined) return answered(await this.accessReview(viewer, "csv"));
      }
    } catch (error) {
      if (error instanceof FilterError) return answered({ status: 400, html: this.errorPage(viewer, "Bad filter", `${error.message}.`) });
      if (error instanceof GatewayError) throw new GatewayError(error.status, error.code, error.message, { identity: viewer.identity });
      throw error;
    }
    throw new GatewayError(404, "PC_UNKNOWN_ROUTE", `Refused: ${method} ${exchange.target!.path} is not a console page.`, { identity: viewer.identity });
  }

  private async sessionOf(exchange: Exchange): Promise<BrowserSession | undefined> {
    try {
      return await this.deps.signIn.sessionOf(exchange.req);
    } catch {
      return undefined;
    }
  }

  private requireLedger(): Ledger {
    if (!this.deps.ledger) throw new GatewayError(503, "PC_AUDIT_UNAVAILABLE", "Refused: this gateway has no ledger to read sessions from.");
    return this.deps.ledger;
  }

  private async sessions(viewer: Viewer, params: URLSearchParams): Promise<Omit<LocalAnswer, "identity">> {
    const ledger = this.requireLedger();
    const pageSize = this.deps.config.console.page_size;
    const query = sessionQueryOf(viewer, params, pageSize);
    const found = await ledger.store.sessions(ledger.origin, query);
    const page = found.slice(0, pageSize);
    const next = found.length > pageSize ? cursorOf(page.at(-1)!) : undefined;
    return { status: 200, html: sessionsPage(viewer, params, page, next, await this.countSessions(ledger, query)) };
  }

  private async session(viewer: Viewer, id: string): Promise<Omit<LocalAnswer, "identity">> {
    const ledger = this.requireLedger();
    const summary = await ledger.store.session(ledger.origin, id);
    if (!summary || !(await this.maySeeSession(viewer, summary.subject, summary.approvalId))) {
      return { status: 404, html: this.errorPage(viewer, "Session not found", "There is no session with this id that you may see."), denied: "not the viewer's session" };
    }
    const session = await loadSession({ store: ledger.store, origin: ledger.origin, checkpoint: () => ledger.checkpoint() }, id, summary);
    // No record, no view: the access is in the ledger before the page is sent.
    await this.recordAccess(viewer, "session.view", { session: id, graphs: summary.graphs });
    return { status: 200, html: sessionPage(viewer, session) };
  }

  private async maySeeSession(viewer: Viewer, subject: string | null, approvalId: string | null): Promise<boolean> {
    if (seesAllSessions(viewer) || subject === viewer.identity.subject) return true;
    if (!approvalId) return false;
    // An approver may open the session behind an approval they may see.
    const approval = await this.deps.approvals.get(approvalId);
    return approval !== undefined && mayView(approval, viewer.identity);
  }

  private async inboxState(viewer: Viewer): Promise<InboxState> {
    const approvals = this.deps.approvals;
    const pending = await approvals.list(viewer.identity, { states: ["pending"], limit: 200, offset: 0 });
    const recent = (await approvals.list(viewer.identity, { states: ["approved", "denied", "expired", "used"], limit: 1_000, offset: 0 }))
      .sort((a, b) => (b.decided_at ?? b.created_at) - (a.decided_at ?? a.created_at))
      .slice(0, 20);
    return inboxState(
      viewer,
      pending.map((a) => ({ view: approvalView(a, approvals.statusUrl(a.id)), canDecide: isApprover(a, viewer.identity) && !a.votes.some((vote) => vote.approver === viewer.identity.subject) })),
      recent.map((a) => approvalView(a, approvals.statusUrl(a.id))),
    );
  }

  /** The inbox as one server-sent event stream: its state whenever it changes, heartbeats between.
   * One request record for the stream, not one per check; it ends when the person signs out. */
  private inboxEvents(exchange: Exchange, viewer: Viewer): Omit<LocalAnswer, "identity"> {
    return {
      status: 200,
      events: (res) => {
        let sent = "";
        let checking = false;
        const check = async () => {
          if (checking || res.destroyed) return;
          checking = true;
          try {
            if (!(await this.sessionOf(exchange))) {
              res.end("event: signed-out\ndata: {}\n\n");
              return;
            }
            const state = JSON.stringify(await this.inboxState(viewer));
            if (state !== sent && !res.destroyed) {
              sent = state;
              res.write(`event: inbox\ndata: ${state}\n\n`);
            }
          } catch (error) {
            this.deps.log.warn({ err: error }, "the approvals inbox stream could not be updated");
          } finally {
            checking = false;
          }
        };
        res.write("retry: 5000\n\n");
        void check();
        const checks = setInterval(() => void check(), INBOX_CHECK_MS);
        const heartbeats = setInterval(() => res.write(": heartbeat\n\n"), INBOX_HEARTBEAT_MS);
        res.once("close", () => {
          clearInterval(checks);
          clearInterval(heartbeats);
        });
      },
    };
  }

  private async identity(viewer: Viewer, subject: string, params: URLSearchParams): Promise<Omit<LocalAnswer, "identity">> {
    if (!seesAllSessions(viewer) && subject !== viewer.identity.subject) {
      return { status: 404, html: this.errorPage(viewer, "Identity not found", "There is no identity with this subject that you may see."), denied: "not the viewer's identity" };
    }
    const ledger = this.requireLedger();
    const usage = (await ledger.store.identityUsage(ledger.origin)).find((u) => u.subject === subject);
    const query = sessionQueryOf(viewer, new URLSearchParams({ ...Object.fromEntries(params), user: subject, kind: params.get("kind") ?? "all" }), this.deps.config.console.page_size);
    const found = await ledger.store.sessions(ledger.origin, query);
    const pageSize = this.deps.config.console.page_size;
    const page = found.slice(0, pageSize);
    const next = found.length > pageSize ? cursorOf(page.at(-1)!) : undefined;
    const review = buildAccessReview({
      policy: this.deps.policies.current,
      configAccounts: this.deps.config.identity.service_accounts,
      storedAccounts: await this.deps.serviceAccounts.list(),
      identities: usage ? [usage] : [],
      usage: (await ledger.store.grantUsage(ledger.origin)).filter((u) => u.subject === subject),
      consoleRoles: this.deps.config.console.roles,
      votes: await this.approverVotes(),
      now: Date.now(),
    }).find((entry) => entry.subject === subject);
    const counts = await this.countSessions(ledger, query);
    return { status: 200, html: identityPage(viewer, subject, review, params, page, next, counts) };
  }

  /** Every vote in the approvals store, for the access review's approver rights. The store is read
   * as an approver of every group the policy names, so no approval is left out. */
  private async approverVotes(): Promise<ApproverVote[]> {
    const groups = [...new Set(this.deps.policies.current.document.rules.flatMap((rule) => rule.approval?.approver_groups ?? []))];
    const reader: Identity = { subject: "gateway:access-review", kind: "service-account", groups, auth_method: "api-key", credential_id: "" };
    const decided = await this.deps.approvals.list(reader, { states: ["approved", "denied", "expired", "used"], limit: 1_000, offset: 0 });
    return decided.flatMap((a) => a.votes.map((vote) => ({ approver: vote.approver, rule: a.rule, timeMs: vote.time })));
  }

  /** How many sessions match, counted up to COUNT_LIMIT (beyond it: "more than"). */
  private async countSessions(ledger: Ledger, query: SessionQuery): Promise<{ count: number; more: boolean }> {
    const { before: _cursor, ...rest } = query;
    const found = await ledger.store.sessions(ledger.origin, { ...rest, limit: COUNT_LIMIT + 1 });
    return { count: Math.min(found.length, COUNT_LIMIT), more: found.length > COUNT_LIMIT };
  }

  private async approval(viewer: Viewer, id: string, query: URLSearchParams): Promise<Omit<LocalAnswer, "identity">> {
    const approval = await this.deps.approvals.get(id);
    if (!approval || !mayView(approval, viewer.identity)) return { status: 404, html: this.errorPage(viewer, "Approval not found", "There is no approval with this id that you may see."), denied: "not the viewer's approval" };
    const canDecide = isApprover(approval, viewer.identity) && !approval.votes.some((vote) => vote.approver === viewer.identity.subject);
    return { status: 200, html: approvalPage(viewer, approvalView(approval, this.deps.approvals.statusUrl(id)), canDecide, flashOf(query)) };
  }

  private async decide(exchange: Exchange, viewer: Viewer, id: string, verdict: "approve" | "deny"): Promise<Omit<LocalAnswer, "identity">> {
    const form = await this.form(exchange, viewer);
    const wantsJson = (exchange.req.headers.accept ?? "").includes("application/json");
    const windowS = form.window_s ? Number(form.window_s) : null;
    const back = form.return_to === "page" ? `/console/approvals/${encodeURIComponent(id)}` : "/console/approvals";
    try {
      const decided = await this.deps.approvals.decide(id, viewer.identity, verdict, { reason: form.reason?.trim() || null, window_s: windowS });
      const view = approvalView(decided, this.deps.approvals.statusUrl(decided.id));
      if (wantsJson) return { status: 200, json: view };
      return { status: 303, headers: { location: `${back}?done=${verdict === "approve" ? "approved" : "denied"}` } };
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      if (wantsJson) return { status: error.status, json: { error: error.code, message: error.message }, denied: error.code };
      return { status: 303, headers: { location: `${back}?failed=${encodeURIComponent(error.message.slice(0, 300))}` }, denied: error.code };
    }
  }

  private async ledgerStatus(): Promise<LedgerStatus> {
    const ledger = this.requireLedger();
    const checkpoint = await ledger.store.latestCheckpoint(ledger.origin);
    return {
      origin: ledger.origin,
      size: await ledger.store.size(ledger.origin),
      store: ledger.store.kind === "sqlite" ? "SQLite" : "PostgreSQL",
      ...(checkpoint ? { checkpoint: { size: checkpoint.size, createdAtMs: checkpoint.createdAtMs, root: checkpoint.root.toString("base64") } } : {}),
      keyId: ledger.keyId,
      verifierKey: ledger.verifierKey,
      ...(this.lastVerification ? { lastVerification: this.lastVerification } : {}),
    };
  }

  private async verifyLedger(exchange: Exchange, viewer: Viewer): Promise<Omit<LocalAnswer, "identity">> {
    await this.form(exchange, viewer);
    const ledger = this.requireLedger();
    await ledger.checkpoint();
    const report = await verifyStore(ledger.store, ledger.origin);
    this.lastVerification = { valid: report.valid, atMs: Date.now(), by: viewer.identity.name ?? viewer.identity.subject, results: report.results };
    await this.recordAccess(viewer, "ledger.verify", { details: { valid: report.valid, summary: report.format().split("\n")[0] } });
    return { status: 303, headers: { location: `/console/audit?done=${report.valid ? "verified" : "invalid"}` } };
  }

  private async exportBundle(exchange: Exchange, viewer: Viewer): Promise<Omit<LocalAnswer, "identity">> {
    const form = await this.form(exchange, viewer);
    const ledger = this.requireLedger();
    const instant = (name: string) => {
      const ms = formInstant(form[name]);
      if (Number.isNaN(ms)) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${name} is not a date and time.`);
      return ms;
    };
    const filter = {
      ...(instant("from") !== undefined ? { fromMs: instant("from")! } : {}),
      ...(instant("to") !== undefined ? { toMs: instant("to")! } : {}),
      ...(form.user?.trim() ? { user: form.user.trim() } : {}),
      ...(form.graph?.trim() ? { graph: form.graph.trim() } : {}),
    };
    if (this.exporting) return { status: 303, headers: { location: `/console/audit?failed=${encodeURIComponent("Another evidence export is being prepared; try again when it has finished.")}` } };
    this.exporting = true;
    const base = this.deps.config.console.export_dir ?? tmpdir();
    const work = await mkdtemp(path.join(base, "portcullis-export-")).catch((error: unknown) => {
      this.exporting = false;
      throw error;
    });
    const bundleDir = path.join(work, "bundle");
    try {
      let result;
      try {
        result = await exportEvidence(ledger, { outDir: bundleDir, ...filter, exportedBy: viewer.identity.subject });
      } catch (error) {
        if (error instanceof ExportError) return { status: 303, headers: { location: `/console/audit?failed=${encodeURIComponent(error.message)}` } };
        throw error;
      }
      const { create: createTar } = await import("tar");
      const archive = await buffer(Readable.from(createTar({ gzip: true, cwd: bundleDir, portable: true }, ["."])));
      await this.recordAccess(viewer, "evidence.export", {
        details: { filter: { ...(form.from ? { from: form.from } : {}), ...(form.to ? { to: form.to } : {}), ...(form.user ? { user: form.user } : {}), ...(form.graph ? { graph: form.graph } : {}) }, entries: result.entries, checkpoint_size: result.checkpointSize, bytes: archive.length },
      });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      return { status: 200, file: { body: archive, type: "application/gzip", filename: `portcullis-evidence-${stamp}.tar.gz` } };
    } finally {
      this.exporting = false;
      await rm(work, { recursive: true, force: true });
    }
  }

  private async campaign(viewer: Viewer, id: string, query: URLSearchParams): Promise<Omit<LocalAnswer, "identity">> {
    const ledger = this.requireLedger();
    const campaign = await readCampaign(ledger.store, ledger.origin, id);
    if (!campaign) return { status: 404, html: this.errorPage(viewer, "Campaign not found", "There is no access-review campaign with this id in the ledger."), denied: "no such campaign" };
    return { status: 200, html: campaignPage(viewer, campaign, flashOf(query)) };
  }

  private async startCampaign(exchange: Exchange, viewer: Viewer): Promise<Omit<LocalAnswer, "identity">> {
    await this.form(exchange, viewer);
    if (!mayReviewAccess(viewer)) return this.forbidden(viewer, "Starting an access review is for the admin and auditor roles.");
    const ledger = this.requireLedger();
    const policy = this.deps.policies.current;
    const lines = campaignLines(await this.accessEntries(), null);
    const id = await startCampaign(ledger, { actor: viewer.identity.subject, via: "console", lines, policy: { source: policy.source, sha256: policy.sha256 }, directory: null });
    return { status: 303, headers: { location: `/console/access-reviews/${id}` } };
  }

  /** Attest, revoke or complete; refusals (own line, decided, completed, no reason) come back as the page's flash. */
  private async reviewLine(exchange: Exchange, viewer: Viewer, id: string, action: "attest" | "revoke" | "complete"): Promise<Omit<LocalAnswer, "identity">> {
    const form = await this.form(exchange, viewer);
    if (!mayReviewAccess(viewer)) return this.forbidden(viewer, "Deciding access reviews is for the admin and auditor roles.");
    const ledger = this.requireLedger();
    const back = `/console/access-reviews/${encodeURIComponent(id)}`;
    try {
      if (action === "complete") {
        const campaign = await readCampaign(ledger.store, ledger.origin, id);
        if (!campaign) throw new AccessReviewError("PC_CAMPAIGN_NOT_FOUND", `no access-review campaign ${id}`);
        await completeCampaign(ledger, campaign, viewer.identity.subject, "console");
        return { status: 303, headers: { location: `${back}?done=completed` } };
      }
      const decided = await decideLine(ledger, { campaign: id, subject: form.subject ?? "", verdict: action === "attest" ? "attested" : "revoked", actor: viewer.identity.subject, via: "console", reason: form.reason ?? null });
      return { status: 303, headers: { location: `${back}?done=${decided.completed ? "completed" : action === "attest" ? "attested" : "revoked"}` } };
    } catch (error) {
      if (!(error instanceof AccessReviewError)) throw error;
      return { status: 303, headers: { location: `${back}?failed=${encodeURIComponent(error.message.slice(0, 300))}` }, denied: error.code };
    }
  }

  private async accessEntries() {
    const ledger = this.requireLedger();
    return buildAccessReview({
      policy: this.deps.policies.current,
      configAccounts: this.deps.config.identity.service_accounts,
      storedAccounts: await this.deps.serviceAccounts.list(),
      identities: await ledger.store.identityUsage(ledger.origin),
      usage: await ledger.store.grantUsage(ledger.origin),
      consoleRoles: this.deps.config.console.roles,
      votes: await this.approverVotes(),
      now: Date.now(),
    });
  }

  private async accessReview(viewer: Viewer, format: "html" | "csv"): Promise<Omit<LocalAnswer, "identity">> {
    const policy = this.deps.policies.current;
    const entries = await this.accessEntries();
    await this.recordAccess(viewer, format === "csv" ? "access-review.export" : "access-review.view", { details: { identities: entries.length, policy: policy.sha256.slice(0, 16) } });
    if (format === "html") return { status: 200, html: accessPage(viewer, entries, policy) };
    return { status: 200, file: { body: accessReviewCsv(entries), type: "text/csv; charset=utf-8", filename: `portcullis-access-review-${new Date().toISOString().slice(0, 10)}.csv` } };
  }

  /** A console form: read, and its CSRF token checked (the token only: Origin alone is not enough here). */
  private async form(exchange: Exchange, viewer: Viewer): Promise<Record<string, string>> {
    const type = (exchange.req.headers["content-type"] ?? "").toLowerCase();
    if (!type.startsWith("application/x-www-form-urlencoded")) throw new GatewayError(415, "PC_UNSUPPORTED_MEDIA_TYPE", "Refused: console forms are application/x-www-form-urlencoded.");
    const form = await readFormBody(exchange.req, MAX_FORM_BYTES);
    checkCsrf(exchange.req, viewer.csrfToken, [], { formToken: form.csrf_token, identity: viewer.identity });
    return form;
  }

  private async recordAccess(viewer: Viewer, action: AccessRecord["action"], facts: { session?: string; graphs?: string[]; details?: Record<string, unknown> }): Promise<void> {
    const ledger = this.requireLedger();
    const actor = viewer.identity.subject;
    await ledger.append(accessRecord(action, { actor, via: "console", ...(facts.session ? { session: facts.session } : {}), ...(facts.details ? { details: facts.details } : {}) }), { subject: actor, graphs: facts.graphs ?? [] });
  }

  private forbidden(viewer: Viewer, message: string): Omit<LocalAnswer, "identity"> {
    return { status: 403, html: this.errorPage(viewer, "Not available to you", message), denied: "console role" };
  }

  private errorPage(viewer: Viewer, title: string, message: string): string {
    return consoleLayout(viewer, "home", title, html`<div class="panel"><p>${message}</p><p><a href="/console/">Back to the console</a></p></div>`);
  }
}

/** A path segment as written in links (encodeURIComponent); a malformed escape stays as sent. */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function flashOf(query: URLSearchParams): { text: string; good: boolean } | undefined {
  const done = query.get("done");
  if (done) {
    const words: Record<string, string> = { approved: "Approved.", denied: "Denied.", attested: "Attested.", revoked: "Revoked: remove the access at the identity provider too.", completed: "The campaign is completed.", verified: "The ledger verified: every entry and checkpoint is valid.", invalid: "The ledger did NOT verify; see the details below." };
    return { text: words[done] ?? "Done.", good: done !== "invalid" };
  }
  const failed = query.get("failed");
  return failed ? { text: `The last action failed: ${failed.slice(0, 300)}`, good: false } : undefined;
}
