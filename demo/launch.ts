// Starts the bundled demo LangGraph server (demo/langgraph/server.mts) as a child process and
// waits until it listens. Used by `portcullis demo`, the tests and the benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface DemoLangGraph {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface DemoLangGraphOptions {
  /** Key the server requires in x-api-key; only the gateway holds it. */
  upstreamKey: string;
  /** Another custom Auth module (absolute path, exporting `auth`), e.g. examples/langgraph-auth. */
  authModule?: string;
  /** Extra environment for the server (for the Auth module). */
  env?: Record<string, string>;
  dataDir: string;
  port?: number;
  /** File for the server's own log; discarded when absent. */
  logFile?: string;
  readyTimeoutMs?: number;
}

const serverScript = fileURLToPath(new URL("./langgraph/server.mts", import.meta.url));

// If this process dies without stopping them, its LangGraph servers must not outlive it.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const INHERITED = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "NODE_ENV"];

function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name]!;
  return env;
}

export async function startDemoLangGraph(options: DemoLangGraphOptions): Promise<DemoLangGraph> {
  // Resolved here: the child runs in demo/langgraph, and a relative path would land in the source tree.
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), serverScript], {
    cwd: path.dirname(serverScript),
    // Only what a Node process needs from this one's environment: the gateway's secrets (upstream
    // key source, egress credentials, IdP client secrets) must never reach the runtime.
    env: {
      ...inheritedEnvironment(),
      PORTCULLIS_UPSTREAM_KEY: options.upstreamKey,
      LANGGRAPH_PORT: String(options.port ?? 0),
      LANGGRAPH_DATA_DIR: dataDir,
      LANGGRAPH_CLI_NO_ANALYTICS: "1",
      LANGSMITH_TRACING: "false",
      BROWSER: "none",
      ...(options.authModule ? { LANGGRAPH_AUTH_MODULE: options.authModule } : {}),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  const log = options.logFile ? createWriteStream(options.logFile, { flags: "a" }) : undefined;
  const recent: string[] = [];
  const keep = (line: string) => {
    log?.write(`${line}\n`);
    recent.push(line);
    if (recent.length > 40) recent.shift();
  };
  createInterface({ input: child.stderr! }).on("line", keep);

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("timed out")), options.readyTimeoutMs ?? 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`the demo LangGraph server did not start: ${error.message}\n${recent.join("\n")}`));
    };
    child.once("exit", (code) => fail(new Error(`exited with code ${code}`)));
    child.once("error", (error) => fail(error));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      keep(line);
      if (!line.startsWith('{"ready":true')) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
    log?.end();
  };
  return { url, child, stop };
}
