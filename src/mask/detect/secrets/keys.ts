// Private keys and signed tokens: PEM private key blocks and JSON Web Tokens.
import { Buffer } from "node:buffer";
import { ALNUM, BACKSLASH, BASE64, BLANK, CODE_DASH, CODE_DOT, COLON, COMMA, DASH, DIGIT, DOT, EQUALS, isIn, matchLiteral, NEWLINE, NO_MATCH, RAN_OUT, ranOut, runEnd, startsToken, UPPER, URLSAFE } from "../lexer.js";
import { anchor, openUnlessFinal, partialLiteralAtEnd, type Rule } from "./rules.js";

const PEM_LABEL = UPPER | DIGIT | BLANK;
// Base64 lines plus the RFC 1421 headers of encrypted keys (`DEK-Info: AES-128-CBC,…`) and the
// `\n` escapes of a key pasted inside a JSON string.
const PEM_BODY = BASE64 | EQUALS | BLANK | NEWLINE | BACKSLASH | COLON | COMMA | DOT | DASH;

// --- JSON Web Tokens (RFC 7519): base64url header.payload.signature, header and payload JSON. ---

const JWT_MAX = 8192;
const JWT_HEADER_MIN = 14; // base64url of {"alg":""}
const JWT_PAYLOAD_MIN = 10; // base64url of {"a":0}, the shortest object that starts with eyJ

/** The JSON object a base64url segment encodes. Cheap shape checks first: a thrown JSON.parse
 * costs microseconds, and hostile text (`eyJ.eyJ.…`) offers one candidate every four characters. */
