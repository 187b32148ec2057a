// /readyz: this instance can do useful work now. Ready means the policy is loaded, the audit
// store accepts appends (a fail-closed gateway that cannot record refuses everything, so a
// balancer should stop sending it traffic) and the LangGraph server answers its /ok. /healthz
// stays a liveness probe that depends on nothing: a failing dependency must not make an
// orchestrator restart every replica.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { gatewayRequest, type GatewayAuth, type UpstreamClient } from "../forward/index.js";
import type { LocalAnswer } from "./local.js";

/** The audit store as readiness sees it (the ledger, src/record/'s AuditSink, fits as it is). */
interface AuditStoreProbe {
  /** Why the store cannot take appends now, or undefined when it can; absent: it always can. */
  readiness?(): Promise<string | undefined>;
}

interface ReadinessChecks {
  policySha256(): string | undefined;
  audit: AuditStoreProbe;
  upstream: UpstreamClient;
  auth: GatewayAuth;
  /** False once shutdown begins. */
  accepting(): boolean;
  log: Logger;
  /** How long a probe's result is reused, so frequent probes do not load LangGraph. */
  cacheMs?: number;
  timeoutMs?: number;
}

interface CheckResult {
  ok: boolean;
  detail: string;
}

export class Readiness {
  private cached?: { at: number; answer: Promise<LocalAnswer> };

  constructor(private readonly checks: ReadinessChecks) {}

  answer(): Promise<LocalAnswer> {
    if (!this.checks.accepting()) return Promise.resolve({ status: 503, json: { status: "draining" } });
    const now = Date.now();
    if (this.cached && now - this.cached.at < (this.checks.cacheMs ?? 1_000)) return this.cached.answer;
    const answer = this.probe();
    this.cached = { at: now, answer };
    return answer;
  }

  private async probe(): Promise<LocalAnswer> {
    const sha256 = this.checks.policySha256();
    const policy: CheckResult = sha256 ? { ok: true, detail: `loaded (sha256 ${sha256})` } : { ok: false, detail: "no policy loaded" };
    const [audit, upstream] = await Promise.all([this.auditStore(), this.upstreamAnswers()]);
    const ok = policy.ok && audit.ok && upstream.ok;
    return { status: ok ? 200 : 503, json: { status: ok ? "ready" : "not ready", checks: { policy, audit_store: audit, upstream }, ...(sha256 ? { policy: { sha256 } } : {}) } };
  }

  private async auditStore(): Promise<CheckResult> {
    if (!this.checks.audit.readiness) return { ok: true, detail: "accepting appends" };
    const problem = await this.checks.audit.readiness().catch((error: unknown) => (error as Error).message);
    if (!problem) return { ok: true, detail: "accepting appends" };
    // Probes are unauthenticated: the store's own error (paths, hosts) goes to the log only.
    this.checks.log.warn({ problem }, "readiness: the audit store cannot take appends");
    return { ok: false, detail: "not accepting appends (see the gateway log)" };
  }

  private async upstreamAnswers(): Promise<CheckResult> {
    try {
      const answer = await gatewayRequest(this.checks.upstream, this.checks.auth, { method: "GET", path: "/ok", requestId: `readyz-${randomUUID()}`, timeoutMs: this.checks.timeoutMs ?? 2_000, maxBytes: 4096 });
      return answer.status === 200 ? { ok: true, detail: "answers /ok" } : { ok: false, detail: `/ok answered ${answer.status}` };
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { ok: false, detail: `unreachable (${cause?.code ?? cause?.message ?? (error as Error).message})` };
    }
  }
}
