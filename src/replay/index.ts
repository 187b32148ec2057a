// replay: a recorded session read back from the ledger and proven (session.ts), shown as a
// timeline, played back, or re-run against LangGraph to compare execution paths.
export { playRecording } from "./recording.js";
export { RerunError, rerunSession } from "./rerun.js";
export { serveRecording } from "./serve.js";
export { loadSession, SessionNotFoundError, type Session, type SessionSource } from "./session.js";
export { buildTimeline, executionPath, sessionStatus, type TimelineStep } from "./timeline.js";
