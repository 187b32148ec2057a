// Logs are stored data too (masking.md §0: mask before storing): every field of every log line,
// and the message and stack of logged errors, pass through the masker. A log line that cannot be
// scanned is replaced, never written clear.
import { stdSerializers, type LoggerOptions } from "pino";
import type { Masker } from "./masker.js";

export function maskedLogOptions(masker: Masker): Pick<LoggerOptions, "formatters" | "serializers"> {
  return {
    formatters: {
      log(object: Record<string, unknown>) {
        try {
          return masker.maskValue(object).value;
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
