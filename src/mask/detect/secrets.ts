// Secret detectors (masking.md §3 "Credentials"): prefixed tokens declared in one table,
// structured credentials (JWT, PEM private keys, Authorization headers, URL passwords) and
// keyword-gated secrets (AWS secret access keys, generic `password = …` assignments).
//
// Every rule is anchored on a literal that indexOf finds (the keyword prefilter of §3) and reads a
// bounded span around it with greedy, never-backtracking runs, so a scan is linear in the text
// (§8). One evaluator serves find() and the streaming openCandidate(): with `final` false it
// reports "open" as soon as it would need a character past the end of the text, and otherwise
// decides from characters that no continuation can change, which is the contract in types.ts.
// Entropy thresholds and rule ids follow gitleaks (config/gitleaks.toml). Nothing is verified
// live: offline structure checks only.
import { Buffer } from "node:buffer";
import type { Detector, DetectorSettings, Finding, OpenCandidate } from "./types.js";

// --- Character classes: one bit per class over ASCII, so a membership test is one table load. ---

const CLASS_TABLE = new Uint32Array(128);
let classCount = 0;

/** A class of ASCII characters given as ranges ("A-Z") and literal characters ("_-"). */
function charClass(...parts: string[]): number {
  const bit = 1 << classCount++;
  for (const part of parts) {
    const isRange = part.length === 3 && part[1] === "-";
    const first = part.charCodeAt(0);
    const last = isRange ? part.charCodeAt(2) : first;
    for (let code = first; code <= last; code++) CLASS_TABLE[code] = (CLASS_TABLE[code] ?? 0) | bit;
    if (!isRange) for (let i = 1; i < part.length; i++) CLASS_TABLE[part.charCodeAt(i)] = (CLASS_TABLE[part.charCodeAt(i)] ?? 0) | bit;
  }
  return bit;
}

function isIn(code: number, cls: number): boolean {
  return code < 128 && ((CLASS_TABLE[code] ?? 0) & cls) !== 0;
}

const DIGIT = charClass("0-9");
const UPPER = charClass("A-Z");
const LOWER = charClass("a-z");
const BASE32_DIGIT = charClass("2-7");
const UNDERSCORE = charClass("_");
const DASH = charClass("-");
const DOT = charClass(".");
const PLUS = charClass("+");
const SLASH = charClass("/");
const EQUALS = charClass("=");
const TILDE = charClass("~");
const SPACE = charClass(" \t");
const NEWLINE = charClass("\r\n");
const BACKSLASH = charClass("\\");
const COLON = charClass(":");
const COMMA = charClass(",");
const QUOTE = charClass("\"'`");
const SYMBOL = charClass("!@#$%^*");
const URL_DELIMITER = charClass("?#@[]<>{}|^");
const CLOSER = charClass(";&)}]<");

const LETTER = UPPER | LOWER;
const ALNUM = LETTER | DIGIT;
const BASE32 = UPPER | BASE32_DIGIT; // RFC 4648 alphabet of AWS key ids
const WORD = ALNUM | UNDERSCORE;
const URLSAFE = ALNUM | UNDERSCORE | DASH; // base64url
const ALNUM_DASH = ALNUM | DASH;
const BASE64 = ALNUM | PLUS | SLASH;
const WEBHOOK_PATH = BASE64 | UNDERSCORE | DASH;
const BEARER_TOKEN = ALNUM | DASH | DOT | UNDERSCORE | TILDE | PLUS | SLASH | EQUALS; // RFC 6750 b64token
const IDENTIFIER = ALNUM | UNDERSCORE | DOT | DASH;
const UNQUOTED_VALUE = ALNUM | UNDERSCORE | DOT | PLUS | SLASH | EQUALS | TILDE | DASH | SYMBOL;
const VALUE_END = SPACE | NEWLINE | COMMA | QUOTE | BACKSLASH | CLOSER;
const PEM_LABEL = UPPER | DIGIT | SPACE;
// Base64 lines plus the RFC 1421 headers of encrypted keys (`DEK-Info: AES-128-CBC,…`) and the
// `\n` escapes of a key pasted inside a JSON string.
const PEM_BODY = BASE64 | EQUALS | SPACE | NEWLINE | BACKSLASH | COLON | COMMA | DOT | DASH;
const URL_SCHEME = ALNUM | PLUS | DOT | DASH; // RFC 3986 §3.1
const USERINFO_STOP = COLON | SLASH | URL_DELIMITER | QUOTE | BACKSLASH | SPACE | NEWLINE;
const NAME_SEPARATOR = UNDERSCORE | DASH | DOT | SPACE;

const CODE_BACKSLASH = 0x5c;
const CODE_COLON = 0x3a;
const CODE_EQUALS = 0x3d;
const CODE_DOT = 0x2e;
const CODE_DASH = 0x2d;
const CODE_AT = 0x40;

// --- Reading helpers. They never look past text.length; callers tell "ran out" apart. ---

const NO_MATCH = -1;
const RAN_OUT = -2;

/** Where `literal` ends if it occurs at `at`; RAN_OUT when the text ends inside a match of it. */
function matchLiteral(text: string, at: number, literal: string): number {
  for (let i = 0; i < literal.length; i++) {
    if (at + i >= text.length) return RAN_OUT;
    if (text.charCodeAt(at + i) !== literal.charCodeAt(i)) return NO_MATCH;
  }
  return at + literal.length;
}

/** matchLiteral over alternatives that are not prefixes of one another. */
function matchOneOf(text: string, at: number, literals: readonly string[]): number {
  let result = NO_MATCH;
  for (const literal of literals) {
    const end = matchLiteral(text, at, literal);
    if (end >= 0) return end;
    if (end === RAN_OUT) result = RAN_OUT;
  }
  return result;
}

/** End of the run of `cls` characters at `at`, reading at most `limit` of them. */
function runEnd(text: string, at: number, cls: number, limit: number): number {
  const stop = Math.min(text.length, at + limit);
  let i = at;
  while (i < stop && isIn(text.charCodeAt(i), cls)) i++;
  return i;
}

/** End of the run of visible characters (non-ASCII allowed) outside the class `stop` and other
 * than `stopCode`, reading at most `limit`. */
function runUntil(text: string, at: number, stop: number, limit: number, stopCode = -1): number {
  const last = Math.min(text.length, at + limit);
  let i = at;
  for (; i < last; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f || code === stopCode || isIn(code, stop)) break;
  }
  return i;
}

/** True when a run that stopped at `end` did so because the text ended, not because of a character. */
function ranOut(text: string, start: number, end: number, limit: number): boolean {
  return end === text.length && end - start < limit;
}

