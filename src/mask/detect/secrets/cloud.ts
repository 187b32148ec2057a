// Cloud-provider credentials: AWS access key ids and secret access keys, Google API keys.
import { ALNUM, BASE64, charClass, CODE_EQUALS, DIGIT, equalsIgnoreCase, isIn, LETTER, runEnd, runStartBefore, UPPER, URLSAFE, BLANK, UNDERSCORE, DASH, DOT } from "../lexer.js";
import type { Detector, Finding, OpenCandidate } from "../types.js";
import { evaluateAt, type Rule, type Sink } from "./rules.js";
import { exactly, type TokenFamily } from "./tokens.js";
import { shannonEntropy } from "./values.js";

/** RFC 4648 base32, the alphabet of AWS key ids. */
const BASE32 = UPPER | charClass("2-7");
const NAME_SEPARATOR = UNDERSCORE | DASH | DOT | BLANK;
const isBase64 = (c: number): boolean => isIn(c, BASE64);

/** AKIAIOSFODNN7EXAMPLE and friends are AWS's documentation keys. */
const notAwsExample = (token: string): boolean => !token.endsWith("EXAMPLE");


export const AWS_ACCESS_KEYS: TokenFamily = {
  detector: "aws-access-token",
  entity: "AWS_ACCESS_KEY",
  formats: [
    // AKIA long-term, ASIA STS, ABIA/ACCA service keys; A3T and a character, older keys.
    ...["AKIA", "ASIA", "ABIA", "ACCA"].map((prefix) => ({
      rule: "aws-access-token", anchor: prefix, prefixes: [prefix], body: [exactly(BASE32, 16)],
      after: ALNUM, minEntropy: 3, strongAt: 6, valid: notAwsExample,
    })),
    {
      rule: "aws-access-token", anchor: "A3T", prefixes: ["A3T"], body: [exactly(UPPER | DIGIT, 1), exactly(BASE32, 16)],
      after: ALNUM, minEntropy: 3, strongAt: 6, valid: notAwsExample,
    },
  ],
};

export const GOOGLE_API_KEYS: TokenFamily = {
  detector: "gcp-api-key",
  entity: "GOOGLE_API_KEY",
  formats: [{ rule: "gcp-api-key", anchor: "AIza", prefixes: ["AIza"], body: [exactly(URLSAFE, 35)], before: URLSAFE, after: URLSAFE, minEntropy: 4, strongAt: 6 }],
};

// --- AWS secret access keys: 40 random base64 characters, only near an AWS keyword or key id. ---

const AWS_SECRET_LENGTH = 40;
const AWS_SECRET_ENTROPY = 4.25;
/** `aws_secret_access_key = "…"`, `"SecretAccessKey": "…"`, `AWS secret key is …`. */
const AFTER_KEYWORD = 48;
/** `AKIA…,wJalr…` (the console's credentials CSV), `AKIA… wJalr…`, `"ASIA…", "SessionToken"…`. */
const AFTER_KEY_ID = 96;

/** End of `aws[ _-.]secret` or `secret[ _-.]access[ _-.]key` around the `secret` at `s`, or -1. */
function awsSecretKeywordEnd(text: string, s: number): number {
  if (!equalsIgnoreCase(text, s, "secret")) return -1;
  const secretEnd = s + "secret".length;
  let awsEnd = s;
  if (awsEnd > 0 && isIn(text.charCodeAt(awsEnd - 1), NAME_SEPARATOR)) awsEnd--;
  if (equalsIgnoreCase(text, awsEnd - 3, "aws") && (awsEnd === 3 || !isIn(text.charCodeAt(awsEnd - 4), LETTER))) return secretEnd;
  let pos = secretEnd;
  if (isIn(text.charCodeAt(pos), NAME_SEPARATOR)) pos++;
  if (!equalsIgnoreCase(text, pos, "access")) return -1;
  pos += "access".length;
  if (isIn(text.charCodeAt(pos), NAME_SEPARATOR)) pos++;
  return equalsIgnoreCase(text, pos, "key") ? pos + 3 : -1;
}

interface SecretAnchor {
  end: number;
  /** How far after `end` a secret may start. */
  window: number;
}

export function awsSecretKeyDetector(keyIdRules: readonly Rule[]): Detector {
  function anchorsFrom(text: string, from: number, final: boolean): SecretAnchor[] {
    const anchors: SecretAnchor[] = [];
    for (const literal of ["cret", "CRET"]) {
      for (let hit = text.indexOf(literal, from); hit !== -1; hit = text.indexOf(literal, hit + 1)) {
        const end = awsSecretKeywordEnd(text, hit - 2);
        if (end >= 0) anchors.push({ end, window: AFTER_KEYWORD });
      }
    }
    const keyIds: Sink = { found: (finding) => anchors.push({ end: finding.end, window: AFTER_KEY_ID }), open: () => undefined };
    evaluateAt(text, keyIdRules, from, text.length, final, keyIds);
    return anchors.sort((a, b) => a.end - b.end);
  }

  /** Every maximal base64 run of exactly 40 characters that starts within an anchor's window.
   * Runs are visited once, in order, so the sweep is linear. */
  function sweep(text: string, anchors: readonly SecretAnchor[], final: boolean, sink: Sink): void {
    const n = text.length;
    let scanned = 0;
    for (const anchor of anchors) {
      let pos = Math.max(anchor.end, scanned);
      const lastStart = anchor.end + anchor.window;
      while (pos <= lastStart && pos < n) {
        if (!isIn(text.charCodeAt(pos), BASE64)) {
          pos++;
          continue;
        }
        const start = pos;
        pos = runEnd(text, start, BASE64, n - start);
        if (start > 0 && isIn(text.charCodeAt(start - 1), BASE64)) continue; // the tail of a longer value
        const length = pos - start;
        if (pos === n && length <= AWS_SECRET_LENGTH && !final) {
          sink.open(start, true);
          continue;
        }
        if (length !== AWS_SECRET_LENGTH || (pos < n && text.charCodeAt(pos) === CODE_EQUALS)) continue;
        if (shannonEntropy(text, start, pos) < AWS_SECRET_ENTROPY || text.slice(start, pos).includes("EXAMPLE")) continue;
        sink.found({ start, end: pos, entity: "AWS_SECRET_KEY", score: 0.9, detector: "aws-secret-access-key" });
      }
      scanned = Math.max(scanned, pos);
    }
  }

  return {
    id: "aws-secret-access-key",
    entities: ["AWS_SECRET_KEY"],
    maxLength: AWS_SECRET_LENGTH,
    find(text: string, out: Finding[]): void {
      sweep(text, anchorsFrom(text, 0, true), true, { found: (finding) => out.push(finding), open: () => undefined });
    },
    openCandidate(text: string): OpenCandidate | undefined {
      // Only a base64 run reaching the end can still become (or stop being) a secret.
      const start = runStartBefore(text, text.length, isBase64, AWS_SECRET_LENGTH);
      if (start === text.length || text.length - start > AWS_SECRET_LENGTH) return undefined;
      let open: OpenCandidate | undefined;
      const anchors = anchorsFrom(text, Math.max(0, start - AFTER_KEY_ID - AWS_SECRET_LENGTH), false);
      sweep(text, anchors, false, { found: () => undefined, open: (candidate) => (open = { start: candidate, strong: true }) });
      return open;
    },
  };
}
