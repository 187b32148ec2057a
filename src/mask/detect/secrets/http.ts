// Credentials in HTTP: Authorization headers in text, passwords in URLs, session cookies.
import { Buffer } from "node:buffer";
import { ALNUM, BACKSLASH, BASE64, BLANK, charClass, CODE_AT, CODE_COLON, CODE_DOT, CODE_EQUALS, COLON, COMMA, DASH, DOT, EQUALS, isIn, LETTER, NEWLINE, PLUS, QUOTE, ranOut, runEnd, runUntil, SLASH, startsToken, TILDE, UNDERSCORE } from "../lexer.js";
import { anchor, partialLiteralAtEnd, type Rule, type Sink } from "./rules.js";
import { isJoinedWords, isTemplatePlaceholder, shannonEntropy } from "./values.js";

const BEARER_TOKEN = ALNUM | DASH | DOT | UNDERSCORE | TILDE | PLUS | SLASH | EQUALS; // RFC 6750 b64token
const URL_SCHEME = ALNUM | PLUS | DOT | DASH; // RFC 3986 §3.1
const URL_DELIMITER = charClass("?#@[]<>{}|^");
const USERINFO_STOP = COLON | SLASH | URL_DELIMITER | QUOTE | BACKSLASH | BLANK | NEWLINE;

// --- Authorization headers in free text: `Bearer <token>`, `Basic <base64 user:pass>`. ---

const BEARER_MAX = 2048;
const BASIC_MAX = 1024;

/** Random-looking rather than a word or a template: `Bearer tokens`, `Bearer <token>`, `Bearer YOUR_TOKEN`. */
function isOpaqueToken(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 16 || shannonEntropy(text, start, end) < 3) return false;
  const token = text.slice(start, end);
  if (isTemplatePlaceholder(token) || isJoinedWords(token)) return false;
  return /[0-9]/.test(token) || (length >= 20 && /[a-z]/.test(token) && /[A-Z]/.test(token));
}

/** Base64 of `user:pass` (RFC 7617): printable UTF-8 with a colon between two non-empty parts. */
function decodesToUserPass(encoded: string): boolean {
  if (encoded.length < 8 || encoded.length % 4 === 1) return false;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  if (decoded.includes("\uFFFD") || /[\u0000-\u001f\u007f]/.test(decoded)) return false;
  const colon = decoded.indexOf(":");
  return colon > 0 && colon < decoded.length - 1;
}

/** Where the credential after `scheme` and one to three spaces starts; undefined when there is
 * none, or when the text ends before it (then reported open). */
function credentialStart(text: string, at: number, scheme: string, final: boolean, sink: Sink, strongScheme: boolean): number | undefined {
  const spacesStart = at + scheme.length;
  const start = runEnd(text, spacesStart, BLANK, 4);
  const spaces = start - spacesStart;
  if (ranOut(text, spacesStart, start, 4)) {
    if (!final) sink.open(spaces === 0 ? at : start, spaces > 0 && strongScheme);
    return undefined;
  }
  return spaces === 0 || spaces > 3 ? undefined : start;
}

export const bearerRules: Rule[] = ["Bearer", "bearer"].map((scheme) => ({
  id: "bearer-token",
  entity: "AUTHORIZATION_HEADER",
  anchors: [anchor(scheme)],
  maxLength: BEARER_MAX,
  reach: scheme.length + 3 + BEARER_MAX + 1,
  evaluate(text, at, final, sink) {
    if (!startsToken(text, at, ALNUM)) return;
    const start = credentialStart(text, at, scheme, final, sink, true);
    if (start === undefined) return;
    const end = runEnd(text, start, BEARER_TOKEN, BEARER_MAX + 1);
    if (end - start > BEARER_MAX) return;
    if (ranOut(text, start, end, BEARER_MAX + 1) && !final) return sink.open(start, end > start);
    let last = end;
    while (last > start && text.charCodeAt(last - 1) === CODE_DOT) last--; // a full stop ends the sentence
    if (isOpaqueToken(text, start, last)) sink.found({ start, end: last, entity: "AUTHORIZATION_HEADER", score: 0.9, detector: "bearer-token" });
  },
  trailing: (text) => partialLiteralAtEnd(text, [`${scheme} `], ALNUM, scheme.length + 1),
}));

