// A gateway in its own process (`portcullis start -c <config>`), for tests that run several
// replicas and kill one: SIGKILL leaves no chance to close anything, as when a machine dies.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { PortcullisConfigInput } from "../../src/config/schema.js";
import { CLI_ARGS } from "./cli.js";
import { freePort } from "./ports.js";

export interface GatewayProcess {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  /** Resolves when the process has exited (however it ended). */
  exited: Promise<void>;
  /** Kills the process at once: no shutdown, no lease ended, open requests left open. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful shutdown. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/** Starts `portcullis start` with `config` (listen is set here, on a free port) and waits for
 * /readyz. `env` carries the secrets the config names with { env }. */
export async function startGatewayProcess(name: string, dir: string, config: PortcullisConfigInput, env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const configFile = path.join(dir, `portcullis-${name}.yaml`);
  // JSON is YAML: the loader reads it as it would an operator's file.
  await writeFile(configFile, JSON.stringify({ ...config, listen: { host: "127.0.0.1", port } }, null, 2));
  const child = spawn(process.execPath, [...CLI_ARGS, "start", "-c", configFile], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  // The last of its log and errors, to say why it failed to start.
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`gateway ${name} exited before it was ready:\n${output}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`gateway ${name} was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    url,
    port,
    child,
    exited,
    async kill() {
      if (!ended()) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (!ended()) child.kill("SIGTERM");
      await exited;
    },
  };
}
