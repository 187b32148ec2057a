// The configuration file's schema: the single source for validation, defaults, the generated
// JSON Schema (schema/portcullis.config.schema.json) and the TypeScript type.
import { z } from "zod";
import { notifySchema } from "./notify.js";
import { ACTIONS, BLOCKED_PREFIXES, ROUTES } from "../classify/index.js";
import { egressSchema } from "./egress.js";
import { isCidrOrAddress } from "./addresses.js";
import { secretSource } from "./secrets.js";

// Headers that carry client credentials, steer LangGraph's own auth, or frame the upstream
// request (the gateway sets those itself): never forwardable from clients.
const NEVER_FORWARDED_HEADERS = [
  // The gateway sets the trace context it forwards (src/observe/); a client's goes upstream only
  // as the parent of a trusted client's trace.
  "traceparent",
  "tracestate",
  "authorization",
  "x-api-key",
  "cookie",
  "x-auth-scheme",
  "proxy-authorization",
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "te",
  "upgrade",
  "expect",
  "portcullis-request-id",
  // The gateway's own approval headers (src/approve/): for Portcullis, never for LangGraph.
  "portcullis-approval-id",
  "portcullis-approval-execution",
  "portcullis-justification",
  // The egress run context (src/egress/runContext.ts) is the gateway's to add, never a client's.
  "x-portcullis-run-context",
  "portcullis-run-context",
];

// The JS server copies x-* headers into config.configurable, except these (langgraph-api.md §7);
// an upstream secret in any other x-* header would be visible to graphs and in run records.
const X_HEADERS_NOT_COPIED_UPSTREAM = ["x-api-key", "x-service-key", "x-tenant-id"];

const maskingOperator = z.enum(["redact", "partial", "pseudonym", "drop"]);

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name")
  .transform((name) => name.toLowerCase());

const serviceAccount = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "lowercase letters, digits, '.', '_' or '-', at most 63"),
  key_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, "must be the 64-hex-digit SHA-256 of the key (see `portcullis keys create`)")
    .describe("SHA-256 of the API key; the key itself is never stored"),
  owner: z.string().optional().describe("Person or team responsible for this account"),
  groups: z.array(z.string()).default([]),
  expires_at: z.iso.datetime({ offset: true }).optional().describe("After this instant the key is refused"),
});

const oidcIssuer = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "lowercase letters, digits, '.', '_' or '-', at most 63")
    .describe("Short name used in subjects: oidc:<id>:<sub>"),
  issuer: z.url().describe("Exact issuer URL, as in the tokens' iss claim and the discovery document"),
  audiences: z.array(z.string().min(1)).min(1).describe("Accepted aud values; a token must carry one of them"),
  algorithms: z
    .array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]))
    .min(1)
    .default(["RS256", "PS256", "ES256", "EdDSA"])
    .describe("Accepted signing algorithms; none and HMAC are never accepted"),
  jwks_uri: z.url().optional().describe("Overrides the jwks_uri from discovery"),
  groups_claim: z.string().default("groups").describe("Claim, or dotted path, holding the subject's groups or roles"),
  name_claim: z.string().default("name"),
  clock_skew_s: z.number().int().min(0).max(300).default(30),
  jwks_cooldown_ms: z
    .number()
    .int()
    .min(0)
    .default(30_000)
    .describe("An unknown kid refetches the JWKS at most once per this period, so random kids cannot flood the IdP"),
  introspection: z
    .strictObject({
      endpoint: z.url().optional().describe("Overrides the introspection_endpoint from discovery"),
      client_id: z.string().min(1).describe("The gateway's client at the IdP, allowed to introspect"),
      client_secret: secretSource,
      cache_ttl_s: z.number().int().min(0).max(300).default(60).describe("How long an active answer is reused (never past the token's exp); revocation takes up to this long to be seen"),
    })
    .optional()
    .describe("RFC 7662 introspection for opaque (non-JWT) access tokens from this issuer"),
});

