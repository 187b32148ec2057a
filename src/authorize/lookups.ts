// What policy needs to know that the request does not say: which graph an assistant runs, and
// who owns a thread. Asked of the LangGraph server by the gateway itself, briefly cached. A
// lookup that fails refuses the request: a decision is never made on missing facts.
import { GatewayError } from "../errors.js";
import { upstreamRequestHeaders, type UpstreamCredential } from "../forward/headers.js";
import type { IdentityAssertionSigner } from "../forward/identityAssertion.js";
import type { UpstreamClient } from "../forward/upstream.js";
import type { Identity } from "../identify/identity.js";
import type { ThreadFacts } from "./evaluate.js";

/** Thread metadata keys the gateway owns: stamped on create, never set by clients. */
export const OWNER_KEY = "portcullis_owner";
export const TENANT_KEY = "portcullis_tenant";

export interface AssistantFacts {
  assistant_id: string;
  graph_id: string;
}

/** The gateway's own identity on lookups, for an upstream Auth handler that checks assertions. */
export const GATEWAY_IDENTITY: Identity = {
  subject: "portcullis:gateway",
  kind: "service-account",
  groups: ["portcullis:gateway"],
  auth_method: "api-key",
  credential_id: "gateway",
};

const INVALID_ID = Symbol("invalid id");
const ASSISTANT_TTL_MS = 30_000;
const THREAD_TTL_MS = 10_000;
const RUN_TTL_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;
const LOOKUP_TIMEOUT_MS = 10_000;

interface Cached<T> {
  value: T;
  expiresMs: number;
}

export class ResourceLookups {
  private readonly assistants = new Map<string, Cached<AssistantFacts | undefined>>();
  private readonly threads = new Map<string, Cached<ThreadFacts>>();
  private readonly runs = new Map<string, Cached<true>>();

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly auth: { credential?: UpstreamCredential; identityAssertion?: IdentityAssertionSigner },
  ) {}

  /** The assistant an id names, given as a UUID or as a graph name (the server maps a graph name
   * to its system assistant, langgraph-api.md §1); undefined when there is none. */
  async assistant(id: string, requestId: string): Promise<AssistantFacts | undefined> {
    const cached = fresh(this.assistants, id);
    if (cached) return cached.value;
    const answer = await this.get(`/assistants/${encodeURIComponent(id)}`, requestId);
    const value =
      answer && answer !== INVALID_ID && typeof answer.assistant_id === "string" && typeof answer.graph_id === "string" ? { assistant_id: answer.assistant_id, graph_id: answer.graph_id } : undefined;
    remember(this.assistants, id, value, ASSISTANT_TTL_MS);
    return value;
  }

  /** `current`: skip the cache, for facts that change run by run (the thread's status). */
  async thread(id: string, requestId: string, options: { current?: boolean } = {}): Promise<ThreadFacts> {
    const cached = options.current ? undefined : fresh(this.threads, id);
    if (cached) return cached.value;
    const answer = await this.get(`/threads/${encodeURIComponent(id)}`, requestId, [400, 422]);
    if (answer === INVALID_ID) return { thread_id: id, exists: false, invalid: true };
    if (!answer) return { thread_id: id, exists: false };
    const metadata = isObject(answer.metadata) ? answer.metadata : {};
    const facts: ThreadFacts = {
      thread_id: id,
      exists: true,
      ...(typeof answer.status === "string" ? { status: answer.status } : {}),
      ...(typeof metadata[OWNER_KEY] === "string" ? { owner: metadata[OWNER_KEY] } : {}),
      ...(typeof metadata[TENANT_KEY] === "string" ? { tenant: metadata[TENANT_KEY] } : {}),
      ...(typeof metadata.graph_id === "string" ? { graph_id: metadata.graph_id } : {}),
    };
    remember(this.threads, id, facts, THREAD_TTL_MS);
    return facts;
  }

  /** Whether a run belongs to a thread: LangGraph joins a run's stream by run id alone, whatever
   * thread the path names. A run never moves, so a yes is kept. */
  async runIsOnThread(threadId: string, runId: string, requestId: string): Promise<boolean> {
    const key = `${threadId}/${runId}`;
    if (fresh(this.runs, key)) return true;
    const answer = await this.get(`/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}`, requestId);
    const onThread = answer !== undefined && answer !== INVALID_ID && answer.thread_id === threadId;
    if (onThread) remember(this.runs, key, true, RUN_TTL_MS);
    return onThread;
  }

  /** After a change through the gateway (create, delete, PATCH), the next request looks again. */
  forgetThread(id: string): void {
    this.threads.delete(id);
  }

  forgetAssistant(id: string): void {
    this.assistants.delete(id);
  }

  /** undefined for 404; INVALID_ID for a status in `invalidIdStatuses` (the id does not parse). */
  private async get(path: string, requestId: string, invalidIdStatuses: number[] = []): Promise<Record<string, unknown> | typeof INVALID_ID | undefined> {
    const assertion = this.auth.identityAssertion;
    const headers = upstreamRequestHeaders(
      { accept: "application/json" },
      {
        forwardHeaders: [],
        ...(this.auth.credential ? { credential: this.auth.credential } : {}),
        ...(assertion ? { identityAssertion: { header: assertion.header, value: await assertion.sign(GATEWAY_IDENTITY, requestId) } } : {}),
        requestId,
        hasBody: false,
      },
    );
    const response = await this.upstream.send({ method: "GET", pathAndQuery: path, headers, signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", "Refused: the LangGraph server did not answer a policy lookup.", { cause: error });
    }
    if (response.statusCode === 404) return undefined;
    if (invalidIdStatuses.includes(response.statusCode)) return INVALID_ID;
    if (response.statusCode !== 200) {
      throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", `Refused: a policy lookup (${path.split("/")[1]}) failed upstream with status ${response.statusCode}.`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed)) return parsed;
    } catch {
      // fall through: an answer that is not a JSON object is a failed lookup
    }
    throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", "Refused: a policy lookup got an answer that is not JSON.");
  }
}

function fresh<T>(cache: Map<string, Cached<T>>, key: string): Cached<T> | undefined {
  const entry = cache.get(key);
  if (!entry) return undefined;
  if (entry.expiresMs > Date.now()) return entry;
  cache.delete(key);
  return undefined;
}

function remember<T>(cache: Map<string, Cached<T>>, key: string, value: T, ttlMs: number): void {
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, { value, expiresMs: Date.now() + ttlMs });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
