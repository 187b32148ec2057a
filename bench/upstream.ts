// Benchmark upstream: answers like a LangGraph server but does no work, so what is measured is
// the proxy. Small JSON for POST /threads/search; for POST /runs/stream an SSE stream whose
// events carry the wall-clock time they were written (performance.timeOrigin + now()).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const SMALL = JSON.stringify([{ thread_id: "01a200ec-78e1-727d-931b-2889c2c332a9", status: "idle", metadata: { owner: "bench" }, values: {} }]);
const now = () => performance.timeOrigin + performance.now();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    if (req.url?.startsWith("/runs/stream")) {
      const { count, intervalMs } = JSON.parse(Buffer.concat(chunks).toString() || "{}").input ?? { count: 100, intervalMs: 1 };
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(`event: metadata\ndata: {"run_id":"bench","attempt":1}\nid: 0\n\n`);
      let sent = 0;
      const tick = setInterval(() => {
        sent += 1;
        res.write(`event: messages\ndata: [{"content":"x","type":"AIMessageChunk"},{"sent_at":${now()}}]\nid: ${sent}\n\n`);
        if (sent >= count) {
          clearInterval(tick);
          res.end();
        }
      }, intervalMs);
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(SMALL) });
    res.end(SMALL);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
