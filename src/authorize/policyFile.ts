// The policy file's schema: the single source for validation, defaults, the TypeScript type and
// the published JSON Schema (schema/portcullis.policy.schema.json).
import { z } from "zod";
import { isActionPattern } from "./actions.js";

const ruleId = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,99}$/, "lowercase letters, digits, '.', '_', ':' or '-', at most 100");

const subjects = z
  .union([
    z.literal("*").describe("Every identified caller"),
    z
      .strictObject({
        users: z.array(z.string().min(1)).optional().describe("Exact subjects, e.g. oidc:corp:alice or saml:okta:alice@example.com"),
        groups: z.array(z.string().min(1)).optional().describe("Groups or roles from the IdP or the service account"),
        service_accounts: z.array(z.string().min(1)).optional().describe("Service account ids (subjects sa:<id>)"),
      })
      .refine((s) => (s.users?.length ?? 0) + (s.groups?.length ?? 0) + (s.service_accounts?.length ?? 0) > 0, "name at least one user, group or service account, or use \"*\""),
  ])
  .describe("Who the rule applies to: anyone matching one of the lists");

const namespacePattern = z
  .array(z.string().min(1))
  .min(1)
  .describe("Store namespace prefix, one entry per level; '*' matches any one level, '{subject}' the caller's subject as a level (':' and '.' percent-encoded, since LangGraph refuses them: sa:ci-bot → sa%3Aci-bot)");

const resources = z
  .strictObject({
    graphs: z.array(z.string().min(1)).optional().describe("Graph ids; an assistant id, given as a graph name or a UUID, is resolved to its graph"),
    assistants: z.array(z.string().min(1)).optional().describe("Assistant ids (UUIDs) or graph names"),
    namespaces: z.array(namespacePattern).optional().describe("Store namespaces the rule covers"),
    egress_routes: z.array(z.string().min(1)).optional().describe("Egress routes (egress.routes in the config) an egress:call rule covers; '*' for any"),
    tools: z
      .array(z.string().min(1))
      .optional()
      .describe("MCP tools an egress:call rule covers on routes with protocol: mcp ('*' for any): a tools/call matches when its tool is listed, the handshake and tools/list whatever the list; a call on any other route never matches"),
  })
  .describe("What the rule applies to; an omitted list means any. A request without that resource (e.g. a search across graphs) matches only rules without the list");

const approval = z
  .strictObject({
    approver_groups: z.array(z.string().min(1)).min(1).describe("Groups whose members may approve"),
    approvals: z.number().int().min(1).max(10).default(1).describe("How many different approvers must allow"),
    expires_after_s: z.number().int().min(5).max(7 * 86_400).default(3_600).describe("A pending request is refused after this long (and an approved one must be used within this long)"),
    justification: z
      .enum(["required", "optional"])
      .default("optional")
      .describe("'required': a request without a Portcullis-Justification header is refused (428) before approvers are asked"),
    max_window_s: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(3_600)
      .describe("Longest time-boxed grant an approver may give (this requester, this rule, these graphs); 0 allows approving once only"),
    break_glass_groups: z
      .array(z.string().min(1))
      .default([])
      .describe("Groups whose members go ahead without approval: each such request needs a justification, is flagged in the record and raises an alert"),
  })
  .describe("For effect require-approval: who approves and how");

const rule = z
  .strictObject({
    id: ruleId.describe("Stable name, recorded with every decision it makes"),
    description: z.string().optional(),
    effect: z.enum(["allow", "deny", "require-approval"]),
    subjects,
    actions: z
      .array(
        z.string().superRefine((pattern, ctx) => {
          if (!isActionPattern(pattern)) ctx.addIssue({ code: "custom", message: `unknown action '${pattern.slice(0, 64)}' (docs/policy.md lists them; or use 'resource:*' or '*')` });
        }),
      )
      .min(1),
    resources: resources.optional(),
    scope: z
      .enum(["own", "tenant", "any"])
      .default("own")
      .describe("Whose threads the rule reaches: the caller's own (default), their tenant's, or anyone's. Applies to thread-scoped requests and to thread search and count"),
    when: z.string().min(1).optional().describe("CEL condition over identity, request, body, resource and now; the rule applies only when it is true"),
    approval: approval.optional(),
  })
  .refine((r) => r.effect !== "require-approval" || r.approval !== undefined, { message: "a require-approval rule needs 'approval' (approver_groups)", path: ["approval"] })
  .refine((r) => r.effect !== "require-approval" || !r.actions.some((action) => action.startsWith("egress:")), {
    message: "egress calls cannot wait for approval (graph code is waiting on them); allow or deny egress:call",
    path: ["actions"],
  });

