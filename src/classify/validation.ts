// Body refusals classify makes where LangGraph validates the same field itself. The JS server
// validates bodies with @hono/zod-validator and answers a bad one 400
// {"success": false, "error": {"issues": [...], "name": "ZodError"}}; the refusal carries the
// issue LangGraph would report, so respond can answer in that shape (langgraphErrors.ts) and an
// SDK that reads the issues reads the same ones through the gateway.
import { GatewayError } from "../errors.js";

/** One Zod issue as the server serialises it (zod v3: `invalid_type`, or `invalid_string` for a
 * string that is not a UUID). */
export type ValidationIssue =
  | { code: "invalid_type"; expected: string; received: string; path: Array<string | number>; message: string }
  | { validation: "uuid"; code: "invalid_string"; message: "Invalid uuid"; path: Array<string | number> };

// zod v3's uuid check.
const UUID = /^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$/i;

/** A body classify refused for a field LangGraph validates too: 400 PC_BAD_REQUEST with the
 * issue LangGraph would report. */
export class BodyValidationError extends GatewayError {
  constructor(
    message: string,
    readonly issues: ValidationIssue[],
  ) {
    super(400, "PC_BAD_REQUEST", message);
  }
}

/** Zod's `invalid_type` issue for `value` at `path` where `expected` was required. */
export function invalidType(path: Array<string | number>, expected: string, value: unknown): ValidationIssue {
  const received = zodTypeOf(value);
  return { code: "invalid_type", expected, received, path, message: value === undefined ? "Required" : `Expected ${expected}, received ${received}` };
}

/** Zod's issue for `value` at `path` where a UUID string was required, or undefined if it is one. */
export function notUuid(path: Array<string | number>, value: unknown): ValidationIssue | undefined {
  if (typeof value !== "string") return invalidType(path, "string", value);
  return UUID.test(value) ? undefined : { validation: "uuid", code: "invalid_string", message: "Invalid uuid", path };
}

// zod v3's getParsedType names for what JSON can carry.
function zodTypeOf(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A protocol-v2 command whose method the gateway does not know: never forwarded (what it would
 * do cannot be authorised). The server answers an unknown method in-band, 200 with a protocol
 * error, and so does the gateway (langgraphErrors.ts). */
export class UnknownProtocolCommand extends GatewayError {
  constructor(
    readonly commandId: number,
    readonly method: string,
  ) {
    super(400, "PC_BAD_REQUEST", `Refused: unknown protocol command method '${method}'; Portcullis forwards only the methods it can authorise (docs/compatibility.md).`);
  }

  /** The protocol's error response (@langchain/protocol), as the server words it. */
  protocolError(): { type: "error"; id: number; error: "unknown_command"; message: string } {
    return { type: "error", id: this.commandId, error: "unknown_command", message: `Unknown protocol command: ${this.method}` };
  }
}