function decodeJsonObject(text: string, start: number, end: number, minLength: number): Record<string, unknown> | undefined {
  if (end - start < minLength) return undefined;
  const json = Buffer.from(text.slice(start, end), "base64url").toString("utf8");
  if (!json.endsWith("}")) return undefined;
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const jwtRule: Rule = {
  id: "jwt",
  entity: "JSON_WEB_TOKEN",
  anchors: [anchor("yJ", 1)], // in `eyJ`, base64url of `{"`
  maxLength: JWT_MAX,
  reach: JWT_MAX + 1,
  evaluate(text, at, final, sink) {
    if (at < 0 || text.charCodeAt(at) !== 0x65 || !startsToken(text, at, URLSAFE)) return;
    const cap = at + JWT_MAX;
    const headerEnd = runEnd(text, at, URLSAFE, JWT_MAX);
    if (ranOut(text, at, headerEnd, JWT_MAX)) return openUnlessFinal(sink, final, at, true);
    if (headerEnd >= cap || text.charCodeAt(headerEnd) !== CODE_DOT) return;
    const header = decodeJsonObject(text, at, headerEnd, JWT_HEADER_MIN);
    if (typeof header?.alg !== "string") return;
    const payloadStart = headerEnd + 1;
    const payloadPrefix = matchLiteral(text, payloadStart, "eyJ");
    if (payloadPrefix === RAN_OUT) return openUnlessFinal(sink, final, at, true);
    if (payloadPrefix === NO_MATCH) return;
    const payloadEnd = runEnd(text, payloadStart, URLSAFE, cap - payloadStart);
    if (ranOut(text, payloadStart, payloadEnd, cap - payloadStart)) return openUnlessFinal(sink, final, at, true);
    if (payloadEnd >= cap || text.charCodeAt(payloadEnd) !== CODE_DOT || !decodeJsonObject(text, payloadStart, payloadEnd, JWT_PAYLOAD_MIN)) return;
    const signatureStart = payloadEnd + 1;
    // A signature running into the cap is masked up to it (masking.md §6: mask conservatively).
    const signatureEnd = runEnd(text, signatureStart, URLSAFE, cap - signatureStart);
    if (ranOut(text, signatureStart, signatureEnd, cap - signatureStart) && !final) return sink.open(at, true);
    if (signatureEnd === signatureStart && header.alg.toLowerCase() !== "none") return; // unsecured JWTs only
    sink.found({ start: at, end: signatureEnd, entity: "JSON_WEB_TOKEN", score: 1, detector: "jwt" });
  },
  trailing: (text) => partialLiteralAtEnd(text, ["eyJ"], URLSAFE, 3),
};

// --- PEM private keys (RFC 7468): the whole block, armour lines included. ---

const PEM_MAX = 8192;
const PEM_LABEL_MAX = 48;

/** ` RSA PRIVATE KEY`, ` PRIVATE KEY`, ` ENCRYPTED PRIVATE KEY`, ` PGP PRIVATE KEY BLOCK`… */
function isPrivateKeyLabel(text: string, start: number, end: number): boolean {
  const label = text.slice(start, end);
  return label.startsWith(" ") && (label.endsWith(" PRIVATE KEY") || label.endsWith(" PRIVATE KEY BLOCK"));
}

export const privateKeyRule: Rule = {
  id: "private-key",
  entity: "PRIVATE_KEY",
  anchors: [anchor("BEGIN", 5)],
  maxLength: PEM_MAX,
  reach: PEM_MAX + PEM_LABEL_MAX + 16,
  evaluate(text, at, final, sink) {
    // Armour starts a line or a string; `KEY-----` of an END line followed by BEGIN does not.
    if (at < 0 || matchLiteral(text, at, "-----BEGIN") < 0 || !startsToken(text, at, ALNUM | DASH)) return;
    const n = text.length;
    const cap = at + PEM_MAX;
    const open = (): void => {
      if (!final) sink.open(at, true);
    };
    // A block without its END line (truncated, or cut by a quote) is still a key: mask what is there.
    const report = (end: number, complete: boolean): void => {
      let last = Math.min(end, cap);
      while (!complete && last > at && isIn(text.charCodeAt(last - 1), BLANK | NEWLINE | BACKSLASH)) last--;
      sink.found({ start: at, end: last, entity: "PRIVATE_KEY", score: complete ? 1 : 0.9, detector: "private-key" });
    };
    const untilEnd = (): void => (final ? report(n, false) : open());

    const labelStart = at + "-----BEGIN".length;
    const labelEnd = runEnd(text, labelStart, PEM_LABEL, PEM_LABEL_MAX + 1);
    if (ranOut(text, labelStart, labelEnd, PEM_LABEL_MAX + 1)) return open();
    if (labelEnd - labelStart > PEM_LABEL_MAX || !isPrivateKeyLabel(text, labelStart, labelEnd)) return;
    const headerEnd = matchLiteral(text, labelEnd, "-----");
    if (headerEnd === RAN_OUT) return open();
    if (headerEnd === NO_MATCH) return;

    // The body stops at the next five dashes, so it never contains another block's BEGIN line.
    let pos = headerEnd;
    for (;;) {
      if (pos >= cap) return report(cap, false);
      if (pos >= n) return untilEnd();
      const code = text.charCodeAt(pos);
      if (code === CODE_DASH) {
        const dashes = matchLiteral(text, pos, "-----");
        if (dashes === RAN_OUT) return untilEnd();
        if (dashes !== NO_MATCH) break;
      } else if (!isIn(code, PEM_BODY)) return report(pos, false);
      pos++;
    }
    const endLabelStart = matchLiteral(text, pos, "-----END");
    if (endLabelStart === RAN_OUT) return untilEnd();
    if (endLabelStart === NO_MATCH) return report(pos, false);
    const endLabelEnd = runEnd(text, endLabelStart, PEM_LABEL, PEM_LABEL_MAX + 1);
    if (ranOut(text, endLabelStart, endLabelEnd, PEM_LABEL_MAX + 1)) return untilEnd();
    const blockEnd = endLabelEnd - endLabelStart > PEM_LABEL_MAX ? NO_MATCH : matchLiteral(text, endLabelEnd, "-----");
    if (blockEnd === RAN_OUT) return untilEnd();
    if (blockEnd === NO_MATCH) return report(pos, false);
    report(blockEnd, blockEnd <= cap);
  },
  trailing: (text) => partialLiteralAtEnd(text, ["-----BEGIN"], ALNUM | DASH, "-----BEGIN".length),
};
