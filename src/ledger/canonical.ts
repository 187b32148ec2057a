// RFC 8785 (JCS) canonical JSON for ledger leaves. The bytes produced here are stored and hashed
// as they are; verifiers hash the stored bytes and never re-serialise (audit-ledger.md §9).
import canonicalize from "canonicalize";

export function canonicalJson(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError("a ledger record must be a JSON object");
  return Buffer.from(text, "utf8");
}

/**
 * Whether `text` is the RFC 8785 form of `value` (what JSON.parse made of it). JSON.stringify
 * writes strings and numbers as RFC 8785 does and keeps property order, so when every object's
 * keys are already in RFC 8785 order the two agree, without re-serialising through the library
 * (a third of an offline verify). Otherwise the library decides: V8 lists integer-like keys
 * first, so `{"10":1,"9":2}` takes that path.
 */
export function isCanonicalText(text: string, value: unknown): boolean {
  if (keysInOrder(value) && JSON.stringify(value) === text) return true;
  return canonicalize(value) === text;
}

/** Every object's keys in ascending UTF-16 code-unit order (RFC 8785 §3.2.3), at any depth. */
function keysInOrder(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (Array.isArray(value)) return value.every(keysInOrder);
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined && !(previous < key)) return false;
    if (!keysInOrder((value as Record<string, unknown>)[key])) return false;
    previous = key;
  }
  return true;
}
