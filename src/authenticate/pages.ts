// The few pages sign-in shows. No scripts; every value is HTML-escaped.
import type { BrowserSession } from "./sessions.js";

export function providerChoicePage(providers: Array<{ href: string; label: string }>): string {
  const items = providers.map((p) => `<li><a href="${escape(p.href)}">Sign in with ${escape(p.label)}</a></li>`).join("\n");
  return page("Sign in", `<h1>Sign in to Portcullis</h1>\n<ul>\n${items}\n</ul>`);
}

/** The console's entry page until the console itself (sessions, replay, approvals) is built. */
export function consolePage(session: BrowserSession): string {
  const identity = session.identity;
  return page(
    "Portcullis console",
    `<h1>Portcullis console</h1>
<p>Signed in as <strong data-testid="name">${escape(identity.name ?? identity.subject)}</strong></p>
<dl>
<dt>Subject</dt><dd data-testid="subject">${escape(identity.subject)}</dd>
<dt>Groups</dt><dd data-testid="groups">${escape(identity.groups.join(", ") || "none")}</dd>
<dt>Signed in with</dt><dd data-testid="provider">${escape(session.provider)} (${escape(identity.kind)})</dd>
<dt>Session ends</dt><dd>${escape(new Date(session.expiresAt).toISOString())} at the latest</dd>
</dl>
<form method="post" action="/auth/logout">
<input type="hidden" name="csrf_token" value="${escape(session.csrfToken)}">
<button type="submit">Sign out</button>
</form>`,
  );
}

export function signedOutPage(): string {
  return page("Signed out", `<h1>Signed out</h1>\n<p><a href="/auth/login">Sign in again</a></p>`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
${body}
</body></html>
`;
}

function escape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
