// `portcullis demo` (what `npm start` runs): the bundled LangGraph server behind the gateway,
// reachable only with a key the gateway holds, and a fresh demo service-account key.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { startDemoLangGraph } from "../../demo/launch.js";
import { parseConfig } from "../config/load.js";
import { startGateway, type Gateway } from "../gateway.js";
import { generateApiKey } from "../identify/serviceAccounts.js";

export async function runDemo(options: { port: number; dataDir: string }): Promise<{ stop(): Promise<void> }> {
  const upstreamKey = randomBytes(32).toString("base64url");
  process.stdout.write("Starting the demo LangGraph server...\n");
  const langgraph = await startDemoLangGraph({
    upstreamKey,
    dataDir: path.join(options.dataDir, "langgraph"),
    logFile: path.join(options.dataDir, "langgraph.log"),
  });
  const demoKey = generateApiKey();
  process.env.PORTCULLIS_DEMO_UPSTREAM_KEY = upstreamKey;
  const config = (port: number) =>
    parseConfig(
      {
        listen: { host: "127.0.0.1", port },
        upstream: { url: langgraph.url, credential: { header: "x-api-key", secret: { env: "PORTCULLIS_DEMO_UPSTREAM_KEY" } } },
        identity: { service_accounts: [{ id: "demo", owner: "demo user", key_sha256: demoKey.sha256, groups: ["demo"] }] },
        cors: { allow_origins: ["https://smith.langchain.com"], allow_private_network: true },
        audit: { file: path.join(options.dataDir, "audit.jsonl") },
        log: { level: "warn" },
      },
      "demo config",
    );
  let gateway: Gateway;
  try {
    gateway = await startGateway(config(options.port));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") {
      await langgraph.stop();
      throw error;
    }
    process.stdout.write(`Port ${options.port} is taken; using a free port instead.\n`);
    gateway = await startGateway(config(0)).catch(async (retryError: unknown) => {
      await langgraph.stop();
      throw retryError;
    });
  }
  process.stdout.write(banner(gateway.url, demoKey.key, path.join(options.dataDir, "audit.jsonl")));
  return {
    async stop() {
      await gateway.close();
      await langgraph.stop();
    },
  };
}

function banner(url: string, key: string, auditFile: string): string {
  return `
Portcullis is running in front of the demo LangGraph server.

  Gateway     ${url}
  Demo key    ${key}
              (service account "demo"; a new key is made each start)
  Audit file  ${auditFile}
  Graphs      agent, hitl, slow, tools

The LangGraph server itself only accepts the gateway's own key, which clients never see.

Try it with curl:
  curl -s ${url}/assistants/search -H "Authorization: Bearer ${key}" -H "content-type: application/json" -d '{}'
  curl -N ${url}/runs/stream -H "Authorization: Bearer ${key}" -H "content-type: application/json" \\
    -d '{"assistant_id":"agent","input":{"messages":[{"role":"user","content":"hi"}]},"stream_mode":"messages-tuple"}'

Or with the LangGraph SDK (only the base URL and key change):
  import { Client } from "@langchain/langgraph-sdk";
  const client = new Client({ apiUrl: "${url}", apiKey: "${key}" });
  const thread = await client.threads.create();
  for await (const part of client.runs.stream(thread.thread_id, "agent", {
    input: { messages: [{ role: "user", content: "hi" }] },
  })) console.log(part.event, part.data);

Press Ctrl+C to stop.
`;
}
