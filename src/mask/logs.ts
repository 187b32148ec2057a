// Logs are stored data too (masking.md §0: mask before storing): every field of every log line,
// and the message and stack of logged errors, pass through the masker. A log line that cannot be
// scanned is replaced, never written clear. The gateway's own operational fields are kept as
// they are: its listening address is an IP, and who made a request is what the log is for.
import { stdSerializers, type LoggerOptions } from "pino";
import type { Masker } from "./masker.js";

const OPERATIONAL_FIELDS = new Set(["url", "upstream", "request_id", "subject", "method", "path", "route", "status", "outcome", "error", "record_type", "duration_ms"]);

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
          return masker.maskValue(serialized).value;
        } catch {
          return { type: serialized.type, message: "[unscannable error message withheld]" };
        }
      },
    },
  };
}
