// `portcullis replay <session> --serve`: the recorded stream on a local port, so any SSE client
// (the LangGraph SDK's joinStream or runs.stream, curl, a test) consumes it as if live.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { playRecording, type RecordedEvent } from "./recording.js";

interface ReplayServer {
  url: string;
  server: Server;
  /** Resolves after a client has received the whole stream (for --once). */
  served: Promise<void>;
  close(): Promise<void>;
}

/** Any request whose path ends in /stream (GET joinStream, POST runs.stream) gets the recording. */
export async function serveRecording(events: readonly RecordedEvent[], options: { host: string; port: number; speed: number }): Promise<ReplayServer> {
  let markServed: () => void = () => undefined;
  const served = new Promise<void>((resolve) => (markServed = resolve));
  const server = createServer((req, res) => {
    // DNS rebinding: a web page must not read the recording through a name that points here.
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (!["127.0.0.1", "localhost", "[::1]", options.host].includes(host)) {
      res.writeHead(421, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "PC_BAD_REQUEST", message: "This replay server answers only requests addressed to its own host." }));
      return;
    }
    const path = new URL(req.url ?? "/", "http://replay").pathname;
    if (!path.endsWith("/stream")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "PC_NOT_FOUND", message: "This replay server answers only stream requests (a path ending in /stream)." }));
      return;
    }
    // The request body (a run's input) is irrelevant: the recording is what is replayed.
    req.resume();
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "x-portcullis-replay": "1" });
    playRecording(events, (text) => void res.write(text), { speed: options.speed, signal: abort.signal })
      .then(() => {
        res.end();
        if (!abort.signal.aborted) markServed();
      })
      .catch(() => res.destroy());
  });
  server.listen(options.port, options.host);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
