// The ledger's tables that SQLite and PostgreSQL declare alike, but for the name of a 64-bit
// integer. Each store's migration list holds them at its own version; the text each dialect gets
// is the text those versions have always run.
import { perDialect } from "../storage/index.js";

/** The session index (sessionIndex.ts), rebuilt from the leaves when a ledger is upgraded. */
export const SESSION_INDEX_TABLES = perDialect(
  ({ integer }) => `CREATE TABLE ledger_sessions (
     log TEXT NOT NULL,
     request_id TEXT NOT NULL,
     started_ms ${integer},
     ended_ms ${integer},
     subject TEXT,
     name TEXT,
     groups TEXT,
     graphs TEXT,
     assistant_id TEXT,
     thread_id TEXT,
     run_id TEXT,
     kind TEXT,
     route TEXT,
     method TEXT,
     path TEXT,
     decision TEXT,
     rule TEXT,
     http_status INTEGER,
     outcome TEXT,
     run_status TEXT,
     approval TEXT,
     approval_id TEXT,
     parent_request_id TEXT,
     first_seq ${integer} NOT NULL,
     last_seq ${integer} NOT NULL,
     PRIMARY KEY (log, request_id)
   );
   CREATE INDEX ledger_sessions_started ON ledger_sessions (log, started_ms, request_id);
   CREATE INDEX ledger_sessions_subject ON ledger_sessions (log, subject, started_ms, request_id);
   CREATE INDEX ledger_sessions_thread ON ledger_sessions (log, thread_id, started_ms, request_id);
   CREATE INDEX ledger_sessions_parent ON ledger_sessions (log, parent_request_id, started_ms, request_id);
   CREATE TABLE ledger_session_cursor (log TEXT PRIMARY KEY, next_seq ${integer} NOT NULL);`,
);

/** Instance leases: an open request belongs to the instance that admitted it. */
export const INSTANCE_LEASE_TABLES = perDialect(
  ({ integer }) => `ALTER TABLE ledger_open_requests ADD COLUMN instance TEXT NOT NULL DEFAULT '';
   CREATE TABLE ledger_instances (
     log TEXT NOT NULL,
     instance TEXT NOT NULL,
     started_ms ${integer} NOT NULL,
     heartbeat_ms ${integer} NOT NULL,
     PRIMARY KEY (log, instance)
   );`,
);
