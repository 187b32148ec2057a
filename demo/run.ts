// The demo (what `npm start` runs from a clone): the bundled LangGraph server behind the gateway,
// reachable only with a key the gateway holds; a development OpenID provider with demo users
// (bearer tokens and console sign-in); and a fresh demo service-account key. The development
// provider exists only here: no configuration file can turn it on. The `model` graph reaches an
// OpenAI-compatible stand-in provider through the egress route demo-model: the gateway holds
// the provider's key, the LangGraph server only its own service-account key (docs/egress.md).
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { DEMO_USERS, startDevIdp } from "./devIdp.js";
import { startDemoLangGraph } from "./launch.js";
import { startStandInModel } from "./standInModel.js";
import { parseConfig } from "../src/config/load.js";
import { startGateway } from "../src/gateway.js";
import { generateApiKey } from "../src/identify/serviceAccounts.js";

const DEMO_IDP_ID = "demo-idp";
/** Demo user tokens are written to files for curl; they last a working day. */
const DEMO_TOKEN_TTL_S = 8 * 3600;

export interface RunningDemo {
  url: string;
  /** Where the demo users' bearer tokens are written, one <user>.jwt each. */
  tokenDir: string;
  demoKey: string;
  stop(): Promise<void>;
}

export async function runDemo(options: { port: number; dataDir: string }): Promise<RunningDemo> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const next of stops.reverse()) await next();
  };
  try {
    const port = await portOrFree(options.port);
    const gatewayUrl = `http://127.0.0.1:${port}`;
    process.stdout.write("Starting the demo LangGraph server and the development identity provider...\n");
    const upstreamKey = randomBytes(32).toString("base64url");
    const modelKey = `sk-demo-${randomBytes(24).toString("base64url")}`;
    const model = await startStandInModel({ apiKey: modelKey, tokenDelayMs: 40 });
    stops.push(() => model.close());
    const runtimeKey = generateApiKey();
    const langgraph = await startDemoLangGraph({
      upstreamKey,
      dataDir: path.join(options.dataDir, "langgraph"),
      logFile: path.join(options.dataDir, "langgraph.log"),
      env: { PORTCULLIS_EGRESS_MODEL_URL: `${gatewayUrl}/egress/demo-model/v1`, PORTCULLIS_WORKLOAD_KEY: runtimeKey.key },
    });
    stops.push(() => langgraph.stop());
    const idp = await startDevIdp({
      redirectUris: [`${gatewayUrl}/auth/callback/${DEMO_IDP_ID}`],
      postLogoutRedirectUris: [`${gatewayUrl}/auth/logout/done`],
    });
    stops.push(() => idp.close());

    const demoKey = generateApiKey();
    process.env.PORTCULLIS_DEMO_UPSTREAM_KEY = upstreamKey;
    process.env.PORTCULLIS_DEMO_LOGIN_SECRET = idp.login.clientSecret;
    process.env.PORTCULLIS_DEMO_MODEL_KEY = modelKey;
    const config = parseConfig(
      {
        listen: { host: "127.0.0.1", port },
        upstream: { url: langgraph.url, credential: { header: "x-api-key", secret: { env: "PORTCULLIS_DEMO_UPSTREAM_KEY" } } },
        identity: {
          service_accounts: [
            { id: "demo", owner: "demo user", key_sha256: demoKey.sha256, groups: ["demo"] },
            { id: "langgraph-runtime", owner: "the demo LangGraph server", key_sha256: runtimeKey.sha256, groups: ["langgraph-runtime"] },
          ],
          oidc: { issuers: [{ id: DEMO_IDP_ID, issuer: idp.issuer, audiences: [idp.apiAudience] }] },
          login: {
            public_url: gatewayUrl,
            oidc: [
              {
                id: DEMO_IDP_ID,
                display_name: "the demo identity provider (development only)",
                issuer: idp.issuer,
                client_id: idp.login.clientId,
                client_secret: { env: "PORTCULLIS_DEMO_LOGIN_SECRET" },
                scopes: ["openid", "profile", "email", "groups"],
              },
            ],
          },
        },
        cors: { allow_origins: ["https://smith.langchain.com"], allow_private_network: true },
        egress: {
          routes: {
            "demo-model": {
              url: new URL(model.url).origin,
              credential: { type: "bearer", secret: { env: "PORTCULLIS_DEMO_MODEL_KEY" } },
              methods: ["POST"],
              paths: ["/v1/chat/completions"],
              require_run_context: true,
            },
          },
        },
        storage: { sqlite_file: path.join(options.dataDir, "state.db") },
        audit: {
          store: { kind: "sqlite", file: path.join(options.dataDir, "ledger.db") },
          signing_key_file: path.join(options.dataDir, "ledger-signing-key.pem"),
        },
        log: { level: "warn" },
      },
      "demo config",
    );
    const gateway = await startGateway(config);
    stops.push(() => gateway.close());

    const tokenDir = path.join(options.dataDir, "tokens");
    await mkdir(tokenDir, { recursive: true, mode: 0o700 });
    for (const user of DEMO_USERS) {
      await writeFile(path.join(tokenDir, `${user.id}.jwt`), await idp.mintUserToken(user.id, DEMO_TOKEN_TTL_S), { mode: 0o600 });
    }
    process.stdout.write(
      banner({ url: gateway.url, key: demoKey.key, ledgerFile: path.join(options.dataDir, "ledger.db"), idp, tokenDir }),
    );
    return { stop, url: gateway.url, tokenDir, demoKey: demoKey.key };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The requested port if it is free, otherwise one the OS picks (the sign-in redirect URLs need it before the gateway starts). */
async function portOrFree(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(undefined));
      probe.listen(port, "127.0.0.1", () => {
        const chosen = (probe.address() as { port: number }).port;
        probe.close(() => resolve(chosen));
      });
    });
  const port = (await tryListen(preferred)) ?? (await tryListen(0));
  if (port === undefined) throw new Error("no free port on 127.0.0.1");
  if (port !== preferred && preferred !== 0) process.stdout.write(`Port ${preferred} is taken; using ${port} instead.\n`);
  return port;
}

