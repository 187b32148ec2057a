// Secret detectors (masking.md §3 "Credentials", §6 streaming, §8 ReDoS): random tokens of every
// format from a seeded PRNG as positives (the way gitleaks builds its rule tests), known fakes and
// machine-JSON look-alikes as negatives, the streaming openCandidate contract checked at every
// split offset, and hostile inputs as a ReDoS guard.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { secretDetectors } from "../../src/mask/detect/secrets.js";
import { MASK_THRESHOLD, type Detector, type Finding } from "../../src/mask/detect/types.js";
import { seededRandom } from "../support/seededRandom.js";

const SEED = 0x5ec12e75;
const detectors = secretDetectors({ phoneRegions: ["US"], maskPrivateIps: true, optIn: new Set() });
const byId = new Map(detectors.map((detector) => [detector.id, detector]));

function detector(id: string): Detector {
  const found = byId.get(id);
  assert.ok(found, `no detector ${id}`);
  return found;
}

function findingsOf(subject: Detector, text: string): Finding[] {
  const out: Finding[] = [];
  subject.find(text, out);
  return out.sort((a, b) => a.start - b.start || a.end - b.end || a.detector.localeCompare(b.detector));
}

/** What the scanner would mask: every secret detector, findings at or above the threshold. */
function masked(text: string): Finding[] {
  return detectors.flatMap((subject) => findingsOf(subject, text)).filter((finding) => finding.score >= MASK_THRESHOLD);
}

// --- Seeded generators: prefix + charset + length. ---


type Random = () => number;
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const LETTERS = UPPER + LOWER;
const ALNUM = LETTERS + DIGITS;
const URLSAFE = ALNUM + "_-";
const BASE32 = UPPER + "234567";
const BASE64 = ALNUM + "+/";
const HEX = "0123456789abcdef";

function pick(random: Random, chars: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += chars[Math.floor(random() * chars.length)];
  return out;
}

function oneOf<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function entropy(value: string): number {
  const counts = new Map<string, number>();
  for (const char of value) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) bits -= (count / value.length) * Math.log2(count / value.length);
  return bits;
}

/** Random strings until one passes the rule's own entropy gate (as gitleaks' generated samples do). */
function randomWithEntropy(random: Random, make: () => string, minimum: number): string {
  for (;;) {
    const value = make();
    if (entropy(value) >= minimum) return value;
  }
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

const rsaPkcs1 = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const ecPkcs8 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const ecSec1 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" }).toString();
const ecEncrypted = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "correct horse" })
  .toString();

function armoured(label: string, random: Random, lines: number, headers = ""): string {
  const body = Array.from({ length: lines }, () => pick(random, BASE64, 64)).join("\n");
  return `-----BEGIN ${label}-----\n${headers}${body}\n=${pick(random, BASE64, 4)}\n-----END ${label}-----`;
}

interface Fixture {
  name: string;
  detector: string;
  entity: string;
  /** Self-contained text carrying the secret (`API_KEY=…`, `Authorization: Bearer …`, the token). */
  snippet: string;
  /** The span the detector must report. */
  value: string;
}

type FixtureMaker = (random: Random) => Omit<Fixture, "name">;

const token = (detectorId: string, entity: string, make: (random: Random) => string): FixtureMaker => (random) => {
  const value = make(random);
  return { detector: detectorId, entity, snippet: value, value };
};

