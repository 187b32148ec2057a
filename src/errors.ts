// One error family for everything the gateway refuses. Each failure has a stable `code` a client
// or an operator can act on; the message says what was wrong and what to do.
export type ErrorCode =
  | "PC_BAD_PATH"
  | "PC_UNKNOWN_ROUTE"
  | "PC_METHOD_NOT_ALLOWED"
  | "PC_BLOCKED_ROUTE"
  | "PC_UNAUTHENTICATED"
  | "PC_AMBIGUOUS_CREDENTIALS"
  | "PC_CREDENTIAL_EXPIRED"
  | "PC_CREDENTIAL_REVOKED"
  | "PC_SESSION_EXPIRED"
  | "PC_CSRF"
  | "PC_LOGIN_FAILED"
  | "PC_SIGN_IN_BUSY"
  | "PC_SAML_REJECTED"
  | "PC_INVALID_TOKEN"
  | "PC_IDP_UNAVAILABLE"
  | "PC_FORBIDDEN"
  | "PC_APPROVAL_REQUIRED"
  | "PC_APPROVAL_DENIED"
  | "PC_APPROVAL_EXPIRED"
  | "PC_APPROVAL_PENDING"
  | "PC_APPROVAL_USED"
  | "PC_APPROVAL_MISMATCH"
  | "PC_APPROVAL_STALE"
  | "PC_APPROVAL_CLOSED"
  | "PC_SELF_APPROVAL"
  | "PC_JUSTIFICATION_REQUIRED"
  | "PC_NOT_FOUND"
  | "PC_CONFLICT"
  | "PC_NO_TENANT"
  | "PC_RATE_LIMITED"
  | "PC_POLICY_UNAVAILABLE"
  | "PC_INVALID_JSON"
  | "PC_BODY_TOO_LARGE"
  | "PC_UNSUPPORTED_ENCODING"
  | "PC_UNSUPPORTED_PROTOCOL"
  | "PC_BAD_REQUEST"
  | "PC_AUDIT_UNAVAILABLE"
  | "PC_VAULT_UNAVAILABLE"
  | "PC_UPSTREAM_UNAVAILABLE"
  | "PC_UPSTREAM_TIMEOUT"
  | "PC_UPSTREAM_RESPONSE_TOO_LARGE"
  | "PC_MASKING_FAILED"
  | "PC_UNSUPPORTED_MEDIA_TYPE"
  | "PC_EGRESS_UNKNOWN_ROUTE"
  | "PC_EGRESS_METHOD_NOT_ALLOWED"
  | "PC_EGRESS_PATH_NOT_ALLOWED"
  | "PC_EGRESS_RUN_CONTEXT_INVALID"
  | "PC_EGRESS_RUN_CONTEXT_REQUIRED"
  | "PC_EGRESS_REDIRECT_REFUSED"
  | "PC_SHUTTING_DOWN"
  | "PC_CLIENT_CLOSED"
  | "PC_INTERNAL";

import type { Identity } from "./identify/identity.js";

/** RFC 6750 §3.1 error codes for WWW-Authenticate. */
export type BearerError = "invalid_request" | "invalid_token" | "insufficient_scope";

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

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; bearerError?: BearerError; identity?: Identity; retryAfterS?: number; approvalId?: string; statusUrl?: string },
  ) {
    super(message, options);
    this.name = "GatewayError";
    this.bearerError = options?.bearerError;
    if (options?.identity) this.identity = options.identity;
    if (options?.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
    if (options?.approvalId) this.approvalId = options.approvalId;
    if (options?.statusUrl) this.statusUrl = options.statusUrl;
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

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A policy file that cannot be used: the message lists every problem, each with where it is. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyError";
  }
}
