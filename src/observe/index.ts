// observe: the gateway's metrics and traces (docs/observability.md). Not a stage that can refuse
// anything: the pipeline marks where each stage ends, and this module turns the marks into
// Prometheus histograms, counters and OpenTelemetry spans. Both are off by default.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { PortcullisConfig } from "../config/index.js";
import type { Exchange } from "../exchange.js";
import { ExchangeObservation, type StageName, type TraceIds } from "./exchange.js";
import { enableMetrics, metrics, type GatewayMetrics } from "./metrics.js";
import { startTracing, type ExchangeTracing } from "./tracing.js";

export { metrics } from "./metrics.js";
export { TRACING_PACKAGES } from "./tracing.js";
export type { StageName } from "./exchange.js";

/** Exchanges being observed, whichever gateway of the process they belong to. */
const observations = new WeakMap<Exchange, ExchangeObservation>();

/** For the SSE relay (respond/sse.ts): events went to the client; the first is the answer's
 * first byte. */
export function eventsRelayed(exchange: Exchange, count: number): void {
  observations.get(exchange)?.firstByte();
  metrics()?.sseEventsRelayed.inc(count);
}

export class Observability {
  private constructor(
    private readonly gatewayMetrics: GatewayMetrics | undefined,
    private readonly tracing: ExchangeTracing | undefined,
    private readonly trustedGroups: ReadonlySet<string>,
    private readonly listener: Server | undefined,
    /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics (when metrics are on). */
    readonly metricsUrl: string | undefined,
    private readonly log: Logger,
  ) {}

  static async start(config: PortcullisConfig["observability"], log: Logger): Promise<Observability> {
    const gatewayMetrics = config.metrics.enabled ? await enableMetrics() : undefined;
    const tracing = await startTracing(config.tracing);
    let listener: Server | undefined;
    let metricsUrl: string | undefined;
    if (gatewayMetrics) {
      listener = metricsListener(gatewayMetrics, log);
      listener.listen(config.metrics.listen.port, config.metrics.listen.host);
      try {
        await once(listener, "listening");
      } catch (error) {
        await tracing?.shutdown().catch(() => undefined);
        throw error;
      }
      const address = listener.address() as AddressInfo;
      metricsUrl = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}/metrics`;
      log.info({ url: metricsUrl }, "metrics listening");
    }
    return new Observability(gatewayMetrics, tracing, new Set(config.tracing.trust_client_context_from_groups), listener, metricsUrl, log);
  }

  /** Whether anything is observed at all (the pipeline skips every hook otherwise). */
  get enabled(): boolean {
    return this.gatewayMetrics !== undefined || this.tracing !== undefined;
  }

  begin(exchange: Exchange): void {
    if (this.enabled) observations.set(exchange, new ExchangeObservation(exchange, this.gatewayMetrics, this.tracing, this.trustedGroups));
  }

  stage(exchange: Exchange, name: StageName): void {
    observations.get(exchange)?.stage(name);
  }

  /** traceparent/tracestate for the upstream request, naming the gateway's forward span. */
  forwarding(exchange: Exchange): Record<string, string> | undefined {
    return observations.get(exchange)?.forwarding();
  }

  forwarded(exchange: Exchange, status: number | undefined): void {
    observations.get(exchange)?.forwarded(status);
  }

  /** For the audit record: `{ trace: { trace_id, span_id } }` when the exchange is traced. */
  traceOf(exchange: Exchange): { trace?: TraceIds } {
    const ids = observations.get(exchange)?.ids();
    return ids ? { trace: ids } : {};
  }

  /** The relay ended: the answer's last byte is written (before the completion record). */
  relayed(exchange: Exchange): void {
    observations.get(exchange)?.relayed();
  }

  finish(exchange: Exchange): void {
    observations.get(exchange)?.finish();
    observations.delete(exchange);
  }

  /** Sends the spans still buffered (tests and shutdown). */
  async flush(): Promise<void> {
    await this.tracing?.flush();
  }

  /** Exports the last spans; a collector that does not answer is logged, never a reason for the
   * rest of shutdown (the ledger's final checkpoint) not to happen. */
  async close(): Promise<void> {
    // Bounded: a collector that does not answer must not eat the shutdown grace period.
    const exported = this.tracing?.shutdown().catch((error: unknown) => this.log.warn({ err: error }, "exporting the last spans failed"));
    if (exported) await Promise.race([exported, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_EXPORT_MS).unref())]);
    if (this.listener) await new Promise<void>((resolve) => this.listener!.close(() => resolve()));
  }
}

const SHUTDOWN_EXPORT_MS = 2_000;

/** The metrics listener: GET /metrics only, on its own address so that it can stay inside the
 * cluster network while the gateway's listener faces clients. */
function metricsListener(gatewayMetrics: GatewayMetrics, log: Logger): Server {
  return createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found: metrics are served at GET /metrics.\n");
      return;
    }
    gatewayMetrics.registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": gatewayMetrics.registry.contentType }).end(text),
      (error: unknown) => {
        log.error({ err: error }, "collecting metrics failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("Collecting metrics failed; see the gateway log.\n");
      },
    );
  });
}