/** The character before `at` cannot continue a token of class `cls`. The `n` of a `\n` escape
 * counts as a boundary, because raw JSON text carries them. */
function startsToken(text: string, at: number, cls: number): boolean {
  if (at === 0) return true;
  const before = text.charCodeAt(at - 1);
  if (!isIn(before, cls)) return true;
  return at >= 2 && text.charCodeAt(at - 2) === CODE_BACKSLASH && (before === 0x6e || before === 0x72 || before === 0x74);
}

function equalsIgnoreCase(text: string, at: number, lowerLiteral: string): boolean {
  if (at < 0 || at + lowerLiteral.length > text.length) return false;
  for (let i = 0; i < lowerLiteral.length; i++) {
    const code = text.charCodeAt(at + i);
    const lower = code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
    if (lower !== lowerLiteral.charCodeAt(i)) return false;
  }
  return true;
}

const symbolCounts = new Int32Array(128);

/** Shannon entropy H = −Σ pᵢ log2 pᵢ of text[start, end), in bits per character. */
function shannonEntropy(text: string, start: number, end: number): number {
  const length = end - start;
  if (length <= 0) return 0;
  let wide: Map<number, number> | undefined;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < 128) symbolCounts[code] = (symbolCounts[code] ?? 0) + 1;
    else (wide ??= new Map()).set(code, (wide.get(code) ?? 0) + 1);
  }
  let entropy = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    const count = code < 128 ? (symbolCounts[code] ?? 0) : 0;
    if (count === 0) continue; // a non-ASCII character, or one already counted
    symbolCounts[code] = 0;
    entropy -= (count / length) * Math.log2(count / length);
  }
  for (const count of wide?.values() ?? []) entropy -= (count / length) * Math.log2(count / length);
  return entropy;
}

/** How many of lowercase letters, uppercase letters, digits and other characters occur. */
function characterKinds(value: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let other = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isIn(code, LOWER)) lower = 1;
    else if (isIn(code, UPPER)) upper = 1;
    else if (isIn(code, DIGIT)) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

const PLACEHOLDER_WORDS = ["changeme", "change_me", "placeholder", "redacted", "example", "your_", "your-"];
/** Characters that blank a value out when they fill a quarter of it in runs of four or more
 * (`sk_live_xxxxxxxx…`, `****`, `AKIAXXXXXXXXXXXXXXXX`); a random value may hold one such run. */
const BLANKING = new Set([0x78, 0x2a, 0x2e]); // x (after lower-casing), *, .

/** printf and Windows placeholders: `%s`, `%(password)s`, `%DB_PASSWORD%`; a random value may also
 * start with `%`. */
const PERCENT_PLACEHOLDER = /^%(?:\(\w{1,64}\))?[-+ #0-9.]{0,4}[sdifxr]$|^%\w{1,64}%$/;

/** `${DB_PASSWORD}`, `$TOKEN`, `<token>`, `{{ secret }}`, `%s`, `[REDACTED]`, `[EMAIL_ADDRESS]`,
 * `changeme`, `xxxx…`: templates and other detectors' placeholders, not values. */
function isTemplatePlaceholder(value: string): boolean {
  const first = value.charCodeAt(0);
  if (first === 0x24 || first === 0x3c || first === 0x7b || first === 0x5b) return true; // $ < { [
  if (first === 0x25 && PERCENT_PLACEHOLDER.test(value)) return true;
  const lower = value.toLowerCase();
  if (lower === "true" || lower === "false" || lower === "null" || lower === "undefined" || lower === "none") return true;
  return PLACEHOLDER_WORDS.some((word) => lower.includes(word)) || isBlankedOut(lower);
}

function isBlankedOut(lower: string): boolean {
  let blanked = 0;
  for (let i = 0; i < lower.length; ) {
    const c = lower.charCodeAt(i);
    let run = 1;
    while (lower.charCodeAt(i + run) === c) run++;
    if (run >= 4 && BLANKING.has(c)) blanked += run;
    i += run;
  }
  return blanked > 0 && blanked * 4 >= lower.length;
}

/** `YOUR_API_KEY`, `read-write-admin`, `config.prod.json`: words joined by separators, no digits. */
function isJoinedWords(value: string): boolean {
  let separators = 0;
  /** Lower-case letters followed by a capital within the current word: one is camelCase, more is
   * random mixed case (`jJoWWeEbUd`), no word. */
  let humps = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isIn(code, UNDERSCORE | DASH | DOT)) {
      separators++;
      humps = 0;
    } else if (!isIn(code, LETTER)) {
      return false;
    } else if (i > 0 && isIn(code, UPPER) && isIn(value.charCodeAt(i - 1), LOWER) && ++humps > 1) {
      return false;
    }
  }
  return separators > 0;
}

// --- Rules and the detectors built from them. ---

/** Where a rule reports what it decided about one anchor occurrence. */
interface Sink {
  found(finding: Finding): void;
  /** Undecided: more text could still change the outcome. Only when `final` is false. */
  open(start: number, strong: boolean): void;
}

/** A literal every candidate contains `offset` characters after its start. Chosen to begin with a
 * rare character: indexOf runs at memchr speed on the first character, so `BEGIN` is found ten
 * times faster than `-----BEGIN` in JSON full of UUIDs. Evaluators check the rest of the prefix. */
interface Anchor {
  readonly literal: string;
  readonly offset: number;
}

const anchor = (literal: string, offset = 0): Anchor => ({ literal, offset });

interface Rule {
  /** gitleaks rule id, reported as Finding.detector. */
  readonly id: string;
  readonly entity: string;
  /** Literals found with indexOf; the rule is evaluated only where one occurs. */
  readonly anchors: readonly Anchor[];
  readonly maxLength: number;
  /** Most characters an evaluation reads after its anchor: anchors further back are settled. */
  readonly reach: number;
  /** Decides the candidate at `at`, an occurrence of one of the anchors. With `final` the end of
   * the text ends the candidate; otherwise reaching it makes the candidate open. */
  evaluate(text: string, at: number, final: boolean, sink: Sink): void;
  /** An anchor not yet complete at the very end of the text (`gh`, `-----BEG`, `Bear`). */
  trailing(text: string): OpenCandidate | undefined;
}

/** Reports an undecided candidate when streaming; with `final` the caller's "no match" stands.
 * (A plain function rather than a closure per evaluation: evaluators run once per anchor hit.) */
function openUnlessFinal(sink: Sink, final: boolean, start: number, strong: boolean): void {
  if (!final) sink.open(start, strong);
}