const providerId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "lowercase letters, digits, '.', '_' or '-', at most 63")
  .describe("Short name used in URLs (/auth/login/<id>) and subjects");

const oidcLogin = z.strictObject({
  id: providerId.describe("Short name used in /auth/login/<id> and in subjects oidc:<id>:<sub>; use the id of the same issuer under identity.oidc so a person's bearer tokens and browser sessions share one subject"),
  display_name: z.string().optional().describe("Shown on the sign-in page"),
  issuer: z.url().describe("Exact issuer URL; discovered with OpenID Connect Discovery"),
  client_id: z.string().min(1),
  client_secret: secretSource.optional().describe("Confidential client secret (client_secret_basic); omit for a public client (PKCE only)"),
  scopes: z.array(z.string().min(1)).default(["openid", "profile", "email"]),
  groups_claim: z.string().default("groups").describe("ID-token or userinfo claim, or dotted path, holding groups or roles"),
  name_claim: z.string().default("name"),
});

const samlLogin = z.strictObject({
  id: providerId.describe("Short name used in /auth/login/<id>, the ACS URL and in subjects saml:<id>:<NameID>"),
  display_name: z.string().optional(),
  idp_metadata_file: z.string().optional().describe("The IdP's SAML metadata (EntityDescriptor): signing certificate and HTTP-Redirect SSO URL are read from it"),
  idp_sso_url: z.url().optional().describe("HTTP-Redirect SingleSignOnService URL, when no metadata file is given"),
  idp_certificate_file: z.string().optional().describe("PEM signing certificate of the IdP, when no metadata file is given"),
  idp_entity_id: z.string().optional().describe("Expected Issuer of responses; checked when set (read from metadata otherwise)"),
  sp_entity_id: z.string().optional().describe("This gateway's entity id (the assertion's Audience); default <public_url>/auth/saml/<id>/metadata"),
  groups_attribute: z.string().default("groups"),
  name_attribute: z.string().default("displayName"),
  clock_skew_s: z.number().int().min(0).max(300).default(60),
  max_assertion_age_s: z.number().int().min(30).max(86_400).default(300).describe("Assertions issued longer ago than this are refused"),
}).refine((saml) => Boolean(saml.idp_metadata_file) !== Boolean(saml.idp_sso_url && saml.idp_certificate_file), {
  message: "give either idp_metadata_file, or both idp_sso_url and idp_certificate_file",
});

