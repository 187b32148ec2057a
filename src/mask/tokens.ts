// Reversible typed tokens (masking.md §4 "optional reversible tokenization"). A value detected in
// a request LangGraph receives becomes `<EMAIL_ADDRESS_7f3a9c2e>`: a truncated HMAC-SHA-256 under
// a per-tenant key over the thread's scope, the entity type and the normalised value. The same
// value in the same thread is the same token every time (the model can still reason about it);
// another thread or another tenant gets another token, so tokens link nothing across them.
// Secrets stay irreversible: they are redacted, never tokenised.
import { createHmac, hkdfSync } from "node:crypto";
import { Scanner } from "./detect/scanner.js";
import type { Finding, OpenCandidate } from "./detect/types.js";
import { Operators, SECRET_ENTITIES, normaliseValue } from "./operators.js";

/** A token as it appears in text: the entity type, then 8 hex digits of the HMAC. */
export const TOKEN_PATTERN = /<([A-Z][A-Z0-9_]{1,63})_([0-9a-f]{8})>/g;
/** The longest token: `<` + a 64-character entity + `_` + 8 hex digits + `>`. */
const MAX_TOKEN_LENGTH = 75;
/** An unfinished token at the end of a text: held back in a stream until it is decided. */
const TOKEN_PREFIX = /<(?:[A-Z][A-Z0-9_]{0,63}(?:_[0-9a-f]{0,8})?)?$/;

/** One original value behind a token, as the vault keeps it. */
export interface TokenEntry {
  token: string;
  entity: string;
  value: string;
}

/** Keys derived with HKDF (RFC 5869) from the vault's master key: one HMAC key per tenant and
 * one AES-256-GCM key for the vault's rows. */
export class TokenKeys {
  private readonly tenantKeys = new Map<string, Buffer>();
  readonly encryption: Buffer;

  constructor(private readonly master: Buffer) {
    this.encryption = derive(master, "portcullis vault encryption");
  }

  forTenant(tenant: string): Buffer {
    let key = this.tenantKeys.get(tenant);
    if (!key) {
      key = derive(this.master, `portcullis vault tokens\0${tenant}`);
      if (this.tenantKeys.size < 10_000) this.tenantKeys.set(tenant, key);
    }
    return key;
  }

  /** The token for a value within one tenant and one thread scope. */
  token(tenant: string, scope: string, entity: string, value: string): string {
    const digest = createHmac("sha256", this.forTenant(tenant)).update(`${scope}\0${entity}\0${normaliseValue(entity, value)}`).digest("hex");
    return `<${entity}_${tokenDigits(digest)}>`;
  }
}

function derive(master: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.from("portcullis-vault/1"), Buffer.from(info), 32));
}

/** Eight hex digits of the digest that contain no run of four decimal digits, so a token never
 * looks like part of a phone or card number to a detector; the first such window is used. */
function tokenDigits(digest: string): string {
  for (let at = 0; at + 8 <= digest.length; at += 8) {
    const window = digest.slice(at, at + 8);
    if (!/\d{4}/.test(window)) return window;
  }
  return digest.slice(0, 8).replace(/\d/g, (digit) => "abcdefabcd"[Number(digit)]!);
}

/** What a tokenising masker does with a finding: a token for personal data (collected for the
 * vault), the usual redaction for secrets and sensitive fields. */
export class TokenizingOperators extends Operators {
  readonly entries = new Map<string, TokenEntry>();

  constructor(
    private readonly keys: TokenKeys,
    private readonly tenant: string,
    private readonly scope: string,
  ) {
    super({ defaultOperator: "redact", perEntity: new Map() });
  }

  override replacement(finding: Finding, value: string): string {
    if (SECRET_ENTITIES.has(finding.entity)) return `[${finding.entity}]`;
    const token = this.keys.token(this.tenant, this.scope, finding.entity, value);
    if (!this.entries.has(token)) this.entries.set(token, { token, entity: finding.entity, value });
    return token;
  }
}

/** Finds the tokens a restoring masker knows, and holds back an unfinished one at the end of a
 * streamed text (`<EMAIL_ADD` | `RESS_7f3a9c2e>`). It has no detectors of its own. */
export class TokenScanner extends Scanner {
  constructor(private readonly known: ReadonlyMap<string, TokenEntry>) {
    super([]);
  }

  override scan(text: string): Finding[] {
    if (!text.includes("<")) return [];
    const found: Finding[] = [];
    for (const match of text.matchAll(TOKEN_PATTERN)) {
      const entry = this.known.get(match[0]);
      if (entry) found.push({ start: match.index, end: match.index + match[0].length, entity: entry.entity, score: 1, detector: "vault-token" });
    }
    return found;
  }

  override openCandidate(text: string): OpenCandidate | undefined {
    const at = text.lastIndexOf("<");
    if (at === -1 || text.length - at > MAX_TOKEN_LENGTH) return undefined;
    return TOKEN_PREFIX.test(text.slice(at)) ? { start: at, strong: true } : undefined;
  }
}

/** What a restoring masker does with a known token: its original value. */
export class RestoringOperators extends Operators {
  constructor(private readonly known: ReadonlyMap<string, TokenEntry>) {
    super({ defaultOperator: "redact", perEntity: new Map() });
  }

  override replacement(_finding: Finding, token: string): string {
    return this.known.get(token)?.value ?? token;
  }
}
