// One error family for everything the gateway refuses. Each failure has a stable `code` a client
// or an operator can act on; the message says what was wrong and what to do.
//
// ERROR_CATALOG is the list of codes: the statuses each is answered with, what it means and what
// the person who sees it should do. docs/errors.md is generated from it (`npm run docs:errors`),
// and test/source/errors-catalog.test.ts checks that every code is thrown somewhere with one of its
// statuses, and that the page is current.
import type { Identity } from "./identify/index.js";

interface ErrorEntry {
  statuses: readonly number[];
  means: string;
  action: string;
}

export const ERROR_CATALOG = {
  PC_BAD_PATH: { statuses: [400], means: "The request-target is not one canonical path: encoded slashes or dots, dot segments, control characters, an absolute or authority form, or a path that leaves an egress route.", action: "Send the path as the LangGraph API writes it, without encoding its separators." },
  PC_BAD_REQUEST: { statuses: [400, 408, 415, 417, 431], means: "The request is malformed for HTTP or for the route: a missing Host, a body on a method that takes none, a method override header, too many or too large headers (431), a request that was not sent in time (408), an Expect the gateway does not take (417), or a body the route does not accept (LangGraph's own validation answer where one exists).", action: "Fix the request as the message says; the status tells which limit or rule applies." },
  PC_INVALID_JSON: { statuses: [400], means: "The body is not JSON the gateway can inspect: not parseable, nested deeper than limits.max_json_depth, or holding numbers JSON cannot carry.", action: "Send a well-formed JSON body within the nesting limit." },
  PC_BODY_TOO_LARGE: { statuses: [413], means: "The body exceeds limits.max_body_bytes, or a /runs/batch carries more runs than limits.max_batch_runs.", action: "Send a smaller body or split the batch; an operator can raise the limit." },
  PC_UNSUPPORTED_ENCODING: { statuses: [415], means: "The request body is compressed (Content-Encoding), so it cannot be scanned.", action: "Send the body uncompressed." },
  PC_UNSUPPORTED_MEDIA_TYPE: { statuses: [415], means: "The body's media type cannot be scanned on this route (egress calls take JSON, console forms take form encoding).", action: "Send the media type the message names." },
  PC_UNSUPPORTED_PROTOCOL: { statuses: [501], means: "A WebSocket upgrade other than protocol v2's thread stream.", action: "Use the HTTP API, or the protocol v2 stream at GET /threads/{thread_id}/stream/events." },
  PC_UNKNOWN_ROUTE: { statuses: [404], means: "No route of the LangGraph API, the gateway or routes.custom matches the path.", action: "Check the path; a route your Agent Server adds (langgraph.json http.app) must be declared under routes.custom." },
  PC_METHOD_NOT_ALLOWED: { statuses: [405], means: "The path is known but not with this method (the Allow header lists the methods it takes), or a CONNECT request.", action: "Use one of the methods in Allow." },
  PC_BLOCKED_ROUTE: { statuses: [403], means: "A LangGraph route that is never forwarded (/internal, the server's docs and metrics).", action: "None through the gateway: these routes are closed on purpose." },
  PC_UNAUTHENTICATED: { statuses: [401], means: "No credential, a malformed Authorization header, or a credential the gateway does not recognise (an unknown key; a console page that needs a sign-in).", action: "Send a service-account key, an OIDC bearer token or a console session cookie." },
  PC_AMBIGUOUS_CREDENTIALS: { statuses: [400], means: "More than one credential, or a credential named hop-by-hop in Connection (a proxy would drop it).", action: "Send exactly one credential, end to end." },
  PC_INVALID_TOKEN: { statuses: [401], means: "The bearer token failed verification (signature, issuer, audience, expiry, algorithm), or bearer tokens are not accepted because no OIDC issuer is configured.", action: "Get a fresh token from the configured issuer for the gateway's audience." },
  PC_CREDENTIAL_EXPIRED: { statuses: [401], means: "The service-account key is past its expiry.", action: "Ask an operator for a new key (portcullis service-account create)." },
  PC_CREDENTIAL_REVOKED: { statuses: [401], means: "The service-account key was revoked.", action: "Ask an operator for a new key." },
  PC_SESSION_EXPIRED: { statuses: [401], means: "The console session has expired or was ended.", action: "Sign in again." },
  PC_LOGIN_FAILED: { statuses: [401], means: "A browser sign-in (OIDC or SAML) failed: state, nonce or PKCE mismatch, the provider's error, or a sign-in that took too long.", action: "Start the sign-in again; the log names the cause." },
  PC_SAML_REJECTED: { statuses: [401], means: "A SAML response failed validation (signature, audience, recipient, validity window, replayed assertion).", action: "Check the identity provider's SAML settings against docs/identity.md, then sign in again." },
  PC_SIGN_IN_BUSY: { statuses: [503], means: "Too many sign-ins are in progress at once.", action: "Retry in a few minutes." },
  PC_IDP_UNAVAILABLE: { statuses: [503], means: "The identity provider (OIDC discovery or JWKS) could not be reached, so no token can be verified.", action: "Retry; operators should check the issuer's reachability." },
  PC_CSRF: { statuses: [403], means: "A state-changing request authenticated by a session cookie carried no valid CSRF token and came from an untrusted origin.", action: "Send the session's CSRF token (portcullis-csrf header) or call from a trusted origin." },
  PC_FORBIDDEN: { statuses: [403], means: "Policy denied the request (the message names the rule), or a gateway control refused it: a page or WebSocket from an origin not in cors.allow_origins, the console cross-origin, an approval decided by another group, a run body that cannot carry the pauses the policy sets.", action: "Read the rule or control the message names; ask an administrator if access is needed." },
  PC_NOT_FOUND: { statuses: [404], means: "The thing named does not exist for this caller (an approval, a session, a record, a resource of another owner).", action: "Check the id." },
  PC_CONFLICT: { statuses: [409], means: "A thread with this thread_id already exists.", action: "Use another id, or if_exists: do_nothing." },
  PC_NO_TENANT: { statuses: [403], means: "The policy assigns every caller to a tenant and this identity has none.", action: "Ask an administrator to map the identity to a tenant (ownership.tenant)." },
  PC_RATE_LIMITED: { statuses: [429], means: "Over a policy rate limit (requests or runs), or too many of the caller's requests are waiting for approval.", action: "Wait for Retry-After; send fewer runs per batch if the message says so." },
  PC_APPROVAL_REQUIRED: { statuses: [403], means: "The request needs approval and the client asked not to be held (Prefer: portcullis-approval=refuse).", action: "Send it without that preference to be held, or with Prefer: respond-async." },
  PC_APPROVAL_PENDING: { statuses: [504], means: "A held request was not decided within approvals.hold_max_s; nothing was sent and the approval stays pending.", action: "Follow the status URL; once approved, send the same request again with the approval id." },
  PC_APPROVAL_DENIED: { statuses: [403], means: "Approvers denied the request.", action: "Read the approver's reason on the approval." },
  PC_APPROVAL_EXPIRED: { statuses: [403], means: "The approval expired before anyone decided.", action: "Ask anew." },
  PC_APPROVAL_USED: { statuses: [409], means: "The approval was already used once.", action: "Ask anew: an approval lets one request through." },
  PC_APPROVAL_MISMATCH: { statuses: [409], means: "The approval was given for a different request or requester.", action: "Send the approved request unchanged, or ask anew without the approval id." },
  PC_APPROVAL_STALE: { statuses: [409], means: "The thread changed since approvers looked at the approval.", action: "Ask anew, so approvers see the current state." },
  PC_APPROVAL_CLOSED: { statuses: [409], means: "A decision on an approval that is already decided, expired or used.", action: "Reload the approval; nothing changed." },
  PC_SELF_APPROVAL: { statuses: [403], means: "An approver tried to decide their own request.", action: "Another approver must decide it." },
  PC_JUSTIFICATION_REQUIRED: { statuses: [428], means: "The rule requires a justification and the request carried none.", action: "Send the reason in the portcullis-justification header." },
  PC_AUDIT_UNAVAILABLE: { statuses: [503], means: "The audit ledger could not make the request's record durable, so nothing was forwarded.", action: "Retry; operators should check the ledger store (portcullis verify, readiness probe)." },
  PC_VAULT_UNAVAILABLE: { statuses: [503], means: "The token vault could not store or read the originals behind tokens, so the request was not forwarded.", action: "Retry; operators should check the state store." },
  PC_MASKING_FAILED: { statuses: [422, 502], means: "A body could not be scanned for PII and secrets: a request body (422), or an answer that is compressed, not text, over a field cap or over the scan budget (502). Nothing unscanned is passed on.", action: "Send scannable content; operators can review masking limits." },
  PC_UPSTREAM_UNAVAILABLE: { statuses: [502], means: "The LangGraph server (or an egress route's service) could not be reached or broke the connection.", action: "Retry; operators should check the upstream." },
  PC_UPSTREAM_TIMEOUT: { statuses: [504], means: "The upstream did not answer within the configured timeout.", action: "Retry later, or narrow the request." },
  PC_UPSTREAM_RESPONSE_TOO_LARGE: { statuses: [502], means: "The upstream's answer exceeds limits.max_response_bytes.", action: "Narrow the request (limit, select); an operator can raise the limit." },
  PC_EGRESS_UNKNOWN_ROUTE: { statuses: [404], means: "No egress route has this name.", action: "Use a route declared under egress.routes." },
  PC_EGRESS_METHOD_NOT_ALLOWED: { statuses: [405], means: "The egress route does not allow this method.", action: "Use a method the route lists." },
  PC_EGRESS_PATH_NOT_ALLOWED: { statuses: [403], means: "The egress route does not allow this path.", action: "Call a path the route allows." },
  PC_EGRESS_RUN_CONTEXT_REQUIRED: { statuses: [428], means: "The egress route needs the run context header the gateway gave the run, and the call carried none.", action: "Forward the run context header from the graph's configurable." },
  PC_EGRESS_RUN_CONTEXT_INVALID: { statuses: [400], means: "The run context header is forged, expired or for another run.", action: "Forward the header the gateway gave this run, unchanged." },
  PC_EGRESS_REDIRECT_REFUSED: { statuses: [502], means: "The egress service redirected outside the route; the gateway neither follows nor relays it.", action: "Point the route at the final URL." },
  PC_SHUTTING_DOWN: { statuses: [503], means: "The gateway is shutting down and takes no new requests.", action: "Retry: another instance, or this one after its restart, will answer." },
  PC_CLIENT_CLOSED: { statuses: [499], means: "The client closed the connection before the answer was complete (recorded, never sent).", action: "None: this code is only seen in records and logs." },
  PC_INTERNAL: { statuses: [500], means: "The gateway failed to handle the request; nothing was forwarded after the failure.", action: "Report the request id: the failure is logged with it." },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** RFC 6750 §3.1 error codes for WWW-Authenticate. */
type BearerError = "invalid_request" | "invalid_token" | "insufficient_scope";

export class GatewayError extends Error {
  readonly bearerError?: BearerError;
  /** Who was refused, when they were identified before the refusal (e.g. a CSRF failure). */
  readonly identity?: Identity;
  /** For 429 and 503: seconds the client should wait (Retry-After, RFC 9110 §10.2.3). */
  readonly retryAfterS?: number;
  /** The approval a refusal concerns (denied, expired, held when the gateway stopped). */
  readonly approvalId?: string;
  /** Where that approval's state (and a deferred request's result) can be followed. */
  readonly statusUrl?: string;
  /** For 405: the methods the path takes (Allow, RFC 9110 §15.5.6). */
  readonly allow?: readonly string[];

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; bearerError?: BearerError; identity?: Identity; retryAfterS?: number; approvalId?: string; statusUrl?: string; allow?: readonly string[] },
  ) {
    super(message, options);
    this.name = "GatewayError";
    this.bearerError = options?.bearerError;
    if (options?.identity) this.identity = options.identity;
    if (options?.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
    if (options?.approvalId) this.approvalId = options.approvalId;
    if (options?.statusUrl) this.statusUrl = options.statusUrl;
    if (options?.allow) this.allow = options.allow;
  }

  /** RFC 6750 §3: no error attribute when the request carried no credentials at all. */
  wwwAuthenticate(): string {
    if (!this.bearerError) return 'Bearer realm="portcullis"';
    const description = this.message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?");
    return `Bearer realm="portcullis", error="${this.bearerError}", error_description="${description}"`;
  }

  toJSON(requestId: string): Record<string, string> {
    return { error: this.code, message: this.message, request_id: requestId, ...(this.approvalId ? { approval_id: this.approvalId } : {}), ...(this.statusUrl ? { status_url: this.statusUrl } : {}) };
  }
}

/** An error whose message is written for the person running Portcullis (a bad flag or config,
 * a ledger that cannot be opened, an export that cannot be written): the CLI prints the message
 * alone and exits 2. Anything else is a bug, printed with its stack (exit 1). */
export class OperatorError extends Error {}

export class ConfigError extends OperatorError {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A policy file that cannot be used: the message lists every problem, each with where it is. */
export class PolicyError extends OperatorError {
  constructor(message: string) {
    super(message);
    this.name = "PolicyError";
  }
}
