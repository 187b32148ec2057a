// Benchmark upstream: answers like a LangGraph server but does no work, so what is measured is
// the proxy. About 1 KB of JSON for POST /threads/search, three threads with their own ids and
// times in every answer (as a real server's are, so no cache of repeated text flatters the
// gateway); for POST /runs/stream an SSE stream whose events carry the wall-clock time they were
// written (performance.timeOrigin + now()), one every `intervalMs`, or as fast as the reader takes
// them when it is 0.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

function threadsPage(): string {
  const at = new Date().toISOString();
  return JSON.stringify(
    Array.from({ length: 3 }, () => ({
      thread_id: randomUUID(),
      created_at: at,
      updated_at: at,
      metadata: { owner: "bench", graph_id: "agent", assistant_id: "fe096781-5601-53d2-b2f6-0d3403f7e9ca" },
      status: "idle",
      values: { messages: [{ type: "human", id: randomUUID(), content: "Summarise the open items for the weekly review." }] },
      interrupts: {},
    })),
  );
}
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
      const event = () => `event: messages\ndata: [{"content":"x","type":"AIMessageChunk"},{"sent_at":${now()}}]\nid: ${sent}\n\n`;
      if (intervalMs === 0) {
        // As fast as the reader takes them: each event written as soon as the socket drains.
        const burst = () => {
          while (sent < count) {
            sent += 1;
            if (!res.write(event())) return void res.once("drain", burst);
          }
          res.end();
        };
        return burst();
      }
      const tick = setInterval(() => {
        sent += 1;
        res.write(event());
        if (sent >= count) {
          clearInterval(tick);
          res.end();
        }
      }, intervalMs);
      return;
    }
    const page = threadsPage();
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(page) });
    res.end(page);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
