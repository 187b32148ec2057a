// The shape of exchange tracing, and its lazy start: the OpenTelemetry SDK (tracer.ts) is
// imported only when tracing is enabled, so start-up without it stays as fast as before.
import type { IncomingHttpHeaders } from "node:http";
import type { PortcullisConfig } from "../config/index.js";
import { ConfigError } from "../errors.js";

export type TracingSettings = PortcullisConfig["observability"]["tracing"];

/** One exchange's trace: a SERVER root span and a child span per stage, made after the fact from
 * the stage's start and end (wall-clock ms), except forward, which is live so that its context
 * can go upstream in traceparent. */
export interface ExchangeTrace {
  readonly traceId: string;
  readonly spanId: string;
  stage(name: string, startMs: number, endMs: number, attributes?: Record<string, string | number | boolean>): void;
  /** Starts the forward span; returns the traceparent (and tracestate) headers for the upstream. */
  forward(startMs: number, attributes: Record<string, string | number | boolean>): Record<string, string>;
  forwarded(endMs: number, status: number | undefined): void;
  end(endMs: number, attributes: Record<string, string | number | boolean>, error: string | undefined): void;
}

export interface ExchangeTracing {
  begin(options: { name: string; startMs: number; headers: IncomingHttpHeaders; trusted: boolean }): ExchangeTrace;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The OpenTelemetry packages tracing needs. They are optional peer dependencies, so that the
 * gateway's install stays lean for the deployments that do not trace. */
export const TRACING_PACKAGES = ["@opentelemetry/api", "@opentelemetry/core", "@opentelemetry/exporter-trace-otlp-http", "@opentelemetry/resources", "@opentelemetry/sdk-trace-base", "@opentelemetry/semantic-conventions"];

export async function startTracing(settings: TracingSettings): Promise<ExchangeTracing | undefined> {
  if (!settings.enabled) return undefined;
  let tracer: typeof import("./tracer.js");
  try {
    tracer = await import("./tracer.js");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw error;
    throw new ConfigError(`observability.tracing is enabled, but the OpenTelemetry packages are not installed: npm install ${TRACING_PACKAGES.join(" ")} (${(error as Error).message})`);
  }
  return tracer.createExchangeTracing(settings);
}
