// receive: the first stage. The client's address, header limits, the canonical request-target,
// CORS, and the body read within its limits; the listener's TLS certificate.
export { assertNoBodyOnBodylessMethod, assertRouteReadsBody, readFormBody, readJsonBody, readTextBody, type RequestBody } from "./body.js";
export { TrustedProxies } from "./clientAddress.js";
export { corsHeaders, isPreflight, preflightHeaders, type CorsSettings } from "./cors.js";
export { assertHeaderLimits, type HeaderLimits } from "./headers.js";
export { assertNoMethodOverride, parseRequestTarget, type RequestTarget } from "./target.js";
export { loadListenerCertificate, reloadCertificateOnChange } from "./tls.js";
