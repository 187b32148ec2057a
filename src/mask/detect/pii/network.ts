// Network identifiers: IP addresses and MAC addresses, read from one pass over the text's tokens
// of hex digits, dots, colons and hyphens.
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { VALIDATED, FORMAT_ONLY, wordsBefore } from "../context.js";
import { allSameChar, CODE_COLON, CODE_DASH, CODE_DOT, isHex, isWordChar, runStartBefore, tokenAround, touchesWord } from "../lexer.js";
import type { Detector, Finding, OpenCandidate } from "../types.js";

// IP_ADDRESS: tokens of `[0-9A-Fa-f:.]` around a separator, parsed by node:net.

/** The longest IPv6 text (45, with an embedded IPv4) plus sentence punctuation: a longer token is
 * no address. */
const IP_TOKEN_LIMIT = 48;
const isIpChar = (c: number) => isHex(c) || c === CODE_DOT || c === CODE_COLON;
/** "version 10.0.0.1", "build 1.2.3.4": four numbers that are no address. */
const VERSION_WORDS: ReadonlySet<string> = new Set(["version", "ver", "v", "build", "release", "firmware"]);

/** Private (RFC 1918, RFC 4193), loopback and link-local networks: masked only when the policy says. */
const LOCAL_NETWORKS = new BlockList();
for (const [network, prefix] of [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16], ["127.0.0.0", 8], ["169.254.0.0", 16]] as const) {
  LOCAL_NETWORKS.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [["::1", 128], ["fc00::", 7], ["fe80::", 10]] as const) LOCAL_NETWORKS.addSubnet(network, prefix, "ipv6");

/** Tokens of hex digits, dots and colons around an IPv4 or IPv6 anchor: `1.2.3` (an IPv4 address
 * has three dots) or two colons around at most four hex digits (every IPv6 address has `::` or
 * `h:h:`, and so has every colon-separated MAC address). One pass per text, shared by the IP and
 * MAC detectors; a dot or colon at a fixed offset lets V8 skip ahead. */
export class HexColonTokens {
  private text: string | undefined;
  private tokens: Array<{ start: number; end: number; fits: boolean }> = [];
  private hyphens: number[] = [];
  /** The IP anchors, and `h-hh-hh-` where a hyphen-separated MAC address may start: one
   * alternation costs far less than a second pass over the text. */
  private readonly anchor = /\d\.\d{1,3}\.\d|[\dA-Fa-f]:[\dA-Fa-f]{0,4}:|::|[\dA-Fa-f]-[\dA-Fa-f]{2}-[\dA-Fa-f]{2}-/g;

  of(text: string): Array<{ start: number; end: number; fits: boolean }> {
    this.scan(text);
    return this.tokens;
  }

  /** Where a `-hh-hh-` run begins (its first hyphen), in order. */
  hyphenRuns(text: string): number[] {
    this.scan(text);
    return this.hyphens;
  }

  private scan(text: string): void {
    if (text === this.text) return;
    const tokens: Array<{ start: number; end: number; fits: boolean }> = [];
    const hyphens: number[] = [];
    this.anchor.lastIndex = 0;
    while (this.anchor.test(text)) {
      const last = this.anchor.lastIndex - 1;
      if (text.charCodeAt(last) === CODE_DASH) {
        hyphens.push(last - 6);
        this.anchor.lastIndex = last - 5;
        continue;
      }
      const token = tokenAround(text, last, isIpChar, IP_TOKEN_LIMIT);
      this.anchor.lastIndex = token.end;
      tokens.push(token);
    }
    this.tokens = tokens;
    this.hyphens = hyphens;
    this.text = text;
  }
}

export function ipAddressDetector(maskPrivateIps: boolean, hexTokens: HexColonTokens): Detector {
  const id = "ip-address";
  return {
    id,
    entities: ["IP_ADDRESS"],
    maxLength: IP_TOKEN_LIMIT,
    find(text, out) {
      for (const token of hexTokens.of(text)) {
        const address = token.fits ? addressIn(text, token.start, token.end) : undefined;
        if (address && (maskPrivateIps || !LOCAL_NETWORKS.check(address.value, address.family))) {
          out.push({ start: token.start, end: token.start + address.value.length, entity: "IP_ADDRESS", score: VALIDATED, detector: id });
        }
      }
    },
    openCandidate: (text) => openToken(text, isIpChar, IP_TOKEN_LIMIT, 2),
  };
}

/** The address a token holds: the whole token, or without trailing sentence dots or a colon, or an
 * IPv4 address before `:port`. Tokens inside words (`v1.2.3.4`, `std::`) and after a version word
 * hold none. */
function addressIn(text: string, start: number, end: number): { value: string; family: "ipv4" | "ipv6" } | undefined {
  if (touchesWord(text, start, end)) return undefined;
  let value = text.slice(start, end).replace(/\.+$/, "");
  if (value.endsWith(":") && !value.endsWith("::")) value = value.slice(0, -1);
  const port = /^([\d.]{7,15}):\d{1,5}$/.exec(value);
  if (port?.[1]) value = port[1];
  if (isIPv4(value)) {
    const previous = wordsBefore(text, start, 1)[0];
    return previous !== undefined && VERSION_WORDS.has(previous) ? undefined : { value, family: "ipv4" };
  }
  // A digit keeps out code such as `A::B` or `be::ef`, which parse as IPv6.
  return isIPv6(value) && /\d/.test(value) ? { value, family: "ipv6" } : undefined;
}

