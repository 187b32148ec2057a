// Logs are stored data too (masking.md §0: mask before storing): every field of every log line,
// and the message and stack of logged errors, pass through the masker. A log line that cannot be
// scanned is replaced, never written clear. The gateway's own operational fields are kept as
// they are: its listening address is an IP, and who made a request is what the log is for.
// So are the addresses in errors of connections the gateway dialled itself (connect and DNS
// failures): those name the upstream, a store, an IdP or an egress service, never a client, and
// an operator cannot diagnose a failed connection whose address is masked.
import { stdSerializers, type LoggerOptions } from "pino";
import type { Masker } from "./masker.js";

const OPERATIONAL_FIELDS = new Set(["url", "upstream", "request_id", "trace_id", "span_id", "subject", "method", "path", "route", "status", "outcome", "error", "record_type", "duration_ms"]);

export function maskedLogOptions(masker: Masker): Pick<LoggerOptions, "formatters" | "serializers"> {
  return {
    formatters: {
      log(object: Record<string, unknown>) {
        try {
          const kept: Record<string, unknown> = {};
          const scanned: Record<string, unknown> = {};
          for (const [key, value] of Object.entries(object)) (OPERATIONAL_FIELDS.has(key) ? kept : scanned)[key] = value;
          return { ...kept, ...masker.maskValue(scanned).value };
        } catch {
          return { masking_failed: true, keys: Object.keys(object).slice(0, 20) };
        }
      },
    },
    serializers: {
      err(error: Error) {
        const serialized = stdSerializers.err(error);
        try {
          return maskKeepingDialled(error, serialized, masker);
        } catch {
          return { type: serialized.type, message: "[unscannable error message withheld]" };
        }
      },
    },
  };
}

const DIALLED = new Set(["connect", "getaddrinfo"]);

/** Masks a serialized error, except the addresses of connections the gateway dialled (found in
 * the error's cause chain: undici wraps the socket error), which are added as `dialled` and kept
 * clear in the message and stack. */
function maskKeepingDialled(error: Error, serialized: ReturnType<typeof stdSerializers.err>, masker: Masker): unknown {
  const dialled = dialledAddresses(error);
  if (dialled.length === 0) return masker.maskValue(serialized).value;
  // Swap each address for a placeholder the detectors ignore, mask, then swap back.
  const hosts = [...new Set(dialled.map((d) => d.host))].sort((a, b) => b.length - a.length);
  let text = JSON.stringify(serialized);
  hosts.forEach((host, i) => (text = text.replaceAll(host, `PORTCULLISDIALLEDHOST${String.fromCharCode(65 + i)}`)));
  let masked = JSON.stringify(masker.maskValue(JSON.parse(text)).value);
  hosts.forEach((host, i) => (masked = masked.replaceAll(`PORTCULLISDIALLEDHOST${String.fromCharCode(65 + i)}`, host)));
  return { ...(JSON.parse(masked) as object), dialled: dialled.map((d) => (d.port !== undefined ? `${d.host}:${d.port}` : d.host)) };
}

function dialledAddresses(error: unknown, depth = 0): Array<{ host: string; port?: number }> {
  if (typeof error !== "object" || error === null || depth > 8) return [];
  const found: Array<{ host: string; port?: number }> = [];
  const fields = error as { syscall?: unknown; address?: unknown; hostname?: unknown; port?: unknown; cause?: unknown; errors?: unknown };
  if (typeof fields.syscall === "string" && DIALLED.has(fields.syscall)) {
    const host = typeof fields.address === "string" ? fields.address : typeof fields.hostname === "string" ? fields.hostname : undefined;
    if (host) found.push({ host, ...(typeof fields.port === "number" ? { port: fields.port } : {}) });
  }
  found.push(...dialledAddresses(fields.cause, depth + 1));
  if (Array.isArray(fields.errors)) for (const inner of fields.errors) found.push(...dialledAddresses(inner, depth + 1));
  return found;
}
