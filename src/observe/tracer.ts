// OpenTelemetry tracing of exchanges. This module, and the SDK it pulls in, is imported only when
// observability.tracing.enabled is set (see tracing.ts), so a gateway without tracing loads none
// of it. Spans are exported over OTLP/HTTP; the exporter honours OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS when the config names no
// endpoint, and the provider OTEL_TRACES_SAMPLER(_ARG) when the config sets no sample_ratio.
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { IncomingHttpHeaders } from "node:http";
import type { ExchangeTrace, ExchangeTracing, TracingSettings } from "./tracing.js";

const propagator = new W3CTraceContextPropagator();

export function createExchangeTracing(settings: TracingSettings): ExchangeTracing {
  const serviceName = settings.service_name ?? process.env.OTEL_SERVICE_NAME ?? "portcullis";
  const provider = new BasicTracerProvider({
    resource: detectResources({ detectors: [envDetector] }).merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName })),
    ...(settings.sample_ratio !== undefined ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sample_ratio) }) } : {}),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(settings.otlp_endpoint ? { url: settings.otlp_endpoint } : {}))],
  });
  const tracer = provider.getTracer("portcullis");
  return {
    begin: (options) => beginExchange(tracer, options),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

function beginExchange(tracer: Tracer, options: { name: string; startMs: number; headers: IncomingHttpHeaders; trusted: boolean }): ExchangeTrace {
  // W3C Trace Context §3: the client's traceparent/tracestate. A trusted client's becomes the
  // parent; anyone else's is kept only as a link, so a client cannot steer the gateway's traces.
  const clientContext = propagator.extract(ROOT_CONTEXT, options.headers, defaultTextMapGetter);
  const clientSpan = trace.getSpanContext(clientContext);
  const parent = options.trusted && clientSpan ? clientContext : ROOT_CONTEXT;
  // The link keeps the ids only: an untrusted client's tracestate is not exported.
  const links: Link[] =
    !options.trusted && clientSpan ? [{ context: { traceId: clientSpan.traceId, spanId: clientSpan.spanId, traceFlags: clientSpan.traceFlags }, attributes: { "portcullis.link": "client_traceparent_untrusted" } }] : [];
  const root = tracer.startSpan(options.name, { kind: SpanKind.SERVER, startTime: options.startMs, links }, parent);
  const rootContext = trace.setSpan(ROOT_CONTEXT, root);
  const ids = root.spanContext();
  let forward: Span | undefined;
  return {
    traceId: ids.traceId,
    spanId: ids.spanId,
    stage(name, startMs, endMs, attributes) {
      tracer.startSpan(`portcullis.${name}`, { kind: SpanKind.INTERNAL, startTime: startMs, ...(attributes ? { attributes } : {}) }, rootContext).end(endMs);
    },
    forward(startMs, attributes) {
      forward?.end(startMs);
      forward = tracer.startSpan("portcullis.forward", { kind: SpanKind.CLIENT, startTime: startMs, attributes }, rootContext);
      const carrier: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, forward), carrier, defaultTextMapSetter);
      return carrier;
    },
    forwarded(endMs, status) {
      if (!forward) return;
      if (status !== undefined) forward.setAttribute("http.response.status_code", status);
      if (status === undefined || status >= 500) forward.setStatus({ code: SpanStatusCode.ERROR });
      forward.end(endMs);
      forward = undefined;
    },
    end(endMs, attributes: Attributes, error) {
      forward?.end(endMs);
      root.setAttributes(attributes);
      // Named once the route is known (the span starts at identify, before classify).
      if (typeof attributes["http.request.method"] === "string" && typeof attributes["http.route"] === "string") root.updateName(`${attributes["http.request.method"]} ${attributes["http.route"]}`);
      if (error) root.setStatus({ code: SpanStatusCode.ERROR, message: error });
      root.end(endMs);
    },
  };
}
