// `portcullis replay <session> --verify`: sends the recorded (masked) run request again through
// the gateway, as whoever runs the command, so policy decides whether it may run and the re-run
// is recorded like any request. The re-run's execution path, read from the ledger once its run is
// followed to the end, is compared with the recording's.
import { setTimeout as sleep } from "node:timers/promises";
import { comparePaths, executionPath, sessionStatus, type ExecutionPath } from "./timeline.js";
import { loadSession, SessionNotFoundError, type Session, type SessionSource } from "./session.js";
import { OperatorError } from "../errors.js";

interface RerunOptions {
  /** The gateway's base URL. */
  gateway: string;
  /** Headers that identify the verifier: Authorization or x-api-key. */
  credentials: Record<string, string>;
  /** How long to wait for the re-run's run record. */
  timeoutMs: number;
}

interface RerunResult {
  recorded: ExecutionPath;
  rerun: ExecutionPath;
  differences: string[];
  rerunSession: string;
  /** The thread the re-run used (a new one when the recording ran on a thread). */
  threadId?: string;
  runStatus: string;
}

export class RerunError extends OperatorError {
  override readonly name = "RerunError";
}

const THREAD_RUN_PATH = /^\/threads\/([^/]+)(\/runs(?:\/stream|\/wait)?)$/;
const STATELESS_RUN_PATH = /^\/runs(?:\/stream|\/wait)?$/;

export async function rerunSession(source: SessionSource, recordedSession: Session, options: RerunOptions): Promise<RerunResult> {
  const request = recordedSession.request;
  if (!request || recordedSession.summary.kind !== "run") throw new RerunError("only sessions that started a run can be re-run (this one did not)");
  if (request.status !== undefined && request.status >= 400) throw new RerunError(`the recorded request was refused by the gateway (${request.status}); there is no run to compare`);
  const stored = recordedSession.requestBody;
  if (stored?.state !== "present" || stored.text === undefined) throw new RerunError(`the recorded request body is ${stored ? stored.state : "missing"}; it cannot be sent again`);
  const body = rerunBody(stored.text, request.rewrites?.added ?? []);
  // One budget for the whole verification: creating the thread, the re-run's answer, its record.
  const deadline = Date.now() + options.timeoutMs;
  let path = request.path;
  let threadId: string | undefined;
  const threaded = THREAD_RUN_PATH.exec(path);
  if (threaded) {
    // A fresh thread, so the user's thread is never changed by a verification.
    const thread = await call(options, deadline, "POST", "/threads", JSON.stringify({ metadata: { portcullis_verification_of: recordedSession.summary.requestId } }));
    threadId = (thread.json as { thread_id?: string }).thread_id;
    if (!threadId) throw new RerunError("the gateway did not return a thread for the re-run");
    path = `/threads/${threadId}${threaded[2]}`;
  } else if (!STATELESS_RUN_PATH.test(path)) {
    throw new RerunError(`${request.method} ${request.path} is not a run request that can be sent again`);
  }
  const answer = await call(options, deadline, request.method, path, body);
  const rerunId = answer.requestId;
  let rerun: Session | undefined;
  while (Date.now() < deadline) {
    rerun = await loadSession(source, rerunId).catch((error: unknown) => {
      if (error instanceof SessionNotFoundError) return undefined;
      throw error;
    });
    if (rerun?.run) break;
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
  if (!rerun?.run) throw new RerunError(`the re-run (request ${rerunId}) did not finish within ${seconds(options.timeoutMs)} (--timeout)`);
  const recorded = executionPath(recordedSession);
  const fresh = executionPath(rerun);
  return { recorded, rerun: fresh, differences: comparePaths(recorded, fresh), rerunSession: rerunId, ...(threadId ? { threadId } : {}), runStatus: sessionStatus(rerun) };
}

/** The body to send again: the recorded one without the breakpoints the gateway itself added
 * (run_body.pause_before adds them again where policy still wants them; sent by the verifier they
 * would be steering, which policy may hold for approval). A run that only continued a paused
 * thread (input null) has nothing to continue on a new thread. */
function rerunBody(text: string, added: string[]): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RerunError("the recorded request body is not JSON; it cannot be sent again");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RerunError("the recorded request body is not a JSON object; it cannot be sent again");
  const run = body as Record<string, unknown>;
  if ("input" in run && run.input === null && run.command === undefined) {
    throw new RerunError("the recorded run continued a paused thread (input null); on a new thread there is nothing to continue, so there is no path to compare");
  }
  for (const key of ["interrupt_before", "interrupt_after"]) {
    const injected = new Set(added.filter((entry) => entry.startsWith(`${key} `)).flatMap((entry) => entry.slice(key.length + 1).split(",")));
    if (injected.size === 0 || !Array.isArray(run[key])) continue;
    const kept = (run[key] as unknown[]).filter((node) => !(typeof node === "string" && injected.has(node)));
    if (kept.length > 0) run[key] = kept;
    else delete run[key];
  }
  return JSON.stringify(run);
}

async function call(options: RerunOptions, deadline: number, method: string, path: string, body: string): Promise<{ requestId: string; json: unknown }> {
  const budget = Math.max(1, deadline - Date.now());
  const abort = new AbortController();
  // The message names the --timeout given, not what was left of it when this call started.
  const timer = setTimeout(() => abort.abort(new RerunError(`the gateway did not answer ${method} ${path} within ${seconds(options.timeoutMs)} (--timeout)`)), budget);
  try {
    let response: Response;
    try {
      response = await fetch(new URL(path, options.gateway), {
        method,
        // Never held for a person: a re-run that needs approval is refused, and none is asked.
        headers: { "content-type": "application/json", prefer: "portcullis-approval=refuse", ...options.credentials },
        body,
        signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) throw abort.signal.reason as RerunError;
      throw new RerunError(`cannot reach the gateway at ${options.gateway} (${(error as Error).message})`);
    }
    const requestId = response.headers.get("x-request-id");
    if (!requestId) {
      abort.abort();
      throw new RerunError(`${options.gateway} did not answer like a Portcullis gateway (no x-request-id)`);
    }
    const held = response.headers.get("portcullis-approval-id");
    if (held || response.status === 202) {
      // A gateway that does not know the preference held it anyway: leave at once, do not wait.
      abort.abort();
      throw new RerunError(`the gateway holds the re-run for approval (request ${requestId}${held ? `, approval ${held}` : ""}); it was not sent`);
    }
    // Read to the end: a streamed run is consumed whole, like any client would, within the budget.
    const text = await response.text().catch((error: unknown) => {
      if (abort.signal.aborted) throw abort.signal.reason as RerunError;
      throw new RerunError(`the gateway's answer to ${method} ${path} broke off (${(error as Error).message})`);
    });
    if (!response.ok) {
      const message = (() => {
        try {
          return (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          return text;
        }
      })();
      throw new RerunError(`the gateway refused ${method} ${path} with ${response.status}: ${message.slice(0, 300)}`);
    }
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { requestId, json };
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return ms < 1_000 ? `${ms} ms` : `${Math.round(ms / 1_000)} s`;
}
