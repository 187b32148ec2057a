// OIDC / OAuth 2 bearer tokens (JWT access or ID tokens), verified with jose: issuer discovery,
// JWKS cached with rotation (an unknown `kid` triggers a refetch, at most one fetch per cooldown
// whether it succeeds or fails; while the IdP fails, tokens it must vouch for get 503), an
// algorithm allow-list that never includes `none` or HMAC, issuer and audience checks, and
// expiry with a small clock skew. Several issuers at once; each token names its own. Opaque
// (non-JWT) tokens are checked by RFC 7662 introspection at the issuers configured for it.
import { createHash } from "node:crypto";
import { createRemoteJWKSet, customFetch, decodeJwt, errors as jose, jwksCache, jwtVerify, type JWTPayload } from "jose";
import { request } from "undici";
import type { OidcIssuerConfig } from "../config/index.js";
import { GatewayError } from "../errors.js";
import { metrics } from "../observe/index.js";
import { policyClaims, type Identity } from "./identity.js";

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;

type KeySet = ReturnType<typeof createRemoteJWKSet>;

interface IssuerMetadata {
  issuer?: unknown;
  jwks_uri?: unknown;
  introspection_endpoint?: unknown;
}

interface IssuerState {
  config: OidcIssuerConfig;
  /** jose writes {jwks, uat} here on every JWKS fetch; a new uat means the keys changed. */
  fetched: { uat?: number };
  metadata?: Promise<IssuerMetadata>;
  keys?: Promise<KeySet>;
  /** When discovery last failed, so an unreachable IdP is not hammered. */
  failedAt?: number;
  /** When the last JWKS fetch failed: jose cools down only after a fetch that succeeded. */
  jwksFailedAt?: number;
  introspectionSecret?: string;
}

const DISCOVERY_RETRY_MS = 5_000;

/** Verified tokens are remembered briefly: clients send the same token on every request, and a
 * signature check costs ~0.1–0.2 ms. Bounded in size and in time (never past exp). */
const VERIFIED_CACHE_MAX = 10_000;
const VERIFIED_CACHE_TTL_MS = 60_000;
/** Opaque tokens the IdPs called inactive are not asked about again for this long, so random
 * bearer values cannot turn the gateway into a flood of introspection calls. */
const INACTIVE_CACHE_TTL_MS = 30_000;

export class OidcBearerVerifier {
  private readonly issuers = new Map<string, IssuerState>();
  private readonly verified = new Map<string, { identity: Identity; until: number; keysFetchedAt: number | undefined; state: IssuerState }>();
  private readonly inactive = new Map<string, number>();

  /** @param introspectionSecrets client secrets for introspection, by issuer id (read at startup) */
  constructor(configs: OidcIssuerConfig[], private readonly fetchTimeoutMs = 5_000, introspectionSecrets: ReadonlyMap<string, string> = new Map()) {
    for (const config of configs) {
      const introspectionSecret = introspectionSecrets.get(config.id);
      if (config.introspection && !introspectionSecret) throw new Error(`issuer ${config.id}: the introspection client secret was not provided`);
      this.issuers.set(config.issuer, { config, fetched: {}, ...(introspectionSecret ? { introspectionSecret } : {}) });
    }
  }

  get enabled(): boolean {
    return this.issuers.size > 0;
  }

