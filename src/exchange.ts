// One client request as it moves through the pipeline, with what each stage learned about it.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Decision, BodyRewrites } from "./authorize/index.js";
import type { Operation } from "./classify/index.js";
import type { Identity } from "./identify/index.js";
import type { RequestTarget } from "./receive/index.js";
import type { RequestApproval } from "./approve/index.js";
import type { EgressFacts, SecretScrubber } from "./egress/index.js";
import type { Outcome, RequestRecord, ResponseRecording, StoredPayloadBody } from "./record/index.js";
import type { Masker, MaskingTally, Redactions } from "./mask/index.js";

export interface Exchange {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startedAt: number;
  /** The client's address, resolved through listen.trusted_proxies. */
  readonly clientAddress: string | null;
  /** Answered by the gateway itself: the rule naming the endpoint (gateway:console, …), for metrics. */
  localRoute?: string;
  /** X-Forwarded-For / Forwarded as sent, and whether it was believed. */
  readonly forwarded?: { as_sent: string; believed: boolean };
  readonly log: Logger;
  target?: RequestTarget;
  identity?: Identity;
  /** identify ran (whatever its result), so a refusal need not check the credential again. */
  identifyAttempted?: boolean;
  operation?: Operation;
  decision?: Decision;
  /** Facts policy looked up, for the record. */
  resources?: RequestRecord["resources"];
  /** Body changes made before forwarding, for the record. */
  rewrites?: BodyRewrites;
  bytesIn: number;
  bytesOut: number;
  upstreamHeadersMs?: number;
  upstreamStatus?: number;
  events: Record<string, number>;
  runId?: string;
  threadId?: string;
  /** How masking applies to this request, as the policy decided. */
  masking?: ExchangeMasking;
  /** The forwarded body, masked, as the ledger stores it. */
  requestBody?: StoredPayloadBody;
  /** What the client is sent, event by event, for the ledger's payload store. */
  recording?: ResponseRecording;
  /** Aborts the upstream request: client gone (when the run should not outlive it) or shutdown. */
  readonly upstreamAbort: AbortController;
  /** The approval this request asked for or used (require-approval decisions). */
  approvalId?: string;
  /** Held open while approvers decide: ended at once on shutdown (the approval stays pending). */
  waitingForApproval?: boolean;
  /** The answer began while the request was held for approval (200 and keep-alives, written by
   * respond/held.ts): whatever follows, the upstream's answer or a refusal, continues it. */
  heldAnswerBegun?: boolean;
  /** How a require-approval request went ahead, or that it waits, for the record. */
  approval?: RequestApproval;
  /** A call through an egress route: the route, path and linked run, for the record. */
  egress?: EgressFacts;
  /** Scrubs the egress route's credential from the answer (its count goes in the record). */
  scrubber?: SecretScrubber;
  /** The request record was written and the request forwarded. */
  admitted?: boolean;
  clientGone: boolean;
  shuttingDown: boolean;
  outcome: Outcome;
  error?: string;
}

export interface ExchangeMasking {
  /** The caller sees clear responses (policy masking.clear_responses_for); stored copies stay masked. */
  clearResponses: boolean;
  /** LangGraph receives masked inputs (policy masking.requests: mask or tokenize). */
  maskRequests: boolean;
  /** What was masked in the request body. */
  request: Redactions;
  /** What was masked in what the client was sent (or, for clear responses, in what was stored). */
  response: MaskingTally;
  /** LangGraph receives typed tokens, their originals kept in the vault (masking.requests: tokenize). */
  tokenized?: boolean;
  /** Puts originals back in place of the tokens this caller may see (policy masking.restore_for);
   * its tally counts the restorations. Only what the client is sent: recordings keep the tokens. */
  restore?: { masker: Masker; restored: MaskingTally };
  /** For an answer with no scope of its own (a search across threads or namespaces): the restorer
   * for the tokens it holds that this caller may see, looked up in the vault once it is read. */
  restoreFromVault?: (tokens: readonly string[]) => Promise<Masker | undefined>;
  /** An egress call: the originals put back in its body for the downstream (egress.routes.<name>.
   * restore), by entity type. */
  restoredDownstream?: Record<string, number>;
}

export function elapsedMs(exchange: Exchange): number {
  return Math.round((performance.now() - exchange.startedAt) * 1000) / 1000;
}
