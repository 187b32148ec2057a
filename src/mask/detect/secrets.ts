// Secret detectors (masking.md §3 "Credentials"): prefixed tokens declared as data, structured
// credentials (JWT, PEM private keys, Authorization headers, URL passwords, session cookies) and
// keyword-gated secrets (AWS secret access keys, generic `password = …` assignments, command-line
// passwords). The families live in secrets/, over the rule machinery of secrets/rules.ts.
//
// Every rule is anchored on a literal that indexOf finds (the keyword prefilter of §3) and reads a
// bounded span around it with greedy, never-backtracking runs, so a scan is linear in the text
// (§8). One evaluator serves find() and the streaming openCandidate(): with `final` false it
// reports "open" as soon as it would need a character past the end of the text, and otherwise
// decides from characters that no continuation can change, which is the contract in types.ts.
// Entropy thresholds and rule ids follow gitleaks (config/gitleaks.toml). Nothing is verified
// live: offline structure checks only.
import { AWS_ACCESS_KEYS, awsSecretKeyDetector, GOOGLE_API_KEYS } from "./secrets/cloud.js";
import { GITHUB_TOKENS, GITLAB_TOKENS, HUGGINGFACE_TOKENS, NPM_TOKENS } from "./secrets/codeHosting.js";
import { cliPasswordRules } from "./secrets/commandLine.js";
import { genericSecretRule } from "./secrets/generic.js";
import { basicRules, bearerRules, cookieRule, urlCredentialsRule } from "./secrets/http.js";
import { jwtRule, privateKeyRule } from "./secrets/keys.js";
import { ruleDetector } from "./secrets/rules.js";
import { ANTHROPIC_KEYS, OPENAI_KEYS, SENDGRID_KEYS, SLACK_TOKENS, SLACK_WEBHOOKS, STRIPE_KEYS, telegramRule } from "./secrets/services.js";
import { tokenRule, type TokenFamily } from "./secrets/tokens.js";
import type { Detector, DetectorSettings } from "./types.js";

/** Prefixed tokens, one detector per family, in this order. */
const TOKEN_FAMILIES: readonly TokenFamily[] = [
  AWS_ACCESS_KEYS,
  GITHUB_TOKENS,
  GITLAB_TOKENS,
  SLACK_TOKENS,
  SLACK_WEBHOOKS,
  STRIPE_KEYS,
  OPENAI_KEYS,
  ANTHROPIC_KEYS,
  GOOGLE_API_KEYS,
  NPM_TOKENS,
  HUGGINGFACE_TOKENS,
  SENDGRID_KEYS,
];

/** Tier-1 secret detectors (masking.md §2): always on, so `settings` selects nothing here. */
export function secretDetectors(_settings: DetectorSettings): Detector[] {
  const tokenDetectors = TOKEN_FAMILIES.map((family) => ({
    family,
    rules: family.formats.map((format) => tokenRule(family.entity, format)),
  }));
  const awsKeyIdRules = tokenDetectors.find(({ family }) => family === AWS_ACCESS_KEYS)?.rules ?? [];
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
