// What the stand-in Agent Server endpoints (MCP, A2A) share: every path they do not serve goes to
// the real LangGraph server unchanged (so the gateway's lookups reach it), and one local listener.
import { once } from "node:events";
import { request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Upstream } from "./stack.js";

export function passToLangGraph(upstream: Upstream): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const target = new URL(req.url ?? "/", upstream.url);
    const forwarded = request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  };
}

export async function listenLocally(http: Server): Promise<{ url: string; stop(): Promise<void> }> {
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
