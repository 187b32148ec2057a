// A real OpenID provider (the oidc-provider package) for tests: discovery, JWKS, and JWT access
// tokens from the client-credentials grant. It can restart on the same port with a new signing
// key, to rotate keys mid-run.
import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider from "oidc-provider";

export const AUDIENCE = "https://portcullis.test";
/** Tokens for this resource are opaque (not JWTs): only RFC 7662 introspection can check them. */
export const OPAQUE_AUDIENCE = "https://portcullis-opaque.test";
/** The gateway's own client, allowed to introspect. */
export const INTROSPECTION_CLIENT = { id: "portcullis-gateway", secret: "portcullis-gateway-secret" };

export interface TestIdp {
  issuer: string;
  /** Signing key id currently in use. */
  kid: string;
  /** A JWT access token for a client-credentials client, with the given groups. */
  token(client?: TestClient): Promise<string>;
  /** An opaque access token (for OPAQUE_AUDIENCE) for a client-credentials client. */
  opaqueToken(client?: "ci-bot" | "reporting"): Promise<string>;
  /** RFC 7009 revocation of a token at the IdP. */
  revoke(token: string, client?: "ci-bot" | "reporting"): Promise<void>;
  /** Replaces the signing key (new kid); tokens signed before no longer verify. */
  rotateKey(): Promise<void>;
  /** Counts JWKS fetches, to see caching and refresh at work. */
  jwksFetches: number;
  close(): Promise<void>;
}

const CLIENTS = {
  "ci-bot": { secret: "ci-bot-secret", groups: ["engineering", "ci"], org: "acme" },
  reporting: { secret: "reporting-secret", groups: ["auditors"], org: "acme" },
  // Two people with the same role, for ownership between users (test/authorize/policy.test.ts).
  alice: { secret: "alice-secret", groups: ["analysts"], org: "acme" },
  bob: { secret: "bob-secret", groups: ["analysts"], org: "acme" },
  carol: { secret: "carol-secret", groups: ["analysts"], org: "globex" },
};

export type TestClient = keyof typeof CLIENTS;

async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
}

function buildProvider(issuer: string, key: JWK): Provider {
  const provider = new Provider(issuer, {
    clients: [
      ...Object.entries(CLIENTS).map(([id, client]) => ({
        client_id: id,
        client_secret: client.secret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
      })),
      { client_id: INTROSPECTION_CLIENT.id, client_secret: INTROSPECTION_CLIENT.secret, grant_types: [], redirect_uris: [], response_types: [] },
    ],
    jwks: { keys: [key] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) =>
          resource === OPAQUE_AUDIENCE
            ? { scope: "langgraph", audience: OPAQUE_AUDIENCE, accessTokenFormat: "opaque" }
            : { scope: "langgraph", audience: AUDIENCE, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const clientId = (token as { clientId?: string }).clientId as keyof typeof CLIENTS | undefined;
      return clientId && CLIENTS[clientId] ? { groups: CLIENTS[clientId].groups, name: `client ${clientId}`, org: CLIENTS[clientId].org } : {};
    },
  });
  provider.proxy = false;
  return provider;
}

function basicAuth(client: keyof typeof CLIENTS): string {
  return `Basic ${Buffer.from(`${client}:${CLIENTS[client].secret}`).toString("base64")}`;
}

async function clientCredentialsToken(issuer: string, client: keyof typeof CLIENTS, resource: string): Promise<string> {
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: basicAuth(client), "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", resource, scope: "langgraph" }),
  });
  const body = (await response.json()) as { access_token?: string; error_description?: string };
  if (!body.access_token) throw new Error(`token request failed: ${JSON.stringify(body)}`);
  return body.access_token;
}

export async function startTestIdp(): Promise<TestIdp> {
  let handler: RequestListener = (_req, res) => res.writeHead(503).end();
  const idp: TestIdp = {
    issuer: "",
    kid: "",
    jwksFetches: 0,
    token: (client = "ci-bot") => clientCredentialsToken(idp.issuer, client, AUDIENCE),
    opaqueToken: (client = "ci-bot") => clientCredentialsToken(idp.issuer, client, OPAQUE_AUDIENCE),
    async revoke(token, client = "ci-bot") {
      const response = await fetch(`${idp.issuer}/token/revocation`, {
        method: "POST",
        headers: { authorization: basicAuth(client), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
      if (!response.ok) throw new Error(`revocation failed: HTTP ${response.status}`);
    },
    async rotateKey() {
      idp.kid = `key-${Date.now()}`;
      const provider = buildProvider(idp.issuer, await signingKey(idp.kid));
      handler = provider.callback();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith("/jwks")) idp.jwksFetches += 1;
    handler(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  idp.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await idp.rotateKey();
  return idp;
}
