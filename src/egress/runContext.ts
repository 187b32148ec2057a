// Links an egress call to the run it was made for, and so to the person who started the run.
// When the gateway forwards a run it adds x-portcullis-run-context: a short JWT (HS256, signed
// by the gateway) naming the admitting request, its caller, thread and graphs. The JS server
// copies x-* headers into config.configurable (langgraph-api.md §7), so graph code reads it
// there and forwards it on its egress calls as Portcullis-Run-Context. A token cannot be forged
// by the runtime or a client, and needs no lookup: any gateway holding the key verifies it.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { readSecret, type EgressConfig } from "../config/index.js";
import { ConfigError, GatewayError } from "../errors.js";

/** The header the gateway adds to forwarded runs (copied into config.configurable). */
export const RUN_CONTEXT_UPSTREAM_HEADER = "x-portcullis-run-context";
/** The header a graph sends on its egress calls. */
export const RUN_CONTEXT_HEADER = "portcullis-run-context";

const ISSUER = "portcullis";
const AUDIENCE = "portcullis-egress";
const TOKEN_TYPE = "portcullis-run-context+jwt";
const MAX_TOKEN_LENGTH = 4096;

/** The run an egress call was made for, as the ledger records it. */
export interface RunLink {
  /** The request that started (or resumed) the run: its records hold the run id and outcome. */
  request_id: string;
  /** Who started it. */
  subject: string;
  thread_id?: string;
  /** The tenant of the caller who started it (policy ownership.tenant), when the policy has tenants:
   * with the thread, where the originals behind its tokens are in the vault. */
  tenant?: string;
  graphs: string[];
}

export class RunContextTokens {
  private constructor(
    private readonly key: Uint8Array,
    private readonly ttlS: number,
  ) {}

  /** The configured key, or one kept beside the state database (created on first start). */
  static async open(config: EgressConfig["run_context"], stateDir: string): Promise<RunContextTokens> {
    const key = config.key ? Buffer.from(await readSecret(config.key, "egress.run_context.key"), "utf8") : await stateKey(path.join(stateDir, "run-context.key"));
    if (key.length < 32) throw new ConfigError("egress.run_context.key: the key must be at least 32 bytes");
    return new RunContextTokens(key, config.ttl_s);
  }

  issue(link: RunLink): Promise<string> {
    return new SignJWT({ graphs: link.graphs, ...(link.thread_id ? { thread_id: link.thread_id } : {}), ...(link.tenant ? { tenant: link.tenant } : {}) })
      .setProtectedHeader({ alg: "HS256", typ: TOKEN_TYPE })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(link.subject)
      .setJti(link.request_id)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlS}s`)
      .sign(this.key);
  }

  async verify(token: string): Promise<RunLink> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid("it is too long");
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE, typ: TOKEN_TYPE, requiredClaims: ["sub", "jti", "exp"] });
      const graphs = Array.isArray(payload.graphs) ? payload.graphs.filter((graph): graph is string => typeof graph === "string") : [];
      return { request_id: payload.jti!, subject: payload.sub!, ...(typeof payload.thread_id === "string" ? { thread_id: payload.thread_id } : {}), ...(typeof payload.tenant === "string" && payload.tenant !== "" ? { tenant: payload.tenant } : {}), graphs };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw invalid("it has expired (egress.run_context.ttl_s)", error);
      throw invalid("it was not issued by this gateway or was altered", error);
    }
  }
}

function invalid(why: string, cause?: unknown): GatewayError {
  return new GatewayError(400, "PC_EGRESS_RUN_CONTEXT_INVALID", `Refused: the Portcullis-Run-Context header is not valid: ${why}. Forward the value LangGraph puts in config.configurable["${RUN_CONTEXT_UPSTREAM_HEADER}"] unchanged.`, { cause });
}

async function stateKey(file: string): Promise<Buffer> {
  try {
    return Buffer.from((await readFile(file, "utf8")).trim(), "base64url");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another gateway on the same state directory made it first.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  await chmod(file, 0o600);
  return Buffer.from((await readFile(file, "utf8")).trim(), "base64url");
}
