// Requests the gateway makes to LangGraph on its own account (policy lookups, following runs):
// sent as `portcullis:gateway` with the upstream credential, never with a client's identity.
import { readBounded } from "../boundedBody.js";
import { upstreamRequestHeaders, type UpstreamCredential } from "./headers.js";
import type { IdentityAssertionSigner } from "./identityAssertion.js";
import type { UpstreamClient } from "./upstream.js";
import type { Identity } from "../identify/index.js";

/** The gateway's own identity on its requests, for an upstream Auth handler that checks assertions. */
const GATEWAY_IDENTITY: Identity = {
  subject: "portcullis:gateway",
  kind: "service-account",
  groups: ["portcullis:gateway"],
  auth_method: "api-key",
  credential_id: "gateway",
};

/** Marks the gateway's own requests in LangGraph's logs (and lets tests tell them apart). */
export const GATEWAY_USER_AGENT = "portcullis-gateway";

export interface GatewayAuth {
  credential?: UpstreamCredential;
  identityAssertion?: IdentityAssertionSigner;
}

// Thread lookups carry the thread's values, which can be large; still a bound.
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

interface GatewayAnswer {
  status: number;
  text: string;
}

export async function gatewayRequest(
  upstream: UpstreamClient,
  auth: GatewayAuth,
  request: { method: "GET" | "POST"; path: string; body?: unknown; requestId: string; timeoutMs: number; signal?: AbortSignal; maxBytes?: number },
): Promise<GatewayAnswer> {
  const assertion = auth.identityAssertion;
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers = upstreamRequestHeaders(
    { accept: "application/json", "user-agent": GATEWAY_USER_AGENT, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    {
      forwardHeaders: [],
      ...(auth.credential ? { credential: auth.credential } : {}),
      ...(assertion ? { identityAssertion: { header: assertion.header, value: await assertion.sign(GATEWAY_IDENTITY, request.requestId) } } : {}),
      requestId: request.requestId,
      hasBody: body !== undefined,
    },
  );
  const response = await upstream.send({ method: request.method, pathAndQuery: request.path, headers, ...(body !== undefined ? { body } : {}), signal: request.signal ? AbortSignal.any([AbortSignal.timeout(request.timeoutMs), request.signal]) : AbortSignal.timeout(request.timeoutMs) });
  // Read within a cap: an answer the gateway asked for must not exhaust its memory.
  const limit = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const answer = await readBounded(response.body as AsyncIterable<Buffer>, limit);
  if (answer.overLimit && limit > 0) throw new Error(`the answer exceeds ${limit} bytes`);
  return { status: response.statusCode, text: answer.body.toString("utf8") };
}
