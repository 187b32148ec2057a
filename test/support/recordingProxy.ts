// A reverse proxy between the gateway and the real LangGraph server that keeps every request the
// gateway sends (method, path and query, headers, body), so a test can prove what did, and did not,
// reach LangGraph. It forwards everything, the gateway's upstream key included, and streams
// responses through unchanged (SSE too).
import { once } from "node:events";
import { Agent, createServer, request, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as the gateway sent them. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingProxy {
  url: string;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  clear(): void;
  close(): Promise<void>;
}

// RFC 9110 §7.6.1: connection-specific, not forwarded; the body is re-sent with its own length.
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"];

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: body.toString("utf8") });

    const headers: IncomingHttpHeaders = { ...req.headers };
    for (const name of HOP_BY_HOP) delete headers[name];
    headers.host = upstream.host;
    if (body.length > 0) headers["content-length"] = String(body.length);
    const forwarded = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      const answerHeaders = { ...answer.headers };
      for (const name of HOP_BY_HOP) delete answerHeaders[name];
      res.writeHead(answer.statusCode ?? 502, answerHeaders);
      res.flushHeaders();
      answer.pipe(res);
    });
    // The gateway hanging up (a client that left a stream) ends the upstream request too.
    res.once("close", () => forwarded.destroy());
    forwarded.once("error", () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    forwarded.end(body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    clear: () => void (requests.length = 0),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