export const basicRules: Rule[] = ["Basic", "basic"].map((scheme) => ({
  id: "basic-auth-header",
  entity: "AUTHORIZATION_HEADER",
  anchors: [anchor(scheme)],
  maxLength: BASIC_MAX + 2,
  reach: scheme.length + 3 + BASIC_MAX + 4,
  evaluate(text, at, final, sink) {
    if (!startsToken(text, at, ALNUM)) return;
    // `basic` is an everyday word: only the capitalised header form holds text back firmly.
    const strong = scheme === "Basic";
    const start = credentialStart(text, at, scheme, final, sink, strong);
    if (start === undefined) return;
    const digitsEnd = runEnd(text, start, BASE64, BASIC_MAX + 1);
    if (digitsEnd - start > BASIC_MAX) return;
    const end = runEnd(text, digitsEnd, EQUALS, 3);
    if (end === text.length && !final) return sink.open(start, strong && end > start);
    if (end - digitsEnd > 2 || (end < text.length && isIn(text.charCodeAt(end), BASE64 | EQUALS))) return;
    if (decodesToUserPass(text.slice(start, end))) sink.found({ start, end, entity: "AUTHORIZATION_HEADER", score: 1, detector: "basic-auth-header" });
  },
  trailing: (text) => partialLiteralAtEnd(text, [`${scheme} `], ALNUM, scheme === "Basic" ? scheme.length + 1 : Number.POSITIVE_INFINITY),
}));

// --- Passwords in URLs (RFC 3986 §3.2.1 userinfo): `scheme://user:password@host`. ---

const URL_USER_MAX = 128;
const URL_PASSWORD_MAX = 256;
const URL_SCHEME_MAX = 32;
const DOCUMENTATION_PASSWORDS = new Set(["password", "passwd", "pass", "pwd", "pw", "secret"]);

export const urlCredentialsRule: Rule = {
  id: "url-credentials",
  entity: "URL_CREDENTIALS",
  anchors: [anchor("//", 1)],
  maxLength: URL_PASSWORD_MAX,
  reach: 3 + URL_USER_MAX + 1 + URL_PASSWORD_MAX + 2,
  evaluate(text, at, final, sink) {
    if (at < 0 || text.charCodeAt(at) !== CODE_COLON) return;
    let schemeStart = at;
    while (schemeStart > 0 && at - schemeStart <= URL_SCHEME_MAX && isIn(text.charCodeAt(schemeStart - 1), URL_SCHEME)) schemeStart--;
    if (schemeStart === at || at - schemeStart > URL_SCHEME_MAX || !isIn(text.charCodeAt(schemeStart), LETTER)) return;
    const userStart = at + 3;
    const userEnd = runUntil(text, userStart, USERINFO_STOP, URL_USER_MAX + 1);
    // Until the colon arrives the password, if any, starts later than anything held now.
    if (userEnd - userStart > URL_USER_MAX || userEnd === text.length || text.charCodeAt(userEnd) !== CODE_COLON) return;
    const passwordStart = userEnd + 1;
    const passwordEnd = runUntil(text, passwordStart, USERINFO_STOP & ~COLON, URL_PASSWORD_MAX + 1);
    if (passwordEnd - passwordStart > URL_PASSWORD_MAX) return;
    if (passwordEnd + 1 >= text.length && (passwordEnd === text.length || text.charCodeAt(passwordEnd) === CODE_AT)) {
      if (!final) sink.open(passwordStart, true);
      return;
    }
    if (passwordEnd === passwordStart || text.charCodeAt(passwordEnd) !== CODE_AT) return;
    if (!isIn(text.charCodeAt(passwordEnd + 1), ALNUM) && text.charCodeAt(passwordEnd + 1) !== 0x5b) return; // host or [IPv6]
    const password = text.slice(passwordStart, passwordEnd);
    if (isTemplatePlaceholder(password) || DOCUMENTATION_PASSWORDS.has(password.toLowerCase())) return;
    sink.found({ start: passwordStart, end: passwordEnd, entity: "URL_CREDENTIALS", score: 1, detector: "url-credentials" });
  },
  trailing: () => undefined, // a password only starts after `://user:`, which the anchor covers
};

