// The sign-in endpoints a browser uses (/auth/*) and the console's entry page. Each answer is
// recorded by the pipeline like any other request, with the person once they are known.
//
//   GET  /auth/login[?return_to=]       choose a provider (or go straight to the only one)
//   GET  /auth/login/<id>               start: redirect to the IdP (OIDC + PKCE, or a SAML AuthnRequest)
//   GET  /auth/callback/<id>            OIDC: code + state back from the IdP → session
//   POST /auth/saml/<id>/acs            SAML: signed response posted by the IdP (cross-site, no cookies)
//   GET  /auth/saml/<id>/complete       SAML: back in this browser (its login cookie) → session
//   GET  /auth/saml/<id>/metadata       SAML: this service provider's metadata
//   GET  /auth/me                       who the session belongs to, and its CSRF token
//   POST /auth/logout                   end the session (CSRF-checked), then the IdP's logout if any
//   GET  /auth/logout/done              where the IdP's logout returns
// The console (/console/*, src/console/) uses the sessions started here.
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";
import type { Exchange } from "../exchange.js";
import type { BrowserSessionResolver, Identity } from "../identify/index.js";
import { readFormBody } from "../receive/index.js";
import type { LocalAnswer } from "../respond/index.js";
import { clearCookie, readCookie, setCookie, type CookieNames } from "./cookies.js";
import { checkCsrf, CSRF_HEADER } from "./csrf.js";
import { LOGIN_TRANSACTION_TTL_MS, loginFailed, type LoginTransactions } from "./loginTransactions.js";
import type { OidcLogin } from "./oidcLogin.js";
import { providerChoicePage, signedOutPage } from "./pages.js";
import type { SamlLogin } from "./samlLogin.js";
import type { BrowserSession, BrowserSessions } from "./sessions.js";

type SignInAnswer = LocalAnswer;

type LoginProvider = OidcLogin | SamlLogin;

interface PendingLogin {
  returnTo: string;
  oidc?: { codeVerifier: string; nonce: string; returnTo: string };
  samlRequestId?: string;
  samlIdentity?: Identity;
}

const MAX_SAML_FORM_BYTES = 512 * 1024;
const DEFAULT_RETURN_TO = "/console/";

/** The sign-in endpoints, and the browser sessions they start as a credential identify resolves. */
export class SignIn implements BrowserSessionResolver {
  private readonly providers: Map<string, LoginProvider>;
  private readonly trustedOrigins: string[];

  constructor(
    private readonly deps: {
      publicUrl: string;
      sessions: BrowserSessions;
      logins: LoginTransactions;
      cookies: CookieNames;
      providers: LoginProvider[];
      corsOrigins: string[];
    },
  ) {
    this.providers = new Map(deps.providers.map((provider) => [provider.id, provider]));
    this.trustedOrigins = [new URL(deps.publicUrl).origin, ...deps.corsOrigins];
  }

  handles(path: string): boolean {
    return path === "/auth" || path.startsWith("/auth/");
  }

  /** The session a request's cookie names, if any; throws when it has ended. */
  async sessionOf(req: Pick<IncomingMessage, "headers">): Promise<BrowserSession | undefined> {
    const secret = readCookie(req.headers, this.deps.cookies.session);
    return secret ? this.deps.sessions.resume(secret) : undefined;
  }

  /** A session-authenticated request that changes state carries the session's CSRF token, or comes
   * from the gateway's own origin or one in cors.allow_origins (csrf.ts). */
  checkCsrf(req: Pick<IncomingMessage, "method" | "headers">, csrfToken: string, options: { identity: Identity; changesState?: boolean }): void {
    checkCsrf(req, csrfToken, this.trustedOrigins, options);
  }

  async answer(exchange: Exchange): Promise<SignInAnswer> {
    const method = exchange.req.method;
    const path = exchange.target!.path;
    const query = new URLSearchParams(exchange.target!.search);
    const segments = path.split("/").filter(Boolean);
    const [, action, id, step] = segments;
    if (method === "GET" && action === "login" && id === undefined) return this.chooseProvider(query);
    if (method === "GET" && action === "login" && id !== undefined && segments.length === 3) return this.startLogin(this.provider(id), query);
    if (method === "GET" && action === "callback" && id !== undefined && segments.length === 3) return this.finishOidc(exchange, this.provider(id, "oidc"), query);
    if (action === "saml" && id !== undefined && segments.length === 4) {
      const provider = this.provider(id, "saml");
      if (method === "POST" && step === "acs") return this.acceptSamlResponse(exchange, provider);
      if (method === "GET" && step === "complete") return this.finishSaml(exchange, provider, query);
      if (method === "GET" && step === "metadata") return { status: 200, xml: provider.metadataXml() };
    }
    if (method === "GET" && action === "me" && segments.length === 2) return this.me(exchange);
    if (method === "POST" && action === "logout" && segments.length === 2) return this.logout(exchange);
    if (method === "GET" && action === "logout" && id === "done" && segments.length === 3) return { status: 200, html: signedOutPage() };
    throw new GatewayError(404, "PC_UNKNOWN_ROUTE", `Refused: ${method} ${path} is not a sign-in endpoint.`);
  }

