// The console's page shell: navigation by role, who is signed in, sign-out.
import { html, type Html } from "./html.js";
import { seesAudit, type Viewer } from "./roles.js";

type Section = "sessions" | "approvals" | "audit" | "access" | "home";

export function consoleLayout(viewer: Viewer, section: Section, title: string, body: Html): string {
  const identity = viewer.identity;
  const link = (href: string, label: string, name: Section) => html`<a href="${href}" class="${section === name ? "active" : ""}">${label}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Portcullis</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="portcullis-csrf" content="${viewer.csrfToken}">
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script></head>
<body>
<header class="top">
  <span class="brand">Portcullis</span>
  <nav>
    ${link("/console/sessions", "Sessions", "sessions")}
    ${link("/console/approvals", "Approvals", "approvals")}
    ${seesAudit(viewer) ? link("/console/audit", "Audit", "audit") : null}
    ${seesAudit(viewer) ? link("/console/access", "Access review", "access") : null}
  </nav>
  <span class="who"><a href="/console/" class="me" data-testid="name">${identity.name ?? identity.subject}</a>
    <span data-testid="roles">${[...viewer.roles].join(", ")}</span>
    <form method="post" action="/auth/logout"><input type="hidden" name="csrf_token" value="${viewer.csrfToken}"><button type="submit">Sign out</button></form></span>
</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body></html>
`.text;
}
