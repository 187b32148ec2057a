// What policy needs to know that the request does not say: which graph an assistant runs, who
// owns a thread or a cron, which thread a run is on. Asked of the LangGraph server by the gateway
// itself, briefly cached. A lookup that fails refuses the request: a decision is never made on
// missing facts.
import { GatewayError } from "../errors.js";
import { gatewayRequest, type GatewayAuth, type UpstreamClient } from "../forward/index.js";
import type { CronFacts, ThreadFacts } from "./evaluate.js";
import { isObject } from "../jsonText.js";


/** Thread and cron metadata keys the gateway owns: stamped on create, never set by clients. */
export const OWNER_KEY = "portcullis_owner";
export const TENANT_KEY = "portcullis_tenant";

interface AssistantFacts {
  assistant_id: string;
  graph_id: string;
}

const INVALID_ID = Symbol("invalid id");
const ASSISTANT_TTL_MS = 30_000;
const THREAD_TTL_MS = 10_000;
const RUN_TTL_MS = 10 * 60_000;
const CRON_TTL_MS = 10_000;
// LangGraph has no route that reads one cron: its search is paged through, this far at most
// (one request naming an unknown cron must not cost LangGraph more than a few searches).
const CRON_PAGE_SIZE = 100;
const CRON_MAX_PAGES = 10;
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
  private readonly crons = new Map<string, Cached<CronFacts>>();

  constructor(
    private readonly upstream: UpstreamClient,
    private readonly auth: GatewayAuth,
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

  /** Whether a run belongs to a thread: LangGraph joins a run by its id alone (its queue is keyed
   * by run id), whatever thread the path names. A run never moves, so a yes is kept. A run id
   * LangGraph cannot parse is on no thread. */
  async runIsOnThread(threadId: string, runId: string, requestId: string): Promise<boolean> {
    const key = `${threadId}/${runId}`;
    if (fresh(this.runs, key)) return true;
    const answer = await this.get(`/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}`, requestId, [400, 422]);
    const onThread = answer !== undefined && answer !== INVALID_ID && answer.thread_id === threadId;
    if (onThread) remember(this.runs, key, true, RUN_TTL_MS);
    return onThread;
  }

  /** Who owns a cron. LangGraph has no route that reads one cron, so its search is paged through
   * for the id, oldest first (a cron created meanwhile goes at the end). Anything short of finding
   * it proves nothing, and the cron is treated as absent: a server that does not implement crons
   * (the JS server answers 500 "Not implemented"), an answer that is not a list, more crons than
   * the scan reads. */
  async cron(id: string, requestId: string): Promise<CronFacts> {
    const cached = fresh(this.crons, id);
    if (cached) return cached.value;
    for (let page = 0; page < CRON_MAX_PAGES; page += 1) {
      const body = { limit: CRON_PAGE_SIZE, offset: page * CRON_PAGE_SIZE, sort_by: "created_at", sort_order: "asc" };
      const answer = await this.send("POST", "/runs/crons/search", requestId, body);
      const crons = answer.status === 200 ? parseJson(answer.text) : undefined;
      if (!Array.isArray(crons)) break;
      const found: unknown = crons.find((cron) => isObject(cron) && cron.cron_id === id);
      if (isObject(found)) {
        const metadata = isObject(found.metadata) ? found.metadata : {};
        const facts: CronFacts = {
          cron_id: id,
          exists: true,
          ...(typeof metadata[OWNER_KEY] === "string" ? { owner: metadata[OWNER_KEY] } : {}),
          ...(typeof metadata[TENANT_KEY] === "string" ? { tenant: metadata[TENANT_KEY] } : {}),
        };
        remember(this.crons, id, facts, CRON_TTL_MS);
        return facts;
      }
      if (crons.length < CRON_PAGE_SIZE) break;
    }
    return { cron_id: id, exists: false };
  }

  /** After a change through the gateway (create, delete, PATCH), the next request looks again. */
  forgetThread(id: string): void {
    this.threads.delete(id);
  }

  forgetCron(id: string): void {
    this.crons.delete(id);
  }

  forgetAssistant(id: string): void {
    this.assistants.delete(id);
  }

  /** undefined for 404; INVALID_ID for a status in `invalidIdStatuses` (the id does not parse). */
  private async get(path: string, requestId: string, invalidIdStatuses: number[] = []): Promise<Record<string, unknown> | typeof INVALID_ID | undefined> {
    const answer = await this.send("GET", path, requestId);
    if (answer.status === 404) return undefined;
    if (invalidIdStatuses.includes(answer.status)) return INVALID_ID;
    if (answer.status !== 200) {
      throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", `Refused: a policy lookup (${path.split("/")[1]}) failed upstream with status ${answer.status}.`);
    }
    const parsed = parseJson(answer.text);
    if (isObject(parsed)) return parsed;
    // An answer that is not a JSON object is a failed lookup.
    throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", "Refused: a policy lookup got an answer that is not JSON.");
  }

  /** A lookup that gets no answer refuses the request. */
  private async send(method: "GET" | "POST", path: string, requestId: string, body?: unknown): Promise<{ status: number; text: string }> {
    try {
      return await gatewayRequest(this.upstream, this.auth, { method, path, requestId, timeoutMs: LOOKUP_TIMEOUT_MS, ...(body !== undefined ? { body } : {}) });
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw new GatewayError(502, "PC_UPSTREAM_UNAVAILABLE", "Refused: the LangGraph server did not answer a policy lookup.", { cause: error });
    }
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
