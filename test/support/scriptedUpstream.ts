// A stand-in upstream for wire-level cases the real server cannot be made to produce on demand:
// the 2.0.0 multi-line SSE format, CRLF framing, a connection dying mid-stream, long silences.
// Every request it receives is kept so tests can see exactly what crossed the gateway.
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ScriptedUpstream {
  url: string;
  received: ReceivedRequest[];
  /** Replaced per test; the default answers {"ok":true}. */
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;
  openConnections(): number;
  close(): Promise<void>;
}

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const received: ReceivedRequest[] = [];
  let connections = 0;
  const upstream: ScriptedUpstream = {
    url: "",
    received,
    handle: (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    },
    openConnections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    await upstream.handle(req, res, body);
  });
  server.on("connection", (socket) => {
    connections += 1;
    socket.once("close", () => (connections -= 1));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return upstream;
}

export function sseHeaders(res: ServerResponse, extra: Record<string, string> = {}): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...extra });
  res.flushHeaders();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
