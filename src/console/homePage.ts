// The console's entry page: who is signed in, with what, and where to go.
import type { BrowserSession } from "../authenticate/index.js";
import { html, time } from "./html.js";
import { consoleLayout } from "./layout.js";
import { seesAllSessions, seesAudit, type Viewer } from "./roles.js";

export function homePage(viewer: Viewer, session: BrowserSession): string {
  const identity = viewer.identity;
  return consoleLayout(
    viewer,
    "home",
    "Portcullis console",
    html`<div class="panel"><dl class="facts">
<dt>Signed in as</dt><dd>${identity.name ?? identity.subject}</dd>
<dt>Subject</dt><dd data-testid="subject">${identity.subject}</dd>
<dt>Groups</dt><dd data-testid="groups">${identity.groups.join(", ") || "none"}</dd>
<dt>Console roles</dt><dd>${[...viewer.roles].join(", ")}</dd>
<dt>Signed in with</dt><dd data-testid="provider">${session.provider} (${identity.kind})</dd>
<dt>Session ends</dt><dd>${time(session.expiresAt)} at the latest</dd>
<dt>Your activity</dt><dd><a href="/console/identities/${encodeURIComponent(identity.subject)}">what you did and may do</a></dd>
</dl></div>
<div class="grid">
<div class="panel"><h2><a href="/console/sessions">Sessions</a></h2><p class="muted">${seesAllSessions(viewer) ? "Every recorded request and run" : "Your recorded requests and runs"}: search, open, replay step by step, with each session's ledger proof.</p></div>
<div class="panel"><h2><a href="/console/approvals">Approvals</a></h2><p class="muted">Requests waiting for a decision, with their masked details; approve once or for a window, or deny with a reason.</p></div>
${seesAudit(viewer) ? html`<div class="panel"><h2><a href="/console/audit">Audit</a></h2><p class="muted">Ledger status and verification; evidence bundles to download and verify offline.</p></div>
<div class="panel"><h2><a href="/console/access">Access review</a></h2><p class="muted">Who holds which access and when they last used it (ISO 27001 A.9.2.3), as CSV.</p></div>` : null}
</div>`,
  );
}