  private chooseProvider(query: URLSearchParams): SignInAnswer {
    const returnTo = safeReturnTo(query.get("return_to"), this.deps.publicUrl);
    const providers = [...this.providers.values()];
    if (providers.length === 1) return redirect(`/auth/login/${providers[0]!.id}?return_to=${encodeURIComponent(returnTo)}`);
    return {
      status: 200,
      html: providerChoicePage(providers.map((p) => ({ href: `/auth/login/${p.id}?return_to=${encodeURIComponent(returnTo)}`, label: p.config.display_name ?? p.id }))),
    };
  }

  private async startLogin(provider: LoginProvider, query: URLSearchParams): Promise<SignInAnswer> {
    const returnTo = safeReturnTo(query.get("return_to"), this.deps.publicUrl);
    if (provider.kind === "oidc") {
      const { id, browserBinding } = await this.deps.logins.begin<PendingLogin>(provider.id, { returnTo });
      const { redirect: location, pending } = await provider.start(id, returnTo);
      await this.deps.logins.update<PendingLogin>(id, { returnTo, oidc: pending });
      return this.withLoginCookie(redirect(location), browserBinding);
    }
    const { id, browserBinding } = await this.deps.logins.begin<PendingLogin>(provider.id, { returnTo });
    const { redirect: location, requestId } = await provider.start(id);
    await this.deps.logins.update<PendingLogin>(id, { returnTo, samlRequestId: requestId });
    return this.withLoginCookie(redirect(location), browserBinding);
  }

  private async finishOidc(exchange: Exchange, provider: OidcLogin, query: URLSearchParams): Promise<SignInAnswer> {
    const state = query.get("state");
    if (!state) throw loginFailed("the identity provider's answer has no state");
    const pending = await this.deps.logins.complete<PendingLogin>(state, provider.id, readCookie(exchange.req.headers, this.deps.cookies.login));
    // RFC 6749 §4.1.2.1: the IdP reports a refusal (e.g. access_denied) in the redirect.
    const idpError = query.get("error");
    if (idpError) throw loginFailed(`the identity provider refused the sign-in (${idpError.slice(0, 64)}${query.get("error_description") ? `: ${query.get("error_description")!.slice(0, 200)}` : ""})`);
    const callbackUrl = new URL(`${exchange.target!.path}${exchange.target!.search}`, this.deps.publicUrl);
    const identity = await provider.finish(callbackUrl, state, pending.oidc!);
    return this.startSession(exchange, identity, provider.id, pending.returnTo);
  }

  private async acceptSamlResponse(exchange: Exchange, provider: SamlLogin): Promise<SignInAnswer> {
    const form = await readFormBody(exchange.req, MAX_SAML_FORM_BYTES);
    const relayState = form.RelayState;
    // Unsolicited (IdP-initiated) responses are refused: every response must answer a sign-in started here.
    if (!relayState) throw loginFailed("the SAML response carries no RelayState; start from the sign-in page (IdP-initiated sign-in is not accepted)");
    const pending = await this.deps.logins.peek<PendingLogin>(relayState, provider.id);
    if (pending.samlIdentity || !pending.samlRequestId) throw loginFailed("this sign-in has already been answered");
    const identity = await provider.accept(form, pending.samlRequestId);
    await this.deps.logins.update<PendingLogin>(relayState, { ...pending, samlIdentity: identity });
    // The session starts back in the browser that began the sign-in, where its login cookie is
    // sent again (a top-level GET; this cross-site POST carries no SameSite=Lax cookies).
    return { ...redirect(`/auth/saml/${provider.id}/complete?login=${encodeURIComponent(relayState)}`, 303), identity };
  }

  private async finishSaml(exchange: Exchange, provider: SamlLogin, query: URLSearchParams): Promise<SignInAnswer> {
    const login = query.get("login");
    if (!login) throw loginFailed("no sign-in is named");
    const pending = await this.deps.logins.complete<PendingLogin>(login, provider.id, readCookie(exchange.req.headers, this.deps.cookies.login));
    if (!pending.samlIdentity) throw loginFailed("the identity provider has not answered this sign-in");
    return this.startSession(exchange, pending.samlIdentity, provider.id, pending.returnTo);
  }

