// Audit: the ledger's state (size, latest signed checkpoint, the last full verification) and
// evidence bundles by date range, user and graph, downloaded as .tar.gz with their verifier.
import type { CheckResult } from "../ledger/index.js";
import { badge, html, time } from "./html.js";
import { consoleLayout } from "./layout.js";
import type { Viewer } from "./roles.js";

export interface LedgerStatus {
  origin: string;
  size: number;
  store: string;
  checkpoint?: { size: number; createdAtMs: number; root: string };
  keyId: string;
  /** The signing key's verifier key (C2SP note vkey), what auditors pass to --trusted-key. */
  verifierKey: string;
  lastVerification?: { valid: boolean; atMs: number; by: string; results: CheckResult[] };
}

export function auditPage(viewer: Viewer, status: LedgerStatus, flash?: { text: string; good: boolean }): string {
  const v = status.lastVerification;
  return consoleLayout(
    viewer,
    "audit",
    "Audit",
    html`${flash ? html`<div class="flash ${flash.good ? "good" : "bad"}">${flash.text}</div>` : null}
<div class="panel"><h2>Ledger</h2><dl class="facts">
<dt>Log (origin)</dt><dd class="mono">${status.origin}</dd>
<dt>Records</dt><dd data-testid="ledger-size">${status.size}</dd>
<dt>Store</dt><dd>${status.store}</dd>
<dt>Latest checkpoint</dt><dd>${status.checkpoint ? html`size ${status.checkpoint.size}, signed ${time(status.checkpoint.createdAtMs)} <div class="mono muted">root ${status.checkpoint.root}</div>` : "none yet"}</dd>
<dt>Signing key</dt><dd class="mono">${status.keyId}</dd>
<dt>Verifier key</dt><dd><code class="mono vkey" data-testid="verifier-key">${status.verifierKey}</code>
<div class="muted">Check this ledger or a bundle against this key only, not the key history stored beside it: <span class="mono">portcullis verify --trusted-key ${status.verifierKey}</span> (also printed by <span class="mono">portcullis audit keys</span>; publish it where auditors can compare).</div></dd>
<dt>Verification</dt><dd data-testid="ledger-verification">${v ? html`${badge(v.valid ? "valid" : "invalid")} ${time(v.atMs)} by ${v.by}` : html`<span class="muted">not verified from the console since the gateway started</span>`}</dd>
</dl>
<form method="post" action="/console/audit/verify" class="spaced"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><button type="submit">Verify the whole ledger now</button></form>
${v ? html`<details ${v.valid ? null : html`open`}><summary>Verification details</summary><table><thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead><tbody>
${v.results.map((r) => html`<tr><td>${r.label}</td><td>${badge(r.ok ? "valid" : "invalid")}</td><td>${r.detail}</td></tr>`)}</tbody></table></details>` : null}
</div>
<div class="panel"><h2>Evidence export</h2>
<p class="muted">A bundle of the matching records, their proofs against a signed checkpoint, the keys, the masked payloads, a summary for the auditor and <span class="mono">verify.mjs</span>, which checks it all offline with Node.js: <span class="mono">tar xzf bundle.tar.gz &amp;&amp; node verify.mjs .</span></p>
<form method="post" action="/console/audit/export" class="filters">
<input type="hidden" name="csrf_token" value="${viewer.csrfToken}">
<label>From (UTC)<input type="datetime-local" name="from"></label>
<label>To (UTC)<input type="datetime-local" name="to"></label>
<label>User<input name="user" placeholder="oidc:corp:alice"></label>
<label>Graph<input name="graph" placeholder="agent"></label>
<button type="submit">Download evidence bundle</button>
</form></div>`,
  );
}