  async verify(token: string): Promise<Identity> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken(`the token is longer than ${MAX_TOKEN_LENGTH} characters`);
    const cacheKey = createHash("sha256").update(token).digest("base64url");
    const cached = this.verified.get(cacheKey);
    // A cached result holds only while the issuer's keys are the ones it was verified with.
    if (cached && cached.until > Date.now() && cached.keysFetchedAt === cached.state.fetched.uat) return cached.identity;
    if (cached) this.verified.delete(cacheKey);
    let claimedIssuer: string | undefined;
    try {
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      if (this.introspecting.length > 0 && !token.includes(".")) return this.introspect(token, cacheKey);
      throw invalidToken("the token is not a well-formed JWT");
    }
    const state = claimedIssuer ? this.issuers.get(claimedIssuer) : undefined;
    if (!state) throw invalidToken(claimedIssuer ? `the issuer ${JSON.stringify(claimedIssuer).slice(0, 200)} is not trusted` : "the token names no issuer");
    const { config } = state;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(state), {
        issuer: config.issuer,
        audience: config.audiences,
        algorithms: config.algorithms,
        clockTolerance: config.clock_skew_s,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw verificationFailure(error);
    }
    const identity = identityFromClaims(config, payload, String(payload.sub), "oidc-bearer", cacheKey);
    this.remember(cacheKey, identity, Math.min(payload.exp! * 1000, Date.now() + VERIFIED_CACHE_TTL_MS), state);
    return identity;
  }

  private get introspecting(): IssuerState[] {
    return [...this.issuers.values()].filter((state) => state.config.introspection);
  }

  /** RFC 7662: the first issuer that calls the token active vouches for it. */
  private async introspect(token: string, cacheKey: string): Promise<Identity> {
    const inactiveUntil = this.inactive.get(cacheKey);
    if (inactiveUntil !== undefined && inactiveUntil > Date.now()) throw notActive();
    for (const state of this.introspecting) {
      const config = state.config;
      const settings = config.introspection!;
      const answer = await this.askIntrospectionEndpoint(state, token);
      if (answer.active !== true) continue;
      // §2.2: the answer may name the token's issuer and audience; when it does they must match.
      if (answer.iss !== undefined && answer.iss !== config.issuer) throw invalidToken(`the introspected token was issued by another issuer`);
      const audiences = stringList(answer.aud);
      if (!audiences.some((audience) => config.audiences.includes(audience))) throw invalidToken(`the token's "aud" is not acceptable (introspection names ${audiences.length ? "another audience" : "no audience"})`);
      const now = Date.now() / 1000;
      if (typeof answer.exp !== "number") throw invalidToken("the introspected token has no expiry");
      if (answer.exp + config.clock_skew_s <= now) throw invalidToken("the token has expired");
      if (typeof answer.nbf === "number" && answer.nbf - config.clock_skew_s > now) throw invalidToken("the token is not valid yet");
      const subject = typeof answer.sub === "string" ? answer.sub : typeof answer.client_id === "string" ? `client:${answer.client_id}` : undefined;
      if (!subject) throw invalidToken("the introspected token names no subject or client");
      const identity = identityFromClaims(config, answer, subject, "oidc-introspection", cacheKey);
      this.remember(cacheKey, identity, Math.min(answer.exp * 1000, Date.now() + settings.cache_ttl_s * 1000), state);
      return identity;
    }
    if (this.inactive.size >= VERIFIED_CACHE_MAX) this.inactive.delete(this.inactive.keys().next().value!);
    this.inactive.set(cacheKey, Date.now() + INACTIVE_CACHE_TTL_MS);
    throw notActive();
  }

  private async askIntrospectionEndpoint(state: IssuerState, token: string): Promise<JWTPayload & { active?: unknown; client_id?: unknown }> {
    const settings = state.config.introspection!;
    let endpoint = settings.endpoint;
    if (!endpoint) {
      const discovered = (await this.metadata(state)).introspection_endpoint;
      if (typeof discovered !== "string") throw idpUnavailable(state.config.issuer, new Error("discovery names no introspection_endpoint"));
      endpoint = discovered;
    }
    try {
      // RFC 7662 §2.1 with client_secret_basic (RFC 6749 §2.3.1: form-encode, then Basic).
      const basic = Buffer.from(`${encodeURIComponent(settings.client_id)}:${encodeURIComponent(state.introspectionSecret!)}`).toString("base64");
      const response = await request(endpoint, {
        method: "POST",
        headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
        headersTimeout: this.fetchTimeoutMs,
        bodyTimeout: this.fetchTimeoutMs,
      });
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new Error(`introspection answered HTTP ${response.statusCode}`);
      }
      const answer = (await response.body.json()) as unknown;
      if (typeof answer !== "object" || answer === null) throw new Error("introspection answered something other than a JSON object");
      return answer as JWTPayload & { active?: unknown };
    } catch (error) {
      throw idpUnavailable(state.config.issuer, error);
    }
  }

  private remember(cacheKey: string, identity: Identity, until: number, state: IssuerState): void {
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, { identity, until, keysFetchedAt: state.fetched.uat, state });
  }

  private keySet(state: IssuerState): Promise<KeySet> {
    if (!state.keys) {
      if (state.failedAt && Date.now() - state.failedAt < DISCOVERY_RETRY_MS) {
        return Promise.reject(idpUnavailable(state.config.issuer));
      }
      state.keys = this.discoverKeySet(state).catch((error: unknown) => {
        state.keys = undefined;
        state.failedAt = Date.now();
        throw error;
      });
    }
    return state.keys;
  }

  private async discoverKeySet(state: IssuerState): Promise<KeySet> {
    const config = state.config;
    let jwksUri = config.jwks_uri;
    if (!jwksUri) {
      const discovered = (await this.metadata(state)).jwks_uri;
      if (typeof discovered !== "string") throw idpUnavailable(config.issuer, new Error("discovery names no jwks_uri"));
      jwksUri = discovered;
    }
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.fetchTimeoutMs,
      cooldownDuration: config.jwks_cooldown_ms,
      cacheMaxAge: 600_000,
      [jwksCache]: state.fetched as Record<string, never>,
      [customFetch]: this.fetchKeys(state),
    });
  }

  /** The JWKS fetch jose makes, at most once per jwks_cooldown_ms after a failure (jose's own
   * cooldown starts only after a success), so tokens with random kids cannot turn a failing IdP
   * into a flood of fetches. Every failure, a non-200 answer or a body that is not a JWK Set
   * included, is the IdP being unavailable (503), never a malformed token. */
  private fetchKeys(state: IssuerState) {
    const { issuer, jwks_cooldown_ms: cooldownMs } = state.config;
    return async (url: string, init: RequestInit): Promise<Response> => {
      const waitMs = state.jwksFailedAt === undefined ? 0 : state.jwksFailedAt + cooldownMs - Date.now();
      if (waitMs > 0) throw idpUnavailable(issuer, new Error("the last JWKS fetch failed; not asked again within jwks_cooldown_ms"), Math.ceil(waitMs / 1000));
      try {
        const response = await fetch(url, init);
        const text = await response.text();
        if (response.status !== 200) throw new Error(`the JWKS endpoint answered HTTP ${response.status}`);
        const keys = (JSON.parse(text) as { keys?: unknown } | null)?.keys;
        if (!Array.isArray(keys) || !keys.every((key) => typeof key === "object" && key !== null && !Array.isArray(key))) throw new Error("the JWKS endpoint answered something other than a JWK Set");
        state.jwksFailedAt = undefined;
        metrics()?.jwksFetches.inc({ issuer: state.config.id, result: "ok" });
        return new Response(text, { status: 200, headers: { "content-type": "application/json" } });
      } catch (error) {
        state.jwksFailedAt = Date.now();
        metrics()?.jwksFetches.inc({ issuer: state.config.id, result: "failed" });
        throw idpUnavailable(issuer, error, Math.ceil(cooldownMs / 1000));
      }
    };
  }

  /** OpenID Connect Discovery 1.0 §4, fetched once; the document must name the configured issuer (§4.3). */
  private metadata(state: IssuerState): Promise<IssuerMetadata> {
    state.metadata ??= (async () => {
      const config = state.config;
      const url = `${config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
      let metadata: IssuerMetadata;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs), redirect: "error" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        metadata = (await response.json()) as IssuerMetadata;
      } catch (error) {
        throw idpUnavailable(config.issuer, error);
      }
      if (metadata.issuer !== config.issuer) throw idpUnavailable(config.issuer, new Error("discovery document names another issuer"));
      return metadata;
    })().catch((error: unknown) => {
      state.metadata = undefined;
      throw error;
    });
    return state.metadata;
  }
}

function identityFromClaims(config: OidcIssuerConfig, claims: JWTPayload, subject: string, authMethod: Identity["auth_method"], cacheKey: string): Identity {
  const name = claimAt(claims, config.name_claim);
  return {
    subject: `oidc:${config.id}:${subject}`,
    kind: "oidc",
    groups: stringList(claimAt(claims, config.groups_claim)),
    auth_method: authMethod,
    credential_id: typeof claims.jti === "string" ? claims.jti.slice(0, 64) : cacheKey.slice(0, 16),
    issuer: config.issuer,
    ...(typeof name === "string" ? { name } : {}),
    claims: policyClaims(claims),
  };
}

/** A claim by name, or by dotted path (Keycloak's realm_access.roles); a top-level name that
 * itself contains dots (Auth0's https://example.com/groups) wins. */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (path in payload) return payload[path];
  let value: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function stringList(value: unknown): string[] {
  if (typeof value === "string") return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function verificationFailure(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof jose.JWTExpired) return invalidToken("the token has expired");
  if (error instanceof jose.JWTClaimValidationFailed) return invalidToken(`the token's "${error.claim}" claim is not acceptable (${error.reason})`);
  if (error instanceof jose.JOSEAlgNotAllowed) return invalidToken("the token's signing algorithm is not allowed");
  if (error instanceof jose.JWSSignatureVerificationFailed) return invalidToken("the token's signature does not verify");
  if (error instanceof jose.JWKSNoMatchingKey) return invalidToken("no key of the issuer matches the token's kid");
  if (error instanceof jose.JWKSTimeout || error instanceof jose.JWKSInvalid) return idpUnavailable("the issuer", error);
  if (error instanceof jose.JOSEError) return invalidToken("the token is malformed");
  return idpUnavailable("the issuer", error);
}

function notActive(): GatewayError {
  return invalidToken("the token is not active at any issuer that introspects opaque tokens");
}

function invalidToken(why: string): GatewayError {
  return new GatewayError(401, "PC_INVALID_TOKEN", `Refused: ${why}.`, { bearerError: "invalid_token" });
}

function idpUnavailable(issuer: string, cause?: unknown, retryAfterS?: number): GatewayError {
  return new GatewayError(503, "PC_IDP_UNAVAILABLE", `The keys of ${issuer} could not be fetched, so the token cannot be verified; retry shortly.`, { cause, ...(retryAfterS ? { retryAfterS } : {}) });
}
