// A real load balancer for the scale-out tests and benchmark: Debian's HAProxy, round robin with no
// stickiness, in front of gateway replicas. A replica that refuses connections is taken out by
// its health check (GET /readyz) and, until then, a failed connection is retried on another.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "./ports.js";

const HAPROXY = "/usr/sbin/haproxy";

export interface TestBalancer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `port`: where it listens, when its URL must be known before the replicas start (their
 * identity.login.public_url); a free port otherwise. */
export async function startHaproxy(dir: string, name: string, backends: readonly { name: string; port: number }[], port?: number): Promise<TestBalancer> {
  if (!existsSync(HAPROXY)) throw new Error(`the scale-out tests need HAProxy at ${HAPROXY} (Debian: apt-get install -y haproxy; .ci/run does this)`);
  port ??= await freePort();
  const configFile = path.join(dir, `haproxy-${name}.cfg`);
  await writeFile(
    configFile,
    `global
  maxconn 2048
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 5s
  timeout check 5s
  # A connection refused by a dead replica is retried on another one.
  retries 3
  option redispatch 1
  retry-on conn-failure
frontend gateways
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
${backends.map((backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check inter 300ms fall 3 rise 1`).join("\n")}
`,
  );
  const child: ChildProcess = spawn(HAPROXY, ["-db", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false))) {
    if (child.exitCode !== null) throw new Error(`HAProxy exited:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`HAProxy did not answer within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
