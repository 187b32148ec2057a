// The few pages sign-in shows. No scripts; every value is HTML-escaped.

export function providerChoicePage(providers: Array<{ href: string; label: string }>): string {
  const items = providers.map((p) => `<li><a href="${escape(p.href)}">Sign in with ${escape(p.label)}</a></li>`).join("\n");
  return page("Sign in", `<h1>Sign in to Portcullis</h1>\n<ul>\n${items}\n</ul>`);
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
