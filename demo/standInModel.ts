// An OpenAI-compatible stand-in for a model provider, for the demo and the tests: it accepts
// only the API key it was started with (as the real provider would), records what it received,
// and answers chat completions with a fixed reply that quotes the last user message, streamed
// word by word when asked to. It lets `portcullis demo` show egress without a real provider key.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StandInRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface StandInModel {
  /** Base URL, e.g. http://127.0.0.1:1234/v1 */
  url: string;
  requests: StandInRequest[];
  close(): Promise<void>;
}

export interface StandInOptions {
  apiKey: string;
  port?: number;
  /** Pause between streamed tokens. */
  tokenDelayMs?: number;
  /** Answers a request itself, before the key check (tests: redirects, echoes), when it returns true. */
  extra?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean;
}

export async function startStandInModel(options: StandInOptions): Promise<StandInModel> {
  const requests: StandInRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      answer(req, res, body, options).catch(() => res.destroy());
    });
  });
  server.listen(options.port ?? 0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, body: string, options: StandInOptions): Promise<void> {
  if (options.extra?.(req, res, body)) return;
  if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
    return json(res, 401, { error: { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" } });
  }
  const path = (req.url ?? "").split("?")[0];
  if (req.method === "GET" && path === "/v1/models") return json(res, 200, { object: "list", data: [{ id: "stand-in", object: "model", owned_by: "portcullis-demo" }] });
  if (req.method !== "POST" || path !== "/v1/chat/completions") return json(res, 404, { error: { message: `Unknown path ${path}`, type: "invalid_request_error" } });
  let request: { model?: string; stream?: boolean; messages?: { role: string; content: unknown }[] };
  try {
    request = JSON.parse(body) as typeof request;
  } catch {
    return json(res, 400, { error: { message: "The body is not JSON.", type: "invalid_request_error" } });
  }
  const lastUser = [...(request.messages ?? [])].reverse().find((message) => message.role === "user");
  const said = typeof lastUser?.content === "string" ? lastUser.content : JSON.stringify(lastUser?.content ?? "");
  const reply = `Hello from the stand-in model. You said: ${said}`;
  const id = `chatcmpl-${randomUUID()}`;
  const model = request.model ?? "stand-in";
  const created = Math.floor(Date.now() / 1000);
  if (!request.stream) {
    return json(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" }],
      usage: { prompt_tokens: 10, completion_tokens: reply.split(" ").length, total_tokens: 10 + reply.split(" ").length },
    });
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: "assistant", content: "" }, null));
  const words = reply.split(/(?<= )/);
  for (const word of words) {
    if (options.tokenDelayMs) await new Promise((resolve) => setTimeout(resolve, options.tokenDelayMs));
    if (res.destroyed) return;
    res.write(chunk({ content: word }, null));
  }
  res.write(chunk({}, "stop"));
  res.end("data: [DONE]\n\n");
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
