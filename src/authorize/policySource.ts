// The policy in force, and hot reload: a changed file is compiled first; an invalid one is
// rejected with a clear error and the last good policy stays in force (never open). Both
// outcomes are audit records, so the ledger shows which policy decided when: this stage reports
// each as a PolicyChange to a PolicyAudit, and src/record/ writes the record (wired by gateway.ts).
import { unwatchFile, watchFile } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { PACKAGE_ROOT } from "../packageFiles.js";
import { loadPolicyFile, type CompiledPolicy } from "./compile.js";

export const DEFAULT_POLICY_FILE = path.join(PACKAGE_ROOT, "policies", "default.yaml");

const POLL_INTERVAL_MS = 1_000;

/** A policy file loaded into force, or rejected with the last good one kept. */
export interface PolicyChange {
  time: string;
  event: "loaded" | "rejected";
  /** The policy file. */
  source: string;
  /** SHA-256 of the file that was loaded or rejected (null: it could not be read). */
  sha256: string | null;
  /** The SHA-256 of the policy in force afterwards. */
  inForce: string;
  /** Why it was rejected. */
  error?: string;
}

/** Where the policy source reports each change; resolves once it is recorded. */
export interface PolicyAudit {
  policyChanged(change: PolicyChange): Promise<void>;
}

interface PolicySourceDeps {
  log: Logger;
  audit: PolicyAudit;
}

export class PolicySource {
  private watching = false;
  /** The last reload's error, while the previous policy stays in force. */
  lastError: string | undefined;

  private constructor(
    private policy: CompiledPolicy,
    readonly file: string,
    private readonly deps: PolicySourceDeps,
  ) {}

  /** Loads the file (or the built-in default); an invalid policy stops the gateway from starting. */
  static async open(file: string | undefined, deps: PolicySourceDeps): Promise<PolicySource> {
    const path = file ?? DEFAULT_POLICY_FILE;
    const policy = await loadPolicyFile(path);
    const source = new PolicySource(policy, path, deps);
    await source.record("loaded", policy.sha256);
    deps.log.info({ policy: path, sha256: policy.sha256, rules: policy.document.rules.length }, "policy in force");
    return source;
  }

  get current(): CompiledPolicy {
    return this.policy;
  }

  /** Polls the file (editors replace files rather than write them, which fs.watch can miss). */
  watch(): void {
    if (this.watching) return;
    this.watching = true;
    watchFile(this.file, { interval: POLL_INTERVAL_MS, persistent: false }, (now, before) => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
      void this.reload();
    });
  }

  async reload(): Promise<{ ok: true; sha256: string } | { ok: false; error: string }> {
    let next: CompiledPolicy;
    try {
      next = await loadPolicyFile(this.file);
    } catch (error) {
      const message = (error as Error).message;
      this.lastError = message;
      this.deps.log.error({ policy: this.file, in_force: this.policy.sha256, error: message }, "policy change rejected; the previous policy stays in force");
      await this.record("rejected", null, message);
      return { ok: false, error: message };
    }
    this.lastError = undefined;
    if (next.sha256 === this.policy.sha256) return { ok: true, sha256: next.sha256 };
    this.policy = next;
    this.deps.log.info({ policy: this.file, sha256: next.sha256, rules: next.document.rules.length }, "policy reloaded");
    await this.record("loaded", next.sha256);
    return { ok: true, sha256: next.sha256 };
  }

  close(): void {
    if (this.watching) unwatchFile(this.file);
    this.watching = false;
  }

  private async record(event: "loaded" | "rejected", sha256: string | null, error?: string): Promise<void> {
    await this.deps.audit
      .policyChanged({ time: new Date().toISOString(), event, source: this.file, sha256, inForce: this.policy.sha256, ...(error ? { error } : {}) })
      .catch((auditError: unknown) => this.deps.log.error({ err: auditError }, "policy audit record could not be written"));
  }
}
