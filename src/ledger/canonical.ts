// RFC 8785 (JCS) canonical JSON for ledger leaves. The bytes produced here are stored and hashed
// as they are; verifiers hash the stored bytes and never re-serialise (audit-ledger.md §9).
import canonicalize from "canonicalize";

export function canonicalJson(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("a ledger record must be a JSON object");
  return Buffer.from(text, "utf8");
}