/** Streaming for token detectors (IP, MAC): the trailing token, unless it is already too long or glued
 * to a word. Strong once it has `strongSeparators` separators. */
function openToken(text: string, isTokenChar: (c: number) => boolean, limit: number, strongSeparators: number): OpenCandidate | undefined {
  const end = text.length;
  const start = runStartBefore(text, end, isTokenChar, limit);
  if (start === end || end - start > limit || isWordChar(text.charCodeAt(start - 1))) return undefined;
  let separators = 0;
  for (let k = start; k < end; k++) if (!isHex(text.charCodeAt(k))) separators++;
  return { start, strong: separators >= strongSeparators };
}

/** MAC-48 as six hex pairs joined by `:` or `-` (IEEE 802), or Cisco's three dotted quads; not
 * 00:00:00:00:00:00 or ff:ff:ff:ff:ff:ff, which name no device. */
const MAC_TOKEN_LIMIT = "00:00:00:00:00:00.".length;
const isMacChar = (c: number) => isHex(c) || c === CODE_COLON || c === CODE_DASH || c === CODE_DOT;

/** `hh:hh:hh:hh:hh:hh` or `hh-hh-…` (a separator after every pair), or `hhhh.hhhh.hhhh`. */
function isMacLayout(value: string): boolean {
  const separator = value.length === 17 ? value[2] : value.length === 14 ? "." : undefined;
  if (separator !== ":" && separator !== "-" && separator !== ".") return false;
  const groupWidth = separator === "." ? 4 : 2;
  return [...value].every((char, k) => ((k + 1) % (groupWidth + 1) === 0 ? char === separator : isHex(char.charCodeAt(0))));
}

/** `hh:hh:hh:hh:hh:hh` or `hh-hh-hh-hh-hh-hh` whose separator is at `at` (any of the five). */
function macAround(text: string, at: number): number | undefined {
  const separator = text.charCodeAt(at);
  // The first separator of the address: at most four before this one.
  for (let first = at; first >= at - 12 && first >= 2; first -= 3) {
    const start = first - 2;
    if (text.charCodeAt(first) !== separator) break;
    let ok = true;
    for (let k = 0; k < 17 && ok; k++) {
      const c = text.charCodeAt(start + k);
      ok = k % 3 === 2 ? c === separator : isHex(c);
    }
    if (ok) return start;
  }
  return undefined;
}

export function macAddressDetector(hexTokens: HexColonTokens, optedIn = false): Detector {
  const id = "mac-address";
  // Cisco's dotted quads (opt-in): two dots after quads at fixed offsets (so V8 skips ahead).
  const dotted = /[\dA-Fa-f][\dA-Fa-f][\dA-Fa-f][\dA-Fa-f]\.[\dA-Fa-f][\dA-Fa-f][\dA-Fa-f][\dA-Fa-f]\./g;
  const report = (text: string, out: Finding[], start: number, end: number) => {
    // Exactly the address: no hex, separator or word character glued on (a fingerprint has 16
    // pairs, an IPv6 address groups of four, a hash no separators).
    if (touchesWord(text, start, end) || isMacChar(text.charCodeAt(start - 1))) return;
    const next = text.charCodeAt(end);
    if ((next === CODE_COLON || next === CODE_DASH || next === CODE_DOT) && isHex(text.charCodeAt(end + 1))) return;
    const value = text.slice(start, end);
    if (isMacLayout(value) && !allSameChar(value.replace(/[:.-]/g, "").toLowerCase())) out.push({ start, end, entity: "MAC_ADDRESS", score: FORMAT_ONLY, detector: id });
  };
  return {
    id,
    entities: ["MAC_ADDRESS"],
    maxLength: MAC_TOKEN_LIMIT,
    find(text, out) {
      // Colons: every such MAC is one of the IP detector's tokens (`h:hh:` is its IPv6 anchor).
      for (const token of hexTokens.of(text)) {
        if (token.end - token.start < 17 || token.end - token.start > 18) continue;
        if (text.charCodeAt(token.start + 2) === CODE_COLON) report(text, out, token.start, token.start + 17);
      }
      let after = 0;
      for (const at of hexTokens.hyphenRuns(text)) {
        if (at < after) continue;
        const start = macAround(text, at);
        if (start === undefined) continue;
        after = start + 17;
        report(text, out, start, start + 17);
      }
      if (!optedIn) return;
      dotted.lastIndex = 0;
      while (dotted.test(text)) {
        const token = tokenAround(text, dotted.lastIndex - 1, isMacChar, MAC_TOKEN_LIMIT);
        dotted.lastIndex = token.end;
        if (!token.fits || touchesWord(text, token.start, token.end)) continue;
        const value = text.slice(token.start, token.end).replace(/\.$/, "");
        if (value.length === 14) report(text, out, token.start, token.start + 14);
      }
    },
    openCandidate: (text) => openToken(text, isMacChar, MAC_TOKEN_LIMIT, 2),
  };
}

