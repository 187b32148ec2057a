// The bundled demo LangGraph server (pinned @langchain/langgraph-api), started as a child
// process by `portcullis demo` and by the test suite. Prints one JSON line when ready.
import { startServer } from "@langchain/langgraph-api/server";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.LANGGRAPH_PORT ?? "0");
const cwd = process.env.LANGGRAPH_DATA_DIR ?? path.join(here, ".data");
const graph = (name: string) => `${path.join(here, "graphs", `${name}.mts`)}:graph`;

const { host, cleanup } = await startServer({
  port,
  nWorkers: 4,
  host: "127.0.0.1",
  cwd,
  graphs: { agent: graph("agent"), echo: graph("echo"), hitl: graph("hitl"), model: graph("model"), slow: graph("slow"), tools: graph("tools") },
  // disable_studio_auth: `x-auth-scheme: langsmith` must not skip authenticate() (langgraph-api.md §7).
  auth: { path: `${process.env.LANGGRAPH_AUTH_MODULE ?? path.join(here, "auth.mts")}:auth`, disable_studio_auth: true },
});
process.stdout.write(`${JSON.stringify({ ready: true, url: `http://${host}` })}\n`);

const stop = async () => {
  await cleanup();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