function banner(demo: { url: string; key: string; ledgerFile: string; idp: { issuer: string; machine: { clientId: string; clientSecret: string }; apiAudience: string }; tokenDir: string }): string {
  const { url, key } = demo;
  const users = DEMO_USERS.map((user) => `${user.id} (${user.groups.join(", ")})`).join(", ");
  return `
Portcullis is running in front of the demo LangGraph server.

  Gateway     ${url}
  Console     ${url}/console/   sign in as any demo user, any password
  Demo users  ${users}
  Demo IdP    ${demo.idp.issuer}   (development only, started by this demo, never by a config file)
  Demo key    ${key}
              (service account "demo"; a new key is made each start)
  User tokens ${demo.tokenDir}/<user>.jwt   (bearer tokens from the demo IdP, valid 8 hours)
  Audit ledger ${demo.ledgerFile}  (check it: npx portcullis verify --ledger ${demo.ledgerFile})
  Graphs      agent, hitl, model, slow, tools
  Egress      the model graph calls a stand-in model provider through ${url}/egress/demo-model/v1;
              the gateway holds the provider's key, the LangGraph server never sees it

The LangGraph server itself only accepts the gateway's own key, which clients never see.

Try it with curl, as a person (OIDC bearer token) or as the demo service account:
  curl -s ${url}/assistants/search -H "Authorization: Bearer $(cat ${demo.tokenDir}/analyst.jwt)" -H "content-type: application/json" -d '{}'
  curl -N ${url}/runs/stream -H "Authorization: Bearer ${key}" -H "content-type: application/json" \\
    -d '{"assistant_id":"agent","input":{"messages":[{"role":"user","content":"hi"}]},"stream_mode":"messages-tuple"}'

A machine token (OAuth client credentials) from the demo IdP:
  curl -s -u ${demo.idp.machine.clientId}:${demo.idp.machine.clientSecret} -d grant_type=client_credentials ${demo.idp.issuer}/token

Or with the LangGraph SDK (only the base URL and credential change):
  import { Client } from "@langchain/langgraph-sdk";
  const client = new Client({ apiUrl: "${url}", apiKey: "${key}" });
  const thread = await client.threads.create();
  for await (const part of client.runs.stream(thread.thread_id, "agent", {
    input: { messages: [{ role: "user", content: "hi" }] },
  })) console.log(part.event, part.data);

Press Ctrl+C to stop.
`;
}
