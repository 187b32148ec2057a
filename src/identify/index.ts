// identify: the credential on a request -> Identity. A Portcullis service-account key
// (`pcsk_…`, as a bearer token or the SDK's x-api-key), an OIDC bearer token (JWT, or opaque
// and introspected), or a browser session cookie (LangGraph Studio after signing in), which
// must also pass the CSRF check for state-changing requests. Exactly one: a request carrying
// two (credentials.ts) is refused, never resolved by a precedence the client cannot see. The
// session cookie is resolved, and its CSRF proof checked, by a BrowserSessionResolver this stage
// declares: the sign-in (src/authenticate/) implements it and gateway.ts hands it in, so that
// authenticate depends on identify and not the reverse.
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";
import { assertOneCredential, presentedCredentials, type PresentedCredentials } from "./credentials.js";
import type { Identity } from "./identity.js";
import type { OidcBearerVerifier } from "./oidc.js";
import { API_KEY_PREFIX, type ServiceAccountKeys } from "./serviceAccounts.js";

export { describeCredentials, EXECUTION_HEADER, sessionCookieName } from "./credentials.js";
export { policyClaims, type Identity } from "./identity.js";
export { claimAt, OidcBearerVerifier } from "./oidc.js";
export { generateApiKey, keyExpiry, ServiceAccountKeys } from "./serviceAccounts.js";

/** A signed-in browser session, as identify needs it: who, and the token that proves a
 * state-changing request came from a page the gateway trusts. */
export interface SessionCredential {
  identity: Identity;
  csrfToken: string;
}

/** Browser sessions as a credential (identity.login.api_access): implemented by the sign-in. */
export interface BrowserSessionResolver {
  /** The session a request's cookie names, if any; throws when it has ended. */
  sessionOf(req: Pick<IncomingMessage, "headers">): Promise<SessionCredential | undefined>;
  /** Refuses (PC_CSRF) a state-changing request that carries neither the session's CSRF token nor
   * an Origin the sign-in trusts. */
  checkCsrf(req: Pick<IncomingMessage, "method" | "headers">, csrfToken: string, options: { identity: Identity; changesState?: boolean }): void;
}

export class Identifier {
  /** The CSRF token of the session each in-flight request was identified by, so the check after
   * classify does not read the session again. */
  private readonly sessionCsrfTokens = new WeakMap<object, string>();

  constructor(
    private readonly serviceAccounts: ServiceAccountKeys,
    private readonly oidc: OidcBearerVerifier,
    /** Set when browser sessions may call the API (identity.login.api_access). */
    private readonly browserSessions?: BrowserSessionResolver,
    /** The gateway's own send of an approved deferred request, as its requester. */
    private readonly deferredRequests?: { identify(req: Pick<IncomingMessage, "headers">): Identity | undefined },
  ) {}

  /** The credentials a request carries (kinds only), for identify and for the record. */
  presented(req: Pick<IncomingMessage, "rawHeaders">): PresentedCredentials {
    return presentedCredentials(req, this.browserSessions !== undefined);
  }

  async identify(req: Pick<IncomingMessage, "method" | "headers" | "rawHeaders">): Promise<Identity> {
    assertOneCredential(this.presented(req));
    const headers = req.headers;
    const deferred = this.deferredRequests?.identify(req);
    if (deferred) return deferred;
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      // RFC 6750 §2.1: "Bearer" b64token; anything else is a malformed request.
      const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
      if (!match) {
        throw new GatewayError(401, "PC_UNAUTHENTICATED", "Refused: the Authorization header must be 'Bearer <token or key>'.", { bearerError: "invalid_request" });
      }
      const credential = match[1]!;
      if (credential.startsWith(API_KEY_PREFIX)) return this.serviceAccounts.identify(credential);
      if (!this.oidc.enabled) {
        throw new GatewayError(401, "PC_INVALID_TOKEN", "Refused: bearer tokens are not accepted here (no OIDC issuer is configured); use a service-account key.", {
          bearerError: "invalid_token",
        });
      }
      return this.oidc.verify(credential);
    }
    const apiKey = headers["x-api-key"];
    if (typeof apiKey === "string" && apiKey !== "") return this.serviceAccounts.identify(apiKey);
    const session = await this.browserSessions?.sessionOf(req);
    if (session) {
      this.browserSessions!.checkCsrf(req, session.csrfToken, { identity: session.identity });
      this.sessionCsrfTokens.set(req, session.csrfToken);
      return session.identity;
    }
    throw new GatewayError(401, "PC_UNAUTHENTICATED", "Refused: no credential was presented; send 'Authorization: Bearer <token or key>' or 'x-api-key: <key>'.");
  }

  /** Once classify has seen what a request does: a browser session changes state only with CSRF
   * proof, whatever the HTTP method. */
  confirmSessionIntent(req: Pick<IncomingMessage, "method" | "headers">, identity: Identity, changesState: boolean): void {
    if (!changesState || identity.auth_method !== "browser-session" || !this.browserSessions) return;
    const csrfToken = this.sessionCsrfTokens.get(req);
    if (csrfToken === undefined) throw new GatewayError(401, "PC_SESSION_EXPIRED", "Refused: the sign-in session has ended; sign in again.");
    this.browserSessions.checkCsrf(req, csrfToken, { identity, changesState: true });
  }
}
