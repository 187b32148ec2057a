// `portcullis replay <session> --verify`: sends the recorded (masked) run request again through
// the gateway, as whoever runs the command, so policy decides whether it may run and the re-run
// is recorded like any request. The re-run's execution path, read from the ledger once its run is
// followed to the end, is compared with the recording's.
import { setTimeout as sleep } from "node:timers/promises";
import { comparePaths, executionPath, type ExecutionPath } from "./timeline.js";
import { loadSession, SessionNotFoundError, type Session, type SessionSource } from "./session.js";

export interface RerunOptions {
  /** The gateway's base URL. */
  gateway: string;
  /** Headers that identify the verifier: Authorization or x-api-key. */
  credentials: Record<string, string>;
  /** How long to wait for the re-run's run record. */
  timeoutMs: number;
}

export interface RerunResult {
  recorded: ExecutionPath;
  rerun: ExecutionPath;
  differences: string[];
  rerunSession: string;
  /** The thread the re-run used (a new one when the recording ran on a thread). */
  threadId?: string;
  runStatus: string;
}

export class RerunError extends Error {
  override readonly name = "RerunError";
}

const THREAD_RUN_PATH = /^\/threads\/([^/]+)(\/runs(?:\/stream|\/wait)?)$/;
const STATELESS_RUN_PATH = /^\/runs(?:\/stream|\/wait)?$/;

export async function rerunSession(source: SessionSource, recordedSession: Session, options: RerunOptions): Promise<RerunResult> {
  const request = recordedSession.request;
  if (!request || recordedSession.summary.kind !== "run") throw new RerunError("only sessions that started a run can be re-run (this one did not)");
  if (request.status !== undefined && request.status >= 400) throw new RerunError(`the recorded request was refused by the gateway (${request.status}); there is no run to compare`);
  const body = recordedSession.requestBody;
  if (body?.state !== "present" || body.text === undefined) throw new RerunError(`the recorded request body is ${body ? body.state : "missing"}; it cannot be sent again`);
  let path = request.path;
  let threadId: string | undefined;
  const threaded = THREAD_RUN_PATH.exec(path);
  if (threaded) {
    // A fresh thread, so the user's thread is never changed by a verification.
    const thread = await call(options, "POST", "/threads", JSON.stringify({ metadata: { portcullis_verification_of: recordedSession.summary.requestId } }));
    threadId = (thread.json as { thread_id?: string }).thread_id;
    if (!threadId) throw new RerunError("the gateway did not return a thread for the re-run");
    path = `/threads/${threadId}${threaded[2]}`;
  } else if (!STATELESS_RUN_PATH.test(path)) {
    throw new RerunError(`${request.method} ${request.path} is not a run request that can be sent again`);
  }
  const answer = await call(options, request.method, path, body.text);
  const rerunId = answer.requestId;
  const deadline = Date.now() + options.timeoutMs;
  let rerun: Session | undefined;
  while (Date.now() < deadline) {
    rerun = await loadSession(source, rerunId).catch((error: unknown) => {
      if (error instanceof SessionNotFoundError) return undefined;
      throw error;
    });
    if (rerun?.run) break;
    await sleep(250);
  }
  if (!rerun?.run) throw new RerunError(`the re-run (request ${rerunId}) did not finish within ${Math.round(options.timeoutMs / 1000)} s`);
  const recorded = executionPath(recordedSession);
  const fresh = executionPath(rerun);
  return { recorded, rerun: fresh, differences: comparePaths(recorded, fresh), rerunSession: rerunId, ...(threadId ? { threadId } : {}), runStatus: rerun.run.status };
}

async function call(options: RerunOptions, method: string, path: string, body: string): Promise<{ requestId: string; json: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, options.gateway), { method, headers: { "content-type": "application/json", ...options.credentials }, body });
  } catch (error) {
    throw new RerunError(`cannot reach the gateway at ${options.gateway} (${(error as Error).message})`);
  }
  // Read to the end: a streamed run is consumed whole, like any client would.
  const text = await response.text();
  const requestId = response.headers.get("x-request-id");
  if (!requestId) throw new RerunError(`${options.gateway} did not answer like a Portcullis gateway (no x-request-id)`);
  if (response.status === 202) throw new RerunError(`the gateway holds the re-run for approval (request ${requestId}); approve it and verify again`);
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
}