const rateLimit = z.strictObject({
  id: ruleId,
  subjects,
  requests_per_second: z.number().positive().max(100_000).describe("Sustained rate, per identity"),
  burst: z.number().int().min(1).max(100_000).describe("Requests allowed at once before the rate applies"),
});

export const policySchema = z.strictObject({
  version: z.literal(1),
  rules: z.array(rule).describe("Evaluated together, deny by default: a matching deny wins, then require-approval, then allow"),
  ownership: z
    .strictObject({
      tenant: z
        .string()
        .min(1)
        .optional()
        .describe("CEL expression giving the caller's tenant as a string, e.g. identity.claims.org_id; when set, a caller without a tenant is refused"),
    })
    .default({}),
  run_body: z
    .strictObject({
      webhook_destinations: z
        .array(z.url())
        .default([])
        .describe("URL prefixes a run's webhook may call (origin and path prefix); any other webhook is removed from the run, and the removal recorded"),
      remove_configurable_keys: z
        .array(z.string().min(1))
        .default(["langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions"])
        .describe("Keys removed from config.configurable and context: they would let a client impersonate an identity to graph code (langgraph-api.md §2)"),
      pause_before: z
        .array(
          z.strictObject({
            graphs: z.array(z.string().min(1)).optional().describe("Graphs whose runs pause; omitted: every graph"),
            nodes: z.array(z.string().min(1)).min(1).describe("Nodes to pause before, e.g. the tool node [tools]"),
          }),
        )
        .default([])
        .describe("Tool-level approvals: interrupt_before is added to every run of these graphs, so the run stops before the nodes with the pending tool calls; continuing it (input null: runs:continue) then needs whatever the policy says, e.g. approval"),
    })
    .default({ webhook_destinations: [], remove_configurable_keys: ["langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions"], pause_before: [] }),
  rate_limits: z.array(rateLimit).default([]).describe("Token buckets per identity; the first entry whose subjects match applies"),
  masking: z
    .strictObject({
      clear_responses_for: subjects
        .optional()
        .describe("Callers who receive responses with PII in clear (each such response is recorded as clear); everyone else receives masked values. Stored copies are always masked"),
      requests: z
        .enum(["forward", "mask", "tokenize"])
        .default("tokenize")
        .describe("'tokenize' (the default) replaces each detected value LangGraph would receive by a typed token stable within its thread (<EMAIL_ADDRESS_7f3a9c2e>), keeping the original in the gateway's encrypted vault; 'mask' masks request inputs irreversibly (the graph then works on placeholders); 'forward' passes them as sent (the graph sees every value). Secrets are always redacted, never tokenised. Stored copies are always masked"),
      restore_for: z
        .union([
          z.enum(["owner", "nobody"]),
          z.strictObject({
            owner: z.boolean().default(true).describe("Whether the thread's owner and each value's sender still get their own values back"),
            subjects: subjects.describe("Callers who get every token of a thread they may read turned back into its value"),
          }),
        ])
        .default("owner")
        .describe("Who gets originals back in place of tokens in responses (requests: tokenize): 'owner' (the thread's owner and each value's sender, their own values), 'nobody', or { subjects, owner }. Recordings always keep the tokens"),
    })
    .default({ requests: "tokenize", restore_for: "owner" })
    .describe("Where masking applies beyond stored data (always masked)"),
});

export type PolicyDocument = z.output<typeof policySchema>;
export type PolicyRule = PolicyDocument["rules"][number];
export type PolicySubjects = PolicyRule["subjects"];
export type RateLimitRule = PolicyDocument["rate_limits"][number];

export function policyJsonSchema(): object {
  return z.toJSONSchema(policySchema, { io: "input" });
}