// --- Session cookies in Cookie and Set-Cookie headers (Google DLP HTTP_COOKIE). ---

const COOKIE_MAX = 4096;
const COOKIE_NAME_MAX = 64;
const COOKIE_VALUE_MAX = 1024;
const COOKIE_VALUE_MIN = 8;
const COOKIE_NAME = ALNUM | UNDERSCORE | DASH | DOT;
/** RFC 6265 §4.1.1 cookie-octets, less the backslash that ends a JSON-escaped header. */
const COOKIE_VALUE_STOP = BLANK | NEWLINE | QUOTE | BACKSLASH | COMMA;
/** PHPSESSID, JSESSIONID, connect.sid, sessionid, laravel_session, next-auth.session-token,
 * remember_user_token, auth_token, jwt: the names frameworks give to session state. */
const SESSION_COOKIE_NAME = /sess|sid$|token|auth|remember|jwt|login/i;

const COOKIE_HEADER = "cookie:";

export const cookieRule: Rule = {
  id: "http-cookie",
  entity: "HTTP_COOKIE",
  // Cookie:, cookie:, COOKIE: and Set-Cookie:; "kie:" starts with a rarer character than "ookie:",
  // so indexOf skips faster.
  anchors: [anchor("kie:", 3), anchor("KIE:", 3)],
  maxLength: COOKIE_VALUE_MAX,
  reach: COOKIE_HEADER.length + 3 + COOKIE_MAX,
  evaluate(text, at, final, sink) {
    const header = COOKIE_HEADER;
    if (at < 0 || (text.charCodeAt(at) | 0x20) !== 0x63 || !startsToken(text, at, ALNUM)) return;
    const headerEnd = Math.min(text.length, at + header.length + 3 + COOKIE_MAX);
    let pos = runEnd(text, at + header.length, BLANK, 3);
    while (pos < headerEnd) {
      const nameEnd = runEnd(text, pos, COOKIE_NAME, COOKIE_NAME_MAX + 1);
      if (nameEnd === text.length) return; // a value starts only after `name=`
      if (nameEnd === pos || nameEnd - pos > COOKIE_NAME_MAX || text.charCodeAt(nameEnd) !== CODE_EQUALS) return;
      const valueStart = nameEnd + 1;
      const valueEnd = runUntil(text, valueStart, COOKIE_VALUE_STOP, COOKIE_VALUE_MAX + 1, 0x3b);
      if (valueEnd - valueStart > COOKIE_VALUE_MAX) return;
      const sessionLike = SESSION_COOKIE_NAME.test(text.slice(pos, nameEnd));
      if (valueEnd === text.length && !final) return sessionLike ? sink.open(valueStart, true) : undefined;
      const value = text.slice(valueStart, valueEnd);
      if (sessionLike && value.length >= COOKIE_VALUE_MIN && !isTemplatePlaceholder(value) && shannonEntropy(text, valueStart, valueEnd) >= 3) {
        sink.found({ start: valueStart, end: valueEnd, entity: "HTTP_COOKIE", score: 1, detector: "http-cookie" });
      }
      if (text.charCodeAt(valueEnd) !== 0x3b) return; // `;` separates pairs; anything else ends the header
      pos = runEnd(text, valueEnd + 1, BLANK, 3);
    }
  },
  trailing: () => undefined, // a value only starts after `Cookie: name=`, which the anchor covers
};
