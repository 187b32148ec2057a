// Every run the gateway admits is followed to its end by the gateway itself, so its record never
// depends on a client staying connected (background runs have no client at all). The follower
// polls the run's status (joining its stream would lose events emitted before the join,
// langgraph-api.md §6), then reads the run's checkpoints from the thread's history: the steps the
// graph took and the nodes that ran, which no stream mode chosen by the client can hide.
// The runs being followed are kept with a tracker (the ledger's store) from the moment LangGraph
// names them until their record is written, so that when this process dies a live instance takes
// them over (docs/scale-out.md).
import type { Logger } from "pino";
import { gatewayRequest, type GatewayAuth, type UpstreamClient } from "../forward/index.js";
import type { AuditSink, RunRecord } from "./auditRecord.js";
import { payloadFor, type PayloadMasker } from "./payloads.js";

export interface FollowedRun {
  requestId: string;
  runId: string;
  threadId: string | null;
  subject: string | null;
  /** The graphs policy looked up; when none did, the follower looks them up from the assistants. */
  graphs: string[];
  assistantIds: string[];
}

/** Where the runs being followed are kept, so that a live instance takes over the runs of one
 * that dies (the ledger: src/ledger/ledger.ts, takeOverRuns). */
interface RunTracker {
  trackRun(run: FollowedRun): Promise<void>;
  untrackRun(requestId: string): Promise<void>;
  /** Other instances share the tracker (PostgreSQL): a run unfinished at shutdown is left to
   * them rather than recorded as it stands. */
  readonly handsOverRuns: boolean;
}

interface RunFollowerOptions {
  upstream: UpstreamClient;
  auth: GatewayAuth;
  audit: AuditSink;
  masker: PayloadMasker;
  log: Logger;
  /** First poll interval; doubles up to maxPollMs while the run is still going. */
  pollMs: number;
  maxPollMs: number;
  /** Give up (and record that) after this long. */
  maxFollowMs: number;
  /** Largest thread history read for the steps; a larger answer is recorded as an error. */
  maxHistoryBytes: number;
  tracker?: RunTracker;
}

const MAX_STEPS = 200;
// The run just ended, so its checkpoints are the newest of the thread's: no need for older ones.
const HISTORY_LIMIT = MAX_STEPS + 2;
const ACTIVE = new Set(["pending", "running"]);

export class RunFollower {
  private readonly following = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();

  constructor(private readonly options: RunFollowerOptions) {}

  /** A run was created (its id is known from the upstream's answer, before the exchange ends):
   * kept with the tracker, so that the run is still followed if this process dies mid-exchange.
   * A tracker that fails is logged; the run is then followed by this process only. */
  async started(run: FollowedRun): Promise<void> {
    await this.options.tracker?.trackRun(run).catch((error: unknown) => this.options.log.error({ err: error, run_id: run.runId, request_id: run.requestId }, "the run could not be tracked for takeover"));
  }

  /** Starts following a run once; later calls for the same run are ignored. */
  follow(run: FollowedRun): void {
    if (this.following.has(run.runId) || this.stop.signal.aborted) return;
    const done = this.followToEnd(run)
      .catch((error: unknown) => this.options.log.error({ err: error, run_id: run.runId, request_id: run.requestId }, "run record could not be written"))
      .finally(() => this.following.delete(run.runId));
    this.following.set(run.runId, done);
  }

  get active(): number {
    return this.following.size;
  }

  /** On shutdown: stop polling; each unfinished run is left to another instance when the tracker
   * is shared, else recorded as it stands. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.following.values());
  }

  private async followToEnd(run: FollowedRun): Promise<void> {
    const started = Date.now();
    let delay = this.options.pollMs;
    let status = "unknown";
    let error: string | undefined;
    for (;;) {
      try {
        status = await this.status(run);
      } catch (failure) {
        error = `status lookup failed: ${(failure as Error).message}`;
      }
      if (!ACTIVE.has(status) && status !== "unknown") break;
      if (this.stop.signal.aborted) {
        if (this.options.tracker?.handsOverRuns) {
          // Still tracked: a live instance takes it over once this one's lease ends (at shutdown).
          this.options.log.info({ run_id: run.runId, request_id: run.requestId }, "run left to another gateway instance to follow");
          return;
        }
        error ??= "gateway shut down before the run ended";
        break;
      }
      if (Date.now() - started > this.options.maxFollowMs) {
        error ??= `still ${status} after ${this.options.maxFollowMs} ms`;
        break;
      }
      await sleep(delay, this.stop.signal);
      delay = Math.min(delay * 2, this.options.maxPollMs);
    }
    // Off the request's path: sessions are found by graph even when no rule needed it.
    const graphs = run.graphs.length > 0 ? run.graphs : await this.graphsOf(run);
    const history = run.threadId ? await this.steps(run).catch((failure: unknown) => ({ error: `history lookup failed: ${(failure as Error).message}` })) : undefined;
    const record: RunRecord = {
      type: "run",
      request_id: run.requestId,
      time: new Date().toISOString(),
      run_id: run.runId,
      thread_id: run.threadId,
      ...(graphs.length > 0 ? { graphs } : {}),
      status,
      steps: history && "steps" in history ? history.steps : [],
      ...(history && "steps" in history && history.truncated ? { steps_truncated: true } : {}),
      ...(history && "next" in history && history.next.length > 0 ? { next: history.next, interrupts: history.interrupts } : {}),
      ...(history && "output" in history && history.output ? { output: history.output.reference } : {}),
      followed_ms: Date.now() - started,
      ...((error ?? (history && "error" in history ? history.error : undefined)) ? { error: error ?? (history as { error: string }).error } : {}),
    };
    const output = history && "output" in history ? history.output : undefined;
    await this.options.audit.append(record, { subject: run.subject, graphs, ...(output ? { payloads: [output.payload] } : {}) });
    // Only once the record is committed: a process that dies before this leaves the run to a survivor.
    await this.options.tracker?.untrackRun(run.requestId);
  }

  /** Best-effort: a graph that cannot be looked up stays unknown on the record. */
  private async graphsOf(run: FollowedRun): Promise<string[]> {
    const graphs = new Set<string>();
    for (const id of new Set(run.assistantIds)) {
      const answer = await gatewayRequest(this.options.upstream, this.options.auth, { method: "GET", path: `/assistants/${encodeURIComponent(id)}`, requestId: run.requestId, timeoutMs: 10_000 }).catch(() => undefined);
      if (answer?.status !== 200) continue;
      try {
        const graph = (JSON.parse(answer.text) as { graph_id?: unknown }).graph_id;
        if (typeof graph === "string") graphs.add(graph);
      } catch {
        continue;
      }
    }
    return [...graphs];
  }

