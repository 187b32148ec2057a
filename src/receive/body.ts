// Reads a request body within the configured limit. API bodies are parsed as JSON whatever the
// declared content type: the JS server treats text/plain bodies as JSON (ensureContentType), so an
// inspection that trusted the header could be bypassed (langgraph-api.md §1).
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";

export interface RequestBody {
  /** Parsed JSON, or undefined when the request has no body. */
  json: unknown;
  /** `json` re-serialised: exactly what is forwarded, so what was inspected is what LangGraph reads. */
  forwarded: string | undefined;
  bytes: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<RequestBody> {
  const { text, bytes } = await readTextBody(req, maxBytes);
  if (text.trim() === "") return { json: undefined, forwarded: undefined, bytes };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // The parser's message quotes the body, which is recorded: only the position is kept.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new GatewayError(400, "PC_INVALID_JSON", `Refused: the request body is not valid JSON${position ? ` (at position ${position})` : ""}.`);
  }
  try {
    return { json, forwarded: JSON.stringify(json), bytes };
  } catch {
    // JSON.stringify recurses: a document nested deeper than the stack allows parses but cannot
    // be re-serialised. Refuse it here, before anything is recorded as forwarded.
    throw new GatewayError(400, "PC_INVALID_JSON", "Refused: the request body is nested too deeply.");
  }
}

/** An HTML form post (application/x-www-form-urlencoded), as the SAML HTTP-POST binding sends. */
export async function readFormBody(req: IncomingMessage, maxBytes: number): Promise<Record<string, string>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new GatewayError(415, "PC_BAD_REQUEST", "Refused: expected a form post (application/x-www-form-urlencoded).");
  }
  const { text } = await readTextBody(req, maxBytes);
  const form: Record<string, string> = {};
  // A repeated field is ambiguous (which one was checked?); refuse rather than pick one.
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(form, name)) throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: the form field '${name.slice(0, 64)}' appears more than once.`);
    form[name] = value;
  }
  return form;
}

async function readTextBody(req: IncomingMessage, maxBytes: number): Promise<{ text: string; bytes: number }> {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") {
    throw new GatewayError(415, "PC_UNSUPPORTED_ENCODING", `Refused: request bodies must not be compressed (content-encoding: ${encoding}).`);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);

  const chunks: Buffer[] = [];
  let bytes = 0;
  // Event-based rather than for-await: leaving a for-await loop early destroys the socket, and
  // the client would never see the 413.
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      req.pause();
      reject(tooLarge(maxBytes));
    };
    req.on("data", onData);
    req.once("end", resolve);
    req.once("error", reject);
    req.once("close", () => {
      if (!req.complete) reject(new Error("the client closed the connection while sending the body"));
    });
  });
  try {
    return { text: utf8.decode(Buffer.concat(chunks, bytes)), bytes };
  } catch {
    throw new GatewayError(400, "PC_INVALID_JSON", "Refused: the request body is not valid UTF-8.");
  }
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(413, "PC_BODY_TOO_LARGE", `Refused: the request body exceeds the ${maxBytes}-byte limit (limits.max_body_bytes).`);
}
