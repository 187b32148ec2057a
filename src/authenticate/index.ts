// authenticate: people signing in through the browser (OIDC or SAML), for the console and for
// LangGraph Studio. Builds the sign-in endpoints from identity.login.
import { readSecret, type BrowserLoginConfig } from "../config/index.js";
import { cookieNames } from "./cookies.js";
import { LoginTransactions } from "./loginTransactions.js";
import { OidcLogin } from "./oidcLogin.js";
import type { BrowserSessionStore } from "./sessionStore.js";
import { BrowserSessions } from "./sessions.js";
import { SignIn } from "./signIn.js";
import type { SignInStore } from "./signInStore.js";

export { checkCsrf } from "./csrf.js";
export { BROWSER_SESSION_TABLES, PostgresBrowserSessionStore, SqliteBrowserSessionStore, type BrowserSessionStore } from "./sessionStore.js";
export type { BrowserSession } from "./sessions.js";
export { recordedSignInQuery, SignIn } from "./signIn.js";
export { PostgresSignInStore, SIGN_IN_TABLES, SqliteSignInStore, type SignInStore } from "./signInStore.js";

/** The state the sign-in keeps: browser sessions, and sign-ins in flight (with SAML's request and
 * assertion ids); opened by src/stateStores.ts on the configured database. */
export interface SignInStores {
  readonly sessions: BrowserSessionStore;
  readonly signIns: SignInStore;
}

export async function createSignIn(config: BrowserLoginConfig, stores: SignInStores, options: { corsOrigins: string[]; fetchTimeoutMs: number }): Promise<SignIn> {
  const publicUrl = config.public_url.replace(/\/$/, "");
  const oidcProviders = await Promise.all(
    config.oidc.map(
      async (provider) =>
        new OidcLogin(
          provider,
          provider.client_secret && (await readSecret(provider.client_secret, `identity.login.oidc ${provider.id} client_secret`)),
          `${publicUrl}/auth/callback/${provider.id}`,
          options.fetchTimeoutMs,
        ),
    ),
  );
  // The SAML library (an XML stack) is loaded only when a SAML IdP is configured.
  const samlProviders = config.saml.length > 0 ? await (async () => {
    const { SamlLogin } = await import("./samlLogin.js");
    return Promise.all(config.saml.map((provider) => SamlLogin.create(provider, publicUrl, stores.signIns)));
  })() : [];
  return new SignIn({
    publicUrl,
    sessions: new BrowserSessions(stores.sessions, { idleTimeoutS: config.session.idle_timeout_s, absoluteTimeoutS: config.session.absolute_timeout_s }),
    logins: new LoginTransactions(stores.signIns),
    cookies: cookieNames(publicUrl, config.session.cross_site),
    providers: [...oidcProviders, ...samlProviders],
    corsOrigins: options.corsOrigins,
  });
}
