// Identifiers recognised only next to a context word (masking.md §1): card security codes and
// crypto-currency addresses. Each is found from a literal that indexOf skips to at memchr speed
// because it is rare (the `v` of `cvv`, the `y` of `security code`, the `x` of `0x`, `bc1`), then
// confirmed by its format, its checksum where it has one, and a context word among the five
// words before it. Linear in the text: bounded reads around each anchor.
import { hasContextPhrase } from "./context.js";
import { isAlnum, isDigit, isHex, isLower, isUpper, isWordChar, runStartBefore } from "./lexer.js";
import type { Detector, Finding, OpenCandidate } from "./types.js";

/** Streaming: the trailing token of `isTokenChar` characters if it is at most `limit` long and
 * could still become a match: `mayGrow` says whether it can, and whether it is distinctive. */
function openTrailing(text: string, isTokenChar: (c: number) => boolean, limit: number, mayGrow: (token: string) => "strong" | "weak" | undefined): OpenCandidate | undefined {
  const start = runStartBefore(text, text.length, isTokenChar, limit);
  if (start === text.length || text.length - start > limit || (start > 0 && isWordChar(text.charCodeAt(start - 1)))) return undefined;
  const grows = mayGrow(text.slice(start));
  return grows === undefined ? undefined : { start, strong: grows === "strong" };
}

// --- Card security codes: 3 or 4 digits right after "cvv", "cvc", "cvv2", "security code". ---

