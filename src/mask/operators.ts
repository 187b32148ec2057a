// What a finding becomes (masking.md §4). Placeholders never match a detector themselves (no
// '@', no digit runs), so masking masked text changes nothing.
import { createHmac } from "node:crypto";
import type { Finding } from "./detect/types.js";

export type OperatorName = "redact" | "partial" | "pseudonym" | "drop";

/** Entities that are credentials: always redacted whole, whatever the configuration says. */
export const SECRET_ENTITIES = new Set([
  "AWS_ACCESS_KEY",
  "AWS_SECRET_KEY",
  "GITHUB_TOKEN",
  "GITLAB_TOKEN",
  "SLACK_TOKEN",
  "SLACK_WEBHOOK",
  "STRIPE_KEY",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GOOGLE_API_KEY",
  "NPM_TOKEN",
  "HUGGINGFACE_TOKEN",
  "SENDGRID_API_KEY",
  "TELEGRAM_BOT_TOKEN",
  "HTTP_COOKIE",
  "PASSWORD",
  "JSON_WEB_TOKEN",
  "PRIVATE_KEY",
  "AUTHORIZATION_HEADER",
  "URL_CREDENTIALS",
  "GENERIC_SECRET",
  "SENSITIVE_FIELD",
]);

interface OperatorSettings {
  defaultOperator: OperatorName;
  perEntity: ReadonlyMap<string, OperatorName>;
  /** Per-deployment key for pseudonyms: stable within a tenant, meaningless outside it. */
  pseudonymKey?: Buffer;
}

export class Operators {
  constructor(private readonly settings: OperatorSettings) {}

  operatorFor(entity: string): OperatorName {
    const chosen = this.settings.perEntity.get(entity) ?? this.settings.defaultOperator;
    // A partial secret or a pseudonymised one is still a lead for an attacker.
    if (SECRET_ENTITIES.has(entity) && (chosen === "partial" || chosen === "pseudonym")) return "redact";
    return chosen;
  }

  replacement(finding: Finding, value: string): string {
    switch (this.operatorFor(finding.entity)) {
      case "redact":
        return `[${finding.entity}]`;
      case "drop":
        return "";
      case "partial":
        return partialMask(value);
      case "pseudonym":
        return `<${finding.entity}:${this.pseudonym(finding.entity, value)}>`;
    }
  }

  /** Truncated HMAC-SHA-256(key, type ‖ normalised value): equal values correlate, nothing else
   * leaks; plain hashes would fall to a dictionary of 10^9 SSNs. */
  private pseudonym(entity: string, value: string): string {
    const key = this.settings.pseudonymKey;
    if (!key) throw new Error("the pseudonym operator needs masking.pseudonym_key_file");
    const digest = createHmac("sha256", key).update(`${entity}\0${normaliseValue(entity, value)}`).digest();
    return base32Letters(digest.subarray(0, 5));
  }
}

/** Keeps the last four letters or digits and every separator: ************1111. */
function partialMask(value: string): string {
  let keep = 4;
  let out = "";
  for (let i = value.length - 1; i >= 0; i -= 1) {
    const char = value[i]!;
    if (/[\p{L}\p{N}]/u.test(char)) {
      out = (keep > 0 ? char : "*") + out;
      keep -= 1;
    } else {
      out = char + out;
    }
  }
  return out;
}

/** Same value, same pseudonym or token, however it was written (masking.md §4). */
export function normaliseValue(entity: string, value: string): string {
  switch (entity) {
    case "EMAIL_ADDRESS":
      return value.toLowerCase();
    case "CREDIT_CARD":
    case "US_SSN":
      return value.replace(/\D/g, "");
    case "PHONE_NUMBER":
      return value.replace(/[^\d+]/g, "");
    case "IBAN_CODE":
      return value.replace(/\s/g, "").toUpperCase();
    default:
      return value;
  }
}

// RFC 4648 base32 in lower case: 8 characters for 40 bits, with too few digits to look like a number.
function base32Letters(bytes: Buffer): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