/** An unfinished literal at the very end of the text, at a token boundary: `gh` of `ghp_`. */
function partialLiteralAtEnd(text: string, literals: readonly string[], before: number, strongAt: number): OpenCandidate | undefined {
  let earliest: number | undefined;
  for (const literal of literals) {
    for (let length = Math.min(literal.length - 1, text.length); length > 0; length--) {
      const start = text.length - length;
      if (earliest !== undefined && start >= earliest) break;
      if (matchLiteral(text, start, literal) === RAN_OUT && startsToken(text, start, before)) {
        earliest = start;
        break;
      }
    }
  }
  return earliest === undefined ? undefined : { start: earliest, strong: text.length - earliest >= strongAt };
}

function earlier(candidate: OpenCandidate | undefined, other: OpenCandidate | undefined): OpenCandidate | undefined {
  if (!other) return candidate;
  if (!candidate || other.start < candidate.start || (other.start === candidate.start && other.strong)) return other;
  return candidate;
}

/** Evaluates `rules` at every candidate start in [from, to) where their anchors occur. */
function evaluateAt(text: string, rules: readonly Rule[], from: number, to: number, final: boolean, sink: Sink): void {
  for (const rule of rules) {
    for (const { literal, offset } of rule.anchors) {
      for (let hit = text.indexOf(literal, from + offset); hit !== -1 && hit - offset < to; hit = text.indexOf(literal, hit + 1)) {
        rule.evaluate(text, hit - offset, final, sink);
      }
    }
  }
}

// A class, not an object of arrow functions made per call: find() runs once per JSON leaf, and
// tsx (esbuild keepNames) names every such function with a defineProperty call.
class FindingsInto implements Sink {
  constructor(private readonly out: Finding[]) {}
  found(finding: Finding): void {
    this.out.push(finding);
  }
  open(): void {}
}

function ruleDetector(id: string, rules: readonly Rule[]): Detector {
  // Rules that share an anchor are evaluated in one pass over it.
  const groups = new Map<string, Rule[]>();
  for (const rule of rules) {
    const key = rule.anchors.map(({ literal, offset }) => `${offset}:${literal}`).join("|");
    groups.set(key, [...(groups.get(key) ?? []), rule]);
  }
  const sharedAnchors = [...groups.values()].map((group): Rule => {
    const [first] = group as [Rule, ...Rule[]];
    if (group.length === 1) return first;
    return { ...first, evaluate: (text, at, final, sink) => group.forEach((rule) => rule.evaluate(text, at, final, sink)) };
  });
  const reach = Math.max(...rules.map((rule) => rule.reach));

  return {
    id,
    entities: [...new Set(rules.map((rule) => rule.entity))],
    maxLength: Math.max(...rules.map((rule) => rule.maxLength)),
    find(text: string, out: Finding[]): void {
      evaluateAt(text, sharedAnchors, 0, text.length, true, new FindingsInto(out));
    },
    openCandidate(text: string): OpenCandidate | undefined {
      let open: OpenCandidate | undefined;
      const settled: Finding[] = [];
      const sink: Sink = { found: (finding) => settled.push(finding), open: (start, strong) => (open = earlier(open, { start, strong })) };
      // Candidates starting more than `reach` back read nothing past the end: they are settled.
      let from = Math.max(0, text.length - reach);
      evaluateAt(text, sharedAnchors, from, text.length, false, sink);
      for (const rule of rules) open = earlier(open, rule.trailing(text));
      if (!open) return undefined;
      // A settled finding that straddles the candidate (a JWT whose payload opens another one) is
      // held whole, which may uncover one further back: look back one reach at a time, once each.
      for (;;) {
        for (let moved = true; moved; ) {
          moved = false;
          for (const finding of settled) {
            if (finding.start < open.start && finding.end > open.start) {
              open = { start: finding.start, strong: true };
              moved = true;
            }
          }
        }
        const wanted = Math.max(0, open.start - reach);
        if (wanted >= from) return open;
        const before = settled.length;
        evaluateAt(text, sharedAnchors, wanted, from, false, sink);
        from = wanted;
        if (settled.length === before) return open;
      }
    },
  };
}

// --- Prefixed tokens: prefix + charset + length, declared as data. ---

type Segment = { readonly oneOf: readonly string[] } | { readonly chars: number; readonly min: number; readonly max: number };

function exactly(chars: number, length: number): Segment {
  return { chars, min: length, max: length };
}

interface TokenFormat {
  readonly rule: string;
  /** Found with indexOf; every prefix contains it at the same offset. */
  readonly anchor: string;
  readonly prefixes: readonly string[];
  /** Matched greedily without backtracking: a variable-length run is last, or followed by a
   * segment whose first character it cannot contain. A run longer than its max is no match. */
  readonly body: readonly Segment[];
  /** Class the character before the token must not be in (default: alphanumerics). */
  readonly before?: number;
  /** Class the character after the token must not be in (gitleaks' trailing `\b`). */
  readonly after?: number;
  /** Trailing characters of this class are not part of the token. */
  readonly trimEnd?: number;
  /** Shannon entropy of the whole token, bits per character (gitleaks `entropy`). */
  readonly minEntropy?: number;
  /** A partial match this long is distinctive (OpenCandidate.strong); shorter ones are word-like. */
  readonly strongAt: number;
  readonly valid?: (token: string) => boolean;
  readonly score?: (token: string) => number;
}

interface TokenFamily {
  readonly detector: string;
  readonly entity: string;
  readonly formats: readonly TokenFormat[];
}

/** AKIAIOSFODNN7EXAMPLE and friends are AWS's documentation keys. */
const notAwsExample = (token: string): boolean => !token.endsWith("EXAMPLE");

/** Slack tokens are dash-separated: a numeric team/app segment first, a random segment last. */
function hasSlackSegments(token: string): boolean {
  const parts = token.split("-").slice(1);
  const last = parts[parts.length - 1] ?? "";
  if (last.length < 8) return false;
  if (token.startsWith("xoxa-") || token.startsWith("xoxr-")) return true; // xox[ar]-(\d-)?[0-9a-zA-Z]{8,48}
  return parts.length >= 2 && /^[0-9]+$/.test(parts[0] ?? "");
}