const FIXTURES: Record<string, FixtureMaker> = {
  "AWS access key id": token("aws-access-token", "AWS_ACCESS_KEY", (random) =>
    randomWithEntropy(random, () => oneOf(random, ["AKIA", "ASIA", "ABIA", "ACCA"]) + pick(random, BASE32, 16), 3),
  ),
  "AWS A3T key id": token("aws-access-token", "AWS_ACCESS_KEY", (random) => randomWithEntropy(random, () => "A3T" + pick(random, UPPER + DIGITS, 1) + pick(random, BASE32, 16), 3)),
  "GitHub classic token": token("github-pat", "GITHUB_TOKEN", (random) => oneOf(random, ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + pick(random, ALNUM, 36)),
  "GitHub fine-grained token": token("github-pat", "GITHUB_TOKEN", (random) => `github_pat_${pick(random, ALNUM, 22)}_${pick(random, ALNUM, 59)}`),
  "GitLab token": token("gitlab-pat", "GITLAB_TOKEN", (random) => "glpat-" + pick(random, URLSAFE, 20)),
  "Slack bot token": token("slack-token", "SLACK_TOKEN", (random) => `xoxb-${pick(random, DIGITS, 12)}-${pick(random, DIGITS, 13)}-${pick(random, ALNUM, 24)}`),
  "Slack user token": token("slack-token", "SLACK_TOKEN", (random) => `xoxp-${pick(random, DIGITS, 11)}-${pick(random, DIGITS, 12)}-${pick(random, DIGITS, 12)}-${pick(random, HEX, 32)}`),
  "Slack app token": token("slack-token", "SLACK_TOKEN", (random) => `xapp-1-A${pick(random, UPPER + DIGITS, 10)}-${pick(random, DIGITS, 13)}-${pick(random, HEX, 64)}`),
  "Slack webhook": (random) => {
    const value = `hooks.slack.com/services/T${pick(random, UPPER + DIGITS, 8)}/B${pick(random, UPPER + DIGITS, 10)}/${pick(random, ALNUM, 24)}`;
    return { detector: "slack-webhook-url", entity: "SLACK_WEBHOOK", snippet: `https://${value}`, value };
  },
  "Stripe secret key": token("stripe-access-token", "STRIPE_KEY", (random) => oneOf(random, ["sk_live_", "sk_test_", "rk_live_", "rk_prod_"]) + pick(random, ALNUM, oneOf(random, [24, 99]))),
  "OpenAI legacy key": token("openai-api-key", "OPENAI_API_KEY", (random) => `sk-${pick(random, ALNUM, 20)}T3BlbkFJ${pick(random, ALNUM, 20)}`),
  "OpenAI project key": token("openai-api-key", "OPENAI_API_KEY", (random) => {
    const side = oneOf(random, [58, 74]);
    return `${oneOf(random, ["sk-proj-", "sk-svcacct-", "sk-admin-"])}${pick(random, URLSAFE, side)}T3BlbkFJ${pick(random, URLSAFE, side)}`;
  }),
  "Anthropic key": token("anthropic-api-key", "ANTHROPIC_API_KEY", (random) => `${oneOf(random, ["sk-ant-api03-", "sk-ant-admin01-"])}${pick(random, URLSAFE, 93)}AA`),
  "Google API key": token("gcp-api-key", "GOOGLE_API_KEY", (random) => randomWithEntropy(random, () => "AIza" + pick(random, URLSAFE, 35), 4)),
  "npm token": token("npm-access-token", "NPM_TOKEN", (random) => "npm_" + pick(random, ALNUM, 36)),
  "Hugging Face token": token("huggingface-access-token", "HUGGINGFACE_TOKEN", (random) => "hf_" + pick(random, LETTERS, 34)),
  "Stripe webhook secret": token("stripe-access-token", "STRIPE_KEY", (random) => "whsec_" + pick(random, ALNUM, 32)),
  "GitLab pipeline trigger token": token("gitlab-pat", "GITLAB_TOKEN", (random) => "glptt-" + pick(random, HEX, 40)),
  "GitLab runner token": token("gitlab-pat", "GITLAB_TOKEN", (random) => oneOf(random, ["glrt-", "GR1348941"]) + pick(random, URLSAFE, 20)),
  "SendGrid key": token("sendgrid-api-token", "SENDGRID_API_KEY", (random) => `SG.${pick(random, URLSAFE, 22)}.${pick(random, URLSAFE, 43)}`),
  "Telegram bot token": token("telegram-bot-api-token", "TELEGRAM_BOT_TOKEN", (random) => `${pick(random, "123456789", 1)}${pick(random, DIGITS, 8)}:AA${pick(random, URLSAFE, 33)}`),
  "session cookie": (random) => {
    const value = pick(random, ALNUM, 32);
    const name = oneOf(random, ["sessionid", "PHPSESSID", "JSESSIONID", "connect.sid", "_myapp_session", "__Secure-next-auth.session-token", "remember_user_token"]);
    const header = oneOf(random, ["Cookie: theme=dark; ", "cookie: ", "Set-Cookie: "]);
    return { detector: "http-cookie", entity: "HTTP_COOKIE", snippet: `${header}${name}=${value}; Path=/`, value };
  },
  "command-line password": (random) => {
    const value = pick(random, ALNUM, 10) + oneOf(random, ["!", "#", "%", "9"]);
    const line = oneOf(random, [
      `mysql -h db.internal -u root -p${value} app`,
      `mysqldump -uadmin -p${value} --all-databases`,
      `pg_dump --password=${value} -d app`,
      `vault login --password ${value}`,
      `sshpass -p${value} ssh deploy@host`,
    ]);
    return { detector: "cli-password", entity: "PASSWORD", snippet: line, value };
  },
  "JWT (HS256)": token("jwt", "JSON_WEB_TOKEN", (random) =>
    [base64url({ alg: "HS256", typ: "JWT" }), base64url({ sub: pick(random, DIGITS, 10), name: "Jane", iat: 1516239022 }), pick(random, URLSAFE, 43)].join("."),
  ),
  "JWT (alg none, empty signature)": token("jwt", "JSON_WEB_TOKEN", (random) => `${base64url({ alg: "none" })}.${base64url({ sub: pick(random, ALNUM, 12) })}.`),
  "RSA private key (PKCS#1)": () => ({ detector: "private-key", entity: "PRIVATE_KEY", snippet: rsaPkcs1.trim(), value: rsaPkcs1.trim() }),
  "EC private key (PKCS#8)": () => ({ detector: "private-key", entity: "PRIVATE_KEY", snippet: ecPkcs8.trim(), value: ecPkcs8.trim() }),
  "EC private key (SEC1)": () => ({ detector: "private-key", entity: "PRIVATE_KEY", snippet: ecSec1.trim(), value: ecSec1.trim() }),
  "Encrypted private key": () => ({ detector: "private-key", entity: "PRIVATE_KEY", snippet: ecEncrypted.trim(), value: ecEncrypted.trim() }),
  "OpenSSH private key": (random) => {
    const value = armoured("OPENSSH PRIVATE KEY", random, 6);
    return { detector: "private-key", entity: "PRIVATE_KEY", snippet: value, value };
  },
  "DSA private key with RFC 1421 headers": (random) => {
    const value = armoured("DSA PRIVATE KEY", random, 5, `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${pick(random, HEX.toUpperCase(), 32)}\n\n`);
    return { detector: "private-key", entity: "PRIVATE_KEY", snippet: value, value };
  },
  "PGP private key block": (random) => {
    const value = armoured("PGP PRIVATE KEY BLOCK", random, 5, "Version: GnuPG v2\n\n");
    return { detector: "private-key", entity: "PRIVATE_KEY", snippet: value, value };
  },
  "Bearer token": (random) => {
    const value = pick(random, ALNUM, 8) + pick(random, DIGITS, 2) + pick(random, URLSAFE + ".~", 30) + pick(random, ALNUM, 2);
    return { detector: "authorization-header", entity: "AUTHORIZATION_HEADER", snippet: `Authorization: Bearer ${value}`, value };
  },
  "Basic credentials": (random) => {
    const value = Buffer.from(`${pick(random, LOWER, 6)}:${pick(random, ALNUM, 14)}`).toString("base64");
    return { detector: "authorization-header", entity: "AUTHORIZATION_HEADER", snippet: `Authorization: Basic ${value}`, value };
  },
  "URL password": (random) => {
    const value = pick(random, ALNUM, 12) + oneOf(random, ["!", "%21", "$", "~"]) + pick(random, DIGITS, 2);
    const scheme = oneOf(random, ["postgres", "mongodb+srv", "redis", "https", "amqp"]);
    return { detector: "url-credentials", entity: "URL_CREDENTIALS", snippet: `${scheme}://${pick(random, LOWER, 5)}:${value}@db-${pick(random, LOWER, 4)}.internal:5432/app`, value };
  },
  "AWS secret key after its keyword": (random) => {
    const value = randomWithEntropy(random, () => pick(random, BASE64, 40), 4.25);
    const keyword = oneOf(random, ["aws_secret_access_key = ", "AWS_SECRET_ACCESS_KEY=", '"SecretAccessKey": "', "aws secret key is "]);
    return { detector: "aws-secret-access-key", entity: "AWS_SECRET_KEY", snippet: `${keyword}${value}${keyword.endsWith('"') ? '"' : ""}`, value };
  },
  "AWS secret key after its key id": (random) => {
    const value = randomWithEntropy(random, () => pick(random, BASE64, 40), 4.25);
    return { detector: "aws-secret-access-key", entity: "AWS_SECRET_KEY", snippet: `AKIA${pick(random, BASE32, 16)},${value}`, value };
  },
  "generic secret assignment": (random) => {
    const value = randomWithEntropy(random, () => pick(random, ALNUM, oneOf(random, [16, 32, 40])), 3.6);
    const form = oneOf(random, [
      `"api_key": "${value}"`,
      `DB_PASSWORD=${value}`,
      `client_secret: ${value}`,
      `apiKey: '${value}'`,
      `token := "${value}"`,
      `'secret' => '${value}'`,
      `X-Api-Key: ${value}`,
      `export GITHUB_AUTH_TOKEN="${value}"`,
      `credentials = ${value}`,
      `spring.datasource.password=%${value}`,
    ]);
    if (form.endsWith(`%${value}`)) return { detector: "generic-api-key", entity: "GENERIC_SECRET", snippet: form, value: `%${value}` };
    return { detector: "generic-api-key", entity: "GENERIC_SECRET", snippet: form, value };
  },
};

function fixture(name: string, random: Random): Fixture {
  const make = FIXTURES[name];
  assert.ok(make);
  return { name, ...make(random) };
}

/** Where secrets turn up in gateway traffic: prose, .env files, curl lines, JSON strings. */
const PLACEMENTS: Record<string, (snippet: string) => string> = {
  prose: (snippet) => `Sure, here it is: ${snippet} — keep it safe.`,
  env: (snippet) => `# service config\nLOG_LEVEL=debug\n${snippet}\nREGION=eu-west-1\n`,
  curl: (snippet) => `curl -sS -H "X-Trace: 1" --data '${snippet}' https://api.example.com/v1/runs`,
  json: (snippet) => JSON.stringify({ type: "ai", content: `use ${snippet} now`, id: "run-3b1f2a9c" }),
};

/** The value as it appears once placed (JSON escapes the newlines of a PEM block). */
function placedValue(placement: string, value: string): string {
  return placement === "json" ? JSON.stringify(value).slice(1, -1) : value;
}

function assertReported(text: string, fixture: Fixture, value = fixture.value): void {
  const start = text.indexOf(value);
  assert.notEqual(start, -1);
  const findings = findingsOf(detector(fixture.detector), text);
  const hit = findings.find((finding) => finding.start === start && finding.end === start + value.length);
  assert.ok(hit, `${fixture.name}: expected ${JSON.stringify(value)} in ${JSON.stringify(text)}, got ${JSON.stringify(findings.map((f) => text.slice(f.start, f.end)))}`);
  assert.equal(hit.entity, fixture.entity);
  assert.ok(hit.score >= MASK_THRESHOLD, `${fixture.name}: score ${hit.score}`);
}

// --- Negatives. ---

const uuid = (random: Random): string => {
  const hex = pick(random, HEX, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
};

const NEGATIVES: readonly string[] = [
  // Known fakes and low-entropy look-alikes.
  "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
  "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  "AKIAAAAAAAAAAAAAAAAA",
  "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  "ghp_000000000000000000000000000000000000",
  "glpat-xxxxxxxxxxxxxxxxxxxx",
  "sk_live_000000000000000000000000",
  "AIzaAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "npm_000000000000000000000000000000000000",
  "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
  "xoxp-1234567890",
  "xoxb-xoxb-my-bot-token",
  "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
  "sk-ant-api03-tooShort-AA",
  // Look-alikes of the newer families: prose about flags, prompts, ordinary cookies, times and ids.
  "Use the --password flag, or --password-file to read it from disk.",
  "mysql -u root -p app",
  "mysql -u root -p $MYSQL_PASSWORD",
  "ls -pla /tmp && grep -pattern x",
  "Cookie: theme=dark; lang=en-GB; _ga=GA1.2.123456789.1700000000",
  "Cookie: sessionid=; csrftoken=${CSRF}",
  "build 20241122:AAA done; at 12345:AB and 10:30:45",
  "SG.example.com and SG.short.key",
  // Publishable Stripe keys are public.
  "pk_live_51H8aBcDeFgHiJkLmNoPqRsTu",
  "pk_test_TYooMQauvdEDq54NiTphI7jx",
  // Ordinary JSON and configuration.
  '{"api_version": "2024-01-01", "token_count": 1234567890, "key": "messages", "max_tokens": 4096}',
  "token_count=1234567890",
  "password=changeme",
  "password=${DB_PASSWORD}",
  'password = "%(db_password)s"',
  "DB_PASSWORD=%DB_PASSWORD%",
  'DB_PASSWORD="${DB_PASSWORD}"',
  "api_key: <your-api-key>",
  "OPENAI_API_KEY=YOUR_OPENAI_API_KEY_HERE",
  '"api_key": "[REDACTED:OPENAI_API_KEY]"',
  '"token": "[REDACTED]"',
  // Placeholders the masker itself writes (masking.md §4) must not be masked again.
  'api_key = "[REDACTED:GITHUB_TOKEN]" secret: <EMAIL_ADDRESS_1> password=<EMAIL_ADDRESS:9f2c41ab>',
  "Authorization: Bearer [REDACTED:AUTHORIZATION_HEADER]",
  '"secret": "{{ vault_secret }}"',
  '"password": "xxxxxxxxxxxxxxxx"',
  '"password": "****************"',
  '"auth_mode": "oidc", "author": "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"',
  '"monkey": "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"',
  '"next_page_token": "CiAKGjBpNDd2Nmp4Zmt6bHZ0cW1wYnpq"',
  '"public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9xVb2"',
  '"token_type": "Bearer", "expires_in": 3599',
  `"key": "${uuid(seededRandom(1))}"`,
  "client_vpn_endpoint_id = aws_ec2_client_vpn_endpoint.client-vpn-endpoint.id",
  "std::string key::value = x; a == b; c != d; secret <= limit",
  // Words after Bearer and Basic.
  "Send the Bearer token in the Authorization header.",
  "Bearer <token>",
  'curl -H "Authorization: Bearer $TOKEN" https://api.example.com',
  "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
  "Basic information about the account.",
  "basic authentication is enabled",
  "Authorization: Basic aGVsbG8gd29ybGQ=", // "hello world": no user:pass
  // URLs without credentials, or with documentation ones.
  "https://example.com:8080/path?query=1#frag",
  "postgres://user:password@localhost:5432/app",
  "see https://user@example.com and mailto:someone@example.com",
  // Keys that are not private, and JWT look-alikes.
  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
  "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
  `${base64url({ typ: "JWT" })}.${base64url({ sub: "1" })}.c2lnbmF0dXJl`,
  `${base64url({ alg: "HS256" })}.${base64url({ sub: "1" })}.`,
  `${base64url({ alg: "HS256" })}.bm90IGpzb24.c2lnbmF0dXJl`,
  Buffer.from('{"messages": [{"role": "user", "content": "hello"}]}').toString("base64"),
];

/** PII-free machine JSON shaped like LangGraph state: UUIDs, timestamps, digests, blobs, versions. */
function machineJson(random: Random, size: number): string {
  const parts: string[] = [];
  let length = 0;
  const words = "the agent searched the weather in paris and summarised three documents for the user today".split(" ");
  const prose = (count: number): string => Array.from({ length: count }, () => oneOf(random, words)).join(" ");
  while (length < size) {
    const ts = new Date(1_700_000_000_000 + Math.floor(random() * 1e10)).toISOString();
    const state = {
      thread_id: uuid(random), run_id: uuid(random), assistant_id: uuid(random), created_at: ts,
      checkpoint: { checkpoint_ns: "", checkpoint_id: uuid(random), ts, channel_versions: { __start__: `00000000000000000000000000000002.0.${pick(random, DIGITS, 16)}` } },
      metadata: { source: "loop", step: Math.floor(random() * 20), langgraph_node: "agent", api_version: "2024-01-01", version: `1.${Math.floor(random() * 9)}.${Math.floor(random() * 30)}` },
      values: {
        messages: [
          { type: "human", content: prose(12), id: uuid(random) },
          {
            type: "ai", content: prose(25), id: `run-${uuid(random)}`,
            tool_calls: [{ name: "search", args: { query: prose(4) }, id: `call_${pick(random, ALNUM, 24)}` }],
            response_metadata: { token_usage: { completion_tokens: 12, prompt_tokens: 120, total_tokens: 132 }, model_name: "gpt-4o-2024-08-06", system_fingerprint: `fp_${pick(random, HEX, 10)}` },
            usage_metadata: { input_tokens: 120, output_tokens: 12, total_tokens: 132 },
          },
        ],
      },
      store: { namespace: ["users", "prefs"], key: uuid(random), value: { sha256: createHash("sha256").update(pick(random, ALNUM, 8)).digest("hex"), commit: pick(random, HEX, 40) } },
      blob: Buffer.from(pick(random, ALNUM, 96)).toString("base64"),
      attachment: pick(random, BASE64, 120) + "==",
      token_count: Math.floor(random() * 1e10), key: "value", max_tokens: 1024, auth_mode: "oidc",
    };
    const json = JSON.stringify(state, null, 1);
    parts.push(json);
    length += json.length;
  }
  return `[${parts.join(",")}]`;
}

// --- Tests. ---

describe(`secret detectors (seed ${SEED.toString(16)})`, () => {
  test("are tier-1 detectors named after gitleaks rules, one per entity", () => {
    assert.deepEqual(detectors.map((subject) => subject.id), [
      "aws-access-token", "github-pat", "gitlab-pat", "slack-token", "slack-webhook-url", "stripe-access-token", "openai-api-key",
      "anthropic-api-key", "gcp-api-key", "npm-access-token", "huggingface-access-token", "sendgrid-api-token", "aws-secret-access-key", "jwt",
      "private-key", "authorization-header", "url-credentials", "generic-api-key", "telegram-bot-api-token", "http-cookie", "cli-password",
    ]);
    assert.deepEqual(detectors.flatMap((subject) => subject.entities), [
      "AWS_ACCESS_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "SLACK_WEBHOOK", "STRIPE_KEY", "OPENAI_API_KEY",
      "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "NPM_TOKEN", "HUGGINGFACE_TOKEN", "SENDGRID_API_KEY", "AWS_SECRET_KEY", "JSON_WEB_TOKEN",
      "PRIVATE_KEY", "AUTHORIZATION_HEADER", "URL_CREDENTIALS", "GENERIC_SECRET", "TELEGRAM_BOT_TOKEN", "HTTP_COOKIE", "PASSWORD",
    ]);
    for (const subject of detectors) assert.ok(subject.maxLength > 0 && subject.maxLength <= 8192, subject.id);
  });

  describe("report random tokens of every format", () => {
    for (const name of Object.keys(FIXTURES)) {
      test(name, () => {
        const random = seededRandom(SEED ^ name.length);
        for (let i = 0; i < 100; i++) {
          const sample = fixture(name, random);
          assertReported(sample.snippet, sample);
        }
        for (const [placement, place] of Object.entries(PLACEMENTS)) {
          const sample = fixture(name, random);
          assertReported(place(sample.snippet), sample, placedValue(placement, sample.value));
        }
      });
    }
  });

  test("mask nothing in known fakes, public keys, placeholders and look-alikes", () => {
    for (const text of NEGATIVES) assert.deepEqual(masked(text).map((finding) => `${finding.entity} ${text.slice(finding.start, finding.end)}`), [], text);
  });

  test("a value blanked out with x, * or . is a placeholder; a random value that holds one such run is not", () => {
    for (const text of ["api_key=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", "password: ********", "Cookie: sessionid=XXXXXXXXXXXXXXXXXXXXXXXX", "token=AKIAXXXXXXXXXXXXXXXX"]) {
      assert.deepEqual(masked(text).map((finding) => text.slice(finding.start, finding.end)), [], text);
    }
    const cookie = "Cookie: lang=en-GB; sessionid=s%3A01XXXXwN1EUD7gWAovZ1shC2gn6dTkmQ.J2x9Lk3mN8pQ";
    assert.deepEqual(masked(cookie).map((finding) => finding.entity), ["HTTP_COOKIE"]);
    assert.deepEqual(masked("webhook_secret=wra4OUiDxxxxbbOUc0WiFdJBNvXkMnT8wFwAHU7P").map((finding) => finding.entity), ["GENERIC_SECRET"]);
  });

  test("letters joined by dots are words only in one case or camelCase: random mixed case is a secret", () => {
    assert.deepEqual(masked('auth_token := "jJoWWeEbUd.EeV.RhgS"').map((finding) => finding.entity), ["GENERIC_SECRET"]);
    for (const text of ['config_secret = "config.prod.json"', 'api_key = "read-write-admin"', 'secret_name = "myApp.prodConfig"']) {
      assert.deepEqual(masked(text), [], text);
    }
  });

  test("mask nothing in 10,000 UUIDs, digests, git SHAs, base64 blobs and versions", () => {
    const random = seededRandom(SEED);
    for (let i = 0; i < 10_000; i++) {
      const text = oneOf(random, [
        () => uuid(random),
        () => createHash("sha256").update(pick(random, ALNUM, 12)).digest("hex"),
        () => `commit ${pick(random, HEX, 40)}`,
        () => pick(random, BASE64, 40 + Math.floor(random() * 200)),
        () => Buffer.from(`The meeting is at ${pick(random, DIGITS, 2)}:00 in room ${pick(random, UPPER, 1)}.`).toString("base64"),
        () => `v${Math.floor(random() * 9)}.${Math.floor(random() * 40)}.${Math.floor(random() * 99)}-rc.${Math.floor(random() * 9)}`,
        () => `"id": "${pick(random, ALNUM, 32)}", "sha": "${pick(random, HEX, 64)}"`,
      ])();
      assert.deepEqual(masked(text), [], text);
    }
  });

  test("mask nothing in LangGraph-shaped machine JSON", () => {
    const text = machineJson(seededRandom(SEED), 300_000);
    assert.deepEqual(masked(text).map((finding) => text.slice(finding.start - 20, finding.end)), []);
  });

  describe("report the credential, not its framing", () => {
    test("Bearer and Basic: the credential after the scheme word", () => {
      const text = 'curl -H "Authorization: Bearer Zm9vYmFy0123456789abcDEF" -H "Proxy-Authorization: Basic dXNlcjpwYXNzd29yZDEyMw=="';
      assert.deepEqual(findingsOf(detector("authorization-header"), text).map((f) => [f.detector, text.slice(f.start, f.end)]), [
        ["bearer-token", "Zm9vYmFy0123456789abcDEF"],
        ["basic-auth-header", "dXNlcjpwYXNzd29yZDEyMw=="],
      ]);
    });

    test("URL credentials: the password only, also with an empty user", () => {
      const text = "REDIS_URL=redis://:p4ss-W0rd!@cache.internal:6379/0 and amqp://guest:Gu3st!pw@[::1]:5672";
      assert.deepEqual(findingsOf(detector("url-credentials"), text).map((f) => text.slice(f.start, f.end)), ["p4ss-W0rd!", "Gu3st!pw"]);
    });

    test("generic secrets: the value, in escaped JSON too", () => {
      const text = String.raw`{\"password\":\"Tr0ub4dor&3xyzzy\"} and passwd = 'hunter2-is-weak!9X'`;
      assert.deepEqual(findingsOf(detector("generic-api-key"), text).map((f) => [text.slice(f.start, f.end), f.score]), [
        ["Tr0ub4dor&3xyzzy", 0.85],
        ["hunter2-is-weak!9X", 0.85],
      ]);
    });

    test("JWT: the whole token, and a full stop after it is not part of it", () => {
      const jwt = `${base64url({ alg: "RS256", kid: "k1" })}.${base64url({ sub: "42" })}.${"Ab0_-".repeat(20)}`;
      const text = `token=${jwt}.`;
      assert.deepEqual(findingsOf(detector("jwt"), text).map((f) => text.slice(f.start, f.end)), [jwt]);
    });

    test("private keys: the whole block, armour included; a truncated block up to where it stops", () => {
      const text = `key:\n${ecSec1}\nthen ${ecPkcs8.slice(0, 120)}"}`;
      const found = findingsOf(detector("private-key"), text).map((f) => [text.slice(f.start, f.end), f.score]);
      assert.deepEqual(found, [
        [ecSec1.trim(), 1],
        [ecPkcs8.slice(0, 120).trim(), 0.9],
      ]);
    });

    test("AWS secret keys only near an AWS keyword or key id", () => {
      const secret = "kT9fE2rW8yQ3zX5vB7nM1aS4dF6gH0jK+L/pO2iU";
      assert.equal(findingsOf(detector("aws-secret-access-key"), `checksum ${secret}`).length, 0);
      assert.equal(findingsOf(detector("aws-secret-access-key"), `aws_secret_access_key=${secret}`).length, 1);
      assert.equal(findingsOf(detector("aws-secret-access-key"), `AKIAQ7RZ3MNCXWLT4HBD ${secret}`).length, 1);
      assert.equal(findingsOf(detector("aws-secret-access-key"), `AKIAQ7RZ3MNCXWLT4HBD ${" ".repeat(200)}${secret}`).length, 0);
      assert.equal(findingsOf(detector("aws-secret-access-key"), `aws_secret_access_key=${secret}x`).length, 0); // 41 characters
    });
  });

  describe("streaming openCandidate", () => {
    const withAll = (text: string): Array<[string, boolean]> =>
      detectors.flatMap((subject) => {
        const candidate = subject.openCandidate(text);
        return candidate ? [[`${subject.id}@${text.length - candidate.start}`, candidate.strong] as [string, boolean]] : [];
      });

    test("holds partial prefixes: weak while word-like, strong once distinctive", () => {
      const cases: Array<[string, string, boolean]> = [
        ["g", "github-pat@1", false],
        ["gh", "github-pat@2", false],
        ["ghp", "github-pat@3", false],
        ["ghp_", "github-pat@4", true],
        ["ghp_Ab3", "github-pat@7", true],
        ["glpat-", "gitlab-pat@6", true],
        ["xoxb-", "slack-token@5", true],
        ["sk-a", "anthropic-api-key@4", false],
        ["sk-ant-", "anthropic-api-key@7", true],
        ["AKIA", "aws-access-token@4", false],
        ["AKIAQ7", "aws-access-token@6", true],
        ["-----BEG", "private-key@8", false],
        ["-----BEGIN", "private-key@10", true],
        ["-----BEGIN RSA PRIV", "private-key@19", true],
        ["eyJ", "jwt@3", true],
        ["eyJhbGciOi", "jwt@10", true],
        ["Bear", "authorization-header@4", false],
        ["Bearer ", "authorization-header@0", true],
        ["Bearer abc", "authorization-header@3", true],
        ["postgres://user:", "url-credentials@0", true],
        ["postgres://user:hun", "url-credentials@3", true],
        ["password", "generic-api-key@8", false],
        ['api_key = "', "generic-api-key@11", false],
        ['api_key = "abc', "generic-api-key@3", true],
      ];
      for (const [tail, expected, strong] of cases) {
        const held = withAll(`Here you go: ${tail}`).find(([id]) => id.startsWith(expected.split("@")[0] as string));
        assert.deepEqual(held, [expected, strong], tail);
      }
    });

    test("holds nothing after finished prose or a finished token", () => {
      assert.deepEqual(withAll("The weather in Paris is sunny today."), []);
      assert.deepEqual(withAll(`token ghp_${"aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5"} done.`), []);
    });

    test("holds a private key until its END line, and decides at the 8 KiB cap", () => {
      const key = detector("private-key");
      const block = ecPkcs8.trim();
      const cut = block.length - 10;
      assert.deepEqual(key.openCandidate(`x ${block.slice(0, cut)}`), { start: 2, strong: true });
      assert.equal(key.openCandidate(`x ${block}`), undefined);
      const endless = `-----BEGIN RSA PRIVATE KEY-----\n${"QUFB".repeat(2100)}`;
      assert.equal(key.openCandidate(endless), undefined);
      assert.deepEqual(findingsOf(key, endless).map((f) => [f.start, f.end]), [[0, 8192]]);
    });

    test("looks only at the end of the text", () => {
      const text = `ghp_${"aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5"} ${"lorem ipsum ".repeat(2000)}`;
      for (const subject of detectors) assert.equal(subject.openCandidate(text), undefined, subject.id);
    });

    test("keeps every finding settled at every split offset (types.ts contract)", () => {
      const random = seededRandom(SEED + 1);
      const texts: string[] = [];
      for (const name of Object.keys(FIXTURES)) {
        for (const place of Object.values(PLACEMENTS)) texts.push(place(fixture(name, random).snippet));
      }
      texts.push(...NEGATIVES.slice(0, 20));
      texts.push(
        // Adjacent, nested and truncated candidates.
        `${fixture("JWT (HS256)", random).snippet}.${fixture("JWT (HS256)", random).snippet}`,
        `eyJ.eyJ.eyJ. ${base64url({ alg: "none" })}.${base64url({ a: 1 })}.${base64url({ alg: "none" })}`,
        // A JWT whose payload also reads as a JWT header: the inner candidate is open inside a settled token.
        `${base64url({ alg: "HS256" })}.${base64url({ alg: "HS256", sub: "1" })}.${base64url({ sub: "2" })}.${pick(random, URLSAFE, 6)}`,
        `${ecPkcs8.slice(0, 90)}\n${ecSec1}`,
        `AKIA${pick(random, BASE32, 16)}\n${pick(random, BASE64, 40)}\n${pick(random, BASE64, 41)}`,
        `password=${pick(random, ALNUM, 30)}=token=${pick(random, ALNUM, 30)} api_key:${pick(random, ALNUM, 151)}`,
        `Bearer ${pick(random, ALNUM, 40)} Bearer Bearer x Basic ${Buffer.from("a:bcdefgh").toString("base64")}=`,
        `https://a:b@c https://a:b:c@d:e@f s3://x:@y ${"xoxb-1-".repeat(3)}${pick(random, ALNUM, 12)}`,
      );
      for (const text of texts) {
        for (const subject of detectors) {
          const whole = findingsOf(subject, text);
          for (let k = 0; k <= text.length; k++) {
            const prefix = text.slice(0, k);
            const candidate = subject.openCandidate(prefix);
            const held = candidate?.start ?? k;
            const where = `${subject.id} at ${k} of ${JSON.stringify(text)}`;
            assert.ok(held >= k - subject.maxLength - 80, `${where}: holds ${k - held} characters`);
            const settledWhole = whole.filter((finding) => finding.start < held);
            const settledPrefix = findingsOf(subject, prefix).filter((finding) => finding.start < held);
            assert.deepEqual(settledPrefix, settledWhole, where);
            for (const finding of settledWhole) assert.ok(finding.end <= held, `${where}: ${JSON.stringify(finding)} crosses ${held}`);
          }
        }
      }
    });
  });

  test("finish hostile inputs quickly (ReDoS guard, not a speed test)", () => {
    const random = seededRandom(SEED + 2);
    const size = 200_000;
    const repeat = (unit: string): string => unit.repeat(Math.ceil(size / unit.length));
    const hostile = [
      pick(random, BASE64, size),
      pick(random, URLSAFE + ".", size),
      repeat("-"),
      repeat("="),
      repeat(":"),
      repeat("eyJ."),
      `eyJ${"a".repeat(size)}`,
      repeat(`eyJ${"a".repeat(3000)}.`),
      repeat("-----BEGIN"),
      repeat("-----BEGIN RSA PRIVATE KEY-----\n"),
      repeat("password="),
      repeat(`password=${"a1".repeat(80)} `),
      repeat('"api_key": "'),
      repeat("Bearer "),
      `Bearer ${"A".repeat(size)}`,
      repeat("://"),
      repeat("a://b:"),
      repeat("xoxb-1-"),
      repeat("sk-ant-"),
      repeat("AKIA"),
      repeat("aws_secret "),
      pick(random, DIGITS + "@.-_ ", size),
    ];
    const started = performance.now();
    for (const text of hostile) {
      for (const subject of detectors) {
        subject.find(text, []);
        subject.openCandidate(text);
        subject.openCandidate(text.slice(0, size / 2 + 7));
      }
    }
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 2000, `hostile inputs took ${elapsed.toFixed(0)} ms`);
  });
});
