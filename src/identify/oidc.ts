// OIDC / OAuth 2 bearer tokens (JWT access or ID tokens), verified with jose: issuer discovery,
// JWKS cached with rotation (an unknown `kid` triggers a refetch, at most once per cooldown), an
// algorithm allow-list that never includes `none` or HMAC, issuer and audience checks, and
// expiry with a small clock skew. Several issuers at once; each token names its own.
import { createHash } from "node:crypto";
import { createRemoteJWKSet, decodeJwt, errors as jose, jwksCache, jwtVerify, type JWTPayload } from "jose";
import type { OidcIssuerConfig } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import type { Identity } from "./identity.js";

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

type KeySet = ReturnType<typeof createRemoteJWKSet>;

interface IssuerState {
  config: OidcIssuerConfig;
  /** jose writes {jwks, uat} here on every JWKS fetch; a new uat means the keys changed. */
  fetched: { uat?: number };
  keys?: Promise<KeySet>;
  /** When discovery last failed, so an unreachable IdP is not hammered. */
  failedAt?: number;
}

const DISCOVERY_RETRY_MS = 5_000;

/** Verified tokens are remembered briefly: clients send the same token on every request, and a
 * signature check costs ~0.1–0.2 ms. Bounded in size and in time (never past exp). */
const VERIFIED_CACHE_MAX = 10_000;
const VERIFIED_CACHE_TTL_MS = 60_000;

export class OidcBearerVerifier {
  private readonly issuers = new Map<string, IssuerState>();
  private readonly verified = new Map<string, { identity: Identity; until: number; keysFetchedAt: number | undefined; state: IssuerState }>();

  constructor(configs: OidcIssuerConfig[], private readonly fetchTimeoutMs = 5_000) {
    for (const config of configs) this.issuers.set(config.issuer, { config, fetched: {} });
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
    const identity: Identity = {
      subject: `oidc:${config.id}:${String(payload.sub)}`,
      kind: "oidc",
      groups: stringList(claimAt(payload, config.groups_claim)),
      auth_method: "oidc-bearer",
      credential_id: typeof payload.jti === "string" ? payload.jti.slice(0, 64) : cacheKey.slice(0, 16),
      issuer: config.issuer,
      ...(typeof claimAt(payload, config.name_claim) === "string" ? { name: claimAt(payload, config.name_claim) as string } : {}),
    };
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(cacheKey, {
      identity,
      until: Math.min(payload.exp! * 1000, Date.now() + VERIFIED_CACHE_TTL_MS),
      keysFetchedAt: state.fetched.uat,
      state,
    });
    return identity;
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
      // OpenID Connect Discovery 1.0 §4; the document must name the configured issuer (§4.3).
      const url = `${config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
      let metadata: { issuer?: unknown; jwks_uri?: unknown };
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs), redirect: "error" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        metadata = (await response.json()) as typeof metadata;
      } catch (error) {
        throw idpUnavailable(config.issuer, error);
      }
      if (metadata.issuer !== config.issuer || typeof metadata.jwks_uri !== "string") {
        throw idpUnavailable(config.issuer, new Error("discovery document names another issuer or no jwks_uri"));
      }
      jwksUri = metadata.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: this.fetchTimeoutMs,
      cooldownDuration: config.jwks_cooldown_ms,
      cacheMaxAge: 600_000,
      [jwksCache]: state.fetched as Record<string, never>,
    });
  }
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

function invalidToken(why: string): GatewayError {
  return new GatewayError(401, "PC_INVALID_TOKEN", `Refused: ${why}.`, { bearerError: "invalid_token" });
}

function idpUnavailable(issuer: string, cause?: unknown): GatewayError {
  return new GatewayError(503, "PC_IDP_UNAVAILABLE", `The keys of ${issuer} could not be fetched, so the token cannot be verified; retry shortly.`, { cause });
}