const TOKEN_FAMILIES: readonly TokenFamily[] = [
  {
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
  },
  {
    detector: "github-pat",
    entity: "GITHUB_TOKEN",
    formats: [
      { rule: "github-pat", anchor: "gh", prefixes: ["ghp_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
      { rule: "github-oauth", anchor: "gh", prefixes: ["gho_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
      { rule: "github-app-token", anchor: "gh", prefixes: ["ghu_", "ghs_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
      { rule: "github-refresh-token", anchor: "gh", prefixes: ["ghr_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
      { rule: "github-fine-grained-pat", anchor: "_pat_", prefixes: ["github_pat_"], body: [exactly(WORD, 82)], minEntropy: 3, strongAt: 11 },
    ],
  },
  {
    detector: "gitlab-pat",
    entity: "GITLAB_TOKEN",
    formats: [
      { rule: "gitlab-pat", anchor: "gl", prefixes: ["glpat-"], body: [{ chars: URLSAFE, min: 20, max: 300 }], minEntropy: 3, strongAt: 6 },
      // Pipeline trigger, runner (and the legacy GR1348941 registration), deploy, feed, CI/CD job,
      // incoming-mail and agent tokens: GitLab's documented token prefixes, found from one anchor.
      {
        rule: "gitlab-token", anchor: "gl", prefixes: ["glptt-", "glrt-", "gldt-", "glft-", "glcbt-", "glimt-", "glagent-"],
        body: [{ chars: URLSAFE, min: 20, max: 300 }], minEntropy: 3, strongAt: 5,
      },
      { rule: "gitlab-rrt", anchor: "R134", prefixes: ["GR1348941"], body: [{ chars: URLSAFE, min: 20, max: 300 }], minEntropy: 3, strongAt: 6 },
    ],
  },
  {
    detector: "slack-token",
    entity: "SLACK_TOKEN",
    formats: [
      ...[
        { rule: "slack-bot-token", prefixes: ["xoxb-"] },
        { rule: "slack-user-token", prefixes: ["xoxp-", "xoxe-"] },
        { rule: "slack-legacy-workspace-token", prefixes: ["xoxa-", "xoxr-"] },
        { rule: "slack-legacy-token", prefixes: ["xoxs-", "xoxo-"] },
      ].map(({ rule, prefixes }) => ({
        rule, anchor: "xox", prefixes, body: [{ chars: ALNUM_DASH, min: 8, max: 250 }],
        trimEnd: DASH, minEntropy: 2.5, strongAt: 5, valid: hasSlackSegments,
      })),
      {
        rule: "slack-app-token", anchor: "xapp-", prefixes: ["xapp-"], body: [{ chars: ALNUM_DASH, min: 20, max: 250 }],
        trimEnd: DASH, minEntropy: 2.5, strongAt: 5, valid: hasSlackSegments,
      },
    ],
  },
  {
    detector: "slack-webhook-url",
    entity: "SLACK_WEBHOOK",
    formats: [
      {
        rule: "slack-webhook-url", anchor: ".slack", prefixes: ["hooks.slack.com/"],
        body: [{ oneOf: ["services/", "workflows/", "triggers/"] }, { chars: WEBHOOK_PATH, min: 20, max: 200 }],
        strongAt: 10,
        // The documentation's T00000000/B00000000/XXXXXXXX… is low-entropy; real paths are random.
        valid: (token) => shannonEntropy(token, token.indexOf("/", 16) + 1, token.length) >= 3,
      },
    ],
  },
  {
    detector: "stripe-access-token",
    entity: "STRIPE_KEY",
    // Secret (sk_) and restricted (rk_) keys; publishable pk_ keys are public by design.
    formats: [
      {
        rule: "stripe-access-token", anchor: "k_", prefixes: ["sk", "rk"].flatMap((kind) => ["live", "test", "prod"].map((mode) => `${kind}_${mode}_`)),
        body: [{ chars: ALNUM, min: 10, max: 99 }], minEntropy: 3, strongAt: 8,
      },
      // Webhook signing secrets (Stripe-Signature verification).
      { rule: "stripe-webhook-secret", anchor: "whsec_", prefixes: ["whsec_"], body: [{ chars: ALNUM, min: 24, max: 99 }], minEntropy: 3, strongAt: 6 },
    ],
  },
  {
    detector: "openai-api-key",
    entity: "OPENAI_API_KEY",
    formats: [
      // Legacy user keys: T3BlbkFJ is base64 of "OpenAI".
      { rule: "openai-api-key", anchor: "k-", prefixes: ["sk-"], body: [exactly(ALNUM, 20), { oneOf: ["T3BlbkFJ"] }, exactly(ALNUM, 20)], minEntropy: 3, strongAt: 7 },
      // Project, service-account and admin keys: 58 or 74 characters either side of the marker
      // today; any long random tail after these prefixes is taken, the marker raises the score.
      {
        rule: "openai-api-key", anchor: "k-", prefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-"], body: [{ chars: URLSAFE, min: 40, max: 250 }],
        minEntropy: 3.5, strongAt: 9, score: (token) => (token.includes("T3BlbkFJ") ? 1 : 0.9),
      },
    ],
  },
  {
    detector: "anthropic-api-key",
    entity: "ANTHROPIC_API_KEY",
    formats: [
      { rule: "anthropic-api-key", anchor: "k-ant-", prefixes: ["sk-ant-api03-"], body: [exactly(URLSAFE, 93), { oneOf: ["AA"] }], strongAt: 7 },
      { rule: "anthropic-admin-api-key", anchor: "k-ant-", prefixes: ["sk-ant-admin01-"], body: [exactly(URLSAFE, 93), { oneOf: ["AA"] }], strongAt: 7 },
      // OAuth access and refresh tokens have no published length (gitleaks: 40 or more).
      { rule: "anthropic-oauth-token", anchor: "k-ant-", prefixes: ["sk-ant-oat01-", "sk-ant-ort01-"], body: [{ chars: URLSAFE, min: 40, max: 250 }], minEntropy: 3.5, strongAt: 7 },
    ],
  },
  {
    detector: "gcp-api-key",
    entity: "GOOGLE_API_KEY",
    formats: [{ rule: "gcp-api-key", anchor: "AIza", prefixes: ["AIza"], body: [exactly(URLSAFE, 35)], before: URLSAFE, after: URLSAFE, minEntropy: 4, strongAt: 6 }],
  },
  {
    detector: "npm-access-token",
    entity: "NPM_TOKEN",
    formats: [{ rule: "npm-access-token", anchor: "m_", prefixes: ["npm_"], body: [exactly(ALNUM, 36)], after: ALNUM, minEntropy: 3, strongAt: 8 }],
  },
  {
    detector: "huggingface-access-token",
    entity: "HUGGINGFACE_TOKEN",
    formats: [{ rule: "huggingface-access-token", anchor: "hf_", prefixes: ["hf_"], body: [exactly(LETTER, 34)], after: ALNUM, minEntropy: 3, strongAt: 9 }],
  },
  {
    detector: "sendgrid-api-token",
    entity: "SENDGRID_API_KEY",
    // SG.<22 base64url key id>.<43 base64url secret>, with or without a key name in front.
    formats: [
      {
        rule: "sendgrid-api-token", anchor: "SG.", prefixes: ["SG."], body: [exactly(URLSAFE, 22), { oneOf: ["."] }, exactly(URLSAFE, 43)],
        after: URLSAFE, minEntropy: 3, strongAt: 6,
      },
    ],
  },
];

function tokenRule(entity: string, format: TokenFormat): Rule {
  const before = format.before ?? ALNUM;
  const offset = format.prefixes[0]?.indexOf(format.anchor) ?? -1;
  if (offset < 0 || format.prefixes.some((prefix) => prefix.indexOf(format.anchor) !== offset)) {
    throw new Error(`token format ${format.rule}: every prefix must contain the anchor ${format.anchor} at the same offset`);
  }
  const segmentLength = (segment: Segment): number => ("oneOf" in segment ? Math.max(...segment.oneOf.map((literal) => literal.length)) : segment.max);
  const maxLength = Math.max(...format.prefixes.map((prefix) => prefix.length)) + format.body.reduce((sum, segment) => sum + segmentLength(segment), 0);
  return {
    id: format.rule,
    entity,
    anchors: [anchor(format.anchor, offset)],
    maxLength,
    reach: maxLength + 1,
    evaluate(text, at, final, sink) {
      if (at < 0 || !startsToken(text, at, before)) return;
      const strong = text.length - at >= format.strongAt;
      let pos = matchOneOf(text, at, format.prefixes);
      if (pos === RAN_OUT) return openUnlessFinal(sink, final, at, strong);
      if (pos === NO_MATCH) return;
      for (const segment of format.body) {
        if ("oneOf" in segment) {
          pos = matchOneOf(text, pos, segment.oneOf);
          if (pos === RAN_OUT) return openUnlessFinal(sink, final, at, strong);
          if (pos === NO_MATCH) return;
          continue;
        }
        // One character past a variable max tells "too long" from "ends here".
        const limit = segment.min === segment.max ? segment.max : segment.max + 1;
        const end = runEnd(text, pos, segment.chars, limit);
        if (ranOut(text, pos, end, limit)) {
          if (!final) return sink.open(at, strong);
        }
        if (end - pos < segment.min || end - pos > segment.max) return;
        pos = end;
      }
      if (format.after !== undefined) {
        if (pos === text.length) {
          if (!final) return sink.open(at, strong);
        } else if (isIn(text.charCodeAt(pos), format.after)) return;
      }
      let end = pos;
      while (format.trimEnd !== undefined && end > at && isIn(text.charCodeAt(end - 1), format.trimEnd)) end--;
      if (format.minEntropy !== undefined && shannonEntropy(text, at, end) < format.minEntropy) return;
      const token = text.slice(at, end);
      if (format.valid && !format.valid(token)) return;
      sink.found({ start: at, end, entity, score: format.score?.(token) ?? 1, detector: format.rule });
    },
    trailing: (text) => partialLiteralAtEnd(text, format.prefixes, before, format.strongAt),
  };
}

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

const jwtRule: Rule = {
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

const privateKeyRule: Rule = {
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
      while (!complete && last > at && isIn(text.charCodeAt(last - 1), SPACE | NEWLINE | BACKSLASH)) last--;
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
  const start = runEnd(text, spacesStart, SPACE, 4);
  const spaces = start - spacesStart;
  if (ranOut(text, spacesStart, start, 4)) {
    if (!final) sink.open(spaces === 0 ? at : start, spaces > 0 && strongScheme);
    return undefined;
  }
  return spaces === 0 || spaces > 3 ? undefined : start;
}

const bearerRules: Rule[] = ["Bearer", "bearer"].map((scheme) => ({
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

const basicRules: Rule[] = ["Basic", "basic"].map((scheme) => ({
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

const urlCredentialsRule: Rule = {
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

// --- Generic secrets (gitleaks generic-api-key): keyword identifier, assignment, random value. ---

const GENERIC_VALUE_MIN = 10;
const GENERIC_VALUE_MAX = 150;
const IDENTIFIER_MAX = 64;
const GENERIC_ENTROPY = 3.5;
// Passwords are shorter and less random than API keys: a mix of three character kinds will do.
const PASSWORD_ENTROPY = 3;

/** Keywords that say "secret" whatever is glued before them: PGPASSWORD, dbSecret. */
const SECRET_WORDS = ["password", "passwd", "secret", "credential", "creds"];
/** Keywords that are also parts of ordinary words, so only a known qualifier may be glued on:
 * apikey and accesstoken, not monkey. */
const QUALIFIED_WORDS = ["authorization", "access", "token", "auth", "key", "api"];
const KEYWORDS = [...SECRET_WORDS, ...QUALIFIED_WORDS].sort((a, b) => b.length - a.length);
const GLUED_QUALIFIERS = new Set([
  "api", "access", "auth", "secret", "private", "client", "refresh", "session", "bearer", "master", "app", "bot",
  "oauth", "id", "user", "admin", "service", "signing", "encryption", "webhook", "pass", "x",
]);
/** Identifier words that make the value an identifier or a count, not a credential. */
const NOT_SECRET_WORDS = new Set([
  "public", "page", "next", "cursor", "continuation", "idempotency", "cache", "partition", "sort", "primary",
  "foreign", "row", "hash", "object", "file", "s3", "storage", "image", "shard", "routing", "lookup", "dedup",
  "max", "min", "num", "total", "count", "input", "output", "prompt", "completion",
]);
/** The last three letters of each keyword and its plural, lowercased and packed in an integer:
 * one lookup rejects `_id`, `_at`, `ame` and nearly every other JSON key. */
const KEYWORD_ENDINGS = new Set(KEYWORDS.flatMap((keyword) => [keyword, `${keyword}s`]).map((word) => lastThree(word, word.length)));
/** The same endings folded to 15 bits (5 per character) in a table: read before the set, it rejects
 * most of the text's colons with one array index instead of a hash lookup. */
const KEYWORD_ENDING_BITS = (() => {
  const table = new Uint8Array(1 << 15);
  for (const ending of KEYWORD_ENDINGS) table[foldEnding(ending)] = 1;
  return table;
})();

function foldEnding(packed: number): number {
  return ((packed >> 6) & 0x7c00) | ((packed >> 3) & 0x3e0) | (packed & 0x1f);
}

function isKeywordEnding(text: string, end: number): boolean {
  const packed = lastThree(text, end);
  return KEYWORD_ENDING_BITS[foldEnding(packed)] === 1 && KEYWORD_ENDINGS.has(packed);
}

function lastThree(text: string, end: number): number {
  return ((text.charCodeAt(end - 3) | 0x20) << 16) | ((text.charCodeAt(end - 2) | 0x20) << 8) | (text.charCodeAt(end - 1) | 0x20);
}

interface KeywordMatch {
  keyword: string;
  /** Start of the identifier's last word, which ends with the keyword. */
  wordStart: number;
}

function isCamelHump(text: string, at: number): boolean {
  return isIn(text.charCodeAt(at), UPPER) && isIn(text.charCodeAt(at - 1), LOWER);
}

/** The keyword that ends the identifier text[identifierStart, end), as its last word or glued to a
 * qualifier (api_key, apiKey, APIKEY, DB_PASSWORD, client_secret, credentials). */
function keywordAtEnd(text: string, identifierStart: number, end: number): KeywordMatch | undefined {
  const plural = end > identifierStart && (text.charCodeAt(end - 1) | 0x20) === 0x73;
  for (let keywordEnd = end; keywordEnd >= (plural ? end - 1 : end); keywordEnd--) {
    for (const keyword of KEYWORDS) {
      const start = keywordEnd - keyword.length;
      if (start < identifierStart || !equalsIgnoreCase(text, start, keyword)) continue;
      let wordStart = start;
      if (!isCamelHump(text, start)) {
        while (wordStart > identifierStart && isIn(text.charCodeAt(wordStart - 1), LETTER) && !isCamelHump(text, wordStart)) wordStart--;
      }
      if (wordStart === start || SECRET_WORDS.includes(keyword) || GLUED_QUALIFIERS.has(text.slice(wordStart, start).toLowerCase())) {
        return { keyword, wordStart };
      }
    }
  }
  return undefined;
}

/** A trailing word that may still grow into a keyword: `pass`, `tok`, `secr`. */
function isKeywordBeginning(text: string, identifierStart: number, end: number): boolean {
  let wordStart = end;
  while (wordStart > identifierStart && isIn(text.charCodeAt(wordStart - 1), LETTER) && !isCamelHump(text, wordStart)) wordStart--;
  const word = text.slice(wordStart, end).toLowerCase();
  return word.length >= 3 && KEYWORDS.some((keyword) => keyword.startsWith(word));
}

function identifierWords(identifier: string): string[] {
  return identifier
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter((word) => word.length > 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isGenericSecret(text: string, valueStart: number, valueEnd: number, identifierStart: number, identifierEnd: number, keyword: string): boolean {
  const value = text.slice(valueStart, valueEnd);
  if (isTemplatePlaceholder(value) || isJoinedWords(value) || value.includes("://")) return false;
  const words = identifierWords(text.slice(identifierStart, identifierEnd));
  if (words.some((word) => NOT_SECRET_WORDS.has(word))) return false;
  // A bare `key` holding a UUID is a record key (LangGraph store items), not a credential.
  if (words.length === 1 && (words[0] === "key" || words[0] === "keys") && UUID.test(value)) return false;
  const passwordLike = SECRET_WORDS.includes(keyword) && characterKinds(value) >= 3;
  return shannonEntropy(text, valueStart, valueEnd) > (passwordLike ? PASSWORD_ENTROPY : GENERIC_ENTROPY);
}

/** Where the identifier that ends at `end` starts, or -1 if it is longer than any identifier. */
function identifierStartBefore(text: string, end: number): number {
  let start = end;
  while (start > 0 && end - start < IDENTIFIER_MAX && isIn(text.charCodeAt(start - 1), IDENTIFIER)) start--;
  return start > 0 && isIn(text.charCodeAt(start - 1), IDENTIFIER) ? -1 : start;
}

/** Trailing digits of `token2`, `password1` do not hide the keyword. */
function withoutTrailingDigits(text: string, start: number, end: number): number {
  let wordEnd = end;
  while (wordEnd > start && end - wordEnd < 3 && isIn(text.charCodeAt(wordEnd - 1), DIGIT)) wordEnd--;
  return wordEnd;
}

interface AssignedValue {
  start: number;
  end: number;
  /** The text ends before the value does (at the end of the text, the end of the value). */
  open: boolean;
}

/** The value after an assignment operator: up to three spaces, an optional quote (escaped in raw
 * JSON), then the value up to its closing quote, or up to a terminator when unquoted. */
function assignedValue(text: string, from: number): AssignedValue | undefined {
  const n = text.length;
  let start = runEnd(text, from, SPACE, 4);
  if (ranOut(text, from, start, 4)) return { start, end: start, open: true };
  if (start - from > 3) return undefined;
  let quote = 0;
  let escaped = false;
  if (text.charCodeAt(start) === CODE_BACKSLASH) {
    if (start + 1 >= n) return { start: n, end: n, open: true };
    quote = text.charCodeAt(start + 1);
    if (!isIn(quote, QUOTE)) return undefined;
    escaped = true;
    start += 2;
  } else if (isIn(text.charCodeAt(start), QUOTE)) {
    quote = text.charCodeAt(start);
    start += 1;
  }
  const end = quote ? runUntil(text, start, BACKSLASH, GENERIC_VALUE_MAX + 1, quote) : runEnd(text, start, UNQUOTED_VALUE, GENERIC_VALUE_MAX + 1);
  if (end - start > GENERIC_VALUE_MAX) return undefined;
  if (end === n) return { start, end, open: true };
  const terminator = text.charCodeAt(end);
  if (!quote) return isIn(terminator, VALUE_END) ? { start, end, open: false } : undefined;
  if (!escaped) return terminator === quote ? { start, end, open: false } : undefined;
  if (terminator !== CODE_BACKSLASH) return undefined;
  if (end + 1 >= n) return { start, end, open: true };
  return text.charCodeAt(end + 1) === quote ? { start, end, open: false } : undefined;
}

const genericSecretRule: Rule = {
  id: "generic-api-key",
  entity: "GENERIC_SECRET",
  // The assignment operators: cheap to find, and most JSON keys are rejected by their last letter.
  anchors: [anchor(":"), anchor("=")],
  maxLength: GENERIC_VALUE_MAX,
  reach: 2 + 3 + 2 + GENERIC_VALUE_MAX + 2,
  evaluate(text, at, final, sink) {
    const n = text.length;
    const operator = text.charCodeAt(at);
    // Identifier, closing quote (maybe escaped, in raw JSON), spaces, operator.
    let identifierEnd = at;
    while (identifierEnd > 0 && at - identifierEnd < 3 && isIn(text.charCodeAt(identifierEnd - 1), SPACE)) identifierEnd--;
    if (identifierEnd > 0 && isIn(text.charCodeAt(identifierEnd - 1), QUOTE)) {
      identifierEnd--;
      if (identifierEnd > 0 && text.charCodeAt(identifierEnd - 1) === CODE_BACKSLASH) identifierEnd--;
    }
    const wordEnd = withoutTrailingDigits(text, 0, identifierEnd);
    if (wordEnd < 3 || !isKeywordEnding(text, wordEnd)) return;

    // Operators = : := => ; not == :: != <= >=.
    const previous = at > 0 ? text.charCodeAt(at - 1) : 0;
    if (previous === CODE_COLON || previous === CODE_EQUALS || previous === 0x21 || previous === 0x3c || previous === 0x3e) return;
    const next = at + 1 < n ? text.charCodeAt(at + 1) : -1;
    if (next === (operator === CODE_COLON ? CODE_COLON : CODE_EQUALS)) return;
    const glued = (operator === CODE_COLON && next === CODE_EQUALS) || (operator === CODE_EQUALS && next === 0x3e);
    const value = assignedValue(text, glued ? at + 2 : at + 1);
    // Checked before the identifier: most values in JSON (`"total_tokens": 132`) are short.
    if (!value || (!value.open && value.end - value.start < GENERIC_VALUE_MIN)) return;

    const identifierStart = identifierStartBefore(text, identifierEnd);
    if (identifierStart < 0 || identifierStart >= wordEnd) return;
    const match = keywordAtEnd(text, identifierStart, wordEnd);
    if (!match) return;
    if (value.open && !final) {
      // A value under way is held from its first character; before it starts, the assignment is.
      return value.end > value.start ? sink.open(value.start, true) : sink.open(identifierStart, false);
    }
    if (value.end - value.start < GENERIC_VALUE_MIN) return;
    if (!isGenericSecret(text, value.start, value.end, identifierStart, identifierEnd, match.keyword)) return;
    sink.found({ start: value.start, end: value.end, entity: "GENERIC_SECRET", score: 0.85, detector: "generic-api-key" });
  },
  trailing(text) {
    // `…"password"` or `api_key ` at the very end: the assignment may follow.
    let identifierEnd = text.length;
    while (identifierEnd > 0 && text.length - identifierEnd < 3 && isIn(text.charCodeAt(identifierEnd - 1), SPACE | QUOTE | BACKSLASH)) identifierEnd--;
    const identifierStart = identifierStartBefore(text, identifierEnd);
    if (identifierStart < 0 || identifierStart === identifierEnd) return undefined;
    const wordEnd = withoutTrailingDigits(text, identifierStart, identifierEnd);
    if (!keywordAtEnd(text, identifierStart, wordEnd) && !isKeywordBeginning(text, identifierStart, wordEnd)) return undefined;
    return { start: identifierStart, strong: false };
  },
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

function awsSecretKeyDetector(keyIdRules: readonly Rule[]): Detector {
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
      let start = text.length;
      while (start > 0 && text.length - start <= AWS_SECRET_LENGTH && isIn(text.charCodeAt(start - 1), BASE64)) start--;
      if (start === text.length || text.length - start > AWS_SECRET_LENGTH) return undefined;
      let open: OpenCandidate | undefined;
      const anchors = anchorsFrom(text, Math.max(0, start - AFTER_KEY_ID - AWS_SECRET_LENGTH), false);
      sweep(text, anchors, false, { found: () => undefined, open: (candidate) => (open = { start: candidate, strong: true }) });
      return open;
    },
  };
}

// --- Telegram bot tokens: `<bot id>:AA<33 base64url>` (gitleaks telegram-bot-api-token). ---

const TELEGRAM_ID_MIN = 5;
const TELEGRAM_ID_MAX = 16;
const TELEGRAM_SECRET = 35; // "AA" and 33 more

/** A bot id starts a token, or follows `/bot` in a Bot API URL (`api.telegram.org/bot<token>/`). */
function startsBotId(text: string, start: number): boolean {
  return startsToken(text, start, ALNUM | UNDERSCORE | DASH) || (start >= 4 && text.startsWith("/bot", start - 4));
}

const telegramRule: Rule = {
  id: "telegram-bot-api-token",
  entity: "TELEGRAM_BOT_TOKEN",
  // "AA" after the colon: a rarer first character than ":" in JSON, so indexOf skips faster.
  anchors: [anchor("AA", 1)],
  maxLength: TELEGRAM_ID_MAX + 1 + TELEGRAM_SECRET,
  reach: 1 + TELEGRAM_SECRET + 1,
  evaluate(text, at, final, sink) {
    if (at < 0 || text.charCodeAt(at) !== CODE_COLON) return;
    let start = at;
    while (at - start <= TELEGRAM_ID_MAX && start > 0 && isIn(text.charCodeAt(start - 1), DIGIT)) start--;
    if (at - start < TELEGRAM_ID_MIN || at - start > TELEGRAM_ID_MAX || !startsBotId(text, start)) return;
    const secretEnd = runEnd(text, at + 1, URLSAFE, TELEGRAM_SECRET + 1);
    if (secretEnd === text.length && !final) return sink.open(start, true);
    if (secretEnd - at - 1 !== TELEGRAM_SECRET || shannonEntropy(text, at + 1, secretEnd) < 3) return;
    sink.found({ start, end: secretEnd, entity: "TELEGRAM_BOT_TOKEN", score: 1, detector: "telegram-bot-api-token" });
  },
  trailing(text) {
    // A bot id at the very end, maybe followed by `:` or `:A`: a token would start at the id.
    let end = text.length;
    let strong = false;
    if (text.charCodeAt(end - 1) === 0x41 && text.charCodeAt(end - 2) === CODE_COLON) end -= 2;
    else if (text.charCodeAt(end - 1) === CODE_COLON) end -= 1;
    strong = end < text.length;
    let start = end;
    while (end - start <= TELEGRAM_ID_MAX && start > 0 && isIn(text.charCodeAt(start - 1), DIGIT)) start--;
    // Any shorter run may still grow into a bot id.
    if (start === end || end - start > TELEGRAM_ID_MAX || !startsBotId(text, start)) return undefined;
    return { start, strong: strong && end - start >= TELEGRAM_ID_MIN };
  },
};

// --- Session cookies in Cookie and Set-Cookie headers (Google DLP HTTP_COOKIE). ---

const COOKIE_MAX = 4096;
const COOKIE_NAME_MAX = 64;
const COOKIE_VALUE_MAX = 1024;
const COOKIE_VALUE_MIN = 8;
const COOKIE_NAME = ALNUM | UNDERSCORE | DASH | DOT;
/** RFC 6265 §4.1.1 cookie-octets, less the backslash that ends a JSON-escaped header. */
const COOKIE_VALUE_STOP = SPACE | NEWLINE | QUOTE | BACKSLASH | COMMA;
/** PHPSESSID, JSESSIONID, connect.sid, sessionid, laravel_session, next-auth.session-token,
 * remember_user_token, auth_token, jwt: the names frameworks give to session state. */
const SESSION_COOKIE_NAME = /sess|sid$|token|auth|remember|jwt|login/i;

const COOKIE_HEADER = "cookie:";

const cookieRule: Rule = {
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
    let pos = runEnd(text, at + header.length, SPACE, 3);
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
      pos = runEnd(text, valueEnd + 1, SPACE, 3);
    }
  },
  trailing: () => undefined, // a value only starts after `Cookie: name=`, which the anchor covers
};

// --- Passwords on command lines: `mysql -pS3cret`, `--password=S3cret`, `--password S3cret`. ---

const CLI_PASSWORD_MAX = 128;
const CLI_PASSWORD_STOP = SPACE | NEWLINE | QUOTE | BACKSLASH | COMMA;
/** Clients whose `-p` takes the password glued on (mysql(1): "-ppassword, no space"). */
const GLUED_P_COMMANDS = /\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb|mariadb-dump|sshpass)\b/i;
const CLI_CONTEXT_MAX = 256;

/** A password, not a word or a template: `--password flag` is prose, `--password hunter2` is not. */
function isCliPassword(value: string, glued: boolean): boolean {
  if (value.length < (glued ? 3 : 4) || isTemplatePlaceholder(value) || isJoinedWords(value)) return false;
  return glued || characterKinds(value) >= 2 || value.length >= 12;
}

/** Where the value after `--password`, `--passwd` or `--pass` starts (`=` or one space), undefined
 * when there is none or the text ends first (then reported open). */
function cliPasswordValue(text: string, at: number, final: boolean, sink: Sink): number | undefined {
  for (const flag of ["--password", "--passwd", "--pass"]) {
    const end = matchLiteral(text, at, flag);
    if (end === RAN_OUT) {
      if (!final) sink.open(at, text.length - at >= 6);
      return undefined;
    }
    if (end < 0) continue;
    if (end === text.length) {
      if (!final) sink.open(at, true);
      return undefined;
    }
    const next = text.charCodeAt(end);
    if (next === CODE_EQUALS || next === 0x20) return end + 1;
    if (isIn(next, ALNUM | DASH | UNDERSCORE)) continue; // --password-file, --passwords
    return undefined;
  }
  return undefined;
}

function reportCliPassword(text: string, valueStart: number, final: boolean, sink: Sink, glued: boolean): void {
  const quote = text.charCodeAt(valueStart);
  const quoted = quote === 0x22 || quote === 0x27;
  const start = quoted ? valueStart + 1 : valueStart;
  const end = quoted ? runUntil(text, start, NEWLINE, CLI_PASSWORD_MAX + 1, quote) : runUntil(text, start, CLI_PASSWORD_STOP, CLI_PASSWORD_MAX + 1);
  if (end - start > CLI_PASSWORD_MAX) return;
  if (end === text.length && !final) return sink.open(start, true);
  if (quoted && text.charCodeAt(end) !== quote) return;
  if (isCliPassword(text.slice(start, end), glued)) sink.found({ start, end, entity: "PASSWORD", score: 1, detector: "cli-password" });
}

const cliPasswordRules: Rule[] = [
  {
    id: "cli-password",
    entity: "PASSWORD",
    // `-p` at offset 1, shared with the glued `-p` rule below: one pass finds both.
    anchors: [anchor("-p", 1)],
    maxLength: CLI_PASSWORD_MAX,
    reach: "--password=".length + CLI_PASSWORD_MAX + 2,
    evaluate(text, at, final, sink) {
      if (at < 0 || text.charCodeAt(at) !== CODE_DASH || (at > 0 && !isIn(text.charCodeAt(at - 1), SPACE | NEWLINE | QUOTE))) return;
      const valueStart = cliPasswordValue(text, at, final, sink);
      if (valueStart === undefined) return;
      if (valueStart === text.length) return final ? undefined : sink.open(valueStart, true);
      reportCliPassword(text, valueStart, final, sink, false);
    },
    trailing: (text) => partialLiteralAtEnd(text, ["--pass"], ALNUM | DASH, 3),
  },
  {
    id: "cli-password",
    entity: "PASSWORD",
    // ` -p`: the space at `at`, found from the `-p` anchor the `--password` rule also uses. The
    // command name is checked on the line only at these rare hits: anchoring on the names
    // (`mysql`, `mariadb`, `sshpass`) would take three searches for frequent first letters.
    anchors: [anchor("-p", 1)],
    maxLength: CLI_PASSWORD_MAX,
    reach: 3 + CLI_PASSWORD_MAX + 2,
    evaluate(text, at, final, sink) {
      if (at < 0 || text.charCodeAt(at) !== 0x20) return;
      const valueStart = at + 3;
      // `-p` alone prompts for the password (or, with a space, names the database): nothing to mask.
      if (valueStart >= text.length || isIn(text.charCodeAt(valueStart), SPACE | NEWLINE)) return;
      const lineStart = Math.max(0, at - CLI_CONTEXT_MAX, text.lastIndexOf("\n", at) + 1);
      if (!GLUED_P_COMMANDS.test(text.slice(lineStart, at))) return;
      reportCliPassword(text, valueStart, final, sink, true);
    },
    trailing: () => undefined, // the value starts after `-p`; nothing before it is held
  },
];

// --- The secret detector family. ---

/** Tier-1 secret detectors (masking.md §2): always on, so `settings` selects nothing here. */
export function secretDetectors(_settings: DetectorSettings): Detector[] {
  const tokenDetectors = TOKEN_FAMILIES.map((family) => ({
    family,
    rules: family.formats.map((format) => tokenRule(family.entity, format)),
  }));
  const awsKeyIdRules = tokenDetectors.find(({ family }) => family.entity === "AWS_ACCESS_KEY")?.rules ?? [];
  return [
    ...tokenDetectors.map(({ family, rules }) => ruleDetector(family.detector, rules)),
    awsSecretKeyDetector(awsKeyIdRules),
    ruleDetector("jwt", [jwtRule]),
    ruleDetector("private-key", [privateKeyRule]),
    ruleDetector("authorization-header", [...bearerRules, ...basicRules]),
    ruleDetector("url-credentials", [urlCredentialsRule]),
    ruleDetector("generic-api-key", [genericSecretRule]),
    ruleDetector("telegram-bot-api-token", [telegramRule]),
    ruleDetector("http-cookie", [cookieRule]),
    ruleDetector("cli-password", cliPasswordRules),
  ];
}
