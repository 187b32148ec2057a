// Reads a request body within the configured limits. API bodies are parsed as JSON whatever the
// declared content type: the JS server treats text/plain bodies as JSON (ensureContentType), so an
// inspection that trusted the header could be bypassed (langgraph-api.md §1).
import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.js";
import { countMembers, countParsedMembers } from "../jsonText.js";
import { JsonDepthScanner } from "./jsonDepth.js";

export interface RequestBody {
  /** Parsed JSON, or undefined when the request has no body. */
  json: unknown;
  /** What is forwarded: the body as sent, byte for byte (number text, key order, integers past
   * 2^53), unless an object repeats a key. Then `json` re-serialised, so the one value that was
   * inspected is the one LangGraph reads, whatever its parser does with repeated keys. */
  forwarded: string | undefined;
  bytes: number;
}

/** limits.max_json_depth's default and ceiling: the deepest nesting the masker scans
 * (src/mask/masker.ts), so a deeper body could never be passed on anyway. */
const DEFAULT_MAX_JSON_DEPTH = 512;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads and parses a JSON body. Nesting past `maxDepth` is refused while the body arrives,
 * before it is parsed; numbers JSON.parse reads as ±Infinity are refused after. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number, maxDepth = DEFAULT_MAX_JSON_DEPTH): Promise<RequestBody> {
  const depth = new JsonDepthScanner(maxDepth);
  const { text, bytes } = await readTextBody(req, maxBytes, (chunk) => (depth.scan(chunk) ? undefined : tooDeep(maxDepth)));
  if (text.trim() === "") return { json: undefined, forwarded: undefined, bytes };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // The parser's message quotes the body, which is recorded: only the position is kept.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new GatewayError(400, "PC_INVALID_JSON", `Refused: the request body is not valid JSON${position ? ` (at position ${position})` : ""}.`);
  }
  assertFiniteNumbers(json);
  // Fewer members parsed than written: a key was repeated, and JSON.parse kept its last copy.
  return { json, forwarded: countMembers(text) === countParsedMembers(json) ? text : JSON.stringify(json), bytes };
}

/** What makes a request carry a body (RFC 9112 §6.3): a non-zero Content-Length, or any
 * Transfer-Encoding, which is chunked even when only the last chunk follows. Undefined when none. */
function declaredBody(req: IncomingMessage): string | undefined {
  const encoding = req.headers["transfer-encoding"];
  if (encoding !== undefined) return `Transfer-Encoding: ${encoding.slice(0, 64)}`;
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) !== 0) return `Content-Length: ${length.slice(0, 20)}`;
  return undefined;
}

// RFC 9110 §9.3.1, §9.3.2: content in a GET or HEAD request has no generally defined semantics,
// so the gateway and LangGraph (or anything between) could read it differently.
const BODYLESS_METHODS = new Set(["GET", "HEAD"]);

/** A GET or HEAD request with a body is refused, whatever its path. */
export function assertNoBodyOnBodylessMethod(req: IncomingMessage): void {
  const declared = declaredBody(req);
  if (declared && BODYLESS_METHODS.has(req.method ?? "")) {
    throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: ${req.method} requests take no body, but this one has one (${declared}); send the parameters in the query string.`);
  }
}

// The JS server's DELETE handlers read the path and query only, except DELETE /store/items, which
// validates {namespace, key} from the body (langgraph-api.md §1; @langchain/langgraph-api
// dist/api/store.mjs). A body on any other DELETE would be forwarded unread.
const DELETE_ROUTES_READING_A_BODY = new Set(["store.delete"]);

/** After the route is matched: a DELETE that LangGraph answers without reading a body must not carry one. */
export function assertRouteReadsBody(req: IncomingMessage, route: { method: string; route: string; pattern: string }): void {
  const declared = declaredBody(req);
  if (declared && route.method === "DELETE" && !DELETE_ROUTES_READING_A_BODY.has(route.route)) {
    throw new GatewayError(400, "PC_BAD_REQUEST", `Refused: DELETE ${route.pattern} takes no body, but this one has one (${declared}); send it without a body.`);
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

/** A body as text within `maxBytes` (413, 415 and UTF-8 refusals as GatewayErrors). `inspect`
 * sees each chunk as it arrives and may refuse the body there and then. */
export async function readTextBody(
  req: IncomingMessage,
  maxBytes: number,
  inspect?: (chunk: Buffer) => GatewayError | undefined,
): Promise<{ text: string; bytes: number }> {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") {
    throw new GatewayError(415, "PC_UNSUPPORTED_ENCODING", `Refused: request bodies must not be compressed (content-encoding: ${encoding}).`);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);

  const chunks: Buffer[] = [];
  let bytes = 0;
  // Event-based rather than for-await: leaving a for-await loop early destroys the socket, and
  // the client would never see the refusal.
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      const refusal = bytes > maxBytes ? tooLarge(maxBytes) : inspect?.(chunk);
      if (!refusal) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      req.pause();
      reject(refusal);
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

/** JSON.parse reads a number too large for a double (1e999) as ±Infinity, which JSON.stringify
 * writes as null: the gateway would inspect one value and forward another (RFC 8259 §6 leaves
 * such numbers to the implementation). The walk is as deep as the body, which the depth limit
 * bounds. */
function assertFiniteNumbers(value: unknown): void {
  const path: Array<string | number> = [];
  const walk = (node: unknown): boolean => {
    if (typeof node === "number") return !Number.isFinite(node);
    if (node === null || typeof node !== "object") return false;
    if (Array.isArray(node)) {
      for (let index = 0; index < node.length; index += 1) {
        path.push(index);
        if (walk(node[index])) return true;
        path.pop();
      }
      return false;
    }
    for (const key of Object.keys(node)) {
      path.push(key);
      if (walk((node as Record<string, unknown>)[key])) return true;
      path.pop();
    }
    return false;
  };
  if (walk(value)) {
    throw new GatewayError(
      400,
      "PC_INVALID_JSON",
      `Refused: the number at ${fieldPath(path)} is too large for JSON to carry (it would be read as Infinity and forwarded as null); send a finite number.`,
    );
  }
}

/** A JSONPath for a message: $.limit, $.input.messages[0], $["odd key"]. */
function fieldPath(path: Array<string | number>): string {
  let text = "$";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(segment)) text += `.${segment}`;
    else text += `[${JSON.stringify(segment.slice(0, 64))}]`;
    if (text.length > 512) return `${text.slice(0, 512)}…`;
  }
  return text;
}

function tooDeep(maxDepth: number): GatewayError {
  return new GatewayError(400, "PC_INVALID_JSON", `Refused: the request body is nested too deeply (more than ${maxDepth} levels of arrays and objects: limits.max_json_depth).`);
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(413, "PC_BODY_TOO_LARGE", `Refused: the request body exceeds the ${maxBytes}-byte limit (limits.max_body_bytes).`);
}
