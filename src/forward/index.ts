// forward: the request on its way to LangGraph: upstream headers from an allow-list with the
// gateway's credential (headers.ts), the optional signed identity assertion (identityAssertion.ts),
// and the one HTTP client to the upstream (upstream.ts), also used for the gateway's own calls.
export { gatewayRequest, type GatewayAuth } from "./gatewayRequest.js";
export { clientResponseHeaders, upstreamRequestHeaders, type UpstreamCredential } from "./headers.js";
export { IDENTITY_JWKS_PATH, IdentityAssertionSigner } from "./identityAssertion.js";
export { UpstreamClient } from "./upstream.js";
