// The egress config section: named routes through which the LangGraph runtime reaches outside
// services (model providers, tool APIs) while Portcullis holds their credentials.
import { z } from "zod";
import { secretSource } from "./secrets.js";

const EGRESS_ROUTE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name")
  .transform((name) => name.toLowerCase());

// One path pattern: literal segments, '*' for exactly one segment, a final '**' for any rest.
const pathPattern = z
  .string()
  .regex(/^\/[A-Za-z0-9._~!$&'()+,;=:@%/*-]*$/, "must start with '/' and hold only path characters and '*'")
  .refine((pattern) => !pattern.split("/").some((segment) => segment === "." || segment === ".."), "may not contain '.' or '..' segments")
  .refine((pattern) => pattern.split("/").every((segment, index, all) => segment !== "**" || index === all.length - 1), "'**' may only be the last segment")
  .refine((pattern) => pattern.split("/").every((segment) => !segment.includes("*") || segment === "*" || segment === "**"), "'*' must be a whole segment");

const credential = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("bearer"), secret: secretSource }).describe("Authorization: Bearer <secret> (OpenAI and most APIs)"),
    z
      .strictObject({ type: z.literal("header"), header: headerName, prefix: z.string().regex(/^[\x20-\x7e]*$/).default(""), secret: secretSource })
      .describe("<header>: <prefix><secret>, e.g. x-api-key (Anthropic), api-key (Azure OpenAI)"),
    z.strictObject({ type: z.literal("basic"), username: z.string().min(1).regex(/^[^:\r\n]+$/, "no ':' or line breaks"), secret: secretSource }).describe("Authorization: Basic base64(username:secret)"),
    z.strictObject({ type: z.literal("query"), parameter: z.string().min(1).regex(/^[A-Za-z0-9._~-]+$/), secret: secretSource }).describe("?<parameter>=<secret> appended to the downstream URL (e.g. Google's key=)"),
  ])
  .describe("The credential Portcullis adds to every call on this route; the runtime never holds it");

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

// Credentials, framing and what would steer a downstream's own routing: never forwardable.
const NEVER_FORWARDED = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-api-key",
  "api-key",
  "host",
  "content-length",
  "content-type",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "range",
  "if-range",
  "x-original-url",
  "x-rewrite-url",
  "x-forwarded-for",
  "x-forwarded-host",
  "forwarded",
];

const route = z
  .strictObject({
    url: z
      .url()
      .refine((url) => /^https?:$/.test(new URL(url).protocol), "must be an http(s) URL")
      .refine((url) => new URL(url).search === "" && new URL(url).hash === "", "may not have a query or fragment")
      .refine((url) => new URL(url).username === "" && new URL(url).password === "", "may not carry credentials; use 'credential'")
      .describe("Downstream base URL; /egress/<route>/<path> is sent to <url>/<path>"),
    credential: credential.optional(),
    protocol: z
      .enum(["http", "mcp", "a2a"])
      .default("http")
      .describe("'mcp' (an MCP server over streamable HTTP) or 'a2a' (an A2A agent, JSON-RPC): each call is one JSON-RPC message, authorised per message (an MCP tools/call by its tool: resources.tools in the policy); unknown methods are answered as JSON-RPC errors and not sent"),
    methods: z.array(z.enum(METHODS)).min(1).default(["POST"]).describe("HTTP methods allowed on this route; others are refused with 405"),
    paths: z
      .array(pathPattern)
      .min(1)
      .describe("Paths allowed below the base URL: literal segments, '*' for one segment, a final '**' for any rest, e.g. /v1/chat/completions or /v1/models/*"),
    masking: z
      .strictObject({
        requests: z.enum(["mask", "forward"]).default("mask").describe("'mask': PII and secrets in request bodies are redacted before they leave (the downstream sees the masked text)"),
        responses: z.enum(["mask", "clear"]).default("mask").describe("'mask': PII and secrets in downstream answers (and each streamed event) are redacted before the runtime sees them"),
      })
      .prefault({})
      .describe("What is masked on this route; what the ledger stores is always masked"),
    restore: z
      .array(z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, "must be an entity type such as EMAIL_ADDRESS"))
      .default([])
      .describe(
        "Entity types whose originals this route receives (a send-email tool: [EMAIL_ADDRESS]): in a call linked to a run (Portcullis-Run-Context), the vault's tokens of these types from the run's own thread and tenant are replaced by their values before the call leaves; counted in the call's record, while the recording keeps the tokens. Secrets are never restored. Empty (the default): the downstream gets the tokens",
      ),
    max_request_bytes: z.number().int().positive().default(4 * 1024 * 1024).describe("Largest request body accepted on this route"),
    max_response_bytes: z.number().int().positive().default(16 * 1024 * 1024).describe("Largest answer, streamed or not; a longer one is cut off with an error"),
    rate_limit: z
      .strictObject({
        requests_per_second: z.number().positive().max(100_000),
        burst: z.number().int().min(1).max(100_000),
      })
      .optional()
      .describe("Token bucket per caller on this route"),
    require_run_context: z.boolean().default(false).describe("Refuse calls that do not carry a run context (Portcullis-Run-Context), so every call is linked to a run and its user"),
    forward_headers: z
      .array(headerName)
      .default([])
      .refine((names) => names.every((name) => !NEVER_FORWARDED.includes(name)), { message: `may not include ${NEVER_FORWARDED.join(", ")}` })
      .describe("Client headers sent downstream besides the built-in set (accept, accept-language, user-agent, idempotency-key, OpenAI's and Anthropic's version and organisation headers, x-stainless-*); every other header is dropped"),
    connect_timeout_ms: z.number().int().positive().default(5_000),
    response_timeout_ms: z.number().int().positive().default(120_000).describe("Longest wait for the downstream's response headers"),
    idle_timeout_ms: z.number().int().positive().default(120_000).describe("Longest silence inside an answer (between streamed tokens) before the call is ended"),
  })
  .superRefine((value, ctx) => {
    const basePath = new URL(value.url).pathname;
    if (basePath.includes("/../") || basePath.endsWith("/..")) ctx.addIssue({ code: "custom", path: ["url"], message: "may not contain '..' segments" });
  });

export const egressSchema = z
  .strictObject({
    routes: z
      .record(z.string(), route)
      .default({})
      // Checked here rather than on the key schema, whose failures do not carry their message.
      .superRefine((routes, ctx) => {
        for (const name of Object.keys(routes)) {
          if (!EGRESS_ROUTE_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "route names: lowercase letters, digits, '_' or '-', at most 63" });
        }
      })
      .describe("Named routes, called as <gateway>/egress/<name>/<path> by a service account allowed egress:call on the route"),
    run_context: z
      .strictObject({
        ttl_s: z.number().int().min(60).max(7 * 86_400).default(4 * 3_600).describe("How long a run's context token links calls to it; calls from a run older than this are refused (raise it for longer runs)"),
        key: secretSource
          .optional()
          .describe("HMAC key (≥ 32 bytes) signing run-context tokens; set it when several gateways share a ledger. Absent: a key kept in the state directory"),
      })
      .prefault({}),
  })
  .prefault({})
  .describe("Egress: the LangGraph runtime calls outside services through Portcullis, which injects their credentials, applies policy and masking, and records every call");

export type EgressConfig = z.output<typeof egressSchema>;
export type EgressRouteConfig = EgressConfig["routes"][string];
export type EgressCredentialConfig = NonNullable<EgressRouteConfig["credential"]>;
