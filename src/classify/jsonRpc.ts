// What the agent protocols carried as JSON-RPC 2.0 (MCP at /mcp, A2A at /a2a/{assistant_id})
// share: a method the gateway does not know is answered as JSON-RPC's "Method not found", as the
// server would answer it, and never forwarded.
import { GatewayError } from "../errors.js";

export class UnknownJsonRpcMethod extends GatewayError {
  constructor(
    readonly protocol: "MCP" | "A2A",
    readonly messageId: unknown,
    readonly method: string,
  ) {
    super(400, "PC_BAD_REQUEST", `Refused: unknown ${protocol} method '${method}'; Portcullis forwards only the methods it can authorise (docs/compatibility.md).`);
  }

  /** JSON-RPC 2.0 §5.1: -32601, with HTTP 200. */
  jsonRpcError(): { jsonrpc: "2.0"; id: string | number | null; error: { code: number; message: string } } {
    const id = typeof this.messageId === "string" || typeof this.messageId === "number" ? this.messageId : null;
    return { jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${this.method}` } };
  }
}
