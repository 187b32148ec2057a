// The one HTTP client to the LangGraph server (and, one per route, to egress downstreams): a
// keep-alive undici pool that never follows redirects.
import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import { GatewayError } from "../errors.js";

interface UpstreamRequest {
  method: string;
  /** Canonical path plus raw query string. */
  pathAndQuery: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export class UpstreamClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    readonly url: URL,
    private readonly options: {
      connectTimeoutMs: number;
      responseTimeoutMs: number;
      /** Longest silence inside a response body; 0 for none. */
      bodyTimeoutMs?: number;
      /** Names the server in errors. */
      name?: string;
    },
  ) {
    this.basePath = url.pathname.replace(/\/$/, "");
    this.pool = new Pool(url.origin, {
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.responseTimeoutMs,
      // LangGraph runs can be quiet for minutes between events; downstream heartbeats cover the client side.
      bodyTimeout: options.bodyTimeoutMs ?? 0,
      keepAliveTimeout: 30_000,
    });
  }

  async send(request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool.request({
        method: request.method as Dispatcher.HttpMethod,
        path: `${this.basePath}${request.pathAndQuery}`,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      });
    } catch (error) {
      throw upstreamFailure(error, this.options.name ?? "The LangGraph server");
    }
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

function upstreamFailure(error: unknown, name: string): unknown {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new GatewayError(504, "PC_UPSTREAM_TIMEOUT", `${name} did not answer in time.`, { cause: error });
  }
  if (error instanceof Error && error.name === "AbortError") return error;
  // The cause (address, errno) goes to the log, not to the client.
  return new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", `${name} is unreachable; the failure is logged with this request's x-request-id.`, { cause: error });
}