// A route the Agent Server serves beyond LangGraph's API (langgraph.json `http.app`), declared so
// the gateway forwards it (docs/compatibility.md). Segments are literal or ":name".
const customRoute = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lowercase letters, digits, '_' or '-', at most 63")
    .describe("Names the route in records and metrics: the operation's route is custom.<id>"),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]),
  path: z
    .string()
    .regex(/^(\/(:[A-Za-z_][A-Za-z0-9_]{0,62}|[A-Za-z0-9._~!$&'()*+,;=@-]+))+$/, "a path of literal segments and :name segments, e.g. /reports/:report_id/export")
    .describe("Path pattern: literal segments and :name segments (one segment each); the query is not part of it"),
  action: z
    .enum(ACTIONS)
    .describe("The policy verb the route is authorised as, from the policy vocabulary (docs/policy.md), e.g. threads:read"),
  risk: z.enum(["read", "write", "execute", "steer-state"]).describe("Risk class, as recorded and as conditions see it"),
  body: z
    .enum(["forward", "mask", "refuse"])
    .default("forward")
    .describe("forward: the JSON body goes on as masking.requests says for every route; mask: LangGraph always receives it masked (never clear, never tokens); refuse: a request with a body is refused"),
});

/** Two patterns can match the same path: same length, and each segment pair equal or a ":name". */
function patternsOverlap(a: string, b: string): boolean {
  const left = a.slice(1).split("/");
  const right = b.slice(1).split("/");
  return left.length === right.length && left.every((segment, i) => segment === right[i] || segment.startsWith(":") || right[i]!.startsWith(":"));
}

const routesSchema = z
  .strictObject({
    custom: z.array(customRoute).default([]).describe("Routes beyond LangGraph's API that the gateway forwards; any other path is refused with 404 PC_UNKNOWN_ROUTE"),
  })
  .prefault({})
  .superRefine((routes, context) => {
    routes.custom.forEach((route, index) => {
      const at = (message: string) => context.addIssue({ code: "custom", path: ["custom", index, "path"], message });
      for (const blocked of BLOCKED_PREFIXES) {
        if (route.path === blocked.prefix || route.path.startsWith(`${blocked.prefix}/`)) at(`${route.path} is never forwarded: ${blocked.reason}`);
      }
      const builtIn = ROUTES.find((spec) => spec.method === route.method && patternsOverlap(spec.pattern, route.path));
      if (builtIn) at(`${route.method} ${route.path} overlaps LangGraph's ${builtIn.method} ${builtIn.pattern} (${builtIn.route}), which Portcullis classifies itself`);
      const earlier = routes.custom.slice(0, index).find((other) => other.id === route.id || (other.method === route.method && patternsOverlap(other.path, route.path)));
      if (earlier) at(earlier.id === route.id ? `the id ${route.id} is used twice` : `${route.method} ${route.path} overlaps the custom route ${earlier.id} (${earlier.method} ${earlier.path})`);
    });
  })
  .describe("Routes the gateway forwards besides LangGraph's own API (docs/compatibility.md)");

const browserLogin = z.strictObject({
  public_url: z
    .url()
    .refine((url) => new URL(url).pathname === "/" && !new URL(url).search, { message: "must be an origin, e.g. https://portcullis.example.com" })
    .describe("The gateway's address as browsers reach it: redirect and ACS URLs are built from it; https makes session cookies Secure (and __Host- prefixed)"),
  session: z
    .strictObject({
      idle_timeout_s: z.number().int().min(60).max(86_400).default(1_800).describe("A session unused this long ends"),
      absolute_timeout_s: z.number().int().min(300).max(30 * 86_400).default(12 * 3_600).describe("A session ends this long after sign-in, however active"),
      cross_site: z
        .boolean()
        .default(false)
        .describe("SameSite=None session cookies and credentialed CORS for cors.allow_origins, so a cross-site page (LangGraph Studio) can use the session; needs an https public_url"),
    })
    .prefault({}),
  oidc: z.array(oidcLogin).default([]),
  saml: z.array(samlLogin).default([]),
  api_access: z
    .boolean()
    .default(true)
    .describe("Browser sessions may call the LangGraph API through the gateway (LangGraph Studio); state-changing calls need the session's CSRF token or an allowed Origin"),
}).refine((login) => login.oidc.length + login.saml.length > 0, { message: "configure at least one oidc or saml sign-in provider" })
  .refine((login) => !login.session.cross_site || new URL(login.public_url).protocol === "https:", { message: "session.cross_site needs an https public_url (browsers drop SameSite=None cookies that are not Secure)" })
  .refine((login) => new Set([...login.oidc, ...login.saml].map((p) => p.id)).size === login.oidc.length + login.saml.length, { message: "sign-in provider ids must be unique" });

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(8080),
      tls: z
        .strictObject({
          cert_file: z.string().min(1).describe("PEM certificate chain (leaf first); reloaded when the file changes"),
          key_file: z.string().min(1).describe("PEM private key of the certificate (mode 0600 or stricter); reloaded with the certificate"),
          min_version: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2").describe("Oldest TLS version accepted"),
        })
        .optional()
        .describe("Serve HTTPS on the listener; without it the gateway speaks plain HTTP (TLS terminated in front of it)"),
      trusted_proxies: z
        .array(z.string().refine(isCidrOrAddress, "an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8"))
        .default([])
        .describe("Peers (load balancers) whose X-Forwarded-For / Forwarded headers are believed; from any other peer those headers are ignored and recorded as sent"),
      forwarded_header: z
        .enum(["x-forwarded-for", "forwarded"])
        .default("x-forwarded-for")
        .describe("The one header the trusted proxies write (the other is never believed: most balancers pass a client's own Forwarded through unchanged)"),
      timeouts: z
        .strictObject({
          headers_ms: z.number().int().min(1_000).max(120_000).default(10_000).describe("Time a client has to send the request line and headers (slow-header clients are cut off)"),
          request_ms: z.number().int().min(1_000).max(600_000).default(60_000).describe("Time a client has to send the whole request, body included (not the answer: streams may last longer)"),
          keep_alive_ms: z.number().int().min(1_000).max(600_000).default(5_000).describe("How long an idle keep-alive connection stays open between requests"),
        })
        .prefault({})
        .refine((t) => t.headers_ms <= t.request_ms, { message: "headers_ms cannot exceed request_ms (the headers are part of the request)" })
        .describe("Client-side timeouts of the listener"),
    })
    .prefault({}),
  upstream: z.strictObject({
    url: z.url().describe("Base URL of the LangGraph / Agent Server, reachable only from the gateway"),
    credential: z
      .strictObject({
        header: headerName
          .default("x-api-key")
          .refine((name) => !name.startsWith("x-") || X_HEADERS_NOT_COPIED_UPSTREAM.includes(name), {
            message: `an x-* header would be copied into the graph's config.configurable; use authorization, ${X_HEADERS_NOT_COPIED_UPSTREAM.join(", ")}, or a name not starting with x-`,
          }),
        scheme: z.enum(["none", "bearer"]).default("none").describe("'bearer' sends 'Authorization: Bearer <secret>'"),
        secret: secretSource,
      })
      .optional()
      .describe("Credential the gateway adds to every upstream request; clients never hold it"),
    forward_headers: z
      .array(headerName)
      .default([])
      .refine((names) => names.every((n) => !NEVER_FORWARDED_HEADERS.includes(n)), {
        message: `may not include ${NEVER_FORWARDED_HEADERS.join(", ")}`,
      })
      .describe("Client headers forwarded upstream besides the built-in safe set (JS copies x-* headers into config.configurable)"),
    identity_assertion: z
      .strictObject({
        header: headerName
          .default("portcullis-identity")
          .refine((name) => !name.startsWith("x-") && !NEVER_FORWARDED_HEADERS.includes(name), {
            message: "must not start with x- (the JS server copies x-* headers into config.configurable) nor be a credential or framing header",
          }),
        issuer: z.string().min(1).default("portcullis"),
        audience: z.string().min(1).default("langgraph"),
        ttl_s: z.number().int().min(5).max(600).default(60),
        signing_key: secretSource.optional().describe("PEM PKCS#8 P-256 private key; an ephemeral key is made when absent"),
      })
      .optional()
      .describe("Adds a signed, short-lived identity assertion (ES256 JWT) for a LangGraph custom Auth handler; the public key is served at /.well-known/portcullis/jwks.json"),
    connect_timeout_ms: z.number().int().positive().default(5_000),
    response_timeout_ms: z
      .number()
      .int()
      .positive()
      .default(300_000)
      .describe("Longest wait for upstream response headers"),
  }),
  identity: z
    .strictObject({
      service_accounts: z.array(serviceAccount).default([]),
      oidc: z
        .strictObject({
          issuers: z
            .array(oidcIssuer)
            .default([])
            .refine((issuers) => new Set(issuers.map((i) => i.id)).size === issuers.length, { message: "issuer ids must be unique" }),
          fetch_timeout_ms: z.number().int().positive().default(5_000).describe("Discovery and JWKS fetch timeout"),
        })
        .prefault({})
        .describe("Trusted OpenID Connect / OAuth 2 issuers for bearer tokens"),
      login: browserLogin.optional().describe("Browser sign-in (OIDC authorization code with PKCE, SAML 2.0) for the console and LangGraph Studio"),
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_body_bytes: z.number().int().positive().default(10 * 1024 * 1024),
      max_response_bytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024)
        .describe("Largest non-streaming answer (JSON, /runs/wait result) the gateway holds to inspect"),
      max_batch_runs: z
        .number()
        .int()
        .positive()
        .default(100)
        .describe("Most runs one POST /runs/batch may start, refused with 413 above it. Each run of a batch also takes one token of the caller's rate limit"),
      max_json_depth: z
        .number()
        .int()
        .positive()
        .max(512)
        .default(512)
        .describe("Deepest nesting of arrays and objects in a request body, refused with 400 while the body is read, before it is parsed; at most 512, the deepest the masker scans"),
      max_headers: z
        .number()
        .int()
        .positive()
        .default(100)
        .describe("Most header fields a request may carry, refused with 431 above it. The HTTP server keeps one more than this (maxHeadersCount), so Node never drops a field this check has not counted"),
      max_header_bytes: z
        .number()
        .int()
        .positive()
        .max(16 * 1024)
        .default(16 * 1024 - 2 * 1024)
        .describe(
          "Largest request head (request line and header fields as received), refused with 431 above it. The default is Node's 16 KiB header limit, which the JS LangGraph server has too, minus a 2 KiB reserve for the headers the gateway adds when forwarding (upstream credential, identity assertion, request id, run context), so LangGraph never refuses a head the gateway let through. Lower it when identity assertions carry many groups",
        ),
    })
    .prefault({}),
  streaming: z
    .strictObject({
      heartbeat_ms: z
        .number()
        .int()
        .positive()
        .default(15_000)
        .describe("SSE comment sent downstream after this long without an event"),
      wait_keepalive_ms: z
        .number()
        .int()
        .positive()
        .default(1_000)
        .describe("Newline sent on /runs/wait while no result has started"),
    })
    .prefault({}),
  cors: z
    .strictObject({
      allow_origins: z.array(z.string()).default([]).describe("Exact origins, e.g. https://smith.langchain.com"),
      allow_private_network: z.boolean().default(false).describe("Answer Chrome's private-network preflight"),
      max_age_s: z.number().int().nonnegative().default(600),
    })
    .prefault({}),
  policy: z
    .strictObject({
      file: z
        .string()
        .optional()
        .describe("Policy file (YAML, schema/portcullis.policy.schema.json); when absent the built-in policies/default.yaml is in force"),
      watch: z.boolean().default(true).describe("Reload the policy file when it changes; an invalid change is rejected and the last good policy stays in force"),
    })
    .prefault({}),
  storage: z
    .strictObject({
      kind: z
        .enum(["sqlite", "postgres"])
        .optional()
        .describe(
          "Where the gateway's state lives (browser sessions, sign-ins in flight, SAML request and assertion ids, CLI-made service accounts, rate-limit buckets, approvals, the token vault): sqlite (one gateway) or postgres (several gateways sharing it). Default: postgres when audit.store is postgres, else sqlite",
        ),
      sqlite_file: z
        .string()
        .default(".portcullis/state.db")
        .describe("With kind sqlite: the state database file (SQLite, WAL mode), shared with the CLI; its folder also holds the vault key by default"),
      url: secretSource
        .optional()
        .describe("With kind postgres: connection URL, e.g. { env: PORTCULLIS_STATE_DATABASE_URL }; default: audit.store.url when the ledger is on PostgreSQL"),
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier")
        .optional()
        .describe("With kind postgres: schema for the state tables (created if missing); default: audit.store.schema, else portcullis"),
    })
    .prefault({}),
  audit: z
    .strictObject({
      origin: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/, "a log name like portcullis.example.com/prod (letters, digits, . _ - /)")
        .default("portcullis.local/default")
        .describe("The ledger's name in checkpoints (C2SP origin), e.g. portcullis.example.com/prod; one log per deployment"),
      store: z
        .discriminatedUnion("kind", [
          z.strictObject({
            kind: z.literal("sqlite"),
            file: z.string().default(".portcullis/ledger.db").describe("SQLite ledger file (WAL, fsync on every commit)"),
          }),
          z.strictObject({
            kind: z.literal("postgres"),
            url: secretSource.describe("PostgreSQL connection URL, e.g. { env: PORTCULLIS_LEDGER_DATABASE_URL }"),
            schema: z.string().default("portcullis").describe("Schema for the ledger's tables (created if missing)"),
          }),
        ])
        .default({ kind: "sqlite", file: ".portcullis/ledger.db" })
        .describe("Where the ledger lives: SQLite (one gateway) or PostgreSQL (several gateways sharing one log)"),
      signing_key_file: z
        .string()
        .default(".portcullis/ledger-signing-key.pem")
        .describe("Ed25519 key that signs checkpoints (PKCS#8 PEM, created on first start; rotate with `portcullis audit rotate-key`)"),
      checkpoint_interval_ms: z.number().int().min(100).max(5_000).default(1_000).describe("How often a checkpoint is signed while the log grows (at most 5 s)"),
      heartbeat_interval_ms: z.number().int().min(1_000).max(60_000).default(60_000).describe("Checkpoint cadence while idle (at most 60 s)"),
      max_batch: z.number().int().min(1).max(10_000).default(512).describe("Most records committed in one transaction (group commit)"),
      instance_lease_ms: z
        .number()
        .int()
        .min(1_000)
        .max(600_000)
        .default(30_000)
        .describe("On a ledger shared by several gateways (PostgreSQL): how long an instance that stopped renewing its lease keeps its open requests before a live one closes them as interrupted"),
      witnesses: z
        .array(
          z.strictObject({
            url: z.url({ protocol: /^https?$/ }).describe("The witness's submission prefix (POST <url>/add-checkpoint, C2SP tlog-witness)"),
            vkey: z.string().regex(/^[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/, "a verifier key: <name>+<key id>+<base64>, as `portcullis witness key` prints it").describe("The witness's cosignature verifier key"),
          }),
        )
        .default([])
        .describe("Witnesses every checkpoint is sent to; their cosignatures are stored with it and carried by exports (docs/audit.md)"),
      witness_timeout_ms: z.number().int().min(100).max(60_000).default(5_000).describe("How long a witness may take to cosign a checkpoint"),
      receipts: z.boolean().default(false).describe("Answer with Portcullis-Audit-Receipt: the request record's ledger index and leaf hash"),
      max_recording_bytes: z.number().int().positive().default(8 * 1024 * 1024).describe("Largest response or stream recorded per request; the rest is marked truncated"),
      payload_retention_days: z
        .number()
        .int()
        .nonnegative()
        .default(0)
        .describe("Masked payloads older than this are purged (0 keeps them); leaves and proofs stay verifiable"),
      run_follow: z
        .strictObject({
          poll_ms: z.number().int().positive().default(250),
          max_poll_ms: z.number().int().positive().default(5_000),
          max_follow_ms: z.number().int().positive().default(24 * 60 * 60 * 1000).describe("Stop following a run after this long (recorded)"),
        })
        .prefault({}),
      stream: z
        .strictObject({
          file: z.string().describe('JSON Lines file for a SIEM, or "-" for stdout; each record with its ledger index'),
        })
        .optional()
        .describe("Also stream every committed record as JSON Lines"),
    })
    .prefault({}),
  masking: z
    .strictObject({
      operator: maskingOperator.default("redact").describe("What a detected value becomes: redact ([EMAIL_ADDRESS]), partial (keep the last 4), pseudonym (<EMAIL_ADDRESS:keyed HMAC>, stable per deployment) or drop. Secrets are always redacted"),
      entities: z
        .record(z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, "an entity type in capitals, e.g. EMAIL_ADDRESS"), maskingOperator)
        .default({})
        .describe("Operator per entity type, overriding 'operator'"),
      opt_in: z
        .array(z.enum(["US_SSN", "US_ITIN", "ABA_ROUTING", "UK_NHS", "UK_NINO", "CA_SIN", "MAC_ADDRESS", "PL_PESEL"]))
        .default([])
        .describe("PL_PESEL is detected only when named here. Naming UK_NINO or MAC_ADDRESS widens them (NINOs glued into codes, Cisco dotted MACs); US_SSN, US_ITIN, ABA_ROUTING, UK_NHS and CA_SIN are always detected (checksum and context word), and naming them changes nothing"),
      phone_regions: z
        .array(z.string().regex(/^[A-Z]{2}$/, "an ISO 3166 alpha-2 region, e.g. US"))
        .default(["US", "GB", "DE", "FR", "IL", "IN", "CA", "BR"])
        .describe("Regions whose national phone formats are recognised; numbers written with + are recognised from anywhere"),
      mask_private_ips: z.boolean().default(true).describe("Also mask private, loopback and link-local IP addresses (IPs are personal data under GDPR)"),
      sensitive_keys: z
        .array(z.string().min(1))
        .default([])
        .describe("JSON keys whose values are masked whatever they hold, at any depth, besides the built-in password/token/authorization/cookie/secret keys"),
      field_paths: z
        .array(z.string().regex(/^[^.]+(\.[^.]+)*$/, "a dotted path such as config.configurable.user_email; '*' matches any key"))
        .default([])
        .describe("Dotted JSON paths masked whatever they hold, matched at any depth"),
      custom: z
        .array(
          z.union([
            z.strictObject({
              entity: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/),
              pattern: z.string().min(1).max(1_000).describe("RE2 syntax (linear time: no lookaround or backreferences)"),
              prefix: z.string().min(1).optional().describe("Literal every match starts with; lets streams hold back only from it"),
              max_length: z.number().int().min(1).max(1_024).default(64).describe("Longest match; a stream holds back up to this many characters for the pattern"),
              case_insensitive: z.boolean().default(false),
            }),
            z.strictObject({
              entity: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/),
              dictionary: z.array(z.string().min(1).max(256)).min(1).max(100_000).describe("Terms matched as whole words, case-insensitively"),
            }),
          ]),
        )
        .default([])
        .describe("Deployment-specific patterns and dictionaries"),
      pseudonym_key_file: z
        .string()
        .optional()
        .describe("Key for the pseudonym operator (created, mode 0600, on first start). Pseudonyms are stable for as long as this key is"),
      vault: z
        .strictObject({
          key_file: z
            .string()
            .optional()
            .describe("Master key of the token vault (created, mode 0600, on first start; default: vault-key beside storage.sqlite_file): per-tenant token keys and the vault's encryption key are derived from it with HKDF. Losing it makes kept originals unreadable"),
          ttl_days: z.number().int().min(1).max(3_650).default(30).describe("Days an original behind a token is kept (the policy's masking.requests: tokenize); a sweep deletes older ones"),
        })
        .prefault({})
        .describe("Originals behind reversible tokens, encrypted at rest (AES-256-GCM) beside the approvals: the state database, or PostgreSQL with the ledger"),
      flush_ms: z.number().int().min(20).max(5_000).default(200).describe("A stream quiet for this long releases held text that is no longer a distinctive partial"),
      max_field_bytes: z.number().int().positive().default(1024 * 1024).describe("Longest single string scanned; a longer one is refused, never passed unscanned"),
      budget_ms: z.number().int().positive().default(2_000).describe("Scanning time allowed per document or event; beyond it the request or stream fails closed"),
    })
    .prefault({})
    .refine((m) => m.pseudonym_key_file !== undefined || (m.operator !== "pseudonym" && !Object.values(m.entities).includes("pseudonym")), {
      message: "the pseudonym operator needs masking.pseudonym_key_file (created on first start)",
      path: ["pseudonym_key_file"],
    })
    .describe("PII and secret masking: always applied to everything stored; to responses and requests as the policy's masking section says"),
  approvals: z
    .strictObject({
      sweep_ms: z
        .number()
        .int()
        .min(50)
        .max(10_000)
        .default(1_000)
        .describe("How often pending approvals are expired and held requests re-read their approval (PostgreSQL notifications usually release them sooner)"),
      max_pending_per_requester: z.number().int().min(1).max(10_000).default(20).describe("Most approvals one requester may have pending; beyond it requests are refused with 429"),
      retention_days: z.number().int().min(1).max(3_650).default(30).describe("Closed approvals and ended grants are deleted from the store after this many days; their ledger records stay"),
      hold_max_s: z
        .number()
        .int()
        .min(1)
        .max(86_400)
        .default(300)
        .describe("How long a request held for approval on its open connection waits before it is answered 504 (the approval stays pending; Prefer: respond-async gets 202 at once instead)"),
      notify: notifySchema,
    })
    .prefault({}),
  console: z
    .strictObject({
      roles: z
        .strictObject({
          admin: z.array(z.string()).default(["admins"]).describe("Groups whose members see everything in the console (all sessions, audit, access review)"),
          auditor: z.array(z.string()).default(["auditors"]).describe("Groups whose members see all sessions, the audit page and the access review"),
          approver: z.array(z.string()).default(["approvers"]).describe("Groups shown the approvals inbox; who may decide an approval is still its rule's approver_groups"),
        })
        .prefault({})
        .describe("Console roles by identity group; everyone else who signs in is a user and sees only their own sessions and approvals"),
      page_size: z.number().int().min(10).max(500).default(50).describe("Sessions per page"),
      export_dir: z.string().optional().describe("Where console evidence exports are assembled before download (default: a temporary directory, removed after)"),
    })
    .prefault({})
    .describe("The web console (/console/), served when identity.login is configured")
    .describe("Approvals for require-approval rules: kept in the state database, or beside the ledger when audit.store is PostgreSQL (so several gateways share them)"),
  egress: egressSchema,
  routes: routesSchema,
  shutdown: z
    .strictObject({
      drain_ms: z.number().int().nonnegative().default(30_000).describe("How long live streams may finish on shutdown"),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    })
    .prefault({}),
  observability: z
    .strictObject({
      metrics: z
        .strictObject({
          enabled: z.boolean().default(false).describe("Serve Prometheus metrics (GET /metrics) on metrics.listen"),
          listen: z
            .strictObject({
              host: z.string().default("127.0.0.1"),
              port: z.number().int().min(0).max(65535).default(9464),
            })
            .prefault({})
            .describe("The metrics listener, separate from the gateway's: keep it on an address only Prometheus reaches"),
        })
        .prefault({}),
      tracing: z
        .strictObject({
          enabled: z.boolean().default(false).describe("Export OpenTelemetry traces of every exchange over OTLP/HTTP"),
          otlp_endpoint: z.url().optional().describe("OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces; default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"),
          service_name: z.string().min(1).optional().describe("service.name of the spans; default: OTEL_SERVICE_NAME, else portcullis"),
          sample_ratio: z.number().min(0).max(1).optional().describe("Share of new traces sampled (parent-based); default: OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, else all"),
          trust_client_context_from_groups: z
            .array(z.string())
            .default([])
            .describe("Identity groups whose W3C traceparent/tracestate is continued; anyone else's starts a new trace and is kept only as a span link"),
        })
        .prefault({}),
    })
    .prefault({})
    .describe("Prometheus metrics and OpenTelemetry traces (docs/observability.md), both off by default"),
});

export type PortcullisConfig = z.output<typeof configSchema>;
export type PortcullisConfigInput = z.input<typeof configSchema>;
export type ServiceAccountConfig = z.output<typeof serviceAccount>;
export type OidcIssuerConfig = z.output<typeof oidcIssuer>;
export type BrowserLoginConfig = z.output<typeof browserLogin>;
export type OidcLoginConfig = z.output<typeof oidcLogin>;
export type SamlLoginConfig = z.output<typeof samlLogin>;

export function configJsonSchema(): object {
  return z.toJSONSchema(configSchema, { io: "input" });
}