const CVV_CONTEXT = [["cvv"], ["cvc"], ["cvv2"], ["cvc2"], ["cid"], ["csc"], ["security", "code"], ["card", "verification"], ["securitycode"]] as const;
/** What may stand between the keyword and the code: separators and a few filler words. */
const CVV_GAP_MAX = 16;
const CVV_FILLER = /^[\s:=#"'()_-]*(?:(?:is|was|number|no|num|code|value)\.?[\s:=#"'()_-]*){0,2}$/i;

function cvvDetector(): Detector {
  const id = "card-security-code";
  // Found from one rare letter each: the `v` of `cvv`/`cvc` (either case) and the `y` of
  // `security code` (`securityCode`, `security_code`, `SECURITY CODE`); one memchr pass per letter
  // costs less than one per spelling.
  /** Where the keyword around the anchor letter at `hit` ends, or -1. */
  const keywordEndAt = (text: string, hit: number): number => {
    const c = text.charCodeAt(hit) | 0x20;
    if (c === 0x76) {
      // c-v-v or c-v-c, the anchor being the first v
      const first = text.charCodeAt(hit - 1) | 0x20;
      const third = text.charCodeAt(hit + 1) | 0x20;
      return first === 0x63 && (third === 0x76 || third === 0x63) && keywordStart(text, hit - 1, 3) ? hit + 2 : -1;
    }
    // securit-y, then " code", "_code", "Code" or "-code"
    const separator = text.charCodeAt(hit + 1);
    const codeAt = separator === 0x20 || separator === 0x5f || separator === 0x2d ? hit + 2 : hit + 1;
    if ((text.charCodeAt(codeAt) | 0x20) !== 0x63 || (text.charCodeAt(hit - 1) | 0x20) !== 0x74) return -1; // c…, …t
    if (text.slice(codeAt, codeAt + 4).toLowerCase() !== "code" || text.slice(hit - 7, hit).toLowerCase() !== "securit") return -1;
    return keywordStart(text, hit - 7, 8) ? codeAt + 4 : -1;
  };
  /** The keyword starts a word, or a camelCase hump (`cardCvv`). */
  const keywordStart = (text: string, at: number, _length: number) => {
    if (at < 0) return false;
    return at === 0 || !isAlnum(text.charCodeAt(at - 1)) || (isLower(text.charCodeAt(at - 1)) && isUpper(text.charCodeAt(at)));
  };
  /** The code after the keyword ending at `from`: [start, end), "open" when the text ends first. */
  const codeAfter = (text: string, from: number, final: boolean): readonly [number, number] | "open" | undefined => {
    let pos = from;
    // cvv2 / cvc2
    if (text.charCodeAt(pos) === 0x32 && !isDigit(text.charCodeAt(pos + 1))) pos++;
    const limit = Math.min(text.length, pos + CVV_GAP_MAX);
    let start = pos;
    while (start < limit && !isDigit(text.charCodeAt(start))) start++;
    if (start >= text.length) return final ? undefined : "open";
    if (start === limit || !CVV_FILLER.test(text.slice(pos, start))) return undefined;
    if (isWordChar(text.charCodeAt(start - 1)) && start > pos && !isLower(text.charCodeAt(start - 1))) return undefined;
    let end = start;
    while (end < text.length && end - start <= 4 && isDigit(text.charCodeAt(end))) end++;
    if (end === text.length && !final) return "open";
    if (end - start < 3 || end - start > 4) return undefined;
    const after = text.charCodeAt(end);
    if (isWordChar(after) || ((after === 0x2d || after === 0x2e || after === 0x2f) && isDigit(text.charCodeAt(end + 1)))) return undefined;
    return [start, end];
  };
  const evaluate = (text: string, out: Finding[] | undefined, final: boolean): OpenCandidate | undefined => {
    let open: OpenCandidate | undefined;
    const from = final ? 0 : Math.max(0, text.length - 40);
    for (const literal of ["v", "V", "y", "Y"]) {
      for (let hit = text.indexOf(literal, from + 1); hit !== -1; hit = text.indexOf(literal, hit + 1)) {
        const keywordEnd = keywordEndAt(text, hit);
        if (keywordEnd < 0) continue;
        const code = codeAfter(text, keywordEnd, final);
        if (code === undefined) continue;
        if (code === "open") {
          if (!final && (!open || keywordEnd < open.start)) open = { start: keywordEnd, strong: true };
          continue;
        }
        if (out && hasContextPhrase(text, code[0], CVV_CONTEXT)) out.push({ start: code[0], end: code[1], entity: "CARD_SECURITY_CODE", score: 0.85, detector: id });
      }
    }
    return open;
  };
  return {
    id,
    entities: ["CARD_SECURITY_CODE"],
    maxLength: 4,
    find(text, out) {
      evaluate(text, out, true);
    },
    openCandidate(text) {
      // A keyword near the end whose code has not arrived or ended yet; a keyword not yet whole
      // (`cv`, `security co`) is ordinary text until it is.
      return evaluate(text, undefined, false);
    },
  };
}

// --- Ethereum addresses: 0x and 40 hex digits, next to a context word. ---

const ETH_CONTEXT = [["eth"], ["ethereum"], ["ether"], ["wallet"], ["metamask"], ["erc20"], ["crypto"], ["usdt"], ["usdc"]] as const;
const ETH_LENGTH = 42;

function ethereumAddressDetector(): Detector {
  const id = "ethereum-address";
  const valueAt = (text: string, start: number, final: boolean): number | "open" | undefined => {
    if (start > 0 && isWordChar(text.charCodeAt(start - 1))) return undefined;
    let end = start + 2;
    while (end < text.length && end - start <= ETH_LENGTH && isHex(text.charCodeAt(end))) end++;
    if (end === text.length && end - start <= ETH_LENGTH && !final) return "open";
    if (end - start !== ETH_LENGTH || isWordChar(text.charCodeAt(end))) return undefined;
    return end;
  };
  return {
    id,
    entities: ["CRYPTO_WALLET"],
    maxLength: ETH_LENGTH,
    find(text, out) {
      // `x` is rare in prose and JSON alike; the `0` before it is checked after.
      for (let x = text.indexOf("x", 1); x !== -1; x = text.indexOf("x", x + 1)) {
        if (text.charCodeAt(x - 1) !== 0x30) continue;
        const end = valueAt(text, x - 1, true);
        if (typeof end === "number" && hasContextPhrase(text, x - 1, ETH_CONTEXT)) out.push({ start: x - 1, end, entity: "CRYPTO_WALLET", score: 0.85, detector: id });
      }
    },
    // `0` alone is any number's first digit: held, but released by the idle timer.
    openCandidate: (text) => openTrailing(text, (c) => isHex(c) || c === 0x78, ETH_LENGTH, (token) => (/^0(?:x[0-9a-fA-F]{0,40})?$/.test(token) ? (token.length >= 3 ? "strong" : "weak") : undefined)),
  };
}

// --- Bitcoin bech32 / bech32m addresses (BIP 173, BIP 350), next to a context word. ---

const BTC_CONTEXT = [["btc"], ["bitcoin"], ["wallet"], ["crypto"], ["segwit"], ["taproot"]] as const;
const BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_MIN = 14;
const BECH32_MAX = 74; // BIP 350: 62 for a 32-byte witness program, 90 overall; addresses are <= 74

function bech32Polymod(values: readonly number[]): number {
  const generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = ((checksum & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) checksum ^= generator[i]!;
  }
  return checksum >>> 0;
}

/** A valid segwit address for `bc`: bech32 for witness version 0, bech32m for 1–16 (BIP 350). */
function isBech32Address(address: string): boolean {
  const lower = address.toLowerCase();
  if (lower !== address && address.toUpperCase() !== address) return false; // mixed case is invalid
  if (!lower.startsWith("bc1") || lower.length < BECH32_MIN || lower.length > BECH32_MAX) return false;
  const data: number[] = [];
  for (const char of lower.slice(3)) {
    const value = BECH32_CHARSET.indexOf(char);
    if (value < 0) return false;
    data.push(value);
  }
  const version = data[0]!;
  if (version > 16) return false;
  const expanded = [...[..."bc"].map((c) => c.charCodeAt(0) >> 5), 0, ...[..."bc"].map((c) => c.charCodeAt(0) & 31), ...data];
  const constant = bech32Polymod(expanded);
  if (constant !== (version === 0 ? 1 : 0x2bc830a3)) return false;
  // Witness program: (data - version - 6 checksum chars) 5-bit groups into 2..40 bytes; v0 is 20 or 32.
  const bytes = Math.floor(((data.length - 7) * 5) / 8);
  return bytes >= 2 && bytes <= 40 && (version !== 0 || bytes === 20 || bytes === 32);
}

function bitcoinAddressDetector(): Detector {
  const id = "bitcoin-address";
  return {
    id,
    entities: ["CRYPTO_WALLET"],
    maxLength: BECH32_MAX,
    find(text, out) {
      for (const literal of ["bc1", "BC1"]) {
        for (let at = text.indexOf(literal); at !== -1; at = text.indexOf(literal, at + 1)) {
          if (at > 0 && isWordChar(text.charCodeAt(at - 1))) continue;
          let end = at + 3;
          while (end < text.length && end - at <= BECH32_MAX && isAlnum(text.charCodeAt(end))) end++;
          if (end - at > BECH32_MAX || text.charCodeAt(end) === 0x5f) continue;
          if (isBech32Address(text.slice(at, end)) && hasContextPhrase(text, at, BTC_CONTEXT)) out.push({ start: at, end, entity: "CRYPTO_WALLET", score: 0.85, detector: id });
        }
      }
    },
    openCandidate: (text) => openTrailing(text, isAlnum, BECH32_MAX, (token) => (/^(?:bc1[0-9a-z]*|BC1[0-9A-Z]*)$/.test(token) ? "strong" : /^(?:b|bc|B|BC)$/.test(token) ? "weak" : undefined)),
  };
}

export function contextualDetectors(): Detector[] {
  return [cvvDetector(), ethereumAddressDetector(), bitcoinAddressDetector()];
}
