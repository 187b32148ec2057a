// RFC 8785 (JCS) canonical JSON for ledger leaves. The bytes produced here are stored and hashed
// as they are; verifiers hash the stored bytes and never re-serialise (audit-ledger.md §9).
import canonicalize from "canonicalize";

export function canonicalJson(value: unknown): Buffer {
  const text = jcs(value);
  if (text === undefined) throw new TypeError("a ledger record must be a JSON object");
  return Buffer.from(text, "utf8");
}

/**
 * The RFC 8785 text of `value`. JSON.stringify writes strings and numbers as RFC 8785 does and
 * keeps property order, so a copy with every object's keys sorted serialises natively, several
 * times faster than the library's string building (the ledger leaf was the gateway's largest
 * cost per request). What the copy cannot express the library decides, with its errors: keys
 * that V8 would list first (integer-like), `toJSON`, non-finite numbers and lone surrogates.
 */
function jcs(value: unknown): string | undefined {
  const sorted = sortedCopy(value);
  return sorted === NEEDS_LIBRARY ? canonicalize(value) : JSON.stringify(sorted);
}

/** Whether `text` is the RFC 8785 form of `value` (what JSON.parse made of it). */
export function isCanonicalText(text: string, value: unknown): boolean {
  if (keysInOrder(value) && JSON.stringify(value) === text) return true;
  return jcs(value) === text;
}

const NEEDS_LIBRARY = Symbol("needs the canonicalize library");
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;

function sortedCopy(value: unknown): unknown {
  switch (typeof value) {
    case "string":
      return value.isWellFormed() ? value : NEEDS_LIBRARY;
    case "number":
      return Number.isFinite(value) ? value : NEEDS_LIBRARY;
    case "object":
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = sortedCopy(value[i]);
      if (item === NEEDS_LIBRARY) return NEEDS_LIBRARY;
      copy[i] = item;
    }
    return copy;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return NEEDS_LIBRARY;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (ARRAY_INDEX.test(key) || !key.isWellFormed()) return NEEDS_LIBRARY;
    const item = sortedCopy((value as Record<string, unknown>)[key]);
    if (item === NEEDS_LIBRARY) return NEEDS_LIBRARY;
    copy[key] = item;
  }
  return copy;
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
