// A DEVELOPMENT-ONLY OpenID provider (the oidc-provider package) with demo users, started by
// `portcullis demo` on loopback so browser login to the console and bearer tokens work out of the
// box. Nothing here is fit for production: users log in without a password check, state lives in
// memory and the keys are made afresh at each start. Production configurations never enable it.
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import Provider, { errors, type Account, type KoaContextWithOIDC } from "oidc-provider";

export interface DemoUser {
  id: string;
  name: string;
  email: string;
  groups: string[];
}

export const DEMO_USERS: DemoUser[] = [
  { id: "analyst", name: "Demo Analyst", email: "analyst@demo.portcullis.dev", groups: ["analysts"] },
  { id: "approver", name: "Demo Approver", email: "approver@demo.portcullis.dev", groups: ["approvers"] },
  { id: "auditor", name: "Demo Auditor", email: "auditor@demo.portcullis.dev", groups: ["auditors"] },
  { id: "admin", name: "Demo Admin", email: "admin@demo.portcullis.dev", groups: ["admins"] },
];

export interface DevIdp {
  /** http://<host>:<port>, exactly the iss of every token and of discovery. */
  issuer: string;
  /** Confidential client for the gateway's browser login (authorization code + PKCE, client_secret_basic). */
  login: { clientId: string; clientSecret: string };
  /** Audience of the access tokens minted for demo users and by client credentials. */
  apiAudience: string;
  /** Client-credentials client for machine access (a CI bot), JWT access tokens with aud = apiAudience. */
  machine: { clientId: string; clientSecret: string };
  /** Signs a JWT access token for a demo user with the IdP's own signing key: iss, sub = user id, aud = apiAudience, groups, name, email, iat, exp (ttl default 1h), jti. */
  mintUserToken(userId: string, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

interface DevIdpOptions {
  port?: number;
  /** Loopback unless told otherwise: the IdP accepts any password. */
  host?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
}

// A URI, not a bare name: RFC 8707 §2 resource indicators must be absolute URIs, and oidc-provider
// rejects `resource=portcullis-demo-api`.
const API_AUDIENCE = "urn:portcullis:demo-api";
const LOGIN_CLIENT_ID = "portcullis-console";
const MACHINE_CLIENT_ID = "ci-bot";
const MACHINE_GROUPS = ["ci"];
const TOKEN_TTL_S = 3600;
const SESSION_TTL_S = 8 * 3600;

function findDemoUser(id: string): DemoUser | undefined {
  return DEMO_USERS.find((user) => user.id === id);
}

function userClaims(user: DemoUser) {
  return { name: user.name, email: user.email, email_verified: true, groups: user.groups };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function devPage(title: string, body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><p><strong>Portcullis development IdP</strong>: demo users only, never for production.</p>
<h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function buildProvider(issuer: string, signingKey: JWK, options: DevIdpOptions, login: DevIdp["login"], machine: DevIdp["machine"]): Provider {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: login.clientId,
        client_secret: login.clientSecret,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: ["authorization_code"],
        response_types: ["code"],
        redirect_uris: options.redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris ?? [],
      },
      {
        client_id: machine.clientId,
        client_secret: machine.clientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    async findAccount(_ctx, id): Promise<Account | undefined> {
      const user = findDemoUser(id);
      return user && { accountId: user.id, claims: () => ({ sub: user.id, ...userClaims(user) }) };
    },
    // Real IdPs differ: some need a "groups" scope, some put groups in every ID token with
    // profile. Both shapes work here, so the demo logs in whichever scopes the gateway asks for.
    claims: {
      openid: ["sub"],
      profile: ["name", "groups"],
      email: ["email", "email_verified"],
      groups: ["groups"],
    },
    // The gateway reads name and groups from the ID token, not from userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    loadExistingGrant: grantWithoutConsent,
    // Only the gateway's server side talks to the IdP; no browser script needs CORS.
    clientBasedCORS: () => false,
    renderError(ctx, out) {
      ctx.type = "html";
      ctx.body = devPage("The IdP refused the request", `<pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
    },
    extraTokenClaims(_ctx, token) {
      // A user's access token (authorization code with a resource) carries the same claims as mintUserToken.
      const user = "accountId" in token && typeof token.accountId === "string" ? findDemoUser(token.accountId) : undefined;
      if (user) return userClaims(user);
      return token.clientId === machine.clientId ? { groups: MACHINE_GROUPS, name: "CI bot (demo)" } : undefined;
    },
    ttl: {
      AccessToken: TOKEN_TTL_S,
      ClientCredentials: TOKEN_TTL_S,
      IdToken: TOKEN_TTL_S,
      Interaction: 3600,
      Session: SESSION_TTL_S,
      Grant: SESSION_TTL_S,
    },
    features: {
      // oidc-provider's own login form: inputs "login" and "password", button "Sign-in".
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // So `curl -u ci-bot:<secret> -d grant_type=client_credentials` needs no resource parameter.
        defaultResource: (_ctx, client, oneOf) => oneOf ?? (client?.clientId === machine.clientId ? API_AUDIENCE : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resource) {
          if (resource !== API_AUDIENCE) throw new errors.InvalidTarget(`the only resource here is ${API_AUDIENCE}`);
          return { scope: "", audience: API_AUDIENCE, accessTokenFormat: "jwt", accessTokenTTL: TOKEN_TTL_S, jwt: { sign: { alg: "RS256" } } };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        // Signs out without the "Do you want to sign-out?" question: the gateway's logout button already asked.
        logoutSource(ctx, form) {
          ctx.body = devPage(
            "Signing out",
            `${form.replace("</form>", '<input type="hidden" name="logout" value="yes"/></form>')}
<script>document.forms[0].submit()</script>
<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>`,
          );
        },
        postLogoutSuccessSource(ctx) {
          ctx.body = devPage("Signed out", "<p>You have signed out of the development IdP.</p>");
        },
      },
    },
  });
  provider.proxy = false;
  provider.use(refuseUnknownLogins(provider));
  return provider;
}

// devInteractions logs in whatever name is typed, and a session for an unknown account then fails
// the authorization with a server_error. Its login form posts here first: demo users go on to the
// authorization, anyone else gets a page saying who can sign in.
function refuseUnknownLogins(provider: Provider): Parameters<Provider["use"]>[0] {
  return async (ctx, next) => {
    const uid = /^\/interaction\/([^/]+)$/.exec(ctx.path)?.[1];
    if (ctx.method !== "POST" || !uid) return next();
    const interaction = await provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
    if (interaction?.prompt.name !== "login") return next();
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const login = new URLSearchParams(Buffer.concat(chunks).toString()).get("login") ?? "";
    if (findDemoUser(login)) {
      // Writes the 303 back to the authorization itself, as devInteractions' own submit does.
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      ctx.respond = false;
      return;
    }
    ctx.status = 401;
    ctx.type = "html";
    ctx.body = devPage(
      "Unknown demo user",
      `<p>${escapeHtml(JSON.stringify(login))} is not a demo user. Sign in as ${DEMO_USERS.map((user) => user.id).join(", ")}, with any password.</p>
<p><a href="/interaction/${escapeHtml(uid)}">Try again</a></p>`,
    );
  };
}

// oidc-provider's "skip consent" recipe: both clients are first party, so whatever the login
// client asks for is granted on the spot and the flow goes login -> back to the gateway.
async function grantWithoutConsent(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const clientId = oidc.client!.clientId;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(clientId);
  const grant =
    (grantId ? await oidc.provider.Grant.find(grantId) : undefined) ??
    new oidc.provider.Grant({ clientId, accountId: oidc.session!.accountId! });
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(" "));
  grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const host = options.host ?? "127.0.0.1";
  // The issuer names the port, so the provider can only be built once the server listens.
  let handler: RequestListener = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  server.listen(options.port ?? 0, host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  const kid = `dev-${randomUUID()}`;
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey: JWK = { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
  const login = { clientId: LOGIN_CLIENT_ID, clientSecret: randomBytes(24).toString("base64url") };
  const machine = { clientId: MACHINE_CLIENT_ID, clientSecret: randomBytes(24).toString("base64url") };
  handler = buildProvider(issuer, signingKey, options, login, machine).callback();

  const mintingKey = await importJWK(signingKey, "RS256");
  return {
    issuer,
    login,
    apiAudience: API_AUDIENCE,
    machine,
    async mintUserToken(userId, ttlSeconds = TOKEN_TTL_S) {
      const user = findDemoUser(userId);
      if (!user) {
        throw new Error(`no demo user "${userId}"; the demo users are ${DEMO_USERS.map((known) => known.id).join(", ")}`);
      }
      return new SignJWT({ ...userClaims(user), client_id: login.clientId })
        .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
        .setIssuer(issuer)
        .setSubject(user.id)
        .setAudience(API_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .setJti(randomUUID())
        .sign(mintingKey);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
