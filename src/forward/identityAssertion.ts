// The signed identity assertion added to upstream requests, so a LangGraph custom Auth handler
// can know who is calling (and filter by owner) without ever seeing a client credential.
// A short-lived JWT, signed with the gateway's own key; the public key is served at
// IDENTITY_JWKS_PATH for the upstream to verify (examples/langgraph-auth/auth.mts).
import { createHash } from "node:crypto";
import { exportJWK, generateKeyPair, importPKCS8, SignJWT, type CryptoKey, type JWK } from "jose";
import { readSecret, type PortcullisConfig } from "../config/index.js";
import type { Identity } from "../identify/index.js";

export const IDENTITY_JWKS_PATH = "/.well-known/portcullis/jwks.json";
const ALGORITHM = "ES256";

export class IdentityAssertionSigner {
  private constructor(
    readonly header: string,
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly ttlSeconds: number,
  ) {}

  static async create(settings: NonNullable<PortcullisConfig["upstream"]["identity_assertion"]>): Promise<IdentityAssertionSigner> {
    // Without a configured key, an ephemeral one: fine for a single instance, since verifiers
    // fetch the JWKS; several instances behind one upstream need a shared key.
    const privateKey = settings.signing_key
      ? await importPKCS8(await readSecret(settings.signing_key, "upstream.identity_assertion.signing_key"), ALGORITHM, { extractable: true })
      : (await generateKeyPair(ALGORITHM, { extractable: true })).privateKey;
    const { d: _private, ...publicParts } = await exportJWK(privateKey);
    const kid = createHash("sha256").update(JSON.stringify([publicParts.x, publicParts.y])).digest("base64url").slice(0, 16);
    const publicJwk = { ...publicParts, kid, alg: ALGORITHM, use: "sig" };
    return new IdentityAssertionSigner(settings.header, privateKey, publicJwk, settings.issuer, settings.audience, settings.ttl_s);
  }

  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  /** `reach` is whose threads the policy decision lets the caller reach (own, tenant, any), so
   * an upstream Auth handler enforcing ownership itself can widen its filter to match. */
  async sign(identity: Identity, requestId: string, reach?: { scope?: string; tenant?: string }): Promise<string> {
    return new SignJWT({
      groups: identity.groups,
      auth_method: identity.auth_method,
      kind: identity.kind,
      ...(identity.name ? { name: identity.name } : {}),
      ...(reach?.scope ? { portcullis_scope: reach.scope } : {}),
      ...(reach?.tenant ? { portcullis_tenant: reach.tenant } : {}),
    })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.publicJwk.kid!, typ: "JWT" })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(identity.subject)
      .setJti(requestId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.privateKey);
  }
}