  private async startSession(exchange: Exchange, identity: Identity, provider: string, returnTo: string): Promise<SignInAnswer> {
    // A new sign-in replaces whatever session this browser had.
    const previous = readCookie(exchange.req.headers, this.deps.cookies.session);
    if (previous) await this.deps.sessions.end(previous);
    const { secret, session } = await this.deps.sessions.create(identity, provider);
    const answer = redirect(returnTo, 303);
    answer.headers!["set-cookie"] = [
      setCookie(this.deps.cookies, this.deps.cookies.session, secret, this.deps.sessions.settings.absoluteTimeoutS),
      clearCookie(this.deps.cookies, this.deps.cookies.login),
    ];
    return { ...answer, identity: session.identity };
  }

  private async me(exchange: Exchange): Promise<SignInAnswer> {
    const session = await this.requireSession(exchange);
    return {
      status: 200,
      identity: session.identity,
      json: {
        identity: session.identity,
        csrf_token: session.csrfToken,
        csrf_header: CSRF_HEADER,
        signed_in_at: new Date(session.createdAt).toISOString(),
        expires_at: new Date(session.expiresAt).toISOString(),
        idle_expires_at: new Date(session.idleExpiresAt).toISOString(),
      },
    };
  }

  private async logout(exchange: Exchange): Promise<SignInAnswer> {
    const secret = readCookie(exchange.req.headers, this.deps.cookies.session);
    const session = await this.requireSession(exchange);
    const form = (exchange.req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded") ? await readFormBody(exchange.req, 16 * 1024) : {};
    checkCsrf(exchange.req, session.csrfToken, this.trustedOrigins, { formToken: form.csrf_token, identity: session.identity });
    await this.deps.sessions.end(secret!);
    const provider = this.providers.get(session.provider);
    const idpLogout = provider?.kind === "oidc" ? await provider.logoutUrl(new URL("/auth/logout/done", this.deps.publicUrl).href) : undefined;
    const answer: SignInAnswer = idpLogout ? redirect(idpLogout, 303) : { status: 200, html: signedOutPage() };
    answer.headers = { ...answer.headers, "set-cookie": clearCookie(this.deps.cookies, this.deps.cookies.session) };
    return { ...answer, identity: session.identity };
  }

  private async requireSession(exchange: Exchange): Promise<BrowserSession> {
    const session = await this.sessionOf(exchange.req);
    if (!session) throw new GatewayError(401, "PC_UNAUTHENTICATED", "Refused: not signed in; sign in at /auth/login.");
    return session;
  }

  private provider(id: string, kind: "oidc"): OidcLogin;
  private provider(id: string, kind: "saml"): SamlLogin;
  private provider(id: string): LoginProvider;
  private provider(id: string, kind?: "oidc" | "saml"): LoginProvider {
    const provider = this.providers.get(id);
    if (!provider || (kind && provider.kind !== kind)) throw new GatewayError(404, "PC_UNKNOWN_ROUTE", `Refused: there is no ${kind ?? ""} sign-in provider '${id.slice(0, 64)}'.`);
    return provider;
  }

  private withLoginCookie(answer: SignInAnswer, browserBinding: string): SignInAnswer {
    answer.headers = { ...answer.headers, "set-cookie": setCookie(this.deps.cookies, this.deps.cookies.login, browserBinding, LOGIN_TRANSACTION_TTL_MS / 1000) };
    return answer;
  }
}

// Sign-in redirects carry one-time secrets (authorization code, state, sign-in id) in the query.
const QUERY_KEPT_IN_RECORDS = new Set(["return_to", "error"]);

/** The query as the audit record keeps it: sign-in secrets replaced, names and the rest kept. */
export function recordedSignInQuery(search: string): string {
  if (!search) return "";
  const params = new URLSearchParams(search);
  for (const name of new Set(params.keys())) {
    if (!QUERY_KEPT_IN_RECORDS.has(name)) params.set(name, "[redacted]");
  }
  return `?${params.toString()}`;
}

/** Only paths on this gateway: an open redirect would let a phishing link borrow our sign-in. */
export function safeReturnTo(value: string | null, publicUrl: string): string {
  if (!value || !value.startsWith("/") || value.includes("\\")) return DEFAULT_RETURN_TO;
  const origin = new URL(publicUrl).origin;
  try {
    const url = new URL(value, origin);
    const target = `${url.pathname}${url.search}`;
    // Checked after normalising: "/.//evil.example" becomes "//evil.example", another host to a browser.
    return url.origin === origin && !target.startsWith("//") && !target.includes("\\") ? target : DEFAULT_RETURN_TO;
  } catch {
    return DEFAULT_RETURN_TO;
  }
}

function redirect(location: string, status = 302): SignInAnswer {
  return { status, headers: { location } };
}
