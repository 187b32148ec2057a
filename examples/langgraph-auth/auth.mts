// A LangGraph JS custom Auth module that trusts Portcullis's signed identity assertion.
//
// Portcullis strips every client credential and adds a short-lived ES256 JWT in the
// `portcullis-identity` header (upstream.identity_assertion in portcullis.yaml). This module
// verifies it against the gateway's JWKS and then enforces thread ownership inside LangGraph
// too, as defence in depth behind the gateway's own policy.
//
// langgraph.json:
//   "auth": { "path": "./auth.mts:auth", "disable_studio_auth": true }
// environment:
//   PORTCULLIS_JWKS_URL   e.g. http://portcullis:8080/.well-known/portcullis/jwks.json
//   PORTCULLIS_ISSUER     default "portcullis"      (upstream.identity_assertion.issuer)
//   PORTCULLIS_AUDIENCE   default "langgraph"       (upstream.identity_assertion.audience)
import { Auth, HTTPException } from "@langchain/langgraph-sdk/auth";
import { createRemoteJWKSet, jwtVerify } from "jose";

const jwksUrl = process.env.PORTCULLIS_JWKS_URL;
if (!jwksUrl) throw new Error("PORTCULLIS_JWKS_URL is not set: refusing to start without a way to verify callers");
const keys = createRemoteJWKSet(new URL(jwksUrl));
const issuer = process.env.PORTCULLIS_ISSUER ?? "portcullis";
const audience = process.env.PORTCULLIS_AUDIENCE ?? "langgraph";

export const auth = new Auth()
  .authenticate(async (request: Request) => {
    const assertion = request.headers.get("portcullis-identity");
    if (!assertion) throw new HTTPException(401, { message: "no Portcullis identity assertion" });
    try {
      const { payload } = await jwtVerify(assertion, keys, { issuer, audience, algorithms: ["ES256"], requiredClaims: ["exp", "sub"] });
      const groups = Array.isArray(payload.groups) ? payload.groups.filter((g): g is string => typeof g === "string") : [];
      // Whose threads the gateway's policy decision reaches (own, tenant, any), as permissions.
      const reach = [
        ...(typeof payload.portcullis_scope === "string" ? [`portcullis:scope:${payload.portcullis_scope}`] : []),
        ...(typeof payload.portcullis_tenant === "string" ? [`portcullis:tenant:${payload.portcullis_tenant}`] : []),
      ];
      return { identity: payload.sub!, permissions: [...groups, ...reach], display_name: typeof payload.name === "string" ? payload.name : payload.sub! };
    } catch {
      throw new HTTPException(401, { message: "invalid Portcullis identity assertion" });
    }
  })
  // Stamp the owner on every new thread (the gateway stamps the same portcullis_owner); LangGraph
  // then filters every other thread action by it, so another caller's thread answers 404, as if
  // it did not exist. The filter widens only as far as the gateway's decision reaches.
  .on("threads:create", ({ value, user }) => {
    value.metadata = { ...(value.metadata ?? {}), portcullis_owner: user.identity };
  })
  .on("threads", ({ user }) => {
    // The gateway's own lookups (thread owner, assistant graph) before it decides.
    if (user.identity === "portcullis:gateway") return true;
    if (user.permissions.includes("portcullis:scope:any")) return true;
    const tenant = user.permissions.find((permission) => permission.startsWith("portcullis:tenant:"));
    if (user.permissions.includes("portcullis:scope:tenant") && tenant) return { portcullis_tenant: tenant.slice("portcullis:tenant:".length) };
    return { portcullis_owner: user.identity };
  })
  .on("assistants", () => true)
  .on("store", () => true);
