// `portcullis sessions` (find sessions in the ledger) and `portcullis replay <session>` (print the
// recorded stream as SSE, serve it on a local port, or re-run it and compare execution paths).
// Every replay and verification is itself an access record in the ledger.
import { Command, Option } from "commander";
import { ConfigError } from "../errors.js";
import { READABLE_SESSION_KINDS, SESSION_KINDS, type Ledger, type SessionKind, type SessionQuery } from "../ledger/index.js";
import { RerunError, rerunSession, serveRecording, loadSession, SessionNotFoundError, playRecording, executionPath, sessionStatus, type Session, type SessionSource } from "../replay/index.js";
import { ledgerOptions, openToolLedger, openToolStore, operator, type LedgerOptions } from "./audit.js";
import { accessRecord } from "../record/index.js";

export function sessionsCommand(): Command {
  return new Command("sessions")
    .description("List recorded sessions (requests and the runs they started), newest first, from the ledger's session index")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .option("--user <subject>", "only this identity, e.g. oidc:corp:alice")
    .option("--group <group>", "only identities in this group")
    .option("--graph <graph>", "only sessions touching this graph")
    .option("--thread <id>", "only this thread")
    .option("--status <status>", "run status or outcome: success, error, interrupted, ok, refused…")
    .option("--decision <effect>", "allow, deny or require-approval")
    .addOption(new Option("--kind <kind>", "what kind of session (all: every kind but console assets and browser housekeeping such as favicon.ico)").choices([...SESSION_KINDS, "all"]).default("run"))
    .option("--search <text>", "only sessions whose id, identity, graph, assistant, thread, run, path or rule contains this text")
    .option("--limit <n>", "how many", "20")
    .option("--json", "print JSON")
    .action(async (options: LedgerOptions & { user?: string; group?: string; graph?: string; thread?: string; status?: string; decision?: string; kind: string; search?: string; limit: string; json?: boolean }) => {
      const { store, origin } = await openToolStore(options);
      try {
        const query: SessionQuery = {
          limit: Math.min(1_000, Math.max(1, Number(options.limit) || 20)),
          kinds: options.kind === "all" ? [...READABLE_SESSION_KINDS] : [options.kind as SessionKind],
          ...(options.search ? { text: options.search } : {}),
          ...(options.user ? { subject: options.user } : {}),
          ...(options.group ? { group: options.group } : {}),
          ...(options.graph ? { graph: options.graph } : {}),
          ...(options.thread ? { threadId: options.thread } : {}),
          ...(options.status ? { status: options.status } : {}),
          ...(options.decision ? { decision: options.decision } : {}),
        };
        const sessions = await store.sessions(origin, query);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(sessions, null, 2)}\n`);
          return;
        }
        for (const s of sessions) {
          process.stdout.write(`${s.requestId}  ${new Date(s.startedMs).toISOString()}  ${s.subject ?? "-"}  ${s.graphs.join(",") || "-"}  ${s.method} ${s.path}  ${s.decision}  ${s.status}\n`);
        }
        if (sessions.length === 0) process.stdout.write("No sessions match.\n");
      } finally {
        await store.close();
      }
    });
}

interface ReplayOptions extends LedgerOptions {
  speed: string;
  fast?: boolean;
  serve?: string | true;
  host: string;
  once?: boolean;
  verify?: boolean;
  gateway?: string;
  token?: string;
  apiKey?: string;
  timeout: string;
  json?: boolean;
}

export function replayCommand(): Command {
  return new Command("replay")
    .description("Replay a recorded session's stream as SSE (stdout, or a local port for any SSE client), or re-run it and compare execution paths")
    .argument("<session>", "the session's request id (x-request-id; see portcullis sessions)")
    .addOption(ledgerOptions.config())
    .addOption(ledgerOptions.ledger())
    .addOption(ledgerOptions.keyFile())
    .option("--speed <x>", "playback speed: 1 = the original pace, 10 = ten times faster", "1")
    .option("--fast", "no waiting between events")
    .option("--serve [port]", "serve the stream on a local port (any path ending in /stream) instead of printing it")
    .option("--host <host>", "with --serve: the address to listen on", "127.0.0.1")
    .option("--once", "with --serve: stop after one client has received the whole stream")
    .option("--verify", "re-run the recorded request through the gateway (policy applies) and compare the nodes and tool calls it takes")
    .addOption(new Option("--gateway <url>", "with --verify: the gateway's base URL").env("PORTCULLIS_URL"))
    .addOption(new Option("--token <token>", "with --verify: an OIDC bearer token for the verifier").env("PORTCULLIS_TOKEN"))
    .addOption(new Option("--api-key <key>", "with --verify: a service-account API key for the verifier").env("PORTCULLIS_API_KEY"))
    .option("--timeout <s>", "with --verify: the most seconds to spend (the re-run's answer, then its record); it never waits for an approval", "120")
    .option("--json", "with --verify: print the comparison as JSON")
    .action(async (id: string, options: ReplayOptions) => {
      const speed = options.fast ? Infinity : Number(options.speed);
      if (!(speed > 0)) throw new ConfigError("--speed: a positive number (1 = original pace)");
      const ledger = await openToolLedger(options);
      const source: SessionSource = { store: ledger.store, origin: ledger.origin, checkpoint: () => ledger.checkpoint() };
      try {
        const session = await loadSession(source, id).catch((error: unknown) => {
          if (error instanceof SessionNotFoundError) throw new ConfigError(`${error.message}; list sessions with portcullis sessions`);
          throw error;
        });
        if (options.verify) return await verify(ledger, source, session, options);
        // Who, when, which decision, and whether the ledger proves it: before the stream, on stderr
        // so stdout stays the recording itself.
        process.stderr.write(sessionHeader(session));
        await recordAccess(ledger, session, "session.replay", { speed: Number.isFinite(speed) ? speed : "fast", ...(options.serve !== undefined ? { served: true } : {}) });
        const recording = session.recording;
        if (!recording) throw new ConfigError(`session ${id} has no recorded answer${session.response?.state === "purged" ? " (purged by retention)" : ""}`);
        if (recording.kind === "body") {
          if (options.serve !== undefined) throw new ConfigError(`session ${id} was not a stream; only streams can be served`);
          process.stdout.write(`${recording.body}\n`);
          return;
        }
        if (options.serve === undefined) {
          // `portcullis replay … | head`: a reader that stops early ends the replay, not with a crash.
          process.stdout.on("error", (error: NodeJS.ErrnoException) => {
            if (error.code === "EPIPE") process.exit(0);
            process.stderr.write(`portcullis: cannot write the replay: ${error.message}\n`);
            process.exit(1);
          });
          await playRecording(recording.events, (text) => new Promise<void>((resolve) => (process.stdout.write(text) ? resolve() : process.stdout.once("drain", resolve))), { speed });
          return;
        }
        const port = options.serve === true ? 0 : Number(options.serve);
        if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError("--serve: a port number (0 or none for a free one)");
        const server = await serveRecording(recording.events, { host: options.host, port, speed });
        process.stdout.write(
          `Replaying session ${id} (${recording.events.length} events) at ${server.url}\n` +
            `  curl -N ${server.url}/threads/${session.summary.threadId ?? "-"}/runs/${session.summary.runId ?? "-"}/stream\n` +
            `  SDK: new Client({ apiUrl: "${server.url}" }).runs.joinStream(threadId, runId)\n`,
        );
        await (options.once ? server.served : new Promise<void>((resolve) => process.once("SIGINT", resolve)));
        await server.close();
      } finally {
        await ledger.close();
      }
    });
}

async function verify(ledger: Ledger, source: SessionSource, session: Session, options: ReplayOptions): Promise<void> {
  const credentials: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : options.apiKey ? { "x-api-key": options.apiKey } : {};
  if (Object.keys(credentials).length === 0) throw new ConfigError("--verify sends the request through the gateway as you: give --token (or PORTCULLIS_TOKEN) or --api-key (or PORTCULLIS_API_KEY)");
  const gateway = options.gateway ?? "http://127.0.0.1:8080";
  const timeoutS = Number(options.timeout);
  if (!(timeoutS > 0)) throw new ConfigError("--timeout: a positive number of seconds");
  const recorded = executionPath(session);
  if (!options.json) process.stdout.write(sessionHeader(session));
  try {
    const result = await rerunSession(source, session, { gateway, credentials, timeoutMs: timeoutS * 1000 });
    await recordAccess(ledger, session, "session.verify", { rerun_session: result.rerunSession, differences: result.differences.length, same_path: result.differences.length === 0 });
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ session: headerFacts(session), ...result }, null, 2)}\n`);
    } else {
      process.stdout.write(
        `Recorded path (${result.recorded.source}): ${describe(result.recorded)}\n` +
          `Re-run path   (${result.rerun.source}): ${describe(result.rerun)}\n` +
          `Re-run session ${result.rerunSession}${result.threadId ? ` on new thread ${result.threadId}` : ""}: run ${result.runStatus}\n` +
          (result.differences.length === 0 ? "Same execution path.\n" : `${result.differences.length} difference(s):\n${result.differences.map((d) => `  - ${d}\n`).join("")}`) +
          "Note: the re-run received the recorded, masked inputs; a graph that branches on a masked value may take another path.\n",
      );
    }
    process.exitCode = result.differences.length === 0 ? 0 : 1;
  } catch (error) {
    await recordAccess(ledger, session, "session.verify", { error: (error as Error).message.slice(0, 300) });
    if (error instanceof RerunError) {
      process.stderr.write(`portcullis: cannot verify session ${session.summary.requestId}: ${error.message}\nRecorded path: ${describe(recorded)}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}

/** What an auditor needs before the recording: whose session, when, the decision, the proof. */
function headerFacts(session: Session) {
  const s = session.summary;
  const approval = session.request?.approval;
  return {
    id: s.requestId,
    request: `${s.method} ${s.path}`,
    who: s.subject ? `${s.name ? `${s.name} ` : ""}(${s.subject})${s.groups.length > 0 ? ` groups ${s.groups.join(", ")}` : ""}` : "unidentified",
    when: `${new Date(s.startedMs).toISOString()}${s.endedMs !== null ? ` (${s.endedMs - s.startedMs} ms)` : ""}`,
    decision: `${s.decision} (rule ${s.rule})${approval ? `, ${approval.via}${approval.approvers?.length ? ` by ${approval.approvers.join(", ")}` : ""}` : ""}`,
    status: `${sessionStatus(session)}${s.graphs.length > 0 ? ` · graph ${s.graphs.join(", ")}` : ""}${s.threadId ? ` · thread ${s.threadId}` : ""}`,
    proof: `${session.proof.valid ? "valid" : "INVALID"}: ${session.proof.summary}`,
  };
}

function sessionHeader(session: Session): string {
  const facts = headerFacts(session);
  return (
    `Session  ${facts.id}  ${facts.request}\n` +
    `Who      ${facts.who}\n` +
    `When     ${facts.when}\n` +
    `Decision ${facts.decision}\n` +
    `Status   ${facts.status}\n` +
    `Proof    ${facts.proof}\n\n`
  );
}

function describe(path: ReturnType<typeof executionPath>): string {
  return `${path.nodes.join(" → ") || "(no nodes)"}${path.tool_calls.length > 0 ? `; tool calls: ${path.tool_calls.join(", ")}` : ""}`;
}

async function recordAccess(ledger: Ledger, session: Session, action: "session.replay" | "session.verify", details: Record<string, unknown>): Promise<void> {
  const actor = operator();
  await ledger.append(accessRecord(action, { actor, via: "cli", session: session.summary.requestId, details }), { subject: actor, graphs: session.summary.graphs });
}
