// The bundled demo LangGraph server (pinned @langchain/langgraph-api), started as a child
// process by `portcullis demo` and by the test suite. Prints one JSON line when ready.
import { startServer } from "@langchain/langgraph-api/server";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.LANGGRAPH_PORT ?? "0");
const cwd = process.env.LANGGRAPH_DATA_DIR ?? path.join(here, ".data");
const graph = (name: string) => `${path.join(here, "graphs", `${name}.mts`)}:graph`;

// LANGGRAPH_UI=1 serves the echo graph's UI component at /ui/echo (langgraph.json `ui`). The
// server bundles it from its working directory (it refuses a path outside), so it is copied there.
const ui: Record<string, string> = {};
if (process.env.LANGGRAPH_UI === "1") {
  await mkdir(path.join(cwd, "ui"), { recursive: true });
  await copyFile(path.join(here, "ui", "echo.ui.tsx"), path.join(cwd, "ui", "echo.ui.tsx"));
  ui.echo = "./ui/echo.ui.tsx";
}

const { host, cleanup } = await startServer({
  port,
  nWorkers: 4,
  host: "127.0.0.1",
  cwd,
  graphs: { agent: graph("agent"), echo: graph("echo"), hitl: graph("hitl"), model: graph("model"), slow: graph("slow"), tools: graph("tools") },
  ...(Object.keys(ui).length > 0 ? { ui } : {}),
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
