// One error family for everything the gateway refuses. Each failure has a stable `code` a client
// or an operator can act on; the message says what was wrong and what to do.
export type ErrorCode =
  | "PC_BAD_PATH"
  | "PC_UNKNOWN_ROUTE"
  | "PC_BLOCKED_ROUTE"
  | "PC_UNAUTHENTICATED"
  | "PC_CREDENTIAL_EXPIRED"
  | "PC_FORBIDDEN"
  | "PC_INVALID_JSON"
  | "PC_BODY_TOO_LARGE"
  | "PC_UNSUPPORTED_ENCODING"
  | "PC_UNSUPPORTED_PROTOCOL"
  | "PC_BAD_REQUEST"
  | "PC_AUDIT_UNAVAILABLE"
  | "PC_UPSTREAM_UNAVAILABLE"
  | "PC_UPSTREAM_TIMEOUT"
  | "PC_UPSTREAM_RESPONSE_TOO_LARGE"
  | "PC_SHUTTING_DOWN"
  | "PC_CLIENT_CLOSED"
  | "PC_INTERNAL";

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "GatewayError";
  }

  toJSON(requestId: string): Record<string, string> {
    return { error: this.code, message: this.message, request_id: requestId };
  }
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