  private async status(run: FollowedRun): Promise<string> {
    if (!run.threadId) {
      // A stateless run has no status route; its stream ends when the run does.
      const path = `/runs/${encodeURIComponent(run.runId)}/stream`;
      const answer = await gatewayRequest(this.options.upstream, this.options.auth, { method: "GET", path, requestId: run.requestId, timeoutMs: this.options.maxFollowMs, signal: this.stop.signal, maxBytes: 0 });
      return answer.status === 200 ? "ended" : "not_found";
    }
    const path = `/threads/${encodeURIComponent(run.threadId)}/runs/${encodeURIComponent(run.runId)}`;
    const answer = await gatewayRequest(this.options.upstream, this.options.auth, { method: "GET", path, requestId: run.requestId, timeoutMs: 10_000 });
    if (answer.status === 404) return "not_found";
    if (answer.status !== 200) throw new Error(`LangGraph answered ${answer.status}`);
    const status = (JSON.parse(answer.text) as { status?: unknown }).status;
    return typeof status === "string" ? status : "unknown";
  }

  /** The run's checkpoints, oldest first: each checkpoint's `next` names the nodes the following
   * step ran, and the last one holds the run's output. */
  private async steps(run: FollowedRun) {
    const answer = await gatewayRequest(this.options.upstream, this.options.auth, {
      method: "POST",
      path: `/threads/${encodeURIComponent(run.threadId!)}/history`,
      body: { limit: HISTORY_LIMIT },
      requestId: run.requestId,
      timeoutMs: 10_000,
      maxBytes: this.options.maxHistoryBytes,
    });
    if (answer.status !== 200) throw new Error(`LangGraph answered ${answer.status}`);
    const history = (JSON.parse(answer.text) as StateSnapshot[]).filter((state) => state.metadata?.run_id === run.runId).reverse();
    const steps = history.map((state, i) => ({
      step: typeof state.metadata?.step === "number" ? state.metadata.step : i - 1,
      source: typeof state.metadata?.source === "string" ? state.metadata.source : "unknown",
      // The nodes that produced this checkpoint: those the previous checkpoint said would run next.
      nodes: i > 0 ? namesOf(history[i - 1]!) : state.metadata?.source === "input" ? ["__start__"] : [],
    }));
    const last = history.at(-1);
    const values = last ? JSON.stringify(last.values ?? null) : undefined;
    const output = values === undefined ? undefined : payloadFor(values.length > this.options.maxHistoryBytes / 4 ? JSON.stringify({ truncated: true, bytes: values.length }) : values, this.options.masker);
    // Work the run left pending (an interrupt() or a breakpoint): LangGraph reports such a run as
    // "success", so the thread's next nodes are what says it stopped there.
    const next = last ? namesOf(last) : [];
    const interrupts = (last?.tasks ?? []).reduce((n, task) => n + (Array.isArray(task.interrupts) ? task.interrupts.length : 0), 0);
    return { steps: steps.slice(0, MAX_STEPS), truncated: steps.length > MAX_STEPS, output, next, interrupts };
  }
}

interface StateSnapshot {
  values?: unknown;
  next?: unknown;
  tasks?: { name?: unknown; interrupts?: unknown }[];
  metadata?: { run_id?: unknown; step?: unknown; source?: unknown };
}

function namesOf(state: StateSnapshot): string[] {
  if (Array.isArray(state.next)) return state.next.filter((name): name is string => typeof name === "string");
  return (state.tasks ?? []).map((task) => task.name).filter((name): name is string => typeof name === "string");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
