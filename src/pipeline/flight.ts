// What the stages share: the gateway's parts (PipelineDeps), a request in flight (Flight), and
// the shape of a stage and of a destination.
import type { OutgoingHttpHeaders } from "node:http";
import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import type { ApprovalsApi, ApprovalGate } from "../approve/index.js";
import type { SignIn } from "../authenticate/index.js";
import type { Authorizer } from "../authorize/index.js";
import type { RouteTable } from "../classify/index.js";
import type { Console } from "../console/index.js";
import type { Egress } from "../egress/index.js";
import type { Exchange } from "../exchange.js";
import type { IdentityAssertionSigner, UpstreamClient, UpstreamCredential } from "../forward/index.js";
import type { Identifier } from "../identify/index.js";
import type { Masker, Vault } from "../mask/index.js";
import type { Observability } from "../observe/index.js";
import type { CorsSettings, HeaderLimits, RequestBody, TrustedProxies } from "../receive/index.js";
import type { AuditSink, Recorder, RunFollower } from "../record/index.js";
import type { LocalAnswer, relayResponse } from "../respond/index.js";

export interface PipelineDeps {
  localEndpoints: Record<string, () => LocalAnswer | Promise<LocalAnswer>>;
  /** Browser sign-in, when identity.login is configured. */
  signIn?: SignIn;
  /** The console (/console/*) for people signed in through the browser. */
  console?: Console;
  identifier: Identifier;
  authorizer: Authorizer;
  upstream: UpstreamClient;
  upstreamCredential?: UpstreamCredential;
  identityAssertion?: IdentityAssertionSigner;
  forwardHeaders: string[];
  audit: AuditSink;
  /** Holds require-approval requests until approvers decide (or answers 202). */
  approvals: ApprovalGate;
  /** The approvals REST API (/portcullis/approvals) for approvers, the CLI and the console. */
  approvalsApi: ApprovalsApi;
  /** Egress routes: outside services the runtime reaches through the gateway (src/egress/). */
  egress: Egress;
  /** Masks bodies, streams and what the ledger stores. */
  masker: Masker;
  /** Originals behind the tokens LangGraph receives under masking.requests: tokenize. */
  vault?: Vault;
  /** A quiet stream releases held text that is no longer a distinctive partial after this long. */
  maskFlushMs: number;
  /** Follows every admitted run to its end for the run record. */
  runs: RunFollower;
  /** Largest recorded response kept per request (the rest is marked truncated). */
  maxRecordingBytes: number;
  /** Adds Portcullis-Audit-Receipt (the request record's position and leaf hash) to responses. */
  receipts: boolean;
  log: Logger;
  cors: CorsSettings;
  /** listen.trusted_proxies: whose X-Forwarded-For / Forwarded is believed. */
  trustedProxies: TrustedProxies;
  maxBodyBytes: number;
  /** limits.max_json_depth: bodies nested deeper are refused while they are read. */
  maxJsonDepth: number;
  /** limits.max_batch_runs: the most runs one /runs/batch may carry. */
  maxBatchRuns: number;
  /** limits.max_headers and limits.max_header_bytes. */
  headerLimits: HeaderLimits;
  maxResponseBytes: number;
  heartbeatMs: number;
  waitKeepaliveMs: number;
  /** Metrics and traces (src/observe/): each stage's end is marked; off unless configured. */
  observe?: Observability;
  /** LangGraph's routes plus routes.custom from the config (LangGraph's alone when absent). */
  routes?: RouteTable;
}

/** What a stage may use besides the request: the gateway's parts, its recorder and routes. */
export interface StageContext {
  readonly deps: PipelineDeps;
  /** The record stage: every audit record a request leaves. */
  readonly recorder: Recorder;
  /** The routes classify matches: LangGraph's, and those declared under routes.custom. */
  readonly routes: RouteTable;
  /** Set on shutdown: new requests are refused while live ones finish. */
  readonly draining: boolean;
}

/** The parts of the gateway that answer paths of their own; any other path is LangGraph's. */
export type GatewayRoute = "local" | "sign-in" | "console" | "egress" | "approvals-api";

/** A request on its way through the stages: its exchange (what the record keeps) and what the
 * stages hand each other on the way. */
export interface Flight {
  readonly exchange: Exchange;
  /** Headers every answer to the request carries: CORS, its id, and what stages add to them. */
  readonly responseHeaders: OutgoingHttpHeaders;
  /** The gateway's own part that answers the path, if one does (looked up once, at receive). */
  own?: GatewayRoute;
  /** Where the request goes: LangGraph, or an egress route (chosen at receive; none for the
   * paths the gateway answers itself). */
  destination?: Destination;
  /** The body as read and parsed (classify, or for egress HTTP routes after authorize). */
  body?: RequestBody;
  /** What the destination receives: the inspected body, rewritten and masked as decided. */
  forwardedBody?: string;
  /** The body as the ledger and approvers see it: masked whatever is forwarded. */
  maskedBody?: string;
  /** The destination's answer, once forwarded. */
  answer?: Dispatcher.ResponseData;
}

/** What happens next: the next stage, or nothing (the request was answered by this one). */
export type Next = "next" | "answered";

/** The stages whose only difference between LangGraph and an egress route is where they look:
 * what the request is, what policy says, what masking applies, and where it is sent. */
export interface Destination {
  classify(): Promise<void>;
  authorize(): Promise<void>;
  maskRequest(): Promise<void>;
  /** Sends the admitted request and reads the answer's head. */
  send(): Promise<Dispatcher.ResponseData>;
  /** What the destination learns from the answer's head, before it is relayed. */
  received(answer: Dispatcher.ResponseData): Promise<void>;
  /** How the answer is relayed: the settings that differ between destinations. */
  relaySettings(): Pick<RelaySettings, "upstreamUrl" | "maxResponseBytes" | "streamMasker" | "serverName">;
}

type RelaySettings = Parameters<typeof relayResponse>[2];
