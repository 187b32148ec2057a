// A bare Node.js reverse proxy in front of the benchmark upstream: node:http in, undici's Pool
// out (the same two layers the gateway uses), and nothing else: no identity, policy, masking or
// ledger. It is what any proxy written in Node costs before it does anything, measured in the
// same run as nginx and Portcullis (issue 25), so the gap to nginx can be split into Node's share
// and the controls' share.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool, type Dispatcher } from "undici";

const [upstreamUrl] = process.argv.slice(2) as [string];
const pool = new Pool(upstreamUrl, { keepAliveTimeout: 30_000, bodyTimeout: 0 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    pool
      .request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? "/",
        headers: { "content-type": req.headers["content-type"] ?? "application/json", "x-api-key": "bench-upstream-key" },
        body: Buffer.concat(chunks),
      })
      .then(async (upstream) => {
        res.writeHead(upstream.statusCode, { "content-type": String(upstream.headers["content-type"] ?? "application/json") });
        for await (const chunk of upstream.body) res.write(chunk);
        res.end();
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
