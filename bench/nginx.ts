// nginx as a plain reverse proxy in front of the benchmark upstream: the baseline a Layer-7 proxy
// costs, measured in the same run as Portcullis (issue 25). One worker process, as Portcullis is
// one Node process; upstream keep-alive, no buffering of event streams.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";

export interface RunningNginx {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const NGINX = "/usr/sbin/nginx";

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export async function startNginx(upstreamUrl: string, dir: string): Promise<RunningNginx> {
  const port = await freePort();
  const prefix = path.join(dir, "nginx");
  await mkdir(path.join(prefix, "logs"), { recursive: true });
  const upstream = new URL(upstreamUrl);
  const conf = `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
${process.getuid?.() === 0 ? "user root;" : ""}
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream langgraph { server ${upstream.hostname}:${upstream.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://langgraph;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
  const file = path.join(prefix, "nginx.conf");
  await writeFile(file, conf);
  const child = spawn(NGINX, ["-p", prefix, "-c", file], { stdio: ["ignore", "ignore", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/ok`).then((res) => res.status > 0, () => false);
    if (ok) break;
    if (attempt > 100) throw new Error("nginx did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    child,
    async stop() {
      child.kill("SIGTERM");
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

/** Whether Debian's nginx is installed (.ci/run installs it). */
export async function hasNginx(): Promise<boolean> {
  const { access } = await import("node:fs/promises");
  return access(NGINX).then(() => true, () => false);
}
