// Browser sign-in with OpenID Connect: authorization code flow with PKCE (S256), state and nonce,
// done by openid-client (which validates the ID token: issuer, audience, signature, nonce, expiry).
import * as oidc from "openid-client";
import type { OidcLoginConfig } from "../config/index.js";
import { GatewayError } from "../errors.js";
import { policyClaims, claimAt, type Identity } from "../identify/index.js";
import { loginFailed } from "./loginTransactions.js";

interface PendingOidcLogin {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
}

export class OidcLogin {
  readonly kind = "oidc";
  private configuration?: Promise<oidc.Configuration>;

  constructor(
    readonly config: OidcLoginConfig,
    private readonly clientSecret: string | undefined,
    private readonly redirectUri: string,
    private readonly timeoutMs: number,
  ) {}

  get id(): string {
    return this.config.id;
  }

  /** The IdP URL to send the browser to, and what to remember until it comes back. */
  async start(state: string, returnTo: string): Promise<{ redirect: string; pending: PendingOidcLogin }> {
    const configuration = await this.discover();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      scope: this.config.scopes.join(" "),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    return { redirect: url.href, pending: { codeVerifier, nonce, returnTo } };
  }

  /** Exchanges the code from the redirect back for tokens and reads the person from the ID token. */
  async finish(callbackUrl: URL, state: string, pending: PendingOidcLogin): Promise<Identity> {
    const configuration = await this.discover();
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = { ...tokens.claims() };
    } catch (error) {
      throw loginFailed(`the identity provider's answer was not accepted (${describe(error)})`, error);
    }
    const groups = claimAt(claims, this.config.groups_claim);
    const name = claimAt(claims, this.config.name_claim);
    return {
      subject: `oidc:${this.config.id}:${String(claims.sub)}`,
      kind: "oidc",
      groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === "string") : typeof groups === "string" ? groups.split(/[\s,]+/).filter(Boolean) : [],
      auth_method: "browser-session",
      credential_id: "",
      issuer: this.config.issuer,
      ...(typeof name === "string" ? { name } : {}),
      claims: policyClaims(claims),
    };
  }

  /** RP-initiated logout at the IdP, when it supports it. The ID token is not kept (it would be a
   * usable credential in the database), so the IdP is told the client_id instead of id_token_hint. */
  async logoutUrl(postLogoutRedirectUri: string): Promise<string | undefined> {
    const configuration = await this.discover().catch(() => undefined);
    if (!configuration?.serverMetadata().end_session_endpoint) return undefined;
    return oidc.buildEndSessionUrl(configuration, {
      post_logout_redirect_uri: postLogoutRedirectUri,
      client_id: this.config.client_id,
    }).href;
  }

  private discover(): Promise<oidc.Configuration> {
    this.configuration ??= (async () => {
      const issuer = new URL(this.config.issuer);
      // Plain http is accepted only for an IdP on this machine (development, the demo, tests).
      const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
      const configuration = await oidc.discovery(
        issuer,
        this.config.client_id,
        undefined,
        this.clientSecret ? oidc.ClientSecretBasic(this.clientSecret) : oidc.None(),
        { timeout: Math.ceil(this.timeoutMs / 1000), ...(loopback && issuer.protocol === "http:" ? { execute: [oidc.allowInsecureRequests] } : {}) },
      );
      return configuration;
    })().catch((error: unknown) => {
      this.configuration = undefined;
      throw new GatewayError(503, "PC_IDP_UNAVAILABLE", `Sign-in is unavailable: the identity provider ${this.config.issuer} could not be reached; retry shortly.`, { cause: error });
    });
    return this.configuration;
  }
}

function describe(error: unknown): string {
  const detail = error as { code?: string; error?: string; error_description?: string; message?: string };
  return [detail.error ?? detail.code, detail.error_description ?? detail.message].filter(Boolean).join(": ").slice(0, 300);
}
