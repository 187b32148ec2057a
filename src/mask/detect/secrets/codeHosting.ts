// Source-hosting and package-registry tokens: GitHub, GitLab, npm, Hugging Face.
import { ALNUM, LETTER, URLSAFE, WORD } from "../lexer.js";
import { exactly, type TokenFamily } from "./tokens.js";

export const GITHUB_TOKENS: TokenFamily = {
  detector: "github-pat",
  entity: "GITHUB_TOKEN",
  formats: [
    { rule: "github-pat", anchor: "gh", prefixes: ["ghp_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
    { rule: "github-oauth", anchor: "gh", prefixes: ["gho_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
    { rule: "github-app-token", anchor: "gh", prefixes: ["ghu_", "ghs_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
    { rule: "github-refresh-token", anchor: "gh", prefixes: ["ghr_"], body: [exactly(ALNUM, 36)], minEntropy: 3, strongAt: 4 },
    { rule: "github-fine-grained-pat", anchor: "_pat_", prefixes: ["github_pat_"], body: [exactly(WORD, 82)], minEntropy: 3, strongAt: 11 },
  ],
};

export const GITLAB_TOKENS: TokenFamily = {
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
};

export const NPM_TOKENS: TokenFamily = {
  detector: "npm-access-token",
  entity: "NPM_TOKEN",
  formats: [{ rule: "npm-access-token", anchor: "m_", prefixes: ["npm_"], body: [exactly(ALNUM, 36)], after: ALNUM, minEntropy: 3, strongAt: 8 }],
};

export const HUGGINGFACE_TOKENS: TokenFamily = {
  detector: "huggingface-access-token",
  entity: "HUGGINGFACE_TOKEN",
  formats: [{ rule: "huggingface-access-token", anchor: "hf_", prefixes: ["hf_"], body: [exactly(LETTER, 34)], after: ALNUM, minEntropy: 3, strongAt: 9 }],
};
